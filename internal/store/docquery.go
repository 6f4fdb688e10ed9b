package store

import (
	"encoding/hex"
	"fmt"
	"math"
	"math/bits"
	"strconv"
	"strings"

	"github.com/glucoshare/glucoshare/internal/glucose"
	"github.com/glucoshare/glucoshare/share"
)

// The translation of glucose.DocQuery into SQL, once for both engines.
// What differs per engine — how a JSON member is read out of a document's
// text, and the regular-expression operator — is in the dialect
// (jsonMember, regexOp; sqlite.go and postgres.go).
//
// The semantics are MongoDB's, as Nightscout gets them from it: a value
// matches only a field of its own JSON type (the number 5 never equals the
// string "5"), a missing field equals null and is unequal to everything
// else, and $ne/$nin match documents that lack the field.

// fieldRef is where a condition's field is found in the source table.
type fieldRef struct {
	// column is an SQL expression over the row holding values of kind
	// (NULL when the field is missing).
	column string
	kind   glucose.Kind
	// path is a member path into the JSON body ("" column and nil path:
	// the field has the constant value below for every row).
	path []string
	// constant is the field's value in every row; nil with no column and
	// no path means missing.
	constant *glucose.Value
}

// source is a table the translator reads from: documents or readings.
type source struct {
	// resolve finds a field; kind is the kind of the value it is compared
	// with (documents keep string event types in a column).
	resolve func(field string, kind glucose.Kind) fieldRef
}

// sqlBuilder accumulates a WHERE clause and its arguments.
type sqlBuilder struct {
	d    *dialect
	b    strings.Builder
	args []any
	max  int // the rows to read at most (limit), 0 = all
}

func (q *sqlBuilder) add(sql string, args ...any) {
	q.b.WriteString(sql)
	q.args = append(q.args, args...)
}

// where appends " AND cond" for every condition.
func (q *sqlBuilder) where(src source, conds []glucose.Cond) error {
	for _, c := range conds {
		if err := checkCond(c); err != nil {
			return err
		}
		q.add(" AND ")
		q.cond(src, c)
	}
	return nil
}

// checkCond refuses what the parsers should never produce, so that no
// malformed condition reaches SQL.
func checkCond(c glucose.Cond) error {
	if !glucose.ValidField(c.Field) && c.Field != entrySecond {
		return glucose.InvalidArgument("%q cannot be searched", c.Field)
	}
	switch c.Op {
	case glucose.OpIn, glucose.OpNin:
		return nil
	case glucose.OpRegex:
		if len(c.Values) != 1 || c.Values[0].Kind != glucose.KindString {
			return glucose.InvalidArgument("%s on %q takes one pattern", c.Op, c.Field)
		}
		return glucose.CheckRegex(c.Values[0].Str)
	case glucose.OpEq, glucose.OpNe, glucose.OpGt, glucose.OpGte, glucose.OpLt, glucose.OpLte:
		if len(c.Values) != 1 {
			return glucose.InvalidArgument("%s on %q takes one value", c.Op, c.Field)
		}
		return nil
	}
	return glucose.InvalidArgument("unknown operator on %q", c.Field)
}

// cond appends one condition. A positive comparison is written plainly,
// so that an index on its column serves it; a missing member or column
// value makes it NULL, which excludes the row like false. Negations wrap
// their operand in COALESCE, so that NOT of "missing" is true, as
// MongoDB's $ne and $nin match documents without the field.
func (q *sqlBuilder) cond(src source, c glucose.Cond) {
	switch c.Op {
	case glucose.OpNe:
		q.not(func() { q.eq(src, c.Field, c.Values[0]) })
	case glucose.OpIn:
		q.anyEq(src, c.Field, c.Values)
	case glucose.OpNin:
		q.not(func() { q.anyEq(src, c.Field, c.Values) })
	case glucose.OpEq:
		q.eq(src, c.Field, c.Values[0])
	case glucose.OpRegex:
		q.regex(src, c)
	default:
		q.compare(src, c)
	}
}

func (q *sqlBuilder) not(inner func()) {
	q.add("NOT COALESCE((")
	inner()
	q.add("), FALSE)")
}

func (q *sqlBuilder) anyEq(src source, field string, values []glucose.Value) {
	if len(values) == 0 {
		q.add("1 = 0")
		return
	}
	q.add("(")
	for i, v := range values {
		if i > 0 {
			q.add(" OR ")
		}
		q.eq(src, field, v)
	}
	q.add(")")
}

// eq appends field = v; a missing field equals null.
func (q *sqlBuilder) eq(src source, field string, v glucose.Value) {
	ref := src.resolve(field, v.Kind)
	switch {
	case ref.column == "" && ref.path == nil:
		q.constant(glucose.Cond{Field: field, Op: glucose.OpEq, Values: []glucose.Value{v}}.Match(ref.constant))
	case v.Kind == glucose.KindNull && ref.column != "":
		q.add(ref.column + " IS NULL")
	case v.Kind == glucose.KindNull:
		q.add(q.d.jsonNullOrMissing(ref.path))
	default:
		q.scalarCompare(ref, v, "=")
	}
}

// compare appends an ordering comparison; null and booleans order nothing.
func (q *sqlBuilder) compare(src source, c glucose.Cond) {
	v := c.Values[0]
	ref := src.resolve(c.Field, v.Kind)
	op := map[glucose.Op]string{glucose.OpGt: ">", glucose.OpGte: ">=", glucose.OpLt: "<", glucose.OpLte: "<="}[c.Op]
	switch {
	case ref.column == "" && ref.path == nil:
		q.constant(c.Match(ref.constant))
	case v.Kind != glucose.KindNumber && v.Kind != glucose.KindString:
		q.constant(false)
	default:
		q.scalarCompare(ref, v, op)
	}
}

// scalarCompare appends field op ? for a column or a JSON member of v's
// kind: a field of another kind, or missing, is NULL on the left and the
// comparison NULL.
func (q *sqlBuilder) scalarCompare(ref fieldRef, v glucose.Value, op string) {
	left := ref.column
	if left != "" && ref.kind != v.Kind {
		q.constant(false)
		return
	}
	if left == "" {
		left = q.d.jsonMember(ref.path, v.Kind)
	}
	if v.Kind == glucose.KindString {
		left += q.d.textOrder
	}
	q.add(left+" "+op+" ?", sqlValue(v))
}

func (q *sqlBuilder) regex(src source, c glucose.Cond) {
	ref := src.resolve(c.Field, glucose.KindString)
	switch {
	case ref.column == "" && ref.path == nil:
		q.constant(c.Match(ref.constant))
	case ref.column != "" && ref.kind != glucose.KindString:
		q.constant(false)
	default:
		left := ref.column
		if left == "" {
			left = q.d.jsonMember(ref.path, glucose.KindString)
		}
		q.add(left+" "+q.d.regexOp+" ?", c.Values[0].Str)
	}
}

func (q *sqlBuilder) constant(b bool) {
	if b {
		q.add("1 = 1")
	} else {
		q.add("1 = 0")
	}
}

// sqlValue is a condition value as an SQL argument.
func sqlValue(v glucose.Value) any {
	switch v.Kind {
	case glucose.KindNumber:
		return v.Num
	case glucose.KindBool:
		return v.Bool
	}
	return v.Str
}

// orderBy appends ORDER BY for the keys, then tie, in the direction of the
// first key. Missing and null sort first ascending, last descending, as in
// MongoDB; a member of mixed types sorts numbers before strings.
func (q *sqlBuilder) orderBy(src source, keys []glucose.SortKey, tie string) {
	parts := []string{}
	desc := len(keys) > 0 && keys[0].Desc
	for _, k := range keys {
		dir := " ASC NULLS FIRST"
		if k.Desc {
			dir = " DESC NULLS LAST"
		}
		ref := src.resolve(k.Field, glucose.KindNumber)
		switch {
		case ref.column != "":
			if ref.kind == glucose.KindString {
				parts = append(parts, ref.column+q.d.textOrder+dir)
			} else {
				parts = append(parts, ref.column+dir)
			}
		case ref.path != nil:
			num, str := q.d.jsonMember(ref.path, glucose.KindNumber), q.d.jsonMember(ref.path, glucose.KindString)
			// MongoDB's order of types: missing and null, numbers,
			// strings, then the rest.
			rank := "(CASE WHEN " + num + " IS NOT NULL THEN 1 WHEN " + str + " IS NOT NULL THEN 2 WHEN " +
				q.d.jsonNullOrMissing(ref.path) + " THEN 0 ELSE 3 END)"
			parts = append(parts, rank+dir, num+dir, str+q.d.textOrder+dir)
		}
	}
	if tie != "" {
		if desc {
			parts = append(parts, tie+" DESC")
		} else {
			parts = append(parts, tie+" ASC")
		}
	}
	if len(parts) > 0 {
		q.add(" ORDER BY " + strings.Join(parts, ", "))
	}
}

// limit appends LIMIT and OFFSET; no limit is the largest both engines
// take.
func (q *sqlBuilder) limit(limit, skip int) {
	q.max = max(limit, 0)
	q.add(limitSQL(limit)+" OFFSET ?", max(skip, 0))
}

// limitClauses holds " LIMIT 1", " LIMIT 2", " LIMIT 4", …
var limitClauses = func() (c [31]string) {
	for i := range c {
		c[i] = " LIMIT " + strconv.Itoa(1<<i)
	}
	return c
}()

// limitSQL returns a LIMIT clause for at most n rows (none when n <= 0),
// written as a number rounded up to a power of two: the reader stops at
// n rows (scanReadings, documents). SQLite's planner reads a bound LIMIT's
// value, so a prepared statement whose LIMIT parameter differs from its
// previous run is prepared again (Nightscout's /api/v2/properties runs one
// document query with limits 150, 300 and 1: three preparations per
// request); a literal avoids that, and the rounding keeps the distinct
// texts, and so the prepared statements, to one per power of two.
func limitSQL(n int) string {
	if n <= 0 || n > 1<<30 {
		return " LIMIT " + strconv.Itoa(math.MaxInt32)
	}
	return limitClauses[bits.Len(uint(n-1))] // the least i with 1<<i >= n
}

// fieldPath splits a field into its members.
func fieldPath(field string) []string { return strings.Split(field, ".") }

// documentSource reads ns_documents of one collection.
func documentSource(coll glucose.Collection) source {
	return source{resolve: func(field string, kind glucose.Kind) fieldRef {
		switch field {
		case glucose.FieldDate:
			return fieldRef{column: "date_ms", kind: glucose.KindNumber}
		case glucose.FieldID:
			return fieldRef{column: "id", kind: glucose.KindString}
		case glucose.FieldIdentifier:
			return fieldRef{column: "identifier", kind: glucose.KindString}
		case glucose.FieldSrvModified:
			return fieldRef{column: "srv_modified", kind: glucose.KindNumber}
		case glucose.FieldSrvCreated:
			return fieldRef{column: "srv_created", kind: glucose.KindNumber}
		}
		if field == coll.TypeField && coll.TypeField != "" && (kind == glucose.KindString || kind == glucose.KindNull) {
			// The column holds the member when it is a string; a null or
			// missing member and one of another type are both NULL there, so
			// null is looked up in the body.
			if kind == glucose.KindString {
				return fieldRef{column: "event_type", kind: glucose.KindString}
			}
		}
		return fieldRef{path: fieldPath(field)}
	}}
}

// readingsSource reads the readings table as Nightscout entries of type
// sgv.
func readingsSource() source {
	sgv, device := glucose.Str("sgv"), glucose.Str("glucoshare")
	return source{resolve: func(field string, kind glucose.Kind) fieldRef {
		switch field {
		case glucose.FieldDate:
			return fieldRef{column: "st", kind: glucose.KindNumber}
		case entrySecond:
			return fieldRef{column: "(st / 1000)", kind: glucose.KindNumber}
		case "sgv":
			return fieldRef{column: "value", kind: glucose.KindNumber}
		case "trend":
			return fieldRef{column: "trend", kind: glucose.KindNumber}
		case "utcOffset":
			return fieldRef{column: "offset_min", kind: glucose.KindNumber}
		case glucose.FieldSrvModified, glucose.FieldSrvCreated:
			return fieldRef{column: "received_at", kind: glucose.KindNumber}
		case "direction":
			return fieldRef{column: directionSQL, kind: glucose.KindString}
		case "type":
			return fieldRef{constant: &sgv}
		case "device":
			return fieldRef{constant: &device}
		case glucose.FieldID:
			// Ids are digests: the caller narrows by their time and
			// filters afterwards (idFilter).
			return fieldRef{constant: nil}
		}
		return fieldRef{}
	}}
}

// directionSQL is a reading's Nightscout direction, from its trend.
var directionSQL = func() string {
	var b strings.Builder
	b.WriteString("(CASE trend")
	for t := share.TrendNone; t <= share.TrendRateOutOfRange; t++ {
		fmt.Fprintf(&b, " WHEN %d THEN '%s'", int(t), share.NightscoutDirection(t))
	}
	b.WriteString(" ELSE 'NONE' END)")
	return b.String()
}()

// idFilter handles conditions on the _id of readings, which are digests
// of account and time (glucose.Reading.EntryID): each id names the second
// its reading lies in, so the search is narrowed to those seconds (or, for
// ranges, past them) in SQL, and the ids are compared exactly afterwards.
type idFilter struct {
	conds []glucose.Cond
	// slack is how many more rows to fetch than asked, for those the exact
	// comparison may drop.
	slack int
}

// splitIDConds separates the _id conditions of a readings query and adds
// the time bounds they imply.
func splitIDConds(conds []glucose.Cond) (rest []glucose.Cond, ids idFilter) {
	for _, c := range conds {
		if c.Field != glucose.FieldID {
			rest = append(rest, c)
			continue
		}
		ids.conds = append(ids.conds, c)
		switch c.Op {
		case glucose.OpEq, glucose.OpIn:
			rest = append(rest, secondsCond(c.Values))
			ids.slack += 1000 * len(c.Values)
		case glucose.OpGt, glucose.OpGte:
			if s, ok := idSeconds(c.Values[0]); ok {
				rest = append(rest, glucose.Cond{Field: glucose.FieldDate, Op: glucose.OpGte, Values: []glucose.Value{glucose.Num(float64(s * 1000))}})
			}
			ids.slack += 1000
		case glucose.OpLt, glucose.OpLte:
			if s, ok := idSeconds(c.Values[0]); ok {
				rest = append(rest, glucose.Cond{Field: glucose.FieldDate, Op: glucose.OpLt, Values: []glucose.Value{glucose.Num(float64(s*1000 + 1000))}})
			}
			ids.slack += 1000
		default: // $ne, $nin, $regex drop at most one row per id
			ids.slack += len(c.Values)
		}
	}
	return rest, ids
}

// secondsCond matches readings in the seconds the ids name: an OR of
// ranges written as $in over no values when none is an id.
func secondsCond(values []glucose.Value) glucose.Cond {
	var secs []glucose.Value
	for _, v := range values {
		if s, ok := idSeconds(v); ok {
			secs = append(secs, glucose.Num(float64(s)))
		}
	}
	return glucose.Cond{Field: entrySecond, Op: glucose.OpIn, Values: secs}
}

// entrySecond is the readings' second (st / 1000), a field only the
// readings source knows, for _id look-ups.
const entrySecond = "@second"

// idSeconds reads the seconds an entry id starts with.
func idSeconds(v glucose.Value) (int64, bool) {
	if v.Kind != glucose.KindString || len(v.Str) != 24 {
		return 0, false
	}
	b, err := hex.DecodeString(v.Str)
	if err != nil {
		return 0, false
	}
	return int64(b[0])<<24 | int64(b[1])<<16 | int64(b[2])<<8 | int64(b[3]), true
}

// keep reports whether a reading passes the exact _id comparisons.
func (f idFilter) keep(accountID string, r glucose.Reading) bool {
	id := glucose.Str(r.EntryID(accountID))
	for _, c := range f.conds {
		if !c.Match(&id) {
			return false
		}
	}
	return true
}

// lateAfterMS is when a reading counts as late: received more than an
// hour after its time. Only late readings are in the index by reception
// (readings_late, schema version 17), so that the live upload, received
// seconds after its time, writes no second index page; this constant is
// written into that index's predicate and must stay equal to it.
const lateAfterMS = 3600000

// receivedFrom finds the lowest reception time a query's conditions allow
// (a srvModified or srvCreated at or after a number): every reading it can
// return was received at or after from.
func receivedFrom(conds []glucose.Cond) (from int64, ok bool) {
	for _, c := range conds {
		if c.Op != glucose.OpGt && c.Op != glucose.OpGte && c.Op != glucose.OpEq || len(c.Values) != 1 {
			continue
		}
		v := c.Values[0]
		if v.Kind != glucose.KindNumber || readingsSource().resolve(c.Field, v.Kind).column != "received_at" {
			continue
		}
		// Within the range where float64 holds every integer, and well
		// inside int64 once lateAfterMS is subtracted.
		if !(math.Abs(v.Num) <= 1<<53) {
			continue
		}
		x := int64(math.Floor(v.Num))
		if !ok || x > from {
			from, ok = x, true
		}
	}
	return from, ok
}

// splitByLateness turns the readings query built so far (a SELECT of the
// readings columns with its WHERE) into the union of its on-time and late
// halves, for a query that only wants readings received at or after from.
// An on-time reading (received at most lateAfterMS after its time) that
// was received at or after from has st >= from - lateAfterMS, so the
// primary key bounds that half; the late half is what readings_late
// indexes, and its predicate is repeated word for word so that both
// engines use that partial index. The halves are disjoint, and the result
// has the readings columns, so ORDER BY and LIMIT follow as before.
func (q *sqlBuilder) splitByLateness(from int64) {
	inner, args := q.b.String(), q.args
	q.b.Reset()
	q.args = nil
	late := strconv.Itoa(lateAfterMS)
	q.add(`SELECT * FROM (`+inner, args...)
	q.add(` AND st >= ? AND received_at <= st + `+late, from-lateAfterMS)
	q.add(` UNION ALL `+inner, args...)
	q.add(` AND received_at > st + ` + late + `) AS r`)
}
