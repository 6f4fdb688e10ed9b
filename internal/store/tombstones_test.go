package store_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/glucoshare/glucoshare/internal/glucose"
	"github.com/glucoshare/glucoshare/internal/store/storetest"
)

// A reading deleted through the Nightscout API leaves a tombstone that
// API v3's history reports once: after the time it names, only for its
// account, gone again when the reading is stored anew, and none for a
// permanent deletion.
func TestReadingTombstones(t *testing.T) {
	t.Parallel()
	db := storetest.New(t)
	sam, kim := createAccount(t, db, "sam"), createAccount(t, db, "kim")
	base := t0.UnixMilli()
	rs := []glucose.Reading{reading(base, 100), reading(base+300_000, 150), reading(base+600_000, 200)}
	insert(t, db, sam.ID, rs)
	insert(t, db, kim.ID, rs)
	byValue := func(v int) glucose.DocQuery {
		return glucose.DocQuery{Where: []glucose.Cond{cond("sgv", glucose.OpEq, glucose.Num(float64(v)))}}
	}
	update(t, db, func(tx glucose.Tx) error {
		if n, err := tx.DeleteReadings(sam.ID, byValue(100), 5000); err != nil || n != 1 {
			t.Errorf("deleted %d, %v; want 1", n, err)
		}
		_, err := tx.DeleteReadings(sam.ID, byValue(150), 6000)
		return err
	})
	sts := func(accountID string, after int64, inclusive bool) []int64 {
		var out []int64
		view(t, db, func(tx glucose.Tx) error {
			ts, err := tx.ReadingTombstones(accountID, after, inclusive, 10)
			for _, d := range ts {
				out = append(out, d.ST)
			}
			return err
		})
		return out
	}
	if got, want := sts(sam.ID, 0, false), []int64{base, base + 300_000}; !slices.Equal(got, want) {
		t.Errorf("tombstones %v, want %v, oldest deletion first", got, want)
	}
	if got, want := sts(sam.ID, 5000, false), []int64{base + 300_000}; !slices.Equal(got, want) {
		t.Errorf("after 5000: %v, want %v", got, want)
	}
	if got, want := sts(sam.ID, 5000, true), []int64{base, base + 300_000}; !slices.Equal(got, want) {
		t.Errorf("from 5000: %v, want %v", got, want)
	}
	if got := sts(kim.ID, 0, false); len(got) != 0 {
		t.Errorf("kim's readings were not deleted, yet she has tombstones %v", got)
	}

	// Stored again, the reading is live and its tombstone no longer shows.
	insert(t, db, sam.ID, rs[:1])
	if got, want := sts(sam.ID, 0, false), []int64{base + 300_000}; !slices.Equal(got, want) {
		t.Errorf("after storing again: %v, want %v", got, want)
	}
	view(t, db, func(tx glucose.Tx) error {
		ts, err := tx.ReadingTombstonesBetween(sam.ID, base, base+300_000)
		if len(ts) != 1 || ts[0].ST != base+300_000 || ts[0].DeletedAt != 6000 {
			t.Errorf("between: %+v", ts)
		}
		return err
	})

	// A permanent deletion leaves none.
	update(t, db, func(tx glucose.Tx) error {
		_, err := tx.DeleteReadings(sam.ID, byValue(200), 0)
		return err
	})
	if got, want := sts(sam.ID, 0, false), []int64{base + 300_000}; !slices.Equal(got, want) {
		t.Errorf("after a permanent deletion: %v, want %v", got, want)
	}
	// Forgetting a tombstone (a deleted reading deleted for good).
	update(t, db, func(tx glucose.Tx) error { return tx.RemoveReadingTombstone(sam.ID, base+300_000) })
	if got := sts(sam.ID, 0, false); len(got) != 0 {
		t.Errorf("after forgetting it: %v", got)
	}
}

// Retention purges tombstones with the readings of their age.
func TestReadingTombstonesPurged(t *testing.T) {
	t.Parallel()
	db := storetest.New(t)
	sam := createAccount(t, db, "sam")
	base := t0.UnixMilli()
	insert(t, db, sam.ID, []glucose.Reading{reading(base, 100), reading(base+300_000, 150)})
	update(t, db, func(tx glucose.Tx) error {
		_, err := tx.DeleteReadings(sam.ID, glucose.DocQuery{}, 5000)
		return err
	})
	update(t, db, func(tx glucose.Tx) error {
		_, err := tx.PurgeReadings(sam.ID, base+1, 100)
		return err
	})
	view(t, db, func(tx glucose.Tx) error {
		ts, err := tx.ReadingTombstones(sam.ID, 0, false, 10)
		if len(ts) != 1 || ts[0].ST != base+300_000 {
			t.Errorf("after the purge: %+v, want the newer tombstone alone", ts)
		}
		return err
	})
}

// A deleted reading deleted again is dated anew, for its account only;
// a reading without a tombstone is not found.
func TestRedateReadingTombstone(t *testing.T) {
	t.Parallel()
	db := storetest.New(t)
	sam, kim := createAccount(t, db, "sam"), createAccount(t, db, "kim")
	base := t0.UnixMilli()
	rs := []glucose.Reading{reading(base, 100)}
	insert(t, db, sam.ID, rs)
	insert(t, db, kim.ID, rs)
	all := glucose.DocQuery{}
	update(t, db, func(tx glucose.Tx) error {
		if _, err := tx.DeleteReadings(sam.ID, all, 5000); err != nil {
			return err
		}
		_, err := tx.DeleteReadings(kim.ID, all, 5000)
		return err
	})
	update(t, db, func(tx glucose.Tx) error { return tx.RedateReadingTombstone(sam.ID, base, 9000) })
	deletedAt := func(accountID string) []int64 {
		var out []int64
		view(t, db, func(tx glucose.Tx) error {
			ts, err := tx.ReadingTombstones(accountID, 0, false, 10)
			for _, d := range ts {
				out = append(out, d.DeletedAt)
			}
			return err
		})
		return out
	}
	if got := deletedAt(sam.ID); !slices.Equal(got, []int64{9000}) {
		t.Errorf("sam's tombstone dated %v, want [9000]", got)
	}
	if got := deletedAt(kim.ID); !slices.Equal(got, []int64{5000}) {
		t.Errorf("kim's tombstone dated %v, want [5000]: another account's deletion moved it", got)
	}
	err := db.Update(context.Background(), func(tx glucose.Tx) error { return tx.RedateReadingTombstone(sam.ID, base+300_000, 9000) })
	if !errors.Is(err, glucose.ErrNotFound) {
		t.Errorf("redating a reading never deleted: %v, want ErrNotFound", err)
	}
}
