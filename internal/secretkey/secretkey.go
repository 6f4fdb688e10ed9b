// Package secretkey holds the server key that the operator gives with
// --secret-key (or GLUCOSHARE_SECRET_KEY), and derives from it the
// independent keys that parts of the server need: one purpose, one key,
// so that no two uses can be played against each other.
//
// The key lives outside the database on purpose: a copy of the database
// (a backup, a stolen disk) without it cannot turn stored lookup digests
// back into working credentials, nor forge what the derived keys sign.
package secretkey

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"strings"

	"golang.org/x/crypto/hkdf"
)

// MinLength is the shortest key accepted, in bytes: 32 bytes is 256 bits
// for a random key, and still a long passphrase otherwise.
const MinLength = 32

// derivedLength is the size of every derived key (HMAC-SHA256 and
// HS256-sized).
const derivedLength = 32

// Key is the operator's server key.
type Key struct {
	ikm []byte
}

// ErrTooShort is returned by Load for a key under MinLength bytes.
var ErrTooShort = fmt.Errorf("the secret key must be at least %d characters (e.g. the output of `openssl rand -base64 32`)", MinLength)

// Load takes the key as the operator wrote it: any text of at least
// MinLength bytes (surrounding white space is ignored, so that a key read
// from a file with a final newline is the same key). The text itself is
// the key material; a random key written in base64 or hex simply carries
// fewer bits per character.
func Load(s string) (*Key, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errors.New("the secret key is empty")
	}
	if len(s) < MinLength {
		return nil, ErrTooShort
	}
	return &Key{ikm: []byte(s)}, nil
}

// Derive returns the 32-byte key for one purpose: HKDF-SHA256 of the
// server key with the purpose as its info. The same key and purpose always
// give the same bytes, on every instance; different purposes give
// independent keys.
func (k *Key) Derive(purpose string) []byte {
	out := make([]byte, derivedLength)
	if _, err := io.ReadFull(hkdf.New(sha256.New, k.ikm, nil, []byte("glucoshare/"+purpose)), out); err != nil {
		// Only an output longer than 255 hash lengths fails.
		panic(fmt.Sprintf("secretkey: deriving %q: %v", purpose, err))
	}
	return out
}

// String never shows the key, so that it cannot end up in a log by
// accident.
func (k *Key) String() string { return "secretkey.Key(xxxxx)" }
