package glucose

import "time"

// Lease is a named, expiring claim through which several server instances
// on one database agree on which of them does a piece of background work
// that must run once (expiry sweeps, the alarm tick), and when that work is
// next due.
type Lease struct {
	Holder  string    // "" once released
	Expires time.Time // the holder holds it until then; anyone may take it from then on
	NextRun time.Time // when the work is next due, whoever holds the lease; zero: at once
}

// LeaseTx stores leases. Times come from the callers' clocks, so the
// instances' clocks must agree to well within a lease's lifetime.
type LeaseTx interface {
	// AcquireLease takes the lease name for holder until expires when it
	// is free, held by holder (a renewal), or expired at now, and reports
	// whether holder holds it afterwards. It is one statement: of several
	// instances racing for a free or expired lease, exactly one wins.
	AcquireLease(name, holder string, now, expires time.Time) (bool, error)
	// ClaimLeaseRound moves the lease's next run to next when holder holds
	// the lease at now and the run is due, and reports whether it did: a
	// round of the work is claimed once, whichever instance holds the lease.
	ClaimLeaseRound(name, holder string, now, next time.Time) (bool, error)
	// ReleaseLease frees the lease if holder holds it, keeping its next
	// run; otherwise it does nothing.
	ReleaseLease(name, holder string) error
	// Lease returns the lease, expired or not; ErrNotFound when nobody
	// ever took it.
	Lease(name string) (Lease, error)
}
