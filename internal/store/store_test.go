package store_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/glucoshare/glucoshare/internal/glucose"
	"github.com/glucoshare/glucoshare/internal/store"
	"github.com/glucoshare/glucoshare/internal/store/storetest"
	"github.com/glucoshare/glucoshare/share"
)

// The contract suite: every test runs on the engine storetest selects.

var t0 = time.Date(2025, 4, 19, 12, 0, 0, 0, time.UTC)

func update(t testing.TB, db *store.DB, fn func(glucose.Tx) error) {
	t.Helper()
	if err := db.Update(context.Background(), fn); err != nil {
		t.Fatalf("Update: %v", err)
	}
}

func view(t testing.TB, db *store.DB, fn func(glucose.Tx) error) {
	t.Helper()
	if err := db.View(context.Background(), fn); err != nil {
		t.Fatalf("View: %v", err)
	}
}

func createAccount(t testing.TB, db *store.DB, name string) *glucose.Account {
	t.Helper()
	a := &glucose.Account{Name: name, PasswordHash: "hash-" + name, CreatedAt: t0}
	update(t, db, func(tx glucose.Tx) error { return tx.CreateAccount(a) })
	return a
}

func account(t testing.TB, db *store.DB, id string) *glucose.Account {
	t.Helper()
	var a *glucose.Account
	view(t, db, func(tx glucose.Tx) (err error) {
		a, err = tx.AccountByID(id)
		return err
	})
	return a
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s: got error %v, want %v", what, err, want)
	}
}

func TestCreateAccount(t *testing.T) {
	t.Parallel()
	db := storetest.New(t)
	want := &glucose.Account{
		Name: "Sam Smith", DisplayName: "Sam", Email: "sam@example.org", PasswordHash: "$argon2id$x",
		Disabled: true, Compat: glucose.CompatLegacy, CreatedAt: t0.Add(1234 * time.Millisecond),
	}
	update(t, db, func(tx glucose.Tx) error { return tx.CreateAccount(want) })
	if len(want.ID) != 36 || strings.ToLower(want.ID) != want.ID {
		t.Fatalf("generated id %q: want a lower-case UUID", want.ID)
	}
	if got := account(t, db, want.ID); *got != *want {
		t.Errorf("AccountByID:\ngot  %+v\nwant %+v", got, want)
	}
	for _, name := range []string{"Sam Smith", "  sam SMITH\t", "SAM SMITH"} {
		view(t, db, func(tx glucose.Tx) error {
			got, err := tx.AccountByName(name)
			if err != nil || got.ID != want.ID {
				t.Errorf("AccountByName(%q) = %v, %v; want %s", name, got, err, want.ID)
			}
			return nil
		})
	}
}

func TestCreateAccountConflict(t *testing.T) {
	t.Parallel()
	db := storetest.New(t)
	first := createAccount(t, db, "alice")
	// A conflict leaves the transaction usable: the caller may go on and
	// commit other writes.
	var bob glucose.Account
	update(t, db, func(tx glucose.Tx) error {
		err := tx.CreateAccount(&glucose.Account{Name: " ALICE ", CreatedAt: t0})
		wantErr(t, "CreateAccount(duplicate name key)", err, glucose.ErrConflict)
		if u, ok := err.(interface{ Unwrap() []error }); !ok || len(u.Unwrap()) != 2 {
			t.Errorf("CreateAccount(duplicate name key) = %#v: want the driver's error kept in the chain", err)
		}
		err = tx.CreateAccount(&glucose.Account{ID: first.ID, Name: "other", CreatedAt: t0})
		wantErr(t, "CreateAccount(duplicate id)", err, glucose.ErrConflict)
		bob = glucose.Account{Name: "bob", CreatedAt: t0}
		return tx.CreateAccount(&bob)
	})
	if got := account(t, db, bob.ID); got.Name != "bob" {
		t.Errorf("after conflicts: got %+v, want bob", got)
	}
}

func TestAccountNotFound(t *testing.T) {
	t.Parallel()
	db := storetest.New(t)
	createAccount(t, db, "alice")
	const missing = "00000000-0000-4000-8000-000000000000"
	view(t, db, func(tx glucose.Tx) error {
		_, err := tx.AccountByID(missing)
		wantErr(t, "AccountByID", err, glucose.ErrNotFound)
		_, err = tx.AccountByName("nobody")
		wantErr(t, "AccountByName", err, glucose.ErrNotFound)
		_, err = tx.AccountBySerial("SM12345678")
		wantErr(t, "AccountBySerial", err, glucose.ErrNotFound)
		_, err = tx.AccountBySerial("")
		wantErr(t, "AccountBySerial(\"\")", err, glucose.ErrNotFound)
		return nil
	})
	update(t, db, func(tx glucose.Tx) error {
		for name, err := range map[string]error{
			"SetPasswordHash": tx.SetPasswordHash(missing, "h"),
			"SetDisabled":     tx.SetDisabled(missing, true),
			"SetCompat":       tx.SetCompat(missing, glucose.CompatModern),
			"SetUnits":        tx.SetUnits(missing, glucose.UnitsMmol),
			"SetReceiver":     tx.SetReceiver(missing, "SM1", "r", true),
			"SetMonitoring":   tx.SetMonitoring(missing, true),
			"SetDisplayName":  tx.SetDisplayName(missing, "x"),
			"SetEmail":        tx.SetEmail(missing, "x@example.org"),
		} {
			wantErr(t, name, err, glucose.ErrNotFound)
		}
		return nil
	})
	// Rows that reference a missing account. These fail the transaction
	// on PostgreSQL, so each runs in its own.
	for name, fn := range map[string]func(glucose.Tx) error{
		"CreateSession": func(tx glucose.Tx) error {
			return tx.CreateSession(&glucose.Session{AccountID: missing, CreatedAt: t0})
		},
		"SetImage": func(tx glucose.Tx) error {
			return tx.SetImage(missing, &glucose.Image{ContentType: "image/png", Data: []byte{1}})
		},
		"SetRuntimeInfo": func(tx glucose.Tx) error { return tx.SetRuntimeInfo(missing, "publisher", []byte(`{}`), t0) },
		"PutNamedValue":  func(tx glucose.Tx) error { return tx.PutNamedValue(missing, "p", "n", "v") },
		"InsertReadings": func(tx glucose.Tx) error {
			_, err := tx.InsertReadings(missing, []glucose.Reading{reading(1, 100)})
			return err
		},
	} {
		wantErr(t, name, db.Update(context.Background(), fn), glucose.ErrNotFound)
	}
}

func TestAccountSetters(t *testing.T) {
	t.Parallel()
	db := storetest.New(t)
	a := createAccount(t, db, "alice")
	update(t, db, func(tx glucose.Tx) error {
		return errors.Join(
			tx.SetPasswordHash(a.ID, "new-hash"),
			tx.SetDisabled(a.ID, true),
			tx.SetCompat(a.ID, glucose.CompatModern),
			tx.SetUnits(a.ID, glucose.UnitsMmol),
			tx.SetDisplayName(a.ID, "Alice A."),
			tx.SetEmail(a.ID, "alice@example.org"),
			tx.SetReceiver(a.ID, "SM11111111", "5e2c9b7a-1f3d-4a8e-b6c0-7d9e2f4a1b35", true),
			tx.SetMonitoring(a.ID, true),
		)
	})
	want := *a
	want.PasswordHash, want.Disabled, want.Compat, want.Units = "new-hash", true, glucose.CompatModern, glucose.UnitsMmol
	want.DisplayName, want.Email = "Alice A.", "alice@example.org"
	want.Serial, want.ReceiverID, want.Monitoring = "SM11111111", "5e2c9b7a-1f3d-4a8e-b6c0-7d9e2f4a1b35", true
	if got := account(t, db, a.ID); *got != want {
		t.Errorf("after setters:\ngot  %+v\nwant %+v", got, &want)
	}
	update(t, db, func(tx glucose.Tx) error { return tx.SetDisabled(a.ID, false) })
	if got := account(t, db, a.ID); got.Disabled {
		t.Errorf("SetDisabled(false): still disabled")
	}
}

func TestAccountsOrder(t *testing.T) {
	t.Parallel()
	db := storetest.New(t)
	view(t, db, func(tx glucose.Tx) error {
		got, err := tx.Accounts()
		if err != nil || got == nil || len(got) != 0 {
			t.Errorf("Accounts() on empty store = %#v, %v; want empty non-nil", got, err)
		}
		return nil
	})
	names := []string{"bob", "Zed", "alice", "émile", "Carol", "+4686751622"}
	for _, n := range names {
		createAccount(t, db, n)
	}
	slices.SortFunc(names, func(a, b string) int { return strings.Compare(glucose.NameKey(a), glucose.NameKey(b)) })
	view(t, db, func(tx glucose.Tx) error {
		as, err := tx.Accounts()
		if err != nil {
			return err
		}
		var got []string
		for _, a := range as {
			got = append(got, a.Name)
		}
		if !slices.Equal(got, names) {
			t.Errorf("Accounts() names = %q, want %q", got, names)
		}
		return nil
	})
}

func TestReceiver(t *testing.T) {
	t.Parallel()
	db := storetest.New(t)
	a, b := createAccount(t, db, "alice"), createAccount(t, db, "bob")
	update(t, db, func(tx glucose.Tx) error { return tx.SetReceiver(a.ID, "SM11111111", "r-a", true) })
	update(t, db, func(tx glucose.Tx) error {
		wantErr(t, "SetReceiver(serial held by another)", tx.SetReceiver(b.ID, "SM11111111", "r-b", true), glucose.ErrConflict)
		// Re-assigning one's own serial is not a conflict.
		return tx.SetReceiver(a.ID, "SM11111111", "r-a2", true)
	})
	view(t, db, func(tx glucose.Tx) error {
		got, err := tx.AccountBySerial("SM11111111")
		if err != nil || got.ID != a.ID || got.ReceiverID != "r-a2" {
			t.Errorf("AccountBySerial = %+v, %v; want alice with r-a2", got, err)
		}
		return nil
	})
	if got := account(t, db, b.ID); got.HasReceiver() {
		t.Errorf("bob after conflict: serial %q, want none", got.Serial)
	}

	// Shared serials: any number of holders, none found by serial.
	update(t, db, func(tx glucose.Tx) error {
		return errors.Join(tx.SetReceiver(b.ID, "SM00000000", "r-b", false),
			tx.SetMonitoring(a.ID, true))
	})
	c := createAccount(t, db, "carol")
	update(t, db, func(tx glucose.Tx) error { return tx.SetReceiver(c.ID, "SM00000000", "r-c", false) })
	view(t, db, func(tx glucose.Tx) error {
		_, err := tx.AccountBySerial("SM00000000")
		wantErr(t, "AccountBySerial(shared)", err, glucose.ErrNotFound)
		return nil
	})

	// Clearing releases the claim and leaves monitoring alone.
	update(t, db, func(tx glucose.Tx) error { return tx.SetReceiver(a.ID, "", "ignored", true) })
	if got := account(t, db, a.ID); got.Serial != "" || got.ReceiverID != "" || !got.Monitoring {
		t.Errorf("after clearing: serial %q receiver %q monitoring %v; want \"\", \"\", true",
			got.Serial, got.ReceiverID, got.Monitoring)
	}
	update(t, db, func(tx glucose.Tx) error { return tx.SetReceiver(b.ID, "SM11111111", "r-b2", true) })
	if got := account(t, db, b.ID); got.Serial != "SM11111111" || got.ReceiverID != "r-b2" {
		t.Errorf("bob after release: %+v", got)
	}
}

// Two transactions racing for one serial: exactly one wins.
func TestReceiverRace(t *testing.T) {
	t.Parallel()
	db := storetest.New(t)
	const n = 4
	accounts := make([]*glucose.Account, n)
	for i := range accounts {
		accounts[i] = createAccount(t, db, fmt.Sprint("user", i))
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, a := range accounts {
		wg.Go(func() {
			errs[i] = db.Update(context.Background(), func(tx glucose.Tx) error {
				return tx.SetReceiver(a.ID, "SM22222222", "r", true)
			})
		})
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, glucose.ErrConflict):
			t.Errorf("SetReceiver: %v, want nil or ErrConflict", err)
		}
	}
	if won != 1 {
		t.Errorf("%d transactions claimed the serial, want 1", won)
	}
}

func session(t testing.TB, db *store.DB, id string) *glucose.Session {
	t.Helper()
	var s *glucose.Session
	view(t, db, func(tx glucose.Tx) (err error) {
		s, err = tx.SessionByID(id)
		return err
	})
	return s
}

func TestSessions(t *testing.T) {
	t.Parallel()
	db := storetest.New(t)
	a := createAccount(t, db, "alice")
	s := &glucose.Session{AccountID: a.ID, ApplicationID: "d89443d2-327c-4a6f-89e5-496bbb0317db", CreatedAt: t0}
	update(t, db, func(tx glucose.Tx) error { return tx.CreateSession(s) })
	want := *s
	want.LastUsedAt = t0
	if got := session(t, db, s.ID); *got != want || got.Ended() {
		t.Errorf("SessionByID:\ngot  %+v\nwant %+v", got, &want)
	}

	update(t, db, func(tx glucose.Tx) error { return tx.TouchSession(s.ID, t0.Add(time.Minute)) })
	if got := session(t, db, s.ID); !got.LastUsedAt.Equal(t0.Add(time.Minute)) {
		t.Errorf("after TouchSession: LastUsedAt %v", got.LastUsedAt)
	}
	update(t, db, func(tx glucose.Tx) error { return tx.EndSession(s.ID, t0.Add(2*time.Minute)) })
	update(t, db, func(tx glucose.Tx) error { return tx.EndSession(s.ID, t0.Add(3*time.Minute)) })
	if got := session(t, db, s.ID); !got.EndedAt.Equal(t0.Add(2 * time.Minute)) {
		t.Errorf("after EndSession twice: EndedAt %v, want the first end %v", got.EndedAt, t0.Add(2*time.Minute))
	}

	const missing = "0f0f0f0f-0000-4000-8000-000000000000"
	update(t, db, func(tx glucose.Tx) error {
		_, err := tx.SessionByID(missing)
		wantErr(t, "SessionByID", err, glucose.ErrNotFound)
		wantErr(t, "TouchSession", tx.TouchSession(missing, t0), glucose.ErrNotFound)
		wantErr(t, "EndSession", tx.EndSession(missing, t0), glucose.ErrNotFound)
		return nil
	})
}

func TestEndOtherSessions(t *testing.T) {
	t.Parallel()
	db := storetest.New(t)
	a, b := createAccount(t, db, "alice"), createAccount(t, db, "bob")
	var ids []string
	update(t, db, func(tx glucose.Tx) error {
		for _, acct := range []string{a.ID, a.ID, a.ID, b.ID} {
			s := &glucose.Session{AccountID: acct, CreatedAt: t0}
			if err := tx.CreateSession(s); err != nil {
				return err
			}
			ids = append(ids, s.ID)
		}
		return tx.EndSession(ids[1], t0.Add(time.Minute))
	})
	update(t, db, func(tx glucose.Tx) error { return tx.EndOtherSessions(a.ID, ids[0], t0.Add(time.Hour)) })
	for i, want := range []time.Time{{}, t0.Add(time.Minute), t0.Add(time.Hour), {}} {
		if got := session(t, db, ids[i]).EndedAt; !got.Equal(want) {
			t.Errorf("session %d: EndedAt %v, want %v", i, got, want)
		}
	}
}

func TestEvictSessions(t *testing.T) {
	t.Parallel()
	db := storetest.New(t)
	a, b := createAccount(t, db, "alice"), createAccount(t, db, "bob")
	var ids []string // ids[i] last used at t0+i minutes
	update(t, db, func(tx glucose.Tx) error {
		for i := range 6 {
			s := &glucose.Session{AccountID: a.ID, CreatedAt: t0, LastUsedAt: t0.Add(time.Duration(i) * time.Minute)}
			if err := tx.CreateSession(s); err != nil {
				return err
			}
			ids = append(ids, s.ID)
		}
		// Ended sessions and other accounts' sessions do not count.
		if err := tx.EndSession(ids[4], t0); err != nil {
			return err
		}
		return tx.CreateSession(&glucose.Session{AccountID: b.ID, CreatedAt: t0})
	})
	at := t0.Add(time.Hour)
	update(t, db, func(tx glucose.Tx) error { return tx.EvictSessions(a.ID, 3, at) })
	// Open were 0,1,2,3,5; the three most recent (5,3,2) stay open.
	for i, want := range []time.Time{at, at, {}, {}, t0, {}} {
		if got := session(t, db, ids[i]).EndedAt; !got.Equal(want) {
			t.Errorf("session %d: EndedAt %v, want %v", i, got, want)
		}
	}
	update(t, db, func(tx glucose.Tx) error { return tx.EvictSessions(a.ID, 0, at) })
	for i, s := range ids {
		if !session(t, db, s).Ended() {
			t.Errorf("session %d open after EvictSessions(keep 0)", i)
		}
	}
}

func TestForgetSessions(t *testing.T) {
	t.Parallel()
	db := storetest.New(t)
	a := createAccount(t, db, "alice")
	cutoff := t0.Add(time.Hour)
	before, after := cutoff.Add(-time.Millisecond), cutoff.Add(time.Millisecond)
	sessions := []struct {
		used, ended time.Time
		forgotten   bool
	}{
		{used: before, ended: before, forgotten: true},
		{used: before, ended: after},
		{used: before, forgotten: true},
		{used: cutoff},
		{used: after, ended: cutoff},
	}
	ids := make([]string, len(sessions))
	update(t, db, func(tx glucose.Tx) error {
		for i, s := range sessions {
			gs := &glucose.Session{AccountID: a.ID, CreatedAt: t0, LastUsedAt: s.used, EndedAt: s.ended}
			if err := tx.CreateSession(gs); err != nil {
				return err
			}
			ids[i] = gs.ID
		}
		return nil
	})
	update(t, db, func(tx glucose.Tx) error {
		n, err := tx.ForgetSessions(cutoff)
		if n != 2 {
			t.Errorf("ForgetSessions = %d, want 2", n)
		}
		return err
	})
	view(t, db, func(tx glucose.Tx) error {
		for i, s := range sessions {
			_, err := tx.SessionByID(ids[i])
			if gone := errors.Is(err, glucose.ErrNotFound); gone != s.forgotten {
				t.Errorf("session %d: SessionByID error %v, want forgotten=%v", i, err, s.forgotten)
			}
		}
		return nil
	})
}

func TestLoginThrottling(t *testing.T) {
	t.Parallel()
	db := storetest.New(t)
	acct := createAccount(t, db, "alice")
	key, other, unknown := acct.ID+" 192.0.2.1", acct.ID+" *", "? 3fa"
	fail := func(key string, at time.Time) (n int) {
		t.Helper()
		update(t, db, func(tx glucose.Tx) (err error) {
			if n, err = tx.AddLoginFailure(key, at); err != nil {
				return err
			}
			return tx.SetLoginDelay(key, at, at.Add(24*time.Hour))
		})
		return n
	}
	rows := func(keys ...string) (out map[string]glucose.Throttle) {
		t.Helper()
		out = map[string]glucose.Throttle{}
		view(t, db, func(tx glucose.Tx) error {
			ths, err := tx.Throttles(keys...)
			for _, th := range ths {
				out[th.Key] = th
			}
			return err
		})
		return out
	}
	if got := rows(key, other); len(got) != 0 {
		t.Errorf("Throttles before any failure = %v", got)
	}
	for i := 1; i <= 3; i++ {
		if got := fail(key, t0.Add(time.Duration(i)*time.Minute)); got != i {
			t.Errorf("failure %d: count %d", i, got)
		}
	}
	fail(other, t0)
	fail(unknown, t0)
	until, forget := t0.Add(time.Hour), t0.Add(2*time.Hour)
	update(t, db, func(tx glucose.Tx) error { return tx.SetLoginDelay(key, until, forget) })
	got := rows(key, other, unknown, "absent")
	if th := got[key]; th.Failures != 3 || !th.Until.Equal(until) || !th.ForgetAt.Equal(forget) || len(got) != 3 {
		t.Errorf("Throttles = %+v", got)
	}
	// A row due to be forgotten starts again at 1.
	if n := fail(key, forget); n != 1 {
		t.Errorf("failure at forget_at: count %d, want 1", n)
	}
	update(t, db, func(tx glucose.Tx) error { return tx.ForgiveLoginFailure(key) })
	update(t, db, func(tx glucose.Tx) error { return tx.ForgiveLoginFailure(key) })
	if th := rows(key)[key]; th.Failures != 0 {
		t.Errorf("after forgiving twice: %d failures, want 0", th.Failures)
	}
	update(t, db, func(tx glucose.Tx) error { return tx.ClearLogin(key) })
	if got := rows(key, other); len(got) != 1 {
		t.Errorf("after ClearLogin(key): %v", got)
	}

	// Addresses.
	update(t, db, func(tx glucose.Tx) error {
		for i, a := range []string{"192.0.2.1", "192.0.2.2", "2001:db8::/64"} {
			if err := tx.RememberLoginAddress(acct.ID, a, t0.Add(time.Duration(i)*time.Minute), 2); err != nil {
				return err
			}
		}
		return nil
	})
	since := func(addr string, at time.Time) (ok bool) {
		t.Helper()
		view(t, db, func(tx glucose.Tx) (err error) {
			ok, err = tx.LoginAddressSince(acct.ID, addr, at)
			return err
		})
		return ok
	}
	if since("192.0.2.1", t0) || !since("192.0.2.2", t0) || !since("2001:db8::/64", t0) || since("192.0.2.2", t0.Add(time.Hour)) {
		t.Error("LoginAddressSince: the oldest address was kept, or times are not compared")
	}
	// The sweep forgets what is due and old addresses; ClearAccountLogins
	// takes the rest of the account's.
	var n int
	update(t, db, func(tx glucose.Tx) (err error) {
		n, err = tx.ForgetLogins(t0.Add(48*time.Hour), t0.Add(90*time.Second))
		return err
	})
	if n != 3 || !since("2001:db8::/64", t0) {
		t.Errorf("ForgetLogins removed %d rows, want 3 (two counters, one address)", n)
	}
	fail(acct.ID+" 198.51.100.1", t0)
	fail(acct.ID+"x 198.51.100.1", t0) // another id that shares the prefix
	update(t, db, func(tx glucose.Tx) error { return tx.ClearAccountLogins(acct.ID) })
	if got := rows(acct.ID+" 198.51.100.1", acct.ID+"x 198.51.100.1"); len(got) != 1 || since("2001:db8::/64", t0) {
		t.Errorf("after ClearAccountLogins: %v", got)
	}

	// Server keys: the first stored wins.
	var k1, k2 []byte
	update(t, db, func(tx glucose.Tx) (err error) { k1, err = tx.ServerKey("k", []byte("first")); return err })
	update(t, db, func(tx glucose.Tx) (err error) { k2, err = tx.ServerKey("k", []byte("second")); return err })
	if string(k1) != "first" || string(k2) != "first" {
		t.Errorf("ServerKey = %q, %q; want first twice", k1, k2)
	}
}

func reading(st int64, value int) glucose.Reading {
	return glucose.Reading{ST: st, Value: value, Trend: share.Trend(4), Offset: -300, ReceivedAt: st + 1000}
}

func insert(t testing.TB, db *store.DB, accountID string, rs []glucose.Reading) (n int) {
	t.Helper()
	update(t, db, func(tx glucose.Tx) (err error) {
		n, err = tx.InsertReadings(accountID, rs)
		return err
	})
	return n
}

func latest(t testing.TB, db *store.DB, accountID string, since int64, max int) (rs []glucose.Reading) {
	t.Helper()
	view(t, db, func(tx glucose.Tx) (err error) {
		rs, err = tx.LatestReadings(accountID, since, max)
		return err
	})
	return rs
}

func TestInsertReadings(t *testing.T) {
	t.Parallel()
	db := storetest.New(t)
	a := createAccount(t, db, "alice")
	base := glucose.MS(t0)
	if got := insert(t, db, a.ID, nil); got != 0 {
		t.Errorf("InsertReadings(nil) = %d, want 0", got)
	}
	if got := insert(t, db, a.ID, []glucose.Reading{reading(base, 100), reading(base+300000, 110)}); got != 2 {
		t.Errorf("first insert stored %d, want 2", got)
	}
	// Across calls the first write wins and duplicates are not counted.
	second := []glucose.Reading{reading(base+600000, 120), reading(base, 999), reading(base+300000, 999)}
	if got := insert(t, db, a.ID, second); got != 1 {
		t.Errorf("overlapping insert stored %d, want 1", got)
	}
	got := latest(t, db, a.ID, 0, 10)
	want := []glucose.Reading{reading(base+600000, 120), reading(base+300000, 110), reading(base, 100)}
	if !slices.Equal(got, want) {
		t.Errorf("LatestReadings:\ngot  %+v\nwant %+v", got, want)
	}

}

// A maximal upload, unsorted, with duplicates inside the batch.
func TestInsertReadingsLargeBatch(t *testing.T) {
	t.Parallel()
	db := storetest.New(t)
	a, b := createAccount(t, db, "alice"), createAccount(t, db, "bob")
	base := glucose.MS(t0)
	rs := make([]glucose.Reading, 0, 10000)
	for i := range 10000 {
		rs = append(rs, reading(base+int64((i*7919)%10000)*300000, 40+i%300))
	}
	if got := insert(t, db, a.ID, rs); got != 10000 {
		t.Errorf("10,000 readings: stored %d", got)
	}
	if got := insert(t, db, a.ID, rs); got != 0 {
		t.Errorf("same 10,000 again: stored %d, want 0", got)
	}
	if got := insert(t, db, b.ID, rs[:5000]); got != 5000 {
		t.Errorf("another account: stored %d, want 5000", got)
	}
	dup := []glucose.Reading{reading(1, 50), reading(2, 60), reading(1, 70)}
	if got := insert(t, db, b.ID, dup); got != 2 {
		t.Errorf("batch with an inner duplicate: stored %d, want 2", got)
	}
	if got := latest(t, db, b.ID, 1, 1000000); got[len(got)-1] != reading(1, 50) {
		t.Errorf("inner duplicate: stored %+v, want the first, %+v", got[len(got)-1], reading(1, 50))
	}
}

// Overlapping uploads from several server instances store each reading
// once.
func TestInsertReadingsConcurrent(t *testing.T) {
	t.Parallel()
	db := storetest.New(t)
	a := createAccount(t, db, "alice")
	const workers, span, step = 8, 500, 100
	stored := make([]int, workers)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		rs := make([]glucose.Reading, span)
		for i := range rs {
			rs[i] = reading(int64(w*step+i)*1000, 100)
		}
		if w%2 == 1 {
			slices.Reverse(rs)
		}
		wg.Go(func() {
			errs[w] = db.Update(context.Background(), func(tx glucose.Tx) (err error) {
				stored[w], err = tx.InsertReadings(a.ID, rs)
				return err
			})
		})
	}
	wg.Wait()
	total := 0
	for w := range workers {
		if errs[w] != nil {
			t.Errorf("worker %d: %v", w, errs[w])
		}
		total += stored[w]
	}
	const want = (workers-1)*step + span
	if got := len(latest(t, db, a.ID, 0, 100000)); got != want || total != want {
		t.Errorf("stored %d readings, counted %d; want %d", got, total, want)
	}
}

func TestLatestReadings(t *testing.T) {
	t.Parallel()
	db := storetest.New(t)
	a, b := createAccount(t, db, "alice"), createAccount(t, db, "bob")
	base := glucose.MS(t0)
	var rs []glucose.Reading
	for i := range 10 {
		rs = append(rs, glucose.Reading{ST: base + int64(i)*300000, Value: 39 + i*40, Trend: share.Trend(i % 10),
			Offset: -480 + i*60, ReceivedAt: base + 3600000})
	}
	insert(t, db, a.ID, rs)
	insert(t, db, b.ID, []glucose.Reading{reading(base+10*300000, 200)})

	newestFirst := slices.Clone(rs)
	slices.Reverse(newestFirst)
	for _, c := range []struct {
		name  string
		since int64
		max   int
		want  []glucose.Reading
	}{
		{"all", 0, 100, newestFirst},
		{"limit", 0, 3, newestFirst[:3]},
		{"one", 0, 1, newestFirst[:1]},
		{"since is inclusive", rs[6].ST, 100, newestFirst[:4]},
		{"since and limit", rs[6].ST, 2, newestFirst[:2]},
		{"since after newest", rs[9].ST + 1, 100, []glucose.Reading{}},
		{"max 0", 0, 0, []glucose.Reading{}},
	} {
		got := latest(t, db, a.ID, c.since, c.max)
		if got == nil || !slices.Equal(got, c.want) {
			t.Errorf("%s: LatestReadings(since %d, max %d):\ngot  %+v\nwant %+v", c.name, c.since, c.max, got, c.want)
		}
	}
}

func TestNamedValues(t *testing.T) {
	t.Parallel()
	db := storetest.New(t)
	a, b := createAccount(t, db, "alice"), createAccount(t, db, "bob")
	const p, q = "8d61be97-5cc9-4428-9823-1e3b97c36262", "11111111-2222-4333-8444-555555555555"
	names := []string{"b", "a", "B", "émile", "zed", "a b", "Z", "_x", "ä", "10", "9"}
	update(t, db, func(tx glucose.Tx) error {
		for _, n := range names {
			if err := tx.PutNamedValue(a.ID, p, n, "v-"+n); err != nil {
				return err
			}
		}
		return errors.Join(tx.PutNamedValue(a.ID, p, "a", "overwritten"),
			tx.PutNamedValue(a.ID, q, "only", "in q"), tx.PutNamedValue(b.ID, p, "bobs", "x"))
	})
	byteOrder := slices.Clone(names)
	slices.Sort(byteOrder) // Go compares strings byte by byte
	view(t, db, func(tx glucose.Tx) error {
		got, err := tx.NamedValueNames(a.ID, p)
		if err != nil || !slices.Equal(got, byteOrder) {
			t.Errorf("NamedValueNames = %q, %v; want %q", got, err, byteOrder)
		}
		if v, err := tx.NamedValue(a.ID, p, "a"); v != "overwritten" || err != nil {
			t.Errorf("NamedValue(a) = %q, %v; want overwritten", v, err)
		}
		if v, err := tx.NamedValue(a.ID, p, "émile"); v != "v-émile" || err != nil {
			t.Errorf("NamedValue(émile) = %q, %v", v, err)
		}
		_, err = tx.NamedValue(a.ID, p, "missing")
		wantErr(t, "NamedValue(missing)", err, glucose.ErrNotFound)
		_, err = tx.NamedValue(a.ID, q, "a")
		wantErr(t, "NamedValue(other partition)", err, glucose.ErrNotFound)
		if n, err := tx.CountNamedValues(a.ID, p); n != len(names) || err != nil {
			t.Errorf("CountNamedValues = %d, %v; want %d", n, err, len(names))
		}
		return nil
	})
	update(t, db, func(tx glucose.Tx) error {
		n, err := tx.DeleteNamedValues(a.ID, p)
		if n != len(names) {
			t.Errorf("DeleteNamedValues = %d, want %d", n, len(names))
		}
		return err
	})
	view(t, db, func(tx glucose.Tx) error {
		got, err := tx.NamedValueNames(a.ID, p)
		if err != nil || got == nil || len(got) != 0 {
			t.Errorf("NamedValueNames after delete = %#v, %v; want empty non-nil", got, err)
		}
		if n, _ := tx.CountNamedValues(a.ID, q); n != 1 {
			t.Errorf("other partition: %d values, want 1", n)
		}
		if n, _ := tx.CountNamedValues(b.ID, p); n != 1 {
			t.Errorf("other account: %d values, want 1", n)
		}
		return nil
	})
}

func TestImage(t *testing.T) {
	t.Parallel()
	db := storetest.New(t)
	a := createAccount(t, db, "alice")
	image := func() (img *glucose.Image, err error) {
		view(t, db, func(tx glucose.Tx) error {
			img, err = tx.Image(a.ID)
			return nil
		})
		return img, err
	}
	if _, err := image(); !errors.Is(err, glucose.ErrNotFound) {
		t.Errorf("Image before SetImage: %v, want ErrNotFound", err)
	}
	png := &glucose.Image{ContentType: "image/png", Data: []byte{0x89, 'P', 'N', 'G', 0, 0xff, 0x80}, DeclaredAs: "png"}
	jpeg := &glucose.Image{ContentType: "image/jpeg", Data: []byte{0xff, 0xd8, 0xff, 0}, DeclaredAs: "JPG"}
	for _, want := range []*glucose.Image{png, jpeg} {
		update(t, db, func(tx glucose.Tx) error { return tx.SetImage(a.ID, want) })
		got, err := image()
		if err != nil || got.ContentType != want.ContentType || got.DeclaredAs != want.DeclaredAs ||
			string(got.Data) != string(want.Data) {
			t.Errorf("Image = %+v, %v; want %+v", got, err, want)
		}
	}
	update(t, db, func(tx glucose.Tx) error { return errors.Join(tx.DeleteImage(a.ID), tx.DeleteImage(a.ID)) })
	if _, err := image(); !errors.Is(err, glucose.ErrNotFound) {
		t.Errorf("Image after DeleteImage: %v, want ErrNotFound", err)
	}
}

func TestRuntimeInfo(t *testing.T) {
	t.Parallel()
	db := storetest.New(t)
	a := createAccount(t, db, "alice")
	update(t, db, func(tx glucose.Tx) error {
		return errors.Join(tx.SetRuntimeInfo(a.ID, "publisher", []byte(`{"v":1}`), t0),
			tx.SetRuntimeInfo(a.ID, "publisher", []byte(`{"v":2}`), t0.Add(time.Second)),
			tx.SetRuntimeInfo(a.ID, "subscriber", []byte(`{"s":1}`), t0))
	})
	var info string
	var at int64
	err := db.SQL().QueryRow(`SELECT info, updated_at FROM runtime_info WHERE role = 'publisher'`).Scan(&info, &at)
	if err != nil || info != `{"v":2}` || at != glucose.MS(t0.Add(time.Second)) {
		t.Errorf("runtime_info = %s at %d, %v; want the latest", info, at, err)
	}
}

func TestUpdateRollsBack(t *testing.T) {
	t.Parallel()
	db := storetest.New(t)
	a := createAccount(t, db, "alice")
	errBoom := errors.New("boom")
	err := db.Update(context.Background(), func(tx glucose.Tx) error {
		if err := tx.CreateAccount(&glucose.Account{Name: "bob", CreatedAt: t0}); err != nil {
			return err
		}
		if _, err := tx.InsertReadings(a.ID, []glucose.Reading{reading(1, 100)}); err != nil {
			return err
		}
		return fmt.Errorf("later: %w", errBoom)
	})
	if !errors.Is(err, errBoom) {
		t.Errorf("Update = %v, want fn's error", err)
	}
	// A panic rolls back too, and must not keep the writer.
	func() {
		defer func() { recover() }()
		db.Update(context.Background(), func(tx glucose.Tx) error {
			tx.SetDisplayName(a.ID, "panicked")
			panic("boom")
		})
	}()
	view(t, db, func(tx glucose.Tx) error {
		_, err := tx.AccountByName("bob")
		wantErr(t, "account created in a failed Update", err, glucose.ErrNotFound)
		return nil
	})
	if got := latest(t, db, a.ID, 0, 10); len(got) != 0 {
		t.Errorf("readings after rollback: %+v", got)
	}
	if got := account(t, db, a.ID); got.DisplayName != "" {
		t.Errorf("display name after a panicking Update: %q", got.DisplayName)
	}
	update(t, db, func(tx glucose.Tx) error { return tx.SetDisplayName(a.ID, "after") })
}

func TestViewIsReadOnly(t *testing.T) {
	t.Parallel()
	db := storetest.New(t)
	a := createAccount(t, db, "alice")
	err := db.View(context.Background(), func(tx glucose.Tx) error { return tx.SetDisplayName(a.ID, "x") })
	if err == nil {
		t.Errorf("writing in View succeeded")
	}
	if got := account(t, db, a.ID); got.DisplayName != "" {
		t.Errorf("display name after View = %q", got.DisplayName)
	}
}

// Readers do not wait for a writer (SQLite WAL, PostgreSQL MVCC).
func TestViewDuringUpdate(t *testing.T) {
	t.Parallel()
	db := storetest.New(t)
	a := createAccount(t, db, "alice")
	done := make(chan error, 1)
	update(t, db, func(tx glucose.Tx) error {
		if err := tx.SetDisplayName(a.ID, "uncommitted"); err != nil {
			return err
		}
		go func() {
			done <- db.View(context.Background(), func(tx glucose.Tx) error {
				got, err := tx.AccountByID(a.ID)
				if err == nil && got.DisplayName != "" {
					t.Errorf("View saw uncommitted display name %q", got.DisplayName)
				}
				return err
			})
		}()
		select {
		case err := <-done:
			return err
		case <-time.After(5 * time.Second):
			return errors.New("View waited for Update")
		}
	})
}

func TestMigrate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, err := store.Open(ctx, storetest.DSN(t), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	current, known, err := db.SchemaVersion(ctx)
	if err != nil || current != 0 || known < 1 {
		t.Fatalf("SchemaVersion of an empty database = %d, %d, %v; want 0, ≥1", current, known, err)
	}
	if err := db.CheckSchema(ctx); err == nil || !strings.Contains(err.Error(), "glucoshare migrate") {
		t.Errorf("CheckSchema before Migrate = %v, want advice to run glucoshare migrate", err)
	}
	if from, to, err := db.Migrate(ctx); from != 0 || to != known || err != nil {
		t.Errorf("Migrate = %d, %d, %v; want 0, %d", from, to, err, known)
	}
	if from, to, err := db.Migrate(ctx); from != known || to != known || err != nil {
		t.Errorf("Migrate again = %d, %d, %v; want %d, %d", from, to, err, known, known)
	}
	if err := db.CheckSchema(ctx); err != nil {
		t.Errorf("CheckSchema after Migrate: %v", err)
	}

	// A newer binary migrated this database.
	if _, err := db.SQL().ExecContext(ctx, fmt.Sprintf(
		`INSERT INTO schema_migrations (version, applied_at) VALUES (%d, 0)`, known+1)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.Migrate(ctx); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Errorf("Migrate on a newer schema = %v, want a refusal", err)
	}
	if err := db.CheckSchema(ctx); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Errorf("CheckSchema on a newer schema = %v, want a refusal", err)
	}
}

func TestClosed(t *testing.T) {
	t.Parallel()
	db := storetest.New(t)
	db.Close()
	ctx := context.Background()
	nop := func(glucose.Tx) error { return nil }
	wantErr(t, "Update after Close", db.Update(ctx, nop), glucose.ErrUnavailable)
	wantErr(t, "View after Close", db.View(ctx, nop), glucose.ErrUnavailable)
	wantErr(t, "Ping after Close", db.Ping(ctx), glucose.ErrUnavailable)
	if err := db.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestOpenUnavailable(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// Nothing listens on port 1.
	_, err := store.Open(ctx, "postgres://glucoshare@127.0.0.1:1/glucoshare?sslmode=disable", store.Options{})
	wantErr(t, "Open(postgres, refused)", err, glucose.ErrUnavailable)

	_, err = store.Open(ctx, filepath.Join(t.TempDir(), "missing", "glucoshare.db"), store.Options{})
	if err == nil {
		t.Errorf("Open(sqlite in a missing directory) succeeded")
	}
}

// The SQLite DSN forms, and the pragmas every connection gets.
func TestOpenSQLite(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	t.Chdir(dir)
	for _, dsn := range []string{
		"",
		"sqlite:" + filepath.Join(dir, "a.db"),
		filepath.Join(dir, "odd ?name#.db"),
		"file:" + filepath.Join(dir, "c.db"),
		"relative.db",
	} {
		db, err := store.Open(ctx, dsn, store.Options{})
		if err != nil {
			t.Errorf("Open(%q): %v", dsn, err)
			continue
		}
		if db.Dialect() != "sqlite" {
			t.Errorf("Open(%q).Dialect() = %q", dsn, db.Dialect())
		}
		for pragma, want := range map[string]string{
			"busy_timeout": "10000", "journal_mode": "wal", "foreign_keys": "1", "synchronous": "2",
		} {
			var got string
			if err := db.SQL().QueryRow("PRAGMA " + pragma).Scan(&got); err != nil || got != want {
				t.Errorf("Open(%q): PRAGMA %s = %q, %v; want %q", dsn, pragma, got, err, want)
			}
		}
		db.Close()
	}
	for _, name := range []string{"glucoshare.db", "a.db", "odd ?name#.db", "c.db", "relative.db"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("database file: %v", err)
		}
	}
}

// Two transactions that lock two rows in opposite orders deadlock on
// PostgreSQL; Update runs the victim again and both succeed.
func TestUpdateRetriesDeadlock(t *testing.T) {
	t.Parallel()
	db := storetest.New(t)
	if db.Dialect() == "sqlite" {
		t.Skip("SQLite has one writer: transactions cannot deadlock")
	}
	a, b := createAccount(t, db, "alice"), createAccount(t, db, "bob")
	var (
		both     sync.WaitGroup
		mu       sync.Mutex
		attempts int
	)
	both.Add(2)
	lockBoth := func(first, second string) error {
		return db.Update(context.Background(), func(tx glucose.Tx) error {
			mu.Lock()
			attempts++
			firstAttempt := attempts <= 2
			mu.Unlock()
			if err := tx.SetDisplayName(first, "x"); err != nil {
				return err
			}
			if firstAttempt {
				both.Done()
				both.Wait()
			}
			return tx.SetDisplayName(second, "y")
		})
	}
	errs := make([]error, 2)
	var wg sync.WaitGroup
	wg.Go(func() { errs[0] = lockBoth(a.ID, b.ID) })
	wg.Go(func() { errs[1] = lockBoth(b.ID, a.ID) })
	wg.Wait()
	if errs[0] != nil || errs[1] != nil {
		t.Errorf("Update: %v, %v; want both to succeed", errs[0], errs[1])
	}
	if attempts != 3 {
		t.Errorf("fn ran %d times, want 3", attempts)
	}
}

func TestSessionWithAccount(t *testing.T) {
	t.Parallel()
	db := storetest.New(t)
	a := createAccount(t, db, "alice")
	createAccount(t, db, "bob")
	s := &glucose.Session{AccountID: a.ID, CreatedAt: t0}
	update(t, db, func(tx glucose.Tx) error {
		if err := tx.CreateSession(s); err != nil {
			return err
		}
		return tx.EndSession(s.ID, t0.Add(time.Minute))
	})
	view(t, db, func(tx glucose.Tx) error {
		gotS, gotA, err := tx.SessionWithAccount(s.ID)
		if err != nil {
			return err
		}
		if want := session(t, db, s.ID); *gotS != *want {
			t.Errorf("session %+v, want %+v as SessionByID reads it", gotS, want)
		}
		if want := account(t, db, a.ID); *gotA != *want {
			t.Errorf("account %+v, want %+v as AccountByID reads it", gotA, want)
		}
		_, _, err = tx.SessionWithAccount("0f0f0f0f-0000-4000-8000-000000000000")
		wantErr(t, "SessionWithAccount of an unknown id", err, glucose.ErrNotFound)
		return nil
	})
}
