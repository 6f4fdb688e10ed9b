package web_test

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/glucoshare/glucoshare/internal/core"
	"github.com/glucoshare/glucoshare/internal/glucose"
	"github.com/glucoshare/glucoshare/internal/web"
)

// subscriptionOf returns the id of the one follower on sam's followers page.
func subscriptionOf(t *testing.T, sam *browser) string {
	t.Helper()
	m := regexp.MustCompile(`id="f-([0-9a-f-]{36})"`).FindStringSubmatch(sam.get("/followers").body)
	if m == nil {
		t.Fatal("no follower listed")
	}
	return m[1]
}

// TestPermissionsFormRefusesGarbage: a permissions field that is missing
// or not a number is an error, not permission 0 (which would take the
// follower's history away).
func TestPermissionsFormRefusesGarbage(t *testing.T) {
	e := newEnv(t, web.Options{})
	p := e.share(true, glucose.UnitsUnset)
	sam, subID := p.sb, subscriptionOf(t, p.sb)
	for _, fields := range [][]string{{}, {"permissions", ""}, {"permissions", "yes"}, {"permissions", "1e3"}} {
		p := sam.post("/followers/"+subID+"/permissions", append([]string{"csrf", sam.csrf("/followers")}, fields...)...)
		if p.status != http.StatusUnprocessableEntity {
			t.Errorf("permissions %v: status %d, want 422", fields, p.status)
		}
	}
	ls, err := e.svc.PublisherSubscriptions(context.Background(), sam.accountID(), e.clock.Now())
	if err != nil || len(ls) != 1 || ls[0].Permissions != 1 {
		t.Errorf("after refused forms: %+v %v; want permissions 1", ls, err)
	}
}

// TestSignInHugeName: a 900 KB name in the sign-in form is refused with
// the form again, not a 500 page (PostgreSQL cannot index such a name).
func TestSignInHugeName(t *testing.T) {
	e := newEnv(t, web.Options{})
	e.account("sam", "Sam")
	b := e.browser()
	tok := b.csrf("/signin")
	p := b.post("/signin", "csrf", tok, "name", strings.Repeat("n", 900<<10), "password", password)
	if p.status != http.StatusUnprocessableEntity && p.status != http.StatusUnauthorized {
		t.Errorf("900 KB name: status %d, want the form again (422 or 401)", p.status)
	}
	if !strings.Contains(p.body, `name="password"`) {
		t.Errorf("900 KB name: not the sign-in form:\n%.300s", p.body)
	}
	b.signIn("sam")
}

// TestRemoveContactTouchesOnlyOwnSubscriptions: the remove-contact form
// used to evaluate the alarms of whatever subscription its "subscription"
// field named, another publisher's included; that publisher's follower then
// got an alarm raised by a stranger's request, ahead of the periodic tick.
// Removing a contact now evaluates the caller's own subscriptions only.
func TestRemoveContactTouchesOnlyOwnSubscriptions(t *testing.T) {
	e := newEnv(t, web.Options{})
	ctx := context.Background()
	pat := e.account("pat", "Pat")
	lee := e.account("lee", "Lee")
	e.upload(pat, 120)
	c, err := e.svc.CreateContact(ctx, pat, "Lee", "", e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	on, delay := true, "PT60M"
	sub, err := e.svc.Invite(ctx, pat, c.ID, core.Invitation{Alerts: core.AlertsInput{
		NoData: &core.AlertInput{IsEnabled: &on, AlarmDelay: &delay}}}, e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.AcceptInvitation(ctx, lee, sub.InvitationID, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	// Two hours without readings: pat's NoData alarm is due at the next
	// periodic evaluation, which does not run in this test.
	e.clock.Advance(2 * time.Hour)
	sam := e.share(true, glucose.UnitsUnset).sb
	contactID := regexp.MustCompile(`/contacts/([0-9a-f-]{36})/remove`).FindStringSubmatch(sam.get("/followers").body)[1]
	sam.submit("/followers", "/contacts/"+contactID+"/remove", "subscription", sub.ID)
	as, err := e.svc.Alarms(ctx, lee, "", 24*60, e.clock.Now())
	if err != nil || len(as) != 0 {
		t.Errorf("another publisher's follower has %d alarms after sam removed a contact (%v); want none", len(as), err)
	}
	ls, err := e.svc.PublisherSubscriptions(ctx, pat, e.clock.Now())
	if err != nil || len(ls) != 1 || ls[0].State != glucose.StateActive {
		t.Errorf("pat's subscriptions after sam's removal: %+v %v", ls, err)
	}
}

// TestOversizedFormAnswers413: a form over 1 MiB is refused as too large,
// not as an expired form.
func TestOversizedFormAnswers413(t *testing.T) {
	e := newEnv(t, web.Options{})
	e.account("sam", "Sam")
	b := e.browser()
	b.signIn("sam")
	big := strings.Repeat("x", 1<<20)
	anon := e.browser()
	for _, c := range []struct {
		b          *browser
		path, from string
	}{{b, "/profile", "/profile"}, {b, "/followers", "/followers"}, {anon, "/signin", "/signin"}} {
		p := c.b.post(c.path, "csrf", c.b.csrf(c.from), "display_name", big)
		if p.status != http.StatusRequestEntityTooLarge || strings.Contains(p.body, "expired") {
			t.Errorf("POST %s with 1 MiB: %d %.100s; want 413", c.path, p.status, p.body)
		}
	}
	// A picture over 1 MiB, as a multipart form.
	body, ct := multipartAvatar(t, b.csrf("/profile"), []byte(big+"more"))
	req, _ := http.NewRequest("POST", e.srv.URL+"/profile/avatar", body)
	req.Header.Set("Content-Type", ct)
	if p := b.do(req); p.status != http.StatusRequestEntityTooLarge {
		t.Errorf("avatar over 1 MiB: %d %.100s; want 413", p.status, p.body)
	}
}

// TestDeleteUnknownWebhookOrToken: ids in form paths are parsed before
// they reach a look-up; a NUL made PostgreSQL fail the request with a 500.
func TestDeleteUnknownWebhookOrToken(t *testing.T) {
	e := newEnv(t, web.Options{})
	e.account("sam", "Sam")
	b := e.browser()
	b.signIn("sam")
	for _, path := range []string{"/webhooks/a%00b/delete", "/webhooks/3c348745-d2b3-4e3e-a8fe-306c0c18eae6/delete",
		"/tokens/a%00b/delete"} {
		if p := b.post(path, "csrf", b.csrf("/following"), "back", "following"); p.status != http.StatusUnprocessableEntity {
			t.Errorf("POST %s: %d, want 422", path, p.status)
		}
	}
}
