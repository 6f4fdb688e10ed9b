package core

import (
	"context"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/glucoshare/glucoshare/internal/glucose"
	"github.com/glucoshare/glucoshare/share"
)

// Credentials and ingestion of the Nightscout-compatible API
// (internal/nightscout speaks the protocol; the rules are here).
//
// Why the secret is stored as a fast, unsalted hash: Nightscout clients
// (xDrip+, AndroidAPS, share2nightscout-bridge) send the API secret as
// `api-secret: <hex SHA-1 of the secret>` and nothing else — no account
// name, no salt, no challenge. The header alone has to find the account, so
// the stored value must be a deterministic function of that SHA-1 hex; a
// salted, slow hash such as the passwords' argon2id cannot be looked up.
// glucoshare stores SHA-256 of the SHA-1 hex, so that a copy of the
// database is not itself a working api-secret header, but a weak secret is
// only as strong as a fast hash makes it. Hence the rules: at least
// MinNightscoutSecretLength characters, and never the account's password
// (an uploader's configuration then cannot give the password away).

// MinNightscoutSecretLength is the shortest API secret accepted; Nightscout
// itself and share2nightscout-bridge refuse shorter ones.
const MinNightscoutSecretLength = 12

// nightscoutTokenPrefix marks glucoshare's access tokens, so that one found
// in a log or a configuration file is recognisable.
const nightscoutTokenPrefix = "gs-"

// ErrNightscoutDenied is the one answer for a missing, unknown or
// insufficient Nightscout credential.
var ErrNightscoutDenied = errors.New("nightscout: credential not accepted")

// NightscoutAccess is what a Nightscout credential grants.
type NightscoutAccess struct {
	// AccountID is the account whose readings are read (and written).
	AccountID string
	Write     bool
	// CurrentOnly restricts reads to the newest reading: a follower's
	// token on a subscription with permission 0 ("current value only").
	CurrentOnly bool
}

// NightscoutSecretHash returns what a Nightscout client sends for secret:
// its SHA-1 in lower-case hex.
func NightscoutSecretHash(secret string) string {
	sum := sha1.Sum([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// nightscoutSecretKey returns the stored lookup key for an api-secret
// value: SHA-256 of the lower-case SHA-1 hex. A value that is not 40 hex
// digits is taken as the secret itself and hashed first, as Nightscout
// does.
func nightscoutSecretKey(apiSecret string) string {
	h := strings.ToLower(strings.TrimSpace(apiSecret))
	if len(h) != sha1.Size*2 || !isHex(h) {
		h = NightscoutSecretHash(apiSecret)
	}
	return secretKeyOfHash(h)
}

// secretKeyOfHash returns the lookup key of a secret's SHA-1 hex.
func secretKeyOfHash(sha1Hex string) string {
	return sha256Hex("nightscout-secret:" + sha1Hex)
}

// nightscoutTokenKey returns the stored lookup key of an access token.
func nightscoutTokenKey(token string) string {
	return sha256Hex("nightscout-token:" + strings.TrimSpace(token))
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// SetNightscoutSecret sets the account's Nightscout API secret. It must be
// at least MinNightscoutSecretLength characters, differ from the account's
// password, and differ from every other account's secret (the secret alone
// names the account).
func (s *Service) SetNightscoutSecret(ctx context.Context, accountID, secret string, now time.Time) error {
	if n := utf8.RuneCountInString(secret); n < MinNightscoutSecretLength || n > 256 {
		return glucose.InvalidArgument("the API secret must be %d to 256 characters", MinNightscoutSecretLength)
	}
	var acct *glucose.Account
	err := s.store.View(ctx, func(tx glucose.Tx) (err error) {
		acct, err = tx.AccountByID(accountID)
		return err
	})
	if err != nil {
		return err
	}
	if acct.PasswordHash != "" {
		same, err := s.hasher.Verify(ctx, acct.PasswordHash, secret)
		if err != nil {
			return err
		}
		if same {
			return glucose.InvalidArgument("the API secret must differ from the account's password")
		}
	}
	err = s.store.Update(ctx, func(tx glucose.Tx) error {
		return tx.SetNightscoutSecret(accountID, secretKeyOfHash(NightscoutSecretHash(secret)), now)
	})
	if errors.Is(err, glucose.ErrConflict) {
		return glucose.InvalidArgument("another account already uses this API secret; choose another")
	}
	return err
}

// RemoveNightscoutSecret removes the account's API secret.
func (s *Service) RemoveNightscoutSecret(ctx context.Context, accountID string) error {
	err := s.store.Update(ctx, func(tx glucose.Tx) error { return tx.DeleteNightscoutSecret(accountID) })
	if errors.Is(err, glucose.ErrNotFound) {
		return fmt.Errorf("the account has no Nightscout API secret")
	}
	return err
}

// CreateNightscoutToken makes a new access token for the account and
// returns it with its stored record. The token is returned only here; the
// store keeps its SHA-256.
func (s *Service) CreateNightscoutToken(ctx context.Context, accountID string, readOnly bool, now time.Time) (string, *glucose.NightscoutToken, error) {
	token, t := newNightscoutToken(accountID, readOnly, now)
	err := s.store.Update(ctx, func(tx glucose.Tx) error { return tx.CreateNightscoutToken(t) })
	if err != nil {
		return "", nil, err
	}
	return token, t, nil
}

// newNightscoutToken draws a token of 128 random bits and its record.
func newNightscoutToken(accountID string, readOnly bool, now time.Time) (string, *glucose.NightscoutToken) {
	var b [16]byte
	rand.Read(b[:])
	token := nightscoutTokenPrefix + hex.EncodeToString(b[:])
	return token, &glucose.NightscoutToken{AccountID: accountID, Key: nightscoutTokenKey(token), ReadOnly: readOnly, CreatedAt: now}
}

// NightscoutTokens lists the account's access tokens (without the tokens).
func (s *Service) NightscoutTokens(ctx context.Context, accountID string) ([]glucose.NightscoutToken, error) {
	var ts []glucose.NightscoutToken
	err := s.store.View(ctx, func(tx glucose.Tx) (err error) {
		ts, err = tx.NightscoutTokens(accountID)
		return err
	})
	return ts, err
}

// RevokeNightscoutToken deletes one of the account's access tokens.
func (s *Service) RevokeNightscoutToken(ctx context.Context, accountID, id string) error {
	err := s.store.Update(ctx, func(tx glucose.Tx) error { return tx.DeleteNightscoutToken(accountID, id) })
	if errors.Is(err, glucose.ErrNotFound) {
		return fmt.Errorf("the account has no Nightscout token %q", id)
	}
	return err
}

// NightscoutSecretAccess checks an api-secret value (the SHA-1 hex of a
// secret, or the secret itself) and grants full access to its account.
// The look-up is by SHA-256 of the value, so the database index compares
// digests an attacker cannot steer, never the credential itself.
func (s *Service) NightscoutSecretAccess(ctx context.Context, apiSecret string) (*NightscoutAccess, error) {
	if strings.TrimSpace(apiSecret) == "" {
		return nil, ErrNightscoutDenied
	}
	var acct *glucose.Account
	err := s.store.View(ctx, func(tx glucose.Tx) (err error) {
		acct, err = tx.AccountByNightscoutSecret(nightscoutSecretKey(apiSecret))
		return err
	})
	switch {
	case errors.Is(err, glucose.ErrNotFound):
		return nil, ErrNightscoutDenied
	case err != nil:
		return nil, err
	case acct.Disabled:
		return nil, ErrNightscoutDenied
	}
	return &NightscoutAccess{AccountID: acct.ID, Write: true}, nil
}

// NightscoutTokenAccess checks an access token. An account's own token
// reads its readings and, unless read-only, writes them. A follower's
// token (one made for a subscription) reads the publisher while the
// subscription is Active, within its permissions, and never writes.
func (s *Service) NightscoutTokenAccess(ctx context.Context, token string, now time.Time) (*NightscoutAccess, error) {
	if strings.TrimSpace(token) == "" {
		return nil, ErrNightscoutDenied
	}
	key := nightscoutTokenKey(token)
	var acc *NightscoutAccess
	err := s.store.View(ctx, func(tx glucose.Tx) error {
		t, err := tx.NightscoutTokenByKey(key)
		if err != nil {
			return err
		}
		if subtle.ConstantTimeCompare([]byte(t.Key), []byte(key)) != 1 {
			return ErrNightscoutDenied
		}
		holder, err := tx.AccountByID(t.AccountID)
		if err != nil {
			return err
		}
		if holder.Disabled {
			return ErrNightscoutDenied
		}
		if t.SubscriptionID != "" {
			acc, err = followerAccess(tx, t, now)
			return err
		}
		acc = &NightscoutAccess{AccountID: t.AccountID, Write: !t.ReadOnly}
		return nil
	})
	if errors.Is(err, glucose.ErrNotFound) {
		return nil, ErrNightscoutDenied
	}
	return acc, err
}

// followerAccess resolves a follower's token, checked at every request
// like ReadSubscriptionLatestGlucoseValues (§3.7, §3.8): the token reads
// the publisher while its holder follows the subscription and it is
// Active; with permission 0 only the newest reading.
func followerAccess(tx glucose.Tx, t *glucose.NightscoutToken, now time.Time) (*NightscoutAccess, error) {
	sub, err := tx.SubscriptionByID(t.SubscriptionID)
	if err != nil {
		return nil, err
	}
	sub.Expire(now)
	if sub.SubscriberID != t.AccountID || sub.State != glucose.StateActive {
		return nil, ErrNightscoutDenied
	}
	return &NightscoutAccess{AccountID: sub.PublisherID, CurrentOnly: sub.Permissions == 0}, nil
}

// CreateNightscoutFollowerToken makes a read-only access token with which
// a follower reads the publisher of a subscription it accepted, within the
// subscription's permissions (checked at every request, so pausing,
// cancelling or narrowing the subscription applies at once).
func (s *Service) CreateNightscoutFollowerToken(ctx context.Context, followerID, rawSubscriptionID string, now time.Time) (string, *glucose.NightscoutToken, error) {
	id, ok := share.ParseID(rawSubscriptionID)
	notFollowed := fmt.Errorf("the account follows no subscription %q", rawSubscriptionID)
	if !ok {
		return "", nil, notFollowed
	}
	token, t := newNightscoutToken(followerID, true, now)
	t.SubscriptionID = id
	err := s.store.Update(ctx, func(tx glucose.Tx) error {
		sub, err := tx.SubscriptionByID(id)
		switch {
		case errors.Is(err, glucose.ErrNotFound):
			return notFollowed
		case err != nil:
			return err
		case sub.SubscriberID != followerID || !sub.State.Accepted():
			return notFollowed
		}
		return tx.CreateNightscoutToken(t)
	})
	if err != nil {
		return "", nil, err
	}
	return token, t, nil
}

// NightscoutReadings returns the readings the access may read with
// from <= ST < to, newest first, at most max. Under CurrentOnly only the
// account's newest reading is ever returned, and only when it lies in the
// range.
func (s *Service) NightscoutReadings(ctx context.Context, acc *NightscoutAccess, from, to int64, max int) ([]glucose.Reading, error) {
	var rs []glucose.Reading
	err := s.store.View(ctx, func(tx glucose.Tx) (err error) {
		if !acc.CurrentOnly {
			rs, err = tx.ReadingsBetween(acc.AccountID, from, to, max)
			return err
		}
		if rs, err = tx.ReadingsBetween(acc.AccountID, math.MinInt64, math.MaxInt64, 1); err != nil {
			return err
		}
		if max < 1 || len(rs) == 1 && (rs[0].ST < from || rs[0].ST >= to) {
			rs = rs[:0]
		}
		return nil
	})
	return rs, err
}

// ImportReadings stores readings for an account as the Nightscout API
// receives them: with the value and time rules of PostReceiverEgvRecords
// (§3.4 step 5: special values skipped, 13–38 and 402+ clamped, too old
// skipped, more than 5 minutes ahead discarded, first write wins), but
// without its monitoring and receiver checks — a Nightscout uploader knows
// nothing of Share receivers. All are committed in one transaction. It
// returns the readings that passed the rules (stored now, or already
// stored) and what happened to the others. Followers' alarms are
// evaluated after the commit, as after a Share upload (§5.4).
func (s *Service) ImportReadings(ctx context.Context, accountID string, egvs []EGV, now time.Time) ([]glucose.Reading, PostResult, error) {
	var (
		res               PostResult
		rs                []glucose.Reading
		alarmWork, resent bool
	)
	err := s.store.Update(ctx, func(tx glucose.Tx) (err error) {
		res, alarmWork, resent = PostResult{}, false, false
		rs = s.acceptable(egvs, now, &res)
		if len(rs) == 0 {
			return nil
		}
		alarmWork, resent, err = storeReadings(tx, accountID, rs, &res)
		return err
	})
	if err != nil {
		return nil, PostResult{}, err
	}
	s.m.EGVs(res.Stored)
	s.afterUpload(ctx, accountID, now, res.Stored > 0, alarmWork, resent)
	return rs, res, nil
}
