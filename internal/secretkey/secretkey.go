// Package secretkey holds the operator's secret key (--secret-key,
// GLUCOSHARE_SECRET_KEY): the one secret glucoshare keeps outside its
// database. Secrets that the server must be able to use again (a mirrored
// Share account's password) are encrypted under keys derived from it, and
// credentials that must be looked up without a name (a Nightscout API
// secret) are keyed with it, so that a copy of the database or of a backup
// gives neither away without the key.
//
// Each use derives its own key with HKDF-SHA256 and a purpose string, so
// that one use's key never serves another.
package secretkey

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// MinLength is the shortest key accepted, in bytes of its text.
const MinLength = 32

// ErrNoKey is returned when an operation needs the secret key and the
// operator has not given one.
var ErrNoKey = errors.New("no secret key: start the server with --secret-key or GLUCOSHARE_SECRET_KEY (glucoshare secret-key generate makes one)")

// ErrDecrypt is returned when a sealed value does not open under the key:
// it was sealed under another key, or it was altered.
var ErrDecrypt = errors.New("secretkey: value does not open under this key (another key, or altered)")

// Key is the operator's secret key. The zero value and nil are not
// usable; see Load.
type Key struct {
	ikm []byte
}

// Load reads a key as the operator gives it: any text of at least
// MinLength bytes (surrounding whitespace is ignored), such as the output
// of Generate. "" gives nil and no error: no key was given.
func Load(s string) (*Key, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	if len(s) < MinLength {
		return nil, fmt.Errorf("the secret key must be at least %d characters (glucoshare secret-key generate makes one)", MinLength)
	}
	return &Key{ikm: []byte(s)}, nil
}

// Generate returns a new random key in the form Load takes: 32 random
// bytes, base64url without padding (43 characters).
func Generate() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Derive returns 32 bytes for purpose, a short constant naming the use
// ("nightscout-secret", "mirror-password"…). Different purposes give
// independent keys.
func (k *Key) Derive(purpose string) []byte {
	out, err := hkdf.Key(sha256.New, k.ikm, nil, "glucoshare "+purpose, 32)
	if err != nil {
		panic(err) // only for lengths HKDF cannot give; 32 always works
	}
	return out
}

// Seal encrypts plaintext for purpose with AES-256-GCM under a derived
// key and a random nonce, binding it to ad (for instance the id of the row
// that holds it, so that a sealed value copied to another row does not
// open there). The result holds the nonce and the ciphertext.
func (k *Key) Seal(purpose string, plaintext, ad []byte) []byte {
	aead := k.aead(purpose)
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plaintext)+aead.Overhead())
	rand.Read(nonce)
	return aead.Seal(nonce, nonce, plaintext, ad)
}

// Open decrypts what Seal returned for the same purpose and ad.
func (k *Key) Open(purpose string, sealed, ad []byte) ([]byte, error) {
	aead := k.aead(purpose)
	if len(sealed) < aead.NonceSize()+aead.Overhead() {
		return nil, ErrDecrypt
	}
	n := aead.NonceSize()
	plain, err := aead.Open(nil, sealed[:n], sealed[n:], ad)
	if err != nil {
		return nil, ErrDecrypt
	}
	return plain, nil
}

func (k *Key) aead(purpose string) cipher.AEAD {
	block, err := aes.NewCipher(k.Derive("aead " + purpose))
	if err != nil {
		panic(err) // a 32-byte key is always valid
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	return aead
}

// String never shows the key, so that printing a configuration cannot
// leak it.
func (k *Key) String() string { return "xxxxx" }
