package core

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/glucoshare/glucoshare/internal/glucose"
	"github.com/glucoshare/glucoshare/share"
)

// Follower limits (docs/protocol.md, "Publisher: contacts and followers", "Subscriber", "Shared objects").
const (
	MaxContacts       = 100 // non-deleted contacts per publisher
	MaxLastGlucoseIDs = 50  // ids per ReadLastGlucoseFromSubscriptions
	MaxSoundRunes     = 64
)

// The errors of docs/protocol.md, "Access rules". A caller who may not reach a contact, subscription or
// invitation gets exactly the answer for an id that does not exist: same
// code, same message template with the id as given.

func contactNotFound(raw string) *glucose.Error {
	return glucose.Errorf(share.CodeContactIDNotFound, "Contact not found. [ContactId = %s]", sanitizeID(raw))
}

func subscriptionNotFound(raw string) *glucose.Error {
	return glucose.Errorf(share.CodeSubscriptionIDNotFound, "Subscription not found. [SubscriptionId = %s]", sanitizeID(raw))
}

func invitationNotFound(raw string) *glucose.Error {
	return glucose.Errorf(share.CodeInvitationIDNotFound, "Invitation not found. [InvitationId = %s]", sanitizeID(raw))
}

func notActive(raw string) *glucose.Error {
	return glucose.Errorf(share.CodeSubscriptionNotActive,
		"The subscription's state does not allow this call. [SubscriptionId = %s]", sanitizeID(raw))
}

func notPausable(raw string) *glucose.Error {
	return glucose.Errorf(share.CodeSubscriptionNotPausableState,
		"The subscription cannot be paused in its current state. [SubscriptionId = %s]", sanitizeID(raw))
}

func notPaused(raw string) *glucose.Error {
	return glucose.Errorf(share.CodeSubscriptionNotPaused,
		"The subscription is not paused by you. [SubscriptionId = %s]", sanitizeID(raw))
}

// parseRef reads an id parameter (docs/protocol.md, "Identifiers"); the zero id never names a row.
func parseRef(raw string) (string, bool) {
	id, ok := share.ParseID(raw)
	return id, ok && id != share.ZeroID
}

// checkContactName trims and validates a contact name (docs/protocol.md, "Publisher: contacts and followers").
func checkContactName(name string) (string, error) {
	return checkName("contactName", name, false)
}

// ---- Contacts (docs/protocol.md, "Publisher: contacts and followers") ----

// ContactExists reports whether the publisher has a non-deleted contact
// with that name, compared case-insensitively.
func (s *Service) ContactExists(ctx context.Context, publisherID, name string) (bool, error) {
	name, err := checkContactName(name)
	if err != nil {
		return false, err // no contact can have it: refused before the look-up
	}
	var found bool
	err = s.store.View(ctx, func(tx glucose.Tx) error {
		_, err := tx.ContactByName(publisherID, name)
		found = err == nil
		if errors.Is(err, glucose.ErrNotFound) {
			return nil
		}
		return err
	})
	return found, err
}

// CreateContact adds a contact; an empty email means none.
func (s *Service) CreateContact(ctx context.Context, publisherID, name, email string, now time.Time) (*glucose.Contact, error) {
	name, err := checkContactName(name)
	if err != nil {
		return nil, err
	}
	if email = strings.TrimSpace(email); email != "" {
		if err := checkEmail(email); err != nil {
			return nil, err
		}
	}
	c := &glucose.Contact{ID: share.NewID(), PublisherID: publisherID, Name: name, Email: email, CreatedAt: now}
	err = s.store.Update(ctx, func(tx glucose.Tx) error {
		if err := tx.LockFollowers(publisherID); err != nil {
			return err
		}
		n, err := tx.CountContacts(publisherID)
		if err != nil {
			return err
		}
		if n >= MaxContacts {
			return glucose.InvalidArgument("a publisher may have at most %d contacts", MaxContacts)
		}
		return nameTaken(tx.CreateContact(c), name)
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// nameTaken turns the store's conflict into ContactNameAlreadyExists.
func nameTaken(err error, name string) error {
	if errors.Is(err, glucose.ErrConflict) {
		return glucose.Errorf(share.CodeContactNameAlreadyExists, "A contact named %q already exists.", name)
	}
	return err
}

// ownContact loads a contact of the publisher that is not deleted.
func ownContact(tx glucose.Tx, publisherID, raw string) (*glucose.Contact, error) {
	id, ok := parseRef(raw)
	if !ok {
		return nil, contactNotFound(raw)
	}
	c, err := tx.ContactByID(id)
	switch {
	case errors.Is(err, glucose.ErrNotFound):
		return nil, contactNotFound(raw)
	case err != nil:
		return nil, err
	case c.PublisherID != publisherID || c.Deleted():
		return nil, contactNotFound(raw)
	}
	return c, nil
}

// currentSubscription returns the contact's current subscription with the
// lazy expiry applied, or nil when it has none.
func currentSubscription(tx glucose.Tx, c *glucose.Contact, now time.Time) (*glucose.Subscription, error) {
	if c.CurrentSubscriptionID == "" {
		return nil, nil
	}
	sub, err := tx.SubscriptionByID(c.CurrentSubscriptionID)
	if err != nil {
		return nil, err
	}
	sub.Expire(now)
	return sub, nil
}

// ContactView is a contact with its current subscription's state and id:
// 0 and the zero id when it has none (docs/protocol.md, "Publisher: contacts and followers" ReadContact).
type ContactView struct {
	glucose.Contact
	State          glucose.State
	SubscriptionID string
}

// Contact reads one of the publisher's contacts.
func (s *Service) Contact(ctx context.Context, publisherID, rawID string, now time.Time) (*ContactView, error) {
	var v *ContactView
	err := s.store.View(ctx, func(tx glucose.Tx) error {
		c, err := ownContact(tx, publisherID, rawID)
		if err != nil {
			return err
		}
		v = &ContactView{Contact: *c, SubscriptionID: share.ZeroID}
		sub, err := currentSubscription(tx, c, now)
		if err != nil || sub == nil {
			return err
		}
		v.State, v.SubscriptionID = sub.State, sub.ID
		return nil
	})
	return v, err
}

// RenameContact changes a contact's name.
func (s *Service) RenameContact(ctx context.Context, publisherID, rawID, name string) error {
	name, err := checkContactName(name)
	if err != nil {
		return err
	}
	return s.store.Update(ctx, func(tx glucose.Tx) error {
		c, err := ownContact(tx, publisherID, rawID)
		if err != nil {
			return err
		}
		return nameTaken(tx.RenameContact(c.ID, name), name)
	})
}

// DeleteContact marks a contact deleted and cancels its current
// subscription: 2, 6, 7, 8 → 9; 10 → 11 (docs/protocol.md, "Publisher: contacts and followers").
func (s *Service) DeleteContact(ctx context.Context, publisherID, rawID string, now time.Time) error {
	err := s.deleteContact(ctx, publisherID, rawID, now)
	if err == nil {
		// The subscription left state 6: its open alarms clear (docs/protocol.md, "Alarm lifecycle").
		if err := s.EvaluatePublisher(ctx, publisherID, now); err != nil {
			s.log.Error("alarm evaluation after DeleteContact failed", "err", err)
		}
	}
	return err
}

func (s *Service) deleteContact(ctx context.Context, publisherID, rawID string, now time.Time) error {
	return s.store.Update(ctx, func(tx glucose.Tx) error {
		if err := tx.LockFollowers(publisherID); err != nil {
			return err
		}
		id, _ := parseRef(rawID)
		if c, err := tx.ContactByID(id); err == nil && c.PublisherID == publisherID && c.Deleted() {
			return glucose.Errorf(share.CodeContactAlreadyDeleted,
				"The contact was already deleted. [ContactId = %s]", sanitizeID(rawID))
		}
		c, err := ownContact(tx, publisherID, rawID)
		if err != nil {
			return err
		}
		if err := tx.MarkContactDeleted(c.ID, now); err != nil {
			return err
		}
		sub, err := currentSubscription(tx, c, now)
		if err != nil || sub == nil {
			return err
		}
		switch {
		case sub.State.Live():
			sub.SetState(glucose.StateCanceledByPublisher, now)
		case sub.State == glucose.StateCanceledBySubscriber:
			sub.SetState(glucose.StateCanceledByBoth, now)
		}
		return tx.UpdateSubscription(sub)
	})
}

// ---- Invitations, publisher side (docs/protocol.md, "Publisher: contacts and followers") ----

// Invitation is what CreateSubscriptionInvitation asks for.
type Invitation struct {
	Alerts      AlertsInput
	Permissions *int64 // nil: the default, 1
	DisplayName string // "" stands for the publisher's display name
}

// Invite creates a subscription in state 2 for the contact, superseding a
// waiting one, and e-mails the invitation after the commit when mail is
// configured and the contact has an address.
func (s *Service) Invite(ctx context.Context, publisherID, rawContactID string, in Invitation, now time.Time) (*glucose.Subscription, error) {
	display, err := checkDisplayName(in.DisplayName, true)
	if err != nil {
		return nil, err
	}
	alerts, err := in.Alerts.apply(share.DefaultAlertSettings())
	if err != nil {
		return nil, err
	}
	sub := &glucose.Subscription{
		ID: share.NewID(), PublisherID: publisherID, InvitationID: share.NewID(),
		State: glucose.StateInviteWaiting, Permissions: 1, DisplayName: display,
		InviteSettings: alerts, AlertSettings: alerts, InviteExpires: now.Add(s.cfg.InviteTTL),
		CreatedAt: now, ModifiedAt: now,
	}
	if in.Permissions != nil {
		sub.Permissions = permissionValue(*in.Permissions)
	}
	var (
		contact   *glucose.Contact
		created   *glucose.Subscription
		publisher *glucose.Account
	)
	err = s.store.Update(ctx, func(tx glucose.Tx) (err error) {
		if err := tx.LockFollowers(publisherID); err != nil {
			return err
		}
		if publisher, err = tx.AccountByID(publisherID); err != nil {
			return err
		}
		if contact, err = ownContact(tx, publisherID, rawContactID); err != nil {
			return err
		}
		if err := s.supersede(tx, contact, now); err != nil {
			return err
		}
		n, err := tx.CountLiveSubscriptions(publisherID, now)
		if err != nil {
			return err
		}
		if n >= s.cfg.MaxFollowers {
			return glucose.Errorf(share.CodeMaxFollowersExceeded,
				"The publisher already has %d followers and waiting invitations; the limit is %d.", n, s.cfg.MaxFollowers)
		}
		sub.ContactID = contact.ID
		if err := tx.CreateSubscription(sub); err != nil {
			return err
		}
		created, err = tx.SubscriptionByID(sub.ID) // with the display name resolved
		return err
	})
	if err != nil {
		return nil, err
	}
	s.notifyInvitation(ctx, contact, created, publisher.Units)
	return created, nil
}

// supersede makes room for a new invitation of the contact: a waiting one
// is cancelled (9), an accepted one refuses the call.
func (s *Service) supersede(tx glucose.Tx, c *glucose.Contact, now time.Time) error {
	sub, err := currentSubscription(tx, c, now)
	switch {
	case err != nil:
		return err
	case sub == nil:
		return nil
	case sub.State.Accepted():
		return glucose.InvalidArgument("contact already has a subscription")
	case sub.State == glucose.StateInviteWaiting:
		sub.SetState(glucose.StateCanceledByPublisher, now)
	}
	return tx.UpdateSubscription(sub) // also stores a lazy expiry
}

// permissionValue stores Permissions > 0 as 1, anything else as 0.
func permissionValue(p int64) int {
	if p > 0 {
		return 1
	}
	return 0
}

// InvitationID returns a subscription's invitation id, in any state.
// Publisher only.
func (s *Service) InvitationID(ctx context.Context, publisherID, rawID string) (string, error) {
	var id string
	err := s.store.View(ctx, func(tx glucose.Tx) error {
		sub, err := publisherSubscription(tx, publisherID, rawID)
		if err == nil {
			id = sub.InvitationID
		}
		return err
	})
	return id, err
}

// PublisherSubscriptions lists the current subscription of each of the
// publisher's non-deleted contacts, by creation time.
func (s *Service) PublisherSubscriptions(ctx context.Context, publisherID string, now time.Time) ([]glucose.SubscriptionListing, error) {
	var ls []glucose.SubscriptionListing
	err := s.store.View(ctx, func(tx glucose.Tx) (err error) {
		ls, err = tx.PublisherSubscriptions(publisherID)
		return err
	})
	for i := range ls {
		ls[i].Expire(now)
	}
	return ls, err
}

// SetPermissions changes a subscription's permissions; allowed in 2, 6,
// 7 and 8.
func (s *Service) SetPermissions(ctx context.Context, publisherID, rawID string, permissions int64, now time.Time) error {
	return s.changeSubscription(ctx, publisherID, rawID, reachPublisher, now, func(sub *glucose.Subscription, _ role) error {
		if !sub.State.Live() {
			return notActive(rawID)
		}
		if p := permissionValue(permissions); p != sub.Permissions {
			sub.Permissions, sub.ModifiedAt = p, now
		}
		return nil
	})
}

// ---- Reaching a subscription (docs/protocol.md, "Access rules") ----

// role is what the caller is to a subscription.
type role int

const (
	rolePublisher role = iota + 1
	roleSubscriber
)

// reach says which roles a call accepts.
type reach int

const (
	reachPublisher  reach = 1 << iota // Publisher/… calls
	reachSubscriber                   // Subscriber/… calls
	reachEither     = reachPublisher | reachSubscriber
)

// publisherSubscription loads a subscription of the publisher whose
// contact is not deleted.
func publisherSubscription(tx glucose.Tx, publisherID, raw string) (*glucose.Subscription, error) {
	sub, _, err := reachSubscription(tx, publisherID, raw, reachPublisher)
	return sub, err
}

// reachSubscription loads the subscription raw names and the caller's role
// on it. Its publisher reaches it while the contact is not deleted; its
// subscriber once accepted. Anyone else — and a role the call does not
// accept — gets the answer for an unknown id.
func reachSubscription(tx glucose.Tx, callerID, raw string, want reach) (*glucose.Subscription, role, error) {
	id, ok := parseRef(raw)
	if !ok {
		return nil, 0, subscriptionNotFound(raw)
	}
	sub, err := tx.SubscriptionByID(id)
	switch {
	case errors.Is(err, glucose.ErrNotFound):
		return nil, 0, subscriptionNotFound(raw)
	case err != nil:
		return nil, 0, err
	case want&reachSubscriber != 0 && sub.SubscriberID == callerID:
		return sub, roleSubscriber, nil
	case want&reachPublisher == 0 || sub.PublisherID != callerID:
		return nil, 0, subscriptionNotFound(raw)
	}
	c, err := tx.ContactByID(sub.ContactID)
	if err != nil {
		return nil, 0, err
	}
	if c.Deleted() {
		return nil, 0, subscriptionNotFound(raw)
	}
	return sub, rolePublisher, nil
}

// subscriberFinds applies the last column of docs/protocol.md, "Access rules"'s subscriber table: a
// subscriber call does not find its subscription in 2, 10, 11 or 12.
// (DeleteSubscription, which finds 10 and 11, has its own switch.)
func subscriberFinds(st glucose.State) bool {
	return st.Accepted() || st == glucose.StateCanceledByPublisher
}

// viewSubscription runs fn on a subscription the caller reaches, with the
// lazy expiry applied, in a read-only transaction. A subscriber's
// subscription in a state it does not find answers not found.
func (s *Service) viewSubscription(ctx context.Context, callerID, raw string, want reach, now time.Time,
	fn func(tx glucose.Tx, sub *glucose.Subscription, r role) error) error {
	return s.store.View(ctx, func(tx glucose.Tx) error {
		sub, r, err := reachSubscription(tx, callerID, raw, want)
		if err != nil {
			return err
		}
		sub.Expire(now)
		if r == roleSubscriber && !subscriberFinds(sub.State) {
			return subscriptionNotFound(raw)
		}
		return fn(tx, sub, r)
	})
}

// changeSubscription runs fn on a subscription the caller reaches, under
// the publisher's lock, and stores what fn changed (and a lazy expiry).
// fn sets ModifiedAt itself where the change calls for it.
func (s *Service) changeSubscription(ctx context.Context, callerID, raw string, want reach, now time.Time,
	fn func(sub *glucose.Subscription, r role) error) error {
	return s.store.Update(ctx, func(tx glucose.Tx) error {
		sub, _, err := reachSubscription(tx, callerID, raw, want)
		if err != nil {
			return err
		}
		if err := tx.LockFollowers(sub.PublisherID); err != nil {
			return err
		}
		// Again under the lock: another writer may have changed it.
		sub, r, err := reachSubscription(tx, callerID, raw, want)
		if err != nil {
			return err
		}
		before := *sub
		sub.Expire(now)
		if r == roleSubscriber && !subscriberFinds(sub.State) {
			return subscriptionNotFound(raw)
		}
		if err := fn(sub, r); err != nil {
			return err
		}
		if *sub == before {
			return nil
		}
		return tx.UpdateSubscription(sub)
	})
}

// ---- General: alerts, pause, resume (docs/protocol.md, "General") ----

// SubscriptionAlerts is General/ReadSubscriptionAlerts: a subscription's
// alert settings in force, to its publisher in any state, to its
// subscriber in 6, 7, 8 (docs/protocol.md, "Access rules").
func (s *Service) SubscriptionAlerts(ctx context.Context, callerID, rawID string, now time.Time) (share.AlertSettings, error) {
	return s.alerts(ctx, callerID, rawID, reachEither, now)
}

// SubscriberAlertSettings is Subscriber/ReadSubscriptionAlertSettings: as
// SubscriptionAlerts, for the subscriber only.
func (s *Service) SubscriberAlertSettings(ctx context.Context, subscriberID, rawID string, now time.Time) (share.AlertSettings, error) {
	return s.alerts(ctx, subscriberID, rawID, reachSubscriber, now)
}

func (s *Service) alerts(ctx context.Context, callerID, rawID string, want reach, now time.Time) (share.AlertSettings, error) {
	var a share.AlertSettings
	err := s.viewSubscription(ctx, callerID, rawID, want, now, func(_ glucose.Tx, sub *glucose.Subscription, r role) error {
		if r == roleSubscriber && sub.State == glucose.StateCanceledByPublisher {
			return notActive(rawID)
		}
		a = sub.AlertSettings
		return nil
	})
	return a, err
}

// PauseSubscription pauses an active subscription for the caller: the
// publisher 6 → 7, the subscriber 6 → 8; pausing one's own pause again
// succeeds.
func (s *Service) PauseSubscription(ctx context.Context, callerID, rawID string, now time.Time) error {
	return s.reevaluated(ctx, rawID, now, s.pauseSubscription(ctx, callerID, rawID, now))
}

func (s *Service) pauseSubscription(ctx context.Context, callerID, rawID string, now time.Time) error {
	return s.changeSubscription(ctx, callerID, rawID, reachEither, now, func(sub *glucose.Subscription, r role) error {
		mine := pausedBy(r)
		switch sub.State {
		case mine:
			return nil
		case glucose.StateActive:
			sub.SetState(mine, now)
			return nil
		}
		return notPausable(rawID)
	})
}

// ResumeSubscription resumes a subscription the caller paused.
func (s *Service) ResumeSubscription(ctx context.Context, callerID, rawID string, now time.Time) error {
	return s.reevaluated(ctx, rawID, now, s.resumeSubscription(ctx, callerID, rawID, now))
}

func (s *Service) resumeSubscription(ctx context.Context, callerID, rawID string, now time.Time) error {
	return s.changeSubscription(ctx, callerID, rawID, reachEither, now, func(sub *glucose.Subscription, r role) error {
		if sub.State != pausedBy(r) {
			return notPaused(rawID)
		}
		sub.SetState(glucose.StateActive, now)
		return nil
	})
}

func pausedBy(r role) glucose.State {
	if r == rolePublisher {
		return glucose.StatePausedByPublisher
	}
	return glucose.StatePausedBySubscriber
}

// ---- Subscriber (docs/protocol.md, "Subscriber") ----

// listOrder ranks the groups of ListSubscriberAccountSubscriptions: active,
// then paused, then cancelled.
func listOrder(st glucose.State) int {
	switch st {
	case glucose.StateActive:
		return 0
	case glucose.StatePausedByPublisher, glucose.StatePausedBySubscriber:
		return 1
	}
	return 2
}

// SubscriberSubscriptions lists the caller's subscriptions in 6, 7, 8 and
// 9: active first, then paused, then cancelled, each group by acceptance.
func (s *Service) SubscriberSubscriptions(ctx context.Context, subscriberID string) ([]glucose.SubscriptionListing, error) {
	var ls []glucose.SubscriptionListing
	err := s.store.View(ctx, func(tx glucose.Tx) (err error) {
		ls, err = tx.SubscriberSubscriptions(subscriberID, glucose.StateActive, glucose.StatePausedByPublisher,
			glucose.StatePausedBySubscriber, glucose.StateCanceledByPublisher)
		return err
	})
	slices.SortStableFunc(ls, func(a, b glucose.SubscriptionListing) int {
		return cmp.Compare(listOrder(a.State), listOrder(b.State))
	})
	return ls, err
}

// SubscriptionReadings reads the publisher's readings for an active
// subscription; with permission 0 only the newest one.
func (s *Service) SubscriptionReadings(ctx context.Context, subscriberID, rawID string, q ReadQuery, now time.Time) ([]glucose.Reading, error) {
	var publisherID string
	err := s.viewSubscription(ctx, subscriberID, rawID, reachSubscriber, now, func(_ glucose.Tx, sub *glucose.Subscription, _ role) error {
		if sub.State != glucose.StateActive || sub.PublisherDisabled {
			return notActive(rawID)
		}
		if sub.Permissions == 0 {
			q.MaxCount = min(q.MaxCount, 1)
		}
		publisherID = sub.PublisherID
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s.LatestReadings(ctx, publisherID, q, now)
}

// LastReadings returns, per requested id and in order, the publisher's
// newest reading of any age, or nil — one answer for a missing reading and
// for an id that is malformed, unknown, someone else's or not active.
func (s *Service) LastReadings(ctx context.Context, subscriberID string, rawIDs []string) ([]*glucose.Reading, error) {
	out := make([]*glucose.Reading, len(rawIDs))
	err := s.store.View(ctx, func(tx glucose.Tx) error {
		newest := map[string]*glucose.Reading{} // by publisher
		for i, raw := range rawIDs {
			pub, err := activePublisher(tx, subscriberID, raw)
			if err != nil {
				return err
			}
			if pub == "" {
				continue
			}
			r, seen := newest[pub]
			if !seen {
				rs, err := tx.LatestReadings(pub, math.MinInt64, 1)
				if err != nil {
					return err
				}
				if len(rs) > 0 {
					r = &rs[0]
				}
				newest[pub] = r
			}
			out[i] = r
		}
		return nil
	})
	return out, err
}

// activePublisher returns the publisher of an active subscription the
// caller follows, or "".
func activePublisher(tx glucose.Tx, subscriberID, raw string) (string, error) {
	id, ok := parseRef(raw)
	if !ok {
		return "", nil
	}
	sub, err := tx.SubscriptionByID(id)
	switch {
	case errors.Is(err, glucose.ErrNotFound):
		return "", nil
	case err != nil:
		return "", err
	case sub.SubscriberID != subscriberID || sub.State != glucose.StateActive || sub.PublisherDisabled:
		return "", nil
	}
	return sub.PublisherID, nil
}

// SubscriptionDisplayName returns the name the follower sees.
func (s *Service) SubscriptionDisplayName(ctx context.Context, subscriberID, rawID string, now time.Time) (string, error) {
	var name string
	err := s.publisherRead(ctx, subscriberID, rawID, now, func(sub *glucose.Subscription) { name = sub.DisplayName })
	return name, err
}

// SubscriptionPublisher returns the publisher of a subscription the caller
// may read (for its image).
func (s *Service) SubscriptionPublisher(ctx context.Context, subscriberID, rawID string, now time.Time) (string, error) {
	var id string
	err := s.publisherRead(ctx, subscriberID, rawID, now, func(sub *glucose.Subscription) { id = sub.PublisherID })
	return id, err
}

// subscriberRead applies the row of docs/protocol.md, "Access rules" shared by the display name, image
// and alert-setting calls: 6, 7, 8 pass, 9 is SubscriptionNotActive.
func (s *Service) subscriberRead(ctx context.Context, subscriberID, rawID string, now time.Time, fn func(*glucose.Subscription)) error {
	return s.viewSubscription(ctx, subscriberID, rawID, reachSubscriber, now, func(_ glucose.Tx, sub *glucose.Subscription, _ role) error {
		if sub.State == glucose.StateCanceledByPublisher {
			return notActive(rawID)
		}
		fn(sub)
		return nil
	})
}

// publisherRead is subscriberRead for what reads the publisher's own data
// (its name, picture, readings): a disabled publisher's subscriptions
// answer SubscriptionNotActive, as if it had paused them all.
func (s *Service) publisherRead(ctx context.Context, subscriberID, rawID string, now time.Time, fn func(*glucose.Subscription)) error {
	var disabled bool
	err := s.subscriberRead(ctx, subscriberID, rawID, now, func(sub *glucose.Subscription) {
		if disabled = sub.PublisherDisabled; !disabled {
			fn(sub)
		}
	})
	if err == nil && disabled {
		return notActive(rawID)
	}
	return err
}

// UpdateAlertSettings replaces the alert kinds in present; absent kinds
// stay as they are.
func (s *Service) UpdateAlertSettings(ctx context.Context, subscriberID, rawID string, in AlertsInput, now time.Time) error {
	if _, err := in.apply(share.DefaultAlertSettings()); err != nil {
		return err // parameters before state (docs/protocol.md, "Sessions")
	}
	err := s.changeSubscription(ctx, subscriberID, rawID, reachSubscriber, now, func(sub *glucose.Subscription, _ role) error {
		if sub.State == glucose.StateCanceledByPublisher {
			return notActive(rawID)
		}
		a, err := in.apply(sub.AlertSettings)
		if err != nil {
			return err
		}
		if a != sub.AlertSettings {
			sub.AlertSettings, sub.ModifiedAt = a, now
		}
		return nil
	})
	return s.reevaluated(ctx, rawID, now, err)
}

// LeaveSubscription is DeleteSubscription: the follower leaves. 6, 7, 8 →
// 10; 9 → 11; 10 and 11 stay.
func (s *Service) LeaveSubscription(ctx context.Context, subscriberID, rawID string, now time.Time) error {
	return s.reevaluated(ctx, rawID, now, s.leaveSubscription(ctx, subscriberID, rawID, now))
}

func (s *Service) leaveSubscription(ctx context.Context, subscriberID, rawID string, now time.Time) error {
	return s.store.Update(ctx, func(tx glucose.Tx) error {
		sub, err := s.lockedSubscriber(tx, subscriberID, rawID)
		if err != nil {
			return err
		}
		switch sub.State {
		case glucose.StateActive, glucose.StatePausedByPublisher, glucose.StatePausedBySubscriber:
			sub.SetState(glucose.StateCanceledBySubscriber, now)
		case glucose.StateCanceledByPublisher:
			sub.SetState(glucose.StateCanceledByBoth, now)
		case glucose.StateCanceledBySubscriber, glucose.StateCanceledByBoth:
			return nil
		default:
			return subscriptionNotFound(rawID)
		}
		return tx.UpdateSubscription(sub)
	})
}

// lockedSubscriber loads, under the publisher's lock, a subscription the
// caller accepted.
func (s *Service) lockedSubscriber(tx glucose.Tx, subscriberID, rawID string) (*glucose.Subscription, error) {
	sub, _, err := reachSubscription(tx, subscriberID, rawID, reachSubscriber)
	if err != nil {
		return nil, err
	}
	if err := tx.LockFollowers(sub.PublisherID); err != nil {
		return nil, err
	}
	sub, _, err = reachSubscription(tx, subscriberID, rawID, reachSubscriber)
	return sub, err
}

// ---- Invitations, follower side (docs/protocol.md, "Subscriber") ----

// ReadInvitation reads an invitation by its id, the bearer token: any
// account holding it may, except that once accepted only the accepter may.
func (s *Service) ReadInvitation(ctx context.Context, callerID, rawID string, now time.Time) (*glucose.Subscription, error) {
	var sub *glucose.Subscription
	err := s.store.View(ctx, func(tx glucose.Tx) (err error) {
		sub, err = invitation(tx, callerID, rawID)
		if err != nil {
			return err
		}
		sub.Expire(now)
		return nil
	})
	return sub, err
}

// invitation loads the subscription of an invitation id; another account's
// accepted invitation answers InvitationAlreadyAccepted.
func invitation(tx glucose.Tx, callerID, raw string) (*glucose.Subscription, error) {
	id, ok := parseRef(raw)
	if !ok {
		return nil, invitationNotFound(raw)
	}
	sub, err := tx.SubscriptionByInvitation(id)
	switch {
	case errors.Is(err, glucose.ErrNotFound), err == nil && sub.PublisherDisabled:
		return nil, invitationNotFound(raw) // a disabled account invites nobody
	case err != nil:
		return nil, err
	case sub.SubscriberID != "" && sub.SubscriberID != callerID:
		return nil, glucose.Errorf(share.CodeInvitationAlreadyAccepted,
			"The invitation was accepted by another account. [InvitationId = %s]", sanitizeID(raw))
	}
	return sub, nil
}

// answerInvitation runs fn on an invitation under its publisher's lock and
// stores the result; the publisher itself may not answer its own.
func (s *Service) answerInvitation(ctx context.Context, callerID, rawID string, now time.Time,
	fn func(sub *glucose.Subscription) error) (*glucose.Subscription, error) {
	var sub *glucose.Subscription
	err := s.store.Update(ctx, func(tx glucose.Tx) (err error) {
		if sub, err = invitation(tx, callerID, rawID); err != nil {
			return err
		}
		if err := tx.LockFollowers(sub.PublisherID); err != nil {
			return err
		}
		if sub, err = invitation(tx, callerID, rawID); err != nil {
			return err
		}
		if sub.PublisherID == callerID {
			return glucose.InvalidArgument("cannot follow your own account")
		}
		before := *sub
		if sub.Expire(now) || sub.State == glucose.StateInviteExpired {
			return invitationExpired(rawID)
		}
		if err := fn(sub); err != nil || *sub == before {
			return err
		}
		return tx.UpdateSubscription(sub)
	})
	return sub, err
}

func invitationExpired(raw string) *glucose.Error {
	return glucose.Errorf(share.CodeInvitationExpired, "The invitation has expired. [InvitationId = %s]", sanitizeID(raw))
}

func notPending(raw string) *glucose.Error {
	return glucose.Errorf(share.CodeInvitationNotPending, "The invitation is no longer pending. [InvitationId = %s]", sanitizeID(raw))
}

// AcceptInvitation makes the caller the subscriber: 2 → 6. Accepting again
// while 6, 7 or 8 returns the same subscription.
func (s *Service) AcceptInvitation(ctx context.Context, callerID, rawID string, now time.Time) (string, error) {
	sub, err := s.answerInvitation(ctx, callerID, rawID, now, func(sub *glucose.Subscription) error {
		switch {
		case sub.SubscriberID != "" && sub.State.Accepted():
			return nil
		case sub.State != glucose.StateInviteWaiting:
			return notPending(rawID)
		}
		sub.SubscriberID = callerID
		sub.AcceptedAt = now
		sub.AlertSettings = sub.InviteSettings
		sub.SetState(glucose.StateActive, now)
		return nil
	})
	if err != nil {
		return "", err
	}
	return sub.ID, s.reevaluated(ctx, sub.ID, now, nil)
}

// RejectInvitation declines a waiting invitation: 2 → 4; rejecting again
// succeeds.
func (s *Service) RejectInvitation(ctx context.Context, callerID, rawID string, now time.Time) error {
	_, err := s.answerInvitation(ctx, callerID, rawID, now, func(sub *glucose.Subscription) error {
		switch {
		case sub.State == glucose.StateInviteRejected:
			return nil
		case sub.State != glucose.StateInviteWaiting:
			return notPending(rawID)
		}
		sub.SetState(glucose.StateInviteRejected, now)
		return nil
	})
	return err
}

// ---- Alert settings (docs/protocol.md, "Shared objects", "Alert settings") ----

// AlertInput is one alert kind as a request gave it; nil fields were
// omitted and take the docs/protocol.md, "Shared objects" defaults.
type AlertInput struct {
	IsEnabled    *bool
	MinValue     *int64
	MaxValue     *int64
	AlarmDelay   *string
	RealarmDelay *string
	Sound        *string
}

// AlertsInput holds the alert kinds a request carried; a nil kind was
// absent.
type AlertsInput struct {
	High, Low, FixedLow, NoData *AlertInput
}

// apply normalises the present kinds (docs/protocol.md, "Alert settings") and puts them in place of
// base's; absent kinds keep base's values.
func (in AlertsInput) apply(base share.AlertSettings) (share.AlertSettings, error) {
	def := share.DefaultAlertSettings()
	kinds := []struct {
		name string
		in   *AlertInput
		def  share.AlertSetting
		dst  *share.AlertSetting
	}{
		{"HighAlert", in.High, def.HighAlert, &base.HighAlert},
		{"LowAlert", in.Low, def.LowAlert, &base.LowAlert},
		{"FixedLowAlert", in.FixedLow, def.FixedLowAlert, &base.FixedLowAlert},
		{"NoDataAlert", in.NoData, def.NoDataAlert, &base.NoDataAlert},
	}
	for _, k := range kinds {
		if k.in == nil {
			continue
		}
		a, err := k.in.normalize(k.name, k.def)
		if err != nil {
			return share.AlertSettings{}, err
		}
		*k.dst = a
	}
	return base, nil
}

// normalize fills omitted fields from def (whose AlertType the member name
// decides) and validates the rest.
func (in *AlertInput) normalize(name string, def share.AlertSetting) (share.AlertSetting, error) {
	a := def
	if in.IsEnabled != nil {
		a.IsEnabled = *in.IsEnabled
	}
	for _, v := range []struct {
		field string
		in    *int64
		dst   *int
	}{{"MinValue", in.MinValue, &a.MinValue}, {"MaxValue", in.MaxValue, &a.MaxValue}} {
		if v.in == nil {
			continue
		}
		if *v.in < 39 || *v.in > 401 {
			return a, glucose.InvalidArgument("%s.%s must be an integer from 39 to 401", name, v.field)
		}
		*v.dst = int(*v.in)
	}
	for _, d := range []struct {
		field string
		in    *string
		dst   *string
	}{{"AlarmDelay", in.AlarmDelay, &a.AlarmDelay}, {"RealarmDelay", in.RealarmDelay, &a.RealarmDelay}} {
		if d.in == nil {
			continue
		}
		if _, err := share.ParseDuration(*d.in); err != nil {
			return a, glucose.InvalidArgument("%s.%s: %v", name, d.field, err)
		}
		*d.dst = *d.in
	}
	if in.Sound != nil {
		if utf8.RuneCountInString(*in.Sound) > MaxSoundRunes {
			return a, glucose.InvalidArgument("%s.Sound must be at most %d characters", name, MaxSoundRunes)
		}
		a.Sound = *in.Sound
	}
	return a, thresholdRule(name, &a)
}

// thresholdRule applies docs/protocol.md, "Alert settings"'s last rules: urgent low is always on with a
// threshold in 40–55, and an enabled High or Low needs a threshold.
func thresholdRule(name string, a *share.AlertSetting) error {
	switch a.AlertType {
	case share.AlertTypeFixedLow:
		a.IsEnabled = true
		if a.MaxValue < 40 || a.MaxValue > 55 {
			a.MaxValue = 55
		}
	case share.AlertTypeHigh, share.AlertTypeLow:
		if _, ok := AlertThreshold(*a); a.IsEnabled && !ok {
			return glucose.InvalidArgument("%s is enabled but has no threshold: MaxValue or MinValue must lie between 40 and 400", name)
		}
	}
	return nil
}

// AlertThreshold returns the threshold of a High, Low or urgent-low alert
// (docs/protocol.md, "Alert settings"): MaxValue if it lies in 40–400, else MinValue if it does. 39 and
// 401 are markers, never thresholds.
func AlertThreshold(a share.AlertSetting) (int, bool) {
	usable := func(v int) bool { return v >= 40 && v <= 400 }
	switch {
	case usable(a.MaxValue):
		return a.MaxValue, true
	case usable(a.MinValue):
		return a.MinValue, true
	}
	return 0, false
}

// DescribeAlerts writes alert settings for people, thresholds in u:
// "urgent low below 3.1 mmol/L, low below 3.9 mmol/L, high above
// 13.9 mmol/L, no data for 60 min". Kinds that are off are left out;
// urgent low is always on (docs/protocol.md, "Alert settings").
func DescribeAlerts(a share.AlertSettings, u glucose.Units) string {
	var parts []string
	threshold := func(what string, s share.AlertSetting) {
		if v, ok := AlertThreshold(s); ok && s.IsEnabled {
			parts = append(parts, what+" "+u.WithUnit(float64(v)))
		}
	}
	threshold("urgent low below", a.FixedLowAlert)
	threshold("low below", a.LowAlert)
	threshold("high above", a.HighAlert)
	if a.NoDataAlert.IsEnabled {
		d, _ := share.ParseDuration(a.NoDataAlert.AlarmDelay)
		parts = append(parts, fmt.Sprintf("no data for %d min", int(d/time.Minute)))
	}
	return strings.Join(parts, ", ")
}

// reevaluated follows a successful change of a subscription with its alarm
// evaluation (docs/protocol.md, "When alarms are evaluated": after accepting, resuming and changing alert settings;
// docs/protocol.md, "Alarm lifecycle": leaving state 6 clears its open alarms) and returns err unchanged.
// The change is committed either way, so an evaluation failure is logged.
func (s *Service) reevaluated(ctx context.Context, rawID string, now time.Time, err error) error {
	if err != nil {
		return err
	}
	if id, ok := parseRef(rawID); ok {
		if err := s.EvaluateSubscription(ctx, id, now); err != nil {
			s.log.Error("alarm evaluation after a subscription change failed", "subscription", id, "err", err)
		}
	}
	return nil
}
