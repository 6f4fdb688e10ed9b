package store_test

import (
	"math"
	"slices"
	"testing"
	"time"

	"github.com/glucoshare/glucoshare/internal/glucose"
	"github.com/glucoshare/glucoshare/internal/store/storetest"
)

func TestNightscoutSecrets(t *testing.T) {
	t.Parallel()
	db := storetest.New(t)
	sam, kim := createAccount(t, db, "sam"), createAccount(t, db, "kim")

	update(t, db, func(tx glucose.Tx) error { return tx.SetNightscoutSecret(sam.ID, "key-1", t0) })
	view(t, db, func(tx glucose.Tx) error {
		got, err := tx.AccountByNightscoutSecret("key-1")
		if err != nil || got.ID != sam.ID {
			t.Errorf("AccountByNightscoutSecret(key-1) = %v, %v; want sam", got, err)
		}
		_, err = tx.AccountByNightscoutSecret("key-2")
		wantErr(t, "unknown key", err, glucose.ErrNotFound)
		return nil
	})

	// Replacing the secret forgets the old key.
	update(t, db, func(tx glucose.Tx) error { return tx.SetNightscoutSecret(sam.ID, "key-2", t0.Add(time.Minute)) })
	view(t, db, func(tx glucose.Tx) error {
		_, err := tx.AccountByNightscoutSecret("key-1")
		wantErr(t, "replaced key", err, glucose.ErrNotFound)
		return nil
	})

	// A key names one account; the transaction stays usable after the
	// conflict.
	update(t, db, func(tx glucose.Tx) error {
		wantErr(t, "another account's key", tx.SetNightscoutSecret(kim.ID, "key-2", t0), glucose.ErrConflict)
		return tx.SetNightscoutSecret(kim.ID, "key-3", t0)
	})
	view(t, db, func(tx glucose.Tx) error {
		got, err := tx.AccountByNightscoutSecret("key-3")
		if err != nil || got.ID != kim.ID {
			t.Errorf("kim's key = %v, %v", got, err)
		}
		return nil
	})

	update(t, db, func(tx glucose.Tx) error { return tx.DeleteNightscoutSecret(sam.ID) })
	err := db.Update(t.Context(), func(tx glucose.Tx) error { return tx.DeleteNightscoutSecret(sam.ID) })
	wantErr(t, "deleting a missing secret", err, glucose.ErrNotFound)
	err = db.Update(t.Context(), func(tx glucose.Tx) error { return tx.SetNightscoutSecret("no-such-account", "key-9", t0) })
	wantErr(t, "secret of a missing account", err, glucose.ErrNotFound)
}

func TestNightscoutTokens(t *testing.T) {
	t.Parallel()
	db := storetest.New(t)
	sam, kim := createAccount(t, db, "sam"), createAccount(t, db, "kim")
	first := &glucose.NightscoutToken{AccountID: sam.ID, Key: "tk-1", CreatedAt: t0}
	second := &glucose.NightscoutToken{AccountID: sam.ID, Key: "tk-2", ReadOnly: true, CreatedAt: t0.Add(time.Second)}
	update(t, db, func(tx glucose.Tx) error {
		if err := tx.CreateNightscoutToken(second); err != nil {
			return err
		}
		return tx.CreateNightscoutToken(first)
	})
	if len(first.ID) != 36 {
		t.Fatalf("token id %q: want a UUID", first.ID)
	}
	view(t, db, func(tx glucose.Tx) error {
		got, err := tx.NightscoutTokenByKey("tk-2")
		if err != nil || *got != *second {
			t.Errorf("NightscoutTokenByKey(tk-2) = %+v, %v; want %+v", got, err, second)
		}
		_, err = tx.NightscoutTokenByKey("tk-3")
		wantErr(t, "unknown token", err, glucose.ErrNotFound)
		list, err := tx.NightscoutTokens(sam.ID)
		if err != nil || len(list) != 2 || list[0] != *first || list[1] != *second {
			t.Errorf("NightscoutTokens(sam) = %+v, %v; want first, second", list, err)
		}
		if list, err := tx.NightscoutTokens(kim.ID); err != nil || len(list) != 0 {
			t.Errorf("NightscoutTokens(kim) = %+v, %v; want none", list, err)
		}
		return nil
	})
	err := db.Update(t.Context(), func(tx glucose.Tx) error {
		return tx.CreateNightscoutToken(&glucose.NightscoutToken{AccountID: kim.ID, Key: "tk-1", CreatedAt: t0})
	})
	wantErr(t, "duplicate token key", err, glucose.ErrConflict)

	// Only the holder revokes its token.
	err = db.Update(t.Context(), func(tx glucose.Tx) error { return tx.DeleteNightscoutToken(kim.ID, first.ID) })
	wantErr(t, "revoking another account's token", err, glucose.ErrNotFound)
	update(t, db, func(tx glucose.Tx) error { return tx.DeleteNightscoutToken(sam.ID, first.ID) })
	view(t, db, func(tx glucose.Tx) error {
		_, err := tx.NightscoutTokenByKey("tk-1")
		wantErr(t, "revoked token", err, glucose.ErrNotFound)
		return nil
	})
}

func TestReadingsBetween(t *testing.T) {
	t.Parallel()
	db := storetest.New(t)
	sam, kim := createAccount(t, db, "sam"), createAccount(t, db, "kim")
	base := t0.UnixMilli()
	var rs []glucose.Reading
	for i := range 10 {
		rs = append(rs, reading(base+int64(i)*300_000, 100+i))
	}
	insert(t, db, sam.ID, rs)
	insert(t, db, kim.ID, []glucose.Reading{reading(base, 250)})

	between := func(accountID string, from, to int64, max int) []int {
		var values []int
		view(t, db, func(tx glucose.Tx) error {
			got, err := tx.ReadingsBetween(accountID, from, to, max)
			for _, r := range got {
				values = append(values, r.Value)
			}
			return err
		})
		return values
	}
	for _, c := range []struct {
		name     string
		from, to int64
		max      int
		want     []int
	}{
		{"all, newest first", math.MinInt64, math.MaxInt64, 100, []int{109, 108, 107, 106, 105, 104, 103, 102, 101, 100}},
		{"at most max", math.MinInt64, math.MaxInt64, 3, []int{109, 108, 107}},
		{"from inclusive, to exclusive", base + 300_000, base + 900_000, 100, []int{102, 101}},
		{"one instant", base + 300_000, base + 300_001, 100, []int{101}},
		{"empty range", base + 900_000, base + 300_000, 100, nil},
		{"max 0", math.MinInt64, math.MaxInt64, 0, nil},
	} {
		if got := between(sam.ID, c.from, c.to, c.max); !slices.Equal(got, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}
	if got := between(kim.ID, math.MinInt64, math.MaxInt64, 100); !slices.Equal(got, []int{250}) {
		t.Errorf("kim's readings: got %v, want [250]", got)
	}
}
