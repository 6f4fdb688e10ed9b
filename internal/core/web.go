package core

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/glucoshare/glucoshare/internal/events"
	"github.com/glucoshare/glucoshare/internal/glucose"
	"github.com/glucoshare/glucoshare/share"
)

// Read-token limits.
const (
	MaxReadTokens     = 20 // per account
	MaxReadTokenLabel = 100
)

// Events returns the hub live events go to; nil when none was set.
func (s *Service) Events() *events.Hub { return s.hub }

// Access is what a viewer may see of a publisher's readings.
type Access struct {
	PublisherID string
	// History is false for a follower whose subscription has permissions
	// 0: only the newest value may be shown (docs/protocol.md, "Follower state machine").
	History bool
	// Units are those of the account a read token belongs to (TokenAccess):
	// an image link shows values as its creator reads them. ViewerAccess
	// leaves them unset; its caller has the viewer's account.
	Units glucose.Units
}

// errNoAccess is the single answer for a publisher the viewer may not see,
// an unknown publisher, and an unknown or revoked token.
var errNoAccess = glucose.ErrNotFound

// ViewerAccess tells what the account may see of the publisher's readings:
// everything of its own; through its Active subscriptions to the
// publisher, history when any of them has permissions 1. Otherwise it
// returns glucose.ErrNotFound.
func (s *Service) ViewerAccess(ctx context.Context, viewerID, rawPublisherID string) (Access, error) {
	publisherID, ok := parseRef(rawPublisherID)
	if !ok {
		return Access{}, errNoAccess
	}
	if publisherID == viewerID {
		return Access{PublisherID: publisherID, History: true}, nil
	}
	subs, err := s.SubscriberSubscriptions(ctx, viewerID)
	if err != nil {
		return Access{}, err
	}
	found := false
	a := Access{PublisherID: publisherID}
	for _, sub := range subs {
		if sub.PublisherID == publisherID && sub.State == glucose.StateActive && !sub.PublisherDisabled {
			found = true
			a.History = a.History || sub.Permissions > 0
		}
	}
	if !found {
		return Access{}, errNoAccess
	}
	return a, nil
}

// TokenAccess tells what a read token shows of the publisher's readings,
// checking a follower's subscription as it is now. An unknown token, a
// token of another publisher and a subscription that is not Active all
// answer glucose.ErrNotFound.
func (s *Service) TokenAccess(ctx context.Context, token, rawPublisherID string) (Access, error) {
	publisherID, ok := parseRef(rawPublisherID)
	if !ok || token == "" || len(token) > 64 {
		return Access{}, errNoAccess
	}
	var a Access
	err := s.store.View(ctx, func(tx glucose.Tx) error {
		rt, err := tx.ReadTokenByHash(hashToken(token))
		if err != nil {
			return err
		}
		if rt.PublisherID != publisherID {
			return errNoAccess
		}
		// The token's creator and the publisher must both be enabled: a
		// disabled account neither shows its readings nor reads others'.
		creator, err := tx.AccountByID(rt.AccountID)
		if err != nil {
			return err
		}
		if creator.Disabled {
			return errNoAccess
		}
		a = Access{PublisherID: publisherID, History: true, Units: creator.Units}
		if rt.SubscriptionID == "" {
			return nil
		}
		sub, err := tx.SubscriptionByID(rt.SubscriptionID)
		if err != nil {
			return err
		}
		if sub.SubscriberID != rt.AccountID || sub.State != glucose.StateActive || sub.PublisherDisabled {
			return errNoAccess
		}
		a.History = sub.Permissions > 0
		return nil
	})
	if err != nil {
		return Access{}, err
	}
	return a, nil
}

// hashToken is what the store keeps of a token.
func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// CreateReadToken creates a read token for the account's own readings
// (rawSubscriptionID "") or for a subscription it follows (in states 6, 7
// or 8), and returns the token — shown once, never stored — with its row.
func (s *Service) CreateReadToken(ctx context.Context, accountID, rawSubscriptionID, label string, now time.Time) (string, *glucose.ReadToken, error) {
	label = strings.TrimSpace(label)
	if utf8.RuneCountInString(label) > MaxReadTokenLabel || !utf8.ValidString(label) || hasControl(label) {
		return "", nil, glucose.InvalidArgument("label must be at most %d characters without control characters", MaxReadTokenLabel)
	}
	rt := &glucose.ReadToken{ID: share.NewID(), AccountID: accountID, PublisherID: accountID, Label: label, CreatedAt: now}
	if rawSubscriptionID != "" {
		err := s.publisherRead(ctx, accountID, rawSubscriptionID, now, func(sub *glucose.Subscription) {
			rt.PublisherID, rt.SubscriptionID = sub.PublisherID, sub.ID
		})
		if err != nil {
			return "", nil, err
		}
	}
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", nil, err
	}
	token := base64.RawURLEncoding.EncodeToString(b[:])
	rt.Hash = hashToken(token)
	err := s.store.Update(ctx, func(tx glucose.Tx) error {
		have, err := tx.ReadTokens(accountID)
		if err != nil {
			return err
		}
		if len(have) >= MaxReadTokens {
			return glucose.InvalidArgument("an account may have at most %d image links", MaxReadTokens)
		}
		return tx.CreateReadToken(rt)
	})
	if err != nil {
		return "", nil, err
	}
	return token, rt, nil
}

// ReadTokens lists the read tokens the account created.
func (s *Service) ReadTokens(ctx context.Context, accountID string) ([]glucose.ReadToken, error) {
	var out []glucose.ReadToken
	err := s.store.View(ctx, func(tx glucose.Tx) (err error) {
		out, err = tx.ReadTokens(accountID)
		return err
	})
	return out, err
}

// DeleteReadToken revokes one of the account's read tokens.
func (s *Service) DeleteReadToken(ctx context.Context, accountID, rawID string) error {
	id, ok := parseRef(rawID)
	err := glucose.ErrNotFound
	if ok {
		err = s.store.Update(ctx, func(tx glucose.Tx) error { return tx.DeleteReadToken(accountID, id) })
	}
	if errors.Is(err, glucose.ErrNotFound) {
		return glucose.InvalidArgument("no image link %s", sanitizeID(rawID))
	}
	return err
}
