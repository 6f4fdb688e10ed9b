package nightscout_test

import (
	"context"
	"testing"
)

// A disabled account stops everything: its followers' tokens no longer
// read its data (issue 18's design change), and its own credentials fail.
func TestDisabledPublisherStopsFollowerTokens(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	sam := e.account("sam", samSecret)
	kim := e.account("kim", "")
	e.upload(sam, reading{0, 120, 4})
	token := e.follow(sam, kim, 1)
	list := "/api/v1/entries.json?token=" + token
	if got := values(e.entries(e.do("GET", list, ""))); len(got) != 1 || got[0] != 120 {
		t.Fatalf("before: %v", got)
	}
	if err := e.svc.SetDisabled(ctx, sam, true, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	wantUnauthorized(t, "a follower's token on a disabled publisher", e.do("GET", list, ""))
	wantUnauthorized(t, "pebble for a disabled publisher", e.do("GET", "/pebble?token="+token, ""))
	if err := e.svc.SetDisabled(ctx, sam, false, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if got := values(e.entries(e.do("GET", list, ""))); len(got) != 1 {
		t.Errorf("enabled again: %v", got)
	}
}
