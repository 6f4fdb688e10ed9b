package store

import (
	"context"
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/glucoshare/glucoshare/internal/glucose"
)

// TestWarmCache: after a restart, WarmCache reads the sessions in use, their
// accounts and newest readings ahead of the requests, so that their first
// requests read nothing from the database; sessions ended or idle for more
// than an hour are left out; and what another handle writes afterwards is
// still seen.
func TestWarmCache(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "glucoshare.db")
	open := func() *DB {
		db, err := Open(ctx, "sqlite:"+path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		if _, _, err := db.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		return db
	}
	writer := open()
	now := time.Date(2025, 4, 19, 12, 0, 0, 0, time.UTC)
	type user struct {
		a *glucose.Account
		s *glucose.Session
	}
	var users []user
	for i, used := range []time.Duration{time.Minute, 59 * time.Minute, 2 * time.Hour, time.Minute} {
		u := user{a: &glucose.Account{Name: "user" + string(rune('a'+i)), CreatedAt: now.Add(-48 * time.Hour)}}
		u.s = &glucose.Session{CreatedAt: now.Add(-24 * time.Hour), LastUsedAt: now.Add(-used)}
		must(t, writer.Update(ctx, func(tx glucose.Tx) error {
			if err := tx.CreateAccount(u.a); err != nil {
				return err
			}
			u.s.AccountID = u.a.ID
			if err := tx.CreateSession(u.s); err != nil {
				return err
			}
			st := glucose.MS(now) - 20*300_000
			for range 20 {
				st += 300_000
				if _, err := tx.InsertReadings(u.a.ID, []glucose.Reading{{ST: st, Value: 100 + i, ReceivedAt: st}}); err != nil {
					return err
				}
			}
			return nil
		}))
		users = append(users, u)
	}
	must(t, writer.Update(ctx, func(tx glucose.Tx) error { return tx.EndSession(users[3].s.ID, now) }))

	db := open() // the restarted server
	n, err := db.WarmCache(ctx, now)
	if err != nil || n != 2 {
		t.Fatalf("WarmCache = %d, %v; want the 2 open sessions used within the hour", n, err)
	}
	reads := 0
	testFillHook = func(stage string) {
		if stage == "read" {
			reads++
		}
	}
	defer func() { testFillHook = nil }()
	for _, u := range users[:2] {
		s, a, err := db.SessionWithAccount(db.Fresh(ctx), u.s.ID)
		if err != nil || s.AccountID != u.a.ID || a.Name != u.a.Name || !s.LastUsedAt.Equal(u.s.LastUsedAt) {
			t.Errorf("%s: session %+v, account %+v, %v", u.a.Name, s, a, err)
		}
		rs, err := db.LatestReadings(db.Fresh(ctx), u.a.ID, math.MinInt64, 12)
		if err != nil || len(rs) != 12 || rs[0].ST != glucose.MS(now) {
			t.Errorf("%s: %d readings, newest %v, %v", u.a.Name, len(rs), rs, err)
		}
	}
	if reads != 0 {
		t.Errorf("the warmed accounts' first requests read the database %d times, want 0", reads)
	}
	if _, _, err := db.SessionWithAccount(db.Fresh(ctx), users[2].s.ID); err != nil || reads != 1 {
		t.Errorf("the session idle for 2 hours: %v, %d database reads, want it read from the database", err, reads)
	}

	// Written elsewhere after the warming: seen at once.
	st := glucose.MS(now) + 300_000
	must(t, writer.Update(ctx, func(tx glucose.Tx) error {
		_, err := tx.InsertReadings(users[0].a.ID, []glucose.Reading{{ST: st, Value: 222, ReceivedAt: st}})
		return err
	}))
	must(t, writer.Update(ctx, func(tx glucose.Tx) error { return tx.EndSession(users[1].s.ID, now) }))
	if rs, err := db.LatestReadings(db.Fresh(ctx), users[0].a.ID, math.MinInt64, 1); err != nil || len(rs) != 1 || rs[0].Value != 222 {
		t.Errorf("after another handle's upload: %v, %v", rs, err)
	}
	if s, _, err := db.SessionWithAccount(db.Fresh(ctx), users[1].s.ID); err != nil || !s.Ended() {
		t.Errorf("after another handle ended the session: %+v, %v", s, err)
	}
}
