package store

import (
	"database/sql"
	"strings"

	"github.com/glucoshare/glucoshare/internal/glucose"
)

// SetNightscoutSecret stores the lookup key of the account's API secret,
// replacing any previous one. The unique index on secret_key answers
// ErrConflict when another account's secret has the same key; the savepoint
// keeps the transaction usable after it.
func (t *tx) SetNightscoutSecret(s *glucose.NightscoutSecret) error {
	_, err := t.guarded(`INSERT INTO nightscout_secrets (account_id, secret_key, key_id, updated_at)
		VALUES (?, ?, ?, ?)
		ON CONFLICT (account_id) DO UPDATE SET secret_key = excluded.secret_key,
			key_id = excluded.key_id, updated_at = excluded.updated_at`,
		s.AccountID, s.Key, s.KeyID, glucose.MS(s.UpdatedAt))
	return err
}

// DeleteNightscoutSecret removes the account's secret.
func (t *tx) DeleteNightscoutSecret(accountID string) error {
	return t.change(`DELETE FROM nightscout_secrets WHERE account_id = ?`, accountID)
}

const nightscoutSecretColumns = `account_id, secret_key, key_id, updated_at`

func scanNightscoutSecret(s scanner) (*glucose.NightscoutSecret, error) {
	var (
		sec     glucose.NightscoutSecret
		updated int64
	)
	if err := s.Scan(&sec.AccountID, &sec.Key, &sec.KeyID, &updated); err != nil {
		return nil, err
	}
	sec.UpdatedAt = glucose.FromMS(updated)
	return &sec, nil
}

// placeholders returns n comma-separated placeholders.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// keysArgs turns lookup keys into arguments; at least one, so that the IN
// list is never empty.
func keysArgs(keys []string) []any {
	if len(keys) == 0 {
		return []any{""}
	}
	args := make([]any, len(keys))
	for i, k := range keys {
		args[i] = k
	}
	return args
}

// NightscoutSecretByKeys finds the secret whose key is one of keys;
// ErrConflict when two rows match (one key form each: see
// core/nightscout_keys.go), since the credential then names no account.
func (t *tx) NightscoutSecretByKeys(keys []string) (*glucose.NightscoutSecret, error) {
	args := keysArgs(keys)
	rows, err := t.query(`SELECT `+nightscoutSecretColumns+` FROM nightscout_secrets
		WHERE secret_key IN (`+placeholders(len(args))+`) LIMIT 2`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var found []*glucose.NightscoutSecret
	for rows.Next() {
		s, err := scanNightscoutSecret(rows)
		if err != nil {
			return nil, t.db.mapError(err)
		}
		found = append(found, s)
	}
	return one(found, t.db.mapError(rows.Err()))
}

// one returns the single element of found: ErrNotFound for none,
// ErrConflict for more.
func one[T any](found []*T, err error) (*T, error) {
	switch {
	case err != nil:
		return nil, err
	case len(found) == 0:
		return nil, glucose.ErrNotFound
	case len(found) > 1:
		return nil, glucose.ErrConflict
	}
	return found[0], nil
}

// NightscoutSecrets lists every account's secret.
func (t *tx) NightscoutSecrets() ([]glucose.NightscoutSecret, error) {
	rows, err := t.query(`SELECT ` + nightscoutSecretColumns + ` FROM nightscout_secrets ORDER BY account_id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	secs := []glucose.NightscoutSecret{}
	for rows.Next() {
		s, err := scanNightscoutSecret(rows)
		if err != nil {
			return nil, t.db.mapError(err)
		}
		secs = append(secs, *s)
	}
	return secs, t.db.mapError(rows.Err())
}

// RekeyNightscoutSecret replaces the secret's key when it is still
// oldKey; ErrConflict, the transaction usable, when another row has
// newKey.
func (t *tx) RekeyNightscoutSecret(accountID, oldKey, newKey, keyID string) error {
	return t.guardedChange(`UPDATE nightscout_secrets SET secret_key = ?, key_id = ?
		WHERE account_id = ? AND secret_key = ?`, newKey, keyID, accountID, oldKey)
}

// guardedChange is change inside a savepoint (guarded).
func (t *tx) guardedChange(q string, args ...any) error {
	res, err := t.guarded(q, args...)
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err == nil && n == 0 {
		err = glucose.ErrNotFound
	}
	return err
}

const nightscoutTokenColumns = `id, account_id, token_key, key_id, name, read_only, subscription_id, created_at`

func scanNightscoutToken(s scanner) (*glucose.NightscoutToken, error) {
	var (
		tok     glucose.NightscoutToken
		sub     sql.NullString
		created int64
	)
	if err := s.Scan(&tok.ID, &tok.AccountID, &tok.Key, &tok.KeyID, &tok.Name, &tok.ReadOnly, &sub, &created); err != nil {
		return nil, err
	}
	tok.SubscriptionID = sub.String
	tok.CreatedAt = glucose.FromMS(created)
	return &tok, nil
}

// CreateNightscoutToken inserts tok, giving it an id when tok.ID is empty.
func (t *tx) CreateNightscoutToken(tok *glucose.NightscoutToken) error {
	if tok.ID == "" {
		tok.ID = newID()
	}
	sub := sql.NullString{String: tok.SubscriptionID, Valid: tok.SubscriptionID != ""}
	_, err := t.guarded(`INSERT INTO nightscout_tokens (`+nightscoutTokenColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		tok.ID, tok.AccountID, tok.Key, tok.KeyID, tok.Name, tok.ReadOnly, sub, glucose.MS(tok.CreatedAt))
	return err
}

// NightscoutTokenByKeys finds the token whose key is one of keys;
// ErrConflict when two match.
func (t *tx) NightscoutTokenByKeys(keys []string) (*glucose.NightscoutToken, error) {
	args := keysArgs(keys)
	toks, err := t.nightscoutTokens(`WHERE token_key IN (`+placeholders(len(args))+`) LIMIT 2`, args...)
	found := make([]*glucose.NightscoutToken, len(toks))
	for i := range toks {
		found[i] = &toks[i]
	}
	return one(found, err)
}

// NightscoutTokenByID finds a token by its id.
func (t *tx) NightscoutTokenByID(id string) (*glucose.NightscoutToken, error) {
	tok, err := scanNightscoutToken(t.queryRow(`SELECT `+nightscoutTokenColumns+`
		FROM nightscout_tokens WHERE id = ?`, id))
	return tok, t.db.mapError(err)
}

// NightscoutTokens lists the account's tokens, oldest first.
func (t *tx) NightscoutTokens(accountID string) ([]glucose.NightscoutToken, error) {
	return t.nightscoutTokens(`WHERE account_id = ? ORDER BY created_at, id`, accountID)
}

// AllNightscoutTokens lists every account's tokens.
func (t *tx) AllNightscoutTokens() ([]glucose.NightscoutToken, error) {
	return t.nightscoutTokens(`ORDER BY id`)
}

func (t *tx) nightscoutTokens(where string, args ...any) ([]glucose.NightscoutToken, error) {
	rows, err := t.query(`SELECT `+nightscoutTokenColumns+` FROM nightscout_tokens `+where, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	toks := []glucose.NightscoutToken{}
	for rows.Next() {
		tok, err := scanNightscoutToken(rows)
		if err != nil {
			return nil, t.db.mapError(err)
		}
		toks = append(toks, *tok)
	}
	return toks, t.db.mapError(rows.Err())
}

// RekeyNightscoutToken replaces the token's key when it is still oldKey;
// ErrConflict, the transaction usable, when another row has newKey.
func (t *tx) RekeyNightscoutToken(id, oldKey, newKey, keyID string) error {
	return t.guardedChange(`UPDATE nightscout_tokens SET token_key = ?, key_id = ?
		WHERE id = ? AND token_key = ?`, newKey, keyID, id, oldKey)
}

// DeleteNightscoutToken deletes one of the account's tokens.
func (t *tx) DeleteNightscoutToken(accountID, id string) error {
	return t.change(`DELETE FROM nightscout_tokens WHERE account_id = ? AND id = ?`, accountID, id)
}

// SetNightscoutSite creates or replaces the account's site.
func (t *tx) SetNightscoutSite(s *glucose.NightscoutSite) error {
	_, err := t.guarded(`INSERT INTO nightscout_sites (account_id, handle, anonymous_read) VALUES (?, ?, ?)
		ON CONFLICT (account_id) DO UPDATE SET handle = excluded.handle,
			anonymous_read = excluded.anonymous_read`,
		s.AccountID, s.Handle, s.AnonymousRead)
	return err
}

func scanNightscoutSite(row *sql.Row) (*glucose.NightscoutSite, error) {
	var s glucose.NightscoutSite
	if err := row.Scan(&s.AccountID, &s.Handle, &s.AnonymousRead); err != nil {
		return nil, err
	}
	return &s, nil
}

// NightscoutSite returns the account's site.
func (t *tx) NightscoutSite(accountID string) (*glucose.NightscoutSite, error) {
	s, err := scanNightscoutSite(t.queryRow(`SELECT account_id, handle, anonymous_read
		FROM nightscout_sites WHERE account_id = ?`, accountID))
	return s, t.db.mapError(err)
}

// NightscoutSiteByHandle finds a site by its handle.
func (t *tx) NightscoutSiteByHandle(handle string) (*glucose.NightscoutSite, error) {
	s, err := scanNightscoutSite(t.queryRow(`SELECT account_id, handle, anonymous_read
		FROM nightscout_sites WHERE handle = ?`, handle))
	return s, t.db.mapError(err)
}

// DeleteNightscoutSite removes the account's site.
func (t *tx) DeleteNightscoutSite(accountID string) error {
	return t.change(`DELETE FROM nightscout_sites WHERE account_id = ?`, accountID)
}

// ReadingsBetween returns the account's readings with from <= ST < to,
// newest first, at most max. The primary key (account_id, st) serves the
// range scan.
func (t *tx) ReadingsBetween(accountID string, from, to int64, max int) ([]glucose.Reading, error) {
	if max <= 0 || from >= to {
		return []glucose.Reading{}, nil
	}
	return t.readingsUpTo(`WHERE account_id = ? AND st >= ? AND st < ? ORDER BY st DESC`, max, accountID, from, to)
}
