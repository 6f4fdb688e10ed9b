package store_test

import (
	"errors"
	"testing"

	"github.com/glucoshare/glucoshare/internal/glucose"
	"github.com/glucoshare/glucoshare/internal/store/storetest"
)

func TestReadTokens(t *testing.T) {
	db := storetest.New(t)
	sam := createAccount(t, db, "sam")
	kim := createAccount(t, db, "kim")
	own := &glucose.ReadToken{AccountID: sam.ID, PublisherID: sam.ID, Hash: "aa", Label: "kitchen", CreatedAt: t0}
	other := &glucose.ReadToken{AccountID: kim.ID, PublisherID: sam.ID, Hash: "bb", CreatedAt: t0.Add(1)}
	update(t, db, func(tx glucose.Tx) error {
		if err := tx.CreateReadToken(own); err != nil {
			return err
		}
		return tx.CreateReadToken(other)
	})
	if own.ID == "" {
		t.Fatal("no id given")
	}
	view(t, db, func(tx glucose.Tx) error {
		got, err := tx.ReadTokenByHash("aa")
		if err != nil {
			return err
		}
		if *got != *own {
			t.Errorf("by hash: %+v, want %+v", got, own)
		}
		_, err = tx.ReadTokenByHash("cc")
		wantErr(t, "unknown hash", err, glucose.ErrNotFound)
		list, err := tx.ReadTokens(sam.ID)
		if err != nil || len(list) != 1 || list[0] != *own {
			t.Errorf("sam's tokens: %+v %v", list, err)
		}
		return nil
	})
	// A second token with the same hash is a conflict.
	err := db.Update(t.Context(), func(tx glucose.Tx) error {
		return tx.CreateReadToken(&glucose.ReadToken{AccountID: sam.ID, PublisherID: sam.ID, Hash: "aa", CreatedAt: t0})
	})
	if !errors.Is(err, glucose.ErrConflict) {
		t.Errorf("duplicate hash: %v", err)
	}
	// Only the account that created a token deletes it.
	err = db.Update(t.Context(), func(tx glucose.Tx) error { return tx.DeleteReadToken(sam.ID, other.ID) })
	wantErr(t, "deleting another account's token", err, glucose.ErrNotFound)
	update(t, db, func(tx glucose.Tx) error { return tx.DeleteReadToken(kim.ID, other.ID) })
	view(t, db, func(tx glucose.Tx) error {
		list, err := tx.ReadTokens(kim.ID)
		if err != nil || len(list) != 0 {
			t.Errorf("kim's tokens after delete: %+v %v", list, err)
		}
		return nil
	})
}
