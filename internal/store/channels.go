package store

import (
	"database/sql"
	"time"

	"github.com/glucoshare/glucoshare/internal/glucose"
)

// Notification channels, their outbox, acknowledgement tokens and the
// VAPID keys (schema version 10).

const channelColumns = `c.id, c.account_id, c.kind, c.url, c.secret, c.p256dh, c.auth, c.token_sealed, c.user_key,
	c.name, c.kinds, c.quiet_kinds, c.quiet_start, c.quiet_end, c.time_zone, c.urgent_low_off, c.created_at,
	c.last_delivered_at`

// channelDest lists where scanChannel puts each column of channelColumns.
func channelDest(c *glucose.Channel, created *int64, delivered *sql.NullInt64) []any {
	p := &c.Prefs
	return []any{&c.ID, &c.AccountID, &c.Kind, &c.URL, &c.Secret, &c.P256dh, &c.Auth, &c.TokenSealed, &c.UserKey,
		&c.Name, &p.Kinds, &p.QuietKinds, &p.QuietStart, &p.QuietEnd, &p.TimeZone, &p.UrgentLowOff, created, delivered}
}

func (t *tx) channels(q string, args ...any) ([]glucose.Channel, error) {
	rows, err := t.query(q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []glucose.Channel{}
	for rows.Next() {
		var c glucose.Channel
		var created int64
		var delivered sql.NullInt64
		if err := rows.Scan(channelDest(&c, &created, &delivered)...); err != nil {
			return nil, t.db.mapError(err)
		}
		c.CreatedAt, c.LastDeliveredAt = glucose.FromMS(created), fromNullMS(delivered)
		out = append(out, c)
	}
	return out, t.db.mapError(rows.Err())
}

// CreateChannel inserts c; a Web Push subscription replaces the channel
// that held its endpoint (the browser now belongs to this account).
func (t *tx) CreateChannel(c *glucose.Channel) error {
	if c.ID == "" {
		c.ID = newID()
	}
	if c.Kind == glucose.ChannelWebPush {
		if _, err := t.exec(`DELETE FROM channels WHERE kind = 'webpush' AND url = ?`, c.URL); err != nil {
			return err
		}
	}
	p := c.Prefs
	_, err := t.exec(`INSERT INTO channels (id, account_id, kind, url, secret, p256dh, auth, token_sealed, user_key,
		name, kinds, quiet_kinds, quiet_start, quiet_end, time_zone, urgent_low_off, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.ID, c.AccountID, string(c.Kind), c.URL, c.Secret, c.P256dh, c.Auth, c.TokenSealed, c.UserKey, c.Name,
		int(p.Kinds), int(p.QuietKinds), p.QuietStart, p.QuietEnd, p.TimeZone, p.UrgentLowOff, glucose.MS(c.CreatedAt))
	return err
}

// Channels lists the account's channels, oldest first.
func (t *tx) Channels(accountID string) ([]glucose.Channel, error) {
	return t.channels(`SELECT `+channelColumns+` FROM channels c WHERE c.account_id = ?
		ORDER BY c.created_at, c.id`, accountID)
}

// ChannelByID finds one of the account's channels.
func (t *tx) ChannelByID(accountID, id string) (*glucose.Channel, error) {
	cs, err := t.channels(`SELECT `+channelColumns+` FROM channels c WHERE c.id = ? AND c.account_id = ?`, id, accountID)
	if err != nil {
		return nil, err
	}
	if len(cs) == 0 {
		return nil, glucose.ErrNotFound
	}
	return &cs[0], nil
}

// DeleteChannel deletes one of the account's channels.
func (t *tx) DeleteChannel(accountID, id string) error {
	return t.change(`DELETE FROM channels WHERE id = ? AND account_id = ?`, id, accountID)
}

// DropChannel deletes a channel.
func (t *tx) DropChannel(id string) error {
	_, err := t.exec(`DELETE FROM channels WHERE id = ?`, id)
	return err
}

// SetChannelPrefs stores a channel's choices.
func (t *tx) SetChannelPrefs(accountID, id string, p glucose.ChannelPrefs) error {
	return t.change(`UPDATE channels SET kinds = ?, quiet_kinds = ?, quiet_start = ?, quiet_end = ?, time_zone = ?,
		urgent_low_off = ? WHERE id = ? AND account_id = ?`,
		int(p.Kinds), int(p.QuietKinds), p.QuietStart, p.QuietEnd, p.TimeZone, p.UrgentLowOff, id, accountID)
}

// ChannelDelivered records a delivery's time on its channel.
func (t *tx) ChannelDelivered(id string, at time.Time) error {
	_, err := t.exec(`UPDATE channels SET last_delivered_at = ? WHERE id = ?`, glucose.MS(at), id)
	return err
}

// CreateWebhook inserts a webhook: a channel of kind webhook.
func (t *tx) CreateWebhook(w *glucose.Webhook) error {
	c := glucose.Channel{ID: w.ID, AccountID: w.AccountID, Kind: glucose.ChannelWebhook, URL: w.URL,
		Secret: w.Secret, Prefs: glucose.DefaultChannelPrefs(), CreatedAt: w.CreatedAt}
	err := t.CreateChannel(&c)
	w.ID = c.ID
	return err
}

// Webhooks lists the account's webhooks, oldest first.
func (t *tx) Webhooks(accountID string) ([]glucose.Webhook, error) {
	cs, err := t.Channels(accountID)
	if err != nil {
		return nil, err
	}
	out := []glucose.Webhook{}
	for _, c := range cs {
		if c.Kind == glucose.ChannelWebhook {
			out = append(out, glucose.Webhook{ID: c.ID, AccountID: c.AccountID, URL: c.URL, Secret: c.Secret,
				CreatedAt: c.CreatedAt})
		}
	}
	return out, nil
}

// DeleteWebhook deletes one of the account's webhooks.
func (t *tx) DeleteWebhook(accountID, id string) error {
	return t.change(`DELETE FROM channels WHERE id = ? AND account_id = ? AND kind = 'webhook'`, id, accountID)
}

// EnqueueDelivery adds a delivery to the outbox.
func (t *tx) EnqueueDelivery(d *glucose.Delivery) error {
	if d.ID == "" {
		d.ID = newID()
	}
	_, err := t.exec(`INSERT INTO deliveries (id, channel_id, event, payload, attempts, next_at)
		VALUES (?, ?, ?, ?, ?, ?)`, d.ID, d.ChannelID, d.Event, string(d.Payload), d.Attempts, glucose.MS(d.NextAt))
	return err
}

// ClaimDeliveries returns due deliveries and moves each one's next_at to
// until; due deliveries to a disabled account's channels fail instead. The
// move is conditional on next_at being unchanged, so of two
// claimers racing for a row (two server instances), one gets it.
func (t *tx) ClaimDeliveries(now, until time.Time, limit int) ([]glucose.Delivery, error) {
	// A disabled account's deliveries are given up, not sent: it reads
	// nothing any more, and sent after it is enabled again they would be
	// stale alarms.
	if _, err := t.exec(`UPDATE deliveries SET failed_at = ?, last_error = 'account disabled'
		WHERE delivered_at IS NULL AND failed_at IS NULL AND next_at <= ? AND channel_id IN
		(SELECT c.id FROM channels c JOIN accounts a ON a.id = c.account_id WHERE a.disabled = ?)`,
		glucose.MS(now), glucose.MS(now), true); err != nil {
		return nil, err
	}
	rows, err := t.query(`SELECT d.id, d.event, d.payload, d.attempts, d.next_at, a.units, `+channelColumns+`
		FROM deliveries d JOIN channels c ON c.id = d.channel_id JOIN accounts a ON a.id = c.account_id
		WHERE d.delivered_at IS NULL AND d.failed_at IS NULL AND d.next_at <= ?
		ORDER BY d.next_at, d.id LIMIT ?`, glucose.MS(now), limit)
	if err != nil {
		return nil, err
	}
	var due []glucose.Delivery
	for rows.Next() {
		var d glucose.Delivery
		var payload string
		var next, created int64
		var delivered sql.NullInt64
		dest := append([]any{&d.ID, &d.Event, &payload, &d.Attempts, &next, &d.Units},
			channelDest(&d.Channel, &created, &delivered)...)
		if err := rows.Scan(dest...); err != nil {
			rows.Close()
			return nil, t.db.mapError(err)
		}
		d.ChannelID, d.Payload, d.NextAt = d.Channel.ID, []byte(payload), glucose.FromMS(next)
		d.Channel.CreatedAt, d.Channel.LastDeliveredAt = glucose.FromMS(created), fromNullMS(delivered)
		due = append(due, d)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, t.db.mapError(err)
	}
	claimed := due[:0]
	for _, d := range due {
		n, err := t.count(`UPDATE deliveries SET next_at = ? WHERE id = ? AND next_at = ?
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
	return t.change(`UPDATE deliveries SET delivered_at = ?, attempts = attempts + 1, last_error = ''
		WHERE id = ?`, glucose.MS(at), id)
}

// DeliveryRetry records a failed attempt and when to try again.
func (t *tx) DeliveryRetry(id string, attempts int, next time.Time, lastErr string) error {
	return t.change(`UPDATE deliveries SET attempts = ?, next_at = ?, last_error = ? WHERE id = ?`,
		attempts, glucose.MS(next), truncateText(lastErr, 500), id)
}

// DeliveryFailed gives up on a delivery.
func (t *tx) DeliveryFailed(id string, attempts int, at time.Time, lastErr string) error {
	return t.change(`UPDATE deliveries SET attempts = ?, failed_at = ?, last_error = ? WHERE id = ?`,
		attempts, glucose.MS(at), truncateText(lastErr, 500), id)
}

// CreateAckToken stores an acknowledgement token's hash.
func (t *tx) CreateAckToken(a *glucose.AckToken) error {
	_, err := t.exec(`INSERT INTO ack_tokens (token_hash, alarm_id, account_id, channel_id, receipt, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, a.Hash, a.AlarmID, a.AccountID, a.ChannelID, a.Receipt,
		glucose.MS(a.CreatedAt), glucose.MS(a.ExpiresAt))
	return err
}

// UseAckToken marks a live token used, in one conditional statement: of
// two requests with the same token, one gets it.
func (t *tx) UseAckToken(hash string, now time.Time) (*glucose.AckToken, error) {
	n, err := t.count(`UPDATE ack_tokens SET used_at = ? WHERE token_hash = ? AND used_at IS NULL AND expires_at > ?`,
		glucose.MS(now), hash, glucose.MS(now))
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, glucose.ErrNotFound
	}
	a := glucose.AckToken{Hash: hash, UsedAt: now}
	var created, expires int64
	err = t.queryRow(`SELECT alarm_id, account_id, channel_id, receipt, created_at, expires_at FROM ack_tokens
		WHERE token_hash = ?`, hash).Scan(&a.AlarmID, &a.AccountID, &a.ChannelID, &a.Receipt, &created, &expires)
	a.CreatedAt, a.ExpiresAt = glucose.FromMS(created), glucose.FromMS(expires)
	return &a, t.db.mapError(err)
}

// SetAckReceipt records a Pushover receipt with its token.
func (t *tx) SetAckReceipt(hash, receipt string) error {
	return t.change(`UPDATE ack_tokens SET receipt = ? WHERE token_hash = ?`, receipt, hash)
}

// AckReceipts lists the Pushover receipts of an alarm's messages to a
// channel.
func (t *tx) AckReceipts(alarmID, channelID string) ([]string, error) {
	return t.strings(`SELECT receipt FROM ack_tokens WHERE alarm_id = ? AND channel_id = ? AND receipt <> ''
		ORDER BY created_at, receipt`, alarmID, channelID)
}

// ForgetAckReceipts forgets an alarm's receipts on a channel.
func (t *tx) ForgetAckReceipts(alarmID, channelID string) error {
	_, err := t.exec(`UPDATE ack_tokens SET receipt = '' WHERE alarm_id = ? AND channel_id = ? AND receipt <> ''`,
		alarmID, channelID)
	return err
}

// PurgeAckTokens deletes tokens that expired before cutoff.
func (t *tx) PurgeAckTokens(cutoff time.Time) (int, error) {
	return t.count(`DELETE FROM ack_tokens WHERE expires_at < ?`, glucose.MS(cutoff))
}

// CreateVAPIDKeys stores k unless a pair exists, then reads what is
// stored. ON CONFLICT DO NOTHING waits for a concurrent insert to commit,
// so two instances starting at once read the same pair.
func (t *tx) CreateVAPIDKeys(k *glucose.VAPIDKeys) (*glucose.VAPIDKeys, error) {
	if _, err := t.exec(`INSERT INTO vapid_keys (id, public_key, private_key, sealed, created_at)
		VALUES (1, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`, k.Public, k.Private, k.Sealed, glucose.MS(k.CreatedAt)); err != nil {
		return nil, err
	}
	return t.VAPIDKeysStored()
}

// VAPIDKeysStored reads the key pair.
func (t *tx) VAPIDKeysStored() (*glucose.VAPIDKeys, error) {
	var k glucose.VAPIDKeys
	var created int64
	err := t.queryRow(`SELECT public_key, private_key, sealed, created_at FROM vapid_keys WHERE id = 1`).
		Scan(&k.Public, &k.Private, &k.Sealed, &created)
	if err != nil {
		return nil, t.db.mapError(err)
	}
	k.CreatedAt = glucose.FromMS(created)
	return &k, nil
}

// SealVAPIDKey replaces the private key with its sealed form.
func (t *tx) SealVAPIDKey(sealed string) error {
	return t.change(`UPDATE vapid_keys SET private_key = ?, sealed = ? WHERE id = 1`, sealed, true)
}
