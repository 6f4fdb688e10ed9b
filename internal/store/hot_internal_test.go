package store

import (
	"context"
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/glucoshare/glucoshare/internal/glucose"
)

// The two races of a cache fill, made to happen: a change that commits
// while the fill reads, and one that the fill reads before its change-log
// entry is applied. Neither may leave a wrong answer in the cache.
func TestHotFillRaces(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "glucoshare.db")
	db, other := openCached(t, path, Options{}), openCached(t, path, Options{})
	t0 := time.Date(2025, 4, 19, 12, 0, 0, 0, time.UTC)
	a := &glucose.Account{Name: "alice", CreatedAt: t0}
	s := &glucose.Session{AccountID: "", CreatedAt: t0}
	must(t, db.Update(ctx, func(tx glucose.Tx) error {
		if err := tx.CreateAccount(a); err != nil {
			return err
		}
		s.AccountID = a.ID
		return tx.CreateSession(s)
	}))
	st := int64(1_000_000)
	addReading := func() {
		st += 300_000
		must(t, other.Update(ctx, func(tx glucose.Tx) error {
			_, err := tx.InsertReadings(a.ID, []glucose.Reading{{ST: st, Value: 100, ReceivedAt: st}})
			return err
		}))
	}
	latest := func() []glucose.Reading {
		rs, err := db.LatestReadings(db.Fresh(ctx), a.ID, math.MinInt64, 12)
		must(t, err)
		return rs
	}
	hook := func(stage string, fn func()) {
		testFillHook = func(s string) {
			if s == stage {
				testFillHook = nil
				fn()
			}
		}
		t.Cleanup(func() { testFillHook = nil })
	}
	addReading()

	// 1. A reading commits, and is applied, while the fill reads: the fill's
	// older answer must not be stored.
	hook("put", func() {
		addReading()
		must(t, db.hot.Load().check())
	})
	if rs := latest(); len(rs) != 1 {
		t.Fatalf("first read: %d readings, want the 1 there was when it began", len(rs))
	}
	if rs := latest(); len(rs) != 2 || rs[0].ST != st {
		t.Errorf("after a reading stored during a fill: %+v, want 2 readings, newest %d", rs, st)
	}

	// 2. A reading commits before a fill reads, and its entry is applied
	// after the fill stored it: it must not be counted twice.
	db.hot.Load().mu.Lock()
	db.hot.Load().accts.clear()
	db.hot.Load().mu.Unlock()
	hook("read", addReading)
	if rs := latest(); len(rs) != 3 {
		t.Fatalf("fill: %d readings, want 3", len(rs))
	}
	if rs := latest(); len(rs) != 3 || rs[0].ST != st || rs[1].ST == rs[0].ST {
		t.Errorf("after applying an entry the fill had read: %+v", rs)
	}

	// 3. The same for a session ended while its fill reads.
	hook("put", func() {
		must(t, other.Update(ctx, func(tx glucose.Tx) error { return tx.EndSession(s.ID, t0.Add(time.Hour)) }))
		must(t, db.hot.Load().check())
	})
	if gs, _, err := db.SessionWithAccount(db.Fresh(ctx), s.ID); err != nil || gs.Ended() {
		t.Fatalf("first look-up: %+v, %v; want the open session it read", gs, err)
	}
	if gs, _, err := db.SessionWithAccount(db.Fresh(ctx), s.ID); err != nil || !gs.Ended() {
		t.Errorf("after a logout during the fill: %+v, %v; want it ended", gs, err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
