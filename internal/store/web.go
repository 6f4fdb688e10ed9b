package store

import "github.com/glucoshare/glucoshare/internal/glucose"

const readTokenColumns = `id, account_id, publisher_id, COALESCE(subscription_id, ''), token_hash, label, created_at`

func scanReadToken(s scanner) (glucose.ReadToken, error) {
	var (
		rt      glucose.ReadToken
		created int64
	)
	err := s.Scan(&rt.ID, &rt.AccountID, &rt.PublisherID, &rt.SubscriptionID, &rt.Hash, &rt.Label, &created)
	rt.CreatedAt = glucose.FromMS(created)
	return rt, err
}

// CreateReadToken inserts rt, giving it an id when rt.ID is empty.
func (t *tx) CreateReadToken(rt *glucose.ReadToken) error {
	if rt.ID == "" {
		rt.ID = newID()
	}
	_, err := t.exec(`INSERT INTO read_tokens (id, account_id, publisher_id, subscription_id, token_hash, label,
		created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		rt.ID, rt.AccountID, rt.PublisherID, nullString(rt.SubscriptionID), rt.Hash, rt.Label,
		glucose.MS(rt.CreatedAt))
	return err
}

// ReadTokenByHash finds a token by the hash of its secret.
func (t *tx) ReadTokenByHash(hash string) (*glucose.ReadToken, error) {
	rt, err := scanReadToken(t.queryRow(`SELECT `+readTokenColumns+` FROM read_tokens WHERE token_hash = ?`, hash))
	if err != nil {
		return nil, t.db.mapError(err)
	}
	return &rt, nil
}

// ReadTokens lists the tokens the account created, oldest first.
func (t *tx) ReadTokens(accountID string) ([]glucose.ReadToken, error) {
	rows, err := t.query(`SELECT `+readTokenColumns+` FROM read_tokens
		WHERE account_id = ? ORDER BY created_at, id`, accountID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []glucose.ReadToken{}
	for rows.Next() {
		rt, err := scanReadToken(rows)
		if err != nil {
			return nil, t.db.mapError(err)
		}
		out = append(out, rt)
	}
	return out, t.db.mapError(rows.Err())
}

// DeleteReadToken deletes one of the account's tokens.
func (t *tx) DeleteReadToken(accountID, id string) error {
	return t.change(`DELETE FROM read_tokens WHERE id = ? AND account_id = ?`, id, accountID)
}
