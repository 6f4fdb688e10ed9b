package shareapi_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// alarmItem is a ListSubscriptionAlarms item.
type alarmItem struct {
	AlarmID, SubscriptionID, State string
	AlertType, Value, NotifyCount  int
	TriggeredAt, LastNotifiedAt    map[string]any
	AcknowledgedAt, ClearedAt      map[string]any
	raw                            map[string]json.RawMessage
}

func (e *env) alarmList(sid string, kv ...string) []alarmItem {
	e.t.Helper()
	r := e.ok(e.call("Subscriber/ListSubscriptionAlarms", append([]string{"sessionId", sid}, kv...)...))
	var items []alarmItem
	if err := json.Unmarshal([]byte(r.body), &items); err != nil {
		e.t.Fatalf("alarm list %q: %v", r.body, err)
	}
	var raws []map[string]json.RawMessage
	json.Unmarshal([]byte(r.body), &raws)
	for i := range items {
		items[i].raw = raws[i]
	}
	return items
}

func TestSubscriptionAlarms(t *testing.T) {
	e := newEnv(t)
	s := e.share("sam", "mum")
	// Default settings: urgent low (below 55, no delay, every 30 minutes).
	e.clock.Advance(5 * time.Minute)
	e.postReadings(s.pub, serialFor("sam"), 52)
	items := e.alarmList(s.fol)
	if len(items) != 1 {
		t.Fatalf("alarms %+v, want one urgent low", items)
	}
	a := items[0]
	if a.AlertType != 3 || a.State != "Active" || a.Value != 52 || a.NotifyCount != 1 || a.SubscriptionID != s.sub {
		t.Errorf("alarm %+v", a)
	}
	if string(a.raw["AcknowledgedAt"]) != "null" || string(a.raw["ClearedAt"]) != "null" {
		t.Errorf("unset times must be null: %s %s", a.raw["AcknowledgedAt"], a.raw["ClearedAt"])
	}
	if want := dateTime(e.clock.Now()); string(a.raw["TriggeredAt"]) != want {
		t.Errorf("TriggeredAt %s, want %s", a.raw["TriggeredAt"], want)
	}
	// Member order as docs/protocol.md, "Subscriber" shows it.
	r := e.ok(e.call("Subscriber/ListSubscriptionAlarms", "sessionId", s.fol, "subscriptionId", s.sub))
	if !strings.HasPrefix(r.body, `[{"AlarmId":"`+a.AlarmID+`","SubscriptionId":"`+s.sub+`","AlertType":3,"State":"Active","Value":52,"TriggeredAt":{`) {
		t.Errorf("item shape %s", r.body)
	}

	e.ok(e.call("Subscriber/AcknowledgeSubscriptionAlarm", "sessionId", s.fol, "alarmId", a.AlarmID))
	e.ok(e.call("Subscriber/AcknowledgeSubscriptionAlarm", "sessionId", s.fol, "alarmId", a.AlarmID))
	if got := e.alarmList(s.fol)[0]; got.State != "Acknowledged" || got.AcknowledgedAt == nil {
		t.Errorf("after acknowledging: %+v", got)
	}

	// Errors: unknown, malformed, someone else's alarm; the publisher using
	// the Subscriber call on its own subscription.
	for _, who := range []struct{ sid, id string }{
		{s.fol, "3c348745-d2b3-4e3e-a8fe-306c0c18eae6"}, {s.fol, "nope"}, {s.pub, a.AlarmID},
	} {
		e.wantError(e.call("Subscriber/AcknowledgeSubscriptionAlarm", "sessionId", who.sid, "alarmId", who.id), 500, "AlarmIdNotFound")
	}
	e.wantError(e.call("Subscriber/ListSubscriptionAlarms", "sessionId", s.pub, "subscriptionId", s.sub), 500, "SubscriptionIdNotFound")
	e.wantError(e.call("Subscriber/ListSubscriptionAlarms", "sessionId", s.fol, "minutes", "-1"), 500, "InvalidArgument")
	if items := e.alarmList(s.pub); len(items) != 0 {
		t.Errorf("the publisher, following nobody, lists %d alarms", len(items))
	}

	// Recovery clears; the cleared alarm stays listed within minutes.
	e.clock.Advance(5 * time.Minute)
	e.postReadings(s.pub, serialFor("sam"), 90)
	if got := e.alarmList(s.fol); len(got) != 1 || got[0].State != "Cleared" {
		t.Errorf("after recovery: %+v", got)
	}
	if got := e.alarmList(s.fol, "minutes", "4"); len(got) != 0 {
		t.Errorf("cleared alarm triggered 5 minutes ago listed with minutes=4: %+v", got)
	}

	// Cancelled by the publisher (state 9): SubscriptionNotActive (docs/protocol.md, "Access rules").
	e.ok(e.call("Publisher/DeleteContact", "sessionId", s.pub, "contactId", s.contact))
	e.wantError(e.call("Subscriber/ListSubscriptionAlarms", "sessionId", s.fol, "subscriptionId", s.sub), 500, "SubscriptionNotActive")
}
