package core

// Login throttling (docs/security.md has the policy as operators read it).
//
// Failures are counted per account and per place a check comes from: the
// client's address (an IPv4 address, or the /64 of an IPv6 one) or, when
// the check carries a session of the account that was valid recently, that
// session. From the LoginMaxFailures-th failure on, each further attempt
// from that place waits a delay that doubles with every failure (from
// LoginFirstDelay, 1 s: 1 s, 2 s, 4 s … up to LoginMaxDelay); attempts during a delay are refused without
// checking the password and without counting. So an attacker slows down
// only itself: the owner, from another address or with a session, is not
// touched.
//
// Addresses that are not recognised — no successful login of the account
// from them within LoginRemember, no session — also share an account-wide
// counter, which bounds a brute force spread over many addresses: each
// address adds at most LoginMaxFailures failures to it until it reaches
// LoginAccountFailures, so that one address alone can never trigger it;
// from then on every failure from an unrecognised address adds one and all
// unrecognised addresses wait the account-wide delay. Recognised addresses
// and sessions keep working throughout.
//
// A counter is forgotten LoginWindow after its last delay ended. Names and
// ids that match no account are counted exactly like an account, but on
// keys taken from a fixed number of buckets of a keyed hash, so that
// failures with made-up names cannot grow storage; the hash's key is a
// random server key (server_keys), so that nobody can pick names that fall
// into a given bucket.

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"sync"
	"time"

	"github.com/glucoshare/glucoshare/internal/glucose"
	"github.com/glucoshare/glucoshare/share"
)

const (
	// loginAddressesKept is how many recent login addresses an account
	// keeps recognised.
	loginAddressesKept = 20
	// unknownBuckets is how many counters unknown names share, for each of
	// the two kinds (per address, account-wide): the table's bound.
	unknownBuckets = 1 << 14
	bucketKeyName  = "login-buckets"
)

// loginGate names the counters one credential check is throttled by.
type loginGate struct {
	scope   string // the (account, address) or (account, session) counter
	account string // the account-wide counter; "" for a recognised client
	addr    string // the address scope to remember after a success; "" if none
}

func (g loginGate) keys() []string {
	if g.account == "" {
		return []string{g.scope}
	}
	return []string{g.scope, g.account}
}

// attempt is the outcome of reserving a credential check.
type attempt struct {
	blockedUntil time.Time // non-zero: refused until then, nothing counted
	delayed      bool      // the reserved failure started or lengthened a delay
}

// addressScope names the place an address stands for: IPv4 addresses one
// by one, IPv6 by /64 (one subscriber's network), "-" when unknown.
func addressScope(a netip.Addr) string {
	if !a.IsValid() {
		return "-"
	}
	a = a.Unmap().WithZone("")
	if a.Is4() {
		return a.String()
	}
	return netip.PrefixFrom(a, 64).Masked().String()
}

// gate works out the counters of a check. subject names what the
// credentials named when no account matched.
func (s *Service) gate(tx glucose.Tx, acct *glucose.Account, c Credentials, subject string, key []byte, now time.Time) (loginGate, error) {
	scope := addressScope(c.Addr)
	if acct == nil {
		return loginGate{scope: "? " + bucket(key, "scope", subject, scope), account: "* " + bucket(key, "all", subject)}, nil
	}
	sessionID, err := s.recentSession(tx, acct.ID, c.SessionHint, now)
	if err != nil || sessionID != "" {
		// Keyed by the session's canonical id: another spelling of the
		// same id (case, braces, quotes) is the same place.
		sum := sha256.Sum256([]byte(sessionID))
		return loginGate{scope: acct.ID + " s:" + hex.EncodeToString(sum[:8])}, err
	}
	g := loginGate{scope: acct.ID + " " + scope, account: acct.ID + " *"}
	if c.Addr.IsValid() {
		g.addr = scope
		known, err := tx.LoginAddressSince(acct.ID, scope, now.Add(-s.cfg.LoginRemember))
		if err != nil {
			return g, err
		}
		if known {
			g.account = ""
		}
	}
	return g, nil
}

// recentSession returns the id of hint when it is a session of the account
// that was valid within LoginRemember, else "": one that expired recently
// still counts (the dashboard's cookie outlives an idle session), one ended
// explicitly — a sign-out, a password change — does not.
func (s *Service) recentSession(tx glucose.Tx, accountID, hint string, now time.Time) (string, error) {
	id, ok := share.ParseID(hint)
	if !ok || id == share.ZeroID {
		return "", nil
	}
	sess, err := tx.SessionByID(id)
	switch {
	case errors.Is(err, glucose.ErrNotFound):
		return "", nil
	case err != nil:
		return "", err
	case sess.AccountID != accountID || sess.Ended() || now.Sub(sess.LastUsedAt) > s.cfg.LoginRemember:
		return "", nil
	}
	return id, nil
}

// bucket is one of unknownBuckets keys for parts, under the server key.
func bucket(key []byte, parts ...string) string {
	m := hmac.New(sha256.New, key)
	for _, p := range parts {
		m.Write([]byte(p))
		m.Write([]byte{0})
	}
	n := binary.BigEndian.Uint32(m.Sum(nil)) % unknownBuckets
	return fmt.Sprintf("%04x", n)
}

// reserve refuses a check while one of its counters delays it, and
// otherwise counts it as a failure before the password is checked, so that
// checks arriving together cannot pass one delay all at once; a success
// takes the failure back (release).
func (s *Service) reserve(tx glucose.Tx, g loginGate, now time.Time) (attempt, error) {
	rows, err := tx.Throttles(g.keys()...)
	if err != nil {
		return attempt{}, err
	}
	var at attempt
	accountFailures := 0
	for _, r := range rows {
		if !now.Before(r.ForgetAt) {
			continue // due to be forgotten: counts nothing
		}
		if now.Before(r.Until) && r.Until.After(at.blockedUntil) {
			at.blockedUntil = r.Until
		}
		if r.Key == g.account {
			accountFailures = r.Failures
		}
	}
	if !at.blockedUntil.IsZero() {
		return at, nil
	}
	n, err := s.countFailure(tx, g.scope, s.cfg.LoginMaxFailures, now, &at)
	if err != nil || g.account == "" {
		return at, err
	}
	// One address adds at most LoginMaxFailures to the account-wide count
	// until that count is reached; from then on, every failure adds one.
	if n <= s.cfg.LoginMaxFailures || accountFailures >= s.cfg.LoginAccountFailures {
		_, err = s.countFailure(tx, g.account, s.cfg.LoginAccountFailures, now, &at)
	}
	return at, err
}

// countFailure adds a failure to key and sets its delay (loginDelay).
func (s *Service) countFailure(tx glucose.Tx, key string, free int, now time.Time, at *attempt) (int, error) {
	n, err := tx.AddLoginFailure(key, now)
	if err != nil {
		return 0, err
	}
	d := loginDelay(n, free, s.cfg.LoginFirstDelay, s.cfg.LoginMaxDelay)
	at.delayed = at.delayed || d > 0
	return n, tx.SetLoginDelay(key, now.Add(d), now.Add(d+s.cfg.LoginWindow))
}

// loginDelay is the wait after the n-th failure of a counter that allows
// free failures: first from the free-th on, doubling with each further one,
// at most max.
func loginDelay(n, free int, first, max time.Duration) time.Duration {
	if n < free {
		return 0
	}
	for d, i := first, free; d < max; d, i = 2*d, i+1 {
		if i == n {
			return d
		}
	}
	return max
}

// release undoes a reservation after a successful check: the place's
// counter starts again, the account-wide count gets its failure back, and
// the address becomes recognised.
func (s *Service) release(tx glucose.Tx, acct *glucose.Account, g loginGate, now time.Time) error {
	if err := tx.ClearLogin(g.scope); err != nil {
		return err
	}
	if g.account != "" {
		if err := tx.ForgiveLoginFailure(g.account); err != nil {
			return err
		}
	}
	if g.addr == "" {
		return nil
	}
	return tx.RememberLoginAddress(acct.ID, g.addr, now, loginAddressesKept)
}

func delayedError(until, now time.Time) *glucose.Error {
	secs := max(1, int(math.Ceil(until.Sub(now).Seconds())))
	e := glucose.Errorf(share.CodeSSOMaxAttempts,
		"Too many failed attempts; try again in %d seconds (at %s).", secs, until.UTC().Format(time.RFC3339))
	e.RetryAfter = secs
	return e
}

// bucketKey is the server key of the buckets, read once.
type bucketKey struct {
	mu  sync.Mutex
	key []byte
}

// loginBucketKey returns the server key of unknown names' buckets,
// creating it on first use.
func (s *Service) loginBucketKey(ctx context.Context) ([]byte, error) {
	s.bucketKey.mu.Lock()
	defer s.bucketKey.mu.Unlock()
	if s.bucketKey.key != nil {
		return s.bucketKey.key, nil
	}
	fresh := make([]byte, 32)
	rand.Read(fresh) // never fails (crypto/rand)
	var key []byte
	err := s.store.Update(ctx, func(tx glucose.Tx) (err error) {
		key, err = tx.ServerKey(bucketKeyName, fresh)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.bucketKey.key = key
	return key, nil
}

// ForgetLogins deletes throttling counters that count nothing any more and
// login addresses older than LoginRemember (the session sweep runs it).
func (s *Service) ForgetLogins(ctx context.Context, now time.Time) (int, error) {
	var n int
	err := s.store.Update(ctx, func(tx glucose.Tx) (err error) {
		n, err = tx.ForgetLogins(now, now.Add(-s.cfg.LoginRemember))
		return err
	})
	return n, err
}
