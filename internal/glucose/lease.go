package glucose

import "time"

// LeaseTx stores leases: named, expiring claims through which several server
// instances on one database agree on which of them does a piece of
// background work that must run once (expiry sweeps, alarm evaluation).
//
// A lease is held until its expiry time; from that moment on any holder may
// take it. Times come from the callers' clocks, so the instances' clocks
// must agree to well within a lease's lifetime.
type LeaseTx interface {
	// AcquireLease takes the lease name for holder until expires when it
	// is free, held by holder (a renewal), or expired at now, and reports
	// whether holder holds it afterwards. It is one statement: of several
	// instances racing for a free or expired lease, exactly one wins.
	AcquireLease(name, holder string, now, expires time.Time) (bool, error)
	// ReleaseLease frees the lease if holder holds it; otherwise it does
	// nothing.
	ReleaseLease(name, holder string) error
	// Lease returns the lease's holder and expiry, expired or not;
	// ErrNotFound when nobody took it or it was released.
	Lease(name string) (holder string, expires time.Time, err error)
}
