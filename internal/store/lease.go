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
func (t *tx) AcquireLease(name, holder string, now, expires time.Time) (bool, error) {
	n, err := t.count(`INSERT INTO leases (name, holder, expires_at) VALUES (?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
		WHERE leases.holder = excluded.holder OR leases.expires_at <= ?`,
		name, holder, glucose.MS(expires), glucose.MS(now))
	return n > 0, err
}

// ReleaseLease deletes the lease if holder holds it.
func (t *tx) ReleaseLease(name, holder string) error {
	_, err := t.exec(`DELETE FROM leases WHERE name = ? AND holder = ?`, name, holder)
	return err
}

// Lease returns the lease's holder and expiry.
func (t *tx) Lease(name string) (string, time.Time, error) {
	var (
		holder  string
		expires int64
	)
	err := t.queryRow(`SELECT holder, expires_at FROM leases WHERE name = ?`, name).Scan(&holder, &expires)
	if err != nil {
		return "", time.Time{}, t.db.mapError(err)
	}
	return holder, glucose.FromMS(expires), nil
}
