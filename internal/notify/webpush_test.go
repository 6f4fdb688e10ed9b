package notify_test

import (
	"context"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/glucoshare/glucoshare/internal/core"
	"github.com/glucoshare/glucoshare/internal/glucose"
	"github.com/glucoshare/glucoshare/internal/notify/pushtest"
)

// pushed is the payload the service worker receives (static/sw.js).
type pushed struct {
	Title              string
	Body               string
	Tag                string
	Timestamp          int64
	RequireInteraction bool
	Renotify           bool
	Silent             bool
	Actions            []struct{ Action, Title string }
	Data               struct {
		Event, AlarmID, Kind, Sharer, Value, Units, Arrow, Ack, URL string
	}
}

// addDevice registers a subscription of the test push service as one of
// Kim's devices, as the dashboard's script does.
func (w *world) addDevice(ps *pushtest.Service) *pushtest.Subscription {
	w.t.Helper()
	sub := ps.Subscribe()
	_, err := w.svc.AddPushDevice(context.Background(), w.kim, core.PushDevice{Endpoint: sub.Endpoint,
		P256dh: sub.P256dh, Auth: sub.Auth, Name: "Chrome on Android"}, w.clock.Now())
	w.must(err)
	return sub
}

var ackPath = regexp.MustCompile(`^/notify/ack/[A-Za-z0-9_-]{43}$`)

// Every Web Push message glucoshare sends decrypts with the subscription's
// keys (RFC 8291) and carries a VAPID JWT signed with the server's key for
// the push service's origin (RFC 8292); the test push service checks both.
// An urgent low reaches Kim's phone in Kim's units with the sharer, value,
// trend and age, stays until dealt with, and offers Acknowledge; its
// repeat replaces it (same tag) and rings again; acknowledging from the
// notification's link acknowledges the alarm on the server, once, and
// replaces the notification quietly on every device.
func TestWebPushAlarmRoundTrip(t *testing.T) {
	w := newWorld(t, worldOptions{kimUnits: glucose.UnitsMmol})
	ps := pushtest.New(t)
	wp, _ := w.svc.WebPushKeys(context.Background(), "", t0)
	ps.ExpectKey(wp.PublicKey)
	w.addDevice(ps)
	laptop := w.addDevice(ps)

	w.upload(50) // urgent low: fires at once
	if n := w.deliver(); n != 2 {
		t.Fatalf("%d deliveries, want one per device", n)
	}
	ms := ps.Wait(2, 5*time.Second)
	var first pushed
	decode(t, ms[0].Payload, &first)
	if first.Title != "Sam: urgent low" || first.Body != "2.8 mmol/L ↓, just now." {
		t.Errorf("notification %q / %q, want Sam's urgent low in mmol/L", first.Title, first.Body)
	}
	if !first.RequireInteraction || !first.Renotify || first.Silent || !strings.HasPrefix(first.Tag, "alarm-") ||
		first.Timestamp != t0.UnixMilli() {
		t.Errorf("an urgent low must stay, ring and be tagged per alarm: %+v", first)
	}
	if len(first.Actions) != 1 || first.Actions[0].Action != "ack" || first.Actions[0].Title != "Acknowledge" ||
		!ackPath.MatchString(first.Data.Ack) {
		t.Errorf("actions %+v, ack link %q", first.Actions, first.Data.Ack)
	}
	if first.Data.Sharer != "Sam" || first.Data.Value != "2.8" || first.Data.Units != "mmol/L" || first.Data.Arrow != "↓" ||
		first.Data.Kind != "UrgentLow" {
		t.Errorf("data %+v", first.Data)
	}
	m := ms[0]
	if m.Urgency != "high" || m.TTL != 4*3600 || len(m.Topic) != 32 {
		t.Errorf("urgency %q, TTL %d, topic %q: an alarm goes out urgently, kept 4 h, one topic per alarm", m.Urgency, m.TTL, m.Topic)
	}
	if m.VAPID.Subject != "mailto:operator@example.org" || m.VAPID.Audience != ps.URL() ||
		time.Until(m.VAPID.Expires) < time.Hour {
		t.Errorf("VAPID %+v", m.VAPID)
	}
	var second pushed
	decode(t, ms[1].Payload, &second)
	if second.Data.Ack == first.Data.Ack {
		t.Error("two devices share one acknowledgement link")
	}

	// 30 minutes later without acknowledgement: the repeat replaces it.
	w.clock.Advance(30 * time.Minute)
	w.upload(48)
	w.tick()
	w.deliver()
	ms = ps.Wait(4, 5*time.Second)
	var again pushed
	decode(t, ms[2].Payload, &again)
	if again.Tag != first.Tag || !again.Renotify || again.Body != "2.7 mmol/L ↓, just now." {
		t.Errorf("repeat %+v, want the same tag, ringing again", again)
	}

	// Acknowledge from the laptop's notification: no cookie, the link alone.
	var fromLaptop pushed
	for _, m := range ms[2:] {
		if m.Subscription == laptop.ID {
			decode(t, m.Payload, &fromLaptop)
		}
	}
	if code, body := w.post(w.srv.URL+fromLaptop.Data.Ack, "", ""); code != http.StatusOK {
		t.Fatalf("acknowledgement link: %d %s", code, body)
	}
	if got := w.alarmStates(); !slices.Equal(got, []string{"UrgentLow/Acknowledged"}) {
		t.Errorf("ListSubscriptionAlarms after the link: %v", got)
	}
	if code, _ := w.post(w.srv.URL+fromLaptop.Data.Ack, "", ""); code != http.StatusGone {
		t.Errorf("the link used again: %d, want 410", code)
	}
	if code, _ := w.post(w.srv.URL+first.Data.Ack, "", ""); code != http.StatusOK {
		t.Errorf("an earlier link of an acknowledged alarm: %d, want 200 (already acknowledged)", code)
	}
	w.deliver()
	ms = ps.Wait(6, 5*time.Second)
	for _, m := range ms[4:] {
		var p pushed
		decode(t, m.Payload, &p)
		if p.Tag != first.Tag || !p.Silent || p.RequireInteraction || len(p.Actions) != 0 ||
			p.Title != "Sam: urgent low acknowledged" {
			t.Errorf("after acknowledgement, device %s got %+v; want the alarm replaced quietly", m.Subscription, p)
		}
	}

	// The acknowledgement holds until the re-alarm interval passes again.
	w.clock.Advance(20 * time.Minute)
	w.upload(47)
	w.tick()
	if n := w.deliver(); n != 0 {
		t.Errorf("%d messages within the re-alarm interval after acknowledgement", n)
	}
	// Recovery clears it: the notification is replaced by a quiet one.
	w.clock.Advance(5 * time.Minute)
	w.upload(90)
	w.deliver()
	ms = ps.Wait(8, 5*time.Second)
	var over pushed
	decode(t, ms[7].Payload, &over)
	if over.Title != "Sam: urgent low is over" || over.Body != "5.0 mmol/L ↓, just now." || !over.Silent || over.Tag != first.Tag {
		t.Errorf("cleared: %+v", over)
	}
	if ms[7].Urgency != "normal" {
		t.Errorf("cleared sent with urgency %q", ms[7].Urgency)
	}
}

// A subscription the push service says is gone (410) is removed, with
// what waited for it; the other device keeps receiving.
func TestWebPushExpiredSubscriptionRemoved(t *testing.T) {
	w := newWorld(t, worldOptions{})
	ps := pushtest.New(t)
	old := w.addDevice(ps)
	w.addDevice(ps)
	ps.Expire(old)
	w.upload(50)
	w.deliver()
	cs, err := w.svc.Channels(context.Background(), w.kim)
	w.must(err)
	if len(cs) != 1 || cs[0].URL == old.Endpoint {
		t.Fatalf("channels after a 410: %+v", cs)
	}
	if cs[0].LastDeliveredAt.IsZero() {
		t.Error("the live device's last delivery is not recorded")
	}
	if ms := ps.Messages(); len(ms) != 1 {
		t.Errorf("%d messages received, want 1", len(ms))
	}
	var left int
	w.db.SQL().QueryRow(`SELECT COUNT(*) FROM deliveries`).Scan(&left)
	if left != 1 {
		t.Errorf("%d deliveries left, want only the delivered one", left)
	}
}

// A test notification reaches only the device it was sent to.
func TestWebPushTest(t *testing.T) {
	w := newWorld(t, worldOptions{})
	ps := pushtest.New(t)
	w.addDevice(ps)
	other := w.addDevice(ps)
	cs, _ := w.svc.Channels(context.Background(), w.kim)
	var id string
	for _, c := range cs {
		if c.URL == other.Endpoint {
			id = c.ID
		}
	}
	w.must(w.svc.SendTest(context.Background(), w.kim, id, w.clock.Now()))
	w.deliver()
	ms := ps.Wait(1, 5*time.Second)
	var p pushed
	decode(t, ms[0].Payload, &p)
	if len(ms) != 1 || ms[0].Subscription != other.ID || p.Title != "glucoshare test" || len(p.Actions) != 0 {
		t.Errorf("test messages %+v, payload %+v", ms, p)
	}
	if err := w.svc.SendTest(context.Background(), w.sam, id, w.clock.Now()); err == nil {
		t.Error("Sam sent a test to Kim's device")
	}
}
