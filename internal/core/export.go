package core

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/glucoshare/glucoshare/internal/glucose"
)

// AccountExport is what an account holds apart from its readings and
// Nightscout documents, which EachReading and EachDocument page through.
// Secrets stay out: the password hash, sessions, the invitation ids
// (bearer tokens) of subscriptions, and the keys of Nightscout
// credentials.
type AccountExport struct {
	Account       glucose.Account // PasswordHash is empty
	Image         *glucose.Image  // nil when the account has none
	NamedValues   []glucose.NamedValue
	RuntimeInfo   []glucose.RuntimeInfo
	Contacts      []glucose.Contact
	Subscriptions []glucose.Subscription // the account publishes
	Following     []glucose.Subscription // the account follows
	// NightscoutSite is nil when the account has none.
	NightscoutSite *glucose.NightscoutSite
	// NightscoutTokens are the account's access tokens, without their
	// keys. Documents: EachDocument.
	NightscoutTokens []glucose.NightscoutToken
}

// exportPage is how many readings EachReading reads per transaction.
const exportPage = 5000

// ExportAccount reads the account's profile, named values and followers in
// one transaction.
func (s *Service) ExportAccount(ctx context.Context, accountID string) (*AccountExport, error) {
	var e AccountExport
	err := s.store.View(ctx, func(tx glucose.Tx) error {
		a, err := tx.AccountByID(accountID)
		if err != nil {
			return err
		}
		e.Account = *a
		e.Account.PasswordHash = ""
		if e.Image, err = tx.Image(accountID); errors.Is(err, glucose.ErrNotFound) {
			e.Image = nil
		} else if err != nil {
			return err
		}
		if e.NamedValues, err = tx.NamedValues(accountID); err != nil {
			return err
		}
		if e.RuntimeInfo, err = tx.RuntimeInfos(accountID); err != nil {
			return err
		}
		if e.Contacts, err = tx.Contacts(accountID); err != nil {
			return err
		}
		subs, err := tx.AccountSubscriptions(accountID)
		if err != nil {
			return err
		}
		e.Subscriptions, e.Following = splitSubscriptions(subs, accountID)
		if e.NightscoutSite, err = tx.NightscoutSite(accountID); errors.Is(err, glucose.ErrNotFound) {
			e.NightscoutSite = nil
		} else if err != nil {
			return err
		}
		if e.NightscoutTokens, err = tx.NightscoutTokens(accountID); err != nil {
			return err
		}
		for i := range e.NightscoutTokens {
			e.NightscoutTokens[i].Key, e.NightscoutTokens[i].KeyID = "", ""
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &e, nil
}

// splitSubscriptions separates the subscriptions the account publishes
// from those it follows, without their invitation ids.
func splitSubscriptions(subs []glucose.Subscription, accountID string) (publishes, follows []glucose.Subscription) {
	publishes, follows = []glucose.Subscription{}, []glucose.Subscription{}
	for _, s := range subs {
		s.InvitationID = ""
		if s.PublisherID == accountID {
			publishes = append(publishes, s)
		} else {
			follows = append(follows, s)
		}
	}
	return publishes, follows
}

// EachReading calls fn with each of the account's readings, oldest first,
// and whether a mirror link stored it (docs/mirror.md), reading them a
// page per transaction so that an account with years of readings does not
// sit in memory or hold a transaction open.
func (s *Service) EachReading(ctx context.Context, accountID string, fn func(r glucose.Reading, mirrored bool) error) error {
	after := int64(-1 << 63)
	for {
		var (
			page     []glucose.Reading
			mirrored map[int64]bool
		)
		err := s.store.View(ctx, func(tx glucose.Tx) (err error) {
			if page, err = tx.ReadingsAfter(accountID, after, exportPage); err != nil {
				return err
			}
			mirrored, err = mirroredAmong(tx, accountID, page)
			return err
		})
		if err != nil {
			return err
		}
		for _, r := range page {
			if err := fn(r, mirrored[r.ST]); err != nil {
				return err
			}
		}
		if len(page) < exportPage {
			return nil
		}
		after = page[len(page)-1].ST
	}
}

// AccountFootprint counts what deleting the account would remove.
func (s *Service) AccountFootprint(ctx context.Context, accountID string) (glucose.Footprint, error) {
	var f glucose.Footprint
	err := s.store.View(ctx, func(tx glucose.Tx) (err error) {
		f, err = tx.Footprint(accountID)
		return err
	})
	return f, err
}

// DeleteAccount deletes the account and everything that belongs to it, in
// one transaction, and returns how many subscriptions it followed became
// AbandonedBySubscriber.
//
// docs/protocol.md, "Follower state machine": a subscription the account follows in 6, 7 or 8 moves to 12 rather
// than vanishing, so that its publisher sees the follower left; its row
// stays with the subscriber cleared, so no row names the deleted account.
// Subscriptions it follows in other states keep their state. Everything
// the account publishes (contacts, subscriptions, alarms) goes with it.
func (s *Service) DeleteAccount(ctx context.Context, accountID string, now time.Time) (int, error) {
	abandoned := 0
	err := s.store.Update(ctx, func(tx glucose.Tx) error {
		abandoned = 0
		live := []glucose.State{glucose.StateActive, glucose.StatePausedByPublisher, glucose.StatePausedBySubscriber}
		subs, err := tx.SubscriberSubscriptions(accountID, live...)
		if err != nil {
			return err
		}
		// Lock each publisher once, in id order, so that two deletions
		// cannot deadlock; then read again under the locks.
		if err := lockPublishers(tx, subs); err != nil {
			return err
		}
		if subs, err = tx.SubscriberSubscriptions(accountID, live...); err != nil {
			return err
		}
		for _, l := range subs {
			sub := l.Subscription
			sub.SetState(glucose.StateAbandonedBySubscriber, now)
			if err := tx.UpdateSubscription(&sub); err != nil {
				return err
			}
			abandoned++
		}
		return tx.DeleteAccount(accountID)
	})
	return abandoned, err
}

func lockPublishers(tx glucose.Tx, subs []glucose.SubscriptionListing) error {
	ids := make([]string, 0, len(subs))
	for _, l := range subs {
		ids = append(ids, l.PublisherID)
	}
	slices.Sort(ids)
	for _, id := range slices.Compact(ids) {
		if err := tx.LockFollowers(id); err != nil {
			return err
		}
	}
	return nil
}
