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

// The work runs every minute; the lease lives 15 s after each heartbeat,
// which comes every 5 s: the lease's liveness does not depend on the
// work's interval.
const (
	every = time.Minute
	ttl   = 15 * time.Second
	renew = 5 * time.Second
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
		Every: every, TTL: ttl, Renew: renew, Clock: clock, Logger: quiet, Ticks: ticks,
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

// TestOneRoundPerInterval: two instances beat at the same moments, racing;
// at every heartbeat exactly one holds the lease, the holder keeps it by
// renewing it, and the work runs once per interval, not once per
// heartbeat.
func TestOneRoundPerInterval(t *testing.T) {
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
	const beats = int(3*every/renew) + 1 // three intervals and the start
	for beat := range beats {
		before := runs[0].Load() + runs[1].Load()
		var wg sync.WaitGroup
		var held [2]bool
		for i, r := range runners {
			wg.Go(func() {
				var err error
				if held[i], err = r.Step(context.Background()); err != nil {
					t.Errorf("beat %d, runner %d: %v", beat, i, err)
				}
			})
		}
		wg.Wait()
		if held[0] == held[1] {
			t.Fatalf("beat %d: held %v, want exactly one holder", beat, held)
		}
		at := time.Duration(beat) * renew
		want := int32(0)
		if at%every == 0 {
			want = 1 // at +0, +1m, +2m, +3m
		}
		if got := runs[0].Load() + runs[1].Load() - before; got != want {
			t.Fatalf("beat %d (+%s): the work ran %d times, want %d", beat, at, got, want)
		}
		clock.Advance(renew)
	}
	if a, b := runs[0].Load(), runs[1].Load(); a != 4 && b != 4 {
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

// tick starts a heartbeat. The tick channel is unbuffered and Run beats
// between receives, so a send also means the previous heartbeat (not the
// work it started) has finished.
func (r *runner) tick(t *testing.T) {
	t.Helper()
	select {
	case r.ticks <- time.Now():
	case <-time.After(20 * time.Second):
		t.Fatal("runner did not take a tick: deadlock?")
	}
}

// settle ticks twice: when the second send returns, the heartbeat of the
// first has finished.
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

// lease returns the lease; nobody holds a lease that was never taken.
func leaseOf(t *testing.T, db glucose.Store) glucose.Lease {
	t.Helper()
	var l glucose.Lease
	err := db.View(context.Background(), func(tx glucose.Tx) (err error) {
		l, err = tx.Lease("sweep")
		return err
	})
	if err != nil && !errors.Is(err, glucose.ErrNotFound) {
		t.Fatal(err)
	}
	return l
}

// TestFailoverAfterTTL: the holder dies — its process stops without
// releasing the lease (its database handle goes first, then its context
// ends). The other instance takes the lease over TTL after the dead
// holder's last heartbeat, whatever the work's interval, and runs the
// round that fell due meanwhile at once.
func TestFailoverAfterTTL(t *testing.T) {
	t.Parallel()
	dbs := instances(t, 3) // a, b, and an observer
	clock := clocktest.New(t0)
	var rec recorder
	a := newRunner(t, dbs[0], "a", clock, nil, rec.work("a"))
	for at := time.Duration(0); at < every; at += renew { // a's last heartbeat: +55s
		clock.Set(t0.Add(at))
		if held, err := a.Step(context.Background()); err != nil || !held {
			t.Fatalf("a.Step at +%s = %t, %v; want the lease", at, held, err)
		}
	}
	renewed := clock.Now()
	if got := rec.take(); len(got) != 1 || got[0] != "a" {
		t.Fatalf("in the first interval the work ran on %v, want a once", got)
	}
	dbs[0].Close()
	if l := leaseOf(t, dbs[2]); l.Holder != "a" || !l.NextRun.Equal(t0.Add(every)) {
		t.Fatalf("after a died the lease is %+v, want a's, next run at +%s", l, every)
	}

	// b beats synchronously, so each round has finished when Step returns.
	b := newRunner(t, dbs[1], "b", clock, nil, rec.work("b"))
	for at := time.Duration(0); at < ttl; at += renew {
		clock.Set(renewed.Add(at))
		held, err := b.Step(context.Background())
		if err != nil || held {
			t.Fatalf("at +%s after a's last heartbeat, before its lease expired, b.Step = %t, %v", at, held, err)
		}
		if got := rec.take(); len(got) != 0 {
			t.Fatalf("at +%s after a's last heartbeat, before its lease expired, work ran on %v", at, got)
		}
	}
	clock.Set(renewed.Add(ttl))
	if held, err := b.Step(context.Background()); err != nil || !held {
		t.Fatalf("at +%s after a's last heartbeat, when its lease expired, b.Step = %t, %v", ttl, held, err)
	}
	if got := rec.take(); len(got) != 1 || got[0] != "b" {
		t.Fatalf("the round due at +%s ran on %v at take-over (+%s), want b", every, got, renewed.Add(ttl).Sub(t0))
	}
	if l := leaseOf(t, dbs[2]); l.Holder != "b" || !l.NextRun.Equal(renewed.Add(ttl+every)) {
		t.Errorf("lease %+v, want b's, next run an interval after the take-over", l)
	}
}

// TestReleaseOnShutdown: a holder that stops normally frees the lease, so
// that the next instance takes it over at its next heartbeat, not TTL
// later; and it continues the schedule: the round a ran is not run again
// before the interval is over.
func TestReleaseOnShutdown(t *testing.T) {
	t.Parallel()
	dbs := instances(t, 2)
	clock := clocktest.New(t0)
	ran := make(chan string, 10)
	work := func(who string) lease.Func {
		return func(context.Context, time.Time) error { ran <- who; return nil }
	}
	a := start(t, dbs[0], "a", clock, work("a"))
	select {
	case who := <-ran:
		if who != "a" {
			t.Fatalf("work ran on %s, want a", who)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("a did not run the work at start")
	}
	a.settle(t)
	a.stop(t)
	if l := leaseOf(t, dbs[1]); l.Holder != "" || !l.NextRun.Equal(t0.Add(every)) {
		t.Fatalf("after a stopped the lease is %+v; want nobody's, with the next run at +%s", l, every)
	}
	b := newRunner(t, dbs[1], "b", clock, nil, work("b"))
	clock.Advance(renew)
	if held, err := b.Step(context.Background()); err != nil || !held {
		t.Fatalf("b.Step right after a stopped = %t, %v; want the lease", held, err)
	}
	clock.Set(t0.Add(every))
	if held, err := b.Step(context.Background()); err != nil || !held {
		t.Fatalf("b.Step at +%s = %t, %v; want the lease", every, held, err)
	}
	close(ran)
	var got []string
	for who := range ran {
		got = append(got, who)
	}
	if len(got) != 1 || got[0] != "b" {
		t.Errorf("after a stopped the work ran on %v, want b once, at +%s", got, every)
	}
}

// TestLongWorkKeepsLease: Run's heartbeats go on while its work runs, so
// work longer than TTL keeps the lease and is not cancelled; and work whose
// lease passes to another instance is cancelled at the next heartbeat.
func TestLongWorkKeepsLease(t *testing.T) {
	t.Parallel()
	dbs := instances(t, 2)
	clock := clocktest.New(t0)
	started, ended := make(chan struct{}), make(chan error, 1)
	a := start(t, dbs[0], "a", clock, func(ctx context.Context, _ time.Time) error {
		close(started)
		<-ctx.Done()
		ended <- ctx.Err()
		return ctx.Err()
	})
	within(t, "work start", started)
	b := newRunner(t, dbs[1], "b", clock, nil, func(context.Context, time.Time) error { return nil })
	for range 2 * every / renew { // two intervals, eight TTLs
		clock.Advance(renew)
		a.settle(t)
		if held, err := b.Step(context.Background()); err != nil || held {
			t.Fatalf("at +%s b.Step = %t, %v while a works and beats; want a to keep the lease",
				clock.Now().Sub(t0), held, err)
		}
	}
	select {
	case err := <-ended:
		t.Fatalf("a's work ended (%v) although a kept its lease", err)
	default:
	}
	// a misses its heartbeats for a TTL (a stalled database, say): b takes
	// the lease, and a's next heartbeat cancels its work.
	clock.Advance(ttl)
	if held, err := b.Step(context.Background()); err != nil || !held {
		t.Fatalf("b.Step after a missed a TTL of heartbeats = %t, %v; want the lease", held, err)
	}
	a.tick(t)
	select {
	case err := <-ended:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("a's work ended with %v, want cancellation", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("a's work went on after its lease passed to b")
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
		if deadline, ok := ctx.Deadline(); ok {
			t.Errorf("work context deadline %v; want none (heartbeats keep the lease)", deadline)
		}
		close(working)
		<-ctx.Done() // long work that honours its context
		return ctx.Err()
	})
	clock.Advance(every) // the round idle ran is over
	busy.tick(t)
	within(t, "work start", working)
	busy.stop(t)
	if l := leaseOf(t, dbs[0]); l.Holder != "" {
		t.Errorf("after the busy runner stopped the lease is held by %q, want nobody", l.Holder)
	}

	broken := start(t, dbs[0], "broken", clock, func(context.Context, time.Time) error { return nil })
	broken.settle(t)
	dbs[0].Close()
	broken.settle(t) // heartbeats fail and are retried on the next tick
	broken.stop(t)
}

// TestStepDeadline: Step, which beats no more while it works, bounds its
// work by TTL.
func TestStepDeadline(t *testing.T) {
	t.Parallel()
	dbs := instances(t, 1)
	r := newRunner(t, dbs[0], "a", clocktest.New(t0), nil, func(ctx context.Context, _ time.Time) error {
		if deadline, ok := ctx.Deadline(); !ok || time.Until(deadline) > ttl {
			t.Errorf("work context deadline %v, %t; want one within the TTL", deadline, ok)
		}
		return nil
	})
	if held, err := r.Step(context.Background()); err != nil || !held {
		t.Fatalf("Step = %t, %v", held, err)
	}
}

func TestOptions(t *testing.T) {
	db := storetest.New(t)
	work := func(context.Context, time.Time) error { return nil }
	if _, err := lease.New(db, "sweep", "a", work, lease.Options{TTL: 5 * time.Second, Renew: 5 * time.Second}); err == nil {
		t.Errorf("TTL equal to the heartbeat accepted")
	}
	if _, err := lease.New(db, "sweep", "", work, lease.Options{}); err == nil {
		t.Errorf("empty holder accepted")
	}
	if _, err := lease.New(db, "sweep", "a", work, lease.Options{Every: time.Hour}); err != nil {
		t.Errorf("default TTL with an hourly interval: %v", err)
	}
	if _, err := lease.New(db, "sweep", "a", work, lease.Options{Every: time.Second}); err != nil {
		t.Errorf("default TTL with an interval shorter than it: %v", err)
	}
	if a, b := lease.HolderID(), lease.HolderID(); a == b || a == "" {
		t.Errorf("HolderID twice = %q, %q; want two different ids", a, b)
	}
}
