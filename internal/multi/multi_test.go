package multi_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/glucoshare/glucoshare/internal/glucose"
	"github.com/glucoshare/glucoshare/internal/store"
	"github.com/glucoshare/glucoshare/internal/store/storetest"
)

// TestTwoInstances: two servers on one database behave as one. Nothing an
// instance decides on is cached: sessions, logouts, password changes,
// disabled accounts, receiver assignment, readings and login failures are
// all read from the database on every request.
func TestTwoInstances(t *testing.T) {
	if !onPostgres() {
		t.Log("running on one SQLite file shared by both instances; set GLUCOSHARE_TEST_DB=postgres://… to run on PostgreSQL")
	}
	dsn := storetest.DSN(t)
	ins := startInstances(t, dsn, 2)
	a, b := ins[0], ins[1]

	t.Run("sessions", func(t *testing.T) { testSessions(t, dsn, a, b) })
	t.Run("readings", func(t *testing.T) { testReadings(t, dsn, a, b) })
	t.Run("lockout", func(t *testing.T) { testLockout(t, dsn, a, b) })
}

// testSessions: a session made on A works on B, and whatever ends it on
// one instance is honoured by the other on its very next request.
func testSessions(t *testing.T, dsn string, a, b *instance) {
	const password = "correct horse battery"
	addAccount(t, dsn, "sam@example.org", password)
	sid := a.login(t, "sam@example.org", password)
	checkSession(t, b, sid, "", "session from A used on B")
	want(t, "logout on A", a.call(t, "Publisher/LogoutPublisherAccount?sessionId="+sid, ""), "")
	checkSession(t, b, sid, "SessionNotValid", "B right after logout on A")

	// A password change on A ends the account's other sessions on B.
	keep := a.login(t, "sam@example.org", password)
	other := b.login(t, "sam@example.org", password)
	want(t, "change password on A", a.call(t, "Publisher/ChangePublisherAccountPassword?sessionId="+keep,
		`{"oldPassword":"`+password+`","newPassword":"a new password"}`), "")
	checkSession(t, b, other, "SessionNotValid", "B's session after the password change on A")
	checkSession(t, b, keep, "", "the changing session, on B")
	want(t, "old password on B", b.call(t, "General/LoginPublisherAccountByName",
		loginBody("sam@example.org", password)), "AccountPasswordInvalid")

	// The operator disables the account on the database: both instances
	// refuse its sessions at once.
	if code, err := runCLI("", "account", "disable", "--db", dsn, "sam@example.org"); code != 0 {
		t.Fatalf("account disable: exit %d: %s", code, err)
	}
	checkSession(t, a, keep, "SessionNotValid", "A after disabling")
	checkSession(t, b, keep, "SessionNotValid", "B after disabling")
}

// testReadings: many uploads of overlapping and identical batches, posted
// concurrently to both instances, store every reading exactly once.
func testReadings(t *testing.T, dsn string, a, b *instance) {
	const password = "uploader password"
	addAccount(t, dsn, "pub", password)
	sid := a.login(t, "pub", password)
	startMonitoring(t, b, a, sid)

	const total, window, step = 480, 40, 20
	all := readings(total)
	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		mu    sync.Mutex
		fails []string
	)
	posts := 0
	for from := 0; from+window <= total; from += step {
		batch := egvBody(all[from : from+window])
		// The same batch to both instances, twice each: a retrying
		// uploader behind a load balancer.
		for _, in := range []*instance{a, b, a, b} {
			posts++
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				r, err := in.post("Publisher/PostReceiverEgvRecords?sessionId="+sid, batch)
				if err != nil || r.code() != "" {
					mu.Lock()
					fails = append(fails, fmt.Sprintf("%s: %v %d %s", in.name, err, r.status, r.body))
					mu.Unlock()
				}
			}()
		}
	}
	close(start)
	wg.Wait()
	if len(fails) > 0 {
		t.Fatalf("%d of %d uploads failed, e.g. %s", len(fails), posts, fails[0])
	}

	// Counted in the database itself…
	db, err := store.Open(context.Background(), dsn, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var rows, distinct int
	err = db.SQL().QueryRow(`SELECT COUNT(*), COUNT(DISTINCT st) FROM readings`).Scan(&rows, &distinct)
	if err != nil || rows != total || distinct != total {
		t.Errorf("readings table: %d rows, %d distinct times, %v; want %d", rows, distinct, err, total)
	}
	err = db.View(context.Background(), func(tx glucose.Tx) error {
		acct, err := tx.AccountByName(glucose.NameKey("pub"))
		if err != nil {
			return err
		}
		rs, err := tx.LatestReadings(acct.ID, 0, 2*total)
		for i, r := range rs {
			if i >= len(all) || r.ST != all[i].st || r.Value != all[i].value {
				t.Errorf("stored reading %d: %+v, want %+v", i, r, all[min(i, len(all)-1)])
				break
			}
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}

	// …and through the read API of either instance.
	for _, in := range []*instance{a, b} {
		got := in.latest(t, sid, 2*total)
		if len(got) != total {
			t.Errorf("%s reads %d readings, want %d", in.name, len(got), total)
			continue
		}
		for i, r := range got {
			if want := fmt.Sprintf("Date(%d)", all[i].st); r.ST != want || r.Value != all[i].value {
				t.Errorf("%s reading %d: %+v, want ST %s value %d", in.name, i, r, want, all[i].value)
				break
			}
		}
	}
}

// testLockout: failed logins made alternately on A and B count together;
// the key locks after five in all, although neither instance saw five.
func testLockout(t *testing.T, dsn string, a, b *instance) {
	const password = "the right password"
	addAccount(t, dsn, "kim", password)
	wrong := loginBody("kim", "a wrong password")
	for i := range 5 {
		in := []*instance{a, b}[i%2]
		want(t, fmt.Sprintf("failure %d on %s", i+1, in.name),
			in.call(t, "General/LoginPublisherAccountByName", wrong), "AccountPasswordInvalid")
	}
	right := loginBody("kim", password)
	for _, in := range []*instance{b, a} {
		want(t, "right password on "+in.name+" after five failures",
			in.call(t, "General/LoginPublisherAccountByName", right), "SSO_AuthenticateMaxAttemptsExceeded")
	}
}
