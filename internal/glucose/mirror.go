package glucose

import "time"

// MirrorLink ties a glucoshare account to an account on another Share
// server — Dexcom's hosted service or any other — whose readings the
// server copies into it (docs/mirror.md). The password and the upstream
// session are sealed under the operator's key; only core opens them.
type MirrorLink struct {
	AccountID       string
	Server          string // us, ous, jp or a base URL
	Username        string
	PasswordSealed  []byte
	UpstreamAccount string // the upstream account id once a login told it; "" before
	SessionSealed   []byte // nil before the first login
	Gen             int64  // grows with every link of new credentials
	Broken          bool   // the upstream refused the credentials: no polls until a re-link
	NextPoll        time.Time
	ClaimHolder     string // the instance polling it now; "" when none
	ClaimUntil      time.Time
	Failures        int           // consecutive failed polls
	Lag             time.Duration // observed delay from a reading's time to its appearance upstream
	LastSuccess     time.Time     // zero: never
	LastReading     time.Time     // the newest mirrored reading's time; zero: none yet
	LastError       string        // "" after a success
	LastErrorAt     time.Time
	Created         time.Time
}

// MirrorPoll is what one poll of a link changes on it. It applies only
// while the poller still holds its claim on the link's generation.
type MirrorPoll struct {
	Holder          string
	Gen             int64
	NextPoll        time.Time
	UpstreamAccount string // "" keeps the one stored
	SessionSealed   []byte // nil keeps the one stored
	Success         bool   // the poll read the upstream
	Broken          bool   // the upstream refused the credentials
	Lag             time.Duration
	LastReading     time.Time // zero keeps the one stored
	Error           string    // with !Success: what went wrong, for the owner
	At              time.Time
}

// MirrorTx stores mirror links.
type MirrorTx interface {
	// PutMirrorLink creates or replaces the account's link, with a new
	// generation: a poll of the old credentials records nothing.
	PutMirrorLink(l *MirrorLink) error
	// MirrorLink returns the account's link; ErrNotFound when it has none.
	MirrorLink(accountID string) (*MirrorLink, error)
	// DeleteMirrorLink removes the account's link with its sealed
	// password; ErrNotFound when it has none.
	DeleteMirrorLink(accountID string) error
	// ClaimMirrorLinks claims up to max links that are due at now, not
	// broken and not claimed by a live poller, for holder until until, in
	// one conditional UPDATE: of several instances claiming together, each
	// link goes to one. Links come soonest due first.
	ClaimMirrorLinks(holder string, now, until time.Time, max int) ([]MirrorLink, error)
	// ReleaseMirrorClaims ends every claim holder still has, so that a
	// stopping instance's links are due for another at once rather than
	// when the claims would have lapsed.
	ReleaseMirrorClaims(holder string) error
	// RecordMirrorPoll writes the outcome of a poll and ends the claim,
	// when p.Holder still holds the link's generation p.Gen; it reports
	// whether it did.
	RecordMirrorPoll(accountID string, p MirrorPoll) (bool, error)
	// MarkMirroredReading marks the account's reading at st as mirrored
	// from the account's link, with the link's server; nothing when the
	// reading is marked already or the account has no link. The reading
	// must be stored; the mark goes when the reading does.
	MarkMirroredReading(accountID string, st int64) error
	// ReadingsAt returns the account's readings at sts, in no particular
	// order: what a poll finds stored before and after it stores its own.
	ReadingsAt(accountID string, sts []int64) ([]Reading, error)
	// MirroredReadings returns which of sts the account's mirrored
	// readings are at, in no particular order.
	MirroredReadings(accountID string, sts []int64) ([]int64, error)
}
