package notify

import (
	"encoding/base64"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/glucoshare/glucoshare/internal/alerts"
	"github.com/glucoshare/glucoshare/internal/glucose"
	"github.com/glucoshare/glucoshare/share"
)

// The priorities the issue asks for, on ntfy and Pushover.
func TestPriorities(t *testing.T) {
	for _, c := range []struct {
		event          string
		kind           int
		ntfy, pushover int
	}{
		{alerts.EventFired, alerts.FixedLow, 5, 2},
		{alerts.EventRefired, alerts.FixedLow, 5, 2},
		{alerts.EventFired, alerts.NoData, 5, 1},
		{alerts.EventFired, alerts.Low, 4, 1},
		{alerts.EventRefired, alerts.High, 4, 1},
		{alerts.EventCleared, alerts.FixedLow, 2, -1},
		{alerts.EventCleared, alerts.High, 2, -1},
	} {
		m := &Message{Event: c.event, Kind: c.kind, AlarmID: "a"}
		if n, p := NtfyPriority(m), PushoverPriority(m); n != c.ntfy || p != c.pushover {
			t.Errorf("%s %s: ntfy %d, Pushover %d; want %d and %d", alerts.KindName(c.kind), c.event, n, p, c.ntfy, c.pushover)
		}
	}
}

// Texts as people read them, in their units.
func TestRender(t *testing.T) {
	at := time.Date(2025, 4, 19, 12, 0, 0, 0, time.UTC)
	m := &Message{Event: alerts.EventFired, AlarmID: "a", Kind: alerts.High, Sharer: "Sam", Value: 250,
		Trend: share.TrendFortyFiveUp, ReadingAt: at.Add(-7 * time.Minute).UnixMilli()}
	for _, c := range []struct {
		m           *Message
		u           glucose.Units
		title, body string
	}{
		{m, glucose.UnitsMgdl, "Sam: high", "250 mg/dL ↗, 7 min ago."},
		{m, glucose.UnitsMmol, "Sam: high", "13.9 mmol/L ↗, 7 min ago."},
		{&Message{Event: alerts.EventFired, AlarmID: "a", Kind: alerts.NoData, Sharer: "Sam", Value: 401,
			Trend: share.TrendNone, ReadingAt: at.Add(-125 * time.Minute).UnixMilli()}, glucose.UnitsMgdl,
			"Sam: no data", "No reading for 2 h 5 min. Last: HIGH."},
		{&Message{Event: alerts.EventCleared, AlarmID: "a", Kind: alerts.FixedLow, Sharer: "Sam", Value: 39,
			ReadingAt: at.UnixMilli()}, glucose.UnitsMmol, "Sam: urgent low is over", "LOW, just now."},
		{&Message{Event: EventAcknowledged, AlarmID: "a", Kind: alerts.Low, Sharer: "Sam"}, glucose.UnitsMgdl,
			"Sam: low acknowledged", "No reading yet."},
	} {
		if got := render(c.m, c.u, at); got.Title != c.title || got.Body != c.body {
			t.Errorf("render = %q / %q, want %q / %q", got.Title, got.Body, c.title, c.body)
		}
	}
}

func FuzzSplitTopicURL(f *testing.F) {
	for _, s := range []string{"https://ntfy.sh/mytopic", "http://host:8080/prefix/topic/", "https://ntfy.sh/", "x", "https://h/%2F"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		root, topic, err := SplitTopicURL(raw)
		if err != nil {
			return
		}
		if !ntfyTopic.MatchString(topic) || !strings.HasSuffix(root, "/") {
			t.Fatalf("SplitTopicURL(%q) = %q, %q", raw, root, topic)
		}
		u, err := url.Parse(root)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
			t.Fatalf("root %q of %q", root, raw)
		}
	})
}

func FuzzCheckSubscriptionKeys(f *testing.F) {
	f.Add("BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4", "BTBZMqHH6r4Tts7J_aSIgg")
	f.Add("", "")
	f.Add("AAAA", "AAAAAAAAAAAAAAAAAAAAAA==")
	f.Fuzz(func(t *testing.T, p256dh, auth string) {
		if CheckSubscriptionKeys(p256dh, auth) != nil {
			return
		}
		p, _ := base64.RawURLEncoding.DecodeString(strings.TrimRight(p256dh, "="))
		a, _ := base64.RawURLEncoding.DecodeString(strings.TrimRight(auth, "="))
		if len(p) != 65 || p[0] != 4 || len(a) != 16 {
			t.Fatalf("accepted p256dh of %d bytes, auth of %d", len(p), len(a))
		}
	})
}
