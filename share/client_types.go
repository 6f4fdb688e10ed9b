package share

import (
	"strconv"
	"time"
)

// Result types of the client, one per object of docs/protocol.md, "Endpoints". Member
// names follow the wire; ids are lower-case UUID strings; DateTime members
// read every date form (docs/protocol.md, "Dates and times").

// SubscriptionState is a subscription's state number (docs/protocol.md, "Follower state machine").
type SubscriptionState int

// The states of docs/protocol.md, "Follower state machine".
const (
	StateUnknown               SubscriptionState = 0
	StateCreated               SubscriptionState = 1
	StateInviteWaiting         SubscriptionState = 2
	StateInviteFailed          SubscriptionState = 3
	StateInviteRejected        SubscriptionState = 4
	StateInviteExpired         SubscriptionState = 5
	StateActive                SubscriptionState = 6
	StatePausedByPublisher     SubscriptionState = 7
	StatePausedBySubscriber    SubscriptionState = 8
	StateCanceledByPublisher   SubscriptionState = 9
	StateCanceledBySubscriber  SubscriptionState = 10
	StateCanceledByBoth        SubscriptionState = 11
	StateAbandonedBySubscriber SubscriptionState = 12
)

var stateNames = [...]string{
	"Unknown", "Created", "InviteWaiting", "InviteFailed", "InviteRejected", "InviteExpired",
	"Active", "PausedByPublisher", "PausedBySubscriber", "CanceledByPublisher",
	"CanceledBySubscriber", "CanceledByBoth", "AbandonedBySubscriber",
}

// String returns the state's name, e.g. "Active", or the number when it is
// not one of docs/protocol.md, "Follower state machine".
func (s SubscriptionState) String() string {
	if s < 0 || int(s) >= len(stateNames) {
		return strconv.Itoa(int(s))
	}
	return stateNames[s]
}

// Live reports whether the state counts towards the follower limit: 2, 6,
// 7 or 8 (docs/protocol.md, "Follower state machine").
func (s SubscriptionState) Live() bool {
	return s == StateInviteWaiting || s == StateActive || s == StatePausedByPublisher || s == StatePausedBySubscriber
}

// Permissions says what a follower may read (docs/protocol.md, "Follower state machine").
type Permissions int

const (
	// PermissionCurrentValue lets the follower read the current value only.
	PermissionCurrentValue Permissions = 0
	// PermissionHistory lets the follower read the history (trend graph).
	PermissionHistory Permissions = 1
)

// String returns "history" or "current value".
func (p Permissions) String() string {
	if p > 0 {
		return "history"
	}
	return "current value"
}

// AssignmentStatus answers CheckMonitoredReceiverAssignmentStatus (docs/protocol.md, "Publisher: session, receiver and monitoring").
type AssignmentStatus string

// The three answers.
const (
	AssignedToYou         AssignmentStatus = "AssignedToYou"
	NotAssigned           AssignmentStatus = "NotAssigned"
	AssignedToSomeoneElse AssignmentStatus = "AssignedToSomeoneElse"
)

// Image is an avatar (docs/protocol.md, "Publisher: profile").
type Image struct {
	ContentType string // image/png or image/jpeg
	Data        []byte
}

// RuntimeInfo describes the client device for diagnostics (docs/protocol.md, "Shared objects"). Empty
// members are left out.
type RuntimeInfo struct {
	DeviceManufacturer string `json:"DeviceManufacturer,omitempty"`
	DeviceModel        string `json:"DeviceModel,omitempty"`
	DeviceOsName       string `json:"DeviceOsName,omitempty"`
	DeviceOsVersion    string `json:"DeviceOsVersion,omitempty"`
	AppName            string `json:"AppName,omitempty"`
	AppNumber          string `json:"AppNumber,omitempty"`
	AppVersion         string `json:"AppVersion,omitempty"`
}

// Contact is a publisher's entry for a person (ReadContact, docs/protocol.md, "Publisher: contacts and followers"). State and
// SubscriptionID describe its current subscription: 0 and ZeroID when it
// has none.
type Contact struct {
	ContactID          string            `json:"ContactId"`
	Name               string            `json:"Name"`
	Email              string            `json:"Email"`
	PublisherAccountID string            `json:"PublisherAccountId"`
	State              SubscriptionState `json:"State"`
	SubscriptionID     string            `json:"SubscriptionId"`
}

// Invite holds the optional parts of CreateSubscriptionInvitation (docs/protocol.md, "Publisher: contacts and followers").
// The zero value invites with history permission, the publisher's display
// name and the default alert settings.
type Invite struct {
	DisplayName      string         // the name the follower sees; "" = the publisher's
	CurrentValueOnly bool           // Permissions 0 instead of 1
	AlertSettings    *AlertSettings // nil = the defaults of docs/protocol.md, "Shared objects"
}

// PublisherSubscription is one follower as the publisher sees it
// (ListPublisherAccountSubscriptions, docs/protocol.md, "Publisher: contacts and followers").
type PublisherSubscription struct {
	ContactID                 string            `json:"ContactId"`
	ContactName               string            `json:"ContactName"`
	DateTimeCreated           DateTime          `json:"DateTimeCreated"`
	DateTimeModified          DateTime          `json:"DateTimeModified"`
	DisplayName               string            `json:"DisplayName"`
	InviteExpires             DateTime          `json:"InviteExpires"`
	IsEnabled                 bool              `json:"IsEnabled"`
	IsMonitoringSessionActive bool              `json:"IsMonitoringSessionActive"`
	Permissions               Permissions       `json:"Permissions"`
	State                     SubscriptionState `json:"State"`
	SubscriberID              string            `json:"SubscriberId"` // ZeroID until accepted
	SubscriptionID            string            `json:"SubscriptionId"`
}

// SubscriberSubscription is one share as the follower sees it
// (ListSubscriberAccountSubscriptions, docs/protocol.md, "Subscriber").
type SubscriberSubscription struct {
	SubscriptionID            string            `json:"SubscriptionId"`
	SubscriberID              string            `json:"SubscriberId"`
	DisplayName               string            `json:"DisplayName"`
	Permissions               Permissions       `json:"Permissions"`
	State                     SubscriptionState `json:"State"`
	IsEnabled                 bool              `json:"IsEnabled"`
	IsMonitoringSessionActive bool              `json:"IsMonitoringSessionActive"`
	DateTimeCreated           DateTime          `json:"DateTimeCreated"`
	DateTimeModified          DateTime          `json:"DateTimeModified"`
	DateTimeAccepted          *DateTime         `json:"DateTimeAccepted"`
}

// Invitation is what a follower reads before accepting (ReadInvitation,
// docs/protocol.md, "Subscriber").
type Invitation struct {
	InvitationID    string            `json:"InvitationId"`
	DisplayName     string            `json:"DisplayName"`
	Permissions     Permissions       `json:"Permissions"`
	State           SubscriptionState `json:"State"`
	InviteExpires   DateTime          `json:"InviteExpires"`
	DateTimeCreated DateTime          `json:"DateTimeCreated"`
	AlertSettings   AlertSettings     `json:"AlertSettings"`
}

// LastGlucose is one item of ReadLastGlucoseFromSubscriptions (docs/protocol.md, "Subscriber"). Egv is
// nil when the subscription has no reading or cannot be read.
type LastGlucose struct {
	SubscriptionID string   `json:"SubscriptionId"`
	Egv            *Reading `json:"Egv"`
}

// AlarmState is the state of an alarm (docs/protocol.md, "Alarm lifecycle").
type AlarmState string

// The alarm states.
const (
	AlarmActive       AlarmState = "Active"
	AlarmAcknowledged AlarmState = "Acknowledged"
	AlarmCleared      AlarmState = "Cleared"
)

// Alarm is one alarm of ListSubscriptionAlarms (docs/protocol.md, "Subscriber", "Alerts and alarms").
type Alarm struct {
	AlarmID        string     `json:"AlarmId"`
	SubscriptionID string     `json:"SubscriptionId"`
	AlertType      int        `json:"AlertType"` // AlertTypeHigh … AlertTypeNoData
	State          AlarmState `json:"State"`
	Value          int        `json:"Value"` // the triggering reading; for NoData the last known value
	TriggeredAt    DateTime   `json:"TriggeredAt"`
	LastNotifiedAt DateTime   `json:"LastNotifiedAt"`
	NotifyCount    int        `json:"NotifyCount"`
	AcknowledgedAt *DateTime  `json:"AcknowledgedAt"`
	ClearedAt      *DateTime  `json:"ClearedAt"`
}

// AlertTypeName returns the name of an AlertType: High, Low, UrgentLow or
// NoData.
func AlertTypeName(t int) string {
	switch t {
	case AlertTypeHigh:
		return "High"
	case AlertTypeLow:
		return "Low"
	case AlertTypeFixedLow:
		return "UrgentLow"
	case AlertTypeNoData:
		return "NoData"
	}
	return strconv.Itoa(t)
}

// Time returns the reading's instant (its ST) in UTC.
func (r Reading) Time() time.Time { return time.UnixMilli(r.ST).UTC() }

// LocalTime returns the reading's instant in its own UTC offset (the one
// its DT carries), the wall-clock time the uploader had.
func (r Reading) LocalTime() time.Time {
	return time.UnixMilli(r.ST).In(time.FixedZone("", r.Offset*60))
}

// MmolL returns the value in mmol/L, converted with pydexcom's factor
// 0.0555 (1/18.02), unrounded, so that programs ported from pydexcom get
// the numbers they had. glucoshare's own pages, images and command-line
// output divide by 18, as Nightscout does (1 mg/dL apart at most over the
// whole range, but 100 mg/dL shows as 5.6 there and rounds to 5.5 here).
func (r Reading) MmolL() float64 { return float64(r.Value) * 0.0555 }
