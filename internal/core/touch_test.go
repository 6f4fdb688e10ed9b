package core_test

import (
	"context"
	"testing"
	"time"

	"github.com/glucoshare/glucoshare/internal/core"
	"github.com/glucoshare/glucoshare/internal/glucose"
	"github.com/glucoshare/glucoshare/internal/store/storetest"
)

// Sessions' last use is written in batches, after the request: the idle
// lifetime must still run from the last use, on this instance at once and
// on every instance once written.
func TestSessionUseRecordedInBackground(t *testing.T) {
	ctx := context.Background()
	db := storetest.New(t)
	t0 := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	a := &glucose.Account{Name: "sam", CreatedAt: t0}
	s := &glucose.Session{CreatedAt: t0, LastUsedAt: t0}
	gone := &glucose.Session{CreatedAt: t0, LastUsedAt: t0}
	err := db.Update(ctx, func(tx glucose.Tx) error {
		if err := tx.CreateAccount(a); err != nil {
			return err
		}
		s.AccountID, gone.AccountID = a.ID, a.ID
		if err := tx.CreateSession(s); err != nil {
			return err
		}
		return tx.CreateSession(gone)
	})
	if err != nil {
		t.Fatal(err)
	}
	svc, other := core.New(db, core.Config{}), core.New(db, core.Config{})

	used := t0.Add(2 * time.Hour)
	for _, id := range []string{s.ID, gone.ID} {
		if got, _, err := svc.Session(ctx, id, used); err != nil || !got.LastUsedAt.Equal(used) {
			t.Fatalf("use at %v: %+v, %v", used, got, err)
		}
	}
	// 24 h after the first use but not after the second: still open here,
	// whether or not the use has been written yet.
	later := t0.Add(24*time.Hour + time.Minute)
	if _, _, err := svc.Session(ctx, s.ID, later); err != nil {
		t.Errorf("24 h after login, 22 h after the last use: %v", err)
	}
	// Written: every instance renews from it; a session deleted meanwhile
	// is skipped.
	if _, err := db.SQL().Exec(`DELETE FROM sessions WHERE id = '` + gone.ID + `'`); err != nil {
		t.Fatal(err)
	}
	if err := svc.FlushTouches(ctx); err != nil {
		t.Fatalf("FlushTouches: %v", err)
	}
	var stored *glucose.Session
	if err := db.View(ctx, func(tx glucose.Tx) (err error) {
		stored, err = tx.SessionByID(s.ID)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if !stored.LastUsedAt.Equal(later) {
		t.Errorf("stored last use %v, want %v", stored.LastUsedAt, later)
	}
	if _, _, err := other.Session(ctx, s.ID, later.Add(23*time.Hour)); err != nil {
		t.Errorf("another instance, 23 h after the last use: %v", err)
	}
	// (That use renewed it on other only, until written.)
	if _, _, err := core.New(db, core.Config{}).Session(ctx, s.ID, later.Add(25*time.Hour)); err == nil {
		t.Error("a third instance, 25 h after the last written use: the session is still open")
	}
}
