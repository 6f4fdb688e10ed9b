package core

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/glucoshare/glucoshare/internal/glucose"
	"github.com/glucoshare/glucoshare/internal/nsdoc"
)

// Nightscout documents: the rules around the store's DocumentTx that every
// version of the Nightscout API shares — who may read and write what,
// size limits, and how a write finds the document it replaces. The
// versions differ in how they shape documents and which match rules they
// use; those stay in internal/nightscout.

// DefaultNightscoutQuota is how much an account's documents may take by
// default: a closed loop's device status every five minutes (3 to 10 kB
// each, with its predictions) for a year or more. --retention keeps an
// account under it for good; --nightscout-quota changes it.
const DefaultNightscoutQuota = 2 << 30

// MaxDocumentSize bounds one document (Nightscout's own limit is
// MongoDB's 16 MB; apps' largest, a loop's device status with its
// predictions, is tens of kilobytes).
const MaxDocumentSize = 1 << 20

var (
	// ErrDocumentTooLarge refuses a document over MaxDocumentSize.
	ErrDocumentTooLarge = errors.New("nightscout: a document is larger than 1 MiB")
	// ErrStorageFull refuses a write that would take the account's
	// documents over its quota.
	ErrStorageFull = errors.New("nightscout: the account's storage limit is reached")
)

// DocumentWrite is one document to store.
type DocumentWrite struct {
	// Body is the document as a compact JSON object (nsdoc), without _id.
	Body []byte
	// ID is the _id of a new document; "" draws one.
	ID string
	// Identifier is the API v3 identifier; "" keeps the replaced
	// document's, or for a new one is ID.
	Identifier string
	// Match lists the ways to find the document this one replaces, tried
	// in order; each is a set of conditions that must all hold, and
	// soft-deleted documents are found too (a write brings them back).
	// None found: the document is new.
	Match [][]glucose.Cond
	// Merge keeps the replaced document's members that Body lacks, as
	// MongoDB's $set does; otherwise Body replaces it whole.
	Merge bool
}

// WriteDocuments stores documents of a collection in one transaction, in
// order, and returns them as stored. The account's document writers are
// serialised, so that two writes matching the same document (a client's
// retry racing its first attempt) replace one document rather than
// inserting two.
func (s *Service) WriteDocuments(ctx context.Context, acc *NightscoutAccess, collection string, ws []DocumentWrite, now time.Time) ([]glucose.Document, error) {
	if !acc.Permits("api:" + collection + ":create") {
		return nil, ErrNightscoutDenied
	}
	for _, w := range ws {
		if len(w.Body) > MaxDocumentSize {
			return nil, ErrDocumentTooLarge
		}
	}
	var out []glucose.Document
	err := s.store.Update(ctx, func(tx glucose.Tx) error {
		out = out[:0]
		if err := tx.LockDocuments(acc.AccountID); err != nil {
			return err
		}
		for _, w := range ws {
			d, err := writeDocument(tx, acc.AccountID, collection, w, now)
			if err != nil {
				return err
			}
			out = append(out, d)
		}
		return s.checkQuota(tx, acc.AccountID)
	})
	if err != nil {
		return nil, err
	}
	s.publishDocuments(acc.AccountID, now)
	return out, nil
}

// checkQuota refuses a write that took the account's documents over its
// quota (the caller's transaction then rolls it back).
func (s *Service) checkQuota(tx glucose.Tx, accountID string) error {
	u, err := tx.DocumentUsage(accountID)
	if err != nil {
		return err
	}
	if s.cfg.NightscoutQuota > 0 && u.Bytes > s.cfg.NightscoutQuota {
		return ErrStorageFull
	}
	return nil
}

// writeDocument replaces the document w matches, or inserts a new one.
func writeDocument(tx glucose.Tx, accountID, collection string, w DocumentWrite, now time.Time) (glucose.Document, error) {
	existing, err := matchDocument(tx, accountID, collection, w.Match)
	if err != nil {
		return glucose.Document{}, err
	}
	d := glucose.Document{AccountID: accountID, Collection: collection, Body: w.Body,
		Identifier: w.Identifier, SrvCreated: now.UnixMilli(), SrvModified: now.UnixMilli()}
	if existing == nil {
		d.ID = w.ID
		if d.ID == "" {
			d.ID = NewDocumentID(now)
		}
		if d.Identifier == "" {
			d.Identifier = d.ID
		}
		return d, tx.InsertDocument(&d)
	}
	d.ID, d.SrvCreated = existing.ID, existing.SrvCreated
	if d.Identifier == "" {
		d.Identifier = existing.Identifier
	}
	if w.Merge {
		merged, err := nsdoc.ParseObject(existing.Body)
		if err != nil {
			return d, err
		}
		update, err := nsdoc.ParseObject(w.Body)
		if err != nil {
			return d, err
		}
		merged.Merge(update)
		d.Body = merged.Bytes()
	}
	return d, tx.ReplaceDocument(&d)
}

// matchDocument finds the document the first matching rule names.
func matchDocument(tx glucose.Tx, accountID, collection string, rules [][]glucose.Cond) (*glucose.Document, error) {
	for _, where := range rules {
		if len(where) == 0 {
			continue
		}
		found, err := tx.FindDocuments(accountID, collection, glucose.DocQuery{Where: where, Limit: 1, IncludeDeleted: true})
		if err != nil {
			return nil, err
		}
		if len(found) > 0 {
			return &found[0], nil
		}
	}
	return nil, nil
}

// NewDocumentID draws a Nightscout _id as MongoDB makes an ObjectId: 4
// bytes of seconds, 5 random bytes drawn once per process, and a 3-byte
// counter, so that ids sort by creation, within a second too.
func NewDocumentID(now time.Time) string {
	var b [12]byte
	binary.BigEndian.PutUint32(b[:4], uint32(now.Unix()))
	copy(b[4:9], idProcess[:])
	n := idCounter.Add(1)
	b[9], b[10], b[11] = byte(n>>16), byte(n>>8), byte(n)
	return hex.EncodeToString(b[:])
}

// idProcess and idCounter are the parts of NewDocumentID's ids that are
// drawn once.
var (
	idProcess = func() (b [5]byte) {
		rand.Read(b[:])
		return b
	}()
	idCounter = func() *atomic.Uint32 {
		var c atomic.Uint32
		var b [3]byte
		rand.Read(b[:])
		c.Store(uint32(b[0])<<16 | uint32(b[1])<<8 | uint32(b[2]))
		return &c
	}()
)

// FindDocuments returns the documents of a collection that q finds, as
// acc may see them: none for a follower limited to the current value.
func (s *Service) FindDocuments(ctx context.Context, acc *NightscoutAccess, collection string, q glucose.DocQuery) (ds []glucose.Document, err error) {
	err = s.NightscoutView(ctx, acc, func(r NightscoutReader) error {
		ds, err = r.FindDocuments(collection, q)
		return err
	})
	return ds, err
}

// NightscoutView runs fn in one read transaction, with a reader that
// applies acc's permissions as FindDocuments and NightscoutReadings do: a
// request that reads several collections (/api/v2/properties) sees one
// state of the account and pays for one transaction.
func (s *Service) NightscoutView(ctx context.Context, acc *NightscoutAccess, fn func(NightscoutReader) error) error {
	return s.store.View(ctx, func(tx glucose.Tx) error { return fn(NightscoutReader{tx: tx, acc: acc}) })
}

// NightscoutReader reads an account's data as a NightscoutAccess may
// (NightscoutView).
type NightscoutReader struct {
	tx  glucose.Tx
	acc *NightscoutAccess
}

// FindDocuments is Service.FindDocuments within the reader's transaction.
func (r NightscoutReader) FindDocuments(collection string, q glucose.DocQuery) ([]glucose.Document, error) {
	if !r.acc.Permits("api:" + collection + ":read") {
		return nil, ErrNightscoutDenied
	}
	if r.acc.CurrentOnly {
		return []glucose.Document{}, nil
	}
	return r.tx.FindDocuments(r.acc.AccountID, collection, q)
}

// Readings is Service.NightscoutReadings within the reader's transaction.
func (r NightscoutReader) Readings(from, to int64, max int) ([]glucose.Reading, error) {
	if !r.acc.Permits("api:entries:read") {
		return nil, ErrNightscoutDenied
	}
	if !r.acc.CurrentOnly {
		return r.tx.ReadingsBetween(r.acc.AccountID, from, to, max)
	}
	rs, err := r.tx.ReadingsBetween(r.acc.AccountID, math.MinInt64, math.MaxInt64, 1)
	if err != nil {
		return nil, err
	}
	if max < 1 || len(rs) == 1 && (rs[0].ST < from || rs[0].ST >= to) {
		rs = rs[:0]
	}
	return rs, nil
}

// CountDocuments counts the documents FindDocuments would return without
// its limit.
func (s *Service) CountDocuments(ctx context.Context, acc *NightscoutAccess, collection string, q glucose.DocQuery) (int, error) {
	if !acc.Permits("api:" + collection + ":read") {
		return 0, ErrNightscoutDenied
	}
	if acc.CurrentOnly {
		return 0, nil
	}
	var n int
	err := s.store.View(ctx, func(tx glucose.Tx) (err error) {
		n, err = tx.CountDocuments(acc.AccountID, collection, q)
		return err
	})
	return n, err
}

// DeleteDocuments soft-deletes the documents that q finds (API v3's
// history reports them) and returns how many.
func (s *Service) DeleteDocuments(ctx context.Context, acc *NightscoutAccess, collection string, q glucose.DocQuery, now time.Time) (int, error) {
	if !acc.Permits("api:" + collection + ":delete") {
		return 0, ErrNightscoutDenied
	}
	var n int
	err := s.store.Update(ctx, func(tx glucose.Tx) (err error) {
		n, err = tx.DeleteDocuments(acc.AccountID, collection, q, now.UnixMilli(), false)
		return err
	})
	if err == nil && n > 0 {
		s.publishDocuments(acc.AccountID, now)
	}
	return n, err
}

// Entry is one Nightscout entry: a glucose reading (type sgv) or a
// document of the entries collection (mbg, cal, …).
type Entry struct {
	Reading *glucose.Reading
	Doc     *glucose.Document
	// Tombstone is a deleted reading (API v3's history only).
	Tombstone *glucose.ReadingTombstone
	// Mirrored tells a reading that a mirror link stored
	// (docs/mirror.md) from one that was uploaded.
	Mirrored bool
}

// Date is the entry's date in Unix milliseconds.
func (e Entry) Date() int64 {
	switch {
	case e.Reading != nil:
		return e.Reading.ST
	case e.Tombstone != nil:
		return e.Tombstone.ST
	}
	return e.Doc.Date
}

// Modified is the entry's srvModified: when a reading was stored or
// deleted, when a document was last written.
func (e Entry) Modified() int64 {
	switch {
	case e.Reading != nil:
		return e.Reading.ReceivedAt
	case e.Tombstone != nil:
		return e.Tombstone.DeletedAt
	}
	return e.Doc.SrvModified
}

// FindEntries answers an entries query over readings and documents alike:
// both are searched with q, merged by date (newest first unless q's first
// sort key is the date ascending; entries sort by date only), and Skip and
// Limit apply to the merge. A follower limited to the current value sees
// the newest reading alone, and only when q finds it.
func (s *Service) FindEntries(ctx context.Context, acc *NightscoutAccess, q glucose.DocQuery) ([]Entry, error) {
	if !acc.Permits("api:entries:read") {
		return nil, ErrNightscoutDenied
	}
	if rs, ok, err := s.newestEntries(ctx, acc, q); err != nil || ok {
		return mergeEntries(rs, nil, false, 0, q.Limit), err
	}
	asc := len(q.Sort) > 0 && q.Sort[0].Field == glucose.FieldDate && !q.Sort[0].Desc
	each := q
	each.Sort = []glucose.SortKey{{Field: glucose.FieldDate, Desc: !asc}}
	each.Skip = 0
	if q.Limit > 0 {
		each.Limit = q.Limit + max(q.Skip, 0)
	}
	var (
		rs       []glucose.Reading
		ds       []glucose.Document
		mirrored map[int64]bool
	)
	err := s.store.View(ctx, func(tx glucose.Tx) (err error) {
		if acc.CurrentOnly {
			rs, err = currentReading(tx, acc.AccountID, each)
		} else if rs, err = tx.FindReadings(acc.AccountID, each); err == nil {
			ds, err = tx.FindDocuments(acc.AccountID, glucose.CollectionEntries, each)
		}
		if err != nil {
			return err
		}
		mirrored, err = mirroredAmong(tx, acc.AccountID, rs)
		return err
	})
	if err != nil {
		return nil, err
	}
	out := mergeEntries(rs, ds, asc, q.Skip, q.Limit)
	markEntries(out, mirrored)
	return out, nil
}

// markEntries sets Mirrored on the entries whose reading is in mirrored.
func markEntries(es []Entry, mirrored map[int64]bool) {
	for i := range es {
		es[i].Mirrored = es[i].Reading != nil && mirrored[es[i].Reading.ST]
	}
}

// newestEntries answers the query that uploaders and followers poll —
// the newest entries since a date (entries.json?count=1, whose date window
// Nightscout adds) — from the store's hot reads when it can: ok is false
// when q asks for more, or the store cannot answer it from memory.
func (s *Service) newestEntries(ctx context.Context, acc *NightscoutAccess, q glucose.DocQuery) ([]glucose.Reading, bool, error) {
	if s.hot == nil || acc.CurrentOnly || q.Skip != 0 || q.IncludeDeleted || q.Limit <= 0 || len(q.Where) != 1 {
		return nil, false, nil
	}
	if len(q.Sort) > 1 || len(q.Sort) == 1 && (q.Sort[0].Field != glucose.FieldDate || !q.Sort[0].Desc) {
		return nil, false, nil
	}
	c := q.Where[0]
	if c.Field != glucose.FieldDate || c.Op != glucose.OpGte || len(c.Values) != 1 || c.Values[0].Kind != glucose.KindNumber {
		return nil, false, nil
	}
	since := math.Ceil(c.Values[0].Num) // readings' dates are whole milliseconds
	if !(since > math.MinInt64 && since < math.MaxInt64) {
		return nil, false, nil
	}
	return s.hot.LatestEntryReadings(ctx, acc.AccountID, int64(since), q.Limit)
}

// currentReading returns the account's newest reading when q finds it.
func currentReading(tx glucose.Tx, accountID string, q glucose.DocQuery) ([]glucose.Reading, error) {
	newest, err := tx.ReadingsBetween(accountID, math.MinInt64, math.MaxInt64, 1)
	if err != nil || len(newest) == 0 {
		return newest, err
	}
	q.Where = append(slices.Clip(q.Where), glucose.Cond{Field: glucose.FieldDate, Op: glucose.OpEq,
		Values: []glucose.Value{glucose.Num(float64(newest[0].ST))}})
	return tx.FindReadings(accountID, q)
}

// mergeEntries merges two date-ordered lists and cuts skip and limit.
func mergeEntries(rs []glucose.Reading, ds []glucose.Document, asc bool, skip, limit int) []Entry {
	out := make([]Entry, 0, len(rs)+len(ds))
	i, j := 0, 0
	for i < len(rs) || j < len(ds) {
		takeReading := j == len(ds)
		if i < len(rs) && j < len(ds) {
			takeReading = rs[i].ST > ds[j].Date
			if asc {
				takeReading = rs[i].ST < ds[j].Date
			}
			if rs[i].ST == ds[j].Date {
				takeReading = true
			}
		}
		if takeReading {
			out = append(out, Entry{Reading: &rs[i]})
			i++
		} else {
			out = append(out, Entry{Doc: &ds[j]})
			j++
		}
	}
	out = out[min(max(skip, 0), len(out)):]
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out
}

// DeleteEntries deletes the entries q finds and returns how many.
// Readings leave the store (they are the account's glucose values, which
// Share followers read too) and, unless permanent, leave a tombstone that
// API v3's history reports; documents are deleted softly, or for good when
// permanent.
func (s *Service) DeleteEntries(ctx context.Context, acc *NightscoutAccess, q glucose.DocQuery, now time.Time, permanent bool) (int, error) {
	if !acc.Permits("api:entries:delete") {
		return 0, ErrNightscoutDenied
	}
	at := now.UnixMilli()
	if permanent {
		at = 0
		q.IncludeDeleted = true
	}
	var n int
	err := s.store.Update(ctx, func(tx glucose.Tx) error {
		if permanent { // takes documents off the usage: LockDocuments's order
			if err := tx.LockDocuments(acc.AccountID); err != nil {
				return err
			}
		}
		rn, err := tx.DeleteReadings(acc.AccountID, q, at)
		if err != nil {
			return err
		}
		dn, err := tx.DeleteDocuments(acc.AccountID, glucose.CollectionEntries, q, now.UnixMilli(), permanent)
		n = rn + dn
		return err
	})
	if err == nil && n > 0 && !permanent {
		s.publishDocuments(acc.AccountID, now)
	}
	return n, err
}

// NightscoutReadings returns the readings the access may read with
// from <= ST < to, newest first, at most max. Under CurrentOnly only the
// account's newest reading is ever returned, and only when it lies in the
// range.
func (s *Service) NightscoutReadings(ctx context.Context, acc *NightscoutAccess, from, to int64, max int) (rs []glucose.Reading, err error) {
	err = s.NightscoutView(ctx, acc, func(r NightscoutReader) error {
		rs, err = r.Readings(from, to, max)
		return err
	})
	return rs, err
}

// DocumentUsage returns what the account's documents take.
func (s *Service) DocumentUsage(ctx context.Context, accountID string) (glucose.DocumentUsage, error) {
	var u glucose.DocumentUsage
	err := s.store.View(ctx, func(tx glucose.Tx) (err error) {
		u, err = tx.DocumentUsage(accountID)
		return err
	})
	return u, err
}

// EachDocument calls fn with every document of the account, deleted ones
// included, by collection and _id, reading a page at a time.
func (s *Service) EachDocument(ctx context.Context, accountID string, fn func(glucose.Document) error) error {
	coll, id := "", ""
	for {
		var page []glucose.Document
		err := s.store.View(ctx, func(tx glucose.Tx) (err error) {
			page, err = tx.DocumentsAfter(accountID, coll, id, exportPage)
			return err
		})
		if err != nil {
			return err
		}
		for _, d := range page {
			if err := fn(d); err != nil {
				return err
			}
		}
		if len(page) < exportPage {
			return nil
		}
		coll, id = page[len(page)-1].Collection, page[len(page)-1].ID
	}
}

// TreatmentMark is a treatment with carbohydrates or insulin, for a chart.
type TreatmentMark struct {
	At      int64   // Unix milliseconds
	Carbs   float64 // grams; 0 = none
	Insulin float64 // units; 0 = none
}

// maxMarks bounds the treatments a chart shows (a day of a closed loop's
// boluses is far below it).
const maxMarks = 500

// TreatmentMarks returns the account's treatments with carbohydrates or
// insulin dated from <= t < to, oldest first. Callers check that the
// viewer may see the account's history.
func (s *Service) TreatmentMarks(ctx context.Context, accountID string, from, to int64) ([]TreatmentMark, error) {
	q := glucose.DocQuery{Limit: maxMarks, Sort: []glucose.SortKey{{Field: glucose.FieldDate}}, Where: []glucose.Cond{
		{Field: glucose.FieldDate, Op: glucose.OpGte, Values: []glucose.Value{glucose.Num(float64(from))}},
		{Field: glucose.FieldDate, Op: glucose.OpLt, Values: []glucose.Value{glucose.Num(float64(to))}},
	}}
	var ds []glucose.Document
	err := s.store.View(ctx, func(tx glucose.Tx) (err error) {
		ds, err = tx.FindDocuments(accountID, glucose.CollectionTreatments, q)
		return err
	})
	if err != nil {
		return nil, err
	}
	marks := []TreatmentMark{}
	for _, d := range ds {
		var t struct{ Carbs, Insulin any }
		if json.Unmarshal(d.Body, &t) != nil {
			continue
		}
		m := TreatmentMark{At: d.Date, Carbs: positive(t.Carbs), Insulin: positive(t.Insulin)}
		if m.Carbs > 0 || m.Insulin > 0 {
			marks = append(marks, m)
		}
	}
	return marks, nil
}

// positive reads a number, or a string holding one, that is above zero.
func positive(v any) float64 {
	var f float64
	switch t := v.(type) {
	case float64:
		f = t
	case string:
		f, _ = strconv.ParseFloat(strings.TrimSpace(t), 64)
	}
	if f > 0 && !math.IsInf(f, 0) {
		return f
	}
	return 0
}
