package glucose

import (
	"context"
	"time"

	"github.com/glucoshare/glucoshare/share"
)

// State is a subscription's state, numbered as the official uploader
// numbers them (docs/protocol.md, "Follower state machine").
type State int

// The follower state machine of docs/protocol.md, "Follower state machine". Created and Unknown are never stored.
const (
	StateUnknown               State = 0
	StateCreated               State = 1
	StateInviteWaiting         State = 2
	StateInviteFailed          State = 3
	StateInviteRejected        State = 4
	StateInviteExpired         State = 5
	StateActive                State = 6
	StatePausedByPublisher     State = 7
	StatePausedBySubscriber    State = 8
	StateCanceledByPublisher   State = 9
	StateCanceledBySubscriber  State = 10
	StateCanceledByBoth        State = 11
	StateAbandonedBySubscriber State = 12
)

// Live reports whether the state counts towards the follower limit: a
// waiting invitation, or an active or paused subscription.
func (s State) Live() bool {
	return s == StateInviteWaiting || s.Accepted()
}

// Accepted reports an active or paused subscription (6, 7, 8).
func (s State) Accepted() bool {
	return s == StateActive || s == StatePausedByPublisher || s == StatePausedBySubscriber
}

// Contact is a publisher's entry for a person it shares with (docs/protocol.md, "Publisher: contacts and followers").
// Deleted contacts keep their row, so that their subscriptions can still
// answer the follower, but every publisher call treats them as not found.
type Contact struct {
	ID          string
	PublisherID string
	Name        string // trimmed, as entered; unique by NameKey among non-deleted contacts
	Email       string // "" when none
	CreatedAt   time.Time
	DeletedAt   time.Time // zero while not deleted
	// CurrentSubscriptionID is the contact's most recent subscription, ""
	// when it has none.
	CurrentSubscriptionID string
}

// Deleted reports whether the publisher deleted the contact.
func (c *Contact) Deleted() bool { return !c.DeletedAt.IsZero() }

// Subscription links a contact — and, once its invitation is accepted, a
// follower account — to a publisher (docs/protocol.md, "Publisher: contacts and followers", "Follower state machine"). Its invitation id is the
// bearer token the follower presents.
type Subscription struct {
	ID           string
	ContactID    string
	PublisherID  string
	SubscriberID string // "" until accepted
	InvitationID string
	State        State
	Permissions  int // 1: history allowed; 0: current value only
	// DisplayName is the name the follower sees. Stored as the invitation
	// gave it; "" stands for the publisher's display name, which the store
	// substitutes when it reads the row.
	DisplayName string
	// InviteSettings are the alert settings the invitation proposed;
	// AlertSettings are the ones in force (a copy of the invitation's until
	// the follower changes them).
	InviteSettings share.AlertSettings
	AlertSettings  share.AlertSettings
	InviteExpires  time.Time
	CreatedAt      time.Time
	ModifiedAt     time.Time // every change of state, permissions or alert settings
	AcceptedAt     time.Time // zero until accepted
	// ActiveSince is when the subscription last entered state 6 (NoData
	// alarms measure silence from there); zero if it never did.
	ActiveSince time.Time
	// PublisherDisabled tells that the publisher's account is disabled:
	// nothing may read its data through the subscription. Read with the
	// row, never stored with it.
	PublisherDisabled bool
}

// Expire applies the lazy expiry of docs/protocol.md, "Follower state machine": a waiting invitation whose
// InviteExpires has come moves to InviteExpired, modified at the moment it
// expired. It reports whether it changed s; a caller inside a write
// transaction then stores s.
func (s *Subscription) Expire(now time.Time) bool {
	if s.State != StateInviteWaiting || now.Before(s.InviteExpires) {
		return false
	}
	s.State = StateInviteExpired
	s.ModifiedAt = s.InviteExpires
	return true
}

// SetState moves s to state at now, recording when it became active.
func (s *Subscription) SetState(state State, now time.Time) {
	if s.State == state {
		return
	}
	s.State = state
	s.ModifiedAt = now
	if state == StateActive {
		s.ActiveSince = now
	}
}

// SubscriptionListing is a subscription as the follower lists show it,
// with what the lists read beside it.
type SubscriptionListing struct {
	Subscription
	ContactName         string
	PublisherMonitoring bool // the publisher's monitoring flag (docs/protocol.md, "Publisher: session, receiver and monitoring")
}

// FollowerTx stores contacts and subscriptions (docs/protocol.md, "Publisher: contacts and followers", "Subscriber", "Follower state machine"). Rules,
// access checks and lazy expiry are the caller's: the store keeps rows.
type FollowerTx interface {
	// LockFollowers serialises writers of one publisher's contacts and
	// subscriptions across connections and server instances, until the
	// transaction ends. Callers that check a limit or a state and then
	// write take it first.
	LockFollowers(publisherID string) error

	// CreateContact inserts c, giving it an id when c.ID is empty;
	// ErrConflict when a non-deleted contact of the publisher has the same
	// name key.
	CreateContact(c *Contact) error
	// ContactByID finds a contact, deleted or not.
	ContactByID(id string) (*Contact, error)
	// ContactByName finds the publisher's non-deleted contact with
	// NameKey(name).
	ContactByName(publisherID, name string) (*Contact, error)
	// CountContacts counts the publisher's non-deleted contacts.
	CountContacts(publisherID string) (int, error)
	// RenameContact sets a contact's name; ErrConflict as CreateContact.
	RenameContact(id, name string) error
	// MarkContactDeleted marks a contact deleted at at.
	MarkContactDeleted(id string, at time.Time) error

	// CreateSubscription inserts s, giving it an id when s.ID is empty,
	// and makes it its contact's current subscription.
	CreateSubscription(s *Subscription) error
	SubscriptionByID(id string) (*Subscription, error)
	SubscriptionByInvitation(invitationID string) (*Subscription, error)
	// UpdateSubscription stores the mutable fields of s: state,
	// subscriber, permissions, alert settings, and the modified, accepted
	// and active-since times.
	UpdateSubscription(s *Subscription) error
	// CountLiveSubscriptions counts the publisher's subscriptions that
	// count towards the follower limit at now: states 6, 7, 8, and 2
	// while InviteExpires is after now.
	CountLiveSubscriptions(publisherID string, now time.Time) (int, error)
	// PublisherSubscriptions lists the current subscription of each of the
	// publisher's non-deleted contacts, by creation time.
	PublisherSubscriptions(publisherID string) ([]SubscriptionListing, error)
	// SubscriberSubscriptions lists the subscriptions the account
	// accepted that are in one of states, by acceptance time.
	SubscriberSubscriptions(subscriberID string, states ...State) ([]SubscriptionListing, error)
}

// InvitationNotice tells a contact about a new invitation by e-mail.
type InvitationNotice struct {
	To            string // the contact's e-mail address
	ContactName   string
	PublisherName string // the subscription's display name
	InvitationID  string
	Link          string // the accept link; "" when no public URL is configured
	Expires       time.Time
	// Alerts describes the proposed alert settings for people, in the
	// publisher's units ("urgent low below 3.1 mmol/L, …"); "" for none.
	Alerts string
	// History is whether the follower will see the history or only the
	// current value (permissions 1 or 0, docs/protocol.md, "Follower state machine").
	History bool
}

// InvitationSender delivers invitation e-mails. SendInvitation is called
// after the invitation was committed and must not hold the request up for
// long; delivery failures are the sender's to log, and never undo the
// invitation.
type InvitationSender interface {
	SendInvitation(ctx context.Context, n InvitationNotice)
}
