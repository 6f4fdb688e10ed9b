// Package glucose is glucoshare's domain: accounts, sessions, receivers,
// readings and the storage contract that every engine implements.
//
// It holds no technology. Adapters (store, shareapi, cmd) meet only through
// the types declared here, and only cmd/ wires them together.
package glucose

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"strconv"
	"time"

	"github.com/glucoshare/glucoshare/share"
)

// Compatibility modes for reading output (docs/protocol.md, "Compatibility mode").
const (
	CompatUnset  = ""
	CompatModern = "modern"
	CompatLegacy = "legacy"
)

// Account is a person who publishes readings, follows others, or both.
type Account struct {
	ID           string
	Name         string // as entered; compared through NameKey
	DisplayName  string
	Email        string
	PasswordHash string // argon2id, PHC string format
	Disabled     bool
	Compat       string // CompatUnset, CompatModern or CompatLegacy
	Units        Units  // what the account reads values in; UnitsUnset = DefaultUnits
	CreatedAt    time.Time

	// Monitored receiver and the account-level monitoring flag (docs/protocol.md, "Publisher: session, receiver and monitoring").
	Serial     string // upper-case; "" when no receiver is assigned
	ReceiverID string // "" when no receiver is assigned
	Monitoring bool
}

// HasReceiver reports whether a receiver is assigned to the account.
func (a *Account) HasReceiver() bool { return a.Serial != "" }

// Session is a login session. An ended session keeps its row so that it can
// answer SessionNotValid rather than SessionIdNotFound for a while (docs/protocol.md, "Sessions").
type Session struct {
	ID            string
	AccountID     string
	ApplicationID string
	CreatedAt     time.Time
	LastUsedAt    time.Time
	EndedAt       time.Time // zero while the session is open
}

// Ended reports whether the session was ended explicitly.
func (s *Session) Ended() bool { return !s.EndedAt.IsZero() }

// Reading is one stored glucose value (an EGV).
type Reading struct {
	ST         int64 // system time, Unix milliseconds (UTC instant)
	Value      int   // mg/dL, 39..401
	Trend      share.Trend
	Offset     int   // the reading's UTC offset in minutes, for DT
	ReceivedAt int64 // Unix milliseconds, when the server stored it
}

// Wire converts a stored reading into its wire form.
func (r Reading) Wire() share.Reading {
	return share.Reading{ST: r.ST, Offset: r.Offset, Value: r.Value, Trend: r.Trend}
}

// EntryID is the reading's _id as the Nightscout API shows it: 24
// hexadecimal digits, stable across reads. Like a MongoDB ObjectId it
// starts with the time in seconds, so ids sort by date (and an id names the
// second its reading is in); the rest is a digest of account and time.
func (r Reading) EntryID(accountID string) string {
	var b [12]byte
	binary.BigEndian.PutUint32(b[:4], uint32(r.ST/1000))
	// Hashed from a buffer on the stack (an account id is a UUID): every
	// entry the Nightscout API shows has its id computed.
	var in [64]byte
	sum := sha256.Sum256(strconv.AppendInt(append(append(in[:0], accountID...), ':'), r.ST, 10))
	copy(b[4:], sum[:8])
	var h [2 * len(b)]byte
	hex.Encode(h[:], b[:])
	return string(h[:])
}

// Image is an account's avatar.
type Image struct {
	ContentType string // "image/png" or "image/jpeg"
	Data        []byte
	DeclaredAs  string // ImageType as sent by the client; recorded, not trusted
}

// Clock tells the time. Production code uses SystemClock; tests inject a
// fake so that expiry, lockout and alarms can be driven without sleeping.
type Clock interface {
	Now() time.Time
}

// SystemClock is the real UTC clock.
type SystemClock struct{}

// Now returns the current time in UTC.
func (SystemClock) Now() time.Time { return time.Now().UTC() }

// MS converts a time to Unix milliseconds, the unit used on the wire and in
// the database.
func MS(t time.Time) int64 { return t.UnixMilli() }

// FromMS converts Unix milliseconds to a UTC time.
func FromMS(ms int64) time.Time { return time.UnixMilli(ms).UTC() }
