package nightscout

import (
	"fmt"
	"math"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/glucoshare/glucoshare/internal/glucose"
)

// The query translator: API v1's find[…] parameters and API v3's filter
// parameters both become a glucose.DocQuery, which the store turns into
// SQL on either engine. Each parser follows its cgm-remote-monitor
// counterpart (lib/server/query.js with the per-collection options of
// lib/server/*.js; lib/api3/generic/search/input.js) in what it accepts
// and how it types values, so that a search matches what Nightscout's
// MongoDB query matches.
//
// Deliberate differences, each one to answer a request Nightscout answers
// with an error or with nonsense: dates are read as milliseconds or
// ISO-8601 in every date field (Nightscout's entries parse
// find[date]=2024-01-01 as the number 2024, and its treatments compare a
// millisecond created_at as a string), and a value that is not a valid
// number or date is refused with 400 instead of a database error.

// v1Collection is how API v1 types the find[…] of one collection.
type v1Collection struct {
	name string
	// dateFields are the members that hold the date (all become
	// glucose.FieldDate, in milliseconds).
	dateFields []string
	// ints are read with JavaScript's parseInt, regexes as /pattern/flags
	// or plain strings (the "walker" of the collection's storage module).
	ints, regexes []string
	// window is Nightscout's default date filter: without a condition on
	// the date or the _id, only the last four days are searched.
	window bool
	// uuidIDs: a UUID in find[_id] searches the identifier, where
	// Nightscout keeps the UUIDs clients send as _id (UUID_HANDLING).
	uuidIDs bool
}

// defaultWindow is query.js's deltaAgo: two times TWO_DAYS.
const defaultWindow = 4 * 24 * time.Hour

var (
	v1Entries = v1Collection{name: glucose.CollectionEntries, dateFields: []string{"date", "dateString", "sysTime"},
		ints: []string{"sgv", "filtered", "unfiltered", "rssi", "noise", "mbg"}, window: true, uuidIDs: true}
	v1Treatments = v1Collection{name: glucose.CollectionTreatments, dateFields: []string{"created_at"},
		ints: []string{"insulin", "carbs", "glucose"}, regexes: []string{"notes", "eventType", "enteredBy"},
		window: true, uuidIDs: true}
	v1DeviceStatus = v1Collection{name: glucose.CollectionDeviceStatus, dateFields: []string{"created_at"}, window: true}
	v1Profiles     = v1Collection{name: glucose.CollectionProfile, dateFields: []string{"startDate"}, window: true}
	v1Activity     = v1Collection{name: glucose.CollectionActivity, dateFields: []string{"created_at"}, window: true}
)

// Read limits. The v1 default count differs per collection.
const maxCount = 10000

// queryError is a query parameter the translator refuses.
type queryError struct{ msg string }

func (e *queryError) Error() string { return e.msg }

func queryErrorf(format string, args ...any) error {
	return &queryError{msg: fmt.Sprintf(format, args...)}
}

// maxQueryValues bounds the values of one query, so that a request cannot
// build an unbounded statement.
const maxQueryValues = 200

// findKey matches find[field] with up to three more bracketed parts:
// find[f], find[f][$op], find[f][$op][] and find[f][$op][n].
var findKey = regexp.MustCompile(`^find\[([^\[\]]*)\]((?:\[[^\[\]]*\]){0,3})$`)

// sortKey matches sort[field].
var sortKey = regexp.MustCompile(`^sort\[([^\[\]]*)\]$`)

// v1Ops maps MongoDB's operators as clients write them.
var v1Ops = map[string]glucose.Op{"$eq": glucose.OpEq, "$ne": glucose.OpNe, "$gt": glucose.OpGt, "$gte": glucose.OpGte,
	"$lt": glucose.OpLt, "$lte": glucose.OpLte, "$in": glucose.OpIn, "$nin": glucose.OpNin, "$regex": glucose.OpRegex}

// parseV1Query translates an API v1 query string: find[…] conditions,
// sort[field]=1|-1, and count (at most maxCount; defaultCount when absent
// or not a number). now anchors the default four-day window.
func parseV1Query(values url.Values, coll v1Collection, now time.Time, defaultCount int) (glucose.DocQuery, error) {
	q := glucose.DocQuery{Limit: v1Count(values.Get("count"), defaultCount)}
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	slices.Sort(keys) // conditions in a stable order
	n := 0
	for _, key := range keys {
		if m := sortKey.FindStringSubmatch(key); m != nil {
			q.Sort = append(q.Sort, glucose.SortKey{Field: coll.field(m[1]), Desc: strings.TrimSpace(values.Get(key)) == "-1"})
			continue
		}
		m := findKey.FindStringSubmatch(key)
		if m == nil {
			continue
		}
		n += len(values[key])
		if n > maxQueryValues {
			return q, queryErrorf("too many find values (at most %d)", maxQueryValues)
		}
		c, err := coll.cond(m[1], m[2], values[key])
		if err != nil {
			return q, err
		}
		q.Where = append(q.Where, c)
	}
	for _, s := range q.Sort {
		if !glucose.ValidField(s.Field) {
			return q, queryErrorf("cannot sort by %q", s.Field)
		}
	}
	if coll.window && !hasField(q.Where, glucose.FieldDate, glucose.FieldID, glucose.FieldIdentifier) {
		q.Where = append(q.Where, glucose.Cond{Field: glucose.FieldDate, Op: glucose.OpGte,
			Values: []glucose.Value{glucose.Num(float64(now.Add(-defaultWindow).UnixMilli()))}})
	}
	return q, nil
}

// v1Count reads count as Nightscout does (parseInt), within maxCount.
// What is not a positive number is the default: Nightscout answers [] for
// count=0 or a negative count from its cache, everything for them from
// its database, and an error for a word.
func v1Count(s string, def int) int {
	n, ok := jsParseInt(s)
	if !ok || n <= 0 {
		return def
	}
	return int(min(n, maxCount))
}

// field maps a member name to the query field: the date members to
// glucose.FieldDate.
func (c v1Collection) field(name string) string {
	if slices.Contains(c.dateFields, name) {
		return glucose.FieldDate
	}
	return name
}

// cond builds the condition of one find[field]… parameter.
func (c v1Collection) cond(name, rest string, raw []string) (glucose.Cond, error) {
	parts := strings.Split(strings.Trim(rest, "[]"), "][")
	if rest == "" {
		parts = nil
	}
	op := glucose.OpEq
	// find[a][b]=x (no operator) is MongoDB's dotted path a.b.
	for len(parts) > 0 && !strings.HasPrefix(parts[0], "$") {
		name += "." + parts[0]
		parts = parts[1:]
	}
	if len(parts) > 0 {
		o, ok := v1Ops[parts[0]]
		switch {
		case parts[0] == "$exists":
			return c.exists(name, raw)
		case !ok:
			return glucose.Cond{}, queryErrorf("unsupported operator %s in find[%s]", parts[0], name)
		}
		op = o
		if len(parts) > 1 && op != glucose.OpIn && op != glucose.OpNin {
			return glucose.Cond{}, queryErrorf("find[%s][%s] takes one value", name, parts[0])
		}
	}
	field := c.field(name)
	if !glucose.ValidField(field) {
		return glucose.Cond{}, queryErrorf("cannot search by %q", name)
	}
	cond := glucose.Cond{Field: field, Op: op}
	if op != glucose.OpIn && op != glucose.OpNin {
		raw = raw[len(raw)-1:] // a repeated parameter: the last wins, as qs does
	}
	for _, s := range raw {
		v, regex, err := c.value(name, field, s, op)
		if err != nil {
			return cond, err
		}
		if regex {
			cond.Op = glucose.OpRegex
		}
		cond.Values = append(cond.Values, v)
	}
	if field == glucose.FieldID && c.uuidIDs && len(cond.Values) == 1 && isUUID(cond.Values[0].Str) {
		cond.Field = glucose.FieldIdentifier
	}
	if cond.Op == glucose.OpRegex {
		if err := glucose.CheckRegex(cond.Values[0].Str); err != nil {
			return cond, queryErrorf("find[%s]: %s", name, strings.TrimPrefix(err.Error(), "InvalidArgument: "))
		}
	}
	return cond, nil
}

// exists maps $exists to MongoDB's nearest: present and not null, or not.
func (c v1Collection) exists(name string, raw []string) (glucose.Cond, error) {
	field := c.field(name)
	if !glucose.ValidField(field) {
		return glucose.Cond{}, queryErrorf("cannot search by %q", name)
	}
	op := glucose.OpNe
	if v := strings.TrimSpace(raw[len(raw)-1]); v == "false" || v == "0" {
		op = glucose.OpEq
	}
	return glucose.Cond{Field: field, Op: op, Values: []glucose.Value{glucose.Null}}, nil
}

// value types one value as the collection's walker does; regex reports a
// /pattern/flags value of a regex field, which searches by pattern.
func (c v1Collection) value(name, field, s string, op glucose.Op) (v glucose.Value, regex bool, err error) {
	switch {
	case field == glucose.FieldDate:
		ms, ok := parseDateValue(s)
		if !ok {
			return v, false, queryErrorf("find[%s] must be a date: milliseconds or ISO 8601", name)
		}
		return glucose.Num(float64(ms)), false, nil
	case slices.Contains(c.ints, name):
		n, ok := jsParseInt(s)
		if !ok {
			return v, false, queryErrorf("find[%s] must be a number", name)
		}
		return glucose.Num(n), false, nil
	case op == glucose.OpRegex:
		p, err := jsRegex(s, "")
		return glucose.Str(p), false, err
	case op == glucose.OpEq && slices.Contains(c.regexes, name):
		if m := slashRegex.FindStringSubmatch(s); m != nil {
			p, err := jsRegex(m[1], m[2])
			return glucose.Str(p), true, err
		}
	}
	return glucose.Str(s), false, nil
}

// slashRegex is query.js's parseRegEx: /pattern/flags.
var slashRegex = regexp.MustCompile(`^/(.*)/([a-z]*)$`)

// jsRegex turns a JavaScript pattern and flags into Go's syntax: i, m and
// s become inline flags, g and y mean nothing to a search.
func jsRegex(pattern, flags string) (string, error) {
	inline := ""
	for _, f := range flags {
		switch f {
		case 'i', 'm', 's':
			if !strings.ContainsRune(inline, f) {
				inline += string(f)
			}
		case 'g', 'y', 'u':
		default:
			return "", queryErrorf("unsupported regular expression flag %q", f)
		}
	}
	if inline != "" {
		pattern = "(?" + inline + ")" + pattern
	}
	if err := glucose.CheckRegex(pattern); err != nil {
		return "", queryErrorf("%s", strings.TrimPrefix(err.Error(), "InvalidArgument: "))
	}
	return pattern, nil
}

// parseDateValue reads a date as milliseconds or ISO 8601. A "+" of a
// zone offset that arrived unescaped reads as a space; it is put back,
// as query.js does.
func parseDateValue(s string) (int64, bool) {
	s = strings.TrimSpace(s)
	if f, err := strconv.ParseFloat(s, 64); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) {
		return int64(math.Floor(max(min(f, glucose.MaxMS), -glucose.MaxMS))), true
	}
	if ms, ok := glucose.ParseTime(s); ok {
		return ms, true
	}
	return glucose.ParseTime(strings.Replace(s, " ", "+", 1))
}

// jsParseInt is JavaScript's parseInt(s, 10): optional white space and
// sign, then the longest run of digits; none is NaN (false).
func jsParseInt(s string) (float64, bool) {
	s = strings.TrimLeft(s, " \t\n\r\v\f")
	end := 0
	if end < len(s) && (s[end] == '+' || s[end] == '-') {
		end++
	}
	start := end
	for end < len(s) && s[end] >= '0' && s[end] <= '9' {
		end++
	}
	if end == start {
		return 0, false
	}
	f, err := strconv.ParseFloat(s[:end], 64)
	return max(min(f, glucose.MaxMS), -glucose.MaxMS), err == nil
}

var uuidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

func isUUID(s string) bool { return uuidPattern.MatchString(s) }

// isObjectID reports whether s is a Nightscout _id (24 hex digits).
func isObjectID(s string) bool {
	if len(s) != 24 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// hasField reports whether a condition names one of fields.
func hasField(conds []glucose.Cond, fields ...string) bool {
	for _, c := range conds {
		if slices.Contains(fields, c.Field) {
			return true
		}
	}
	return false
}

// v3Reserved are the query parameters of API v3 that are not filters.
var v3Reserved = []string{"token", "sort", "sort$desc", "limit", "skip", "fields", "now"}

// v3Ops are API v3's filter operators.
var v3Ops = map[string]glucose.Op{"eq": glucose.OpEq, "ne": glucose.OpNe, "gt": glucose.OpGt, "gte": glucose.OpGte,
	"lt": glucose.OpLt, "lte": glucose.OpLte, "in": glucose.OpIn, "nin": glucose.OpNin, "re": glucose.OpRegex}

// v3Filter splits field$op.
var v3Filter = regexp.MustCompile(`^(.*)\$([a-zA-Z]+)$`)

// V3MaxLimit is API v3's largest limit and its default (API3_MAX_LIMIT).
const V3MaxLimit = 1000

// v3Query is a parsed API v3 search.
type v3Query struct {
	q glucose.DocQuery
	// fields is the fields parameter ("" = the default projection); the
	// caller applies it.
	fields string
}

// parseV3Query translates an API v3 search (lib/api3/generic/search):
// filters field$op=value (eq when no operator), sort or sort$desc, limit,
// skip and fields. dateFields are the collection's date members (see
// v1Collection): a filter on one of them, or on date, compares dates.
// Values are typed as API v3 types them: numbers, true and false, a
// 'quoted' string unwrapped; $in and $nin take strings separated by |.
// Errors carry API v3's messages.
func parseV3Query(values url.Values, dateFields []string) (v3Query, error) {
	var out v3Query
	if values.Get("sort") != "" && values.Get("sort$desc") != "" {
		return out, queryErrorf("Parameters sort and sort_desc cannot be combined")
	}
	limit := V3MaxLimit
	if s := values.Get("limit"); s != "" {
		n, err := strconv.ParseFloat(s, 64)
		if err != nil || n <= 0 || n > V3MaxLimit {
			return out, queryErrorf("Parameter limit out of tolerance")
		}
		limit = int(n)
	}
	skip := 0
	if s := values.Get("skip"); s != "" {
		n, err := strconv.ParseFloat(s, 64)
		if err != nil || n < 0 || n > math.MaxInt32 {
			return out, queryErrorf("Parameter skip out of tolerance")
		}
		skip = int(n)
	}
	out.q = glucose.DocQuery{Limit: limit, Skip: skip}
	out.fields = values.Get("fields")
	field := func(name string) string {
		if name == "date" || slices.Contains(dateFields, name) {
			return glucose.FieldDate
		}
		return name
	}
	sortField, desc := values.Get("sort"), false
	if s := values.Get("sort$desc"); s != "" {
		sortField, desc = s, true
	}
	if sortField != "" {
		if !glucose.ValidField(field(sortField)) {
			return out, queryErrorf("cannot sort by %q", sortField)
		}
		out.q.Sort = append(out.q.Sort, glucose.SortKey{Field: field(sortField), Desc: desc})
	}
	out.q.Sort = append(out.q.Sort, glucose.SortKey{Field: glucose.FieldIdentifier, Desc: desc},
		glucose.SortKey{Field: glucose.FieldDate, Desc: desc})

	keys := make([]string, 0, len(values))
	for k := range values {
		if !slices.Contains(v3Reserved, k) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	if len(keys) > maxQueryValues {
		return out, queryErrorf("too many filters (at most %d)", maxQueryValues)
	}
	for _, key := range keys {
		name, op := key, glucose.OpEq
		if m := v3Filter.FindStringSubmatch(key); m != nil {
			o, ok := v3Ops[m[2]]
			if !ok {
				return out, queryErrorf("Unsupported filter operator %s", m[2])
			}
			name, op = m[1], o
		}
		c, err := v3Cond(field(name), name, op, values.Get(key))
		if err != nil {
			return out, err
		}
		out.q.Where = append(out.q.Where, c)
	}
	return out, nil
}

// v3Cond types one filter's value.
func v3Cond(field, name string, op glucose.Op, raw string) (glucose.Cond, error) {
	if !glucose.ValidField(field) {
		return glucose.Cond{}, queryErrorf("cannot search by %q", name)
	}
	c := glucose.Cond{Field: field, Op: op}
	switch op {
	case glucose.OpIn, glucose.OpNin:
		parts := strings.Split(raw, "|")
		if len(parts) > maxQueryValues {
			return c, queryErrorf("too many values in %s", name)
		}
		for _, p := range parts {
			c.Values = append(c.Values, glucose.Str(p))
		}
		return c, nil
	case glucose.OpRegex:
		if err := glucose.CheckRegex(raw); err != nil {
			return c, queryErrorf("%s", strings.TrimPrefix(err.Error(), "InvalidArgument: "))
		}
		c.Values = []glucose.Value{glucose.Str(raw)}
		return c, nil
	}
	v := v3Value(raw)
	if field == glucose.FieldDate || field == glucose.FieldSrvModified || field == glucose.FieldSrvCreated {
		ms, ok := parseDateValue(raw)
		if !ok {
			return c, queryErrorf("Bad or missing %s field", name)
		}
		v = glucose.Num(float64(ms))
	}
	c.Values = []glucose.Value{v}
	return c, nil
}

// v3Value types a filter value as input.js's parseValue does.
func v3Value(s string) glucose.Value {
	if f, err := strconv.ParseFloat(strings.TrimSpace(s), 64); err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) && strings.TrimSpace(s) != "" {
		return glucose.Num(f)
	}
	switch s {
	case "true":
		return glucose.Bool(true)
	case "false":
		return glucose.Bool(false)
	}
	if len(s) >= 2 && strings.HasPrefix(s, "'") && strings.HasSuffix(s, "'") {
		s = s[1 : len(s)-1]
	}
	return glucose.Str(s)
}
