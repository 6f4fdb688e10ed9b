package store

import (
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/glucoshare/glucoshare/internal/glucose"
)

const alarmColumns = `id, subscription_id, alert_type, state, value, triggered_at, last_notified_at,
	notify_count, acknowledged_at, cleared_at`

func scanAlarm(s scanner) (glucose.Alarm, error) {
	var (
		a                     glucose.Alarm
		triggered, notified   int64
		acknowledged, cleared sql.NullInt64
	)
	err := s.Scan(&a.ID, &a.SubscriptionID, &a.Kind, &a.State, &a.Value, &triggered, &notified,
		&a.NotifyCount, &acknowledged, &cleared)
	a.TriggeredAt, a.LastNotifiedAt = glucose.FromMS(triggered), glucose.FromMS(notified)
	a.AcknowledgedAt, a.ClearedAt = fromNullMS(acknowledged), fromNullMS(cleared)
	return a, err
}

func (t *tx) alarms(q string, args ...any) ([]glucose.Alarm, error) {
	rows, err := t.query(q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []glucose.Alarm{}
	for rows.Next() {
		a, err := scanAlarm(rows)
		if err != nil {
			return nil, t.db.mapError(err)
		}
		out = append(out, a)
	}
	return out, t.db.mapError(rows.Err())
}

// OpenAlarms returns the subscription's open alarms.
func (t *tx) OpenAlarms(subscriptionID string) ([]glucose.Alarm, error) {
	return t.alarms(`SELECT `+alarmColumns+` FROM alarms
		WHERE subscription_id = ? AND state IN ('Active', 'Acknowledged') ORDER BY alert_type`, subscriptionID)
}

// SaveAlarm inserts a new alarm or updates an existing one.
func (t *tx) SaveAlarm(a *glucose.Alarm) error {
	if a.ID != "" {
		return t.change(`UPDATE alarms SET state = ?, value = ?, last_notified_at = ?, notify_count = ?,
			acknowledged_at = ?, cleared_at = ? WHERE id = ?`,
			a.State, a.Value, glucose.MS(a.LastNotifiedAt), a.NotifyCount, nullMS(a.AcknowledgedAt),
			nullMS(a.ClearedAt), a.ID)
	}
	a.ID = newID()
	_, err := t.guarded(`INSERT INTO alarms (`+alarmColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		a.ID, a.SubscriptionID, a.Kind, a.State, a.Value, glucose.MS(a.TriggeredAt),
		glucose.MS(a.LastNotifiedAt), a.NotifyCount, nullMS(a.AcknowledgedAt), nullMS(a.ClearedAt))
	if err != nil {
		a.ID = ""
	}
	return err
}

// AlarmByID finds an alarm.
func (t *tx) AlarmByID(id string) (*glucose.Alarm, error) {
	a, err := scanAlarm(t.queryRow(`SELECT `+alarmColumns+` FROM alarms WHERE id = ?`, id))
	if err != nil {
		return nil, t.db.mapError(err)
	}
	return &a, nil
}

// Alarms lists the subscriptions' open alarms and those triggered since.
func (t *tx) Alarms(subscriptionIDs []string, since time.Time) ([]glucose.Alarm, error) {
	if len(subscriptionIDs) == 0 {
		return []glucose.Alarm{}, nil
	}
	args := make([]any, 0, len(subscriptionIDs)+1)
	for _, id := range subscriptionIDs {
		args = append(args, id)
	}
	args = append(args, glucose.MS(since))
	marks := strings.TrimSuffix(strings.Repeat("?, ", len(subscriptionIDs)), ", ")
	return t.alarms(`SELECT `+alarmColumns+` FROM alarms WHERE subscription_id IN (`+marks+`)
		AND (state IN ('Active', 'Acknowledged') OR triggered_at >= ?)
		ORDER BY triggered_at DESC, id`, args...)
}

// PurgeAlarms deletes alarms cleared before cutoff.
func (t *tx) PurgeAlarms(cutoff time.Time) (int, error) {
	return t.count(`DELETE FROM alarms WHERE state = 'Cleared' AND cleared_at < ?`, glucose.MS(cutoff))
}

// AlarmPublishers lists publishers with an Active subscription or an open
// alarm.
func (t *tx) AlarmPublishers() ([]string, error) {
	return t.strings(`SELECT publisher_id FROM subscriptions WHERE state = 6
		UNION
		SELECT s.publisher_id FROM alarms a JOIN subscriptions s ON s.id = a.subscription_id
		WHERE a.state IN ('Active', 'Acknowledged')
		ORDER BY 1`)
}

// OpenAlarmSubscriptions lists the publisher's subscriptions with open
// alarms.
func (t *tx) OpenAlarmSubscriptions(publisherID string) ([]string, error) {
	return t.strings(`SELECT DISTINCT a.subscription_id FROM alarms a
		JOIN subscriptions s ON s.id = a.subscription_id
		WHERE s.publisher_id = ? AND a.state IN ('Active', 'Acknowledged') ORDER BY 1`, publisherID)
}

// alarmWork is the condition of HasAlarmWork and MarkAlarmWork on the
// publisher given twice: a subscription in state 6 or an open alarm, on
// indexed columns.
const alarmWork = `EXISTS (SELECT 1 FROM subscriptions WHERE publisher_id = ? AND state = 6)
	OR EXISTS (SELECT 1 FROM alarms a JOIN subscriptions s ON s.id = a.subscription_id
		WHERE s.publisher_id = ? AND a.state IN ('Active', 'Acknowledged'))`

// HasAlarmWork reports whether the publisher has a subscription in state 6
// or an open alarm, in one statement.
func (t *tx) HasAlarmWork(publisherID string) (bool, error) {
	var work bool
	err := t.queryRow(`SELECT `+alarmWork, publisherID, publisherID).Scan(&work)
	return work, t.db.mapError(err)
}

// MarkAlarmWork is HasAlarmWork's query as the condition of the mark's
// upsert: with no alarm work the INSERT selects no row and writes nothing,
// so an upload without followers still costs one statement.
func (t *tx) MarkAlarmWork(publisherID string) (bool, error) {
	n, err := t.count(`INSERT INTO alarm_marks (publisher_id, gen) SELECT ?, 1 WHERE `+alarmWork+`
		ON CONFLICT (publisher_id) DO UPDATE SET gen = alarm_marks.gen + 1`,
		publisherID, publisherID, publisherID)
	return n > 0, err
}

// AlarmMark returns the mark's generation, 0 without a mark.
func (t *tx) AlarmMark(publisherID string) (int64, error) {
	var gen int64
	err := t.queryRow(`SELECT gen FROM alarm_marks WHERE publisher_id = ?`, publisherID).Scan(&gen)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return gen, t.db.mapError(err)
}

// ClearAlarmMark deletes the mark of generation gen. On PostgreSQL a
// concurrent MarkAlarmWork holds the row until it commits, and the DELETE
// then checks gen against the new row: a newer mark stays.
func (t *tx) ClearAlarmMark(publisherID string, gen int64) error {
	_, err := t.exec(`DELETE FROM alarm_marks WHERE publisher_id = ? AND gen = ?`, publisherID, gen)
	return err
}

// MarkedPublishers lists the marked publishers.
func (t *tx) MarkedPublishers() ([]string, error) {
	return t.strings(`SELECT publisher_id FROM alarm_marks ORDER BY 1`)
}

// strings runs a query of one text column.
func (t *tx) strings(q string, args ...any) ([]string, error) {
	rows, err := t.query(q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, t.db.mapError(err)
		}
		out = append(out, s)
	}
	return out, t.db.mapError(rows.Err())
}

// CreateWebhook inserts w, giving it an id when w.ID is empty.
func (t *tx) CreateWebhook(w *glucose.Webhook) error {
	if w.ID == "" {
		w.ID = newID()
	}
	_, err := t.exec(`INSERT INTO webhooks (id, account_id, url, secret, created_at) VALUES (?, ?, ?, ?, ?)`,
		w.ID, w.AccountID, w.URL, w.Secret, glucose.MS(w.CreatedAt))
	return err
}

// Webhooks lists the account's webhooks, oldest first.
func (t *tx) Webhooks(accountID string) ([]glucose.Webhook, error) {
	rows, err := t.query(`SELECT id, account_id, url, secret, created_at FROM webhooks
		WHERE account_id = ? ORDER BY created_at, id`, accountID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []glucose.Webhook{}
	for rows.Next() {
		var w glucose.Webhook
		var created int64
		if err := rows.Scan(&w.ID, &w.AccountID, &w.URL, &w.Secret, &created); err != nil {
			return nil, t.db.mapError(err)
		}
		w.CreatedAt = glucose.FromMS(created)
		out = append(out, w)
	}
	return out, t.db.mapError(rows.Err())
}

// DeleteWebhook deletes one of the account's webhooks.
func (t *tx) DeleteWebhook(accountID, id string) error {
	return t.change(`DELETE FROM webhooks WHERE id = ? AND account_id = ?`, id, accountID)
}

// EnqueueDelivery adds a delivery to the outbox.
func (t *tx) EnqueueDelivery(d *glucose.Delivery) error {
	if d.ID == "" {
		d.ID = newID()
	}
	_, err := t.exec(`INSERT INTO webhook_deliveries (id, webhook_id, event, payload, attempts, next_at)
		VALUES (?, ?, ?, ?, ?, ?)`, d.ID, d.WebhookID, d.Event, string(d.Payload), d.Attempts, glucose.MS(d.NextAt))
	return err
}

// ClaimDeliveries returns due deliveries and moves each one's next_at to
// until; due deliveries to disabled accounts' webhooks fail instead. The move is conditional on next_at being unchanged, so of two
// claimers racing for a row (two server instances), one gets it.
func (t *tx) ClaimDeliveries(now, until time.Time, limit int) ([]glucose.Delivery, error) {
	// A disabled account's deliveries are given up, not sent: it reads
	// nothing any more, and sent after it is enabled again they would be
	// stale alarms.
	if _, err := t.exec(`UPDATE webhook_deliveries SET failed_at = ?, last_error = 'account disabled'
		WHERE delivered_at IS NULL AND failed_at IS NULL AND next_at <= ? AND webhook_id IN
		(SELECT w.id FROM webhooks w JOIN accounts a ON a.id = w.account_id WHERE a.disabled = ?)`,
		glucose.MS(now), glucose.MS(now), true); err != nil {
		return nil, err
	}
	rows, err := t.query(`SELECT d.id, d.webhook_id, w.url, w.secret, d.event, d.payload, d.attempts, d.next_at
		FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id
		WHERE d.delivered_at IS NULL AND d.failed_at IS NULL AND d.next_at <= ?
		ORDER BY d.next_at, d.id LIMIT ?`, glucose.MS(now), limit)
	if err != nil {
		return nil, err
	}
	var due []glucose.Delivery
	for rows.Next() {
		var d glucose.Delivery
		var payload string
		var next int64
		if err := rows.Scan(&d.ID, &d.WebhookID, &d.URL, &d.Secret, &d.Event, &payload, &d.Attempts, &next); err != nil {
			rows.Close()
			return nil, t.db.mapError(err)
		}
		d.Payload, d.NextAt = []byte(payload), glucose.FromMS(next)
		due = append(due, d)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, t.db.mapError(err)
	}
	claimed := due[:0]
	for _, d := range due {
		n, err := t.count(`UPDATE webhook_deliveries SET next_at = ? WHERE id = ? AND next_at = ?
			AND delivered_at IS NULL AND failed_at IS NULL`, glucose.MS(until), d.ID, glucose.MS(d.NextAt))
		if err != nil {
			return nil, err
		}
		if n == 1 {
			d.NextAt = until
			claimed = append(claimed, d)
		}
	}
	return claimed, nil
}

// DeliveryDone marks a delivery sent.
func (t *tx) DeliveryDone(id string, at time.Time) error {
	return t.change(`UPDATE webhook_deliveries SET delivered_at = ?, attempts = attempts + 1, last_error = ''
		WHERE id = ?`, glucose.MS(at), id)
}

// DeliveryRetry records a failed attempt and when to try again.
func (t *tx) DeliveryRetry(id string, attempts int, next time.Time, lastErr string) error {
	return t.change(`UPDATE webhook_deliveries SET attempts = ?, next_at = ?, last_error = ? WHERE id = ?`,
		attempts, glucose.MS(next), truncateText(lastErr, 500), id)
}

// DeliveryFailed gives up on a delivery.
func (t *tx) DeliveryFailed(id string, attempts int, at time.Time, lastErr string) error {
	return t.change(`UPDATE webhook_deliveries SET attempts = ?, failed_at = ?, last_error = ? WHERE id = ?`,
		attempts, glucose.MS(at), truncateText(lastErr, 500), id)
}

func truncateText(s string, n int) string {
	if len(s) > n {
		return strings.ToValidUTF8(s[:n], "")
	}
	return s
}
