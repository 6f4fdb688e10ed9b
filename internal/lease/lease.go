// Package lease runs background work that must happen once among several
// glucoshare instances on one database: expiry sweeps today, no-data alarms
// later.
//
// Each kind of work has a named lease in the database (glucose.LeaseTx). On
// every tick a Runner takes or renews the lease in one statement and runs
// its work only when it holds the lease, so at most one instance works per
// tick. The holder renews on each tick; when it dies without releasing,
// its lease expires TTL after its last renewal and the next instance to tick
// takes over. A Runner that stops normally releases the lease at once.
//
// Lease times come from an injected clock, so that tests drive failover
// without sleeping, and so that the instances' clocks must agree to well
// within TTL − Every (NTP does).
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

// Options tunes a Runner. Zero values select the defaults.
type Options struct {
	// Every is the interval between rounds (default 1 minute).
	Every time.Duration
	// TTL is how long a lease lasts after each renewal (default 2×Every).
	// It must exceed Every, or the holder would lose the lease between
	// its own rounds; it bounds how long the work stops when the holder
	// dies.
	TTL time.Duration
	// Clock gives the times written to the lease (default the system
	// clock).
	Clock glucose.Clock
	// Logger receives take-overs and failures (default slog.Default()).
	Logger *slog.Logger
	// Ticks, when set, replaces the ticker of Every: Run does one round
	// per value received. Tests drive rounds with it and a fake Clock.
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
	held   bool // after the last round that reached the database
}

// New returns a Runner that does fn under the lease name on behalf of
// holder, which must be unique among the instances (see HolderID).
func New(store glucose.Store, name, holder string, fn Func, opts Options) (*Runner, error) {
	if opts.Every <= 0 {
		opts.Every = time.Minute
	}
	if opts.TTL == 0 {
		opts.TTL = 2 * opts.Every
	}
	if opts.TTL <= opts.Every {
		return nil, fmt.Errorf("lease %s: TTL %s must exceed the interval %s", name, opts.TTL, opts.Every)
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

// Run does a round on every tick until ctx ends, then releases the lease
// if it holds it. It returns once the round in progress, if any, has
// finished and the release was tried: the caller can close the store
// afterwards. Failed rounds are logged and retried on the next tick.
func (r *Runner) Run(ctx context.Context) {
	ticks := r.opts.Ticks
	if ticks == nil {
		t := time.NewTicker(r.opts.Every)
		defer t.Stop()
		ticks = t.C
	}
	defer r.release(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticks:
		}
		// A tick and cancellation may be ready together; select picks at
		// random, and a stopping runner must not start work.
		if ctx.Err() != nil {
			return
		}
		if _, err := r.Step(ctx); err != nil && ctx.Err() == nil {
			r.opts.Logger.Warn("background work failed", "lease", r.name, "err", err)
		}
	}
}

// Step does one round: it takes or renews the lease and, when it holds it,
// runs the work. It reports whether it held the lease.
func (r *Runner) Step(ctx context.Context) (bool, error) {
	start := time.Now()
	now := r.opts.Clock.Now()
	var held bool
	err := r.store.Update(ctx, func(tx glucose.Tx) (err error) {
		held, err = tx.AcquireLease(r.name, r.holder, now, now.Add(r.opts.TTL))
		return err
	})
	if err != nil {
		// Whether the lease is still ours is unknown: r.held stays as it
		// was, so that a stopping runner still tries to release it.
		return false, fmt.Errorf("lease %s: %w", r.name, err)
	}
	r.noteChange(held)
	if !held {
		return false, nil
	}
	// The lease runs TTL from now; stop the work by then, measured from
	// before the lease was written.
	wctx, cancel := context.WithDeadline(ctx, start.Add(r.opts.TTL))
	defer cancel()
	return true, r.fn(wctx, now)
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
