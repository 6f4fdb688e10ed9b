package core

import (
	"cmp"
	"context"
	"regexp"
	"slices"
	"strconv"
	"time"

	"github.com/glucoshare/glucoshare/internal/glucose"
	"github.com/glucoshare/glucoshare/internal/nsdoc"
)

// API v3's view of entries: history by srvModified over readings, their
// tombstones and entry documents, and look-up by identifier. Readings are
// immutable once stored, so a reading's srvModified is when it was
// received; a deleted one is reported by its tombstone.

// EntriesHistory returns the entries modified after after (at or after it
// when inclusive) — readings stored, readings deleted, entry documents
// written or deleted — oldest change first, at most limit. A follower
// limited to the current value sees the newest reading alone, when it is
// in the range.
func (s *Service) EntriesHistory(ctx context.Context, acc *NightscoutAccess, after int64, inclusive bool, limit int) ([]Entry, error) {
	if !acc.Permits("api:entries:read") {
		return nil, ErrNightscoutDenied
	}
	op := glucose.OpGt
	if inclusive {
		op = glucose.OpGte
	}
	q := glucose.DocQuery{Limit: limit, IncludeDeleted: true,
		Sort:  []glucose.SortKey{{Field: glucose.FieldSrvModified}},
		Where: []glucose.Cond{{Field: glucose.FieldSrvModified, Op: op, Values: []glucose.Value{glucose.Num(float64(after))}}}}
	var (
		out      []Entry
		mirrored map[int64]bool
	)
	err := s.store.View(ctx, func(tx glucose.Tx) error {
		out = out[:0]
		if acc.CurrentOnly {
			rs, err := currentReading(tx, acc.AccountID, q)
			if err == nil {
				mirrored, err = mirroredAmong(tx, acc.AccountID, rs)
			}
			for i := range rs {
				out = append(out, Entry{Reading: &rs[i]})
			}
			return err
		}
		rs, err := tx.FindReadings(acc.AccountID, q)
		if err != nil {
			return err
		}
		if mirrored, err = mirroredAmong(tx, acc.AccountID, rs); err != nil {
			return err
		}
		ts, err := tx.ReadingTombstones(acc.AccountID, after, inclusive, limit)
		if err != nil {
			return err
		}
		ds, err := tx.FindDocuments(acc.AccountID, glucose.CollectionEntries, q)
		if err != nil {
			return err
		}
		for i := range rs {
			out = append(out, Entry{Reading: &rs[i]})
		}
		for i := range ts {
			out = append(out, Entry{Tombstone: &ts[i]})
		}
		for i := range ds {
			out = append(out, Entry{Doc: &ds[i]})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(out, func(a, b Entry) int {
		return cmp.Or(cmp.Compare(a.Modified(), b.Modified()), cmp.Compare(a.Date(), b.Date()))
	})
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	markEntries(out, mirrored)
	return out, nil
}

// entryIDPattern is a reading's _id (glucose.Reading.EntryID).
var entryIDPattern = regexp.MustCompile(`^[0-9a-f]{24}$`)

// EntryByIdentifier finds one entry by its API v3 identifier: a reading
// (or its tombstone) by its _id, a document by identifier or _id, deleted
// ones included. glucose.ErrNotFound when there is none the access may
// read.
func (s *Service) EntryByIdentifier(ctx context.Context, acc *NightscoutAccess, identifier string) (Entry, error) {
	if !acc.Permits("api:entries:read") {
		return Entry{}, ErrNightscoutDenied
	}
	var e Entry
	err := s.store.View(ctx, func(tx glucose.Tx) error {
		if entryIDPattern.MatchString(identifier) {
			found, err := readingByID(tx, acc, identifier)
			if err != nil || found.Reading != nil || found.Tombstone != nil {
				e = found
				return err
			}
		}
		if acc.CurrentOnly {
			return glucose.ErrNotFound
		}
		d, err := documentByIdentifier(tx, acc.AccountID, glucose.CollectionEntries, identifier)
		e = Entry{Doc: d}
		return err
	})
	return e, err
}

// readingByID finds the reading, or the tombstone, with the given _id: its
// first 8 hex digits are the reading's second.
func readingByID(tx glucose.Tx, acc *NightscoutAccess, id string) (Entry, error) {
	secs, err := strconv.ParseInt(id[:8], 16, 64)
	if err != nil {
		return Entry{}, nil
	}
	from, to := secs*1000, secs*1000+999
	q := glucose.DocQuery{Limit: 1, Where: []glucose.Cond{{Field: glucose.FieldID, Op: glucose.OpEq, Values: []glucose.Value{glucose.Str(id)}}}}
	var rs []glucose.Reading
	if acc.CurrentOnly {
		rs, err = currentReading(tx, acc.AccountID, q)
	} else {
		rs, err = tx.FindReadings(acc.AccountID, q)
	}
	if err != nil {
		return Entry{}, err
	}
	if len(rs) > 0 {
		mirrored, err := mirroredAmong(tx, acc.AccountID, rs[:1])
		return Entry{Reading: &rs[0], Mirrored: mirrored[rs[0].ST]}, err
	}
	if acc.CurrentOnly {
		return Entry{}, nil
	}
	ts, err := tx.ReadingTombstonesBetween(acc.AccountID, from, to)
	for i := range ts {
		if (glucose.Reading{ST: ts[i].ST}).EntryID(acc.AccountID) == id {
			return Entry{Tombstone: &ts[i]}, nil
		}
	}
	return Entry{}, err
}

// DocumentByIdentifier finds one document of a collection by its API v3
// identifier, or by its _id when it has none of its own, deleted ones
// included; glucose.ErrNotFound when there is none the access may read.
func (s *Service) DocumentByIdentifier(ctx context.Context, acc *NightscoutAccess, collection, identifier string) (*glucose.Document, error) {
	if !acc.Permits("api:" + collection + ":read") {
		return nil, ErrNightscoutDenied
	}
	if acc.CurrentOnly {
		return nil, glucose.ErrNotFound
	}
	var d *glucose.Document
	err := s.store.View(ctx, func(tx glucose.Tx) (err error) {
		d, err = documentByIdentifier(tx, acc.AccountID, collection, identifier)
		return err
	})
	return d, err
}

// documentByIdentifier is utils.js's filterForOne: identifier, else _id.
func documentByIdentifier(tx glucose.Tx, accountID, collection, identifier string) (*glucose.Document, error) {
	d, err := matchDocument(tx, accountID, collection, [][]glucose.Cond{
		{{Field: glucose.FieldIdentifier, Op: glucose.OpEq, Values: []glucose.Value{glucose.Str(identifier)}}},
		{{Field: glucose.FieldID, Op: glucose.OpEq, Values: []glucose.Value{glucose.Str(identifier)}}},
	})
	if err == nil && d == nil {
		err = glucose.ErrNotFound
	}
	return d, err
}

// DeleteDocumentsPermanently removes the documents q finds for good,
// deleted ones included (API v3's DELETE with permanent=true): unlike a
// soft deletion, history does not report them.
func (s *Service) DeleteDocumentsPermanently(ctx context.Context, acc *NightscoutAccess, collection string, q glucose.DocQuery, now time.Time) (int, error) {
	if !acc.Permits("api:" + collection + ":delete") {
		return 0, ErrNightscoutDenied
	}
	q.IncludeDeleted = true
	var n int
	err := s.store.Update(ctx, func(tx glucose.Tx) (err error) {
		if err := tx.LockDocuments(acc.AccountID); err != nil {
			return err
		}
		n, err = tx.DeleteDocuments(acc.AccountID, collection, q, now.UnixMilli(), true)
		return err
	})
	return n, err
}

// CreateDocument is API v3's create: in one transaction, it finds the
// document the first of the rules names (see DocumentWrite.Match), deleted
// ones included, or none, and stores what decide makes of it — a new
// document, or the found one replaced (a deduplication). Deciding and
// writing in one transaction, with the account's document writers
// serialised, is what keeps two concurrent creates of one treatment from
// storing it twice. decide may run more than once (the store retries a
// transaction that lost a conflict) and must not keep state between runs.
// It returns the document found, if any, and the one stored.
func (s *Service) CreateDocument(ctx context.Context, acc *NightscoutAccess, collection string, rules [][]glucose.Cond, now time.Time,
	decide func(found *glucose.Document) (DocumentWrite, error)) (found *glucose.Document, stored glucose.Document, err error) {
	if !acc.Permits("api:" + collection + ":read") {
		return nil, glucose.Document{}, ErrNightscoutDenied
	}
	err = s.store.Update(ctx, func(tx glucose.Tx) (err error) {
		if err := tx.LockDocuments(acc.AccountID); err != nil {
			return err
		}
		found = nil
		if !acc.CurrentOnly {
			if found, err = matchDocument(tx, acc.AccountID, collection, rules); err != nil {
				return err
			}
		}
		w, err := decide(found)
		if err != nil {
			return err
		}
		// As WriteDocuments: creating permission stores any document,
		// checked after decide so that its refusal, in the protocol's
		// words, comes first.
		if !acc.Permits("api:" + collection + ":create") {
			return ErrNightscoutDenied
		}
		if len(w.Body) > MaxDocumentSize {
			return ErrDocumentTooLarge
		}
		if found != nil {
			w.Match = [][]glucose.Cond{{{Field: glucose.FieldID, Op: glucose.OpEq, Values: []glucose.Value{glucose.Str(found.ID)}}}}
		}
		if stored, err = writeDocument(tx, acc.AccountID, collection, w, now); err != nil {
			return err
		}
		return s.checkQuota(tx, acc.AccountID)
	})
	if err == nil {
		s.publishDocuments(acc.AccountID, now)
	}
	return found, stored, err
}

// LastModified returns, per collection the access may read, the newest of
// its documents' srvModified and dates (lib/api3/specific/lastModified.js;
// settings by srvModified only); for entries, readings and their
// tombstones count too. Collections with nothing are left out.
func (s *Service) LastModified(ctx context.Context, acc *NightscoutAccess, collections []string) (map[string]int64, error) {
	out := map[string]int64{}
	newestModified := glucose.DocQuery{Limit: 1, IncludeDeleted: true, Sort: []glucose.SortKey{{Field: glucose.FieldSrvModified, Desc: true}}}
	newestDate := glucose.DocQuery{Limit: 1, IncludeDeleted: true}
	err := s.store.View(ctx, func(tx glucose.Tx) error {
		for _, coll := range collections {
			if !acc.Permits("api:" + coll + ":read") {
				continue
			}
			if coll == glucose.CollectionEntries {
				if err := lastModifiedReadings(tx, acc, out); err != nil {
					return err
				}
			}
			if acc.CurrentOnly {
				continue
			}
			for _, q := range []glucose.DocQuery{newestModified, newestDate} {
				ds, err := tx.FindDocuments(acc.AccountID, coll, q)
				if err != nil {
					return err
				}
				if len(ds) > 0 {
					newest := ds[0].SrvModified
					if coll != glucose.CollectionSettings && ds[0].HasDate {
						newest = max(newest, ds[0].Date)
					}
					out[coll] = max(out[coll], newest)
				}
			}
		}
		return nil
	})
	return out, err
}

// lastModifiedReadings folds the newest reading's time and reception, and
// later tombstones, into out["entries"].
func lastModifiedReadings(tx glucose.Tx, acc *NightscoutAccess, out map[string]int64) error {
	find := tx.FindReadings
	if acc.CurrentOnly {
		find = func(accountID string, q glucose.DocQuery) ([]glucose.Reading, error) {
			return currentReading(tx, accountID, q)
		}
	}
	var newest int64
	rs, err := find(acc.AccountID, glucose.DocQuery{Limit: 1})
	if err != nil {
		return err
	}
	if len(rs) > 0 {
		newest = max(rs[0].ST, rs[0].ReceivedAt)
		// The newest reception is at or after the newest reading's: so
		// bounded, the store finds it through its indexes rather than by
		// reading all of the account's readings.
		rs, err = find(acc.AccountID, glucose.DocQuery{Limit: 1,
			Sort:  []glucose.SortKey{{Field: glucose.FieldSrvModified, Desc: true}},
			Where: []glucose.Cond{{Field: glucose.FieldSrvModified, Op: glucose.OpGte, Values: []glucose.Value{glucose.Num(float64(rs[0].ReceivedAt))}}}})
		if err != nil {
			return err
		}
		if len(rs) > 0 {
			newest = max(newest, rs[0].ST, rs[0].ReceivedAt)
		}
	}
	if !acc.CurrentOnly {
		ts, err := tx.ReadingTombstones(acc.AccountID, newest, false, 1000)
		if err != nil {
			return err
		}
		for _, t := range ts {
			newest = max(newest, t.DeletedAt)
		}
	}
	if newest > 0 {
		out[glucose.CollectionEntries] = max(out[glucose.CollectionEntries], newest)
	}
	return nil
}

// DeleteDocumentBy soft-deletes one document by _id, as API v3's DELETE
// does: marked deleted (history reports it) and, when modifiedBy is set,
// with modifiedBy naming the deleter, in one transaction. It reports
// whether there was a document.
func (s *Service) DeleteDocumentBy(ctx context.Context, acc *NightscoutAccess, collection, id, modifiedBy string, now time.Time) (bool, error) {
	if !acc.Permits("api:" + collection + ":delete") {
		return false, ErrNightscoutDenied
	}
	byID := []glucose.Cond{{Field: glucose.FieldID, Op: glucose.OpEq, Values: []glucose.Value{glucose.Str(id)}}}
	found := false
	err := s.store.Update(ctx, func(tx glucose.Tx) error {
		if err := tx.LockDocuments(acc.AccountID); err != nil {
			return err
		}
		d, err := matchDocument(tx, acc.AccountID, collection, [][]glucose.Cond{byID})
		if err != nil || d == nil {
			found = false
			return err
		}
		found = true
		// A deleted document is deleted again, with a new srvModified, as
		// Nightscout's every soft deletion sets it: rewritten, it is live
		// for the deletion below to mark.
		if modifiedBy != "" || d.Deleted {
			o, err := nsdoc.ParseObject(d.Body)
			if err != nil {
				return err
			}
			if modifiedBy != "" {
				o.Set("modifiedBy", modifiedBy)
			}
			w := DocumentWrite{Body: o.Bytes(), Identifier: d.Identifier, Match: [][]glucose.Cond{byID}}
			if _, err := writeDocument(tx, acc.AccountID, collection, w, now); err != nil {
				return err
			}
		}
		_, err = tx.DeleteDocuments(acc.AccountID, collection, glucose.DocQuery{Where: byID}, now.UnixMilli(), false)
		return err
	})
	if err == nil && found {
		s.publishDocuments(acc.AccountID, now)
	}
	return found, err
}

// DeleteReadingAgain marks a deleted reading deleted again (API v3's
// DELETE of a deleted reading): as Nightscout sets srvModified on every
// soft deletion, its tombstone is dated now, and history reports it again.
func (s *Service) DeleteReadingAgain(ctx context.Context, acc *NightscoutAccess, st int64, now time.Time) error {
	if !acc.Permits("api:entries:delete") {
		return ErrNightscoutDenied
	}
	err := s.store.Update(ctx, func(tx glucose.Tx) error {
		return tx.RedateReadingTombstone(acc.AccountID, st, now.UnixMilli())
	})
	if err == nil {
		s.publishDocuments(acc.AccountID, now)
	}
	return err
}

// RemoveReadingTombstone forgets a deleted reading's tombstone (API v3's
// DELETE with permanent=true of a deleted reading): history no longer
// reports it.
func (s *Service) RemoveReadingTombstone(ctx context.Context, acc *NightscoutAccess, st int64) error {
	if !acc.Permits("api:entries:delete") {
		return ErrNightscoutDenied
	}
	return s.store.Update(ctx, func(tx glucose.Tx) error {
		return tx.RemoveReadingTombstone(acc.AccountID, st)
	})
}
