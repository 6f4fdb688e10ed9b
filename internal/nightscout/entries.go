package nightscout

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/glucoshare/glucoshare/internal/core"
	"github.com/glucoshare/glucoshare/internal/glucose"
	"github.com/glucoshare/glucoshare/share"
)

// Read limits. Nightscout answers 10 entries when count is absent.
const (
	defaultCount = 10
	maxCount     = 10000
	// postLimit bounds a POST body: a day of 1-minute readings from a
	// catching-up uploader is far below it.
	postLimit = 4 << 20
)

// entry is a Nightscout entry of type sgv, as cgm-remote-monitor returns
// it: {"_id","type":"sgv","sgv","date","dateString","trend","direction",
// "device"}, plus sysTime and utcOffset, which Nightscout also keeps.
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

// device names glucoshare as the source of every entry it returns; the
// uploader's device name is not kept.
const device = "glucoshare"

// isoMillis is the form of dateString and sysTime: JavaScript's
// toISOString, with the reading's own offset in dateString.
const isoMillis = "2006-01-02T15:04:05.000Z07:00"

func toEntry(accountID string, r glucose.Reading) entry {
	t := glucose.FromMS(r.ST)
	return entry{
		ID:         entryID(accountID, r.ST),
		Type:       "sgv",
		SGV:        r.Value,
		Date:       r.ST,
		DateString: t.In(time.FixedZone("", r.Offset*60)).Format(isoMillis),
		Trend:      int(r.Trend),
		Direction:  share.NightscoutDirection(r.Trend),
		Device:     device,
		SysTime:    t.Format(isoMillis),
		UTCOffset:  r.Offset,
	}
}

func toEntries(accountID string, rs []glucose.Reading) []entry {
	es := make([]entry, len(rs))
	for i, r := range rs {
		es[i] = toEntry(accountID, r)
	}
	return es
}

// entryID gives a reading the 24-hex-digit _id Nightscout clients expect,
// stable across reads: like a MongoDB ObjectId it starts with the time in
// seconds, so ids sort by date; the rest is a digest of account and date.
func entryID(accountID string, st int64) string {
	var b [12]byte
	binary.BigEndian.PutUint32(b[:4], uint32(st/1000))
	sum := sha256.Sum256([]byte(accountID + ":" + strconv.FormatInt(st, 10)))
	copy(b[4:], sum[:8])
	return hex.EncodeToString(b[:])
}

// query is a parsed entries query: readings with from <= date < to, newest
// first, at most count; none when the type filter excludes sgv.
type query struct {
	from, to int64
	count    int
	none     bool
}

// findKey matches find[field] and find[field][$op].
var findKey = regexp.MustCompile(`^find\[(\w+)\](?:\[\$(\w+)\])?$`)

// parseQuery reads count and the find filters Nightscout clients send:
// find[date] and find[dateString] with $gte, $gt, $lte, $lt, $eq (or an
// exact value), and find[type]. Filters on other fields are ignored.
func parseQuery(q url.Values) (query, error) {
	qr := query{from: math.MinInt64, to: math.MaxInt64, count: defaultCount}
	if n, err := strconv.Atoi(q.Get("count")); err == nil && n > 0 {
		qr.count = min(n, maxCount)
	}
	for key, vals := range q {
		m := findKey.FindStringSubmatch(key)
		if m == nil || len(vals) == 0 {
			continue
		}
		field, op, val := m[1], m[2], vals[0]
		switch field {
		case "type":
			if op == "" || op == "eq" {
				qr.none = qr.none || val != "sgv"
			}
		case "date", "dateString":
			ms, ok := parseFindDate(val)
			if !ok {
				return qr, errBadRequest("find[%s] must be a date", field)
			}
			qr.restrict(op, ms)
		}
	}
	return qr, nil
}

// restrict narrows the window by one comparison.
func (qr *query) restrict(op string, ms int64) {
	switch op {
	case "gte":
		qr.from = max(qr.from, ms)
	case "gt":
		qr.from = max(qr.from, ms+1)
	case "lte":
		qr.to = min(qr.to, ms+1)
	case "lt":
		qr.to = min(qr.to, ms)
	case "", "eq":
		qr.from, qr.to = max(qr.from, ms), min(qr.to, ms+1)
	}
}

// maxMS bounds the dates accepted as numbers (about 285,000 years either
// side of 1970), so that converting them cannot overflow.
const maxMS = 1 << 53

// clampMS converts a number of milliseconds to int64 within ±maxMS; NaN is 0.
func clampMS(f float64) int64 {
	switch {
	case math.IsNaN(f):
		return 0
	case f > maxMS:
		return maxMS
	case f < -maxMS:
		return -maxMS
	}
	return int64(math.Floor(f))
}

// parseFindDate reads epoch milliseconds, or an ISO date or date-time (a
// time without zone is UTC), as clients filter on date and dateString.
func parseFindDate(s string) (int64, bool) {
	s = strings.TrimSpace(s)
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return clampMS(f), true
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.000Z0700", "2006-01-02T15:04:05Z0700",
		"2006-01-02T15:04:05.999999999", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UnixMilli(), true
		}
	}
	return 0, false
}

// GET /api/v1/entries, /api/v1/entries.json
// cgm-remote-monitor: the newest entries first, `count` of them (default
// 10), filtered by find[…]; an array, [] when none.
func (a *API) listEntries(c *call) error {
	qr, err := parseQuery(c.r.URL.Query())
	if err != nil {
		return err
	}
	return a.answerEntries(c, qr)
}

func (a *API) answerEntries(c *call, qr query) error {
	rs := []glucose.Reading{}
	if !qr.none {
		var err error
		if rs, err = a.svc.NightscoutReadings(c.ctx, c.acc, qr.from, qr.to, qr.count); err != nil {
			return err
		}
	}
	writeJSON(c.w, http.StatusOK, toEntries(c.acc.AccountID, rs))
	return nil
}

// GET /api/v1/entries/{spec}, with or without .json
// cgm-remote-monitor: spec is a type (sgv; mbg, cal and others have no
// entries here), "current" (the newest sgv, as an array of one), or an
// entry's _id.
func (a *API) entriesSpec(c *call) error {
	spec := strings.TrimSuffix(c.r.PathValue("spec"), ".json")
	qr, err := parseQuery(c.r.URL.Query())
	if err != nil {
		return err
	}
	switch {
	case spec == "sgv":
	case spec == "current":
		qr = query{from: math.MinInt64, to: math.MaxInt64, count: 1}
	case spec == "mbg" || spec == "cal" || spec == "meter" || spec == "sensor" || spec == "rawbg":
		qr.none = true
	case isEntryID(spec):
		return a.entryByID(c, spec)
	default:
		writeError(c.w, http.StatusNotFound, "Not found", "")
		return nil
	}
	return a.answerEntries(c, qr)
}

func isEntryID(s string) bool {
	if len(s) != 24 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// entryByID finds the reading whose _id is id: its leading seconds narrow
// the search to one second of readings.
func (a *API) entryByID(c *call, id string) error {
	b, _ := hex.DecodeString(id)
	from := int64(binary.BigEndian.Uint32(b[:4])) * 1000
	rs, err := a.svc.NightscoutReadings(c.ctx, c.acc, from, from+1000, 1000)
	if err != nil {
		return err
	}
	found := []entry{}
	for _, r := range rs {
		if entryID(c.acc.AccountID, r.ST) == id {
			found = append(found, toEntry(c.acc.AccountID, r))
		}
	}
	writeJSON(c.w, http.StatusOK, found)
	return nil
}

// postedEntry is one uploaded entry. Members are decoded leniently: a
// number may arrive as a string, and a member of the wrong type makes the
// entry invalid, not the request.
type postedEntry struct {
	Type       json.RawMessage `json:"type"`
	SGV        json.RawMessage `json:"sgv"`
	Date       json.RawMessage `json:"date"`
	DateString json.RawMessage `json:"dateString"`
	Direction  json.RawMessage `json:"direction"`
	Trend      json.RawMessage `json:"trend"`
	UTCOffset  json.RawMessage `json:"utcOffset"`
}

// POST /api/v1/entries, /api/v1/entries.json
// cgm-remote-monitor: an array of entries or a single one; the answer is
// the entries stored. glucoshare keeps type "sgv" (an entry without a type
// but with an sgv counts as one) and ignores other types with 200; an sgv
// entry without a usable value or date is skipped. Readings are
// deduplicated by date, the first write winning, and follow the value and
// time rules of the Share upload (core.ImportReadings). The date is `date`
// (epoch ms), else `dateString`; the direction is `direction`, else the
// numeric `trend`.
func (a *API) postEntries(c *call) error {
	raw, err := readBody(c.r)
	if err != nil {
		return err
	}
	items, err := splitEntries(raw)
	if err != nil {
		return err
	}
	egvs := make([]core.EGV, 0, len(items))
	for _, item := range items {
		if e, ok := parseEntry(item); ok {
			egvs = append(egvs, e)
		}
	}
	rs, _, err := a.svc.ImportReadings(c.ctx, c.acc.AccountID, egvs, c.now)
	if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusOK, toEntries(c.acc.AccountID, rs))
	return nil
}

func readBody(r *http.Request) ([]byte, error) {
	tooLarge := &badRequest{status: http.StatusRequestEntityTooLarge, message: "Request body too large"}
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

// splitEntries reads a JSON array of entries, or one entry object.
func splitEntries(body []byte) ([]json.RawMessage, error) {
	body = bytes.TrimSpace(bytes.TrimPrefix(body, []byte("\xef\xbb\xbf")))
	var items []json.RawMessage
	switch {
	case len(body) > 0 && body[0] == '[':
		if err := json.Unmarshal(body, &items); err != nil {
			return nil, errBadRequest("the body is not a JSON array of entries")
		}
	case len(body) > 0 && body[0] == '{':
		if !json.Valid(body) {
			return nil, errBadRequest("the body is not a JSON entry")
		}
		items = []json.RawMessage{body}
	default:
		return nil, errBadRequest("the body must be a JSON entry or an array of entries")
	}
	return items, nil
}

// parseEntry turns one uploaded entry into an EGV; false when it is not an
// sgv entry with a value 0–1000 and a date.
func parseEntry(raw json.RawMessage) (core.EGV, bool) {
	var p postedEntry
	if err := json.Unmarshal(raw, &p); err != nil {
		return core.EGV{}, false
	}
	typ, _ := jsonString(p.Type)
	if !strings.EqualFold(typ, "sgv") && (typ != "" || p.SGV == nil) {
		return core.EGV{}, false
	}
	value, ok := jsonNumber(p.SGV)
	if !ok || value < 0 || value > 1000 {
		return core.EGV{}, false
	}
	dateString, _ := jsonString(p.DateString)
	st, haveDate := jsonNumber(p.Date)
	var zoned time.Time
	if t, err := time.Parse(time.RFC3339Nano, dateString); err == nil {
		zoned = t
	} else if t, err := time.Parse("2006-01-02T15:04:05.000Z0700", dateString); err == nil {
		zoned = t
	}
	switch {
	case haveDate:
	case !zoned.IsZero():
		st = float64(zoned.UnixMilli())
	default:
		return core.EGV{}, false
	}
	if math.Abs(st) > maxMS {
		return core.EGV{}, false
	}
	return core.EGV{
		ST:     int64(math.Floor(st)),
		Value:  int(math.Round(value)),
		Trend:  trendOf(p),
		Offset: offsetOf(p, zoned),
	}, true
}

// trendOf maps the direction (or, without one, the numeric trend) to a
// Share trend.
func trendOf(p postedEntry) share.Trend {
	if dir, ok := jsonString(p.Direction); ok && dir != "" {
		return share.TrendFromDirection(dir)
	}
	return share.ParseTrend(p.Trend)
}

// offsetOf takes the reading's UTC offset from utcOffset (minutes), else
// from dateString's zone; 0 when neither is usable.
func offsetOf(p postedEntry, zoned time.Time) int {
	if off, ok := jsonNumber(p.UTCOffset); ok && math.Abs(off) <= 14*60 {
		return int(math.Round(off))
	}
	if !zoned.IsZero() {
		_, secs := zoned.Zone()
		if off := secs / 60; off >= -14*60 && off <= 14*60 {
			return off
		}
	}
	return 0
}

// jsonString reads a JSON string member.
func jsonString(raw json.RawMessage) (string, bool) {
	var s string
	if raw == nil || json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

// jsonNumber reads a JSON number, or a string holding one.
func jsonNumber(raw json.RawMessage) (float64, bool) {
	if raw == nil {
		return 0, false
	}
	var f float64
	if json.Unmarshal(raw, &f) == nil {
		return f, true
	}
	if s, ok := jsonString(raw); ok {
		if f, err := strconv.ParseFloat(strings.TrimSpace(s), 64); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) {
			return f, true
		}
	}
	return 0, false
}
