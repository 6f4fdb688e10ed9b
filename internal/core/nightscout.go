package core

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/glucoshare/glucoshare/internal/glucose"
	"github.com/glucoshare/glucoshare/share"
)

// Credentials, roles and sites of the Nightscout-compatible API
// (internal/nightscout speaks the protocol; the rules are here). How
// credentials are stored: nightscout_keys.go.
//
// Nightscout's roles map onto glucoshare's credentials so:
//
//	API secret, read-write token  admin ("*"): everything on the account
//	read-only token               readable ("*:*:read")
//	follower token                readable, on the publisher it follows,
//	                              within the subscription's permissions
//	no credential at /ns/{handle} readable, where the owner turned
//	                              anonymous reading on (AUTH_DEFAULT_ROLES)
//
// Nightscout's narrower roles (careportal, devicestatus-upload) have no
// glucoshare counterpart: an app that uploads gets a read-write token.

// MinNightscoutSecretLength is the shortest API secret accepted; Nightscout
// itself and share2nightscout-bridge refuse shorter ones.
const MinNightscoutSecretLength = 12

// MinNightscoutSecretBits is the least estimated strength of a new API
// secret (secretStrength): far beyond what an online guesser throttled as
// Nightscout throttles can try, and costly offline even without a server
// key.
const MinNightscoutSecretBits = 64

// nightscoutTokenPrefix marks glucoshare's access tokens, so that one found
// in a log or a configuration file is recognisable.
const nightscoutTokenPrefix = "gs-"

// ErrNightscoutDenied is the one answer for a missing, unknown or
// insufficient Nightscout credential.
var ErrNightscoutDenied = errors.New("nightscout: credential not accepted")

// NightscoutVia tells how an access was granted.
type NightscoutVia int

// The ways a Nightscout request is authorised.
const (
	ViaSecret    NightscoutVia = iota + 1 // the account's API secret
	ViaToken                              // an access token
	ViaJWT                                // a JWT issued for an access token
	ViaAnonymous                          // no credential, at a site open for reading
)

// NightscoutAccess is what a Nightscout credential grants, on whose data.
type NightscoutAccess struct {
	// AccountID is the account whose data is read (and written).
	AccountID string
	// Admin is Nightscout's admin role; otherwise the access is
	// readable.
	Admin bool
	// CurrentOnly restricts reads to the newest reading: a follower's
	// token on a subscription with permission 0 ("current value only").
	// Documents (treatments, device status, …) are hidden from it.
	CurrentOnly bool
	Via         NightscoutVia
	// TokenID and Subject name the token behind the access (ViaToken,
	// ViaJWT).
	TokenID, Subject string
	// Account is the account AccountID names as the check of the access
	// read it (nil if it did not): the request that made the check may
	// use it rather than read it again.
	Account *glucose.Account
}

// Permits reports whether the access holds a Nightscout permission
// ("api:treatments:create", "api:entries:read", …): admin holds every
// one, readable those whose action is read.
func (a *NightscoutAccess) Permits(permission string) bool {
	if a == nil {
		return false
	}
	if a.Admin {
		return true
	}
	parts := strings.Split(permission, ":")
	return len(parts) == 3 && parts[2] == "read"
}

// Role returns the Nightscout role name and its permissions.
func (a *NightscoutAccess) Role() (string, []string) {
	if a.Admin {
		return "admin", []string{"*"}
	}
	return "readable", []string{"*:*:read"}
}

// CheckNightscoutSecret applies the rules of a new API secret: length,
// and an estimated strength of at least MinNightscoutSecretBits.
func CheckNightscoutSecret(secret string) error {
	if n := utf8.RuneCountInString(secret); n < MinNightscoutSecretLength || n > 256 {
		return glucose.InvalidArgument("the API secret must be %d to 256 characters", MinNightscoutSecretLength)
	}
	if bits := secretStrength(secret); bits < MinNightscoutSecretBits {
		return glucose.InvalidArgument("the API secret is too easy to guess (about %d bits; at least %d needed): "+
			"make it longer and more varied, or let glucoshare generate one (--generate)", int(bits), MinNightscoutSecretBits)
	}
	return nil
}

// secretStrength estimates a secret's strength in bits: each character
// is worth the size of the character classes the secret uses (lower case,
// upper case, digits, the rest), except that a character that repeats the
// previous one or continues a run (abc, 321) is worth one bit, and the
// whole is capped by the number of distinct characters. It is a floor
// for random secrets and generous for phrases, which is why the threshold
// is high.
func secretStrength(s string) float64 {
	var lower, upper, digit, other bool
	distinct := map[rune]bool{}
	for _, r := range s {
		distinct[r] = true
		switch {
		case unicode.IsLower(r):
			lower = true
		case unicode.IsUpper(r):
			upper = true
		case unicode.IsDigit(r):
			digit = true
		default:
			other = true
		}
	}
	pool := 0
	for _, c := range []struct {
		used bool
		size int
	}{{lower, 26}, {upper, 26}, {digit, 10}, {other, 33}} {
		if c.used {
			pool += c.size
		}
	}
	per := math.Log2(float64(max(pool, 2)))
	bits := 0.0
	prev := rune(-10)
	for _, r := range s {
		if d := r - prev; d >= -1 && d <= 1 {
			bits++
		} else {
			bits += per
		}
		prev = r
	}
	n := float64(utf8.RuneCountInString(s))
	return min(bits, n*math.Log2(float64(max(len(distinct), 2))))
}

// GenerateNightscoutSecret returns a new API secret of 160 random bits:
// 32 characters of lower-case base32, which every app's settings field
// takes and which is never mistaken for a SHA-1.
func GenerateNightscoutSecret() string {
	var b [20]byte
	rand.Read(b[:])
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
}

// SetNightscoutSecret sets the account's Nightscout API secret. It must
// pass CheckNightscoutSecret, differ from the account's password, and
// differ from every other account's secret (the secret alone names the
// account).
func (s *Service) SetNightscoutSecret(ctx context.Context, accountID, secret string, now time.Time) error {
	if err := CheckNightscoutSecret(secret); err != nil {
		return err
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
	key, keyID := s.nsKeys.current(NightscoutSecretHash(secret))
	err = s.store.Update(ctx, func(tx glucose.Tx) error {
		if err := s.checkKeyedAlike(tx); err != nil {
			return err
		}
		// A digest left unkeyed by an older version must not let a second
		// account take the secret.
		other, err := tx.NightscoutSecretByKeys(s.nsKeys.candidates(secret))
		switch {
		case err == nil && other.AccountID != accountID, errors.Is(err, glucose.ErrConflict):
			return glucose.ErrConflict
		case err != nil && !errors.Is(err, glucose.ErrNotFound):
			return err
		}
		return tx.SetNightscoutSecret(&glucose.NightscoutSecret{AccountID: accountID, Key: key, KeyID: keyID, UpdatedAt: now})
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

// NewNightscoutToken describes a token to make.
type NewNightscoutToken struct {
	Name     string // shown as its subject; "" = none
	ReadOnly bool
	// SubscriptionID makes a follower's token (read-only): it reads the
	// publisher of that subscription, which the account must follow.
	SubscriptionID string
}

// CreateNightscoutToken makes a new access token for the account and
// returns it with its stored record. The token is returned only here; the
// store keeps a digest.
func (s *Service) CreateNightscoutToken(ctx context.Context, accountID string, readOnly bool, now time.Time) (string, *glucose.NightscoutToken, error) {
	return s.CreateNamedNightscoutToken(ctx, accountID, NewNightscoutToken{ReadOnly: readOnly}, now)
}

// CreateNamedNightscoutToken makes a token as nt describes.
func (s *Service) CreateNamedNightscoutToken(ctx context.Context, accountID string, nt NewNightscoutToken, now time.Time) (string, *glucose.NightscoutToken, error) {
	name := strings.TrimSpace(nt.Name)
	if utf8.RuneCountInString(name) > 64 || hasControl(name) {
		return "", nil, glucose.InvalidArgument("a token name must be at most 64 characters without control characters")
	}
	if nt.SubscriptionID != "" {
		return s.createFollowerToken(ctx, accountID, name, nt.SubscriptionID, now)
	}
	token, t := s.newNightscoutToken(accountID, name, nt.ReadOnly, now)
	return s.storeToken(ctx, token, t, nil)
}

// storeToken stores a new token after check (nil: none) passes in the
// same transaction, and returns it.
func (s *Service) storeToken(ctx context.Context, token string, t *glucose.NightscoutToken, check func(glucose.Tx) error) (string, *glucose.NightscoutToken, error) {
	err := s.store.Update(ctx, func(tx glucose.Tx) error {
		if check != nil {
			if err := check(tx); err != nil {
				return err
			}
		}
		if err := s.checkKeyedAlike(tx); err != nil {
			return err
		}
		return tx.CreateNightscoutToken(t)
	})
	if err != nil {
		return "", nil, err
	}
	return token, t, nil
}

// newNightscoutToken draws a token of 128 random bits and its record.
func (s *Service) newNightscoutToken(accountID, name string, readOnly bool, now time.Time) (string, *glucose.NightscoutToken) {
	var b [16]byte
	rand.Read(b[:])
	token := nightscoutTokenPrefix + hex.EncodeToString(b[:])
	key, keyID := s.nsKeys.current(NightscoutSecretHash(token))
	return token, &glucose.NightscoutToken{AccountID: accountID, Key: key, KeyID: keyID, Name: name,
		ReadOnly: readOnly, CreatedAt: now}
}

// CreateNightscoutFollowerToken makes a read-only access token with which
// a follower reads the publisher of a subscription it accepted, within the
// subscription's permissions (checked at every request, so pausing,
// cancelling or narrowing the subscription applies at once).
func (s *Service) CreateNightscoutFollowerToken(ctx context.Context, followerID, rawSubscriptionID string, now time.Time) (string, *glucose.NightscoutToken, error) {
	return s.createFollowerToken(ctx, followerID, "", rawSubscriptionID, now)
}

func (s *Service) createFollowerToken(ctx context.Context, followerID, name, rawSubscriptionID string, now time.Time) (string, *glucose.NightscoutToken, error) {
	id, ok := share.ParseID(rawSubscriptionID)
	notFollowed := fmt.Errorf("the account follows no subscription %q", rawSubscriptionID)
	if !ok {
		return "", nil, notFollowed
	}
	token, t := s.newNightscoutToken(followerID, name, true, now)
	t.SubscriptionID = id
	return s.storeToken(ctx, token, t, func(tx glucose.Tx) error {
		sub, err := tx.SubscriptionByID(id)
		switch {
		case errors.Is(err, glucose.ErrNotFound):
			return notFollowed
		case err != nil:
			return err
		case sub.SubscriberID != followerID || !sub.State.Accepted():
			return notFollowed
		}
		return nil
	})
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

// NightscoutSecretAccess checks what an api-secret header (or ?secret=)
// carries: the account's API secret, plain or as its SHA-1 (admin), or,
// as Nightscout also accepts there, an access token or its SHA-1 (the
// token's role; the xDrip+ follower and Home Assistant send that). The
// look-up is by digest (nightscout_keys.go), so the database index
// compares values an attacker cannot steer, never the credential itself.
func (s *Service) NightscoutSecretAccess(ctx context.Context, apiSecret string, now time.Time) (*NightscoutAccess, error) {
	if strings.TrimSpace(apiSecret) == "" || len(apiSecret) > maxCredentialLength {
		return nil, ErrNightscoutDenied
	}
	keys := s.nsKeys.candidates(apiSecret)
	sec, acct, err := s.nightscoutSecretWithAccount(ctx, keys)
	switch {
	case errors.Is(err, glucose.ErrNotFound):
		return s.NightscoutTokenAccess(ctx, apiSecret, now)
	case errors.Is(err, glucose.ErrConflict):
		s.log.Warn("nightscout: a secret matches two accounts' credentials and is refused; set it anew")
		return nil, ErrNightscoutDenied
	case err != nil:
		return nil, err
	case acct.Disabled:
		return nil, ErrNightscoutDenied
	}
	if sec.KeyID != s.nsKeys.keyID { // tested first: the closure costs an allocation
		s.rekeyOnUse(ctx, sec.KeyID, apiSecret, func(tx glucose.Tx, key, keyID string) error {
			return tx.RekeyNightscoutSecret(sec.AccountID, sec.Key, key, keyID)
		})
	}
	return &NightscoutAccess{AccountID: acct.ID, Admin: true, Via: ViaSecret, Account: acct}, nil
}

// nightscoutSecretWithAccount finds the API secret stored under one of
// keys and its account, from the store's cache when it has one. It is a
// function of its own so that the results, which the transaction's
// closure captures, are moved to the heap only when the cache is not used.
func (s *Service) nightscoutSecretWithAccount(ctx context.Context, keys []string) (*glucose.NightscoutSecret, *glucose.Account, error) {
	if s.hot != nil {
		return s.hot.NightscoutSecretWithAccount(ctx, keys)
	}
	var (
		sec  *glucose.NightscoutSecret
		acct *glucose.Account
	)
	err := s.store.View(ctx, func(tx glucose.Tx) (err error) {
		if sec, err = tx.NightscoutSecretByKeys(keys); err != nil {
			return err
		}
		acct, err = tx.AccountByID(sec.AccountID)
		return err
	})
	return sec, acct, err
}

// maxCredentialLength bounds a presented credential: no secret, token or
// JWT of ours is longer.
const maxCredentialLength = 1024

// NightscoutTokenAccess checks an access token (?token=, or a bearer that
// is not a JWT), as itself or as its SHA-1.
func (s *Service) NightscoutTokenAccess(ctx context.Context, token string, now time.Time) (*NightscoutAccess, error) {
	if strings.TrimSpace(token) == "" || len(token) > maxCredentialLength {
		return nil, ErrNightscoutDenied
	}
	keys := s.nsKeys.candidates(token)
	var (
		t   *glucose.NightscoutToken
		acc *NightscoutAccess
	)
	err := s.store.View(ctx, func(tx glucose.Tx) (err error) {
		if t, err = tx.NightscoutTokenByKeys(keys); err != nil {
			return err
		}
		acc, err = tokenAccess(tx, t, now)
		return err
	})
	if errors.Is(err, glucose.ErrNotFound) || errors.Is(err, glucose.ErrConflict) {
		return nil, ErrNightscoutDenied
	}
	if err != nil {
		return nil, err
	}
	if t.KeyID == keyIDLegacyToken && len(strings.TrimSpace(token)) == 40 && isHex(strings.ToLower(strings.TrimSpace(token))) {
		// A schema 5 token can only be re-keyed from the token itself.
		return acc, nil
	}
	s.rekeyOnUse(ctx, t.KeyID, token, func(tx glucose.Tx, key, keyID string) error {
		return tx.RekeyNightscoutToken(t.ID, t.Key, key, keyID)
	})
	return acc, nil
}

// tokenAccess resolves a token found by its key or id. An account's own
// token reads its data and, unless read-only, is admin. A follower's token
// (one made for a subscription) reads the publisher while the
// subscription is Active and the publisher enabled, within its
// permissions, and never writes. Checked at every request, like
// ReadSubscriptionLatestGlucoseValues (docs/protocol.md, "Subscriber", "Access rules").
func tokenAccess(tx glucose.Tx, t *glucose.NightscoutToken, now time.Time) (*NightscoutAccess, error) {
	holder, err := tx.AccountByID(t.AccountID)
	if err != nil {
		return nil, err
	}
	if holder.Disabled {
		return nil, ErrNightscoutDenied
	}
	acc := &NightscoutAccess{AccountID: t.AccountID, Admin: !t.ReadOnly && t.SubscriptionID == "",
		Via: ViaToken, TokenID: t.ID, Subject: NightscoutSubject(t), Account: holder}
	if t.SubscriptionID == "" {
		return acc, nil
	}
	sub, err := tx.SubscriptionByID(t.SubscriptionID)
	if err != nil {
		return nil, err
	}
	sub.Expire(now)
	if sub.SubscriberID != t.AccountID || sub.State != glucose.StateActive {
		return nil, ErrNightscoutDenied
	}
	publisher, err := tx.AccountByID(sub.PublisherID)
	if err != nil {
		return nil, err
	}
	if publisher.Disabled {
		return nil, ErrNightscoutDenied
	}
	acc.AccountID, acc.CurrentOnly, acc.Account = sub.PublisherID, sub.Permissions == 0, publisher
	return acc, nil
}

// NightscoutSubject is the name a token shows as its subject: its own,
// else its kind.
func NightscoutSubject(t *glucose.NightscoutToken) string {
	switch {
	case t.Name != "":
		return t.Name
	case t.SubscriptionID != "":
		return "follower"
	case t.ReadOnly:
		return "read-only"
	}
	return "read-write"
}

// NightscoutSiteAccess resolves a site's handle: the site, and the access
// of a request without a credential there (nil unless the owner turned
// anonymous reading on). A disabled account's site is not found.
func (s *Service) NightscoutSiteAccess(ctx context.Context, handle string) (*glucose.NightscoutSite, *NightscoutAccess, error) {
	if !validHandle(handle) {
		return nil, nil, glucose.ErrNotFound
	}
	var (
		site *glucose.NightscoutSite
		acct *glucose.Account
	)
	err := s.store.View(ctx, func(tx glucose.Tx) (err error) {
		if site, err = tx.NightscoutSiteByHandle(handle); err != nil {
			return err
		}
		acct, err = tx.AccountByID(site.AccountID)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	if acct.Disabled {
		return nil, nil, glucose.ErrNotFound
	}
	if !site.AnonymousRead {
		return site, nil, nil
	}
	return site, &NightscoutAccess{AccountID: site.AccountID, Via: ViaAnonymous, Account: acct}, nil
}

// Handles of Nightscout sites.
const (
	// MinNightscoutHandleLength is the shortest handle an owner may
	// choose: with anonymous reading on, the handle is all a reader needs.
	MinNightscoutHandleLength = 12
	maxNightscoutHandleLength = 64
)

// validHandle reports whether h has a handle's form: lower-case letters,
// digits and hyphens.
func validHandle(h string) bool {
	if len(h) < 1 || len(h) > maxNightscoutHandleLength {
		return false
	}
	for _, c := range h {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// GenerateNightscoutHandle returns a new handle of 80 random bits: 16
// characters of lower-case base32.
func GenerateNightscoutHandle() string {
	var b [10]byte
	rand.Read(b[:])
	return strings.ToLower(base32.StdEncoding.EncodeToString(b[:]))
}

// SetNightscoutSite gives the account its site at /ns/{handle}: the
// handle given (MinNightscoutHandleLength or more lower-case letters,
// digits and hyphens, not the account's name), or, when "", the site's
// current handle or a generated one; anonymous turns reading without a
// credential on or off.
func (s *Service) SetNightscoutSite(ctx context.Context, accountID, handle string, anonymous bool) (*glucose.NightscoutSite, error) {
	handle = strings.TrimSpace(handle)
	site := &glucose.NightscoutSite{AccountID: accountID, Handle: handle, AnonymousRead: anonymous}
	err := s.store.Update(ctx, func(tx glucose.Tx) error {
		acct, err := tx.AccountByID(accountID)
		if err != nil {
			return err
		}
		if site.Handle == "" {
			site.Handle = GenerateNightscoutHandle()
			if old, err := tx.NightscoutSite(accountID); err == nil {
				site.Handle = old.Handle
			}
		} else if err := checkHandle(site.Handle, acct); err != nil {
			return err
		}
		return tx.SetNightscoutSite(site)
	})
	if errors.Is(err, glucose.ErrConflict) {
		return nil, glucose.InvalidArgument("the handle %q is taken; choose another", handle)
	}
	return site, err
}

func checkHandle(h string, acct *glucose.Account) error {
	if len(h) < MinNightscoutHandleLength || !validHandle(h) {
		return glucose.InvalidArgument("a handle must be %d to %d lower-case letters, digits and hyphens",
			MinNightscoutHandleLength, maxNightscoutHandleLength)
	}
	if glucose.NameKey(h) == glucose.NameKey(acct.Name) {
		return glucose.InvalidArgument("the handle must not be the account's name")
	}
	return nil
}

// NightscoutSite returns the account's site.
func (s *Service) NightscoutSite(ctx context.Context, accountID string) (*glucose.NightscoutSite, error) {
	var site *glucose.NightscoutSite
	err := s.store.View(ctx, func(tx glucose.Tx) (err error) {
		site, err = tx.NightscoutSite(accountID)
		return err
	})
	return site, err
}

// RemoveNightscoutSite removes the account's site.
func (s *Service) RemoveNightscoutSite(ctx context.Context, accountID string) error {
	err := s.store.Update(ctx, func(tx glucose.Tx) error { return tx.DeleteNightscoutSite(accountID) })
	if errors.Is(err, glucose.ErrNotFound) {
		return fmt.Errorf("the account has no Nightscout site")
	}
	return err
}

// ImportReadings stores readings for an account as the Nightscout API
// receives them: with the value and time rules of PostReceiverEgvRecords
// (docs/protocol.md, "Publisher: glucose" step 5: special values skipped, 13–38 and 402+ clamped, too old
// skipped, more than 5 minutes ahead discarded, first write wins), but
// without its monitoring and receiver checks — a Nightscout uploader knows
// nothing of Share receivers. All are committed in one transaction. It
// returns the readings that passed the rules (stored now, or already
// stored) and what happened to the others. Followers' alarms are
// evaluated after the commit, as after a Share upload (docs/protocol.md, "When alarms are evaluated").
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
