package lease_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/glucoshare/glucoshare/internal/clocktest"
	"github.com/glucoshare/glucoshare/internal/glucose"
	"github.com/glucoshare/glucoshare/internal/lease"
	"github.com/glucoshare/glucoshare/internal/store"
	"github.com/glucoshare/glucoshare/internal/store/storetest"
)

// Every test runs on the engine storetest selects; each "instance" opens
// the database on its own, as separate server processes would.

var t0 = time.Date(2025, 4, 19, 12, 0, 0, 0, time.UTC)

const (
	every = time.Minute
	ttl   = 3 * time.Minute
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// instances opens n handles on one fresh, migrated database.
func instances(t *testing.T, n int) []*store.DB {
	t.Helper()
	ctx := context.Background()
	dsn := storetest.DSN(t)
	var dbs []*store.DB
	for range n {
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
	return dbs
}

func newRunner(t *testing.T, db glucose.Store, holder string, clock glucose.Clock, ticks <-chan time.Time, fn lease.Func) *lease.Runner {
	t.Helper()
	r, err := lease.New(db, "sweep", holder, fn, lease.Options{
		Every: every, TTL: ttl, Clock: clock, Logger: quiet, Ticks: ticks,
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// within fails the test unless done is closed within a generous bound.
func within(t *testing.T, what string, done <-chan struct{}) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatalf("%s did not finish: deadlock?", what)
	}
}

// TestOneRunnerPerTick: two instances step at the same moments, racing;
// on every tick exactly one runs the work, and the holder keeps the lease
// by renewing it.
func TestOneRunnerPerTick(t *testing.T) {
	t.Parallel()
	dbs := instances(t, 2)
	clock := clocktest.New(t0)
	var runs [2]atomic.Int32
	var runners [2]*lease.Runner
	for i := range runners {
		runners[i] = newRunner(t, dbs[i], []string{"a", "b"}[i], clock, nil,
			func(ctx context.Context, now time.Time) error {
				if !now.Equal(clock.Now()) {
					t.Errorf("work got now %v, want the clock's %v", now, clock.Now())
				}
				runs[i].Add(1)
				return nil
			})
	}
	const ticks = 20
	for tick := range ticks {
		before := runs[0].Load() + runs[1].Load()
		var wg sync.WaitGroup
		var held [2]bool
		for i, r := range runners {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var err error
				if held[i], err = r.Step(context.Background()); err != nil {
					t.Errorf("tick %d, runner %d: %v", tick, i, err)
				}
			}()
		}
		wg.Wait()
		if held[0] == held[1] {
			t.Fatalf("tick %d: held %v, want exactly one holder", tick, held)
		}
		if got := runs[0].Load() + runs[1].Load() - before; got != 1 {
			t.Fatalf("tick %d: the work ran %d times, want once", tick, got)
		}
		clock.Advance(every)
	}
	if a, b := runs[0].Load(), runs[1].Load(); a != ticks && b != ticks {
		t.Errorf("runs %d and %d: the lease changed hands while its holder renewed it", a, b)
	}
}

// runner is a Runner started with Run, driven by its own tick channel.
type runner struct {
	ticks  chan time.Time
	cancel context.CancelFunc
	done   chan struct{}
}

func start(t *testing.T, db glucose.Store, holder string, clock glucose.Clock, fn lease.Func) *runner {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &runner{ticks: make(chan time.Time), cancel: cancel, done: make(chan struct{})}
	lr := newRunner(t, db, holder, clock, r.ticks, fn)
	go func() {
		defer close(r.done)
		lr.Run(ctx)
	}()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// tick starts a round. The tick channel is unbuffered and Run handles one
// tick at a time, so a send also means the previous round has finished.
func (r *runner) tick(t *testing.T) {
	t.Helper()
	select {
	case r.ticks <- time.Now():
	case <-time.After(20 * time.Second):
		t.Fatal("runner did not take a tick: deadlock?")
	}
}

// settle ticks twice: when the second send returns, the first round has
// finished.
func (r *runner) settle(t *testing.T) {
	t.Helper()
	r.tick(t)
	r.tick(t)
}

func (r *runner) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	within(t, "Run after cancellation", r.done)
}

// recorder is work that records which instance ran it.
type recorder struct {
	mu  sync.Mutex
	ran []string
}

func (rec *recorder) work(who string) lease.Func {
	return func(context.Context, time.Time) error {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		rec.ran = append(rec.ran, who)
		return nil
	}
}

// take returns and forgets what ran so far.
func (rec *recorder) take() []string {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	ran := rec.ran
	rec.ran = nil
	return ran
}

// holder returns who holds the lease; "" when nobody does.
func holder(t *testing.T, db glucose.Store) string {
	t.Helper()
	var h string
	err := db.View(context.Background(), func(tx glucose.Tx) (err error) {
		h, _, err = tx.Lease("sweep")
		return err
	})
	if err != nil && !errors.Is(err, glucose.ErrNotFound) {
		t.Fatal(err)
	}
	return h
}

// TestFailoverAfterTTL: the holder dies — its process stops without
// releasing the lease (its database handle goes first, then its context
// ends). The other instance does not run the work until the lease expires,
// TTL after the dead holder's last renewal, and then takes over.
func TestFailoverAfterTTL(t *testing.T) {
	t.Parallel()
	dbs := instances(t, 3) // a, b, and an observer
	clock := clocktest.New(t0)
	var rec recorder
	a := start(t, dbs[0], "a", clock, rec.work("a"))
	a.settle(t)
	renewed := clock.Now()
	dbs[0].Close()
	a.stop(t)
	if got := rec.take(); len(got) == 0 || got[0] != "a" {
		t.Fatalf("work ran on %v, want a", got)
	}
	if h := holder(t, dbs[2]); h != "a" {
		t.Fatalf("after a died the lease is held by %q, want a (not released)", h)
	}

	// b steps synchronously, so each round has finished when Step returns.
	b := newRunner(t, dbs[1], "b", clock, nil, rec.work("b"))
	for _, at := range []time.Duration{0, every, 2 * every, ttl - time.Millisecond} {
		clock.Set(renewed.Add(at))
		held, err := b.Step(context.Background())
		if err != nil || held {
			t.Fatalf("at +%s, before the dead holder's lease expired, b.Step = %t, %v", at, held, err)
		}
		if got := rec.take(); len(got) != 0 {
			t.Fatalf("at +%s, before the dead holder's lease expired, work ran on %v", at, got)
		}
	}
	clock.Set(renewed.Add(ttl))
	if held, err := b.Step(context.Background()); err != nil || !held {
		t.Fatalf("at +%s, when the dead holder's lease expired, b.Step = %t, %v", ttl, held, err)
	}
	if got := rec.take(); len(got) != 1 || got[0] != "b" {
		t.Fatalf("at +%s work ran on %v, want b", ttl, got)
	}
	if h := holder(t, dbs[2]); h != "b" {
		t.Errorf("lease held by %q, want b", h)
	}
}

// TestReleaseOnShutdown: a holder that stops normally frees the lease, so
// that the next instance takes over on its next tick, not TTL later.
func TestReleaseOnShutdown(t *testing.T) {
	t.Parallel()
	dbs := instances(t, 2)
	clock := clocktest.New(t0)
	var rec recorder
	a := start(t, dbs[0], "a", clock, rec.work("a"))
	a.settle(t)
	a.stop(t)
	if h := holder(t, dbs[1]); h != "" {
		t.Fatalf("after a stopped the lease is held by %q, want nobody", h)
	}
	b := newRunner(t, dbs[1], "b", clock, nil, rec.work("b"))
	if held, err := b.Step(context.Background()); err != nil || !held {
		t.Fatalf("b.Step right after a stopped = %t, %v; want the lease", held, err)
	}
	if got := rec.take(); len(got) < 2 || got[0] != "a" || got[len(got)-1] != "b" {
		t.Errorf("work ran on %v, want a, then b", got)
	}
}

// TestShutdownDoesNotDeadlock: Run returns promptly when cancelled while
// idle, while the work runs (the work's context ends with it), and when the
// database is gone.
func TestShutdownDoesNotDeadlock(t *testing.T) {
	t.Parallel()
	dbs := instances(t, 1)
	clock := clocktest.New(t0)

	idle := start(t, dbs[0], "idle", clock, func(context.Context, time.Time) error { return nil })
	idle.stop(t)

	working := make(chan struct{})
	busy := start(t, dbs[0], "busy", clock, func(ctx context.Context, _ time.Time) error {
		if deadline, ok := ctx.Deadline(); !ok || time.Until(deadline) > ttl {
			t.Errorf("work context deadline %v, %t; want one within the TTL", deadline, ok)
		}
		close(working)
		<-ctx.Done() // long work that honours its context
		return ctx.Err()
	})
	busy.tick(t)
	within(t, "work start", working)
	busy.stop(t)
	if h := holder(t, dbs[0]); h != "" {
		t.Errorf("after the busy runner stopped the lease is held by %q, want nobody", h)
	}

	broken := start(t, dbs[0], "broken", clock, func(context.Context, time.Time) error { return nil })
	broken.settle(t)
	dbs[0].Close()
	broken.settle(t) // rounds fail and are retried on the next tick
	broken.stop(t)
}

func TestOptions(t *testing.T) {
	db := storetest.New(t)
	work := func(context.Context, time.Time) error { return nil }
	if _, err := lease.New(db, "sweep", "a", work, lease.Options{Every: time.Minute, TTL: time.Minute}); err == nil {
		t.Errorf("TTL equal to the interval accepted")
	}
	if _, err := lease.New(db, "sweep", "", work, lease.Options{}); err == nil {
		t.Errorf("empty holder accepted")
	}
	if _, err := lease.New(db, "sweep", "a", work, lease.Options{Every: time.Hour}); err != nil {
		t.Errorf("default TTL: %v", err)
	}
	if a, b := lease.HolderID(), lease.HolderID(); a == b || a == "" {
		t.Errorf("HolderID twice = %q, %q; want two different ids", a, b)
	}
}
