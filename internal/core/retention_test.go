package core_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/glucoshare/glucoshare/internal/clocktest"
	"github.com/glucoshare/glucoshare/internal/core"
	"github.com/glucoshare/glucoshare/internal/glucose"
	"github.com/glucoshare/glucoshare/internal/store/storetest"
	"github.com/glucoshare/glucoshare/share"
)

// countingStore records every PurgeReadings call the service makes, with
// the batch it asked for and how many rows it got.
type countingStore struct {
	glucose.Store
	calls []purgeCall
}

type purgeCall struct {
	account string
	limit   int
	deleted int
}

func (s *countingStore) Update(ctx context.Context, fn func(glucose.Tx) error) error {
	return s.Store.Update(ctx, func(tx glucose.Tx) error { return fn(&countingTx{Tx: tx, s: s}) })
}

type countingTx struct {
	glucose.Tx
	s *countingStore
}

func (t *countingTx) PurgeReadings(accountID string, before int64, limit int) (int, error) {
	n, err := t.Tx.PurgeReadings(accountID, before, limit)
	t.s.calls = append(t.s.calls, purgeCall{accountID, limit, n})
	return n, err
}

// readingsEvery returns n readings from start, step apart.
func readingsEvery(start time.Time, step time.Duration, n int) []glucose.Reading {
	rs := make([]glucose.Reading, n)
	for i := range rs {
		st := start.Add(time.Duration(i) * step).UnixMilli()
		rs[i] = glucose.Reading{ST: st, Value: 100 + i%200, Trend: share.TrendFlat, ReceivedAt: st}
	}
	return rs
}

func TestPurgeReadings(t *testing.T) {
	ctx := context.Background()
	db := storetest.New(t)
	cs := &countingStore{Store: db}
	svc := core.New(cs, core.Config{})
	clock := clocktest.New(time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC))
	keep := 30 * 24 * time.Hour
	cutoff := clock.Now().Add(-keep)

	old := &glucose.Account{Name: "old@example.org", CreatedAt: clock.Now()}
	fresh := &glucose.Account{Name: "fresh@example.org", CreatedAt: clock.Now()}
	err := db.Update(ctx, func(tx glucose.Tx) error {
		for _, a := range []*glucose.Account{old, fresh} {
			if err := tx.CreateAccount(a); err != nil {
				return err
			}
		}
		// old: 2,500 readings a minute apart ending just before the
		// cutoff, one exactly at the cutoff, and 100 after it.
		rs := readingsEvery(cutoff.Add(-2500*time.Minute), time.Minute, 2500)
		rs = append(rs, readingsEvery(cutoff, time.Minute, 101)...)
		if _, err := tx.InsertReadings(old.ID, rs); err != nil {
			return err
		}
		// fresh: only readings from an hour after the cutoff.
		_, err := tx.InsertReadings(fresh.ID, readingsEvery(cutoff.Add(time.Hour), 5*time.Minute, 50))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}

	// Keep forever: nothing happens, not even a query.
	if n, err := svc.PurgeReadings(ctx, 0, 1000, clock.Now()); n != 0 || err != nil || len(cs.calls) != 0 {
		t.Fatalf("keep forever: %d, %v, %d calls", n, err, len(cs.calls))
	}

	n, err := svc.PurgeReadings(ctx, keep, 1000, clock.Now())
	if err != nil || n != 2500 {
		t.Fatalf("purge: %d, %v; want 2500", n, err)
	}
	// Batches: 1000, 1000, 500 for old; one empty look for fresh.
	var oldCalls, freshCalls []int
	for _, c := range cs.calls {
		if c.limit != 1000 {
			t.Errorf("batch of %d, want 1000", c.limit)
		}
		switch c.account {
		case old.ID:
			oldCalls = append(oldCalls, c.deleted)
		case fresh.ID:
			freshCalls = append(freshCalls, c.deleted)
		}
	}
	if got, want := oldCalls, []int{1000, 1000, 500}; !equalInts(got, want) {
		t.Errorf("old account batches %v, want %v", got, want)
	}
	if got, want := freshCalls, []int{0}; !equalInts(got, want) {
		t.Errorf("fresh account batches %v, want %v", got, want)
	}

	left := func(id string) []glucose.Reading {
		t.Helper()
		var rs []glucose.Reading
		err := db.View(ctx, func(tx glucose.Tx) (err error) {
			rs, err = tx.ReadingsAfter(id, 0, 100000)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return rs
	}
	oldLeft := left(old.ID)
	if len(oldLeft) != 101 || oldLeft[0].ST != cutoff.UnixMilli() {
		t.Errorf("old account kept %d readings from %d; want 101 from the cutoff %d", len(oldLeft), oldLeft[0].ST, cutoff.UnixMilli())
	}
	if got := len(left(fresh.ID)); got != 50 {
		t.Errorf("fresh account kept %d readings, want 50", got)
	}

	// A minute later exactly one more reading (the one at the old cutoff)
	// is old enough.
	clock.Advance(time.Minute)
	if n, err := svc.PurgeReadings(ctx, keep, 1000, clock.Now()); n != 1 || err != nil {
		t.Errorf("purge a minute later: %d, %v; want 1", n, err)
	}
	// Run again at once: nothing left to do.
	if n, err := svc.PurgeReadings(ctx, keep, 1000, clock.Now()); n != 0 || err != nil {
		t.Errorf("second purge: %d, %v; want 0", n, err)
	}
	// A cancelled context stops between batches.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := svc.PurgeReadings(cctx, time.Nanosecond, 1000, clock.Now()); err == nil {
		t.Error("purge with a cancelled context succeeded")
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestPurgeDocuments: retention takes old treatments, device status,
// activity and non-sgv entries, and keeps profiles and food whatever their
// age, with the account's usage following.
func TestPurgeDocuments(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	now := time.Date(2025, 4, 19, 12, 0, 0, 0, time.UTC)
	svc := core.New(storetest.New(t), core.Config{Argon2: core.Argon2Params{Memory: 64, Time: 1, Threads: 1}})
	sam, err := svc.CreateAccount(ctx, core.NewAccount{Name: "sam", Password: "a password of sam's"}, now)
	if err != nil {
		t.Fatal(err)
	}
	acc := &core.NightscoutAccess{AccountID: sam.ID, Admin: true}
	old, recent := now.Add(-40*24*time.Hour).Format(time.RFC3339), now.Add(-time.Hour).Format(time.RFC3339)
	write := func(coll, body string) {
		t.Helper()
		if _, err := svc.WriteDocuments(ctx, acc, coll, []core.DocumentWrite{{Body: []byte(body)}}, now); err != nil {
			t.Fatal(err)
		}
	}
	for _, at := range []string{old, recent} {
		write(glucose.CollectionTreatments, `{"eventType":"Note","created_at":"`+at+`"}`)
		write(glucose.CollectionDeviceStatus, `{"device":"x","created_at":"`+at+`"}`)
		write(glucose.CollectionActivity, `{"created_at":"`+at+`"}`)
		write(glucose.CollectionProfile, `{"defaultProfile":"x","startDate":"`+at+`"}`)
		write(glucose.CollectionFood, `{"name":"x","created_at":"`+at+`"}`)
	}
	write(glucose.CollectionEntries, fmt.Sprintf(`{"type":"mbg","mbg":100,"date":%d}`, now.Add(-40*24*time.Hour).UnixMilli()))
	before, _ := svc.DocumentUsage(ctx, sam.ID)
	n, err := svc.PurgeDocuments(ctx, 30*24*time.Hour, 2, now)
	if err != nil || n != 4 {
		t.Fatalf("purged %d, %v; want the 4 old treatment, device status, activity and entry", n, err)
	}
	after, _ := svc.DocumentUsage(ctx, sam.ID)
	if before.Documents != 11 || after.Documents != 7 || after.Bytes >= before.Bytes {
		t.Errorf("usage %+v, then %+v", before, after)
	}
	var colls []string
	svc.EachDocument(ctx, sam.ID, func(d glucose.Document) error {
		colls = append(colls, d.Collection)
		return nil
	})
	if got := strings.Join(colls, " "); got != "activity devicestatus food food profile profile treatments" {
		t.Errorf("left: %s", got)
	}
	if n, _ := svc.PurgeDocuments(ctx, 0, 0, now); n != 0 {
		t.Errorf("keep 0 purged %d", n)
	}
}
