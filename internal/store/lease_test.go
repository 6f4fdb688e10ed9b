package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/glucoshare/glucoshare/internal/glucose"
	"github.com/glucoshare/glucoshare/internal/store"
	"github.com/glucoshare/glucoshare/internal/store/storetest"
)

func acquire(t testing.TB, db *store.DB, name, holder string, now time.Time, ttl time.Duration) bool {
	t.Helper()
	var held bool
	update(t, db, func(tx glucose.Tx) (err error) {
		held, err = tx.AcquireLease(name, holder, now, now.Add(ttl))
		return err
	})
	return held
}

func TestLease(t *testing.T) {
	t.Parallel()
	db := storetest.New(t)
	const ttl = time.Minute
	view(t, db, func(tx glucose.Tx) error {
		_, err := tx.Lease("sweep")
		wantErr(t, "Lease before anyone took it", err, glucose.ErrNotFound)
		return nil
	})
	steps := []struct {
		holder string
		at     time.Duration
		want   bool
	}{
		{"a", 0, true},                // free
		{"b", 0, false},               // held by a
		{"a", 30 * time.Second, true}, // renewal: now until 1m30s
		{"b", ttl, false},             // a's first expiry passed, but it renewed
		{"b", 90*time.Second - time.Millisecond, false},
		{"b", 90 * time.Second, true}, // expired: b takes over
		{"a", 100 * time.Second, false},
	}
	for _, s := range steps {
		if got := acquire(t, db, "sweep", s.holder, t0.Add(s.at), ttl); got != s.want {
			t.Errorf("%s acquires at +%s: %t, want %t", s.holder, s.at, got, s.want)
		}
	}
	view(t, db, func(tx glucose.Tx) error {
		l, err := tx.Lease("sweep")
		if err != nil || l.Holder != "b" || !l.Expires.Equal(t0.Add(90*time.Second+ttl)) || !l.NextRun.IsZero() {
			t.Errorf("Lease = %+v, %v; want b's until %v, due at once", l, err, t0.Add(90*time.Second+ttl))
		}
		return nil
	})
	// Leases are independent of each other.
	if !acquire(t, db, "alarms", "a", t0.Add(100*time.Second), ttl) {
		t.Errorf("a could not take another lease")
	}
	// Only the holder releases.
	update(t, db, func(tx glucose.Tx) error { return tx.ReleaseLease("sweep", "a") })
	if acquire(t, db, "sweep", "a", t0.Add(100*time.Second), ttl) {
		t.Errorf("a released b's lease")
	}
	update(t, db, func(tx glucose.Tx) error { return tx.ReleaseLease("sweep", "b") })
	if !acquire(t, db, "sweep", "a", t0.Add(100*time.Second), ttl) {
		t.Errorf("a could not take a released lease")
	}
}

// TestLeaseRounds: only the live holder claims a round, once per due time;
// the next run survives a release and a take-over.
func TestLeaseRounds(t *testing.T) {
	t.Parallel()
	db := storetest.New(t)
	const ttl, every = 15 * time.Second, time.Minute
	claim := func(holder string, at time.Duration) (claimed bool) {
		t.Helper()
		now := t0.Add(at)
		update(t, db, func(tx glucose.Tx) (err error) {
			claimed, err = tx.ClaimLeaseRound("sweep", holder, now, now.Add(every))
			return err
		})
		return claimed
	}
	if claim("a", 0) {
		t.Errorf("a claimed a round of a lease nobody took")
	}
	acquire(t, db, "sweep", "a", t0, ttl)
	steps := []struct {
		holder string
		at     time.Duration
		want   bool
	}{
		{"b", 0, false}, // not the holder
		{"a", 0, true},  // due at once: next run +1m
		{"a", 0, false}, // claimed already
		{"a", every - time.Millisecond, false},
		{"a", every, false}, // due, but a's lease expired at +15s
	}
	for _, s := range steps {
		if got := claim(s.holder, s.at); got != s.want {
			t.Errorf("%s claims at +%s: %t, want %t", s.holder, s.at, got, s.want)
		}
	}
	acquire(t, db, "sweep", "a", t0.Add(every), ttl)
	update(t, db, func(tx glucose.Tx) error { return tx.ReleaseLease("sweep", "a") })
	view(t, db, func(tx glucose.Tx) error {
		l, err := tx.Lease("sweep")
		if err != nil || l.Holder != "" || !l.NextRun.Equal(t0.Add(every)) {
			t.Errorf("released lease = %+v, %v; want nobody's, next run at +%s", l, err, every)
		}
		return nil
	})
	if !acquire(t, db, "sweep", "b", t0.Add(every), ttl) || !claim("b", every) || claim("b", every) {
		t.Errorf("b did not take the released lease and claim its due round once")
	}
}

// TestLeaseRace: instances racing for a free lease, and again for an
// expired one, each produce exactly one holder.
func TestLeaseRace(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := storetest.DSN(t)
	var dbs []*store.DB
	for range 2 {
		db, err := store.Open(ctx, dsn, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		dbs = append(dbs, db)
	}
	if _, _, err := dbs[0].Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	for round, at := range []time.Time{t0, t0.Add(time.Hour)} {
		const racers = 8
		var (
			wg      sync.WaitGroup
			mu      sync.Mutex
			winners []string
			errs    []error
		)
		for i := range racers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				holder := fmt.Sprintf("r%d-%d", round, i)
				var held bool
				err := dbs[i%2].Update(ctx, func(tx glucose.Tx) (err error) {
					held, err = tx.AcquireLease("sweep", holder, at, at.Add(time.Minute))
					return err
				})
				mu.Lock()
				defer mu.Unlock()
				if held {
					winners = append(winners, holder)
				}
				if err != nil {
					errs = append(errs, err)
				}
			}()
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if len(winners) != 1 {
			t.Errorf("round %d: winners %v, want exactly one", round, winners)
		}
	}
}
