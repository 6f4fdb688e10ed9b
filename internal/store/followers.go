package store

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/glucoshare/glucoshare/internal/glucose"
	"github.com/glucoshare/glucoshare/share"
)

// LockFollowers takes the publisher's account row for the rest of the
// transaction. On PostgreSQL the no-op UPDATE holds a row lock that a
// second writer waits for (READ COMMITTED then shows it the first one's
// rows); SQLite's single writer already serialises. It is the portable form
// of SELECT … FOR UPDATE, which SQLite lacks.
func (t *tx) LockFollowers(publisherID string) error {
	return t.change(`UPDATE accounts SET monitoring = monitoring WHERE id = ?`, publisherID)
}

const contactColumns = `id, publisher_id, name, email, created_at, deleted_at,
	COALESCE(current_subscription_id, '')`

func scanContact(s scanner) (*glucose.Contact, error) {
	var (
		c       glucose.Contact
		created int64
		deleted sql.NullInt64
	)
	err := s.Scan(&c.ID, &c.PublisherID, &c.Name, &c.Email, &created, &deleted, &c.CurrentSubscriptionID)
	if err != nil {
		return nil, err
	}
	c.CreatedAt = glucose.FromMS(created)
	c.DeletedAt = fromNullMS(deleted)
	return &c, nil
}

// CreateContact inserts c; the partial unique index on (publisher_id,
// name_key) among non-deleted contacts turns a taken name into ErrConflict.
func (t *tx) CreateContact(c *glucose.Contact) error {
	if c.ID == "" {
		c.ID = newID()
	}
	_, err := t.guarded(`INSERT INTO contacts (id, publisher_id, name, name_key, email, created_at,
		deleted_at, current_subscription_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		c.ID, c.PublisherID, c.Name, glucose.NameKey(c.Name), c.Email, glucose.MS(c.CreatedAt),
		nullMS(c.DeletedAt), nullString(c.CurrentSubscriptionID))
	return err
}

// ContactByID finds a contact, deleted or not.
func (t *tx) ContactByID(id string) (*glucose.Contact, error) {
	c, err := scanContact(t.queryRow(`SELECT `+contactColumns+` FROM contacts WHERE id = ?`, id))
	return c, t.db.mapError(err)
}

// ContactByName finds the publisher's non-deleted contact by name key.
func (t *tx) ContactByName(publisherID, name string) (*glucose.Contact, error) {
	c, err := scanContact(t.queryRow(`SELECT `+contactColumns+` FROM contacts
		WHERE publisher_id = ? AND name_key = ? AND deleted_at IS NULL`, publisherID, glucose.NameKey(name)))
	return c, t.db.mapError(err)
}

// CountContacts counts the publisher's non-deleted contacts.
func (t *tx) CountContacts(publisherID string) (int, error) {
	var n int
	err := t.queryRow(`SELECT COUNT(*) FROM contacts WHERE publisher_id = ? AND deleted_at IS NULL`,
		publisherID).Scan(&n)
	return n, t.db.mapError(err)
}

// RenameContact sets the contact's name and name key.
func (t *tx) RenameContact(id, name string) error {
	res, err := t.guarded(`UPDATE contacts SET name = ?, name_key = ? WHERE id = ?`,
		name, glucose.NameKey(name), id)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return orNotFound(err)
	}
	return nil
}

// MarkContactDeleted marks the contact deleted; its name is free again.
func (t *tx) MarkContactDeleted(id string, at time.Time) error {
	return t.change(`UPDATE contacts SET deleted_at = ? WHERE id = ?`, glucose.MS(at), id)
}

// subscriptionColumns reads a subscription joined with its publisher (p),
// whose display name stands in for an empty one.
const subscriptionColumns = `s.id, s.contact_id, s.publisher_id, COALESCE(s.subscriber_id, ''),
	s.invitation_id, s.state, s.permissions,
	CASE WHEN s.display_name = '' THEN p.display_name ELSE s.display_name END,
	s.invite_settings, s.alert_settings, s.invite_expires, s.created_at, s.modified_at,
	s.accepted_at, s.active_since, p.disabled`

const subscriptionFrom = ` FROM subscriptions s JOIN accounts p ON p.id = s.publisher_id`

// subscriptionRow holds the columns of subscriptionColumns while scanning.
type subscriptionRow struct {
	s                        glucose.Subscription
	state                    int
	invite, alerts           string
	expires, created, modify int64
	accepted, active         sql.NullInt64
}

func (r *subscriptionRow) dest() []any {
	s := &r.s
	return []any{&s.ID, &s.ContactID, &s.PublisherID, &s.SubscriberID, &s.InvitationID, &r.state,
		&s.Permissions, &s.DisplayName, &r.invite, &r.alerts, &r.expires, &r.created, &r.modify,
		&r.accepted, &r.active, &s.PublisherDisabled}
}

func (r *subscriptionRow) subscription() (glucose.Subscription, error) {
	s := r.s
	s.State = glucose.State(r.state)
	s.InviteExpires = glucose.FromMS(r.expires)
	s.CreatedAt = glucose.FromMS(r.created)
	s.ModifiedAt = glucose.FromMS(r.modify)
	s.AcceptedAt = fromNullMS(r.accepted)
	s.ActiveSince = fromNullMS(r.active)
	if err := json.Unmarshal([]byte(r.invite), &s.InviteSettings); err != nil {
		return s, fmt.Errorf("subscription %s: invite_settings: %w", s.ID, err)
	}
	if err := json.Unmarshal([]byte(r.alerts), &s.AlertSettings); err != nil {
		return s, fmt.Errorf("subscription %s: alert_settings: %w", s.ID, err)
	}
	return s, nil
}

func (t *tx) subscriptionWhere(cond string, arg any) (*glucose.Subscription, error) {
	var r subscriptionRow
	err := t.queryRow(`SELECT `+subscriptionColumns+subscriptionFrom+` WHERE `+cond, arg).Scan(r.dest()...)
	if err != nil {
		return nil, t.db.mapError(err)
	}
	s, err := r.subscription()
	return &s, err
}

// SubscriptionByID finds a subscription by its id.
func (t *tx) SubscriptionByID(id string) (*glucose.Subscription, error) {
	return t.subscriptionWhere(`s.id = ?`, id)
}

// SubscriptionByInvitation finds a subscription by its invitation id.
func (t *tx) SubscriptionByInvitation(invitationID string) (*glucose.Subscription, error) {
	return t.subscriptionWhere(`s.invitation_id = ?`, invitationID)
}

func alertJSON(a share.AlertSettings) (string, error) {
	b, err := json.Marshal(a)
	return string(b), err
}

// CreateSubscription inserts s and makes it its contact's current
// subscription.
func (t *tx) CreateSubscription(s *glucose.Subscription) error {
	if s.ID == "" {
		s.ID = newID()
	}
	invite, err := alertJSON(s.InviteSettings)
	if err != nil {
		return err
	}
	alerts, err := alertJSON(s.AlertSettings)
	if err != nil {
		return err
	}
	_, err = t.exec(`INSERT INTO subscriptions (id, contact_id, publisher_id, subscriber_id,
		invitation_id, state, permissions, display_name, invite_settings, alert_settings,
		invite_expires, created_at, modified_at, accepted_at, active_since)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		s.ID, s.ContactID, s.PublisherID, nullString(s.SubscriberID), s.InvitationID, int(s.State),
		s.Permissions, s.DisplayName, invite, alerts, glucose.MS(s.InviteExpires),
		glucose.MS(s.CreatedAt), glucose.MS(s.ModifiedAt), nullMS(s.AcceptedAt), nullMS(s.ActiveSince))
	if err != nil {
		return err
	}
	return t.change(`UPDATE contacts SET current_subscription_id = ? WHERE id = ?`, s.ID, s.ContactID)
}

// UpdateSubscription stores the mutable fields of s.
func (t *tx) UpdateSubscription(s *glucose.Subscription) error {
	alerts, err := alertJSON(s.AlertSettings)
	if err != nil {
		return err
	}
	return t.change(`UPDATE subscriptions SET state = ?, subscriber_id = ?, permissions = ?,
		alert_settings = ?, modified_at = ?, accepted_at = ?, active_since = ? WHERE id = ?`,
		int(s.State), nullString(s.SubscriberID), s.Permissions, alerts, glucose.MS(s.ModifiedAt),
		nullMS(s.AcceptedAt), nullMS(s.ActiveSince), s.ID)
}

// CountLiveSubscriptions counts the publisher's subscriptions in 6, 7, 8,
// and in 2 before their invitation expires (expiry is applied lazily, so a
// stored 2 may already be over).
func (t *tx) CountLiveSubscriptions(publisherID string, now time.Time) (int, error) {
	var n int
	err := t.queryRow(`SELECT COUNT(*) FROM subscriptions WHERE publisher_id = ?
		AND (state IN (6, 7, 8) OR (state = 2 AND invite_expires > ?))`,
		publisherID, glucose.MS(now)).Scan(&n)
	return n, t.db.mapError(err)
}

// listingColumns adds the contact's name and the publisher's monitoring
// flag to a subscription.
const listingColumns = subscriptionColumns + `, c.name, p.monitoring`

// PublisherSubscriptions lists each non-deleted contact's current
// subscription, by creation time (id breaks ties).
func (t *tx) PublisherSubscriptions(publisherID string) ([]glucose.SubscriptionListing, error) {
	return t.listings(`SELECT `+listingColumns+` FROM contacts c
		JOIN subscriptions s ON s.id = c.current_subscription_id
		JOIN accounts p ON p.id = s.publisher_id
		WHERE c.publisher_id = ? AND c.deleted_at IS NULL
		ORDER BY s.created_at, s.id`, publisherID)
}

// SubscriberSubscriptions lists the account's accepted subscriptions in
// the given states, by acceptance time (id breaks ties).
func (t *tx) SubscriberSubscriptions(subscriberID string, states ...glucose.State) ([]glucose.SubscriptionListing, error) {
	if len(states) == 0 {
		return []glucose.SubscriptionListing{}, nil
	}
	args := []any{subscriberID}
	for _, st := range states {
		args = append(args, int(st))
	}
	marks := strings.TrimSuffix(strings.Repeat("?, ", len(states)), ", ")
	return t.listings(`SELECT `+listingColumns+subscriptionFrom+`
		JOIN contacts c ON c.id = s.contact_id
		WHERE s.subscriber_id = ? AND s.state IN (`+marks+`)
		ORDER BY s.accepted_at, s.id`, args...)
}

func (t *tx) listings(q string, args ...any) ([]glucose.SubscriptionListing, error) {
	rows, err := t.query(q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	ls := []glucose.SubscriptionListing{}
	for rows.Next() {
		var (
			r subscriptionRow
			l glucose.SubscriptionListing
		)
		if err := rows.Scan(append(r.dest(), &l.ContactName, &l.PublisherMonitoring)...); err != nil {
			return nil, t.db.mapError(err)
		}
		if l.Subscription, err = r.subscription(); err != nil {
			return nil, err
		}
		ls = append(ls, l)
	}
	return ls, t.db.mapError(rows.Err())
}

// nullString stores "" as NULL.
func nullString(s string) sql.NullString {
	return sql.NullString{String: s, Valid: s != ""}
}
