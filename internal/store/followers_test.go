package store_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/glucoshare/glucoshare/internal/glucose"
	"github.com/glucoshare/glucoshare/internal/store"
	"github.com/glucoshare/glucoshare/internal/store/storetest"
	"github.com/glucoshare/glucoshare/share"
)

// The contract of FollowerTx, on the engine storetest selects.

func createContact(t testing.TB, db *store.DB, publisherID, name string) *glucose.Contact {
	t.Helper()
	c := &glucose.Contact{PublisherID: publisherID, Name: name, Email: name + "@example.org", CreatedAt: t0}
	update(t, db, func(tx glucose.Tx) error { return tx.CreateContact(c) })
	return c
}

func newSubscription(c *glucose.Contact, at time.Time) *glucose.Subscription {
	a := share.DefaultAlertSettings()
	return &glucose.Subscription{
		ContactID: c.ID, PublisherID: c.PublisherID, InvitationID: share.NewID(),
		State: glucose.StateInviteWaiting, Permissions: 1, InviteSettings: a, AlertSettings: a,
		InviteExpires: at.Add(7 * 24 * time.Hour), CreatedAt: at, ModifiedAt: at,
	}
}

func createSubscription(t testing.TB, db *store.DB, c *glucose.Contact, at time.Time) *glucose.Subscription {
	t.Helper()
	s := newSubscription(c, at)
	update(t, db, func(tx glucose.Tx) error { return tx.CreateSubscription(s) })
	return s
}

func subscription(t testing.TB, db *store.DB, id string) *glucose.Subscription {
	t.Helper()
	var s *glucose.Subscription
	view(t, db, func(tx glucose.Tx) (err error) {
		s, err = tx.SubscriptionByID(id)
		return err
	})
	return s
}

func TestContacts(t *testing.T) {
	t.Parallel()
	db := storetest.New(t)
	sam, kim := createAccount(t, db, "sam"), createAccount(t, db, "kim")
	mom := createContact(t, db, sam.ID, "Mom")
	if len(mom.ID) != 36 {
		t.Fatalf("generated id %q", mom.ID)
	}
	view(t, db, func(tx glucose.Tx) error {
		got, err := tx.ContactByID(mom.ID)
		if err != nil || *got != *mom {
			t.Errorf("ContactByID = %+v, %v; want %+v", got, err, mom)
		}
		if got, err := tx.ContactByName(sam.ID, " MOM "); err != nil || got.ID != mom.ID {
			t.Errorf("ContactByName(case and spaces) = %v, %v", got, err)
		}
		_, err = tx.ContactByName(kim.ID, "Mom")
		wantErr(t, "ContactByName(other publisher)", err, glucose.ErrNotFound)
		return nil
	})

	// A taken name conflicts; the transaction stays usable.
	var dad glucose.Contact
	update(t, db, func(tx glucose.Tx) error {
		err := tx.CreateContact(&glucose.Contact{PublisherID: sam.ID, Name: "mOm", CreatedAt: t0})
		wantErr(t, "CreateContact(taken name)", err, glucose.ErrConflict)
		dad = glucose.Contact{PublisherID: sam.ID, Name: "Dad", CreatedAt: t0}
		return tx.CreateContact(&dad)
	})
	createContact(t, db, kim.ID, "Mom") // names are per publisher

	update(t, db, func(tx glucose.Tx) error {
		wantErr(t, "RenameContact(taken)", tx.RenameContact(dad.ID, "MOM"), glucose.ErrConflict)
		if err := tx.RenameContact(mom.ID, "MOM"); err != nil { // its own name, other case
			t.Errorf("RenameContact(own name): %v", err)
		}
		wantErr(t, "RenameContact(missing)", tx.RenameContact(share.NewID(), "x"), glucose.ErrNotFound)
		if n, err := tx.CountContacts(sam.ID); err != nil || n != 2 {
			t.Errorf("CountContacts = %d, %v; want 2", n, err)
		}
		return tx.MarkContactDeleted(mom.ID, t0.Add(time.Minute))
	})

	// A deleted contact frees its name and no longer counts, but keeps its row.
	view(t, db, func(tx glucose.Tx) error {
		got, err := tx.ContactByID(mom.ID)
		if err != nil || !got.Deleted() || !got.DeletedAt.Equal(t0.Add(time.Minute)) || got.Name != "MOM" {
			t.Errorf("deleted contact = %+v, %v", got, err)
		}
		_, err = tx.ContactByName(sam.ID, "mom")
		wantErr(t, "ContactByName(deleted)", err, glucose.ErrNotFound)
		if n, err := tx.CountContacts(sam.ID); err != nil || n != 1 {
			t.Errorf("CountContacts after delete = %d, %v; want 1", n, err)
		}
		return nil
	})
	createContact(t, db, sam.ID, "Mom")
	update(t, db, func(tx glucose.Tx) error {
		err := tx.CreateContact(&glucose.Contact{PublisherID: share.NewID(), Name: "x", CreatedAt: t0})
		wantErr(t, "CreateContact(missing publisher)", err, glucose.ErrNotFound)
		return nil
	})
}

func TestSubscriptions(t *testing.T) {
	t.Parallel()
	db := storetest.New(t)
	sam, kim := createAccount(t, db, "sam"), createAccount(t, db, "kim")
	update(t, db, func(tx glucose.Tx) error { return tx.SetDisplayName(sam.ID, "Sam S.") })
	mom := createContact(t, db, sam.ID, "Mom")

	want := newSubscription(mom, t0)
	want.Permissions = 0
	want.InviteSettings.HighAlert.AlarmDelay = "pt2h" // stored as received
	want.AlertSettings.LowAlert.MaxValue = 80
	update(t, db, func(tx glucose.Tx) error { return tx.CreateSubscription(want) })

	got := subscription(t, db, want.ID)
	want.DisplayName = "Sam S." // "" stands for the publisher's display name
	if *got != *want {
		t.Errorf("SubscriptionByID:\ngot  %+v\nwant %+v", got, want)
	}
	view(t, db, func(tx glucose.Tx) error {
		if s, err := tx.SubscriptionByInvitation(want.InvitationID); err != nil || s.ID != want.ID {
			t.Errorf("SubscriptionByInvitation = %v, %v", s, err)
		}
		if c, err := tx.ContactByID(mom.ID); err != nil || c.CurrentSubscriptionID != want.ID {
			t.Errorf("current subscription = %v, %v; want %s", c, err, want.ID)
		}
		_, err := tx.SubscriptionByID(share.NewID())
		wantErr(t, "SubscriptionByID(missing)", err, glucose.ErrNotFound)
		_, err = tx.SubscriptionByInvitation(share.NewID())
		wantErr(t, "SubscriptionByInvitation(missing)", err, glucose.ErrNotFound)
		return nil
	})

	// Acceptance: every mutable field round-trips; the display name given
	// at creation is not touched.
	at := t0.Add(time.Hour)
	got.SubscriberID, got.AcceptedAt, got.ActiveSince, got.ModifiedAt = kim.ID, at, at, at
	got.State, got.Permissions = glucose.StateActive, 1
	got.AlertSettings.NoDataAlert.IsEnabled = true
	update(t, db, func(tx glucose.Tx) error { return tx.UpdateSubscription(got) })
	if again := subscription(t, db, want.ID); *again != *got {
		t.Errorf("after UpdateSubscription:\ngot  %+v\nwant %+v", again, got)
	}
	update(t, db, func(tx glucose.Tx) error {
		wantErr(t, "UpdateSubscription(missing)", tx.UpdateSubscription(newSubscription(mom, t0)), glucose.ErrNotFound)
		wantErr(t, "LockFollowers(missing)", tx.LockFollowers(share.NewID()), glucose.ErrNotFound)
		return tx.LockFollowers(sam.ID)
	})
}

func TestSubscriptionListsAndCounts(t *testing.T) {
	t.Parallel()
	db := storetest.New(t)
	sam, kim, lee := createAccount(t, db, "sam"), createAccount(t, db, "kim"), createAccount(t, db, "lee")
	update(t, db, func(tx glucose.Tx) error { return tx.SetMonitoring(sam.ID, true) })
	a, b, c := createContact(t, db, sam.ID, "A"), createContact(t, db, sam.ID, "B"), createContact(t, db, sam.ID, "C")
	createContact(t, db, sam.ID, "no subscription")

	old := createSubscription(t, db, b, t0)                                     // superseded below
	sb := createSubscription(t, db, b, t0.Add(3*time.Minute))                   // b's current
	sa := createSubscription(t, db, a, t0.Add(2*time.Minute))                   // waiting, expires
	sc := createSubscription(t, db, c, t0.Add(1*time.Minute))                   // accepted by kim
	other := createSubscription(t, db, createContact(t, db, kim.ID, "Sam"), t0) // kim's own, accepted by lee
	accept := func(s *glucose.Subscription, by string, at time.Time, st glucose.State) {
		s.SubscriberID, s.AcceptedAt, s.State = by, at, st
		update(t, db, func(tx glucose.Tx) error { return tx.UpdateSubscription(s) })
	}
	accept(sc, kim.ID, t0.Add(5*time.Minute), glucose.StateActive)
	accept(sb, kim.ID, t0.Add(4*time.Minute), glucose.StatePausedByPublisher)
	accept(other, lee.ID, t0, glucose.StateActive)
	old.State = glucose.StateCanceledByPublisher
	update(t, db, func(tx glucose.Tx) error { return tx.UpdateSubscription(old) })

	var pub []glucose.SubscriptionListing
	view(t, db, func(tx glucose.Tx) (err error) {
		pub, err = tx.PublisherSubscriptions(sam.ID)
		return err
	})
	if ids := listingIDs(pub); fmt.Sprint(ids) != fmt.Sprint([]string{sc.ID, sa.ID, sb.ID}) {
		t.Errorf("PublisherSubscriptions = %v; want c, a, b (by creation, current only)", ids)
	}
	if len(pub) == 3 && (pub[0].ContactName != "C" || !pub[0].PublisherMonitoring || pub[0].SubscriberID != kim.ID) {
		t.Errorf("listing = %+v", pub[0])
	}

	var mine []glucose.SubscriptionListing
	view(t, db, func(tx glucose.Tx) (err error) {
		mine, err = tx.SubscriberSubscriptions(kim.ID, glucose.StateActive, glucose.StatePausedByPublisher)
		return err
	})
	if ids := listingIDs(mine); fmt.Sprint(ids) != fmt.Sprint([]string{sb.ID, sc.ID}) {
		t.Errorf("SubscriberSubscriptions = %v; want b, c (by acceptance)", ids)
	}
	view(t, db, func(tx glucose.Tx) error {
		only, err := tx.SubscriberSubscriptions(kim.ID, glucose.StateActive)
		if err != nil || len(only) != 1 || only[0].ID != sc.ID {
			t.Errorf("SubscriberSubscriptions(6) = %v, %v", listingIDs(only), err)
		}
		// Live: sc (6), sb (7), and sa (2) until its invitation expires.
		for _, tc := range []struct {
			at   time.Time
			want int
		}{{sa.InviteExpires.Add(-time.Millisecond), 3}, {sa.InviteExpires, 2}} {
			if n, err := tx.CountLiveSubscriptions(sam.ID, tc.at); err != nil || n != tc.want {
				t.Errorf("CountLiveSubscriptions(%v) = %d, %v; want %d", tc.at, n, err, tc.want)
			}
		}
		return nil
	})

	// A deleted contact's subscription leaves the publisher's list.
	update(t, db, func(tx glucose.Tx) error { return tx.MarkContactDeleted(a.ID, t0) })
	view(t, db, func(tx glucose.Tx) (err error) {
		pub, err = tx.PublisherSubscriptions(sam.ID)
		return err
	})
	if ids := listingIDs(pub); fmt.Sprint(ids) != fmt.Sprint([]string{sc.ID, sb.ID}) {
		t.Errorf("PublisherSubscriptions after delete = %v", ids)
	}
}

func listingIDs(ls []glucose.SubscriptionListing) []string {
	ids := make([]string, len(ls))
	for i, l := range ls {
		ids[i] = l.ID
	}
	return ids
}

// TestFollowersCascade: deleting a publisher's account deletes its contacts,
// subscriptions and alarms (docs/protocol.md, "Follower state machine"); deleting a follower's account keeps the
// subscription rows.
func TestFollowersCascade(t *testing.T) {
	t.Parallel()
	db := storetest.New(t)
	sam, kim := createAccount(t, db, "sam"), createAccount(t, db, "kim")
	s := createSubscription(t, db, createContact(t, db, sam.ID, "Kim"), t0)
	s.SubscriberID, s.State = kim.ID, glucose.StateActive
	update(t, db, func(tx glucose.Tx) error { return tx.UpdateSubscription(s) })
	exec(t, db, fmt.Sprintf(`INSERT INTO alarms (id, subscription_id, alert_type, state, value,
		triggered_at, last_notified_at, notify_count) VALUES ('%s', '%s', 3, 'Active', 50, 1, 1, 1)`, share.NewID(), s.ID))

	exec(t, db, `DELETE FROM accounts WHERE id = '`+kim.ID+`'`)
	if got := subscription(t, db, s.ID); got.SubscriberID != "" {
		t.Errorf("subscriber after its account was deleted: %q", got.SubscriberID)
	}
	exec(t, db, `DELETE FROM accounts WHERE id = '`+sam.ID+`'`)
	for _, table := range []string{"contacts", "subscriptions", "alarms"} {
		var n int
		if err := db.SQL().QueryRow(`SELECT COUNT(*) FROM ` + table).Scan(&n); err != nil || n != 0 {
			t.Errorf("%s after the publisher was deleted: %d rows, %v", table, n, err)
		}
	}
}

// TestAlarmsOpenIndex: at most one open alarm per subscription and kind;
// cleared ones do not count.
func TestAlarmsOpenIndex(t *testing.T) {
	t.Parallel()
	db := storetest.New(t)
	sam := createAccount(t, db, "sam")
	s := createSubscription(t, db, createContact(t, db, sam.ID, "Kim"), t0)
	insert := func(kind int, state string) error {
		_, err := db.SQL().Exec(fmt.Sprintf(`INSERT INTO alarms (id, subscription_id, alert_type, state,
			value, triggered_at, last_notified_at, notify_count) VALUES ('%s', '%s', %d, '%s', 50, 1, 1, 1)`,
			share.NewID(), s.ID, kind, state))
		return err
	}
	for _, step := range []struct {
		kind  int
		state string
		ok    bool
	}{
		{3, "Cleared", true}, {3, "Cleared", true}, {3, "Active", true},
		{3, "Acknowledged", false}, {3, "Active", false}, {2, "Active", true}, {1, "Bogus", false},
	} {
		if err := insert(step.kind, step.state); (err == nil) != step.ok {
			t.Errorf("insert kind %d %s: err %v, want ok=%t", step.kind, step.state, err, step.ok)
		}
	}
}

func exec(t testing.TB, db *store.DB, q string) {
	t.Helper()
	if _, err := db.SQL().Exec(q); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// TestLockFollowersSerialises: writers that take the publisher's lock,
// count and insert never exceed a limit, however they interleave.
func TestLockFollowersSerialises(t *testing.T) {
	t.Parallel()
	db := storetest.New(t)
	sam := createAccount(t, db, "sam")
	const limit, writers = 3, 8
	var wg sync.WaitGroup
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := db.Update(context.Background(), func(tx glucose.Tx) error {
				if err := tx.LockFollowers(sam.ID); err != nil {
					return err
				}
				n, err := tx.CountContacts(sam.ID)
				if err != nil || n >= limit {
					return err
				}
				return tx.CreateContact(&glucose.Contact{PublisherID: sam.ID, Name: fmt.Sprint("c", i), CreatedAt: t0})
			})
			if err != nil {
				t.Errorf("writer %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	view(t, db, func(tx glucose.Tx) error {
		if n, err := tx.CountContacts(sam.ID); err != nil || n != limit {
			t.Errorf("contacts = %d, %v; want %d", n, err, limit)
		}
		return nil
	})
}

func TestHasAlarmWork(t *testing.T) {
	t.Parallel()
	db := storetest.New(t)
	sam, other := createAccount(t, db, "sam"), createAccount(t, db, "other")
	s := createSubscription(t, db, createContact(t, db, sam.ID, "Kim"), t0)
	// MarkAlarmWork answers as HasAlarmWork does, and marks only when
	// the answer is yes.
	want := func(step string, work bool) {
		t.Helper()
		var got, marked bool
		var before, after int64
		update(t, db, func(tx glucose.Tx) (err error) {
			if got, err = tx.HasAlarmWork(sam.ID); err != nil {
				return err
			}
			if before, err = tx.AlarmMark(sam.ID); err != nil {
				return err
			}
			if marked, err = tx.MarkAlarmWork(sam.ID); err != nil {
				return err
			}
			after, err = tx.AlarmMark(sam.ID)
			return err
		})
		if got != work || marked != work {
			t.Errorf("%s: HasAlarmWork = %t, MarkAlarmWork = %t, want %t", step, got, marked, work)
		}
		if wantAfter := before + map[bool]int64{true: 1}[work]; after != wantAfter {
			t.Errorf("%s: the mark went from generation %d to %d, want %d", step, before, after, wantAfter)
		}
	}
	setState := func(st glucose.State) {
		exec(t, db, fmt.Sprintf(`UPDATE subscriptions SET state = %d WHERE id = '%s'`, st, s.ID))
	}
	want("an invitation only", false)
	setState(glucose.StateActive)
	want("an active follower", true)
	setState(glucose.StatePausedBySubscriber)
	want("a paused follower", false)
	exec(t, db, fmt.Sprintf(`INSERT INTO alarms (id, subscription_id, alert_type, state, value, triggered_at,
		last_notified_at, notify_count) VALUES ('%s', '%s', 3, 'Acknowledged', 50, 1, 1, 1)`, share.NewID(), s.ID))
	want("a paused follower with an open alarm", true)
	exec(t, db, `UPDATE alarms SET state = 'Cleared'`)
	want("a paused follower with a cleared alarm", false)
	var otherWork bool
	view(t, db, func(tx glucose.Tx) (err error) {
		otherWork, err = tx.HasAlarmWork(other.ID)
		return err
	})
	if otherWork {
		t.Error("another publisher has alarm work")
	}
}

// TestAlarmMarks: a mark is cleared only by an evaluation that read its
// current generation, is listed until then, and goes with its account.
func TestAlarmMarks(t *testing.T) {
	t.Parallel()
	db := storetest.New(t)
	sam, kim := createAccount(t, db, "sam"), createAccount(t, db, "kim")
	for _, a := range []*glucose.Account{sam, kim} {
		s := createSubscription(t, db, createContact(t, db, a.ID, "Follower"), t0)
		exec(t, db, fmt.Sprintf(`UPDATE subscriptions SET state = 6 WHERE id = '%s'`, s.ID))
	}
	mark := func(id string) {
		t.Helper()
		update(t, db, func(tx glucose.Tx) error {
			ok, err := tx.MarkAlarmWork(id)
			if err == nil && !ok {
				t.Errorf("MarkAlarmWork(%s) = false for a publisher with an active follower", id)
			}
			return err
		})
	}
	genOf := func(id string) (gen int64) {
		t.Helper()
		view(t, db, func(tx glucose.Tx) (err error) {
			gen, err = tx.AlarmMark(id)
			return err
		})
		return gen
	}
	marked := func() (ids []string) {
		t.Helper()
		view(t, db, func(tx glucose.Tx) (err error) {
			ids, err = tx.MarkedPublishers()
			return err
		})
		return ids
	}
	clear := func(id string, gen int64) {
		t.Helper()
		update(t, db, func(tx glucose.Tx) error { return tx.ClearAlarmMark(id, gen) })
	}

	if got := marked(); len(got) != 0 || genOf(sam.ID) != 0 {
		t.Fatalf("before any upload: marked %v, sam's generation %d; want none", got, genOf(sam.ID))
	}
	mark(sam.ID)
	mark(kim.ID)
	read := genOf(sam.ID) // an evaluation reads the generation…
	mark(sam.ID)          // …an upload marks again before it clears
	clear(sam.ID, read)
	if got := genOf(sam.ID); got != read+1 {
		t.Errorf("after clearing generation %d under a newer mark, sam's mark is %d, want %d kept", read, got, read+1)
	}
	if got := marked(); !slices.Equal(got, sortedIDs(sam.ID, kim.ID)) {
		t.Errorf("marked %v, want sam and kim", got)
	}
	clear(sam.ID, read+1)
	if got := genOf(sam.ID); got != 0 {
		t.Errorf("after clearing the current generation sam's mark is %d, want none", got)
	}
	exec(t, db, `DELETE FROM accounts WHERE id = '`+kim.ID+`'`)
	if got := marked(); len(got) != 0 {
		t.Errorf("after sam's mark was cleared and kim deleted, marked %v, want none", got)
	}
}

func sortedIDs(ids ...string) []string {
	slices.Sort(ids)
	return ids
}
