package glucose

import "time"

// NightscoutToken is an access token for the Nightscout-compatible API
// (internal/nightscout). The token itself is shown once, when it is made;
// only Key, the hex SHA-256 of the token, is stored.
type NightscoutToken struct {
	ID        string
	AccountID string // the account that holds the token
	Key       string // hex SHA-256 of the token
	ReadOnly  bool
	// SubscriptionID, when set, makes this a follower's token: it reads the
	// publisher of that subscription (which AccountID must follow) within
	// the subscription's permissions, and never writes.
	SubscriptionID string
	CreatedAt      time.Time
}

// NightscoutTx stores the credentials of the Nightscout-compatible API and
// answers its range reads.
type NightscoutTx interface {
	// SetNightscoutSecret stores the lookup key of the account's API
	// secret, replacing any previous one. ErrConflict when another
	// account's secret has the same key (the secret identifies the
	// account, so two accounts cannot share one).
	SetNightscoutSecret(accountID, key string, at time.Time) error
	// DeleteNightscoutSecret removes the account's secret; ErrNotFound when
	// it has none.
	DeleteNightscoutSecret(accountID string) error
	// AccountByNightscoutSecret finds the account whose secret has key.
	AccountByNightscoutSecret(key string) (*Account, error)

	// CreateNightscoutToken inserts t, giving it an id when t.ID is empty.
	CreateNightscoutToken(t *NightscoutToken) error
	// NightscoutTokenByKey finds a token by its key.
	NightscoutTokenByKey(key string) (*NightscoutToken, error)
	// NightscoutTokens lists the account's tokens, oldest first.
	NightscoutTokens(accountID string) ([]NightscoutToken, error)
	// DeleteNightscoutToken deletes one of the account's tokens;
	// ErrNotFound when the account has no token with that id.
	DeleteNightscoutToken(accountID, id string) error

	// ReadingsBetween returns the account's readings with from <= ST < to,
	// newest first, at most max.
	ReadingsBetween(accountID string, from, to int64, max int) ([]Reading, error)
}
