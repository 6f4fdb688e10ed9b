// Package lease runs background work that must happen once among several
// glucoshare instances on one database: the alarm tick, expiry sweeps, the
// retention purge.
//
// Each kind of work has a named lease in the database (glucose.LeaseTx).
// The lease's liveness and the work's schedule are separate:
//
//   - Every Renew (a few seconds, whatever the work's interval), each
//     instance's Runner takes or renews the lease in one statement, for TTL.
//     When the holder dies without releasing it, the lease expires TTL
//     after its last renewal and another instance takes it on its next
//     heartbeat: the work stops for at most TTL + Renew, not for a
//     multiple of its interval.
//   - The lease row also holds when the work is next due. The holder claims
//     a due round by moving that time Every ahead, then runs the work, so a
//     round runs once whichever instance holds the lease, and an instance
//     that takes over continues the schedule instead of starting its own.
//   - A Runner that stops normally releases the lease at once.
//
// Lease times come from an injected clock, so that tests drive failover
// without sleeping, and so that the instances' clocks must agree to well
// within TTL − Renew (NTP does).
package lease

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/glucoshare/glucoshare/internal/glucose"
)

// Func is the work a Runner does while it holds its lease. now is the
// round's time from the Runner's clock. ctx ends when the Runner stops, or
// when the lease could pass to another instance, whichever comes first:
// work that outlives its lease must stop.
type Func func(ctx context.Context, now time.Time) error

// Defaults of Options.
const (
	DefaultEvery = time.Minute
	DefaultTTL   = 15 * time.Second
)

// Options tunes a Runner. Zero values select the defaults.
type Options struct {
	// Every is the interval between rounds of the work (default 1
	// minute).
	Every time.Duration
	// TTL is how long a lease lasts after each renewal (default 15 s): it
	// bounds how long the work stops when the holder dies.
	TTL time.Duration
	// Renew is the heartbeat: how often the lease is taken or renewed and
	// a due round started (default TTL/3). It must be shorter than TTL.
	Renew time.Duration
	// Clock gives the times written to the lease (default the system
	// clock).
	Clock glucose.Clock
	// Logger receives take-overs and failures (default slog.Default()).
	Logger *slog.Logger
	// Ticks, when set, replaces the heartbeat ticker: Run does a
	// heartbeat at start and one per value received. Tests drive
	// heartbeats with it and a fake Clock.
	Ticks <-chan time.Time
}

// releaseMax bounds the release on shutdown, so that a database that does
// not answer cannot hold shutdown up; the lease then expires on its own.
const releaseMax = 5 * time.Second

// Runner does one kind of leased work. Its methods are not safe for
// concurrent use: one goroutine calls Run, or Step.
type Runner struct {
	store  glucose.Store
	name   string
	holder string
	fn     Func
	opts   Options
	held   bool   // after the last heartbeat that reached the database
	work   *round // the round Run started and has not seen finish
}

// New returns a Runner that does fn under the lease name on behalf of
// holder, which must be unique among the instances (see HolderID).
func New(store glucose.Store, name, holder string, fn Func, opts Options) (*Runner, error) {
	if opts.Every <= 0 {
		opts.Every = DefaultEvery
	}
	if opts.TTL <= 0 {
		opts.TTL = DefaultTTL
	}
	if opts.Renew <= 0 {
		opts.Renew = opts.TTL / 3
	}
	if opts.Renew >= opts.TTL {
		return nil, fmt.Errorf("lease %s: TTL %s must exceed the heartbeat %s", name, opts.TTL, opts.Renew)
	}
	if name == "" || holder == "" {
		return nil, errors.New("lease: name and holder must not be empty")
	}
	if opts.Clock == nil {
		opts.Clock = glucose.SystemClock{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Runner{store: store, name: name, holder: holder, fn: fn, opts: opts}, nil
}

// Run does a heartbeat at once and then every Renew until ctx ends; the
// work runs beside the heartbeats, which keep its lease. When ctx ends it
// stops the round in progress, waits for it, and releases the lease if it
// holds it: the caller can close the store after Run returns. Failed
// heartbeats and rounds are logged; the next heartbeat tries again.
func (r *Runner) Run(ctx context.Context) {
	beats := r.opts.Ticks
	if beats == nil {
		t := time.NewTicker(r.opts.Renew)
		defer t.Stop()
		beats = t.C
	}
	defer r.release(ctx)
	defer r.stopWork()
	for {
		r.beat(ctx)
		select {
		case <-ctx.Done():
			return
		case <-beats:
		}
		// A tick and cancellation may be ready together; select picks at
		// random, and a stopping runner must not start work.
		if ctx.Err() != nil {
			return
		}
	}
}

// beat is one heartbeat of Run: renew the lease, stop the work if the
// lease is lost, extend the work's time if not, start a due round.
func (r *Runner) beat(ctx context.Context) {
	r.reap()
	start := time.Now()
	held, claimed, now, err := r.renew(ctx, r.work == nil)
	if err != nil {
		// Whether the lease is still ours is unknown: the work's deadline
		// stays as it was, and a stopping runner still tries to release.
		if ctx.Err() == nil {
			r.opts.Logger.Warn("background work lease renewal failed", "lease", r.name, "err", err)
		}
		return
	}
	if !held {
		r.stopWork()
		return
	}
	if r.work != nil {
		r.work.timer.Reset(time.Until(start.Add(r.opts.TTL)))
	}
	if claimed {
		r.startWork(ctx, now, start)
	}
}

// Step does one heartbeat and, when it claims a round, runs the work to
// completion before it returns. It reports whether it held the lease. It
// is Run's heartbeat without the concurrency: tests drive it on a fake
// clock.
func (r *Runner) Step(ctx context.Context) (bool, error) {
	start := time.Now()
	held, claimed, now, err := r.renew(ctx, true)
	if err != nil || !claimed {
		return held, err
	}
	// The lease runs TTL from now; stop the work by then, measured from
	// before the lease was written.
	wctx, cancel := context.WithDeadline(ctx, start.Add(r.opts.TTL))
	defer cancel()
	return true, r.fn(wctx, now)
}

// renew takes or renews the lease and, when claim is set and it holds the
// lease, claims the round if it is due, in one transaction. now is the
// heartbeat's time from the clock.
func (r *Runner) renew(ctx context.Context, claim bool) (held, claimed bool, now time.Time, err error) {
	now = r.opts.Clock.Now()
	err = r.store.Update(ctx, func(tx glucose.Tx) (err error) {
		claimed = false
		held, err = tx.AcquireLease(r.name, r.holder, now, now.Add(r.opts.TTL))
		if err != nil || !held || !claim {
			return err
		}
		claimed, err = tx.ClaimLeaseRound(r.name, r.holder, now, now.Add(r.opts.Every))
		return err
	})
	if err != nil {
		return false, false, now, fmt.Errorf("lease %s: %w", r.name, err)
	}
	r.noteChange(held)
	return held, claimed, now, nil
}

// round is a run of the work that Run started.
type round struct {
	cancel context.CancelFunc
	timer  *time.Timer // cancels the round when the lease could pass on
	done   chan struct{}
}

// startWork runs the work in its own goroutine, with a context that ends
// TTL after the heartbeat began unless a later heartbeat extends it.
func (r *Runner) startWork(ctx context.Context, now, start time.Time) {
	wctx, cancel := context.WithCancel(ctx)
	w := &round{cancel: cancel, timer: time.AfterFunc(time.Until(start.Add(r.opts.TTL)), cancel),
		done: make(chan struct{})}
	go func() {
		defer close(w.done)
		defer cancel()
		if err := r.fn(wctx, now); err != nil && ctx.Err() == nil {
			r.opts.Logger.Warn("background work failed", "lease", r.name, "err", err)
		}
	}()
	r.work = w
}

// reap forgets the round if it has finished.
func (r *Runner) reap() {
	if r.work == nil {
		return
	}
	select {
	case <-r.work.done:
		r.work.timer.Stop()
		r.work = nil
	default:
	}
}

// stopWork cancels the round in progress, if any, and waits for it.
func (r *Runner) stopWork() {
	if r.work == nil {
		return
	}
	r.work.cancel()
	r.work.timer.Stop()
	<-r.work.done
	r.work = nil
}

// noteChange logs when this instance takes the lease or loses it.
func (r *Runner) noteChange(held bool) {
	if held != r.held {
		if held {
			r.opts.Logger.Info("took background work lease", "lease", r.name, "holder", r.holder)
		} else {
			r.opts.Logger.Info("background work lease held elsewhere", "lease", r.name)
		}
	}
	r.held = held
}

// release frees the lease so that another instance can take it at once.
// It runs after ctx ended, so it gets a short context of its own.
func (r *Runner) release(ctx context.Context) {
	if !r.held {
		return
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseMax)
	defer cancel()
	err := r.store.Update(rctx, func(tx glucose.Tx) error {
		return tx.ReleaseLease(r.name, r.holder)
	})
	if err != nil {
		r.opts.Logger.Warn("releasing background work lease failed; it expires on its own",
			"lease", r.name, "ttl", r.opts.TTL, "err", err)
		return
	}
	r.held = false
}

// HolderID returns an id for this process that is unique among instances:
// the host name, the process id and a random part (a restarted process on
// the same host, or a container that reuses pid 1, is a new holder).
func HolderID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown"
	}
	var b [6]byte
	rand.Read(b[:])
	return fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}
