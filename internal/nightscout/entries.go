package nightscout

import (
	"bytes"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/glucoshare/glucoshare/internal/core"
	"github.com/glucoshare/glucoshare/internal/glucose"
	"github.com/glucoshare/glucoshare/internal/nsdoc"
	"github.com/glucoshare/glucoshare/share"
)

// Entries: glucoshare's readings are the sgv entries; entries of other
// types (mbg, cal, …) are documents. lib/api/entries/index.js,
// lib/server/entries.js.

// defaultCount is ENTRIES_DEFAULT_COUNT.
const defaultCount = 10

// postLimit bounds a request body: a day of 1-minute readings from a
// catching-up uploader, or a profile with its history, is far below it.
const postLimit = 8 << 20

// entry is a reading as cgm-remote-monitor returns an sgv entry:
// {"_id","type":"sgv","sgv","date","dateString","trend","direction",
// "device","sysTime","utcOffset"}. dateString is UTC, as Nightscout
// stores it (lib/server/entries.js sets it to sysTime).
type entry struct {
	ID         string `json:"_id"`
	Type       string `json:"type"`
	SGV        int    `json:"sgv"`
	Date       int64  `json:"date"`
	DateString string `json:"dateString"`
	Trend      int    `json:"trend"`
	Direction  string `json:"direction"`
	Device     string `json:"device"`
	SysTime    string `json:"sysTime"`
	UTCOffset  int    `json:"utcOffset"`
}

// The device of a reading: glucoshare for one uploaded (the uploader's
// device name is not kept with readings), share-mirror for one that a
// mirror link read from another Share server (docs/mirror.md).
const (
	device       = "glucoshare"
	mirrorDevice = "share-mirror"
)

// deviceOf names the source of an entry's reading.
func deviceOf(e core.Entry) string {
	if e.Mirrored {
		return mirrorDevice
	}
	return device
}

// isoMillis is JavaScript's toISOString.
const isoMillis = "2006-01-02T15:04:05.000Z07:00"

func entryOf(accountID string, r glucose.Reading, dev string) entry {
	var buf [len(isoMillis)]byte
	iso := string(appendISOMillis(buf[:0], glucose.FromMS(r.ST)))
	return entry{
		ID: r.EntryID(accountID), Type: "sgv", SGV: r.Value, Date: r.ST, DateString: iso,
		Trend: int(r.Trend), Direction: share.NightscoutDirection(r.Trend), Device: dev,
		SysTime: iso, UTCOffset: r.Offset,
	}
}

// appendISOMillis appends t as t.Format(isoMillis) does. For a UTC time
// of the years 0–9999 it writes the digits itself: Format reads its
// layout anew at every call, and every entry has a date.
func appendISOMillis(b []byte, t time.Time) []byte {
	year, month, day := t.Date()
	if t.Location() != time.UTC || year < 0 || year > 9999 {
		return t.AppendFormat(b, isoMillis)
	}
	hour, minute, sec := t.Clock()
	b = appendPadded(b, year, 4)
	b = appendPadded(append(b, '-'), int(month), 2)
	b = appendPadded(append(b, '-'), day, 2)
	b = appendPadded(append(b, 'T'), hour, 2)
	b = appendPadded(append(b, ':'), minute, 2)
	b = appendPadded(append(b, ':'), sec, 2)
	b = appendPadded(append(b, '.'), t.Nanosecond()/1e6, 3) // truncated, as Format does
	return append(b, 'Z')
}

// appendHTTPDate appends t as t.Format(http.TimeFormat) does, writing
// the digits itself for a UTC time of the years 0–9999 (appendISOMillis).
func appendHTTPDate(b []byte, t time.Time) []byte {
	year, month, day := t.Date()
	if t.Location() != time.UTC || year < 0 || year > 9999 {
		return t.AppendFormat(b, http.TimeFormat)
	}
	hour, minute, sec := t.Clock()
	b = append(append(b, t.Weekday().String()[:3]...), ", "...)
	b = appendPadded(b, day, 2)
	b = append(append(append(b, ' '), month.String()[:3]...), ' ')
	b = appendPadded(b, year, 4)
	b = appendPadded(append(b, ' '), hour, 2)
	b = appendPadded(append(b, ':'), minute, 2)
	b = appendPadded(append(b, ':'), sec, 2)
	return append(b, " GMT"...)
}

// appendPadded appends n >= 0 in decimal, with leading zeros to width
// digits.
func appendPadded(b []byte, n, width int) []byte {
	var digits [20]byte
	i := len(digits)
	for n > 0 || len(digits)-i < width {
		i--
		digits[i] = byte('0' + n%10)
		n /= 10
	}
	return append(b, digits[i:]...)
}

// entriesJSON renders entries as an array.
func entriesJSON(accountID string, es []core.Entry) []byte {
	b := append(make([]byte, 0, 2+len(es)*entrySize), '[')
	for i, e := range es {
		if i > 0 {
			b = append(b, ',')
		}
		if e.Reading != nil {
			b = entryOf(accountID, *e.Reading, deviceOf(e)).appendJSON(b)
		} else {
			b = append(b, v1Document(*e.Doc)...)
		}
	}
	return append(b, ']')
}

// entrySize is about the size of an entry in JSON.
const entrySize = 240

// appendJSON appends e as json.Marshal encodes it, without its
// reflection: entries are what uploaders and followers poll.
func (e entry) appendJSON(b []byte) []byte {
	b = appendJSONString(append(b, `{"_id":`...), e.ID)
	b = appendJSONString(append(b, `,"type":`...), e.Type)
	b = strconv.AppendInt(append(b, `,"sgv":`...), int64(e.SGV), 10)
	b = strconv.AppendInt(append(b, `,"date":`...), e.Date, 10)
	b = appendJSONString(append(b, `,"dateString":`...), e.DateString)
	b = strconv.AppendInt(append(b, `,"trend":`...), int64(e.Trend), 10)
	b = appendJSONString(append(b, `,"direction":`...), e.Direction)
	b = appendJSONString(append(b, `,"device":`...), e.Device)
	b = appendJSONString(append(b, `,"sysTime":`...), e.SysTime)
	b = strconv.AppendInt(append(b, `,"utcOffset":`...), int64(e.UTCOffset), 10)
	return append(b, '}')
}

// appendJSONString appends s as json.Marshal encodes it. An entry's
// strings (ids, dates, directions, device names) are printable ASCII
// that needs no escaping; anything else is left to json.Marshal.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x80 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always encodes
			return append(b, q...)
		}
	}
	return append(append(append(b, '"'), s...), '"')
}

// GET /api/v1/entries(.json)
// entries/index.js query_models: the newest entries first, count of them
// (default 10), filtered by find[…] (the last four days without a date
// condition); readings and other entries merged by date.
func (a *API) listEntries(c *call) error {
	q, err := parseV1Query(c.query(), v1Entries, c.now, defaultCount)
	if err != nil {
		return err
	}
	return a.answerEntries(c, q)
}

func (a *API) answerEntries(c *call, q glucose.DocQuery) error {
	// format_entries re-sorts what the query found newest first.
	es, err := a.svc.FindEntries(c.ctx, c.acc, q)
	if err != nil {
		return err
	}
	if len(q.Sort) > 0 && !q.Sort[0].Desc {
		for i, j := 0, len(es)-1; i < j; i, j = i+1, j-1 {
			es[i], es[j] = es[j], es[i]
		}
	}
	newest := int64(math.MinInt64)
	for _, e := range es {
		newest = max(newest, e.Date())
	}
	if notModified(c, newest) {
		return nil
	}
	writeBody(c.w, http.StatusOK, entriesJSON(c.acc.AccountID, es))
	return nil
}

// notModified sets Last-Modified from the newest item's time and answers
// 304 when the client's If-Modified-Since is not older, as
// format_entries and serveTreatments do.
func notModified(c *call, newestMS int64) bool {
	if newestMS == math.MinInt64 {
		return false
	}
	last := glucose.FromMS(newestMS)
	var buf [len(http.TimeFormat)]byte
	c.w.Header().Set("Last-Modified", string(appendHTTPDate(buf[:0], last)))
	ims := c.r.Header.Get("If-Modified-Since")
	if ims == "" {
		return false // what ParseTime would refuse, without its three errors
	}
	since, err := http.ParseTime(ims)
	if err != nil || last.Truncate(time.Second).After(since) {
		return false
	}
	// Nightscout writes a body too, which HTTP drops from a 304.
	c.w.Header().Set("Cache-Control", "no-store")
	c.w.WriteHeader(http.StatusNotModified)
	return true
}

// GET /api/v1/entries/{spec}, with or without .json
// entries/index.js: spec is "current" (the newest entry of any type, as
// an array of one), an entry's _id, or a type (sgv, mbg, cal, …) that
// replaces find[type].
func (a *API) entriesSpec(c *call) error {
	spec := strings.TrimSuffix(c.r.PathValue("spec"), ".json")
	values := c.r.URL.Query()
	switch {
	case spec == "current":
		values = url.Values{"count": {"1"}}
	case isObjectID(spec):
		values = url.Values{"find[_id]": {strings.ToLower(spec)}, "count": {"1"}}
	default:
		values = withType(values, spec)
	}
	q, err := parseV1Query(values, v1Entries, c.now, defaultCount)
	if err != nil {
		return err
	}
	return a.answerEntries(c, q)
}

// withType replaces find[type] by the type of the path, as prepReqModel
// does; "*" (DELETE only) means every type.
func withType(values url.Values, typ string) url.Values {
	out := url.Values{}
	for k, v := range values {
		if k != "find[type]" && !strings.HasPrefix(k, "find[type][") {
			out[k] = v
		}
	}
	if typ != "*" {
		out.Set("find[type]", typ)
	}
	return out
}

// deleted is MongoDB's answer to a deletion, which Nightscout passes on.
type deleted struct {
	Acknowledged bool `json:"acknowledged"`
	DeletedCount int  `json:"deletedCount"`
}

// DELETE /api/v1/entries(.json)
// entries/index.js delete_records: deletes what the query finds (the last
// four days without a date condition), whatever count says.
func (a *API) deleteEntries(c *call) error {
	return a.deleteEntriesWith(c, c.r.URL.Query())
}

// DELETE /api/v1/entries/{spec}: an _id, or a type ("*" for all types).
func (a *API) deleteEntriesSpec(c *call) error {
	spec := strings.TrimSuffix(c.r.PathValue("spec"), ".json")
	if isObjectID(spec) {
		return a.deleteEntriesWith(c, url.Values{"find[_id]": {strings.ToLower(spec)}})
	}
	return a.deleteEntriesWith(c, withType(c.r.URL.Query(), spec))
}

func (a *API) deleteEntriesWith(c *call, values url.Values) error {
	q, err := parseV1Query(values, v1Entries, c.now, defaultCount)
	if err != nil {
		return err
	}
	n, err := a.svc.DeleteEntries(c.ctx, c.acc, q, c.now, false)
	if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusOK, deleted{true, n})
	return nil
}

// POST /api/v1/entries(.json)
// entries/index.js insert_entries and lib/server/entries.js create: an
// array of entries or a single one; the answer is every entry stored, in
// the order sent (Loop compares the count). sgv entries become readings,
// under the value and time rules of a Share upload (core.ImportReadings):
// one without a usable value or date, or with a status code for a value
// (0–12), is not stored and not echoed. Other entries (mbg, cal, …) are
// documents, upserted by identifier, else _id, else sysTime and type, as
// Nightscout does.
func (a *API) postEntries(c *call) error {
	objs, err := readDocuments(c.r)
	if err != nil {
		return err
	}
	slots := make([]json.RawMessage, len(objs))
	var (
		egvs   []core.EGV
		egvAt  []int
		writes []core.DocumentWrite
		docAt  []int
	)
	for i, o := range objs {
		if isSGV(o) {
			if e, ok := egvOf(o); ok {
				egvs = append(egvs, e)
				egvAt = append(egvAt, i)
			}
			continue
		}
		w, err := entryWrite(o, c.now)
		if err != nil {
			return err
		}
		writes = append(writes, w)
		docAt = append(docAt, i)
	}
	if len(writes) > 0 {
		stored, err := a.svc.WriteDocuments(c.ctx, c.acc, glucose.CollectionEntries, writes, c.now)
		if err != nil {
			return err
		}
		for k, d := range stored {
			slots[docAt[k]] = v1Document(d)
		}
	}
	if len(egvs) > 0 {
		rs, _, err := a.svc.ImportReadings(c.ctx, c.acc.AccountID, egvs, c.now)
		if err != nil {
			return err
		}
		a.echoReadings(c, slots, egvs, egvAt, rs)
	}
	writeBody(c.w, http.StatusOK, joinSlots(slots))
	return nil
}

// echoReadings puts each accepted reading in its slot.
func (a *API) echoReadings(c *call, slots []json.RawMessage, egvs []core.EGV, at []int, accepted []glucose.Reading) {
	byST := make(map[int64]glucose.Reading, len(accepted))
	for _, r := range accepted {
		byST[r.ST] = r
	}
	for k, e := range egvs {
		if r, ok := byST[e.ST]; ok {
			b, _ := json.Marshal(entryOf(c.acc.AccountID, r, device))
			slots[at[k]] = b
			delete(byST, e.ST) // a reading sent twice is stored, and echoed, once
		}
	}
}

// joinSlots renders the filled slots as an array.
func joinSlots(slots []json.RawMessage) []byte {
	var buf bytes.Buffer
	buf.WriteByte('[')
	first := true
	for _, s := range slots {
		if s == nil {
			continue
		}
		if !first {
			buf.WriteByte(',')
		}
		buf.Write(s)
		first = false
	}
	buf.WriteByte(']')
	return buf.Bytes()
}

// readDocuments reads a body of one document or an array of them.
func readDocuments(r *http.Request) ([]*nsdoc.Object, error) {
	body, err := readBody(r)
	if err != nil {
		return nil, err
	}
	return nsdoc.Parse(body)
}

func readBody(r *http.Request) ([]byte, error) {
	tooLarge := &badRequest{status: http.StatusRequestEntityTooLarge, message: "Payload too large", description: "the request body may be at most 8 MiB"}
	if r.ContentLength > postLimit {
		return nil, tooLarge
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, postLimit+1))
	if err != nil {
		return nil, errBadRequest("the request body could not be read")
	}
	if len(body) > postLimit {
		return nil, tooLarge
	}
	return body, nil
}

// isSGV tells a glucose reading: type sgv, or no type and an sgv.
func isSGV(o *nsdoc.Object) bool {
	typ, ok := o.String("type")
	if ok && typ != "" {
		return strings.EqualFold(typ, "sgv")
	}
	return o.Has("sgv") && o.IsNull("type")
}

// egvOf turns an sgv entry into an EGV; false when it has no value 0–1000
// or no date. The date is `date` (epoch ms), else `dateString`; the
// direction is `direction`, else the numeric `trend`.
func egvOf(o *nsdoc.Object) (core.EGV, bool) {
	value, ok := looseNumber(o, "sgv")
	if !ok || value < 0 || value > 1000 {
		return core.EGV{}, false
	}
	dateString, _ := o.String("dateString")
	zoned, haveZone := parseZoned(dateString)
	st, haveDate := looseNumber(o, "date")
	switch {
	case haveDate:
	case haveZone:
		st = float64(zoned.UnixMilli())
	default:
		return core.EGV{}, false
	}
	if math.Abs(st) > glucose.MaxMS {
		return core.EGV{}, false
	}
	return core.EGV{ST: int64(math.Floor(st)), Value: int(math.Round(value)), Trend: trendOf(o), Offset: offsetOf(o, zoned, haveZone)}, true
}

// parseZoned reads a date string keeping its zone.
func parseZoned(s string) (time.Time, bool) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.000Z0700"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// trendOf maps the direction (or, without one, the numeric trend) to a
// Share trend.
func trendOf(o *nsdoc.Object) share.Trend {
	if dir, ok := o.String("direction"); ok && dir != "" {
		return share.TrendFromDirection(dir)
	}
	return share.ParseTrend(o.Raw("trend"))
}

// offsetOf takes the reading's UTC offset from utcOffset (minutes), else
// from dateString's zone; 0 when neither is usable.
func offsetOf(o *nsdoc.Object, zoned time.Time, haveZone bool) int {
	if off, ok := looseNumber(o, "utcOffset"); ok && math.Abs(off) <= 14*60 {
		return int(math.Round(off))
	}
	if haveZone {
		_, secs := zoned.Zone()
		if off := secs / 60; off >= -14*60 && off <= 14*60 {
			return off
		}
	}
	return 0
}

// looseNumber reads a member that is a number, or a string holding one.
func looseNumber(o *nsdoc.Object, key string) (float64, bool) {
	if f, ok := o.Number(key); ok {
		return f, true
	}
	if s, ok := o.String(key); ok {
		if f, err := strconv.ParseFloat(strings.TrimSpace(s), 64); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) {
			return f, true
		}
	}
	return 0, false
}

// entryWrite prepares a non-sgv entry as lib/server/entries.js create
// does: a UUID _id moves to identifier, another non-ObjectId _id is
// dropped; sysTime is the dateString's instant (else date's, else now)
// in UTC, with its offset in utcOffset, and dateString is rewritten to
// it. It replaces (merging members) the entry with its identifier, else
// its _id, else its sysTime and type.
func entryWrite(o *nsdoc.Object, now time.Time) (core.DocumentWrite, error) {
	id, identifier, err := takeIDs(o, true)
	if err != nil {
		return core.DocumentWrite{}, err
	}
	sys, offset := now.UTC(), 0
	dateString, hasDateString := o.String("dateString")
	if t, ok := parseZoned(dateString); ok {
		_, secs := t.Zone()
		sys, offset = t.UTC(), secs/60
	} else if ms, ok := o.Number("date"); ok && math.Abs(ms) <= glucose.MaxMS {
		sys = glucose.FromMS(int64(ms))
	}
	o.Set("utcOffset", offset)
	o.Set("sysTime", sys.Format(isoMillis))
	if hasDateString {
		o.Set("dateString", sys.Format(isoMillis))
	}
	typ := glucose.Null
	if s, ok := o.String("type"); ok {
		typ = glucose.Str(s)
	}
	w := core.DocumentWrite{Body: o.Bytes(), ID: id, Identifier: identifier, Merge: true}
	w.Match = matchRules(id, identifier, []glucose.Cond{
		{Field: "sysTime", Op: glucose.OpEq, Values: []glucose.Value{glucose.Str(sys.Format(isoMillis))}},
		{Field: "type", Op: glucose.OpEq, Values: []glucose.Value{typ}},
	})
	return w, nil
}
