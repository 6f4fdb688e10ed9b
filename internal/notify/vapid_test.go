package notify_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/glucoshare/glucoshare/internal/notify"
	"github.com/glucoshare/glucoshare/internal/secretkey"
	"github.com/glucoshare/glucoshare/internal/store"
	"github.com/glucoshare/glucoshare/internal/store/storetest"
)

// Instances that start at once on one database (each with its own
// connections) end up with one key pair, the same for all: push
// subscriptions are bound to its public key. On PostgreSQL the inserts
// race for real.
func TestVAPIDKeysMadeOnceByInstancesStartingAtOnce(t *testing.T) {
	dsn := storetest.DSN(t)
	const instances = 6
	key, _ := secretkey.Load(secretkey.Generate())
	stores := make([]*store.DB, instances)
	for i := range stores {
		stores[i] = storetest.Open(t, dsn)
	}
	var wg sync.WaitGroup
	publics := make([]string, instances)
	start := make(chan struct{})
	for i, s := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			wp, err := notify.LoadWebPush(context.Background(), s, key, "mailto:op@example.org", t0)
			if err != nil {
				t.Error(err)
				return
			}
			publics[i] = wp.PublicKey
		}()
	}
	close(start)
	wg.Wait()
	for _, p := range publics {
		if p != publics[0] || len(p) != 87 {
			t.Fatalf("public keys %q: want one 65-byte key, the same for all", publics)
		}
	}
	var rows int
	stores[0].SQL().QueryRow(`SELECT COUNT(*) FROM vapid_keys`).Scan(&rows)
	if rows != 1 {
		t.Errorf("%d key pairs stored", rows)
	}
}

// With the operator's secret key the private key is kept sealed under it;
// a server without the key, or with another, cannot use it and says why.
// A key pair made without a secret key is sealed once one is given.
func TestVAPIDPrivateKeySealedUnderTheSecretKey(t *testing.T) {
	ctx := context.Background()
	db := storetest.Open(t, storetest.DSN(t))
	wp, err := notify.LoadWebPush(ctx, db, nil, "", t0)
	if err != nil {
		t.Fatal(err)
	}
	var private string
	var sealed bool
	db.SQL().QueryRow(`SELECT private_key, sealed FROM vapid_keys`).Scan(&private, &sealed)
	if sealed || len(private) != 43 {
		t.Fatalf("without a secret key: sealed %v, private %d characters; want kept as is", sealed, len(private))
	}
	key, _ := secretkey.Load(secretkey.Generate())
	again, err := notify.LoadWebPush(ctx, db, key, "", t0)
	if err != nil || again.PublicKey != wp.PublicKey {
		t.Fatalf("with a secret key: %v, public key changed: %v", err, again.PublicKey != wp.PublicKey)
	}
	var now string
	db.SQL().QueryRow(`SELECT private_key, sealed FROM vapid_keys`).Scan(&now, &sealed)
	if !sealed || strings.Contains(now, private) {
		t.Errorf("after a start with a secret key: sealed %v, %q", sealed, now)
	}
	if _, err := notify.LoadWebPush(ctx, db, nil, "", t0); !errors.Is(err, notify.ErrVAPIDSealed) {
		t.Errorf("without the key: %v, want ErrVAPIDSealed", err)
	}
	other, _ := secretkey.Load(secretkey.Generate())
	if _, err := notify.LoadWebPush(ctx, db, other, "", t0); !errors.Is(err, notify.ErrVAPIDSealed) {
		t.Errorf("with another key: %v, want ErrVAPIDSealed", err)
	}
	if wp3, err := notify.LoadWebPush(ctx, db, key, "", t0); err != nil || wp3.PublicKey != wp.PublicKey {
		t.Errorf("with the key again: %v", err)
	}
}
