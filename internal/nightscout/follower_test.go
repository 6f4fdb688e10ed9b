package nightscout_test

import (
	"context"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/glucoshare/glucoshare/internal/core"
)

// A follower's token reads the publisher within the subscription's
// permissions, checked at every request.
func TestFollowerToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	sam := e.account("sam", samSecret)
	kim := e.account("kim", kimSecret)
	lee := e.account("lee", "")
	e.upload(sam, reading{0, 120, 4}, reading{5, 126, 5}, reading{10, 131, 6})
	e.upload(kim, reading{0, 222, 4})

	contact, err := e.svc.CreateContact(ctx, sam, "Kim", "", e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	sub, err := e.svc.Invite(ctx, sam, contact.ID, core.Invitation{}, e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	// Not followed yet: no token.
	if _, _, err := e.svc.CreateNightscoutFollowerToken(ctx, kim, sub.ID, e.clock.Now()); err == nil {
		t.Error("a token for an invitation not yet accepted")
	}
	if _, err := e.svc.AcceptInvitation(ctx, kim, sub.InvitationID, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ who, sub string }{{lee, sub.ID}, {sam, sub.ID}, {kim, "not-an-id"}, {kim, "00000000-0000-4000-8000-000000000000"}} {
		if _, _, err := e.svc.CreateNightscoutFollowerToken(ctx, c.who, c.sub, e.clock.Now()); err == nil || !strings.Contains(err.Error(), "follows no subscription") {
			t.Errorf("token for %s on %s: %v, want refused", c.who, c.sub, err)
		}
	}
	token, rec, err := e.svc.CreateNightscoutFollowerToken(ctx, kim, sub.ID, e.clock.Now())
	if err != nil || !rec.ReadOnly || rec.SubscriptionID != sub.ID {
		t.Fatalf("follower token: %+v %v", rec, err)
	}
	list := "/api/v1/entries.json?count=10&token=" + token
	read := func() []int {
		t.Helper()
		return values(e.entries(e.do("GET", list, "")))
	}

	// Permission 1: Sam's history, never Kim's own readings.
	if got := read(); !slices.Equal(got, []int{120, 126, 131}) {
		t.Errorf("with history: %v, want Sam's [120 126 131]", got)
	}
	wantUnauthorized(t, "upload with a follower's token",
		e.do("POST", "/api/v1/entries?token="+token, `{"type":"sgv","sgv":99,"date":`+itoa(ms(1))+`}`))
	if r := e.do("GET", "/api/v1/verifyauth?token="+token, ""); !strings.Contains(r.body, `"canRead":true,"canWrite":false`) {
		t.Errorf("verifyauth: %s", r.body)
	}

	// Permission 0: the newest reading only, however the client asks.
	if err := e.svc.SetPermissions(ctx, sam, sub.ID, 0, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		target string
		want   []int
	}{
		{list, []int{120}},
		{"/api/v1/entries/sgv.json?count=3&token=" + token, []int{120}},
		{"/api/v1/entries.json?token=" + token + "&" + url.Values{"find[date][$lt]": {itoa(ms(1))}}.Encode(), []int{}},
	} {
		if got := values(e.entries(e.do("GET", c.target, ""))); !slices.Equal(got, c.want) {
			t.Errorf("current value only, %s: %v, want %v", c.target, got, c.want)
		}
	}
	if r := e.do("GET", "/pebble?count=3&token="+token, ""); r.status != 200 || strings.Count(r.body, `"sgv"`) != 1 || strings.Contains(r.body, "bgdelta") {
		t.Errorf("pebble with current value only: %s", r.body)
	}

	// Paused: nothing; resumed: readings again.
	if err := e.svc.PauseSubscription(ctx, kim, sub.ID, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	wantUnauthorized(t, "paused subscription", e.do("GET", list, ""))
	if err := e.svc.ResumeSubscription(ctx, kim, sub.ID, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if got := read(); !slices.Equal(got, []int{120}) {
		t.Errorf("resumed: %v", got)
	}
	// Leaving the subscription ends the token's access.
	if err := e.svc.LeaveSubscription(ctx, kim, sub.ID, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	wantUnauthorized(t, "left subscription", e.do("GET", list, ""))
}
