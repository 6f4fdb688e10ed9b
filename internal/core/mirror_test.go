package core_test

import (
	"context"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/glucoshare/glucoshare/internal/core"
	"github.com/glucoshare/glucoshare/internal/glucose"
	"github.com/glucoshare/glucoshare/internal/secretkey"
	"github.com/glucoshare/glucoshare/internal/store/storetest"
	"github.com/glucoshare/glucoshare/share"
)

// mirrorWorld is a service with a secret key, so that accounts can be
// linked, over a store the test can read directly.
type mirrorWorld struct {
	t   *testing.T
	db  glucose.Store
	svc *core.Service
	now time.Time
}

func newMirrorWorld(t *testing.T) *mirrorWorld {
	key, err := secretkey.Load(secretkey.Generate())
	if err != nil {
		t.Fatal(err)
	}
	db := storetest.New(t)
	return &mirrorWorld{t: t, db: db, now: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC),
		svc: core.New(db, core.Config{Argon2: core.Argon2Params{Memory: 64, Time: 1, Threads: 1}, SecretKey: key})}
}

func (w *mirrorWorld) account(name string) string {
	w.t.Helper()
	a, err := w.svc.CreateAccount(context.Background(), core.NewAccount{Name: name, Password: "a password of " + name}, w.now)
	if err != nil {
		w.t.Fatal(err)
	}
	return a.ID
}

// egvs makes readings at the given minutes before now, valued 100+minute
// plus bump.
func (w *mirrorWorld) egvs(bump int, minutesAgo ...int) []core.EGV {
	out := make([]core.EGV, len(minutesAgo))
	for i, m := range minutesAgo {
		out[i] = core.EGV{ST: w.now.Add(-time.Duration(m) * time.Minute).UnixMilli(), Value: 100 + m + bump, Trend: share.TrendFlat}
	}
	return out
}

// poll records a poll of the account's link (linking it first) that read
// the readings at minutesAgo, valued 100+minute+1, as the poller does.
func (w *mirrorWorld) poll(accountID string, minutesAgo ...int) core.PostResult {
	w.t.Helper()
	ctx := context.Background()
	if _, err := w.svc.MirrorLink(ctx, accountID); err != nil {
		_, err := w.svc.LinkMirror(ctx, accountID, core.MirrorLinkRequest{Server: "ous", Username: "u", Password: "p"}, w.now)
		if err != nil {
			w.t.Fatal(err)
		}
	}
	ls, err := w.svc.ClaimMirrorLinks(ctx, "poller", w.now, w.now.Add(time.Minute), 100)
	if err != nil || len(ls) != 1 || ls[0].AccountID != accountID {
		w.t.Fatalf("claim: %+v, %v", ls, err)
	}
	p := glucose.MirrorPoll{Holder: "poller", Gen: ls[0].Gen, NextPoll: w.now, Success: true, At: w.now}
	res, err := w.svc.RecordMirrorPoll(ctx, accountID, p, w.egvs(1, minutesAgo...), w.now)
	if err != nil {
		w.t.Fatal(err)
	}
	return res
}

func (w *mirrorWorld) upload(accountID string, minutesAgo ...int) {
	w.t.Helper()
	if _, _, err := w.svc.ImportReadings(context.Background(), accountID, w.egvs(0, minutesAgo...), w.now); err != nil {
		w.t.Fatal(err)
	}
}

// entries returns the account's readings through the Nightscout entries
// query, oldest first, as "value/m" for a mirrored reading and "value/u"
// for an uploaded one.
func (w *mirrorWorld) entries(accountID string) []string {
	w.t.Helper()
	es, err := w.svc.FindEntries(context.Background(), &core.NightscoutAccess{AccountID: accountID, Admin: true},
		glucose.DocQuery{Limit: 1000, Sort: []glucose.SortKey{{Field: glucose.FieldDate}}})
	if err != nil {
		w.t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, label(e))
	}
	return out
}

func label(e core.Entry) string {
	source := "u"
	if e.Mirrored {
		source = "m"
	}
	return strconv.Itoa(e.Reading.Value) + "/" + source
}

// marks counts the account's marks among readings at the given minutes
// ago, straight from the store.
func (w *mirrorWorld) marks(accountID string, minutesAgo ...int) int {
	w.t.Helper()
	sts := make([]int64, len(minutesAgo))
	for i, m := range minutesAgo {
		sts[i] = w.now.Add(-time.Duration(m) * time.Minute).UnixMilli()
	}
	var got []int64
	err := w.db.View(context.Background(), func(tx glucose.Tx) (err error) {
		got, err = tx.MirroredReadings(accountID, sts)
		return err
	})
	if err != nil {
		w.t.Fatal(err)
	}
	return len(got)
}

// A reading is stored once whichever source brings it, and the first
// source wins: uploaded first it stays an upload when the mirror reads it,
// mirrored first it stays mirrored when uploaded. Another account's
// reading at the same time is not marked.
func TestMirroredReadingsFirstSourceWins(t *testing.T) {
	t.Parallel()
	w := newMirrorWorld(t)
	sam, kim := w.account("sam"), w.account("kim")
	w.upload(sam, 10)
	w.upload(kim, 5)
	if res := w.poll(sam, 10, 5); res.Stored != 1 {
		t.Errorf("poll stored %d, want 1 (the reading at 10 minutes was uploaded)", res.Stored)
	}
	w.upload(sam, 5, 0)
	w.poll(sam, 10, 5, 0)
	if got, want := w.entries(sam), []string{"110/u", "106/m", "100/u"}; !slices.Equal(got, want) {
		t.Errorf("sam's entries %v, want %v", got, want)
	}
	if got, want := w.entries(kim), []string{"105/u"}; !slices.Equal(got, want) {
		t.Errorf("kim's entries %v, want %v", got, want)
	}
	if n := w.marks(kim, 10, 5, 0); n != 0 {
		t.Errorf("kim has %d marks", n)
	}

	es, err := w.svc.EntriesHistory(context.Background(), &core.NightscoutAccess{AccountID: sam, Admin: true}, 0, false, 100)
	if err != nil || len(es) != 3 {
		t.Fatalf("history: %+v, %v", es, err)
	}
	var history []string
	for _, e := range es {
		history = append(history, label(e))
	}
	slices.Sort(history)
	if want := []string{"100/u", "106/m", "110/u"}; !slices.Equal(history, want) {
		t.Errorf("history %v, want %v", history, want)
	}
	id := (glucose.Reading{ST: w.now.Add(-5 * time.Minute).UnixMilli()}).EntryID(sam)
	if e, err := w.svc.EntryByIdentifier(context.Background(), &core.NightscoutAccess{AccountID: sam, Admin: true}, id); err != nil || !e.Mirrored {
		t.Errorf("the mirrored reading by its identifier: %+v, %v; want it mirrored", e, err)
	}
}

// The mark goes with its reading: deleted through the Nightscout API, a
// mirrored reading uploaded again afterwards is an upload; retention's
// purge and the account's deletion leave no marks. Unlinking keeps them.
func TestMirroredReadingMarksGoWithTheReadings(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newMirrorWorld(t)
	sam := w.account("sam")
	old := 40 * 24 * 60
	w.poll(sam, old, 10, 5, 0)
	if n := w.marks(sam, old, 10, 5, 0); n != 4 {
		t.Fatalf("%d marks after the poll, want 4", n)
	}
	if err := w.svc.UnlinkMirror(ctx, sam); err != nil {
		t.Fatal(err)
	}
	if n := w.marks(sam, old, 10, 5, 0); n != 4 {
		t.Errorf("%d marks after unlinking, want 4", n)
	}

	acc := &core.NightscoutAccess{AccountID: sam, Admin: true}
	at := func(m int) []glucose.Cond {
		return []glucose.Cond{{Field: glucose.FieldDate, Op: glucose.OpEq,
			Values: []glucose.Value{glucose.Num(float64(w.now.Add(-time.Duration(m) * time.Minute).UnixMilli()))}}}
	}
	if n, err := w.svc.DeleteEntries(ctx, acc, glucose.DocQuery{Where: at(10)}, w.now, false); err != nil || n != 1 {
		t.Fatalf("delete (v1, soft): %d, %v", n, err)
	}
	if n, err := w.svc.DeleteEntries(ctx, acc, glucose.DocQuery{Where: at(5)}, w.now, true); err != nil || n != 1 {
		t.Fatalf("delete (v3, permanent): %d, %v", n, err)
	}
	w.upload(sam, 10, 5)
	if got, want := w.entries(sam), []string{"110/u", "105/u", "101/m"}; !slices.Equal(got[1:], want) {
		t.Errorf("entries after deleting and uploading again %v, want %v after the old one", got, want)
	}

	if n, err := w.svc.PurgeReadings(ctx, 30*24*time.Hour, 0, w.now); err != nil || n != 1 {
		t.Fatalf("purge: %d, %v", n, err)
	}
	if n := w.marks(sam, old); n != 0 {
		t.Errorf("the purged reading kept its mark")
	}
	if n := w.marks(sam, 0); n != 1 {
		t.Errorf("the recent mirrored reading lost its mark to the purge")
	}
	if _, err := w.svc.DeleteAccount(ctx, sam, w.now); err != nil {
		t.Fatal(err)
	}
	if n := w.marks(sam, old, 10, 5, 0); n != 0 {
		t.Errorf("%d marks of the deleted account", n)
	}
}
