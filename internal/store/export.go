package store

import (
	"github.com/glucoshare/glucoshare/internal/glucose"
)

// NamedValues returns every named value of the account, by partition and
// name.
func (t *tx) NamedValues(accountID string) ([]glucose.NamedValue, error) {
	rows, err := t.query(`SELECT partition_id, name, value FROM named_values
		WHERE account_id = ? ORDER BY partition_id, name`, accountID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	nvs := []glucose.NamedValue{}
	for rows.Next() {
		var nv glucose.NamedValue
		if err := rows.Scan(&nv.Partition, &nv.Name, &nv.Value); err != nil {
			return nil, t.db.mapError(err)
		}
		nvs = append(nvs, nv)
	}
	return nvs, t.db.mapError(rows.Err())
}

// RuntimeInfos returns the account's runtime info, by role.
func (t *tx) RuntimeInfos(accountID string) ([]glucose.RuntimeInfo, error) {
	rows, err := t.query(`SELECT role, info, updated_at FROM runtime_info
		WHERE account_id = ? ORDER BY role`, accountID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	infos := []glucose.RuntimeInfo{}
	for rows.Next() {
		var (
			ri glucose.RuntimeInfo
			at int64
		)
		if err := rows.Scan(&ri.Role, &ri.Info, &at); err != nil {
			return nil, t.db.mapError(err)
		}
		ri.UpdatedAt = glucose.FromMS(at)
		infos = append(infos, ri)
	}
	return infos, t.db.mapError(rows.Err())
}

// Contacts returns every contact of the publisher, deleted ones included.
func (t *tx) Contacts(publisherID string) ([]glucose.Contact, error) {
	rows, err := t.query(`SELECT `+contactColumns+` FROM contacts
		WHERE publisher_id = ? ORDER BY created_at, id`, publisherID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cs := []glucose.Contact{}
	for rows.Next() {
		c, err := scanContact(rows)
		if err != nil {
			return nil, t.db.mapError(err)
		}
		cs = append(cs, *c)
	}
	return cs, t.db.mapError(rows.Err())
}

// AccountSubscriptions returns every subscription the account publishes or
// follows, in every state.
func (t *tx) AccountSubscriptions(accountID string) ([]glucose.Subscription, error) {
	rows, err := t.query(`SELECT `+subscriptionColumns+subscriptionFrom+`
		WHERE s.publisher_id = ? OR s.subscriber_id = ? ORDER BY s.created_at, s.id`, accountID, accountID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	subs := []glucose.Subscription{}
	for rows.Next() {
		var r subscriptionRow
		if err := rows.Scan(r.dest()...); err != nil {
			return nil, t.db.mapError(err)
		}
		s, err := r.subscription()
		if err != nil {
			return nil, err
		}
		subs = append(subs, s)
	}
	return subs, t.db.mapError(rows.Err())
}

// Footprint counts the account's rows in one statement.
func (t *tx) Footprint(accountID string) (glucose.Footprint, error) {
	var f glucose.Footprint
	err := t.queryRow(`SELECT
		(SELECT COUNT(*) FROM readings WHERE account_id = ?),
		(SELECT COUNT(*) FROM sessions WHERE account_id = ?),
		(SELECT COUNT(*) FROM named_values WHERE account_id = ?),
		(SELECT COUNT(*) FROM contacts WHERE publisher_id = ?),
		(SELECT COUNT(*) FROM subscriptions WHERE publisher_id = ?),
		(SELECT COUNT(*) FROM subscriptions WHERE subscriber_id = ?),
		(SELECT COUNT(*) FROM ns_documents WHERE account_id = ?)`,
		accountID, accountID, accountID, accountID, accountID, accountID, accountID).
		Scan(&f.Readings, &f.Sessions, &f.NamedValues, &f.Contacts, &f.Subscriptions, &f.Following, &f.Documents)
	return f, t.db.mapError(err)
}

// DeleteAccount deletes the account. The foreign keys (ON DELETE CASCADE)
// take its sessions, readings, image, runtime info, named values, contacts,
// Nightscout documents, credentials and site, and the subscriptions it
// publishes with their alarms; subscriptions it
// follows keep their rows with the subscriber cleared (ON DELETE SET NULL),
// so that the publisher still sees them as abandoned (docs/protocol.md, "Follower state machine"). What the keys do
// not reach is deleted here: the alarms of the subscriptions it followed
// (the follower's own alarm history) and its login throttling rows, whose
// keys start with the account id (core/throttle.go).
func (t *tx) DeleteAccount(accountID string) error {
	if _, err := t.exec(`DELETE FROM alarms WHERE subscription_id IN
		(SELECT id FROM subscriptions WHERE subscriber_id = ?)`, accountID); err != nil {
		return err
	}
	if err := t.ClearAccountLogins(accountID); err != nil {
		return err
	}
	return t.change(`DELETE FROM accounts WHERE id = ?`, accountID)
}
