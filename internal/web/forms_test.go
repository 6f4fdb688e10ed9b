package web_test

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/glucoshare/glucoshare/internal/web"
)

// follow has sam share with kim (history on) and returns both browsers,
// signed in, and the subscription id.
func follow(t *testing.T, e *env) (sam, kim *browser, subID string) {
	t.Helper()
	e.account("sam", "Sam")
	e.account("kim", "Kim")
	sam, kim = e.browser(), e.browser()
	sam.signIn("sam")
	kim.signIn("kim")
	link := sam.invite("Kim", true)
	kim.submit(link, link+"/accept")
	m := regexp.MustCompile(`id="f-([0-9a-f-]{36})"`).FindStringSubmatch(sam.get("/followers").body)
	if m == nil {
		t.Fatal("no follower listed")
	}
	return sam, kim, m[1]
}

// TestPermissionsFormRefusesGarbage: a permissions field that is missing
// or not a number is an error, not permission 0 (which would take the
// follower's history away).
func TestPermissionsFormRefusesGarbage(t *testing.T) {
	e := newEnv(t, web.Options{})
	sam, _, subID := follow(t, e)
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
