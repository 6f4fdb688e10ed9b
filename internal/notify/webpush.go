package notify

import (
	"context"
	"crypto/ecdh"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/SherClockHolmes/webpush-go"

	"github.com/glucoshare/glucoshare/internal/alerts"
	"github.com/glucoshare/glucoshare/internal/glucose"
	"github.com/glucoshare/glucoshare/internal/secretkey"
)

// Web Push (RFC 8030) with message encryption (RFC 8291) and VAPID (RFC
// 8292), by github.com/SherClockHolmes/webpush-go.

// WebPush is the server's application server identity.
type WebPush struct {
	PublicKey  string // base64url uncompressed P-256 point: the browsers' applicationServerKey
	privateKey string // base64url scalar
	// Subject is the VAPID JWT's sub: a mailto: or https: address where
	// push services can reach the operator.
	Subject string
}

// vapidPurpose is the secret key's purpose for sealing the VAPID private
// key, bound to its row.
const vapidPurpose = "vapid-private-key"

var vapidAD = []byte("vapid_keys:1")

// ErrVAPIDSealed: the stored private key is sealed and the server has no
// secret key, or another one, to open it.
var ErrVAPIDSealed = errors.New("the Web Push (VAPID) private key is sealed under a secret key this server was not given: start it with the same --secret-key")

// LoadWebPush returns the server's VAPID identity, making the key pair on
// first use. Every instance on one database shares the pair: push
// subscriptions are bound to its public key. With a secret key the private
// key is kept sealed under it (and a plain one sealed now); without one it
// is kept as is.
func LoadWebPush(ctx context.Context, store glucose.Store, key *secretkey.Key, subject string, now time.Time) (*WebPush, error) {
	var k *glucose.VAPIDKeys
	err := store.Update(ctx, func(tx glucose.Tx) error {
		var err error
		k, err = tx.VAPIDKeysStored()
		if errors.Is(err, glucose.ErrNotFound) {
			k, err = tx.CreateVAPIDKeys(newVAPIDKeys(key, now))
		}
		if err != nil || k.Sealed || key == nil {
			return err
		}
		k.Private, k.Sealed = seal(key, k.Private), true
		return tx.SealVAPIDKey(k.Private)
	})
	if err != nil {
		return nil, err
	}
	private := k.Private
	if k.Sealed {
		if key == nil {
			return nil, ErrVAPIDSealed
		}
		plain, err := key.Open(vapidPurpose, decodeB64(private), vapidAD)
		if err != nil {
			return nil, ErrVAPIDSealed
		}
		private = string(plain)
	}
	return &WebPush{PublicKey: k.Public, privateKey: private, Subject: subject}, nil
}

func newVAPIDKeys(key *secretkey.Key, now time.Time) *glucose.VAPIDKeys {
	private, public, err := webpush.GenerateVAPIDKeys()
	if err != nil {
		panic(err) // crypto/rand does not fail
	}
	k := &glucose.VAPIDKeys{Public: public, Private: private, CreatedAt: now}
	if key != nil {
		k.Private, k.Sealed = seal(key, private), true
	}
	return k
}

func seal(key *secretkey.Key, private string) string {
	return base64.StdEncoding.EncodeToString(key.Seal(vapidPurpose, []byte(private), vapidAD))
}

func decodeB64(s string) []byte {
	b, _ := base64.StdEncoding.DecodeString(s)
	return b
}

// CheckSubscriptionKeys checks a browser's subscription keys: p256dh an
// uncompressed P-256 point, auth 16 bytes, both base64url.
func CheckSubscriptionKeys(p256dh, auth string) error {
	p, err1 := base64.RawURLEncoding.DecodeString(strings.TrimRight(p256dh, "="))
	a, err2 := base64.RawURLEncoding.DecodeString(strings.TrimRight(auth, "="))
	if err1 != nil || err2 != nil || len(a) != 16 {
		return errors.New("the subscription's keys are not base64url, or auth is not 16 bytes")
	}
	if _, err := ecdh.P256().NewPublicKey(p); err != nil || len(p) != 65 {
		return errors.New("the subscription's p256dh is not an uncompressed P-256 point")
	}
	return nil
}

// pushPayload is what the service worker receives (static/sw.js): the
// notification to show, ready to display.
type pushPayload struct {
	Title              string       `json:"title"`
	Body               string       `json:"body"`
	Tag                string       `json:"tag"`
	Timestamp          int64        `json:"timestamp"`
	RequireInteraction bool         `json:"requireInteraction"`
	Renotify           bool         `json:"renotify"`
	Silent             bool         `json:"silent"`
	Actions            []pushAction `json:"actions"`
	Data               pushData     `json:"data"`
}

type pushAction struct {
	Action string `json:"action"`
	Title  string `json:"title"`
}

// pushData travels with the notification to its click handlers.
type pushData struct {
	Event   string `json:"event"`
	AlarmID string `json:"alarmId,omitempty"`
	Kind    string `json:"kind,omitempty"`
	Sharer  string `json:"sharer,omitempty"`
	Value   string `json:"value,omitempty"` // in the reader's units
	Units   string `json:"units,omitempty"`
	Arrow   string `json:"arrow,omitempty"`
	// Ack is the acknowledgement link, relative to the dashboard.
	Ack string `json:"ack,omitempty"`
	URL string `json:"url"` // opened by a click on the notification
}

// newPushPayload writes the message for the service worker. A ringing
// alarm stays until dealt with, rings again when it repeats (the tag per
// alarm makes the repeat replace it) and offers Acknowledge; the same
// tag's cleared or acknowledged message replaces it quietly.
func newPushPayload(m *Message, u glucose.Units, now time.Time, a ack) []byte {
	t := render(m, u, now)
	p := pushPayload{Title: t.Title, Body: t.Body, Tag: tag(m), Timestamp: m.At, Actions: []pushAction{},
		Data: pushData{Event: m.Event, URL: "/"}}
	if m.IsAlarm() {
		p.Data.AlarmID, p.Data.Kind, p.Data.Sharer = m.AlarmID, alerts.KindName(m.Kind), m.Sharer
		if m.Value != 0 {
			p.Data.Value, p.Data.Units, p.Data.Arrow = u.FormatReading(m.Value), u.String(), m.Trend.Arrow()
		}
	}
	if m.Ringing() || m.Urgent() {
		p.RequireInteraction, p.Renotify = true, true
	} else {
		p.Silent = m.Event == alerts.EventCleared || m.Event == EventAcknowledged
	}
	if a.token != "" {
		p.Data.Ack = AckPath + a.token
		p.Actions = append(p.Actions, pushAction{Action: "ack", Title: "Acknowledge"})
	}
	b, _ := json.Marshal(p)
	return b
}

// tag groups a message with the ones it replaces: one per alarm.
func tag(m *Message) string {
	switch {
	case m.IsAlarm():
		return "alarm-" + m.AlarmID
	case m.Notice != nil:
		return "notice-" + m.Notice.Name
	}
	return m.Event
}

// topic is the RFC 8030 Topic (at most 32 base64url characters): a
// message waiting at the push service is replaced by a newer one of its
// alarm.
func topic(m *Message) string {
	t := strings.ReplaceAll(tag(m), "-", "")
	if len(t) > 32 {
		t = t[len(t)-32:]
	}
	return t
}

// sendWebPush encrypts the message for the subscription and posts it to
// its push service. 404 and 410 mean the subscription is gone for good:
// the channel is removed. (The library writes the VAPID sub itself,
// adding "mailto:" to anything that is not an https URL.)
func (s *Sender) sendWebPush(ctx context.Context, d *glucose.Delivery, m *Message) outcome {
	wp, err := s.webPush(ctx)
	if err != nil || wp == nil {
		return retry(fmt.Errorf("web push keys are not available: %v", err))
	}
	a, err := s.newAck(ctx, d, m)
	if err != nil {
		return retry(err)
	}
	urgency, ttl := webpush.UrgencyNormal, int((time.Hour).Seconds())
	if m.Ringing() || m.Urgent() {
		urgency, ttl = webpush.UrgencyHigh, int((4 * time.Hour).Seconds())
	}
	body := newPushPayload(m, d.Units, s.Clock.Now(), a)
	res, err := webpush.SendNotificationWithContext(ctx, body,
		&webpush.Subscription{Endpoint: d.Channel.URL, Keys: webpush.Keys{P256dh: d.Channel.P256dh, Auth: d.Channel.Auth}},
		&webpush.Options{HTTPClient: s.Client, Subscriber: strings.TrimPrefix(wp.Subject, "mailto:"), VAPIDPublicKey: wp.PublicKey,
			VAPIDPrivateKey: wp.privateKey, TTL: ttl, Urgency: urgency, Topic: topic(m)})
	if err != nil {
		return transportError(err)
	}
	drain(res)
	switch res.StatusCode {
	case http.StatusNotFound, http.StatusGone:
		return gone(fmt.Errorf("push service %s: subscription expired (%s)", res.Request.URL.Host, res.Status))
	}
	return byStatus("push service", res)
}
