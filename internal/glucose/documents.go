package glucose

import (
	"encoding/json"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Documents are the Nightscout collections other than glucose readings:
// treatments, device status, profiles, food, activity, settings, and
// entries that are not sgv readings (meter values "mbg", calibrations
// "cal", …). They are schemaless JSON objects, kept per account in one
// store; a few of their fields are copied into indexed columns (the date,
// the identifier, the event type) so that the queries apps make are served
// by an index. Glucose readings stay Readings: an sgv entry is never a
// document (the Nightscout API shows readings as entries of type "sgv").

// The collections, by their Nightscout names.
const (
	CollectionEntries      = "entries" // non-sgv entries only
	CollectionTreatments   = "treatments"
	CollectionDeviceStatus = "devicestatus"
	CollectionProfile      = "profile"
	CollectionFood         = "food"
	CollectionActivity     = "activity"
	CollectionSettings     = "settings"
)

// Collection describes how a collection's documents are indexed.
type Collection struct {
	Name string
	// DateFields name the members that give a document its date, in order
	// of preference: a number of Unix milliseconds or an ISO-8601 string.
	DateFields []string
	// TypeField is the member copied into the event type column ("" =
	// none): treatments' eventType, entries' type.
	TypeField string
	// Retained collections are purged by --retention like readings;
	// profiles, food and settings are configuration and are kept.
	Retained bool
}

// Collections lists every collection, by name.
var Collections = map[string]Collection{
	CollectionEntries:      {Name: CollectionEntries, DateFields: []string{"date", "dateString", "sysTime"}, TypeField: "type", Retained: true},
	CollectionTreatments:   {Name: CollectionTreatments, DateFields: []string{"created_at", "date"}, TypeField: "eventType", Retained: true},
	CollectionDeviceStatus: {Name: CollectionDeviceStatus, DateFields: []string{"created_at", "date"}, Retained: true},
	CollectionProfile:      {Name: CollectionProfile, DateFields: []string{"startDate", "created_at", "date"}},
	CollectionFood:         {Name: CollectionFood, DateFields: []string{"created_at", "date"}},
	CollectionActivity:     {Name: CollectionActivity, DateFields: []string{"created_at", "date"}, Retained: true},
	CollectionSettings:     {Name: CollectionSettings, DateFields: []string{"created_at", "date"}},
}

// Document is one stored document.
type Document struct {
	AccountID  string
	Collection string
	// ID is the Nightscout _id: 24 hexadecimal digits, like a MongoDB
	// ObjectId (4 bytes of seconds, then random bytes).
	ID string
	// Identifier is the API v3 identifier: the one the client gave (a
	// UUID, usually), else ID. Unique per account and collection.
	Identifier string
	// Date is the document's date in Unix milliseconds, from its
	// collection's DateFields; HasDate is false when none parses.
	Date    int64
	HasDate bool
	// Type is the TypeField's value when it is a string, else "".
	Type string
	// SrvCreated and SrvModified are when the server first stored and last
	// changed the document (Unix milliseconds), for API v3's history.
	SrvCreated  int64
	SrvModified int64
	// Deleted marks a soft-deleted document (API v3 isValid=false): kept so
	// that history reports the deletion, never returned by a search.
	Deleted bool
	// Body is the document as a compact JSON object, without _id and
	// without the server's fields (srvCreated, srvModified, isValid).
	Body []byte
}

// Size is what the document counts against its account's storage limit:
// its body and a fixed allowance for the row.
func (d *Document) Size() int64 { return int64(len(d.Body)) + DocumentOverhead }

// DocumentOverhead is the storage a document costs beyond its body (row,
// indexes), counted so that many tiny documents cannot escape the limit.
const DocumentOverhead = 128

// DocumentUsage is what an account's documents take.
type DocumentUsage struct {
	Documents int64
	Bytes     int64
}

// Op is a comparison of a DocQuery condition.
type Op int

// The operators of Nightscout's queries (MongoDB's, as API v1's find and
// API v3's filters use them).
const (
	OpEq Op = iota + 1
	OpNe
	OpGt
	OpGte
	OpLt
	OpLte
	OpIn
	OpNin
	OpRegex
)

var opNames = map[Op]string{OpEq: "$eq", OpNe: "$ne", OpGt: "$gt", OpGte: "$gte", OpLt: "$lt", OpLte: "$lte",
	OpIn: "$in", OpNin: "$nin", OpRegex: "$regex"}

func (o Op) String() string { return opNames[o] }

// Kind is the JSON type of a Value.
type Kind int

// The kinds of values a condition compares with. As in MongoDB, a value
// only ever matches a field of its own kind: the number 5 does not match
// the string "5".
const (
	KindNull Kind = iota + 1
	KindBool
	KindNumber
	KindString
)

// Value is a typed constant of a condition.
type Value struct {
	Kind Kind
	Num  float64
	Str  string
	Bool bool
}

// Num returns a number value.
func Num(f float64) Value { return Value{Kind: KindNumber, Num: f} }

// Str returns a string value.
func Str(s string) Value { return Value{Kind: KindString, Str: s} }

// Bool returns a boolean value.
func Bool(b bool) Value { return Value{Kind: KindBool, Bool: b} }

// Null is the null value.
var Null = Value{Kind: KindNull}

func (v Value) String() string {
	switch v.Kind {
	case KindNumber:
		return strconv.FormatFloat(v.Num, 'f', -1, 64)
	case KindString:
		return strconv.Quote(v.Str)
	case KindBool:
		return strconv.FormatBool(v.Bool)
	}
	return "null"
}

// Special fields of a DocQuery. Other field names are paths into the
// document, members separated by dots ("boluscalc.foods._id").
const (
	// FieldDate is the document's date in Unix milliseconds (the indexed
	// date column), whichever member it came from; conditions on it take
	// numbers. The query translators map each collection's date members
	// (created_at, date, dateString…) to it.
	FieldDate = "@date"
	// FieldID is the Nightscout _id.
	FieldID = "_id"
	// FieldIdentifier is the API v3 identifier.
	FieldIdentifier = "identifier"
	// FieldSrvModified and FieldSrvCreated are the server's times.
	FieldSrvModified = "srvModified"
	FieldSrvCreated  = "srvCreated"
)

// fieldPattern is what a document field may look like: members of
// letters, digits and underscores (a leading $ is MongoDB's and refused),
// joined by dots. The store writes field paths into SQL, so nothing else
// is ever let through.
var fieldPattern = regexp.MustCompile(`^[A-Za-z0-9_@-]{1,64}(\.[A-Za-z0-9_-]{1,64}){0,7}$`)

// ValidField reports whether name can be used as a DocQuery field.
func ValidField(name string) bool {
	if name == FieldDate {
		return true
	}
	return fieldPattern.MatchString(name) && name[0] != '@'
}

// Cond is one condition of a DocQuery.
type Cond struct {
	Field string
	Op    Op
	// Values holds one value, or for OpIn and OpNin any number (none:
	// $in matches nothing, $nin everything). For OpRegex it is one string,
	// a pattern in Go's regexp syntax (RE2).
	Values []Value
}

// SortKey orders query results by one field.
type SortKey struct {
	Field string
	Desc  bool
}

// DocQuery selects documents: those matching every condition, in Sort
// order (then by _id in the same direction, so that the order is total),
// Skip of them skipped, at most Limit of them.
type DocQuery struct {
	Where []Cond
	Sort  []SortKey // empty: by FieldDate, newest first
	Limit int       // ≤ 0: no limit (callers bound it)
	Skip  int
	// IncludeDeleted returns soft-deleted documents too (API v3 history).
	IncludeDeleted bool
}

// MaxRegexLength bounds a pattern in a condition.
const MaxRegexLength = 256

// CheckRegex reports whether a pattern is acceptable: short enough and
// valid RE2 (the store evaluates it with Go's regexp on SQLite and with
// PostgreSQL's engine, which accepts RE2's common syntax).
func CheckRegex(pattern string) error {
	if len(pattern) > MaxRegexLength {
		return InvalidArgument("a regular expression may be at most %d characters", MaxRegexLength)
	}
	if _, err := regexp.Compile(pattern); err != nil {
		return InvalidArgument("invalid regular expression: %v", err)
	}
	return nil
}

// Match evaluates c against a constant, with MongoDB's typed semantics:
// v is the field's value, nil when the field is missing. The store uses it
// for fields whose value is the same for every row it searches (an sgv
// reading's type, say).
func (c Cond) Match(v *Value) bool {
	switch c.Op {
	case OpEq:
		return equal(v, c.Values[0])
	case OpNe:
		return !equal(v, c.Values[0])
	case OpIn, OpNin:
		in := false
		for _, w := range c.Values {
			in = in || equal(v, w)
		}
		return in == (c.Op == OpIn)
	case OpRegex:
		if v == nil || v.Kind != KindString {
			return false
		}
		re, err := regexp.Compile(c.Values[0].Str)
		return err == nil && re.MatchString(v.Str)
	}
	if v == nil || v.Kind != c.Values[0].Kind {
		return false
	}
	cmp := compare(*v, c.Values[0])
	switch c.Op {
	case OpGt:
		return cmp > 0
	case OpGte:
		return cmp >= 0
	case OpLt:
		return cmp < 0
	case OpLte:
		return cmp <= 0
	}
	return false
}

// equal is MongoDB's equality: a missing field equals null.
func equal(v *Value, w Value) bool {
	if v == nil {
		return w.Kind == KindNull
	}
	return v.Kind == w.Kind && compare(*v, w) == 0
}

// compare orders two values of one kind.
func compare(a, b Value) int {
	switch a.Kind {
	case KindNumber:
		switch {
		case a.Num < b.Num:
			return -1
		case a.Num > b.Num:
			return 1
		case math.IsNaN(a.Num) != math.IsNaN(b.Num):
			return 1
		}
	case KindString:
		switch {
		case a.Str < b.Str:
			return -1
		case a.Str > b.Str:
			return 1
		}
	case KindBool:
		switch {
		case a.Bool == b.Bool:
		case b.Bool:
			return -1
		default:
			return 1
		}
	}
	return 0
}

// DocumentTx stores Nightscout documents and answers the queries of the
// Nightscout APIs over documents and readings alike.
type DocumentTx interface {
	// FindDocuments returns the account's documents of a collection that
	// match q. Invalid fields are refused with ErrInvalidArgument.
	FindDocuments(accountID, collection string, q DocQuery) ([]Document, error)
	// CountDocuments counts what FindDocuments would return without Limit
	// and Skip.
	CountDocuments(accountID, collection string, q DocQuery) (int, error)
	// InsertDocument stores a new document; ErrConflict when its ID or
	// Identifier is taken in the collection.
	InsertDocument(d *Document) error
	// ReplaceDocument replaces the document with d.ID; ErrNotFound when
	// there is none, ErrConflict when d.Identifier is another's.
	ReplaceDocument(d *Document) error
	// DeleteDocuments deletes the documents that match q (its Sort, Limit
	// and Skip ignored) and returns how many: soft-deleted (kept, marked
	// Deleted, SrvModified at) unless hard.
	DeleteDocuments(accountID, collection string, q DocQuery, at int64, hard bool) (int, error)
	// DocumentUsage returns what the account's documents take.
	DocumentUsage(accountID string) (DocumentUsage, error)
	// LockDocuments serialises the writers of one account's documents
	// until the transaction ends, so that a write that first looks for
	// the document it replaces (deduplication) sees every other writer's
	// committed documents and none in progress.
	LockDocuments(accountID string) error
	// PurgeDocuments hard-deletes at most limit documents of retained
	// collections dated before before, oldest first, and returns how many.
	PurgeDocuments(accountID string, before int64, limit int) (int, error)
	// DocumentsAfter pages through all of the account's documents, deleted
	// ones included, by collection and ID: at most limit after the
	// (collection, id) pair given ("" "" starts).
	DocumentsAfter(accountID, collection, id string, limit int) ([]Document, error)

	// FindReadings returns the account's readings that match q, seen as
	// Nightscout entries of type "sgv": FieldDate is ST, "sgv" the value,
	// "trend" and "direction" the trend, "utcOffset" the offset,
	// srvCreated and srvModified when it was received, "type" is "sgv" and
	// "device" is "glucoshare"; every other field is missing. Sort keys
	// other than FieldDate, "sgv" and the server's times are ignored.
	FindReadings(accountID string, q DocQuery) ([]Reading, error)
	// DeleteReadings deletes the readings that FindReadings would return
	// without Sort, Limit and Skip, and returns how many. With
	// tombstoneAt > 0 each deleted reading leaves a ReadingTombstone dated
	// then; 0 leaves none (a permanent deletion).
	DeleteReadings(accountID string, q DocQuery, tombstoneAt int64) (int, error)
	// ReadingTombstones returns the account's tombstones dated after
	// after (at or after it when inclusive), oldest first, at most limit.
	// A tombstone of a reading stored again is not returned.
	ReadingTombstones(accountID string, after int64, inclusive bool, limit int) ([]ReadingTombstone, error)
	// ReadingTombstonesBetween returns the account's tombstones with
	// from <= ST <= to, by ST; a reading stored again has none.
	ReadingTombstonesBetween(accountID string, from, to int64) ([]ReadingTombstone, error)
	// RedateReadingTombstone dates the tombstone of the reading at st at
	// (a deletion of a deleted reading); ErrNotFound when there is none.
	RedateReadingTombstone(accountID string, st, at int64) error
	// RemoveReadingTombstone forgets the tombstone of the reading at st,
	// if any (a permanent deletion of a deleted reading).
	RemoveReadingTombstone(accountID string, st int64) error
}

// ReadingTombstone is a reading deleted through the Nightscout API: its
// time (ST) and when it was deleted, both Unix milliseconds. API v3's
// history reports it as a deleted sgv entry.
type ReadingTombstone struct {
	ST, DeletedAt int64
}

// Index fills the document's indexed fields from its body: Date from the
// first of its collection's DateFields that holds a number of
// milliseconds or a date string, Type from TypeField when it is a string.
// The store calls it on every write, so that the columns always agree
// with the body.
func (d *Document) Index() {
	coll := Collections[d.Collection]
	var members map[string]json.RawMessage
	if json.Unmarshal(d.Body, &members) != nil {
		members = nil
	}
	d.Date, d.HasDate, d.Type = 0, false, ""
	for _, f := range coll.DateFields {
		if ms, ok := jsonTime(members[f]); ok {
			d.Date, d.HasDate = ms, true
			break
		}
	}
	if coll.TypeField != "" {
		var s string
		if raw := members[coll.TypeField]; raw != nil && json.Unmarshal(raw, &s) == nil {
			d.Type = s
		}
	}
}

// jsonTime reads a member that holds a time: a number of Unix
// milliseconds, or a string ParseTime reads.
func jsonTime(raw json.RawMessage) (int64, bool) {
	if raw == nil {
		return 0, false
	}
	var f float64
	if json.Unmarshal(raw, &f) == nil {
		return clampMS(f), true
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return ParseTime(s)
	}
	return 0, false
}

// MaxMS bounds the times accepted as numbers of milliseconds (about
// 285,000 years either side of 1970), so that converting them cannot
// overflow.
const MaxMS = 1 << 53

// clampMS converts a number of milliseconds to int64 within ±MaxMS; NaN
// is 0.
func clampMS(f float64) int64 {
	switch {
	case math.IsNaN(f):
		return 0
	case f > MaxMS:
		return MaxMS
	case f < -MaxMS:
		return -MaxMS
	}
	return int64(math.Floor(f))
}

// timeLayouts are the date forms Nightscout clients write: ISO-8601 with
// or without fractions and zone (a time without zone is UTC), with the
// zone as Z, ±hh:mm or ±hhmm, and a bare date.
var timeLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999Z0700", "2006-01-02T15:04:05.999999999",
	"2006-01-02T15:04Z07:00", "2006-01-02T15:04", "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999",
	"2006-01-02"}

// ParseTime reads a date string in Unix milliseconds.
func ParseTime(s string) (int64, bool) {
	s = strings.TrimSpace(s)
	if len(s) > 64 {
		return 0, false
	}
	for _, layout := range timeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UnixMilli(), true
		}
	}
	return 0, false
}
