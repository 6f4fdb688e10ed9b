package store

import (
	"database/sql"
	"strings"
	"time"

	"github.com/glucoshare/glucoshare/internal/glucose"
)

// CreateSession inserts s, giving it a new id when s.ID is empty. A zero
// LastUsedAt is stored as CreatedAt.
func (t *tx) CreateSession(s *glucose.Session) error {
	if s.ID == "" {
		s.ID = newID()
	}
	if s.LastUsedAt.IsZero() {
		s.LastUsedAt = s.CreatedAt
	}
	_, err := t.exec(`INSERT INTO sessions (id, account_id, application_id, created_at,
		last_used_at, ended_at) VALUES (?, ?, ?, ?, ?, ?)`,
		s.ID, s.AccountID, s.ApplicationID, glucose.MS(s.CreatedAt), glucose.MS(s.LastUsedAt),
		nullMS(s.EndedAt))
	return err
}

// SessionByID finds a session, open or ended.
func (t *tx) SessionByID(id string) (*glucose.Session, error) {
	var (
		s             glucose.Session
		created, used int64
		ended         sql.NullInt64
	)
	err := t.queryRow(`SELECT id, account_id, application_id, created_at, last_used_at, ended_at
		FROM sessions WHERE id = ?`, id).
		Scan(&s.ID, &s.AccountID, &s.ApplicationID, &created, &used, &ended)
	if err != nil {
		return nil, t.db.mapError(err)
	}
	s.CreatedAt, s.LastUsedAt, s.EndedAt = glucose.FromMS(created), glucose.FromMS(used), fromNullMS(ended)
	return &s, nil
}

// TouchSession records a use of the session.
func (t *tx) TouchSession(id string, at time.Time) error {
	return t.change(`UPDATE sessions SET last_used_at = ? WHERE id = ?`, glucose.MS(at), id)
}

// EndSession ends the session; ending an ended session keeps its first end.
func (t *tx) EndSession(id string, at time.Time) error {
	return t.change(`UPDATE sessions SET ended_at = COALESCE(ended_at, ?) WHERE id = ?`,
		glucose.MS(at), id)
}

// EndOtherSessions ends every open session of the account but keep.
func (t *tx) EndOtherSessions(accountID, keep string, at time.Time) error {
	_, err := t.exec(`UPDATE sessions SET ended_at = ?
		WHERE account_id = ? AND id <> ? AND ended_at IS NULL`, glucose.MS(at), accountID, keep)
	return err
}

// EvictSessions ends the least recently used open sessions of the account
// beyond the keep most recently used.
func (t *tx) EvictSessions(accountID string, keep int, at time.Time) error {
	_, err := t.exec(`UPDATE sessions SET ended_at = ? WHERE id IN (
		SELECT id FROM (
			SELECT id, ROW_NUMBER() OVER (ORDER BY last_used_at DESC, id DESC) AS recency
			FROM sessions WHERE account_id = ? AND ended_at IS NULL
		) ranked WHERE recency > ?)`, glucose.MS(at), accountID, max(keep, 0))
	return err
}

// ForgetSessions deletes the sessions that ended, or were last used,
// before cutoff.
func (t *tx) ForgetSessions(cutoff time.Time) (int, error) {
	ms := glucose.MS(cutoff)
	return t.count(`DELETE FROM sessions
		WHERE ended_at < ? OR (ended_at IS NULL AND last_used_at < ?)`, ms, ms)
}

// sessionAccountQuery reads a session and its account in one statement:
// every authenticated request starts with it.
var sessionAccountQuery = `SELECT s.id, s.account_id, s.application_id, s.created_at, s.last_used_at, s.ended_at, ` +
	prefixColumns("a.", accountColumns) + ` FROM sessions s JOIN accounts a ON a.id = s.account_id WHERE s.id = ?`

// prefixColumns qualifies each column of a comma-separated list.
func prefixColumns(prefix, columns string) string {
	parts := strings.Split(columns, ",")
	for i, p := range parts {
		parts[i] = prefix + strings.TrimSpace(p)
	}
	return strings.Join(parts, ", ")
}

// SessionWithAccount finds a session, open or ended, and its account.
func (t *tx) SessionWithAccount(id string) (*glucose.Session, *glucose.Account, error) {
	var (
		s                     glucose.Session
		a                     glucose.Account
		created, used, acctAt int64
		ended                 sql.NullInt64
	)
	err := t.queryRow(sessionAccountQuery, id).Scan(&s.ID, &s.AccountID, &s.ApplicationID, &created, &used, &ended,
		&a.ID, &a.Name, &a.DisplayName, &a.Email, &a.PasswordHash, &a.Disabled,
		&a.Compat, &a.Units, &acctAt, &a.Serial, &a.ReceiverID, &a.Monitoring)
	if err != nil {
		return nil, nil, t.db.mapError(err)
	}
	s.CreatedAt, s.LastUsedAt, s.EndedAt = glucose.FromMS(created), glucose.FromMS(used), fromNullMS(ended)
	a.CreatedAt = glucose.FromMS(acctAt)
	return &s, &a, nil
}
