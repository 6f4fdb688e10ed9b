package store

import (
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/glucoshare/glucoshare/internal/glucose"
)

// Throttles returns the rows of those keys that have one.
func (t *tx) Throttles(keys ...string) ([]glucose.Throttle, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	args := make([]any, len(keys))
	for i, k := range keys {
		args[i] = k
	}
	marks := strings.Repeat("?, ", len(keys)-1) + "?"
	rows, err := t.query(`SELECT key, failures, until, forget_at FROM login_throttle WHERE key IN (`+marks+`)`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []glucose.Throttle
	for rows.Next() {
		var th glucose.Throttle
		var until, forget int64
		if err := rows.Scan(&th.Key, &th.Failures, &until, &forget); err != nil {
			return nil, t.db.mapError(err)
		}
		th.Until, th.ForgetAt = glucose.FromMS(until), glucose.FromMS(forget)
		out = append(out, th)
	}
	return out, t.db.mapError(rows.Err())
}

// AddLoginFailure counts a failure in one statement, so that two instances
// counting on the same key at once both count (PostgreSQL's ON CONFLICT
// takes the row's lock and sees the other's committed count).
func (t *tx) AddLoginFailure(key string, now time.Time) (int, error) {
	ms := glucose.MS(now)
	var n int
	err := t.queryRow(`INSERT INTO login_throttle (key, failures, until, forget_at) VALUES (?, 1, ?, ?)
		ON CONFLICT (key) DO UPDATE SET failures = CASE WHEN login_throttle.forget_at <= ? THEN 1
			ELSE login_throttle.failures + 1 END
		RETURNING failures`, key, ms, ms, ms).Scan(&n)
	return n, t.db.mapError(err)
}

// SetLoginDelay sets the key's delay and forget time.
func (t *tx) SetLoginDelay(key string, until, forget time.Time) error {
	_, err := t.exec(`UPDATE login_throttle SET until = ?, forget_at = ? WHERE key = ?`,
		glucose.MS(until), glucose.MS(forget), key)
	return err
}

// ForgiveLoginFailure takes one failure back.
func (t *tx) ForgiveLoginFailure(key string) error {
	_, err := t.exec(`UPDATE login_throttle SET failures = failures - 1 WHERE key = ? AND failures > 0`, key)
	return err
}

// ClearLogin removes the key's row.
func (t *tx) ClearLogin(key string) error {
	_, err := t.exec(`DELETE FROM login_throttle WHERE key = ?`, key)
	return err
}

// ClearAccountLogins removes the account's rows: its keys are the id, a
// space and a scope, so they sort between "<id> " and "<id>!".
func (t *tx) ClearAccountLogins(accountID string) error {
	if _, err := t.exec(`DELETE FROM login_throttle WHERE key >= ? AND key < ?`,
		accountID+" ", accountID+"!"); err != nil {
		return err
	}
	_, err := t.exec(`DELETE FROM login_addresses WHERE account_id = ?`, accountID)
	return err
}

// ForgetLogins deletes forgotten rows and old addresses.
func (t *tx) ForgetLogins(now, addressCutoff time.Time) (int, error) {
	n, err := t.count(`DELETE FROM login_throttle WHERE forget_at <= ?`, glucose.MS(now))
	if err != nil {
		return 0, err
	}
	m, err := t.count(`DELETE FROM login_addresses WHERE last_at < ?`, glucose.MS(addressCutoff))
	return n + m, err
}

// LoginAddressSince reports a login from addr since since.
func (t *tx) LoginAddressSince(accountID, addr string, since time.Time) (bool, error) {
	var last int64
	err := t.queryRow(`SELECT last_at FROM login_addresses WHERE account_id = ? AND addr = ?`,
		accountID, addr).Scan(&last)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	case err != nil:
		return false, t.db.mapError(err)
	}
	return last >= glucose.MS(since), nil
}

// RememberLoginAddress records a login from addr and keeps the account's
// keep most recent addresses.
func (t *tx) RememberLoginAddress(accountID, addr string, at time.Time, keep int) error {
	if _, err := t.exec(`INSERT INTO login_addresses (account_id, addr, last_at) VALUES (?, ?, ?)
		ON CONFLICT (account_id, addr) DO UPDATE SET last_at = excluded.last_at`,
		accountID, addr, glucose.MS(at)); err != nil {
		return err
	}
	_, err := t.exec(`DELETE FROM login_addresses WHERE account_id = ? AND addr NOT IN
		(SELECT addr FROM login_addresses WHERE account_id = ? ORDER BY last_at DESC, addr LIMIT ?)`,
		accountID, accountID, keep)
	return err
}

// ServerKey returns the named key, storing fresh when there is none.
func (t *tx) ServerKey(name string, fresh []byte) ([]byte, error) {
	if _, err := t.exec(`INSERT INTO server_keys (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING`,
		name, fresh); err != nil {
		return nil, err
	}
	var key []byte
	err := t.queryRow(`SELECT value FROM server_keys WHERE name = ?`, name).Scan(&key)
	return key, t.db.mapError(err)
}
