package multi_test

import (
	"testing"
	"time"

	"github.com/glucoshare/glucoshare/internal/store/storetest"
)

// TestTwoInstancesWithCache: with --db-cache-staleness each instance
// answers sessions from memory. The instance that served a logout or a
// password change refuses the old session at once; the other one within
// the bound, and never accepts it again.
func TestTwoInstancesWithCache(t *testing.T) {
	if !onPostgres() {
		t.Skip("--db-cache-staleness is for PostgreSQL; set GLUCOSHARE_TEST_DB=postgres://…")
	}
	const bound = 100 * time.Millisecond
	dsn := storetest.DSN(t)
	ins := startInstances(t, dsn, 2, "--db-cache-staleness", bound.String())
	a, b := ins[0], ins[1]
	const password = "correct horse battery"
	addAccount(t, dsn, "sam@example.org", password)
	// refusedWithin checks that in refuses sid within the bound (and a
	// margin for the machine's load), and then on every request.
	refusedWithin := func(in *instance, sid, what string) {
		t.Helper()
		start := time.Now()
		for in.call(t, sessionCheck+sid, "").code() != "SessionNotValid" {
			if time.Since(start) > bound+2*time.Second {
				t.Fatalf("%s: still accepted %v after the change", what, time.Since(start))
			}
			time.Sleep(5 * time.Millisecond)
		}
		for range 20 {
			checkSession(t, in, sid, "SessionNotValid", what+", again")
		}
	}

	sid := a.login(t, "sam@example.org", password)
	for range 3 {
		checkSession(t, a, sid, "", "the session on A")
		checkSession(t, b, sid, "", "the session from A on B")
	}
	want(t, "logout on A", a.call(t, "Publisher/LogoutPublisherAccount?sessionId="+sid, ""), "")
	checkSession(t, a, sid, "SessionNotValid", "A right after its logout")
	refusedWithin(b, sid, "B after the logout on A")

	keep := a.login(t, "sam@example.org", password)
	other := a.login(t, "sam@example.org", password)
	for range 3 {
		checkSession(t, b, other, "", "A's second session on B")
	}
	want(t, "change password on B", b.call(t, "Publisher/ChangePublisherAccountPassword?sessionId="+keep,
		`{"oldPassword":"`+password+`","newPassword":"a new password"}`), "")
	checkSession(t, b, other, "SessionNotValid", "B right after its password change")
	refusedWithin(a, other, "A after the password change on B")
	checkSession(t, a, keep, "", "the changing session, on A")
}
