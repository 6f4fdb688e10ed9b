package glucose

import "time"

// Alarm is one alarm of a subscription and alert kind (docs/protocol.md, "Alarm lifecycle").
// At most one alarm per subscription and kind is open (Active or
// Acknowledged) at a time.
type Alarm struct {
	ID             string
	SubscriptionID string
	Kind           int    // AlertType: 1 High, 2 Low, 3 urgent low, 4 NoData
	State          string // "Active", "Acknowledged" or "Cleared"
	Value          int
	TriggeredAt    time.Time
	LastNotifiedAt time.Time
	NotifyCount    int
	AcknowledgedAt time.Time // zero until acknowledged
	ClearedAt      time.Time // zero until cleared
}

// Open reports whether the alarm is Active or Acknowledged.
func (a *Alarm) Open() bool { return a.State == "Active" || a.State == "Acknowledged" }

// Webhook is a follower's registration for alarm events.
type Webhook struct {
	ID        string
	AccountID string
	URL       string
	Secret    string // signs each delivery; kept to sign, never shown again
	CreatedAt time.Time
}

// AlarmTx stores alarms and webhooks (the channels of kind webhook).
type AlarmTx interface {
	// OpenAlarms returns the subscription's open alarms.
	OpenAlarms(subscriptionID string) ([]Alarm, error)
	// SaveAlarm inserts a (giving it an id when a.ID is empty) or updates
	// it. ErrConflict when inserting an open alarm for a kind that has one.
	SaveAlarm(a *Alarm) error
	AlarmByID(id string) (*Alarm, error)
	// Alarms lists the open alarms of the subscriptions, of any age, and
	// the cleared ones triggered at or after since; newest TriggeredAt
	// first.
	Alarms(subscriptionIDs []string, since time.Time) ([]Alarm, error)
	// PurgeAlarms deletes alarms cleared before cutoff.
	PurgeAlarms(cutoff time.Time) (int, error)
	// AlarmPublishers lists the publishers that have an Active
	// subscription or a subscription with an open alarm: the ones the
	// periodic evaluation visits.
	AlarmPublishers() ([]string, error)
	// OpenAlarmSubscriptions lists the publisher's subscriptions that have
	// open alarms.
	OpenAlarmSubscriptions(publisherID string) ([]string, error)
	// HasAlarmWork reports whether the publisher has a subscription in
	// state 6 or an open alarm: when it has neither, evaluating its alarms
	// can change nothing. (It may answer true when evaluation then finds
	// nothing to do, never false when it would.)
	HasAlarmWork(publisherID string) (bool, error)

	// MarkAlarmWork is HasAlarmWork for an upload that stored readings:
	// when the publisher has alarm work it also marks the publisher as
	// waiting for an evaluation of those readings, in the same statement.
	// The mark commits or rolls back with the readings; it outlives them
	// only when a crash cuts the evaluation short.
	MarkAlarmWork(publisherID string) (bool, error)
	// AlarmMark returns the generation of the publisher's mark (every
	// MarkAlarmWork raises it), 0 when it has none.
	AlarmMark(publisherID string) (int64, error)
	// ClearAlarmMark deletes the publisher's mark if its generation is
	// still gen: an evaluation that read gen under the follower lock
	// covered every reading marked up to gen, but not those marked after.
	ClearAlarmMark(publisherID string, gen int64) error
	// MarkedPublishers lists the publishers with a mark.
	MarkedPublishers() ([]string, error)

	CreateWebhook(w *Webhook) error
	Webhooks(accountID string) ([]Webhook, error)
	// DeleteWebhook deletes the account's webhook; ErrNotFound otherwise.
	DeleteWebhook(accountID, id string) error
}
