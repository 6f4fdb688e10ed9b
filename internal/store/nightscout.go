package store

import (
	"database/sql"
	"time"

	"github.com/glucoshare/glucoshare/internal/glucose"
)

// SetNightscoutSecret stores the lookup key of the account's API secret,
// replacing any previous one. The unique index on secret_key answers
// ErrConflict when another account's secret has the same key; the savepoint
// keeps the transaction usable after it.
func (t *tx) SetNightscoutSecret(accountID, key string, at time.Time) error {
	_, err := t.guarded(`INSERT INTO nightscout_secrets (account_id, secret_key, updated_at)
		VALUES (?, ?, ?)
		ON CONFLICT (account_id) DO UPDATE SET secret_key = excluded.secret_key,
			updated_at = excluded.updated_at`,
		accountID, key, glucose.MS(at))
	return err
}

// DeleteNightscoutSecret removes the account's secret.
func (t *tx) DeleteNightscoutSecret(accountID string) error {
	return t.change(`DELETE FROM nightscout_secrets WHERE account_id = ?`, accountID)
}

// AccountByNightscoutSecret finds the account whose secret has key.
func (t *tx) AccountByNightscoutSecret(key string) (*glucose.Account, error) {
	a, err := scanAccount(t.queryRow(`SELECT `+accountColumns+` FROM accounts
		WHERE id = (SELECT account_id FROM nightscout_secrets WHERE secret_key = ?)`, key))
	return a, t.db.mapError(err)
}

const nightscoutTokenColumns = `id, account_id, token_key, read_only, subscription_id, created_at`

func scanNightscoutToken(s scanner) (*glucose.NightscoutToken, error) {
	var (
		tok     glucose.NightscoutToken
		sub     sql.NullString
		created int64
	)
	if err := s.Scan(&tok.ID, &tok.AccountID, &tok.Key, &tok.ReadOnly, &sub, &created); err != nil {
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
		VALUES (?, ?, ?, ?, ?, ?)`,
		tok.ID, tok.AccountID, tok.Key, tok.ReadOnly, sub, glucose.MS(tok.CreatedAt))
	return err
}

// NightscoutTokenByKey finds a token by its key.
func (t *tx) NightscoutTokenByKey(key string) (*glucose.NightscoutToken, error) {
	tok, err := scanNightscoutToken(t.queryRow(`SELECT `+nightscoutTokenColumns+`
		FROM nightscout_tokens WHERE token_key = ?`, key))
	return tok, t.db.mapError(err)
}

// NightscoutTokens lists the account's tokens, oldest first.
func (t *tx) NightscoutTokens(accountID string) ([]glucose.NightscoutToken, error) {
	rows, err := t.query(`SELECT `+nightscoutTokenColumns+` FROM nightscout_tokens
		WHERE account_id = ? ORDER BY created_at, id`, accountID)
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

// DeleteNightscoutToken deletes one of the account's tokens.
func (t *tx) DeleteNightscoutToken(accountID, id string) error {
	return t.change(`DELETE FROM nightscout_tokens WHERE account_id = ? AND id = ?`, accountID, id)
}

// ReadingsBetween returns the account's readings with from <= ST < to,
// newest first, at most max. The primary key (account_id, st) serves the
// range scan.
func (t *tx) ReadingsBetween(accountID string, from, to int64, max int) ([]glucose.Reading, error) {
	if max <= 0 || from >= to {
		return []glucose.Reading{}, nil
	}
	return t.readings(`WHERE account_id = ? AND st >= ? AND st < ? ORDER BY st DESC LIMIT ?`, accountID, from, to, max)
}
