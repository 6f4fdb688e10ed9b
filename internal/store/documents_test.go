package store_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/glucoshare/glucoshare/internal/glucose"
	"github.com/glucoshare/glucoshare/internal/store"
	"github.com/glucoshare/glucoshare/internal/store/storetest"
	"github.com/glucoshare/glucoshare/share"
)

// doc makes a treatment whose id is n (24 hex digits), created n minutes
// after t0, with the members of body.
func doc(accountID string, n int, body string) *glucose.Document {
	created := fmt.Sprintf(`{"created_at":%q`, t0.Add(time.Duration(n)*time.Minute).Format(time.RFC3339))
	if body != "{}" {
		created += ","
	}
	return &glucose.Document{
		AccountID: accountID, Collection: glucose.CollectionTreatments,
		ID: fmt.Sprintf("%024x", n), Identifier: fmt.Sprintf("%024x", n),
		SrvCreated: int64(n), SrvModified: int64(n), Body: []byte(created + body[1:]),
	}
}

func insertDocs(t *testing.T, db *store.DB, ds ...*glucose.Document) {
	t.Helper()
	update(t, db, func(tx glucose.Tx) error {
		for _, d := range ds {
			if err := tx.InsertDocument(d); err != nil {
				return err
			}
		}
		return nil
	})
}

// find returns the numbers of the treatments that q finds.
func find(t *testing.T, db *store.DB, accountID string, q glucose.DocQuery) []int {
	t.Helper()
	var ns []int
	view(t, db, func(tx glucose.Tx) error {
		ds, err := tx.FindDocuments(accountID, glucose.CollectionTreatments, q)
		for _, d := range ds {
			var n int
			fmt.Sscanf(d.ID, "%x", &n)
			ns = append(ns, n)
		}
		return err
	})
	return ns
}

func cond(field string, op glucose.Op, vs ...glucose.Value) glucose.Cond {
	return glucose.Cond{Field: field, Op: op, Values: vs}
}

// TestDocumentQueries is the contract of the query translation, on the
// engine under test: the same answers on SQLite and PostgreSQL, with
// MongoDB's typed comparisons as Nightscout relies on them.
func TestDocumentQueries(t *testing.T) {
	t.Parallel()
	db := storetest.New(t)
	sam, kim := createAccount(t, db, "sam"), createAccount(t, db, "kim")
	insertDocs(t, db,
		doc(sam.ID, 1, `{"eventType":"Meal Bolus","carbs":30,"insulin":2.5,"notes":"Lunch","pump":{"battery":{"percent":75}}}`),
		doc(sam.ID, 2, `{"eventType":"Correction Bolus","insulin":1,"notes":"lunch later","isSMB":true}`),
		doc(sam.ID, 3, `{"eventType":"Carb Correction","carbs":"30","notes":null}`),
		doc(sam.ID, 4, `{"eventType":"Temp Basal","duration":30,"absolute":0.5,"isSMB":false,"pump":{"battery":{"percent":"low"}}}`),
		doc(sam.ID, 5, `{"eventType":"Note","notes":"Zebra é","carbs":4}`),
		doc(sam.ID, 6, `{"eventType":5,"carbs":-2.5}`),
		doc(kim.ID, 1, `{"eventType":"Meal Bolus","carbs":30}`),
	)
	all := []int{6, 5, 4, 3, 2, 1}
	for _, c := range []struct {
		name string
		q    glucose.DocQuery
		want []int
	}{
		{"everything, newest first", glucose.DocQuery{}, all},
		{"eq on the event type column", glucose.DocQuery{Where: []glucose.Cond{cond("eventType", glucose.OpEq, glucose.Str("Meal Bolus"))}}, []int{1}},
		{"eq number on the event type", glucose.DocQuery{Where: []glucose.Cond{cond("eventType", glucose.OpEq, glucose.Num(5))}}, []int{6}},
		{"a number is not its string", glucose.DocQuery{Where: []glucose.Cond{cond("carbs", glucose.OpEq, glucose.Num(30))}}, []int{1}},
		{"a string is not its number", glucose.DocQuery{Where: []glucose.Cond{cond("carbs", glucose.OpEq, glucose.Str("30"))}}, []int{3}},
		{"gte numbers only", glucose.DocQuery{Where: []glucose.Cond{cond("carbs", glucose.OpGte, glucose.Num(4))}}, []int{5, 1}},
		{"lt negative real", glucose.DocQuery{Where: []glucose.Cond{cond("carbs", glucose.OpLt, glucose.Num(0))}}, []int{6}},
		{"strings compare by bytes", glucose.DocQuery{Where: []glucose.Cond{cond("notes", glucose.OpGt, glucose.Str("Lunch"))}}, []int{5, 2}},
		{"ne keeps the missing", glucose.DocQuery{Where: []glucose.Cond{cond("carbs", glucose.OpNe, glucose.Num(30))}}, []int{6, 5, 4, 3, 2}},
		{"eq null is null or missing", glucose.DocQuery{Where: []glucose.Cond{cond("notes", glucose.OpEq, glucose.Null)}}, []int{6, 4, 3}},
		{"ne null is present", glucose.DocQuery{Where: []glucose.Cond{cond("notes", glucose.OpNe, glucose.Null)}}, []int{5, 2, 1}},
		{"in of mixed kinds", glucose.DocQuery{Where: []glucose.Cond{cond("carbs", glucose.OpIn, glucose.Num(4), glucose.Str("30"))}}, []int{5, 3}},
		{"in on the column", glucose.DocQuery{Where: []glucose.Cond{cond("eventType", glucose.OpIn, glucose.Str("Note"), glucose.Str("Temp Basal"))}}, []int{5, 4}},
		{"in nothing", glucose.DocQuery{Where: []glucose.Cond{cond("carbs", glucose.OpIn)}}, nil},
		{"nin keeps the missing", glucose.DocQuery{Where: []glucose.Cond{cond("eventType", glucose.OpNin, glucose.Str("Note"), glucose.Str("Temp Basal"))}}, []int{6, 3, 2, 1}},
		{"regex on the column", glucose.DocQuery{Where: []glucose.Cond{cond("eventType", glucose.OpRegex, glucose.Str("Bolus$"))}}, []int{2, 1}},
		{"regex case-insensitive in the body", glucose.DocQuery{Where: []glucose.Cond{cond("notes", glucose.OpRegex, glucose.Str("(?i)^lunch"))}}, []int{2, 1}},
		{"regex skips non-strings", glucose.DocQuery{Where: []glucose.Cond{cond("carbs", glucose.OpRegex, glucose.Str("3"))}}, []int{3}},
		{"booleans", glucose.DocQuery{Where: []glucose.Cond{cond("isSMB", glucose.OpEq, glucose.Bool(false))}}, []int{4}},
		{"nested member", glucose.DocQuery{Where: []glucose.Cond{cond("pump.battery.percent", glucose.OpGt, glucose.Num(50))}}, []int{1}},
		{"nested member of another kind", glucose.DocQuery{Where: []glucose.Cond{cond("pump.battery.percent", glucose.OpEq, glucose.Str("low"))}}, []int{4}},
		{"date range", glucose.DocQuery{Where: []glucose.Cond{
			cond(glucose.FieldDate, glucose.OpGte, glucose.Num(float64(t0.UnixMilli()+2*60_000))),
			cond(glucose.FieldDate, glucose.OpLt, glucose.Num(float64(t0.UnixMilli()+4*60_000)))}}, []int{3, 2}},
		{"by _id", glucose.DocQuery{Where: []glucose.Cond{cond("_id", glucose.OpEq, glucose.Str(fmt.Sprintf("%024x", 3)))}}, []int{3}},
		{"srvModified", glucose.DocQuery{Where: []glucose.Cond{cond("srvModified", glucose.OpGt, glucose.Num(4))}}, []int{6, 5}},
		{"limit and skip", glucose.DocQuery{Limit: 2, Skip: 1}, []int{5, 4}},
		{"sort by a number, missing first", glucose.DocQuery{Sort: []glucose.SortKey{{Field: "insulin"}}}, []int{3, 4, 5, 6, 2, 1}},
		{"sort descending, missing last", glucose.DocQuery{Sort: []glucose.SortKey{{Field: "insulin", Desc: true}}}, []int{1, 2, 6, 5, 4, 3}},
		{"sort mixed kinds: numbers, then strings", glucose.DocQuery{Sort: []glucose.SortKey{{Field: "carbs"}}, Limit: 5}, []int{2, 4, 6, 5, 1}},
		{"sort by the event type", glucose.DocQuery{Sort: []glucose.SortKey{{Field: "eventType"}}, Where: []glucose.Cond{cond("carbs", glucose.OpNe, glucose.Null)}}, []int{6, 3, 1, 5}},
	} {
		if got := find(t, db, sam.ID, c.q); !slices.Equal(got, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}
	if got := find(t, db, kim.ID, glucose.DocQuery{}); !slices.Equal(got, []int{1}) {
		t.Errorf("kim sees %v, want only her own [1]", got)
	}

	// Fields are checked before they reach SQL.
	for _, field := range []string{"a'b", `a"b`, "$where", "a..b", "", "a b", "{a,b}", "@other"} {
		err := db.View(t.Context(), func(tx glucose.Tx) error {
			_, err := tx.FindDocuments(sam.ID, glucose.CollectionTreatments,
				glucose.DocQuery{Where: []glucose.Cond{cond(field, glucose.OpEq, glucose.Num(1))}})
			return err
		})
		if glucose.ErrorCode(err) != share.CodeInvalidArgument {
			t.Errorf("field %q: %v, want InvalidArgument", field, err)
		}
	}
	var n int
	view(t, db, func(tx glucose.Tx) (err error) {
		n, err = tx.CountDocuments(sam.ID, glucose.CollectionTreatments,
			glucose.DocQuery{Where: []glucose.Cond{cond("carbs", glucose.OpNe, glucose.Null)}, Limit: 1})
		return err
	})
	if n != 4 {
		t.Errorf("count = %d, want 4", n)
	}
}

func TestDocumentWrites(t *testing.T) {
	t.Parallel()
	db := storetest.New(t)
	sam, kim := createAccount(t, db, "sam"), createAccount(t, db, "kim")
	a, b := doc(sam.ID, 1, `{"eventType":"Note"}`), doc(sam.ID, 2, `{"eventType":"Note","notes":"x"}`)
	b.Identifier = "5bd9b1f8-3d86-4a1c-9d4c-2e1b0c2d3e4f"
	insertDocs(t, db, a, b)
	usage := func(accountID string) glucose.DocumentUsage {
		var u glucose.DocumentUsage
		view(t, db, func(tx glucose.Tx) (err error) {
			u, err = tx.DocumentUsage(accountID)
			return err
		})
		return u
	}
	if u, want := usage(sam.ID), a.Size()+b.Size(); u.Documents != 2 || u.Bytes != want {
		t.Errorf("usage %+v, want 2 documents, %d bytes", u, want)
	}
	if u := usage(kim.ID); u != (glucose.DocumentUsage{}) {
		t.Errorf("kim's usage %+v, want none", u)
	}

	// Ids and identifiers are unique per account and collection; another
	// account or collection may reuse them.
	dup := doc(sam.ID, 1, `{}`)
	err := db.Update(t.Context(), func(tx glucose.Tx) error { return tx.InsertDocument(dup) })
	wantErr(t, "the same _id", err, glucose.ErrConflict)
	dup = doc(sam.ID, 3, `{}`)
	dup.Identifier = b.Identifier
	err = db.Update(t.Context(), func(tx glucose.Tx) error { return tx.InsertDocument(dup) })
	wantErr(t, "the same identifier", err, glucose.ErrConflict)
	other := doc(kim.ID, 1, `{}`)
	other.Identifier = b.Identifier
	profile := doc(sam.ID, 1, `{}`)
	profile.Collection = glucose.CollectionProfile
	insertDocs(t, db, other, profile)

	// Replacing keeps srvCreated and moves usage by the change of size.
	bigger := doc(sam.ID, 1, `{"eventType":"Note","notes":"a longer note than before"}`)
	bigger.SrvCreated, bigger.SrvModified = 99, 100
	update(t, db, func(tx glucose.Tx) error { return tx.ReplaceDocument(bigger) })
	var got []glucose.Document
	view(t, db, func(tx glucose.Tx) (err error) {
		got, err = tx.FindDocuments(sam.ID, glucose.CollectionTreatments,
			glucose.DocQuery{Where: []glucose.Cond{cond("_id", glucose.OpEq, glucose.Str(a.ID))}})
		return err
	})
	if len(got) != 1 || string(got[0].Body) != string(bigger.Body) || got[0].Type != "Note" || got[0].Date != t0.Add(time.Minute).UnixMilli() || got[0].SrvCreated != a.SrvCreated || got[0].SrvModified != 100 {
		t.Errorf("replaced: %+v", got)
	}
	missing := doc(sam.ID, 9, `{}`)
	err = db.Update(t.Context(), func(tx glucose.Tx) error { return tx.ReplaceDocument(missing) })
	wantErr(t, "replacing a missing document", err, glucose.ErrNotFound)

	// A soft delete hides the document from searches but not from
	// history, and keeps counting it; a hard delete frees its space.
	notes := glucose.DocQuery{Where: []glucose.Cond{cond("notes", glucose.OpEq, glucose.Str("x"))}}
	update(t, db, func(tx glucose.Tx) error {
		n, err := tx.DeleteDocuments(sam.ID, glucose.CollectionTreatments, notes, 500, false)
		if n != 1 {
			t.Errorf("soft-deleted %d, want 1", n)
		}
		return err
	})
	if got := find(t, db, sam.ID, glucose.DocQuery{}); !slices.Equal(got, []int{1}) {
		t.Errorf("after the soft delete: %v, want [1]", got)
	}
	view(t, db, func(tx glucose.Tx) (err error) {
		got, err = tx.FindDocuments(sam.ID, glucose.CollectionTreatments,
			glucose.DocQuery{IncludeDeleted: true, Where: []glucose.Cond{cond("srvModified", glucose.OpGte, glucose.Num(500))}})
		return err
	})
	if len(got) != 1 || !got[0].Deleted || got[0].ID != b.ID {
		t.Errorf("history after the soft delete: %+v", got)
	}
	before := usage(sam.ID)
	update(t, db, func(tx glucose.Tx) error {
		n, err := tx.DeleteDocuments(sam.ID, glucose.CollectionTreatments, glucose.DocQuery{IncludeDeleted: true}, 600, true)
		if n != 2 {
			t.Errorf("hard-deleted %d, want 2", n)
		}
		return err
	})
	if u := usage(sam.ID); u.Documents != before.Documents-2 || u.Bytes != profile.Size() {
		t.Errorf("usage after the hard delete %+v, want the profile's only (%d bytes)", u, profile.Size())
	}
	if got := find(t, db, kim.ID, glucose.DocQuery{}); !slices.Equal(got, []int{1}) {
		t.Errorf("kim's document after sam's deletions: %v", got)
	}
}

func TestPurgeDocuments(t *testing.T) {
	t.Parallel()
	db := storetest.New(t)
	sam := createAccount(t, db, "sam")
	var ds []*glucose.Document
	for i := 1; i <= 5; i++ {
		ds = append(ds, doc(sam.ID, i, `{}`))
	}
	profile := doc(sam.ID, 1, `{}`)
	profile.Collection = glucose.CollectionProfile
	entry := doc(sam.ID, 2, `{}`)
	entry.Collection = glucose.CollectionEntries
	entry.Body = fmt.Appendf(nil, `{"type":"mbg","mbg":100,"date":%d}`, t0.Add(2*time.Minute).UnixMilli())
	insertDocs(t, db, append(ds, profile, entry)...)
	before := t0.UnixMilli() + 4*60_000 // documents 1, 2 and 3 are older
	var n1, n2 int
	update(t, db, func(tx glucose.Tx) (err error) {
		n1, err = tx.PurgeDocuments(sam.ID, before, 2)
		return err
	})
	update(t, db, func(tx glucose.Tx) (err error) {
		n2, err = tx.PurgeDocuments(sam.ID, before, 10)
		return err
	})
	if n1 != 2 || n2 != 2 {
		t.Errorf("purged %d then %d, want 2 and 2 (three treatments and an entry, in batches)", n1, n2)
	}
	if got := find(t, db, sam.ID, glucose.DocQuery{}); !slices.Equal(got, []int{5, 4}) {
		t.Errorf("treatments left: %v, want [5 4]", got)
	}
	var left []glucose.Document
	view(t, db, func(tx glucose.Tx) (err error) {
		left, err = tx.DocumentsAfter(sam.ID, "", "", 100)
		return err
	})
	var names []string
	for _, d := range left {
		names = append(names, d.Collection)
	}
	if strings.Join(names, ",") != "profile,treatments,treatments" {
		t.Errorf("documents left: %v; the profile stays, whatever its age", names)
	}
}

// TestFindReadings checks readings seen as sgv entries, through the same
// translation.
func TestFindReadings(t *testing.T) {
	t.Parallel()
	db := storetest.New(t)
	sam, kim := createAccount(t, db, "sam"), createAccount(t, db, "kim")
	base := t0.UnixMilli()
	var rs []glucose.Reading
	for i, v := range []int{100, 150, 200, 250, 300} {
		r := reading(base+int64(i)*300_000, v)
		r.Trend = share.Trend(i + 1)
		rs = append(rs, r)
	}
	insert(t, db, sam.ID, rs)
	insert(t, db, kim.ID, []glucose.Reading{reading(base, 400)})
	values := func(accountID string, q glucose.DocQuery) []int {
		var vs []int
		view(t, db, func(tx glucose.Tx) error {
			got, err := tx.FindReadings(accountID, q)
			for _, r := range got {
				vs = append(vs, r.Value)
			}
			return err
		})
		return vs
	}
	third := rs[2].EntryID(sam.ID)
	for _, c := range []struct {
		name string
		q    glucose.DocQuery
		want []int
	}{
		{"all, newest first", glucose.DocQuery{}, []int{300, 250, 200, 150, 100}},
		{"sgv gte", glucose.DocQuery{Where: []glucose.Cond{cond("sgv", glucose.OpGte, glucose.Num(200))}, Limit: 2}, []int{300, 250}},
		{"sgv as a string matches nothing", glucose.DocQuery{Where: []glucose.Cond{cond("sgv", glucose.OpGte, glucose.Str("200"))}}, nil},
		{"type sgv", glucose.DocQuery{Where: []glucose.Cond{cond("type", glucose.OpEq, glucose.Str("sgv"))}, Limit: 1}, []int{300}},
		{"type mbg", glucose.DocQuery{Where: []glucose.Cond{cond("type", glucose.OpEq, glucose.Str("mbg"))}}, nil},
		{"type ne mbg", glucose.DocQuery{Where: []glucose.Cond{cond("type", glucose.OpNe, glucose.Str("mbg"))}, Limit: 1}, []int{300}},
		{"direction", glucose.DocQuery{Where: []glucose.Cond{cond("direction", glucose.OpEq, glucose.Str("FortyFiveUp"))}}, []int{200}},
		{"direction regex", glucose.DocQuery{Where: []glucose.Cond{cond("direction", glucose.OpRegex, glucose.Str("Up$"))}}, []int{200, 150, 100}},
		{"a field readings lack", glucose.DocQuery{Where: []glucose.Cond{cond("mbg", glucose.OpGt, glucose.Num(0))}}, nil},
		{"ne on a field readings lack", glucose.DocQuery{Where: []glucose.Cond{cond("mbg", glucose.OpNe, glucose.Num(0))}, Limit: 1}, []int{300}},
		{"date range", glucose.DocQuery{Where: []glucose.Cond{cond(glucose.FieldDate, glucose.OpGt, glucose.Num(float64(base)))},
			Sort: []glucose.SortKey{{Field: glucose.FieldDate}}, Limit: 2}, []int{150, 200}},
		{"sort by sgv", glucose.DocQuery{Sort: []glucose.SortKey{{Field: "sgv"}}, Limit: 2}, []int{100, 150}},
		{"_id", glucose.DocQuery{Where: []glucose.Cond{cond("_id", glucose.OpEq, glucose.Str(third))}}, []int{200}},
		{"_id in", glucose.DocQuery{Where: []glucose.Cond{cond("_id", glucose.OpIn, glucose.Str(third), glucose.Str("nonsense"))}}, []int{200}},
		{"_id ne", glucose.DocQuery{Where: []glucose.Cond{cond("_id", glucose.OpNe, glucose.Str(rs[4].EntryID(sam.ID)))}, Limit: 2}, []int{250, 200}},
		{"_id gt", glucose.DocQuery{Where: []glucose.Cond{cond("_id", glucose.OpGt, glucose.Str(third))}}, []int{300, 250}},
		{"kim's _id", glucose.DocQuery{Where: []glucose.Cond{cond("_id", glucose.OpEq, glucose.Str(glucose.Reading{ST: base}.EntryID(kim.ID)))}}, nil},
	} {
		if got := values(sam.ID, c.q); !slices.Equal(got, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}

	var n int
	update(t, db, func(tx glucose.Tx) (err error) {
		n, err = tx.DeleteReadings(sam.ID, glucose.DocQuery{Where: []glucose.Cond{cond("sgv", glucose.OpGt, glucose.Num(200))}, Limit: 1}, 0)
		return err
	})
	if got := values(sam.ID, glucose.DocQuery{}); n != 2 || !slices.Equal(got, []int{200, 150, 100}) {
		t.Errorf("deleted %d, left %v; want 2 and [200 150 100]", n, got)
	}
	update(t, db, func(tx glucose.Tx) (err error) {
		n, err = tx.DeleteReadings(sam.ID, glucose.DocQuery{Where: []glucose.Cond{cond("_id", glucose.OpEq, glucose.Str(third))}}, 0)
		return err
	})
	if got := values(sam.ID, glucose.DocQuery{}); n != 1 || !slices.Equal(got, []int{150, 100}) {
		t.Errorf("deleted %d by _id, left %v", n, got)
	}
	if got := values(kim.ID, glucose.DocQuery{}); !slices.Equal(got, []int{400}) {
		t.Errorf("kim's readings after sam's deletions: %v", got)
	}
}

// TestFindReadingsByReception: queries by srvModified (when a reading was
// received) find exactly the readings received in range, whether received
// seconds after their time (a live upload, found by its time), hours
// later (a back-fill, found through readings_late), just around the hour
// that tells them apart, or before their time; sorted and cut as asked.
func TestFindReadingsByReception(t *testing.T) {
	db := storetest.New(t)
	a := createAccount(t, db, "alice")
	other := createAccount(t, db, "bob")
	const hour = 3600000
	base := glucose.MS(t0)
	var rs []glucose.Reading
	for i, lag := range []int64{1000, 5 * hour, hour, hour + 1, -4 * 60000, 30000, 26 * hour, hour - 1, 0, 2 * hour} {
		st := base + int64(i)*300000
		rs = append(rs, glucose.Reading{ST: st, Value: 100 + i, Trend: share.Trend(4), ReceivedAt: st + lag})
	}
	insert(t, db, a.ID, rs)
	// Another account's readings, received in every range, are never found.
	insert(t, db, other.ID, []glucose.Reading{{ST: base, Value: 50, ReceivedAt: base + 30*hour}, {ST: base + 9*300000, Value: 51, ReceivedAt: base + 9*300000}})

	cond := func(op glucose.Op, x int64) glucose.Cond {
		return glucose.Cond{Field: glucose.FieldSrvModified, Op: op, Values: []glucose.Value{glucose.Num(float64(x))}}
	}
	keep := func(op glucose.Op, x int64) []glucose.Reading {
		var out []glucose.Reading
		for _, r := range rs {
			if op == glucose.OpGt && r.ReceivedAt > x || op == glucose.OpGte && r.ReceivedAt >= x || op == glucose.OpEq && r.ReceivedAt == x {
				out = append(out, r)
			}
		}
		slices.SortFunc(out, func(p, q glucose.Reading) int { return int(p.ReceivedAt - q.ReceivedAt) })
		return out
	}
	for _, x := range []int64{0, base, base + 1000, base + 2*300000 + hour, base + 3*300000 + hour + 1, base + 2*hour, base + 5*hour, base + 30*hour} {
		for _, op := range []glucose.Op{glucose.OpGt, glucose.OpGte, glucose.OpEq} {
			want := keep(op, x)
			var got []glucose.Reading
			view(t, db, func(tx glucose.Tx) (err error) {
				got, err = tx.FindReadings(a.ID, glucose.DocQuery{Where: []glucose.Cond{cond(op, x)},
					Sort: []glucose.SortKey{{Field: glucose.FieldSrvModified}}})
				return err
			})
			if !slices.Equal(got, want) {
				t.Errorf("srvModified %s %d: got %v, want %v", op, x-base, got, want)
			}
			// Newest reception first, cut to two, with a second condition.
			var newest []glucose.Reading
			view(t, db, func(tx glucose.Tx) (err error) {
				newest, err = tx.FindReadings(a.ID, glucose.DocQuery{Limit: 2,
					Where: []glucose.Cond{cond(op, x), {Field: "sgv", Op: glucose.OpGte, Values: []glucose.Value{glucose.Num(101)}}},
					Sort:  []glucose.SortKey{{Field: glucose.FieldSrvModified, Desc: true}}})
				return err
			})
			var wantNewest []glucose.Reading
			for _, r := range slices.Backward(want) {
				if r.Value >= 101 && len(wantNewest) < 2 {
					wantNewest = append(wantNewest, r)
				}
			}
			if !slices.Equal(newest, wantNewest) {
				t.Errorf("srvModified %s %d, sgv >= 101, newest 2: got %v, want %v", op, x-base, newest, wantNewest)
			}
		}
	}
}

// TestLimitsAreExact reads with every row limit from 1 to past the number
// of rows: the queries write limits rounded up to a power of two (their
// reader stops at the exact count), so a limit of 3 or 5 must still find
// 3 or 5.
func TestLimitsAreExact(t *testing.T) {
	t.Parallel()
	db := storetest.New(t)
	sam := createAccount(t, db, "sam")
	const n = 10
	var ds []*glucose.Document
	var rs []glucose.Reading
	base := t0.UnixMilli()
	for i := 1; i <= n; i++ {
		ds = append(ds, doc(sam.ID, i, `{}`))
		rs = append(rs, reading(base+int64(i)*300_000, 100+i))
	}
	insertDocs(t, db, ds...)
	insert(t, db, sam.ID, rs)
	for limit := 1; limit <= n+2; limit++ {
		want := min(limit, n)
		if got := find(t, db, sam.ID, glucose.DocQuery{Limit: limit}); len(got) != want || got[0] != n {
			t.Errorf("FindDocuments with limit %d: %v, want the %d newest", limit, got, want)
		}
		if got := find(t, db, sam.ID, glucose.DocQuery{Limit: limit, Skip: 2}); len(got) != min(limit, n-2) || got[0] != n-2 {
			t.Errorf("FindDocuments with limit %d, skip 2: %v, want %d from the third newest", limit, got, min(limit, n-2))
		}
		view(t, db, func(tx glucose.Tx) error {
			for name, read := range map[string]func() ([]glucose.Reading, error){
				"LatestReadings": func() ([]glucose.Reading, error) { return tx.LatestReadings(sam.ID, base, limit) },
				"ReadingsBetween": func() ([]glucose.Reading, error) {
					return tx.ReadingsBetween(sam.ID, base, base+time.Hour.Milliseconds(), limit)
				},
				"FindReadings": func() ([]glucose.Reading, error) { return tx.FindReadings(sam.ID, glucose.DocQuery{Limit: limit}) },
			} {
				got, err := read()
				if err != nil {
					return err
				}
				if len(got) != want || got[0].Value != 100+n {
					t.Errorf("%s with limit %d: %d readings, want the %d newest", name, limit, len(got), want)
				}
			}
			return nil
		})
	}
}
