package core

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/glucoshare/glucoshare/internal/glucose"
	"github.com/glucoshare/glucoshare/internal/netguard"
	"github.com/glucoshare/glucoshare/internal/notify"
)

// Notification channels (docs/alarms.md, docs/alarms-on-your-phone.md):
// every alarm event of the subscriptions an account follows, and every
// notice to the account, goes into the outbox of each of the account's
// channels that wants it, in the transaction that makes the change.

// Channel limits per account.
const (
	maxPushDevices   = 10
	maxNtfyTopics    = 3
	maxPushoverKeys  = 3
	maxPushEndpoint  = 2048
	maxNtfyToken     = 256
	maxDeviceName    = 100
	maxPrefsTimeZone = 64
	minutesPerDay    = 24 * 60
)

// enqueue puts the message into the outbox of every channel of the
// account that wants it. Webhooks receive webhookBody, the others the
// message itself.
func enqueue(tx glucose.Tx, accountID string, m *notify.Message, webhookBody []byte, now time.Time) error {
	channels, err := tx.Channels(accountID)
	if err != nil || len(channels) == 0 {
		return err
	}
	body := m.Encode()
	for _, c := range channels {
		if !notify.Wants(&c, m) {
			continue
		}
		d := &glucose.Delivery{ChannelID: c.ID, Event: m.Event, Payload: body, NextAt: now}
		if c.Kind == glucose.ChannelWebhook {
			d.Payload = webhookBody
		}
		if err := tx.EnqueueDelivery(d); err != nil {
			return err
		}
	}
	return nil
}

// EnqueueNotice queues a notice to every channel of the account that
// wants it (all of them, and during their quiet hours only urgent
// notices), inside the caller's transaction, so that the notice is sent
// once the change it reports commits, and never without it. Webhooks
// receive it as event n.Name, with n.WebhookBody or else the body
// docs/alarms.md describes.
func EnqueueNotice(tx glucose.Tx, accountID string, n notify.Notice, now time.Time) error {
	if err := n.Validate(); err != nil {
		return err
	}
	m := &notify.Message{Event: n.Name, At: now.UnixMilli(), Notice: &n}
	body := n.WebhookBody
	if body == nil {
		body = notify.WebhookPayload(m)
	}
	return enqueue(tx, accountID, m, body, now)
}

// notifyAlarms queues the evaluation's alarm events to their followers'
// channels. rs are the publisher's newest readings, newest first; the
// message tells the newest one.
func (s *Service) notifyAlarms(tx glucose.Tx, evs []AlarmEvent, rs []glucose.Reading, now time.Time) error {
	if len(evs) == 0 {
		return nil
	}
	latest, err := newestReading(tx, evs[0].PublisherID, rs)
	if err != nil {
		return err
	}
	for _, ev := range evs {
		if ev.Subscriber == "" {
			continue
		}
		m := alarmMessage(ev.Event, ev.Alarm, ev.DisplayName, latest, now)
		if err := enqueue(tx, ev.Subscriber, m, AlarmPayload(ev), now); err != nil {
			return err
		}
	}
	return nil
}

// newestReading is the first of rs, or the publisher's newest reading
// when rs is empty (a NoData alarm looks back less far); nil when it has
// none.
func newestReading(tx glucose.Tx, publisherID string, rs []glucose.Reading) (*glucose.Reading, error) {
	if len(rs) == 0 {
		var err error
		if rs, err = tx.LatestReadings(publisherID, 0, 1); err != nil || len(rs) == 0 {
			return nil, err
		}
	}
	return &rs[0], nil
}

func alarmMessage(event string, a glucose.Alarm, sharer string, latest *glucose.Reading, now time.Time) *notify.Message {
	m := &notify.Message{Event: event, At: now.UnixMilli(), AlarmID: a.ID, Kind: a.Kind, Sharer: sharer,
		NotifyCount: a.NotifyCount}
	if latest != nil {
		m.Value, m.Trend, m.ReadingAt = latest.Value, latest.Trend, latest.ST
	}
	return m
}

// notifyAcknowledged tells the follower's other channels that the alarm
// was acknowledged: Pushover stops repeating it, push notifications of it
// are replaced by a quiet one.
func notifyAcknowledged(tx glucose.Tx, subscriberID string, a *glucose.Alarm, now time.Time) error {
	sub, err := tx.SubscriptionByID(a.SubscriptionID)
	if err != nil {
		return err
	}
	latest, err := newestReading(tx, sub.PublisherID, nil)
	if err != nil {
		return err
	}
	m := alarmMessage(notify.EventAcknowledged, *a, sub.DisplayName, latest, now)
	return enqueue(tx, subscriberID, m, nil, now)
}

// errAckLink is the one answer for an acknowledgement link that is
// unknown, used or expired: it tells nothing of the account or alarm.
var errAckLink = glucose.ErrNotFound

// AcknowledgeWithToken acknowledges the alarm an acknowledgement link was
// made for (a push notification's Acknowledge action, ntfy's http action,
// Pushover's callback), as its follower would with
// AcknowledgeSubscriptionAlarm. A link works once, until it expires, and
// only for the alarm and account it was made for; glucose.ErrNotFound
// otherwise.
func (s *Service) AcknowledgeWithToken(ctx context.Context, token string, now time.Time) error {
	if len(token) != 43 {
		return errAckLink
	}
	var t *glucose.AckToken
	err := s.store.Update(ctx, func(tx glucose.Tx) (err error) {
		t, err = tx.UseAckToken(notify.HashToken(token), now)
		return err
	})
	if err != nil {
		return err
	}
	err = s.AcknowledgeAlarm(ctx, t.AccountID, t.AlarmID, now)
	if _, isProtocol := err.(*glucose.Error); isProtocol {
		return errAckLink // the follower no longer reads that subscription
	}
	return err
}

// Channels lists the account's notification channels.
func (s *Service) Channels(ctx context.Context, accountID string) ([]glucose.Channel, error) {
	var cs []glucose.Channel
	err := s.store.View(ctx, func(tx glucose.Tx) (err error) {
		cs, err = tx.Channels(accountID)
		return err
	})
	return cs, err
}

// PushDevice is a browser's push subscription, as PushSubscription.toJSON
// gives it, and the name of the device.
type PushDevice struct {
	Endpoint     string
	P256dh, Auth string
	Name         string
}

// AddPushDevice registers a browser's push subscription for the account's
// notifications. An endpoint another account registered moves to this
// one (the browser now belongs to it).
func (s *Service) AddPushDevice(ctx context.Context, accountID string, in PushDevice, now time.Time) (*glucose.Channel, error) {
	u, err := url.Parse(in.Endpoint)
	if err != nil || u.Host == "" || u.User != nil || len(in.Endpoint) > maxPushEndpoint ||
		(u.Scheme != "https" && !(u.Scheme == "http" && s.cfg.AllowPrivateAddresses)) {
		return nil, glucose.InvalidArgument("the push endpoint must be an https URL")
	}
	if err := netguard.CheckURL(u, s.cfg.AllowPrivateAddresses); err != nil {
		return nil, glucose.InvalidArgument("the push endpoint must reach a public address (%v)", err)
	}
	if err := notify.CheckSubscriptionKeys(in.P256dh, in.Auth); err != nil {
		return nil, glucose.InvalidArgument("%v", err)
	}
	c := &glucose.Channel{AccountID: accountID, Kind: glucose.ChannelWebPush, URL: u.String(), P256dh: in.P256dh,
		Auth: in.Auth, Name: cleanName(in.Name), Prefs: glucose.DefaultChannelPrefs(), CreatedAt: now}
	err = s.store.Update(ctx, func(tx glucose.Tx) error {
		if err := s.roomFor(tx, accountID, glucose.ChannelWebPush, c.URL, maxPushDevices); err != nil {
			return err
		}
		return tx.CreateChannel(c)
	})
	return c, err
}

// AddNtfy registers an ntfy topic URL, with an access token when the
// topic is protected. Tokens are kept sealed under the operator's secret
// key: without one, a token is refused.
func (s *Service) AddNtfy(ctx context.Context, accountID, topicURL, token string, now time.Time) (*glucose.Channel, error) {
	if _, _, err := notify.SplitTopicURL(topicURL); err != nil || len(topicURL) > maxPushEndpoint {
		return nil, glucose.InvalidArgument("%v", err)
	}
	u, _ := url.Parse(strings.TrimSpace(topicURL))
	if err := netguard.CheckURL(u, s.cfg.AllowPrivateAddresses); err != nil {
		return nil, glucose.InvalidArgument("the ntfy server must be at a public address (%v); the operator can allow private ones with --webhook-allow-private", err)
	}
	c := &glucose.Channel{ID: glucose.NewID(), AccountID: accountID, Kind: glucose.ChannelNtfy, URL: u.String(),
		Prefs: glucose.DefaultChannelPrefs(), CreatedAt: now}
	if token = strings.TrimSpace(token); token != "" {
		if s.cfg.SecretKey == nil {
			return nil, glucose.InvalidArgument("this server cannot keep an ntfy access token: it has no secret key to encrypt it with (the operator sets --secret-key). Use a topic without access control, or ask the operator")
		}
		if len(token) > maxNtfyToken || strings.ContainsFunc(token, func(r rune) bool { return r <= ' ' || r > '~' }) {
			return nil, glucose.InvalidArgument("the access token must be up to %d printable characters without spaces", maxNtfyToken)
		}
		c.TokenSealed = notify.SealNtfyToken(s.cfg.SecretKey, c.ID, token)
	}
	err := s.store.Update(ctx, func(tx glucose.Tx) error {
		if err := s.roomFor(tx, accountID, glucose.ChannelNtfy, "", maxNtfyTopics); err != nil {
			return err
		}
		return tx.CreateChannel(c)
	})
	return c, err
}

// AddPushover registers a Pushover user (or group) key; the operator must
// have configured a Pushover application.
func (s *Service) AddPushover(ctx context.Context, accountID, userKey string, now time.Time) (*glucose.Channel, error) {
	if !s.cfg.Pushover {
		return nil, glucose.InvalidArgument("Pushover is not set up on this server (the operator sets --pushover-token)")
	}
	userKey = strings.TrimSpace(userKey)
	if err := notify.CheckPushoverUserKey(userKey); err != nil {
		return nil, glucose.InvalidArgument("%v", err)
	}
	c := &glucose.Channel{AccountID: accountID, Kind: glucose.ChannelPushover, UserKey: userKey,
		Prefs: glucose.DefaultChannelPrefs(), CreatedAt: now}
	err := s.store.Update(ctx, func(tx glucose.Tx) error {
		if err := s.roomFor(tx, accountID, glucose.ChannelPushover, "", maxPushoverKeys); err != nil {
			return err
		}
		return tx.CreateChannel(c)
	})
	return c, err
}

// roomFor refuses one channel too many of a kind (a Web Push endpoint the
// account already has does not count: it is replaced).
func (s *Service) roomFor(tx glucose.Tx, accountID string, kind glucose.ChannelKind, endpoint string, limit int) error {
	cs, err := tx.Channels(accountID)
	if err != nil {
		return err
	}
	n := 0
	for _, c := range cs {
		if c.Kind == kind && (endpoint == "" || c.URL != endpoint) {
			n++
		}
	}
	if n >= limit {
		return glucose.InvalidArgument("at most %d %s per account: remove one first", limit, kindNoun(kind))
	}
	return nil
}

func kindNoun(k glucose.ChannelKind) string {
	switch k {
	case glucose.ChannelWebPush:
		return "devices"
	case glucose.ChannelNtfy:
		return "ntfy topics"
	case glucose.ChannelPushover:
		return "Pushover keys"
	}
	return "webhooks"
}

// DeleteChannel removes one of the account's channels (a device, a topic,
// a Pushover key); its pending deliveries go with it.
func (s *Service) DeleteChannel(ctx context.Context, accountID, id string) error {
	err := s.store.Update(ctx, func(tx glucose.Tx) error { return tx.DeleteChannel(accountID, id) })
	if errors.Is(err, glucose.ErrNotFound) {
		return glucose.InvalidArgument("no such channel")
	}
	return err
}

// SetChannelPrefs stores a channel's choices of alarm kinds and quiet
// hours.
func (s *Service) SetChannelPrefs(ctx context.Context, accountID, id string, p glucose.ChannelPrefs) error {
	if p.QuietStart < -1 || p.QuietStart >= minutesPerDay || p.QuietEnd < -1 || p.QuietEnd >= minutesPerDay {
		return glucose.InvalidArgument("quiet hours must be times of the day")
	}
	if len(p.TimeZone) > maxPrefsTimeZone {
		return glucose.InvalidArgument("unknown time zone")
	}
	if _, err := time.LoadLocation(p.TimeZone); err != nil || p.TimeZone == "" || p.TimeZone == "Local" {
		return glucose.InvalidArgument("unknown time zone %q: use a name such as Europe/Paris or America/New_York", p.TimeZone)
	}
	p.Kinds &= glucose.AllKinds
	p.QuietKinds &= glucose.AllKinds
	err := s.store.Update(ctx, func(tx glucose.Tx) error { return tx.SetChannelPrefs(accountID, id, p) })
	if errors.Is(err, glucose.ErrNotFound) {
		return glucose.InvalidArgument("no such channel")
	}
	return err
}

// SendTest queues a test message to one of the account's channels.
func (s *Service) SendTest(ctx context.Context, accountID, id string, now time.Time) error {
	m := &notify.Message{Event: notify.EventTest, At: now.UnixMilli()}
	err := s.store.Update(ctx, func(tx glucose.Tx) error {
		c, err := tx.ChannelByID(accountID, id)
		if err != nil {
			return err
		}
		d := &glucose.Delivery{ChannelID: c.ID, Event: m.Event, Payload: m.Encode(), NextAt: now}
		if c.Kind == glucose.ChannelWebhook {
			d.Payload = notify.WebhookPayload(m)
		}
		return tx.EnqueueDelivery(d)
	})
	if errors.Is(err, glucose.ErrNotFound) {
		return glucose.InvalidArgument("no such channel")
	}
	return err
}

// WebPushKeys returns the server's VAPID identity, making the key pair on
// first use (notify.LoadWebPush). subject is the JWT's contact address.
func (s *Service) WebPushKeys(ctx context.Context, subject string, now time.Time) (*notify.WebPush, error) {
	return notify.LoadWebPush(ctx, s.store, s.cfg.SecretKey, subject, now)
}

// PushPublicKey returns the VAPID public key browsers subscribe with.
func (s *Service) PushPublicKey(ctx context.Context, now time.Time) (string, error) {
	var public string
	err := s.store.View(ctx, func(tx glucose.Tx) error {
		k, err := tx.VAPIDKeysStored()
		if err == nil {
			public = k.Public
		}
		return err
	})
	if errors.Is(err, glucose.ErrNotFound) {
		var wp *notify.WebPush
		if wp, err = s.WebPushKeys(ctx, "", now); err == nil {
			public = wp.PublicKey
		}
	}
	return public, err
}

// PurgeAckTokens deletes acknowledgement tokens that expired more than a
// day ago.
func (s *Service) PurgeAckTokens(ctx context.Context, now time.Time) (int, error) {
	var n int
	err := s.store.Update(ctx, func(tx glucose.Tx) (err error) {
		n, err = tx.PurgeAckTokens(now.Add(-24 * time.Hour))
		return err
	})
	return n, err
}

// cleanName keeps a device name short and printable.
func cleanName(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, strings.TrimSpace(s))
	for len(s) > maxDeviceName {
		_, n := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-n]
	}
	if s == "" {
		return "Browser"
	}
	return s
}
