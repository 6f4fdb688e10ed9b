package core

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/glucoshare/glucoshare/internal/alerts"
	"github.com/glucoshare/glucoshare/internal/events"
	"github.com/glucoshare/glucoshare/internal/glucose"
	"github.com/glucoshare/glucoshare/internal/netguard"
	"github.com/glucoshare/glucoshare/share"
)

// Alarm limits (docs/protocol.md, "Subscriber", "Alerts and alarms").
const (
	alarmReadingsMax   = 5000 // readings looked at per evaluation, newest first
	alarmListMaxMinute = 10080
	alarmKeepCleared   = 30 * 24 * time.Hour
	maxWebhooks        = 5
	maxWebhookURL      = 2048
)

// SetEvents makes the service publish live events (readings stored, alarm
// changes) to hub, after their transactions commit.
func (s *Service) SetEvents(h *events.Hub) { s.hub = h }

// AlarmEvent is an alarm change after commit, as delivered to webhooks and
// live streams.
type AlarmEvent struct {
	Event       string // alerts.EventFired, EventRefired or EventCleared
	Alarm       glucose.Alarm
	PublisherID string
	Subscriber  string
	DisplayName string
}

// EvaluatePublisher evaluates every Active subscription of the publisher at
// now (docs/protocol.md, "When alarms are evaluated": after an upload that stored readings).
func (s *Service) EvaluatePublisher(ctx context.Context, publisherID string, now time.Time) error {
	// Most uploads come from publishers nobody follows: a read-only check
	// spares them the write transaction.
	var work bool
	err := s.store.View(ctx, func(tx glucose.Tx) (err error) {
		work, err = tx.HasAlarmWork(publisherID)
		return err
	})
	if err != nil || !work {
		return err
	}
	return s.evaluate(ctx, publisherID, "", now, false)
}

// EvaluateSubscription evaluates one subscription at now (docs/protocol.md, "When alarms are evaluated": after
// AcceptInvitation, ResumeSubscription and UpdateSubscriptionAlertSettings;
// a subscription that left state 6 has its open alarms cleared).
func (s *Service) EvaluateSubscription(ctx context.Context, subscriptionID string, now time.Time) error {
	var publisherID string
	err := s.store.View(ctx, func(tx glucose.Tx) error {
		sub, err := tx.SubscriptionByID(subscriptionID)
		if err == nil {
			publisherID = sub.PublisherID
		}
		return err
	})
	if errors.Is(err, glucose.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	return s.evaluate(ctx, publisherID, subscriptionID, now, false)
}

// EvaluateAll evaluates every publisher that has an Active subscription or
// an open alarm (the periodic tick of docs/protocol.md, "When alarms are evaluated": NoData and re-alarms happen
// without uploads). It returns how many publishers it evaluated.
func (s *Service) EvaluateAll(ctx context.Context, now time.Time) (int, error) {
	var publishers []string
	err := s.store.View(ctx, func(tx glucose.Tx) (err error) {
		publishers, err = tx.AlarmPublishers()
		return err
	})
	if err != nil {
		return 0, err
	}
	for i, p := range publishers {
		if err := s.evaluate(ctx, p, "", now, false); err != nil {
			return i, err
		}
	}
	return len(publishers), nil
}

// EvaluateMarked evaluates every publisher whose readings still wait for an
// evaluation that a crash cut short (the marks of MarkAlarmWork). Any
// number of instances may run it at once: each publisher's evaluation
// takes its follower lock and is skipped when another one has completed
// it meanwhile, so a mark is evaluated until it is cleared, and each alarm
// fires once. A publisher whose evaluation fails does not hold up the
// others. It returns how many marked publishers it found.
func (s *Service) EvaluateMarked(ctx context.Context, now time.Time) (int, error) {
	var publishers []string
	err := s.store.View(ctx, func(tx glucose.Tx) (err error) {
		publishers, err = tx.MarkedPublishers()
		return err
	})
	if err != nil {
		return 0, err
	}
	var errs []error
	for _, p := range publishers {
		if err := s.evaluate(ctx, p, "", now, true); err != nil {
			errs = append(errs, fmt.Errorf("publisher %s: %w", p, err))
		}
	}
	return len(publishers), errors.Join(errs...)
}

// evaluate runs Evaluate for the publisher's subscriptions (or just one) in
// one transaction that holds the publisher's follower lock, so that two
// server instances never evaluate the same subscription at once: each
// firing, re-alarm and clearing happens, and is delivered, once. An
// evaluation of all the publisher's subscriptions also clears the mark of
// the readings it covered; with ifMarked it does nothing when there is no
// mark left.
func (s *Service) evaluate(ctx context.Context, publisherID, onlySub string, now time.Time, ifMarked bool) error {
	var out []AlarmEvent
	err := s.store.Update(ctx, func(tx glucose.Tx) (err error) {
		out = nil
		if err := tx.LockFollowers(publisherID); err != nil {
			return err
		}
		// The mark is read under the lock and before the readings: every
		// upload that marked up to this generation committed its readings
		// already, so this evaluation covers them.
		var mark int64
		if onlySub == "" {
			if mark, err = tx.AlarmMark(publisherID); err != nil {
				return err
			}
		}
		if ifMarked && mark == 0 {
			return nil
		}
		if out, err = s.evaluateLocked(tx, publisherID, onlySub, now); err != nil || mark == 0 {
			return err
		}
		return tx.ClearAlarmMark(publisherID, mark)
	})
	if err != nil {
		return err
	}
	s.announce(out, now)
	return nil
}

// evaluateLocked is evaluate's work inside its transaction, after the lock.
func (s *Service) evaluateLocked(tx glucose.Tx, publisherID, onlySub string, now time.Time) ([]AlarmEvent, error) {
	pub, err := tx.AccountByID(publisherID)
	if err != nil {
		return nil, err
	}
	subs, err := tx.PublisherSubscriptions(publisherID)
	if err != nil {
		return nil, err
	}
	subs, err = s.withOpenAlarms(tx, publisherID, subs)
	if err != nil {
		return nil, err
	}
	var todo []glucose.SubscriptionListing
	lookback := time.Duration(0)
	for _, sub := range subs {
		if onlySub != "" && sub.ID != onlySub {
			continue
		}
		todo = append(todo, sub)
		lookback = max(lookback, alerts.Lookback(sub.AlertSettings))
	}
	if len(todo) == 0 {
		return nil, nil
	}
	rs, err := tx.LatestReadings(publisherID, now.Add(-lookback).UnixMilli(), alarmReadingsMax)
	if err != nil {
		return nil, err
	}
	readings := make([]alerts.Reading, len(rs))
	for i, r := range rs {
		readings[i] = alerts.Reading{ST: glucose.FromMS(r.ST), Value: r.Value}
	}
	var out []AlarmEvent
	for _, sub := range todo {
		evs, err := s.evaluateOne(tx, pub, &sub.Subscription, readings, now)
		if err != nil {
			return nil, err
		}
		out = append(out, evs...)
	}
	return out, s.notifyAlarms(tx, out, rs, now)
}

// withOpenAlarms adds, to the publisher's current subscriptions, older ones
// that still hold open alarms (a contact re-invited while its previous
// subscription alarmed), so that those get cleared too.
func (s *Service) withOpenAlarms(tx glucose.Tx, publisherID string, subs []glucose.SubscriptionListing) ([]glucose.SubscriptionListing, error) {
	ids, err := tx.OpenAlarmSubscriptions(publisherID)
	if err != nil {
		return nil, err
	}
	have := map[string]bool{}
	for _, sub := range subs {
		have[sub.ID] = true
	}
	for _, id := range ids {
		if have[id] {
			continue
		}
		sub, err := tx.SubscriptionByID(id)
		if err != nil {
			return nil, err
		}
		subs = append(subs, glucose.SubscriptionListing{Subscription: *sub})
	}
	return subs, nil
}

// evaluateOne evaluates one subscription inside the transaction and
// stores the changes.
func (s *Service) evaluateOne(tx glucose.Tx, pub *glucose.Account, sub *glucose.Subscription,
	readings []alerts.Reading, now time.Time) ([]AlarmEvent, error) {
	openList, err := tx.OpenAlarms(sub.ID)
	if err != nil {
		return nil, err
	}
	open := make(map[int]*glucose.Alarm, len(openList))
	for i := range openList {
		open[openList[i].Kind] = &openList[i]
	}
	var changes []alerts.Change
	if sub.State == glucose.StateActive && !pub.Disabled {
		changes = alerts.Evaluate(alerts.Input{T: now, Settings: sub.AlertSettings, Readings: readings,
			ActiveSince: sub.ActiveSince, Monitoring: pub.Monitoring, Open: open})
	} else {
		// A subscription leaving state 6 clears all its open alarms
		// (docs/protocol.md, "Alarm lifecycle"), and so does a disabled publisher: its followers read
		// nothing of it any more.
		for _, a := range openList {
			a.State, a.ClearedAt = alerts.StateCleared, now
			changes = append(changes, alerts.Change{Alarm: a, Event: alerts.EventCleared})
		}
	}
	var out []AlarmEvent
	for _, c := range changes {
		a := c.Alarm
		a.SubscriptionID = sub.ID
		if err := tx.SaveAlarm(&a); err != nil {
			return nil, err
		}
		out = append(out, AlarmEvent{Event: c.Event, Alarm: a, PublisherID: pub.ID, Subscriber: sub.SubscriberID,
			DisplayName: sub.DisplayName})
	}
	return out, nil
}

// announce publishes committed alarm events to live streams and metrics.
func (s *Service) announce(evs []AlarmEvent, now time.Time) {
	for _, ev := range evs {
		s.m.AlarmEvent(alerts.KindName(ev.Alarm.Kind), ev.Event)
		if ev.Subscriber != "" {
			s.hub.Publish(events.Event{Type: events.TypeAlarm, PublisherID: ev.PublisherID,
				SubscriptionID: ev.Alarm.SubscriptionID, At: now, Data: AlarmPayload(ev)}, ev.Subscriber)
		}
	}
}

// AlarmJSON is an alarm as ListSubscriptionAlarms shows it (docs/protocol.md, "Subscriber").
type AlarmJSON struct {
	AlarmID        string          `json:"AlarmId"`
	SubscriptionID string          `json:"SubscriptionId"`
	AlertType      int             `json:"AlertType"`
	State          string          `json:"State"`
	Value          int             `json:"Value"`
	TriggeredAt    share.DateTime  `json:"TriggeredAt"`
	LastNotifiedAt share.DateTime  `json:"LastNotifiedAt"`
	NotifyCount    int             `json:"NotifyCount"`
	AcknowledgedAt *share.DateTime `json:"AcknowledgedAt"`
	ClearedAt      *share.DateTime `json:"ClearedAt"`
}

// NewAlarmJSON converts an alarm to its wire form.
func NewAlarmJSON(a glucose.Alarm) AlarmJSON {
	opt := func(t time.Time) *share.DateTime {
		if t.IsZero() {
			return nil
		}
		d := share.NewDateTime(t)
		return &d
	}
	return AlarmJSON{
		AlarmID: a.ID, SubscriptionID: a.SubscriptionID, AlertType: a.Kind, State: a.State, Value: a.Value,
		TriggeredAt: share.NewDateTime(a.TriggeredAt), LastNotifiedAt: share.NewDateTime(a.LastNotifiedAt),
		NotifyCount: a.NotifyCount, AcknowledgedAt: opt(a.AcknowledgedAt), ClearedAt: opt(a.ClearedAt),
	}
}

// AlarmPayload is the JSON body of a webhook delivery and of a live alarm
// event (documented in docs/alarms.md).
func AlarmPayload(ev AlarmEvent) []byte {
	b, _ := json.Marshal(struct {
		Event       string    `json:"Event"`
		Kind        string    `json:"Kind"`
		DisplayName string    `json:"DisplayName"`
		Alarm       AlarmJSON `json:"Alarm"`
	}{ev.Event, alerts.KindName(ev.Alarm.Kind), ev.DisplayName, NewAlarmJSON(ev.Alarm)})
	return b
}

// Alarms lists the follower's alarms (docs/protocol.md, "Subscriber" ListSubscriptionAlarms): of one
// subscription when rawID is given, else of all its subscriptions in states
// 6, 7 and 8; open ones of any age and cleared ones triggered within
// minutes.
func (s *Service) Alarms(ctx context.Context, subscriberID, rawID string, minutes int64, now time.Time) ([]glucose.Alarm, error) {
	minutes = min(max(minutes, 0), alarmListMaxMinute)
	var ids []string
	if rawID != "" {
		err := s.subscriberRead(ctx, subscriberID, rawID, now, func(sub *glucose.Subscription) { ids = []string{sub.ID} })
		if err != nil {
			return nil, err
		}
	} else {
		subs, err := s.SubscriberSubscriptions(ctx, subscriberID)
		if err != nil {
			return nil, err
		}
		for _, sub := range subs {
			if sub.State.Accepted() {
				ids = append(ids, sub.ID)
			}
		}
	}
	var out []glucose.Alarm
	err := s.store.View(ctx, func(tx glucose.Tx) (err error) {
		out, err = tx.Alarms(ids, now.Add(-time.Duration(minutes)*time.Minute))
		return err
	})
	return out, err
}

func alarmNotFound(raw string) *glucose.Error {
	return glucose.Errorf(share.CodeAlarmIDNotFound, "Alarm not found. [AlarmId = %s]", sanitizeID(raw))
}

// AcknowledgeAlarm moves the follower's Active alarm to Acknowledged (docs/protocol.md, "Subscriber");
// acknowledging an acknowledged or cleared alarm succeeds without change.
// An alarm of a subscription the caller may not read answers exactly like
// an unknown one.
func (s *Service) AcknowledgeAlarm(ctx context.Context, subscriberID, rawID string, now time.Time) error {
	id, ok := parseRef(rawID)
	if !ok {
		return alarmNotFound(rawID)
	}
	var subID string
	err := s.store.View(ctx, func(tx glucose.Tx) error {
		a, err := tx.AlarmByID(id)
		if err != nil {
			return err
		}
		subID = a.SubscriptionID
		return nil
	})
	if errors.Is(err, glucose.ErrNotFound) {
		return alarmNotFound(rawID)
	}
	if err != nil {
		return err
	}
	// The docs/protocol.md, "Access rules" row for AcknowledgeSubscriptionAlarm; any refusal reads as
	// "no such alarm".
	if err := s.subscriberRead(ctx, subscriberID, subID, now, func(*glucose.Subscription) {}); err != nil {
		if glucose.ErrorCode(err) == share.CodeSubscriptionNotActive {
			return err
		}
		if _, isProtocol := err.(*glucose.Error); isProtocol {
			return alarmNotFound(rawID)
		}
		return err
	}
	return s.store.Update(ctx, func(tx glucose.Tx) error {
		a, err := tx.AlarmByID(id)
		if err != nil || a.State != alerts.StateActive {
			return err
		}
		a.State, a.AcknowledgedAt = alerts.StateAcknowledged, now
		if err := tx.SaveAlarm(a); err != nil {
			return err
		}
		return notifyAcknowledged(tx, subscriberID, a, now)
	})
}

// PurgeAlarms deletes alarms cleared more than 30 days ago (docs/protocol.md, "Subscriber").
func (s *Service) PurgeAlarms(ctx context.Context, now time.Time) (int, error) {
	var n int
	err := s.store.Update(ctx, func(tx glucose.Tx) (err error) {
		n, err = tx.PurgeAlarms(now.Add(-alarmKeepCleared))
		return err
	})
	return n, err
}

// AddWebhook registers a webhook for the account's alarm events. The URL
// must be http or https; the secret signs every delivery.
func (s *Service) AddWebhook(ctx context.Context, accountID, rawURL, secret string, now time.Time) (*glucose.Webhook, error) {
	u, err := url.Parse(strings.TrimSpace(rawURL))
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || len(rawURL) > maxWebhookURL ||
		u.User != nil || !storable(rawURL) {
		return nil, glucose.InvalidArgument("url must be an http or https URL without credentials")
	}
	if err := netguard.CheckURL(u, s.cfg.AllowPrivateAddresses); err != nil {
		return nil, glucose.InvalidArgument("url must reach a public address (%v); the operator can allow private ones with --webhook-allow-private", err)
	}
	if n := len(secret); n < 16 || n > 256 || !storable(secret) {
		return nil, glucose.InvalidArgument("secret must be 16 to 256 characters")
	}
	w := &glucose.Webhook{AccountID: accountID, URL: u.String(), Secret: secret, CreatedAt: now}
	err = s.store.Update(ctx, func(tx glucose.Tx) error {
		hooks, err := tx.Webhooks(accountID)
		if err != nil {
			return err
		}
		if len(hooks) >= maxWebhooks {
			return glucose.InvalidArgument("at most %d webhooks per account", maxWebhooks)
		}
		return tx.CreateWebhook(w)
	})
	return w, err
}

// Webhooks lists the account's webhooks.
func (s *Service) Webhooks(ctx context.Context, accountID string) ([]glucose.Webhook, error) {
	var hooks []glucose.Webhook
	err := s.store.View(ctx, func(tx glucose.Tx) (err error) {
		hooks, err = tx.Webhooks(accountID)
		return err
	})
	return hooks, err
}

// DeleteWebhook removes one of the account's webhooks.
func (s *Service) DeleteWebhook(ctx context.Context, accountID, rawID string) error {
	id, ok := parseRef(rawID)
	err := glucose.ErrNotFound
	if ok {
		err = s.store.Update(ctx, func(tx glucose.Tx) error { return tx.DeleteWebhook(accountID, id) })
	}
	if errors.Is(err, glucose.ErrNotFound) {
		return glucose.InvalidArgument("no webhook %s", sanitizeID(rawID))
	}
	return err
}
