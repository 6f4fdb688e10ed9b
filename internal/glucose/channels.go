package glucose

import (
	"crypto/rand"
	"fmt"
	"time"
	_ "time/tzdata" // quiet hours in any IANA zone, also on hosts without a zone database

	"github.com/glucoshare/glucoshare/share"
)

// NewID returns a random (version 4) UUID in lower case: the ids of rows
// the store makes, and of those whose id must be known before they are
// stored (a channel whose ntfy token is sealed to its id).
func NewID() string {
	var b [16]byte
	rand.Read(b[:]) // never fails (crypto/rand)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// ChannelKind names how a channel reaches its account.
type ChannelKind string

// The channel kinds.
const (
	ChannelWebhook  ChannelKind = "webhook"  // a signed JSON POST (docs/alarms.md)
	ChannelWebPush  ChannelKind = "webpush"  // a browser's push subscription (RFC 8030, 8291, 8292)
	ChannelNtfy     ChannelKind = "ntfy"     // an ntfy topic
	ChannelPushover ChannelKind = "pushover" // a Pushover user or group key
)

// Channel is one way an account's notifications reach a person or a
// program. Alarm events of the subscriptions the account follows, and
// notices to the account, go to every channel of the account that wants
// them (Prefs).
type Channel struct {
	ID        string
	AccountID string
	Kind      ChannelKind
	// URL is the webhook's URL, the push service endpoint of a Web Push
	// subscription, or the ntfy topic URL; "" for Pushover.
	URL    string
	Secret string // webhook: signs every delivery
	// P256dh and Auth are a Web Push subscription's keys (base64url).
	P256dh, Auth string
	// TokenSealed is an ntfy access token sealed under the operator's
	// secret key (base64); "" when the topic needs none.
	TokenSealed string
	UserKey     string // Pushover user or group key
	Name        string // Web Push: the device, as its user agent names it
	Prefs       ChannelPrefs
	CreatedAt   time.Time
	// LastDeliveredAt is when a message last reached the channel; zero
	// when none has yet.
	LastDeliveredAt time.Time
}

// KindSet is a set of alarm kinds: bit 1<<AlertType for each.
type KindSet int

// AllKinds holds every alarm kind.
const AllKinds = KindSet(1<<share.AlertTypeHigh | 1<<share.AlertTypeLow | 1<<share.AlertTypeFixedLow | 1<<share.AlertTypeNoData)

// Has reports whether the set holds the kind.
func (s KindSet) Has(kind int) bool { return kind > 0 && kind < 31 && s&(1<<kind) != 0 }

// With returns the set with kind added or, when on is false, removed.
func (s KindSet) With(kind int, on bool) KindSet {
	if on {
		return s | 1<<kind
	}
	return s &^ (1 << kind)
}

// ChannelPrefs are a channel's choices: which alarm kinds it wants, and
// which of them still go out during quiet hours. Urgent low is never
// silenced unless UrgentLowOff says so explicitly.
type ChannelPrefs struct {
	Kinds      KindSet // outside quiet hours
	QuietKinds KindSet // during quiet hours
	// QuietStart and QuietEnd are minutes of the day in TimeZone; quiet
	// hours run from start up to end, across midnight when end < start.
	// -1 (or start == end) means none.
	QuietStart, QuietEnd int
	TimeZone             string // IANA name, e.g. Europe/Paris
	// UrgentLowOff is the follower's explicit choice to receive no urgent
	// low on this channel, by day or night.
	UrgentLowOff bool
}

// DefaultChannelPrefs: every kind, no quiet hours; were quiet hours set,
// only urgent low would go out during them.
func DefaultChannelPrefs() ChannelPrefs {
	return ChannelPrefs{Kinds: AllKinds, QuietKinds: KindSet(1 << share.AlertTypeFixedLow),
		QuietStart: -1, QuietEnd: -1, TimeZone: "UTC"}
}

// HasQuietHours reports whether quiet hours are set.
func (p ChannelPrefs) HasQuietHours() bool {
	return p.QuietStart >= 0 && p.QuietEnd >= 0 && p.QuietStart != p.QuietEnd
}

// Quiet reports whether at falls in the quiet hours.
func (p ChannelPrefs) Quiet(at time.Time) bool {
	if !p.HasQuietHours() {
		return false
	}
	loc, err := time.LoadLocation(p.TimeZone)
	if err != nil {
		loc = time.UTC
	}
	t := at.In(loc)
	m := t.Hour()*60 + t.Minute()
	if p.QuietStart < p.QuietEnd {
		return m >= p.QuietStart && m < p.QuietEnd
	}
	return m >= p.QuietStart || m < p.QuietEnd
}

// WantsAlarm reports whether an event of the alarm kind at at goes to the
// channel.
func (p ChannelPrefs) WantsAlarm(kind int, at time.Time) bool {
	if kind == share.AlertTypeFixedLow {
		return !p.UrgentLowOff
	}
	if p.Quiet(at) {
		return p.QuietKinds.Has(kind)
	}
	return p.Kinds.Has(kind)
}

// WantsNotice reports whether a notice goes to the channel: always, and
// during quiet hours only when it is urgent.
func (p ChannelPrefs) WantsNotice(urgent bool, at time.Time) bool {
	return urgent || !p.Quiet(at)
}

// Delivery is one message waiting in the outbox for one channel.
type Delivery struct {
	ID        string
	ChannelID string
	Channel   Channel // read with the delivery when it is claimed
	// Units are the channel's account's, read with the delivery: values
	// are shown in them.
	Units    Units
	Event    string
	Payload  []byte
	Attempts int
	NextAt   time.Time
}

// AckToken lets a notification acknowledge one alarm for one account,
// once, until it expires, without a session. Only a hash of the token is
// stored.
type AckToken struct {
	Hash      string // hex SHA-256 of the token
	AlarmID   string
	AccountID string
	ChannelID string
	// Receipt is the Pushover receipt of the emergency message that
	// carried the token ("" for other channels).
	Receipt   string
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    time.Time // zero until used
}

// VAPIDKeys is the server's application server key pair (RFC 8292): the
// public key in the uncompressed point form browsers take as
// applicationServerKey, and the private scalar, both base64url. The
// private key is sealed under the operator's secret key when Sealed.
type VAPIDKeys struct {
	Public    string
	Private   string
	Sealed    bool
	CreatedAt time.Time
}

// ChannelTx stores notification channels, their outbox, acknowledgement
// tokens and the VAPID keys.
type ChannelTx interface {
	// CreateChannel inserts c, giving it an id when c.ID is empty. A Web
	// Push subscription whose endpoint another channel holds replaces it.
	CreateChannel(c *Channel) error
	// Channels lists the account's channels, oldest first.
	Channels(accountID string) ([]Channel, error)
	// ChannelByID returns ErrNotFound unless the account has the channel.
	ChannelByID(accountID, id string) (*Channel, error)
	// DeleteChannel deletes one of the account's channels; ErrNotFound
	// otherwise.
	DeleteChannel(accountID, id string) error
	// DropChannel deletes a channel whatever its account (a Web Push
	// subscription the push service says is gone).
	DropChannel(id string) error
	SetChannelPrefs(accountID, id string, p ChannelPrefs) error
	// ChannelDelivered records that a message reached the channel.
	ChannelDelivered(id string, at time.Time) error

	// EnqueueDelivery adds a delivery to the outbox, due at d.NextAt.
	EnqueueDelivery(d *Delivery) error
	// ClaimDeliveries returns up to limit deliveries due at now, each with
	// its channel and its account's units, hiding each from other
	// claimers until until.
	ClaimDeliveries(now, until time.Time, limit int) ([]Delivery, error)
	DeliveryDone(id string, at time.Time) error
	DeliveryRetry(id string, attempts int, next time.Time, lastErr string) error
	DeliveryFailed(id string, attempts int, at time.Time, lastErr string) error

	CreateAckToken(t *AckToken) error
	// UseAckToken marks the token used and returns it, when it exists,
	// is unused and has not expired at now; ErrNotFound otherwise.
	UseAckToken(hash string, now time.Time) (*AckToken, error)
	// SetAckReceipt records the Pushover receipt of the token's message.
	SetAckReceipt(hash, receipt string) error
	// AckReceipts lists the Pushover receipts of the alarm's messages to
	// the channel.
	AckReceipts(alarmID, channelID string) ([]string, error)
	// ForgetAckReceipts forgets them, once their repeats are cancelled.
	ForgetAckReceipts(alarmID, channelID string) error
	// PurgeAckTokens deletes tokens that expired before cutoff.
	PurgeAckTokens(cutoff time.Time) (int, error)

	// CreateVAPIDKeys stores k unless keys exist; either way it returns
	// the keys stored, so that of two instances starting at once both end
	// up with the same pair.
	CreateVAPIDKeys(k *VAPIDKeys) (*VAPIDKeys, error)
	// VAPIDKeysStored returns ErrNotFound when none were made yet.
	VAPIDKeysStored() (*VAPIDKeys, error)
	// SealVAPIDKey replaces a plain private key with its sealed form.
	SealVAPIDKey(sealed string) error
}
