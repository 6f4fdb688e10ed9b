package store

import (
	"context"
	"fmt"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/glucoshare/glucoshare/internal/glucose"
)

// An entry lives in memory the collector does not scan: a pointer in it
// would not keep what it points to alive.
func TestHotAccountHoldsNoPointer(t *testing.T) {
	var walk func(path string, ty reflect.Type)
	walk = func(path string, ty reflect.Type) {
		switch ty.Kind() {
		case reflect.Struct:
			for i := range ty.NumField() {
				f := ty.Field(i)
				walk(path+"."+f.Name, f.Type)
			}
		case reflect.Array:
			walk(path+"[]", ty.Elem())
		case reflect.Pointer, reflect.UnsafePointer, reflect.Slice, reflect.String, reflect.Map,
			reflect.Chan, reflect.Func, reflect.Interface:
			t.Errorf("%s is a %s: hotAccount must hold no pointer", path, ty.Kind())
		}
	}
	walk("hotAccount", reflect.TypeFor[hotAccount]())
}

// Entries are reused once dropped. A session whose entry was dropped
// without it (as a test may do, and as a bug could) must never be
// answered with the account that reuses the entry.
func TestHotSessionOfAReusedEntry(t *testing.T) {
	ctx := context.Background()
	db := openCached(t, "", Options{})
	create := func(name string) (*glucose.Account, *glucose.Session) {
		a := &glucose.Account{Name: name, Email: name + "@example.org"}
		return a, withSession(t, db, a)
	}
	alice, aliceSession := create("alice")
	bob, bobSession := create("bob")
	check := func(when string, s *glucose.Session, want *glucose.Account) {
		t.Helper()
		gs, ga, err := db.SessionWithAccount(db.Fresh(ctx), s.ID)
		must(t, err)
		if gs.AccountID != want.ID || ga.ID != want.ID || ga.Name != want.Name || ga.Email != want.Email {
			t.Errorf("%s: session of %s answered with session account %s and account %s (%s, %s)",
				when, want.Name, gs.AccountID, ga.ID, ga.Name, ga.Email)
		}
	}
	check("alice's first look-up", aliceSession, alice)
	h := db.hot.Load()
	h.mu.Lock()
	before := h.accts.get(alice.ID)
	h.accts.clear() // alice's entry goes; her session stays
	h.mu.Unlock()
	check("bob's first look-up", bobSession, bob)
	h.mu.Lock()
	reused := h.accts.get(bob.ID) == before
	h.mu.Unlock()
	if !reused {
		t.Fatal("bob's entry is not the one alice's had: the test shows nothing")
	}
	check("alice's look-up after her entry went to bob", aliceSession, alice)
	check("bob's look-up after alice's", bobSession, bob)
}

// The cache holds no more accounts than it may: entries are reused, and
// what is evicted is answered again from the database.
func TestHotTableBounded(t *testing.T) {
	ctx := context.Background()
	const max = 3
	db := openCached(t, "", Options{CacheAccounts: max})
	type pair struct {
		a *glucose.Account
		s *glucose.Session
	}
	var all []pair
	for i := range 10 {
		a := &glucose.Account{Name: fmt.Sprint("user", i), DisplayName: fmt.Sprint("User ", i)}
		all = append(all, pair{a, withSession(t, db, a)})
	}
	for round := range 3 {
		for _, p := range all {
			gs, ga, err := db.SessionWithAccount(db.Fresh(ctx), p.s.ID)
			must(t, err)
			if gs.ID != p.s.ID || ga.ID != p.a.ID || ga.DisplayName != p.a.DisplayName {
				t.Errorf("round %d: session of %s answered with %s's account (%s)", round, p.a.Name, ga.Name, ga.ID)
			}
		}
	}
	h := db.hot.Load()
	h.mu.RLock()
	defer h.mu.RUnlock()
	if n := h.accts.len(); n > max {
		t.Errorf("%d accounts cached, want at most %d", n, max)
	}
	if n := len(h.accts.chunks.entries); n != 1 {
		t.Errorf("%d chunks of entries, want 1", n)
	}
	if used := h.accts.next - len(h.accts.free); used != h.accts.len() {
		t.Errorf("%d entries in use, %d cached", used, h.accts.len())
	}
}

// openCached opens and migrates the SQLite database at path (a new one of
// the test's own when path is empty), closing it at the test's end.
func openCached(t *testing.T, path string, opts Options) *DB {
	ctx := context.Background()
	if path == "" {
		path = filepath.Join(t.TempDir(), "glucoshare.db")
	}
	db, err := Open(ctx, "sqlite:"+path, opts)
	must(t, err)
	t.Cleanup(func() { db.Close() })
	_, _, err = db.Migrate(ctx)
	must(t, err)
	return db
}

// withSession creates account a and a session of it.
func withSession(t *testing.T, db *DB, a *glucose.Account) *glucose.Session {
	t0 := time.Date(2025, 4, 19, 12, 0, 0, 0, time.UTC)
	a.CreatedAt = t0
	s := &glucose.Session{CreatedAt: t0, LastUsedAt: t0}
	must(t, db.Update(context.Background(), func(tx glucose.Tx) error {
		if err := tx.CreateAccount(a); err != nil {
			return err
		}
		s.AccountID = a.ID
		return tx.CreateSession(s)
	}))
	return s
}
