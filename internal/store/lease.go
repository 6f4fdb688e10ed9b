package store

import (
	"time"

	"github.com/glucoshare/glucoshare/internal/glucose"
)

// AcquireLease takes or renews the lease in one upsert. The DO UPDATE only
// fires for the holder itself or an expired lease; otherwise the statement
// changes no row, which is how the caller learns that someone else holds
// it. On PostgreSQL a racing upsert waits for the row lock and then checks
// the condition against the winner's row, so two instances never both win.
// A lease taken over keeps its next run.
func (t *tx) AcquireLease(name, holder string, now, expires time.Time) (bool, error) {
	n, err := t.count(`INSERT INTO leases (name, holder, expires_at) VALUES (?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
		WHERE leases.holder = excluded.holder OR leases.expires_at <= ?`,
		name, holder, glucose.MS(expires), glucose.MS(now))
	return n > 0, err
}

// ClaimLeaseRound moves a due next run forward for the live holder; the
// row lock (PostgreSQL) or the single writer (SQLite) makes the check and
// the move one step.
func (t *tx) ClaimLeaseRound(name, holder string, now, next time.Time) (bool, error) {
	n, err := t.count(`UPDATE leases SET next_run_at = ?
		WHERE name = ? AND holder = ? AND expires_at > ? AND next_run_at <= ?`,
		glucose.MS(next), name, holder, glucose.MS(now), glucose.MS(now))
	return n > 0, err
}

// ReleaseLease frees the lease if holder holds it. The row stays, with its
// next run, for the next holder.
func (t *tx) ReleaseLease(name, holder string) error {
	_, err := t.exec(`UPDATE leases SET holder = '', expires_at = 0 WHERE name = ? AND holder = ?`, name, holder)
	return err
}

// Lease returns the lease's row.
func (t *tx) Lease(name string) (glucose.Lease, error) {
	var (
		l                glucose.Lease
		expires, nextRun int64
	)
	err := t.queryRow(`SELECT holder, expires_at, next_run_at FROM leases WHERE name = ?`, name).
		Scan(&l.Holder, &expires, &nextRun)
	if err != nil {
		return glucose.Lease{}, t.db.mapError(err)
	}
	l.Expires = glucose.FromMS(expires)
	if nextRun > 0 {
		l.NextRun = glucose.FromMS(nextRun)
	}
	return l, nil
}
