package nightscout

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/glucoshare/glucoshare/internal/glucose"
)

var queryNow = time.UnixMilli(1745081013817).UTC()

// window is the default four-day condition at queryNow.
var window = fmt.Sprintf("@date $gte %d", queryNow.Add(-defaultWindow).UnixMilli())

// describe writes a query's conditions, sort and limit compactly.
func describe(q glucose.DocQuery) string {
	var parts []string
	for _, c := range q.Where {
		vs := make([]string, len(c.Values))
		for i, v := range c.Values {
			vs[i] = v.String()
		}
		parts = append(parts, fmt.Sprintf("%s %s %s", c.Field, c.Op, strings.Join(vs, ",")))
	}
	for _, s := range q.Sort {
		parts = append(parts, fmt.Sprintf("sort %s desc=%v", s.Field, s.Desc))
	}
	if q.Limit > 0 {
		parts = append(parts, fmt.Sprintf("limit %d", q.Limit))
	}
	if q.Skip > 0 {
		parts = append(parts, fmt.Sprintf("skip %d", q.Skip))
	}
	return strings.Join(parts, "; ")
}

func TestParseV1Query(t *testing.T) {
	for _, c := range []struct {
		coll  v1Collection
		query string
		want  string // "" with err
		err   string
	}{
		{v1Entries, "", window + "; limit 10", ""},
		{v1Entries, "count=3", window + "; limit 3", ""},
		{v1Entries, "count=abc", window + "; limit 10", ""},
		{v1Entries, "count=0", window + "; limit 10", ""},
		{v1Entries, "count=99999", window + "; limit 10000", ""},
		{v1Entries, "find[sgv][$gte]=120.7", `sgv $gte 120; ` + window + "; limit 10", ""},
		{v1Entries, "find[sgv]=abc", "", "find[sgv] must be a number"},
		{v1Entries, "find[type]=mbg", `type $eq "mbg"; ` + window + "; limit 10", ""},
		{v1Entries, "find[type][$in][]=mbg&find[type][$in][]=cal", `type $in "mbg","cal"; ` + window + "; limit 10", ""},
		{v1Entries, "find[type][$in][0]=mbg", `type $in "mbg"; ` + window + "; limit 10", ""},
		{v1Entries, "find[date][$gt]=1745081013817", "@date $gt 1745081013817; limit 10", ""},
		{v1Entries, "find[dateString][$gte]=2025-04-19T16:43:33.817Z", "@date $gte 1745081013817; limit 10", ""},
		{v1Entries, "find[dateString][$gte]=2025-04-19T18:43:33.817 02:00", "@date $gte 1745081013817; limit 10", ""},
		{v1Entries, "find[date][$gte]=yesterday", "", "find[date] must be a date"},
		{v1Entries, "find[_id]=0123456789abcdef01234567", `_id $eq "0123456789abcdef01234567"; limit 10`, ""},
		{v1Entries, "find[sgv][$exists]=true", `sgv $ne null; ` + window + "; limit 10", ""},
		{v1Entries, "find[sgv][$where]=1", "", "unsupported operator $where"},
		{v1Entries, "find[a'b]=1", "", `cannot search by "a'b"`},
		{v1Entries, "sort[date]=1&count=2", window + "; sort @date desc=false; limit 2", ""},
		{v1Treatments, "", window, ""},
		{v1Treatments, "find[eventType]=Meal Bolus", `eventType $eq "Meal Bolus"; ` + window, ""},
		{v1Treatments, "find[eventType]=/bolus/i", `eventType $regex "(?i)bolus"; ` + window, ""},
		{v1Treatments, "find[eventType]=/bolus/x", "", "unsupported regular expression flag"},
		{v1Treatments, "find[notes][$regex]=^a(", "", "invalid regular expression"},
		{v1Treatments, "find[carbs][$gt]=20", `carbs $gt 20; ` + window, ""},
		{v1Treatments, "find[insulin]=2.5", `insulin $eq 2; ` + window, ""},
		{v1Treatments, "find[created_at][$gte]=2025-04-19", "@date $gte 1745020800000", ""},
		{v1Treatments, "find[created_at][$gte]=1745020800000", "@date $gte 1745020800000", ""},
		{v1Treatments, "find[_id]=8a0c2c3f-4a1a-4bbf-9a1e-6f0f4e1d2c3b", `identifier $eq "8a0c2c3f-4a1a-4bbf-9a1e-6f0f4e1d2c3b"`, ""},
		{v1Treatments, "find[boluscalc][foods][_id]=x", `boluscalc.foods._id $eq "x"; ` + window, ""},
		{v1DeviceStatus, "find[created_at][$lt]=2025-04-19T00:00:00%2B02:00", "@date $lt 1745013600000", ""},
		{v1Profiles, "", window, ""},
	} {
		values, err := url.ParseQuery(c.query)
		if err != nil {
			t.Fatal(err)
		}
		def := 0
		if c.coll.name == glucose.CollectionEntries {
			def = defaultCount
		}
		q, err := parseV1Query(values, c.coll, queryNow, def)
		switch {
		case c.err != "":
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s %q: %v, want an error containing %q", c.coll.name, c.query, err, c.err)
			}
		case err != nil:
			t.Errorf("%s %q: %v", c.coll.name, c.query, err)
		default:
			if got := describe(q); got != c.want {
				t.Errorf("%s %q:\n got %s\nwant %s", c.coll.name, c.query, got, c.want)
			}
		}
	}
}

func TestParseV3Query(t *testing.T) {
	dates := []string{"created_at"}
	tail := "sort identifier desc=false; sort @date desc=false; limit 1000"
	for _, c := range []struct {
		query string
		want  string
		err   string
	}{
		{"", tail, ""},
		{"limit=10&skip=5", "sort identifier desc=false; sort @date desc=false; limit 10; skip 5", ""},
		{"limit=0", "", "Parameter limit out of tolerance"},
		{"limit=1001", "", "Parameter limit out of tolerance"},
		{"skip=-1", "", "Parameter skip out of tolerance"},
		{"sort=date&sort$desc=date", "", "Parameters sort and sort_desc cannot be combined"},
		{"sort$desc=srvModified", "sort srvModified desc=true; sort identifier desc=true; sort @date desc=true; limit 1000", ""},
		{"eventType=Note", `eventType $eq "Note"; ` + tail, ""},
		{"eventType$eq='5'", `eventType $eq "5"; ` + tail, ""},
		{"carbs$gt=20.5", `carbs $gt 20.5; ` + tail, ""},
		{"isValid=false", `isValid $eq false; ` + tail, ""},
		{"date$gte=1745081013817", `@date $gte 1745081013817; ` + tail, ""},
		{"created_at$lt=2025-04-19T16:43:33.817Z", `@date $lt 1745081013817; ` + tail, ""},
		{"srvModified$gt=2025-04-19T16:43:33.817Z", `srvModified $gt 1745081013817; ` + tail, ""},
		{"date$gte=nonsense", "", "Bad or missing date field"},
		{"identifier$in=a|b|c", `identifier $in "a","b","c"; ` + tail, ""},
		{"type$nin=sgv|mbg", `type $nin "sgv","mbg"; ` + tail, ""},
		{"notes$re=^lunch", `notes $regex "^lunch"; ` + tail, ""},
		{"notes$re=(", "", "invalid regular expression"},
		{"carbs$foo=1", "", "Unsupported filter operator foo"},
		{"token=x&fields=a,b&now=1", tail, ""},
	} {
		values, err := url.ParseQuery(c.query)
		if err != nil {
			t.Fatal(err)
		}
		q, err := parseV3Query(values, dates)
		switch {
		case c.err != "":
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: %v, want an error containing %q", c.query, err, c.err)
			}
		case err != nil:
			t.Errorf("%q: %v", c.query, err)
		default:
			if got := describe(q.q); got != c.want {
				t.Errorf("%q:\n got %s\nwant %s", c.query, got, c.want)
			}
		}
	}
}

// checkQuery asserts what the store relies on from a parsed query (the
// store checks it again, so a failure here would be a 400, not a hole).
func checkQuery(t *testing.T, raw string, q glucose.DocQuery) {
	t.Helper()
	if q.Limit < 0 || q.Limit > maxCount || q.Skip < 0 {
		t.Fatalf("%q: limit %d, skip %d", raw, q.Limit, q.Skip)
	}
	n := 0
	for _, c := range q.Where {
		n += len(c.Values)
		if !glucose.ValidField(c.Field) {
			t.Fatalf("%q: field %q", raw, c.Field)
		}
		switch c.Op {
		case glucose.OpIn, glucose.OpNin:
		case glucose.OpRegex:
			if len(c.Values) != 1 || glucose.CheckRegex(c.Values[0].Str) != nil {
				t.Fatalf("%q: regex %v", raw, c.Values)
			}
		default:
			if len(c.Values) != 1 {
				t.Fatalf("%q: %s with %d values", raw, c.Op, len(c.Values))
			}
		}
	}
	if n > maxQueryValues*2 {
		t.Fatalf("%q: %d values", raw, n)
	}
	for _, s := range q.Sort {
		if !glucose.ValidField(s.Field) {
			t.Fatalf("%q: sort field %q", raw, s.Field)
		}
	}
}

// FuzzParseV1Query checks the find[…] parser on any query string: it
// never panics, and what it accepts is what the store can take.
func FuzzParseV1Query(f *testing.F) {
	for _, s := range []string{"count=10", "find[date][$gt]=1745081013817&count=1440",
		"find[eventType]=Site%20Change&count=1", "find[created_at][$gte]=2025-04-19T00:00:00.000Z&find[created_at][$lte]=2025-04-20",
		"find[type][$in][]=mbg&find[type][$in][]=cal", "find[eventType]=/bolus/i", "find[sgv][$exists]=true",
		"find[_id]=8a0c2c3f-4a1a-4bbf-9a1e-6f0f4e1d2c3b", "sort[created_at]=-1", "find[a][b][c][$in][3]=x", "find[]=1"} {
		f.Add(s, uint8(0))
	}
	colls := []v1Collection{v1Entries, v1Treatments, v1DeviceStatus, v1Profiles, v1Activity}
	f.Fuzz(func(t *testing.T, raw string, which uint8) {
		values, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		q, err := parseV1Query(values, colls[int(which)%len(colls)], queryNow, defaultCount)
		if err != nil {
			return
		}
		checkQuery(t, raw, q)
	})
}

// FuzzParseV3Query checks the API v3 filter parser the same way.
func FuzzParseV3Query(f *testing.F) {
	for _, s := range []string{"limit=500&sort=date&date$gt=1745081013817", "srvModified$gte=1745081013817&limit=1000",
		"identifier$in=a|b", "sort$desc=created_at&fields=date,sgv", "eventType$re=^Temp", "carbs$gte='5'", "isValid$ne=false",
		"created_at$lte=2025-04-19T16:43:33Z&skip=20"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		values, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		q, err := parseV3Query(values, []string{"created_at"})
		if err != nil {
			return
		}
		checkQuery(t, raw, q.q)
	})
}
