package store

import (
	"database/sql"
	"errors"
	"slices"
	"strings"

	"github.com/glucoshare/glucoshare/internal/glucose"
)

// Nightscout documents (glucose.DocumentTx): one table for every
// collection, the query translation in docquery.go.

const documentColumns = `account_id, collection, id, identifier, date_ms, event_type,
	srv_created, srv_modified, deleted, body`

func scanDocument(s scanner) (glucose.Document, error) {
	var (
		d    glucose.Document
		date sql.NullInt64
		typ  sql.NullString
		body string
	)
	err := s.Scan(&d.AccountID, &d.Collection, &d.ID, &d.Identifier, &date, &typ,
		&d.SrvCreated, &d.SrvModified, &d.Deleted, &body)
	d.Date, d.HasDate = date.Int64, date.Valid
	d.Type, d.Body = typ.String, []byte(body)
	return d, err
}

// documents runs a query of document rows and scans at most max of them
// (max <= 0: all).
func (t *tx) documents(q string, max int, args ...any) ([]glucose.Document, error) {
	rows, err := t.query(q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	ds := []glucose.Document{}
	for (max <= 0 || len(ds) < max) && rows.Next() {
		d, err := scanDocument(rows)
		if err != nil {
			return nil, t.db.mapError(err)
		}
		ds = append(ds, d)
	}
	return ds, t.db.mapError(rows.Err())
}

// collection looks up a collection's description.
func collection(name string) (glucose.Collection, error) {
	c, ok := glucose.Collections[name]
	if !ok {
		return c, glucose.InvalidArgument("no collection %q", name)
	}
	return c, nil
}

// selectDocuments starts a query of the account's documents of coll
// matching q's conditions.
func (t *tx) selectDocuments(what, accountID string, coll glucose.Collection, q glucose.DocQuery) (*sqlBuilder, error) {
	b := &sqlBuilder{d: t.db.d}
	b.add(`SELECT `+what+` FROM ns_documents WHERE account_id = ? AND collection = ?`, accountID, coll.Name)
	if !q.IncludeDeleted {
		b.add(` AND deleted = FALSE`)
	}
	return b, b.where(documentSource(coll), q.Where)
}

// defaultSort is newest first.
var defaultSort = []glucose.SortKey{{Field: glucose.FieldDate, Desc: true}}

// FindDocuments returns the account's documents of a collection that
// match q.
func (t *tx) FindDocuments(accountID, collName string, q glucose.DocQuery) ([]glucose.Document, error) {
	b, err := t.findDocumentsSQL(accountID, collName, q)
	if err != nil {
		return nil, err
	}
	return t.documents(b.b.String(), b.max, b.args...)
}

// findDocumentsSQL builds FindDocuments's query.
func (t *tx) findDocumentsSQL(accountID, collName string, q glucose.DocQuery) (*sqlBuilder, error) {
	coll, err := collection(collName)
	if err != nil {
		return nil, err
	}
	b, err := t.selectDocuments(documentColumns, accountID, coll, q)
	if err != nil {
		return nil, err
	}
	sort := q.Sort
	if len(sort) == 0 {
		sort = defaultSort
	}
	b.orderBy(documentSource(coll), sort, "id")
	b.limit(q.Limit, q.Skip)
	return b, nil
}

// CountDocuments counts the documents FindDocuments would return without
// its limit.
func (t *tx) CountDocuments(accountID, collName string, q glucose.DocQuery) (int, error) {
	coll, err := collection(collName)
	if err != nil {
		return 0, err
	}
	b, err := t.selectDocuments(`COUNT(*)`, accountID, coll, q)
	if err != nil {
		return 0, err
	}
	var n int
	err = t.queryRow(b.b.String(), b.args...).Scan(&n)
	return n, t.db.mapError(err)
}

// documentArgs are d's values in documentColumns order.
func documentArgs(d *glucose.Document) []any {
	date := sql.NullInt64{Int64: d.Date, Valid: d.HasDate}
	typ := sql.NullString{String: d.Type, Valid: d.Type != ""}
	return []any{d.AccountID, d.Collection, d.ID, d.Identifier, date, typ,
		d.SrvCreated, d.SrvModified, d.Deleted, string(d.Body)}
}

// InsertDocument stores a new document and counts it against its
// account's usage.
func (t *tx) InsertDocument(d *glucose.Document) error {
	if _, err := collection(d.Collection); err != nil {
		return err
	}
	d.Index()
	args := append(documentArgs(d), d.Size())
	if _, err := t.guarded(`INSERT INTO ns_documents (`+documentColumns+`, size)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, args...); err != nil {
		return err
	}
	return t.addUsage(d.AccountID, 1, d.Size())
}

// ReplaceDocument replaces the document with d.ID, keeping its
// srv_created, and moves the account's usage by the change in size.
func (t *tx) ReplaceDocument(d *glucose.Document) error {
	var old int64
	err := t.queryRow(`SELECT size FROM ns_documents WHERE account_id = ? AND collection = ? AND id = ?`,
		d.AccountID, d.Collection, d.ID).Scan(&old)
	if err != nil {
		return t.db.mapError(err)
	}
	d.Index()
	date := sql.NullInt64{Int64: d.Date, Valid: d.HasDate}
	typ := sql.NullString{String: d.Type, Valid: d.Type != ""}
	if _, err := t.guarded(`UPDATE ns_documents SET identifier = ?, date_ms = ?, event_type = ?,
			srv_modified = ?, deleted = ?, size = ?, body = ?
		WHERE account_id = ? AND collection = ? AND id = ?`,
		d.Identifier, date, typ, d.SrvModified, d.Deleted, d.Size(), string(d.Body),
		d.AccountID, d.Collection, d.ID); err != nil {
		return err
	}
	return t.addUsage(d.AccountID, 0, d.Size()-old)
}

// LockDocuments takes the account's usage row for the rest of the
// transaction, creating it when missing: on PostgreSQL the upsert holds a
// row lock that a second writer waits for (READ COMMITTED then shows it the
// first one's documents, and a concurrent first insert of the row waits
// too rather than failing); SQLite's single writer already serialises.
// A write that changes a document's size takes this row anyway
// (addUsage), so the lock adds little wait; taken first, it also gives
// every such writer the same lock order (a deadlock would only be retried).
func (t *tx) LockDocuments(accountID string) error {
	_, err := t.exec(`INSERT INTO ns_usage (account_id, documents, bytes) VALUES (?, 0, 0)
		ON CONFLICT (account_id) DO UPDATE SET documents = ns_usage.documents`, accountID)
	return err
}

// addUsage moves the account's document count and bytes.
func (t *tx) addUsage(accountID string, docs, bytes int64) error {
	if docs == 0 && bytes == 0 {
		return nil
	}
	_, err := t.exec(`INSERT INTO ns_usage (account_id, documents, bytes) VALUES (?, ?, ?)
		ON CONFLICT (account_id) DO UPDATE SET documents = ns_usage.documents + excluded.documents,
			bytes = ns_usage.bytes + excluded.bytes`, accountID, docs, bytes)
	return err
}

// DeleteDocuments deletes the documents that match q: soft (marked, kept,
// counted) or hard (gone, uncounted).
func (t *tx) DeleteDocuments(accountID, collName string, q glucose.DocQuery, at int64, hard bool) (int, error) {
	coll, err := collection(collName)
	if err != nil {
		return 0, err
	}
	b := &sqlBuilder{d: t.db.d}
	if hard {
		b.add(`DELETE FROM ns_documents`)
	} else {
		b.add(`UPDATE ns_documents SET deleted = TRUE, srv_modified = ?`, at)
	}
	b.add(` WHERE account_id = ? AND collection = ?`, accountID, coll.Name)
	if !q.IncludeDeleted || !hard {
		b.add(` AND deleted = FALSE`)
	}
	if err := b.where(documentSource(coll), q.Where); err != nil {
		return 0, err
	}
	if !hard {
		return t.count(b.b.String(), b.args...)
	}
	b.add(` RETURNING size`)
	return t.deleteReturningSizes(accountID, b.b.String(), b.args...)
}

// deleteReturningSizes runs a DELETE … RETURNING size and takes what it
// deleted off the account's usage.
func (t *tx) deleteReturningSizes(accountID, q string, args ...any) (int, error) {
	rows, err := t.query(q, args...)
	if err != nil {
		return 0, err
	}
	var n, bytes int64
	for rows.Next() {
		var size int64
		if err := rows.Scan(&size); err != nil {
			rows.Close()
			return 0, t.db.mapError(err)
		}
		n++
		bytes += size
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, t.db.mapError(err)
	}
	return int(n), t.addUsage(accountID, -n, -bytes)
}

// DocumentUsage returns what the account's documents take.
func (t *tx) DocumentUsage(accountID string) (glucose.DocumentUsage, error) {
	var u glucose.DocumentUsage
	err := t.queryRow(`SELECT documents, bytes FROM ns_usage WHERE account_id = ?`, accountID).
		Scan(&u.Documents, &u.Bytes)
	if errors.Is(err, sql.ErrNoRows) {
		return glucose.DocumentUsage{}, nil
	}
	return u, t.db.mapError(err)
}

// retainedCollections are the collections retention purges, in a fixed
// order.
var retainedCollections = func() []string {
	var names []string
	for name, c := range glucose.Collections {
		if c.Retained {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}()

// PurgeDocuments hard-deletes at most limit documents of retained
// collections dated before before, oldest first within each collection.
// The subquery walks ns_documents_date.
func (t *tx) PurgeDocuments(accountID string, before int64, limit int) (int, error) {
	total := 0
	for _, coll := range retainedCollections {
		if total >= limit {
			break
		}
		n, err := t.deleteReturningSizes(accountID, `DELETE FROM ns_documents
			WHERE account_id = ? AND collection = ? AND id IN (SELECT id FROM ns_documents
				WHERE account_id = ? AND collection = ? AND date_ms < ? ORDER BY date_ms LIMIT ?)
			RETURNING size`, accountID, coll, accountID, coll, before, limit-total)
		if err != nil {
			return total, err
		}
		total += n
	}
	return total, nil
}

// DocumentsAfter pages through all of the account's documents by
// collection and id.
func (t *tx) DocumentsAfter(accountID, collName, id string, limit int) ([]glucose.Document, error) {
	return t.documents(`SELECT `+documentColumns+` FROM ns_documents
		WHERE account_id = ? AND (collection > ? OR collection = ? AND id > ?)
		ORDER BY collection`+t.db.d.textOrder+`, id`+t.db.d.textOrder+limitSQL(limit),
		limit, accountID, collName, collName, id)
}

// FindReadings returns the account's readings that match q, as entries of
// type sgv.
func (t *tx) FindReadings(accountID string, q glucose.DocQuery) ([]glucose.Reading, error) {
	b, ids, err := t.findReadingsSQL(accountID, q)
	if err != nil {
		return nil, err
	}
	rs, err := t.scanReadings(b.b.String(), b.max, b.args...)
	if err != nil || len(ids.conds) == 0 {
		return rs, err
	}
	kept := rs[:0]
	for _, r := range rs {
		if ids.keep(accountID, r) {
			kept = append(kept, r)
		}
	}
	kept = kept[min(max(q.Skip, 0), len(kept)):]
	if q.Limit > 0 && len(kept) > q.Limit {
		kept = kept[:q.Limit]
	}
	return kept, nil
}

// findReadingsSQL builds FindReadings's query, and the _id comparisons
// left to make after it: with those, it fetches enough rows to cut
// exactly afterwards.
func (t *tx) findReadingsSQL(accountID string, q glucose.DocQuery) (*sqlBuilder, idFilter, error) {
	where, ids := splitIDConds(q.Where)
	b := &sqlBuilder{d: t.db.d}
	b.add(`SELECT st, value, trend, offset_min, received_at FROM readings WHERE account_id = ?`, accountID)
	if err := b.where(readingsSource(), where); err != nil {
		return nil, ids, err
	}
	if from, ok := receivedFrom(where); ok {
		b.splitByLateness(from)
	}
	sort := q.Sort
	if len(sort) == 0 {
		sort = defaultSort
	}
	b.orderBy(readingsSource(), sort, "st")
	if len(ids.conds) == 0 {
		b.limit(q.Limit, q.Skip)
		return b, ids, nil
	}
	limit := q.Limit
	if limit > 0 {
		limit += max(q.Skip, 0) + ids.slack
	}
	b.limit(limit, 0)
	return b, ids, nil
}

// DeleteReadings deletes the readings FindReadings would find without
// Sort, Limit and Skip. With tombstoneAt > 0 each leaves a tombstone
// dated then (API v3's history reports it); 0 deletes without a trace.
func (t *tx) DeleteReadings(accountID string, q glucose.DocQuery, tombstoneAt int64) (int, error) {
	q.Sort, q.Limit, q.Skip = nil, 0, 0
	where, ids := splitIDConds(q.Where)
	if len(ids.conds) > 0 {
		rs, err := t.FindReadings(accountID, q)
		if err != nil {
			return 0, err
		}
		n := 0
		for _, r := range rs {
			if err := t.tombstone(tombstoneAt, ` WHERE account_id = ? AND st = ?`, accountID, r.ST); err != nil {
				return n, err
			}
			c, err := t.count(`DELETE FROM readings WHERE account_id = ? AND st = ?`, accountID, r.ST)
			if err != nil {
				return n, err
			}
			n += c
		}
		return n, nil
	}
	b := &sqlBuilder{d: t.db.d}
	b.add(` WHERE account_id = ?`, accountID)
	if err := b.where(readingsSource(), where); err != nil {
		return 0, err
	}
	if err := t.tombstone(tombstoneAt, b.b.String(), b.args...); err != nil {
		return 0, err
	}
	return t.count(`DELETE FROM readings`+b.b.String(), b.args...)
}

// tombstone records, when at > 0, a tombstone dated at for each reading
// the WHERE clause selects (a reading deleted again keeps the newer date).
func (t *tx) tombstone(at int64, where string, args ...any) error {
	if at <= 0 {
		return nil
	}
	_, err := t.exec(`INSERT INTO reading_tombstones (account_id, st, deleted_at)
		SELECT account_id, st, ? FROM readings`+where+`
		ON CONFLICT (account_id, st) DO UPDATE SET deleted_at = excluded.deleted_at`,
		append([]any{at}, args...)...)
	return err
}

// ReadingTombstones returns the account's tombstones of readings that are
// not stored again, dated after after (at or after it when inclusive),
// oldest first, at most limit.
func (t *tx) ReadingTombstones(accountID string, after int64, inclusive bool, limit int) ([]glucose.ReadingTombstone, error) {
	op := ">"
	if inclusive {
		op = ">="
	}
	return t.tombstones(`WHERE d.account_id = ? AND d.deleted_at `+op+` ?
		ORDER BY d.deleted_at, d.st LIMIT ?`, accountID, after, limit)
}

// ReadingTombstonesBetween returns the account's tombstones of readings
// that are not stored again with from <= ST <= to, by ST.
func (t *tx) ReadingTombstonesBetween(accountID string, from, to int64) ([]glucose.ReadingTombstone, error) {
	return t.tombstones(`WHERE d.account_id = ? AND d.st >= ? AND d.st <= ? ORDER BY d.st`, accountID, from, to)
}

// RedateReadingTombstone dates the tombstone of the reading at st at.
func (t *tx) RedateReadingTombstone(accountID string, st, at int64) error {
	return t.change(`UPDATE reading_tombstones SET deleted_at = ? WHERE account_id = ? AND st = ?`, at, accountID, st)
}

// RemoveReadingTombstone forgets the tombstone of the reading at st.
func (t *tx) RemoveReadingTombstone(accountID string, st int64) error {
	_, err := t.exec(`DELETE FROM reading_tombstones WHERE account_id = ? AND st = ?`, accountID, st)
	return err
}

func (t *tx) tombstones(clause string, args ...any) ([]glucose.ReadingTombstone, error) {
	rows, err := t.query(`SELECT d.st, d.deleted_at FROM reading_tombstones d `+
		strings.Replace(clause, "WHERE ", `WHERE NOT EXISTS (SELECT 1 FROM readings r
			WHERE r.account_id = d.account_id AND r.st = d.st) AND `, 1), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []glucose.ReadingTombstone{}
	for rows.Next() {
		var d glucose.ReadingTombstone
		if err := rows.Scan(&d.ST, &d.DeletedAt); err != nil {
			return nil, t.db.mapError(err)
		}
		out = append(out, d)
	}
	return out, t.db.mapError(rows.Err())
}

// hasEntryDocuments reports whether the account's newest entries are more
// than its cached readings: it has entries kept as documents (every entry
// but its readings; deleted ones do not count), or readings a mirror link
// stored, whose device the cache does not carry.
func (t *tx) hasEntryDocuments(accountID string) (bool, error) {
	var some bool
	err := t.queryRow(`SELECT EXISTS (SELECT 1 FROM ns_documents
		WHERE account_id = ? AND collection = 'entries' AND deleted = FALSE)
		OR EXISTS (SELECT 1 FROM mirrored_readings WHERE account_id = ?)`, accountID, accountID).Scan(&some)
	return some, t.db.mapError(err)
}
