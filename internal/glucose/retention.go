package glucose

import "time"

// NamedValue is one value of an account's key/value partitions (docs/protocol.md, "General").
type NamedValue struct {
	Partition string
	Name      string
	Value     string
}

// RuntimeInfo is the latest runtime info an account's app reported in one
// role (docs/protocol.md, "Publisher: profile").
type RuntimeInfo struct {
	Role      string // "publisher" or "subscriber"
	Info      string // JSON text as received
	UpdatedAt time.Time
}

// Footprint counts what an account holds, for the operator deciding on a
// deletion.
type Footprint struct {
	Readings      int
	Sessions      int
	NamedValues   int
	Contacts      int // as publisher, deleted ones included
	Subscriptions int // as publisher, every state
	Following     int // as follower (subscriber), every state
	Documents     int // Nightscout documents, soft-deleted ones included
}

// RetentionTx is what the operator's data-lifecycle work needs beyond the
// everyday calls: purging old readings, exporting an account whole, and
// deleting it.
type RetentionTx interface {
	// PurgeReadings deletes at most limit of the account's readings with
	// ST before before, oldest first, and returns how many it deleted.
	PurgeReadings(accountID string, before int64, limit int) (int, error)
	// ReadingsAfter returns at most limit of the account's readings with
	// ST after after, oldest first (for paging through all of them).
	ReadingsAfter(accountID string, after int64, limit int) ([]Reading, error)
	// NamedValues returns every named value of the account, by partition
	// and name.
	NamedValues(accountID string) ([]NamedValue, error)
	// RuntimeInfos returns the account's runtime info, by role.
	RuntimeInfos(accountID string) ([]RuntimeInfo, error)
	// Contacts returns every contact of the publisher, deleted ones
	// included, by creation time.
	Contacts(publisherID string) ([]Contact, error)
	// AccountSubscriptions returns every subscription the account
	// publishes or follows, in every state, by creation time.
	AccountSubscriptions(accountID string) ([]Subscription, error)
	// Footprint counts the account's rows.
	Footprint(accountID string) (Footprint, error)
	// DeleteAccount deletes the account and everything that belongs to
	// it. Subscriptions it follows survive with no subscriber: the caller
	// moves the live ones to AbandonedBySubscriber first (docs/protocol.md, "Follower state machine").
	DeleteAccount(accountID string) error
}
