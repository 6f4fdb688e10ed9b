package store

import (
	"database/sql"
	"errors"
	"time"

	"github.com/glucoshare/glucoshare/internal/glucose"
)

// LockedUntil returns when the key's lock ends, or the zero time. An
// expired lock is returned as is; the caller compares it with its clock.
func (t *tx) LockedUntil(key string) (time.Time, error) {
	var until int64
	err := t.queryRow(`SELECT until FROM login_locks WHERE key = ?`, key).Scan(&until)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return time.Time{}, nil
	case err != nil:
		return time.Time{}, t.db.mapError(err)
	}
	return glucose.FromMS(until), nil
}

// AddLoginFailure records a failure and counts the key's failures since
// since. Failures before since are dropped on the way: nothing counts them
// any more, and it keeps the table as small as the window.
func (t *tx) AddLoginFailure(key string, at, since time.Time) (int, error) {
	if _, err := t.exec(`DELETE FROM login_failures WHERE key = ? AND at < ?`,
		key, glucose.MS(since)); err != nil {
		return 0, err
	}
	if _, err := t.exec(`INSERT INTO login_failures (key, at) VALUES (?, ?)`,
		key, glucose.MS(at)); err != nil {
		return 0, err
	}
	var n int
	err := t.queryRow(`SELECT COUNT(*) FROM login_failures WHERE key = ? AND at >= ?`,
		key, glucose.MS(since)).Scan(&n)
	return n, t.db.mapError(err)
}

// Lock locks key until until and clears its failures.
func (t *tx) Lock(key string, until time.Time) error {
	if _, err := t.exec(`INSERT INTO login_locks (key, until) VALUES (?, ?)
		ON CONFLICT (key) DO UPDATE SET until = excluded.until`, key, glucose.MS(until)); err != nil {
		return err
	}
	_, err := t.exec(`DELETE FROM login_failures WHERE key = ?`, key)
	return err
}

// ClearLogin removes the key's failures and lock.
func (t *tx) ClearLogin(key string) error {
	if _, err := t.exec(`DELETE FROM login_locks WHERE key = ?`, key); err != nil {
		return err
	}
	_, err := t.exec(`DELETE FROM login_failures WHERE key = ?`, key)
	return err
}
