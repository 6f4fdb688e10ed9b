package glucose

import "time"

// NightscoutToken is an access token for the Nightscout-compatible API
// (internal/nightscout). The token itself is shown once, when it is made;
// only Key, a digest the token cannot be recovered from, is stored.
type NightscoutToken struct {
	ID        string
	AccountID string // the account that holds the token
	Key       string // lookup digest of the token (core/nightscout_keys.go)
	KeyID     string // how Key was made
	Name      string // shown as the token's subject; "" = none given
	ReadOnly  bool
	// SubscriptionID, when set, makes this a follower's token: it reads the
	// publisher of that subscription (which AccountID must follow) within
	// the subscription's permissions, and never writes.
	SubscriptionID string
	CreatedAt      time.Time
}

// NightscoutSecret is the stored form of an account's API secret.
type NightscoutSecret struct {
	AccountID string
	Key       string // lookup digest of the secret's SHA-1
	KeyID     string // how Key was made
	UpdatedAt time.Time
}

// NightscoutSite is an account's per-account Nightscout address,
// /ns/{Handle}/…: apps that send no credential name the account there.
type NightscoutSite struct {
	AccountID string
	// Handle is public but hard to guess: it is no login name, and with
	// AnonymousRead it is all a reader needs.
	Handle string
	// AnonymousRead lets requests without a credential read the account's
	// data at its handle (Nightscout's AUTH_DEFAULT_ROLES=readable).
	AnonymousRead bool
}

// NightscoutTx stores the credentials of the Nightscout-compatible API and
// answers its range reads.
type NightscoutTx interface {
	// SetNightscoutSecret stores the lookup key of the account's API
	// secret, replacing any previous one. ErrConflict when another
	// account's secret has the same key (the secret identifies the
	// account, so two accounts cannot share one).
	SetNightscoutSecret(s *NightscoutSecret) error
	// DeleteNightscoutSecret removes the account's secret; ErrNotFound when
	// it has none.
	DeleteNightscoutSecret(accountID string) error
	// NightscoutSecretByKeys finds the secret whose key is one of keys;
	// ErrConflict when two secrets match.
	NightscoutSecretByKeys(keys []string) (*NightscoutSecret, error)
	// NightscoutSecrets lists every account's secret (for re-keying).
	NightscoutSecrets() ([]NightscoutSecret, error)
	// RekeyNightscoutSecret replaces the secret's key when it is still
	// oldKey; ErrNotFound when it is not, ErrConflict (the transaction
	// usable) when another credential has newKey.
	RekeyNightscoutSecret(accountID, oldKey, newKey, keyID string) error

	// CreateNightscoutToken inserts t, giving it an id when t.ID is empty.
	CreateNightscoutToken(t *NightscoutToken) error
	// NightscoutTokenByKeys finds the token whose key is one of keys;
	// ErrConflict when two tokens match.
	NightscoutTokenByKeys(keys []string) (*NightscoutToken, error)
	// NightscoutTokenByID finds a token by its id.
	NightscoutTokenByID(id string) (*NightscoutToken, error)
	// NightscoutTokens lists the account's tokens, oldest first.
	NightscoutTokens(accountID string) ([]NightscoutToken, error)
	// AllNightscoutTokens lists every account's tokens (for re-keying).
	AllNightscoutTokens() ([]NightscoutToken, error)
	// RekeyNightscoutToken replaces the token's key when it is still
	// oldKey; ErrNotFound when it is not, ErrConflict (the transaction
	// usable) when another credential has newKey.
	RekeyNightscoutToken(id, oldKey, newKey, keyID string) error
	// DeleteNightscoutToken deletes one of the account's tokens;
	// ErrNotFound when the account has no token with that id.
	DeleteNightscoutToken(accountID, id string) error

	// SetNightscoutSite creates or replaces the account's site;
	// ErrConflict when another account has the handle.
	SetNightscoutSite(s *NightscoutSite) error
	// NightscoutSite returns the account's site; ErrNotFound when none.
	NightscoutSite(accountID string) (*NightscoutSite, error)
	// NightscoutSiteByHandle finds a site by its handle.
	NightscoutSiteByHandle(handle string) (*NightscoutSite, error)
	// DeleteNightscoutSite removes the account's site; ErrNotFound when
	// none.
	DeleteNightscoutSite(accountID string) error

	// ReadingsBetween returns the account's readings with from <= ST < to,
	// newest first, at most max.
	ReadingsBetween(accountID string, from, to int64, max int) ([]Reading, error)
}
