package store_test

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"github.com/glucoshare/glucoshare/internal/glucose"
	"github.com/glucoshare/glucoshare/internal/store"
	"github.com/glucoshare/glucoshare/internal/store/storetest"
)

func claim(t *testing.T, db *store.DB, holder string, now time.Time) []string {
	t.Helper()
	var ids []string
	update(t, db, func(tx glucose.Tx) error {
		ls, err := tx.ClaimMirrorLinks(holder, now, now.Add(time.Minute), 10)
		for _, l := range ls {
			ids = append(ids, l.AccountID)
		}
		return err
	})
	return ids
}

// A due link goes to one claimant until its claim ends or its poll is
// recorded; a poll recorded by a holder that lost the claim, or of
// credentials replaced meanwhile, changes nothing; a broken link is
// claimed no more; deleting the link erases the sealed password.
func TestMirrorLinkClaims(t *testing.T) {
	t.Parallel()
	db := storetest.New(t)
	a, b := createAccount(t, db, "a"), createAccount(t, db, "b")
	put := func(id string, next time.Time) *glucose.MirrorLink {
		l := &glucose.MirrorLink{AccountID: id, Server: "us", Username: id + "@example.org",
			PasswordSealed: []byte("sealed " + id), NextPoll: next, Lag: 15 * time.Second, Created: t0}
		update(t, db, func(tx glucose.Tx) error { return tx.PutMirrorLink(l) })
		return l
	}
	la := put(a.ID, t0)
	put(b.ID, t0.Add(time.Hour))
	if got := claim(t, db, "x", t0); len(got) != 1 || got[0] != a.ID {
		t.Fatalf("x claims %v at t0, want a's link only (b's is due in an hour)", got)
	}
	if got := claim(t, db, "y", t0.Add(30*time.Second)); len(got) != 0 {
		t.Fatalf("y claims %v while x's claim lasts", got)
	}
	if got := claim(t, db, "y", t0.Add(time.Minute)); len(got) != 1 {
		t.Fatalf("y claims %v once x's claim ended, want a's link", got)
	}
	record := func(holder string, gen int64, p glucose.MirrorPoll) bool {
		var ok bool
		p.Holder, p.Gen = holder, gen
		update(t, db, func(tx glucose.Tx) (err error) {
			ok, err = tx.RecordMirrorPoll(a.ID, p)
			return err
		})
		return ok
	}
	next := t0.Add(6 * time.Minute)
	if record("x", la.Gen, glucose.MirrorPoll{NextPoll: next, Success: true, At: t0.Add(time.Minute)}) {
		t.Error("x recorded a poll after y took the claim")
	}
	if !record("y", la.Gen, glucose.MirrorPoll{NextPoll: next, Success: true, Lag: 20 * time.Second,
		LastReading: t0, SessionSealed: []byte("session"), UpstreamAccount: "upstream-id", At: t0.Add(time.Minute)}) {
		t.Fatal("y could not record its poll")
	}
	view(t, db, func(tx glucose.Tx) error {
		l, err := tx.MirrorLink(a.ID)
		if err != nil || !l.NextPoll.Equal(next) || l.ClaimHolder != "" || !l.LastReading.Equal(t0) || l.Lag != 20*time.Second ||
			!bytes.Equal(l.SessionSealed, []byte("session")) || l.UpstreamAccount != "upstream-id" || l.LastSuccess.IsZero() {
			t.Errorf("after y's poll: %+v, %v", l, err)
		}
		return err
	})
	if got := claim(t, db, "x", next.Add(-time.Second)); len(got) != 0 {
		t.Errorf("claimed %v before the next poll is due", got)
	}

	// New credentials: a poll of the old ones records nothing.
	if got := claim(t, db, "x", next); len(got) != 1 {
		t.Fatalf("x claims %v when due", got)
	}
	la2 := put(a.ID, next)
	if la2.Gen != la.Gen+1 {
		t.Errorf("re-link generation %d, want %d", la2.Gen, la.Gen+1)
	}
	if record("x", la.Gen, glucose.MirrorPoll{NextPoll: next, Broken: true, Error: "old password refused", At: next}) {
		t.Error("a poll of the replaced credentials was recorded")
	}
	if got := claim(t, db, "y", next); len(got) != 1 {
		t.Fatalf("the re-linked link is not claimable at once: %v", got)
	}
	if !record("y", la2.Gen, glucose.MirrorPoll{NextPoll: next, Broken: true, Error: "AccountPasswordInvalid", At: next}) {
		t.Fatal("y could not record the refused login")
	}
	if got := claim(t, db, "y", next.Add(48*time.Hour)); len(got) != 1 || got[0] != b.ID {
		t.Errorf("claims two days later: %v, want b's only: a's is broken", got)
	}
	update(t, db, func(tx glucose.Tx) error { return tx.DeleteMirrorLink(a.ID) })
	view(t, db, func(tx glucose.Tx) error {
		_, err := tx.MirrorLink(a.ID)
		wantErr(t, "the deleted link", err, glucose.ErrNotFound)
		return nil
	})
	var n int
	db.SQL().QueryRow(`SELECT COUNT(*) FROM mirror_links WHERE account_id = '` + a.ID + `'`).Scan(&n)
	if n != 0 {
		t.Errorf("%d rows of the deleted link remain", n)
	}
}

// Marks are looked up by ST in fixed-size chunks: a list longer than a
// chunk, one ST alone and STs without a reading all answer exactly, and
// another account's lookup finds none; a reading's deletion takes its
// mark along.
func TestMirroredReadingMarks(t *testing.T) {
	t.Parallel()
	db := storetest.New(t)
	a, b := createAccount(t, db, "a"), createAccount(t, db, "b")
	var rs []glucose.Reading
	var sts []int64
	for i := range 150 {
		st := glucose.MS(t0.Add(time.Duration(i) * 5 * time.Minute))
		rs = append(rs, glucose.Reading{ST: st, Value: 100, ReceivedAt: st})
		sts = append(sts, st)
	}
	update(t, db, func(tx glucose.Tx) error {
		if err := tx.PutMirrorLink(&glucose.MirrorLink{AccountID: a.ID, Server: "jp", Username: "u",
			PasswordSealed: []byte("sealed"), NextPoll: t0, Created: t0}); err != nil {
			return err
		}
		for _, id := range []string{a.ID, b.ID} {
			if _, err := tx.InsertReadings(id, rs); err != nil {
				return err
			}
		}
		for _, st := range sts[:140] {
			if err := tx.MarkMirroredReading(a.ID, st); err != nil {
				return err
			}
		}
		// b has no link: nothing to mark it with.
		return tx.MarkMirroredReading(b.ID, sts[0])
	})
	lookup := func(id string, sts []int64) []int64 {
		t.Helper()
		var got []int64
		view(t, db, func(tx glucose.Tx) (err error) {
			got, err = tx.MirroredReadings(id, sts)
			return err
		})
		slices.Sort(got)
		return got
	}
	if got := lookup(a.ID, sts); !slices.Equal(got, sts[:140]) {
		t.Errorf("a's marks among 150 readings: %d, want the first 140", len(got))
	}
	if got := lookup(a.ID, sts[139:141]); !slices.Equal(got, sts[139:140]) {
		t.Errorf("a's marks at the 140th and 141st readings: %v, want the 140th", got)
	}
	if got := lookup(a.ID, sts[5:6]); !slices.Equal(got, sts[5:6]) {
		t.Errorf("a's mark at one reading: %v", got)
	}
	if got := lookup(a.ID, []int64{sts[0] + 1}); len(got) != 0 {
		t.Errorf("a mark where a has no reading: %v", got)
	}
	view(t, db, func(tx glucose.Tx) error {
		rs, err := tx.ReadingsAt(a.ID, append([]int64{sts[0] - 1}, sts...))
		if len(rs) != 150 || err != nil {
			t.Errorf("a's readings at 151 times, one without a reading: %d, %v; want 150", len(rs), err)
		}
		return err
	})
	if got := lookup(b.ID, sts); len(got) != 0 {
		t.Errorf("b has %d marks", len(got))
	}
	update(t, db, func(tx glucose.Tx) error {
		_, err := tx.PurgeReadings(a.ID, sts[100], 1000)
		return err
	})
	if got := lookup(a.ID, sts); !slices.Equal(got, sts[100:140]) {
		t.Errorf("a's marks after purging 100 readings: %d, want 40", len(got))
	}
}
