package core

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"

	"github.com/glucoshare/glucoshare/internal/glucose"
	"github.com/glucoshare/glucoshare/internal/secretkey"
)

// How Nightscout credentials are kept.
//
// Nightscout clients send an API secret as `api-secret: <hex SHA-1 of the
// secret>` and nothing else: no account name, no salt, no challenge (the
// xDrip+ follower and Home Assistant send an access token the same way).
// The header alone must find the account, so what is stored has to be a
// deterministic function of that SHA-1, and a salted slow hash such as the
// passwords' argon2id cannot be looked up. glucoshare stores:
//
//	digest = SHA-256("nightscout-secret:" + sha1hex)
//	key    = HMAC-SHA256(K, digest)      with a server key (key_id hmac:…)
//	key    = digest                      without one      (key_id sha256)
//
// where K is derived from --secret-key (package secretkey), which the
// operator keeps outside the database. With it, a copy of the database is
// useless for guessing secrets offline: every guess needs K. Without it,
// what protects a secret is its own strength, which is why new secrets
// must be long and varied (CheckNightscoutSecret) and the generator gives
// 160 random bits; a digest in the database is never itself a credential.
// A lookup key is the one place where a key kept in the database would
// add nothing (whoever reads the digests reads the key), so none is
// invented: no --secret-key means unkeyed digests, and the operator is told
// at start.
//
// Access tokens are kept the same way, by the SHA-1 of the token, so that
// `api-secret: SHA-1(token)` finds them too. Schema 5 kept tokens as
// SHA-256("nightscout-token:" + token) (key_id token-sha256); such a token
// keeps working with ?token= and is re-keyed the first time it is used,
// after which its SHA-1 works as api-secret as well. Unkeyed digests are
// re-keyed to HMACs at start once a --secret-key is given
// (RekeyNightscoutCredentials), and on use.

// Key ids of stored credentials.
const (
	keyIDUnkeyed     = "sha256"
	keyIDLegacyToken = "token-sha256"
	keyIDHMACPrefix  = "hmac:"
)

// NightscoutKeys are the server keys of the Nightscout API, derived from
// Config.SecretKey.
type NightscoutKeys struct {
	// Lookup keys the credential digests; nil keeps them unkeyed.
	Lookup []byte
	// JWT signs the tokens that status.json and API v2 hand out; nil
	// draws a random key at start, so that such tokens are valid only on
	// the instance that issued them and until it restarts (clients ask
	// for a new one when refused).
	JWT []byte
}

// NightscoutKeysFrom derives the Nightscout keys from the server key; nil
// gives none.
func NightscoutKeysFrom(k *secretkey.Key) NightscoutKeys {
	if k == nil {
		return NightscoutKeys{}
	}
	return NightscoutKeys{Lookup: k.Derive("nightscout-secret"), JWT: k.Derive("nightscout-jwt")}
}

// lookupKeys computes the stored keys of credentials.
type lookupKeys struct {
	hmacKey []byte
	keyID   string // the key id of new keys
}

func newLookupKeys(key []byte) lookupKeys {
	if key == nil {
		return lookupKeys{keyID: keyIDUnkeyed}
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte("key id"))
	return lookupKeys{hmacKey: key, keyID: keyIDHMACPrefix + hex.EncodeToString(mac.Sum(nil)[:8])}
}

// NightscoutSecretHash returns what a Nightscout client sends for secret:
// its SHA-1 in lower-case hex.
func NightscoutSecretHash(secret string) string {
	sum := sha1.Sum([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// credentialSHA1 returns the SHA-1 hex of a presented credential: the
// value itself when it is 40 hex digits (a client hashed it), else its
// SHA-1, as Nightscout does.
func credentialSHA1(value string) string {
	h := strings.ToLower(strings.TrimSpace(value))
	if len(h) == sha1.Size*2 && isHex(h) {
		return h
	}
	return NightscoutSecretHash(value)
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

// digest is the unkeyed key of a credential's SHA-1.
func digest(sha1Hex string) string {
	// Hashed from a buffer on the stack: a SHA-1 in hex fits, and every
	// Nightscout request computes this.
	var buf [64]byte
	sum := sha256.Sum256(append(append(buf[:0], "nightscout-secret:"...), sha1Hex...))
	var h [2 * sha256.Size]byte
	hex.Encode(h[:], sum[:])
	return string(h[:])
}

// legacyTokenKey is schema 5's key of an access token.
func legacyTokenKey(token string) string {
	sum := sha256.Sum256([]byte("nightscout-token:" + strings.TrimSpace(token)))
	return hex.EncodeToString(sum[:])
}

// keyOf turns a digest into the current key.
func (k lookupKeys) keyOf(digest string) string {
	if k.hmacKey == nil {
		return digest
	}
	mac := hmac.New(sha256.New, k.hmacKey)
	mac.Write([]byte(digest))
	return hex.EncodeToString(mac.Sum(nil))
}

// current returns the key to store for a credential's SHA-1.
func (k lookupKeys) current(sha1Hex string) (key, keyID string) {
	return k.keyOf(digest(sha1Hex)), k.keyID
}

// candidates returns every stored key a presented credential may have:
// the current one, the unkeyed one (written without the server key, say
// by a command run without it), and for a token presented as itself,
// schema 5's.
func (k lookupKeys) candidates(value string) []string {
	d := digest(credentialSHA1(value))
	keys := []string{k.keyOf(d)}
	if k.hmacKey != nil {
		keys = append(keys, d)
	}
	if v := strings.TrimSpace(value); !(len(v) == sha1.Size*2 && isHex(strings.ToLower(v))) {
		keys = append(keys, legacyTokenKey(v))
	}
	return keys
}

// RekeyResult tells what RekeyNightscoutCredentials did.
type RekeyResult struct {
	Rekeyed int // unkeyed digests now kept under the server key
	// Unusable credentials are kept under another server key (or under
	// one while none is given): they are refused until that key is given
	// again or they are set anew.
	Unusable int
}

// storedCredential is a secret or a token as re-keying sees it.
type storedCredential struct {
	keyID, key string
	rekey      func(newKey, keyID string) error
}

// storedCredentials lists every stored secret and token.
func storedCredentials(tx glucose.Tx) ([]storedCredential, error) {
	secrets, err := tx.NightscoutSecrets()
	if err != nil {
		return nil, err
	}
	tokens, err := tx.AllNightscoutTokens()
	if err != nil {
		return nil, err
	}
	creds := make([]storedCredential, 0, len(secrets)+len(tokens))
	for _, sec := range secrets {
		creds = append(creds, storedCredential{sec.KeyID, sec.Key, func(newKey, keyID string) error {
			return tx.RekeyNightscoutSecret(sec.AccountID, sec.Key, newKey, keyID)
		}})
	}
	for _, t := range tokens {
		creds = append(creds, storedCredential{t.KeyID, t.Key, func(newKey, keyID string) error {
			return tx.RekeyNightscoutToken(t.ID, t.Key, newKey, keyID)
		}})
	}
	return creds, nil
}

// RekeyNightscoutCredentials moves unkeyed credential digests under the
// server key, and counts those no presented credential can match. The
// server runs it at start.
func (s *Service) RekeyNightscoutCredentials(ctx context.Context) (RekeyResult, error) {
	var res RekeyResult
	err := s.store.Update(ctx, func(tx glucose.Tx) error {
		res = RekeyResult{}
		creds, err := storedCredentials(tx)
		if err != nil {
			return err
		}
		for _, c := range creds {
			rekey, unusable := s.rekeyable(c.keyID)
			switch {
			case unusable:
				res.Unusable++
			case rekey:
				if err := countRekey(&res, c.rekey(s.nsKeys.keyOf(c.key), s.nsKeys.keyID)); err != nil {
					return err
				}
			}
		}
		return nil
	})
	return res, err
}

// countRekey counts a re-keying: done, or impossible because the keyed
// digest is another credential's (the same secret stored twice, once
// unkeyed), which leaves this one unusable.
func countRekey(res *RekeyResult, err error) error {
	switch {
	case err == nil:
		res.Rekeyed++
	case errors.Is(err, glucose.ErrConflict):
		res.Unusable++
	default:
		return err
	}
	return nil
}

// checkKeyedAlike refuses to store a credential when the database keeps
// others under a server key this service does not have (a command run
// without --secret-key, or with another): what it stored could not be
// told apart from them, or found by the server.
func (s *Service) checkKeyedAlike(tx glucose.Tx) error {
	creds, err := storedCredentials(tx)
	if err != nil {
		return err
	}
	for _, c := range creds {
		if strings.HasPrefix(c.keyID, keyIDHMACPrefix) && c.keyID != s.nsKeys.keyID {
			return errOtherServerKey
		}
	}
	return nil
}

// errOtherServerKey tells the operator to give the server key.
var errOtherServerKey = glucose.InvalidArgument("this database keeps Nightscout credentials under a --secret-key " +
	"(GLUCOSHARE_SECRET_KEY) that was not given, or not this one: give the server's key")

// rekeyable tells whether a stored key can move under the server key now,
// and whether no credential can match it.
func (s *Service) rekeyable(keyID string) (rekey, unusable bool) {
	switch {
	case keyID == s.nsKeys.keyID, keyID == keyIDLegacyToken:
		return false, false
	case keyID == keyIDUnkeyed:
		return s.nsKeys.hmacKey != nil, false
	}
	return false, true // hmac under another key, or under one not given
}

// rekeyOnUse brings a credential found under an older key to the current
// one. It is best effort: a failure leaves the old key, which still works.
func (s *Service) rekeyOnUse(ctx context.Context, keyID, value string, rekey func(tx glucose.Tx, key, keyID string) error) {
	if keyID == s.nsKeys.keyID {
		return
	}
	key, id := s.nsKeys.current(credentialSHA1(value))
	err := s.store.Update(ctx, func(tx glucose.Tx) error { return rekey(tx, key, id) })
	if err != nil && !errors.Is(err, glucose.ErrNotFound) {
		s.log.Warn("nightscout: re-keying a credential failed", "err", err)
	}
}

// randomKey returns n random bytes.
func randomKey(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}
