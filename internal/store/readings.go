package store

import (
	"cmp"
	"slices"
	"strings"

	"github.com/glucoshare/glucoshare/internal/glucose"
	"github.com/glucoshare/glucoshare/share"
)

// readingColumns is the number of parameters one reading takes in the
// multi-row INSERT.
const readingColumns = 6

// maxReadingsPerInsert caps the rows of one INSERT statement. Within the
// parameter limits of both engines (SQLite 32766, PostgreSQL 65535), and
// large enough that a 10,000-reading upload takes twenty statements
// (larger ones measured no faster on either engine).
const maxReadingsPerInsert = 500

// InsertReadings stores the readings whose ST the account does not have
// yet, in multi-row INSERTs, and returns how many it stored. The primary
// key (account_id, st) with ON CONFLICT DO NOTHING makes this idempotent
// across concurrent transactions and server instances.
func (t *tx) InsertReadings(accountID string, rs []glucose.Reading) (int, error) {
	return t.insertReadings(accountID, rs, nil)
}

// InsertReceiverReadings is InsertReadings for an upload from receiver
// serial: each INSERT stores its rows only while the account is monitoring
// that receiver (its WHERE EXISTS reads the account), so that an upload
// checks and stores in one statement rather than reading the account
// first.
func (t *tx) InsertReceiverReadings(accountID, serial string, rs []glucose.Reading) (int, error) {
	return t.insertReadings(accountID, rs, &serial)
}

func (t *tx) insertReadings(accountID string, rs []glucose.Reading, serial *string) (int, error) {
	// Concurrent PostgreSQL transactions that insert overlapping keys in
	// different orders can deadlock; in ST order they only wait for each
	// other. The sort is stable so that the first of equal STs still wins.
	if !slices.IsSortedFunc(rs, byST) {
		rs = slices.Clone(rs)
		slices.SortStableFunc(rs, byST)
	}
	per := min(maxReadingsPerInsert, (t.db.d.maxParams-2)/readingColumns)
	stored := 0
	for chunk := range slices.Chunk(rs, per) {
		args := make([]any, 0, len(chunk)*readingColumns+2)
		for _, r := range chunk {
			args = append(args, accountID, r.ST, r.Value, int(r.Trend), r.Offset, r.ReceivedAt)
		}
		if serial != nil {
			args = append(args, accountID, *serial)
		}
		res, err := t.execRebound(t.db.insertReadingsSQL(len(chunk), serial != nil), args...)
		if err != nil {
			return 0, t.db.mapError(err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return 0, t.db.mapError(err)
		}
		stored += int(n)
	}
	return stored, nil
}

func byST(a, b glucose.Reading) int { return cmp.Compare(a.ST, b.ST) }

// insertReadingsSQL returns the INSERT for rows readings, already rebound;
// checked adds the receiver condition of InsertReceiverReadings. The
// full-chunk and small statements are cached; others are rare enough (one
// per large upload) to build each time.
func (db *DB) insertReadingsSQL(rows int, checked bool) string {
	cacheable := rows <= 64 || rows == maxReadingsPerInsert
	key := rows
	if checked {
		key = -rows
	}
	if cacheable {
		if q, ok := db.insertRead.Load(key); ok {
			return q.(string)
		}
	}
	var b strings.Builder
	b.WriteString(`INSERT INTO readings (account_id, st, value, trend, offset_min, received_at) `)
	if checked {
		// The values are typed, since a SELECT does not take its
		// parameters' types from the INSERT's columns (PostgreSQL). One
		// row, the common upload, is selected directly: SQLite would
		// copy a VALUES list into a temporary table first.
		const typed = `CAST(? AS TEXT),CAST(? AS BIGINT),CAST(? AS INTEGER),CAST(? AS INTEGER),CAST(? AS INTEGER),CAST(? AS BIGINT)`
		if rows == 1 {
			b.WriteString(`SELECT ` + typed)
		} else {
			b.WriteString(`SELECT * FROM (VALUES `)
			for i := range rows {
				if i > 0 {
					b.WriteByte(',')
				}
				b.WriteString(`(` + typed + `)`)
			}
			b.WriteString(`) AS v`)
		}
		b.WriteString(` WHERE EXISTS (SELECT 1 FROM accounts WHERE id = ? AND monitoring AND serial = ?)`)
	} else {
		b.WriteString(`VALUES `)
		for i := range rows {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(`(?,?,?,?,?,?)`)
		}
	}
	b.WriteString(` ON CONFLICT (account_id, st) DO NOTHING`)
	q := b.String()
	if db.d.numbered {
		q = numberPlaceholders(q)
	}
	if cacheable {
		db.insertRead.Store(key, q)
	}
	return q
}

// LatestReadings returns the account's readings with ST >= since, newest
// first, at most max.
func (t *tx) LatestReadings(accountID string, since int64, max int) ([]glucose.Reading, error) {
	if max <= 0 {
		return []glucose.Reading{}, nil
	}
	return t.readingsUpTo(`WHERE account_id = ? AND st >= ? ORDER BY st DESC`, max, accountID, since)
}

// readings runs SELECT of the reading columns with the clause that
// follows FROM readings, and scans the rows.
func (t *tx) readings(clause string, args ...any) ([]glucose.Reading, error) {
	return t.readingsUpTo(clause, 0, args...)
}

// readingsUpTo runs a query of readings (the clause after FROM readings,
// without LIMIT) for at most max of them (max <= 0: all).
func (t *tx) readingsUpTo(clause string, max int, args ...any) ([]glucose.Reading, error) {
	q := `SELECT st, value, trend, offset_min, received_at FROM readings ` + clause
	if max > 0 {
		q += limitSQL(max)
	}
	return t.scanReadings(q, max, args...)
}

// scanReadings runs a query that selects the reading columns in that
// order, and scans at most max rows (max <= 0: all).
func (t *tx) scanReadings(q string, max int, args ...any) ([]glucose.Reading, error) {
	rows, err := t.query(q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	rs := []glucose.Reading{}
	for (max <= 0 || len(rs) < max) && rows.Next() {
		var (
			r     glucose.Reading
			trend int
		)
		if err := rows.Scan(&r.ST, &r.Value, &trend, &r.Offset, &r.ReceivedAt); err != nil {
			return nil, t.db.mapError(err)
		}
		r.Trend = share.Trend(trend)
		rs = append(rs, r)
	}
	return rs, t.db.mapError(rows.Err())
}
