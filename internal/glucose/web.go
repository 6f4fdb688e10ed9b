package glucose

import "time"

// ReadToken lets a watch face, widget or e-ink display fetch glucose images
// of one publisher without a session. Only a hash of the token is stored;
// the token itself is shown once, when it is created.
//
// A publisher's own token (SubscriptionID "") shows its full history. A
// follower's token (SubscriptionID set) shows what that subscription allows
// at the moment of each fetch: nothing unless it is Active, and only the
// newest value when its permissions are 0.
type ReadToken struct {
	ID             string
	AccountID      string // who created it, and may list and revoke it
	PublisherID    string // whose readings it shows
	SubscriptionID string // "" for the publisher's own token
	Hash           string // hex SHA-256 of the token
	Label          string
	CreatedAt      time.Time
}

// WebTx stores the dashboard's read tokens.
type WebTx interface {
	// CreateReadToken inserts t, giving it an id when t.ID is empty.
	CreateReadToken(t *ReadToken) error
	// ReadTokenByHash finds a token by the hash of its secret.
	ReadTokenByHash(hash string) (*ReadToken, error)
	// ReadTokens lists the tokens the account created, oldest first.
	ReadTokens(accountID string) ([]ReadToken, error)
	// DeleteReadToken deletes one of the account's tokens; ErrNotFound
	// when the account has no token with that id.
	DeleteReadToken(accountID, id string) error
}
