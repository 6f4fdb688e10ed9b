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
	secret := func(accountID, key string) *glucose.NightscoutSecret {
		return &glucose.NightscoutSecret{AccountID: accountID, Key: key, KeyID: "sha256", UpdatedAt: t0}
	}
	lookup := func(keys ...string) (*glucose.NightscoutSecret, error) {
		var got *glucose.NightscoutSecret
		err := db.View(t.Context(), func(tx glucose.Tx) (err error) {
			got, err = tx.NightscoutSecretByKeys(keys)
			return err
		})
		return got, err
	}

	update(t, db, func(tx glucose.Tx) error { return tx.SetNightscoutSecret(secret(sam.ID, "key-1")) })
	if got, err := lookup("other", "key-1"); err != nil || *got != *secret(sam.ID, "key-1") {
		t.Errorf("NightscoutSecretByKeys(other, key-1) = %+v, %v; want sam's", got, err)
	}
	_, err := lookup("key-2")
	wantErr(t, "unknown key", err, glucose.ErrNotFound)
	_, err = lookup()
	wantErr(t, "no key", err, glucose.ErrNotFound)

	// Replacing the secret forgets the old key.
	update(t, db, func(tx glucose.Tx) error { return tx.SetNightscoutSecret(secret(sam.ID, "key-2")) })
	_, err = lookup("key-1")
	wantErr(t, "replaced key", err, glucose.ErrNotFound)

	// A key names one account; the transaction stays usable after the
	// conflict.
	update(t, db, func(tx glucose.Tx) error {
		wantErr(t, "another account's key", tx.SetNightscoutSecret(secret(kim.ID, "key-2")), glucose.ErrConflict)
		return tx.SetNightscoutSecret(secret(kim.ID, "key-3"))
	})
	if got, err := lookup("key-3"); err != nil || got.AccountID != kim.ID {
		t.Errorf("kim's key = %+v, %v", got, err)
	}

	// Re-keying replaces a key only while it is the one expected.
	update(t, db, func(tx glucose.Tx) error { return tx.RekeyNightscoutSecret(kim.ID, "key-3", "hkey-3", "hmac:1") })
	err = db.Update(t.Context(), func(tx glucose.Tx) error { return tx.RekeyNightscoutSecret(kim.ID, "key-3", "other", "hmac:2") })
	wantErr(t, "re-keying a stale key", err, glucose.ErrNotFound)
	if got, err := lookup("hkey-3"); err != nil || got.KeyID != "hmac:1" {
		t.Errorf("re-keyed secret = %+v, %v", got, err)
	}
	var all []glucose.NightscoutSecret
	view(t, db, func(tx glucose.Tx) (err error) {
		all, err = tx.NightscoutSecrets()
		return err
	})
	if len(all) != 2 {
		t.Errorf("NightscoutSecrets = %+v, want two", all)
	}

	update(t, db, func(tx glucose.Tx) error { return tx.DeleteNightscoutSecret(sam.ID) })
	err = db.Update(t.Context(), func(tx glucose.Tx) error { return tx.DeleteNightscoutSecret(sam.ID) })
	wantErr(t, "deleting a missing secret", err, glucose.ErrNotFound)
	err = db.Update(t.Context(), func(tx glucose.Tx) error { return tx.SetNightscoutSecret(secret("no-such-account", "key-9")) })
	wantErr(t, "secret of a missing account", err, glucose.ErrNotFound)
}

func TestNightscoutTokens(t *testing.T) {
	t.Parallel()
	db := storetest.New(t)
	sam, kim := createAccount(t, db, "sam"), createAccount(t, db, "kim")
	first := &glucose.NightscoutToken{AccountID: sam.ID, Key: "tk-1", KeyID: "sha256", Name: "Loop", CreatedAt: t0}
	second := &glucose.NightscoutToken{AccountID: sam.ID, Key: "tk-2", KeyID: "sha256", ReadOnly: true, CreatedAt: t0.Add(time.Second)}
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
		got, err := tx.NightscoutTokenByKeys([]string{"nope", "tk-2"})
		if err != nil || *got != *second {
			t.Errorf("NightscoutTokenByKeys(tk-2) = %+v, %v; want %+v", got, err, second)
		}
		got, err = tx.NightscoutTokenByID(first.ID)
		if err != nil || *got != *first {
			t.Errorf("NightscoutTokenByID = %+v, %v; want %+v", got, err, first)
		}
		_, err = tx.NightscoutTokenByKeys([]string{"tk-3"})
		wantErr(t, "unknown token", err, glucose.ErrNotFound)
		list, err := tx.NightscoutTokens(sam.ID)
		if err != nil || len(list) != 2 || list[0] != *first || list[1] != *second {
			t.Errorf("NightscoutTokens(sam) = %+v, %v; want first, second", list, err)
		}
		if list, err := tx.NightscoutTokens(kim.ID); err != nil || len(list) != 0 {
			t.Errorf("NightscoutTokens(kim) = %+v, %v; want none", list, err)
		}
		if all, err := tx.AllNightscoutTokens(); err != nil || len(all) != 2 {
			t.Errorf("AllNightscoutTokens = %+v, %v; want two", all, err)
		}
		return nil
	})
	err := db.Update(t.Context(), func(tx glucose.Tx) error {
		return tx.CreateNightscoutToken(&glucose.NightscoutToken{AccountID: kim.ID, Key: "tk-1", CreatedAt: t0})
	})
	wantErr(t, "duplicate token key", err, glucose.ErrConflict)

	update(t, db, func(tx glucose.Tx) error { return tx.RekeyNightscoutToken(second.ID, "tk-2", "htk-2", "hmac:1") })
	err = db.Update(t.Context(), func(tx glucose.Tx) error { return tx.RekeyNightscoutToken(second.ID, "tk-2", "x", "hmac:1") })
	wantErr(t, "re-keying a stale key", err, glucose.ErrNotFound)

	// Only the holder revokes its token.
	err = db.Update(t.Context(), func(tx glucose.Tx) error { return tx.DeleteNightscoutToken(kim.ID, first.ID) })
	wantErr(t, "revoking another account's token", err, glucose.ErrNotFound)
	update(t, db, func(tx glucose.Tx) error { return tx.DeleteNightscoutToken(sam.ID, first.ID) })
	view(t, db, func(tx glucose.Tx) error {
		_, err := tx.NightscoutTokenByKeys([]string{"tk-1"})
		wantErr(t, "revoked token", err, glucose.ErrNotFound)
		return nil
	})
}

func TestNightscoutSites(t *testing.T) {
	t.Parallel()
	db := storetest.New(t)
	sam, kim := createAccount(t, db, "sam"), createAccount(t, db, "kim")
	update(t, db, func(tx glucose.Tx) error {
		return tx.SetNightscoutSite(&glucose.NightscoutSite{AccountID: sam.ID, Handle: "sam-site", AnonymousRead: true})
	})
	err := db.Update(t.Context(), func(tx glucose.Tx) error {
		return tx.SetNightscoutSite(&glucose.NightscoutSite{AccountID: kim.ID, Handle: "sam-site"})
	})
	wantErr(t, "another account's handle", err, glucose.ErrConflict)
	update(t, db, func(tx glucose.Tx) error {
		return tx.SetNightscoutSite(&glucose.NightscoutSite{AccountID: sam.ID, Handle: "sam-new"})
	})
	view(t, db, func(tx glucose.Tx) error {
		got, err := tx.NightscoutSiteByHandle("sam-new")
		if err != nil || *got != (glucose.NightscoutSite{AccountID: sam.ID, Handle: "sam-new"}) {
			t.Errorf("site by handle = %+v, %v", got, err)
		}
		_, err = tx.NightscoutSiteByHandle("sam-site")
		wantErr(t, "the old handle", err, glucose.ErrNotFound)
		_, err = tx.NightscoutSite(kim.ID)
		wantErr(t, "no site", err, glucose.ErrNotFound)
		return nil
	})
	update(t, db, func(tx glucose.Tx) error { return tx.DeleteNightscoutSite(sam.ID) })
	err = db.Update(t.Context(), func(tx glucose.Tx) error { return tx.DeleteNightscoutSite(sam.ID) })
	wantErr(t, "deleting a missing site", err, glucose.ErrNotFound)
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
