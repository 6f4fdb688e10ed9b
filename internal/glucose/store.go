package glucose

import (
	"context"
	"time"
)

// Store is glucoshare's storage. Every engine (SQLite, PostgreSQL) implements
// it with the same semantics; one contract test suite checks them all.
//
// The caller owns the transaction: Update and View run fn inside one
// transaction and hand it a Tx whose methods do the individual reads and
// writes. Update commits when fn returns nil and rolls back otherwise; it
// may run fn more than once when the engine reports a serialization failure,
// so fn must not have effects outside the Tx. A nil return from Update means
// the commit is durable.
type Store interface {
	Update(ctx context.Context, fn func(Tx) error) error
	View(ctx context.Context, fn func(Tx) error) error
	// Ping checks that storage is reachable (for /healthz).
	Ping(ctx context.Context) error
	Close() error
}

// Tx is one transaction. Methods return ErrNotFound for a missing row and
// ErrConflict for a violated uniqueness rule; times are passed in by the
// caller, who reads its clock once per request.
type Tx interface {
	AccountTx
	SessionTx
	LoginTx
	ReadingTx
	ProfileTx
	NamedValueTx
	FollowerTx
	AlarmTx
	ChannelTx
	LeaseTx
	RetentionTx
	WebTx
	NightscoutTx
	DocumentTx
	MirrorTx
}

// AccountTx stores accounts and their receiver assignment.
type AccountTx interface {
	// CreateAccount inserts a; ErrConflict if the name key is taken.
	CreateAccount(a *Account) error
	AccountByID(id string) (*Account, error)
	// AccountByName finds an account by NameKey(name).
	AccountByName(name string) (*Account, error)
	// Accounts lists every account ordered by name key.
	Accounts() ([]Account, error)
	SetPasswordHash(accountID, hash string) error
	SetDisabled(accountID string, disabled bool) error
	SetCompat(accountID, compat string) error
	SetUnits(accountID string, units Units) error

	// AccountBySerial finds the account that holds serial exclusively
	// (shared serials are never held exclusively).
	AccountBySerial(serial string) (*Account, error)
	// SetReceiver assigns serial under receiverID, or clears the assignment
	// when serial is "". When exclusive, the serial is claimed so that no
	// other account can hold it (ErrConflict if another does).
	SetReceiver(accountID, serial, receiverID string, exclusive bool) error
	SetMonitoring(accountID string, on bool) error
}

// SessionTx stores login sessions.
type SessionTx interface {
	CreateSession(s *Session) error
	SessionByID(id string) (*Session, error)
	// SessionWithAccount finds a session, open or ended, and its account,
	// in one look-up (the start of every authenticated request).
	SessionWithAccount(id string) (*Session, *Account, error)
	TouchSession(id string, at time.Time) error
	EndSession(id string, at time.Time) error
	// EndOtherSessions ends every open session of the account but keep.
	EndOtherSessions(accountID, keep string, at time.Time) error
	// EvictSessions ends the least recently used open sessions of the
	// account so that at most keep remain open.
	EvictSessions(accountID string, keep int, at time.Time) error
	// ForgetSessions deletes sessions that ended, or were last used,
	// before cutoff. It returns how many were deleted.
	ForgetSessions(cutoff time.Time) (int, error)
}

// LoginTx stores what login throttling needs (core/throttle.go): a
// counter per key, the addresses accounts logged in from, and the server's
// random keys.
type LoginTx interface {
	// Throttles returns the rows of those keys that have one.
	Throttles(keys ...string) ([]Throttle, error)
	// AddLoginFailure counts a failure on key at now and returns the new
	// count: one more, or 1 when the row was due to be forgotten by now.
	AddLoginFailure(key string, now time.Time) (int, error)
	// SetLoginDelay sets when the key's next attempt may come and when the
	// row is forgotten.
	SetLoginDelay(key string, until, forget time.Time) error
	// ForgiveLoginFailure takes one failure back from key, when it has any.
	ForgiveLoginFailure(key string) error
	// ClearLogin removes the key's row.
	ClearLogin(key string) error
	// ClearAccountLogins removes every row of the account (keys starting
	// with its id and a space) and the addresses it logged in from.
	ClearAccountLogins(accountID string) error
	// ForgetLogins deletes rows due to be forgotten at now and addresses
	// last used before addressCutoff, and returns how many rows went.
	ForgetLogins(now, addressCutoff time.Time) (int, error)
	// LoginAddressSince reports whether the account logged in from addr at
	// or after since.
	LoginAddressSince(accountID, addr string, since time.Time) (bool, error)
	// RememberLoginAddress records a login from addr at at, keeping the
	// account's keep most recent addresses.
	RememberLoginAddress(accountID, addr string, at time.Time, keep int) error
	// ServerKey returns the server's key of that name, storing fresh as the
	// key when it has none yet (the first instance to ask wins).
	ServerKey(name string, fresh []byte) ([]byte, error)
}

// Throttle is one throttling counter.
type Throttle struct {
	Key      string
	Failures int
	Until    time.Time // attempts before this are refused
	ForgetAt time.Time // the row counts nothing from then on
}

// ReadingTx stores glucose readings. A reading is identified by its account
// and ST; the first write wins.
type ReadingTx interface {
	// InsertReadings stores each reading whose ST the account does not have
	// yet and returns how many were stored. Existing readings never change.
	InsertReadings(accountID string, rs []Reading) (int, error)
	// InsertReceiverReadings is InsertReadings when the account is
	// monitoring and its receiver is serial, and stores nothing (0)
	// otherwise.
	InsertReceiverReadings(accountID, serial string, rs []Reading) (int, error)
	// LatestReadings returns the account's readings with ST >= since,
	// newest first, at most max.
	LatestReadings(accountID string, since int64, max int) ([]Reading, error)
}

// ProfileTx stores the editable parts of an account.
type ProfileTx interface {
	SetDisplayName(accountID, name string) error
	SetEmail(accountID, email string) error
	// Image returns ErrNotFound when the account has none.
	Image(accountID string) (*Image, error)
	SetImage(accountID string, img *Image) error
	DeleteImage(accountID string) error
	// SetRuntimeInfo keeps the latest runtime info (JSON) per account and
	// role ("publisher" or "subscriber"), for diagnostics.
	SetRuntimeInfo(accountID, role string, info []byte, at time.Time) error
}

// NamedValueTx stores the per-account key/value partitions (docs/protocol.md, "General").
type NamedValueTx interface {
	// NamedValue returns ErrNotFound when the name does not exist.
	NamedValue(accountID, partition, name string) (string, error)
	// PutNamedValue creates or overwrites a value.
	PutNamedValue(accountID, partition, name, value string) error
	// NamedValueNames lists the partition's names in byte order.
	NamedValueNames(accountID, partition string) ([]string, error)
	CountNamedValues(accountID, partition string) (int, error)
	// NamedValueUsage returns how many partitions the account's values
	// fill and the bytes of their names and values.
	NamedValueUsage(accountID string) (partitions, bytes int, err error)
	// DeleteNamedValues deletes the partition and returns how many values
	// it held.
	DeleteNamedValues(accountID, partition string) (int, error)
}

// HotReader is implemented by stores that can answer the two reads of the
// busiest requests — the session check that starts every authenticated
// call, and a short read of an account's latest readings — outside a
// transaction, and possibly from memory. Answers are as fresh as a read
// that begins when the request does: every write committed before that
// moment, by any process, is reflected. The accounts they return have no
// PasswordHash: the requests they serve check no password, and a cache of
// many accounts should not keep every hash in memory.
type HotReader interface {
	// Fresh marks ctx with the moment the request began, so that several
	// hot reads of one request share one freshness check.
	Fresh(ctx context.Context) context.Context
	SessionWithAccount(ctx context.Context, id string) (*Session, *Account, error)
	LatestReadings(ctx context.Context, accountID string, since int64, max int) ([]Reading, error)
	// NightscoutSecretWithAccount finds the API secret stored under one
	// of keys (ErrConflict when they name two accounts' secrets) and its
	// account: the check that starts a Nightscout uploader's request.
	NightscoutSecretWithAccount(ctx context.Context, keys []string) (*NightscoutSecret, *Account, error)
	// LatestEntryReadings is LatestReadings when the account has no
	// Nightscout entries kept as documents, so that its newest readings
	// are its newest entries; ok is false when it has some, or when the
	// store cannot tell without querying both.
	LatestEntryReadings(ctx context.Context, accountID string, since int64, max int) (rs []Reading, ok bool, err error)
}
