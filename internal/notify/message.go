// Package notify delivers what glucoshare has to tell people — alarm
// events of the sharers they follow, and notices about their own account —
// through every channel of their account: webhooks, Web Push to browsers
// and installed dashboards, ntfy topics and Pushover. Messages wait in a
// durable outbox, written in the same transaction as the change they
// report; a Sender on every instance claims due ones, sends each over its
// channel's protocol and retries with backoff.
package notify

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/glucoshare/glucoshare/internal/alerts"
	"github.com/glucoshare/glucoshare/internal/glucose"
	"github.com/glucoshare/glucoshare/share"
)

// Events beyond the alarm events of package alerts (fired, refired,
// cleared).
const (
	// EventAcknowledged: the follower acknowledged the alarm on some
	// channel; the others stop ringing (Pushover's retries are cancelled,
	// a push notification is replaced by a quiet one).
	EventAcknowledged = "acknowledged"
	// EventTest: a test message the follower sent itself.
	EventTest = "test"
)

// Priority is how urgently a notice should reach its reader.
type Priority string

// The priorities of notices.
const (
	PriorityLow    Priority = "low"
	PriorityNormal Priority = "normal"
	PriorityHigh   Priority = "high"
	// PriorityUrgent notices pass quiet hours.
	PriorityUrgent Priority = "urgent"
)

// Notice is a message about an account that is not an alarm: for
// instance that the account's mirror of a Dexcom Share account stopped
// working.
type Notice struct {
	// Name identifies the kind of notice for programs: it is the event
	// name webhooks receive ("link_broken").
	Name     string   `json:"name"`
	Title    string   `json:"title"`
	Body     string   `json:"body"`
	Priority Priority `json:"priority"`
	// WebhookBody, when set, is the JSON body webhooks receive instead
	// of WebhookPayload's, for a notice whose payload is documented with
	// more fields.
	WebhookBody []byte `json:"-"`
}

// Validate checks a notice before it is queued.
func (n Notice) Validate() error {
	switch {
	case n.Name == "" || len(n.Name) > 64 || strings.ContainsFunc(n.Name, func(r rune) bool {
		return !(r == '_' || r == '-' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9')
	}):
		return fmt.Errorf("notify: notice name %q: want 1–64 of a-z, 0-9, _ and -", n.Name)
	case isAlarmEvent(n.Name) || n.Name == EventAcknowledged || n.Name == EventTest:
		return fmt.Errorf("notify: notice name %q is an alarm event's", n.Name)
	case n.Title == "" || len(n.Title) > 200 || len(n.Body) > 1000:
		return fmt.Errorf("notify: a notice needs a title of up to 200 bytes and a body of up to 1000")
	case n.WebhookBody != nil && !json.Valid(n.WebhookBody):
		return fmt.Errorf("notify: the webhook body of notice %q is not JSON", n.Name)
	}
	switch n.Priority {
	case PriorityLow, PriorityNormal, PriorityHigh, PriorityUrgent:
		return nil
	}
	return fmt.Errorf("notify: notice priority %q", n.Priority)
}

// Message is one thing to tell an account, as it waits in the outbox for
// a push, ntfy or Pushover channel. Values are in mg/dL; they are shown in
// the reader's units when the message is sent.
type Message struct {
	Event string `json:"event"` // alerts.Event*, EventAcknowledged, EventTest or a notice's name
	At    int64  `json:"at"`    // when it happened, Unix ms

	// Alarm events.
	AlarmID     string      `json:"alarmId,omitempty"`
	Kind        int         `json:"kind,omitempty"`   // AlertType
	Sharer      string      `json:"sharer,omitempty"` // the publisher's display name
	NotifyCount int         `json:"notifyCount,omitempty"`
	Value       int         `json:"value,omitempty"` // newest reading, mg/dL; 0 = none
	Trend       share.Trend `json:"trend,omitempty"`
	ReadingAt   int64       `json:"readingAt,omitempty"` // Unix ms

	Notice *Notice `json:"notice,omitempty"`
}

// IsAlarm reports whether the message is about an alarm.
func (m *Message) IsAlarm() bool { return m.AlarmID != "" }

// Ringing reports whether the message raises an alarm (fired or
// refired): the messages that must wake someone and can be acknowledged.
func (m *Message) Ringing() bool {
	return m.IsAlarm() && (m.Event == alerts.EventFired || m.Event == alerts.EventRefired)
}

// Urgent reports whether the message is an urgent low or NoData alarm
// ringing, or an urgent notice.
func (m *Message) Urgent() bool {
	if m.Notice != nil {
		return m.Notice.Priority == PriorityUrgent
	}
	return m.Ringing() && (m.Kind == alerts.FixedLow || m.Kind == alerts.NoData)
}

func isAlarmEvent(e string) bool {
	return e == alerts.EventFired || e == alerts.EventRefired || e == alerts.EventCleared
}

// Encode gives the outbox form.
func (m *Message) Encode() []byte {
	b, _ := json.Marshal(m) // plain fields only: cannot fail
	return b
}

// DecodeMessage reads the outbox form.
func DecodeMessage(b []byte) (*Message, error) {
	var m Message
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("notify: undecodable message: %w", err)
	}
	return &m, nil
}

// Wants reports whether a channel takes the message, by its kind and its
// preferences at the message's time.
func Wants(c *glucose.Channel, m *Message) bool {
	at := time.UnixMilli(m.At)
	switch {
	case m.Event == EventTest:
		return true
	case m.Event == EventAcknowledged && c.Kind != glucose.ChannelWebPush && c.Kind != glucose.ChannelPushover:
		// Webhooks' contract has no such event; an ntfy notification
		// cannot be taken back.
		return false
	case m.Notice != nil:
		return c.Prefs.WantsNotice(m.Notice.Priority == PriorityUrgent, at)
	}
	return c.Prefs.WantsAlarm(m.Kind, at)
}

// kindText names an alarm kind for people.
func kindText(kind int) string {
	switch kind {
	case alerts.High:
		return "high"
	case alerts.Low:
		return "low"
	case alerts.FixedLow:
		return "urgent low"
	case alerts.NoData:
		return "no data"
	}
	return "alarm"
}

// text is a message as people read it, in their units at now.
type text struct {
	Title, Body string
}

// render writes the message for a reader in units u at now.
func render(m *Message, u glucose.Units, now time.Time) text {
	if m.Notice != nil {
		return text{m.Notice.Title, m.Notice.Body}
	}
	if m.Event == EventTest {
		return text{"glucoshare test", "Alarms of the people you follow will reach you here."}
	}
	kind := kindText(m.Kind)
	title := m.Sharer + ": " + kind
	switch m.Event {
	case alerts.EventCleared:
		title += " is over"
	case EventAcknowledged:
		title += " acknowledged"
	}
	return text{title, reading(m, u, now)}
}

// reading describes the newest reading: "52 mg/dL ↓, 4 min ago".
func reading(m *Message, u glucose.Units, now time.Time) string {
	if m.Value == 0 {
		return "No reading yet."
	}
	v := u.FormatReading(m.Value)
	if v != "LOW" && v != "HIGH" {
		v += " " + u.String()
	}
	if a := m.Trend.Arrow(); a != "" && a != "-" && a != "?" {
		v += " " + a
	}
	age := Age(now.Sub(time.UnixMilli(m.ReadingAt)))
	if m.Kind == alerts.NoData && m.Ringing() {
		return "No reading for " + strings.TrimSuffix(age, " ago") + ". Last: " + v + "."
	}
	return v + ", " + age + "."
}

// Age writes how long ago something happened: "just now", "4 min ago",
// "2 h 5 min ago", "3 days ago".
func Age(d time.Duration) string {
	m := int(d / time.Minute)
	switch {
	case m < 1:
		return "just now"
	case m < 60:
		return fmt.Sprintf("%d min ago", m)
	case m < 2880 && m%60 == 0:
		return fmt.Sprintf("%d h ago", m/60)
	case m < 2880:
		return fmt.Sprintf("%d h %d min ago", m/60, m%60)
	}
	return fmt.Sprintf("%d days ago", m/1440)
}
