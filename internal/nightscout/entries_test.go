package nightscout_test

import (
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/glucoshare/glucoshare/internal/core"
	"github.com/glucoshare/glucoshare/share"
)

// samples are twelve readings five minutes apart, newest (0 min ago)
// first, cycling through all ten trends.
func samples() []reading {
	rs := make([]reading, 12)
	for i := range rs {
		rs[i] = reading{ago: 5 * i, value: 100 + i, trend: share.Trend(i % 10)}
	}
	return rs
}

func TestEntriesRead(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	sam := e.account("sam", samSecret)
	e.upload(sam, samples()...)
	auth := []string{"api-secret", core.NightscoutSecretHash(samSecret)}
	get := func(target string) []entry {
		t.Helper()
		return e.entries(e.do("GET", target, "", auth...))
	}

	// The entry object, exactly.
	r := e.do("GET", "/api/v1/entries.json?count=1", "", auth...)
	var raw []map[string]any
	if err := json.Unmarshal([]byte(r.body), &raw); err != nil || len(raw) != 1 {
		t.Fatalf("count=1: %s", r.body)
	}
	want := map[string]any{
		"_id": raw[0]["_id"], "type": "sgv", "sgv": 100.0, "date": float64(t0.UnixMilli()),
		"dateString": "2025-04-19T16:43:33.817Z", "trend": 0.0, "direction": "NONE",
		"device": "glucoshare", "sysTime": "2025-04-19T16:43:33.817Z", "utcOffset": -240.0,
	}
	if len(raw[0]) != len(want) {
		t.Errorf("entry members %v, want %v", raw[0], want)
	}
	for k, v := range want {
		if raw[0][k] != v {
			t.Errorf("entry %s = %v, want %v", k, raw[0][k], v)
		}
	}
	if id, _ := raw[0]["_id"].(string); len(id) != 24 {
		t.Errorf("_id %v: want 24 hex digits", raw[0]["_id"])
	}

	// Defaults and the Share trend table, newest first.
	es := get("/api/v1/entries.json")
	if len(es) != 10 {
		t.Fatalf("default count: %d entries, want 10", len(es))
	}
	directions := []string{"NONE", "DoubleUp", "SingleUp", "FortyFiveUp", "Flat", "FortyFiveDown",
		"SingleDown", "DoubleDown", "NOT COMPUTABLE", "RATE OUT OF RANGE"}
	for i, en := range es {
		if en.SGV != 100+i || en.Date != ms(5*i) || en.Trend != i || en.Direction != directions[i] {
			t.Errorf("entry %d: %+v", i, en)
		}
	}

	for _, c := range []struct {
		target string
		want   []int
	}{
		{"/api/v1/entries?count=3", []int{100, 101, 102}},
		{"/api/v1/entries.json?count=100", []int{100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 111}},
		{"/api/v1/entries.json?count=0", []int{100, 101, 102, 103, 104, 105, 106, 107, 108, 109}},
		{"/api/v1/entries/sgv.json?count=2", []int{100, 101}},
		{"/api/v1/entries/sgv?count=2", []int{100, 101}},
		{"/api/v1/entries/current.json", []int{100}},
		{"/api/v1/entries/current", []int{100}},
		{"/api/v1/entries/mbg.json", []int{}},
		{"/api/v1/entries.json?find[type]=mbg", []int{}},
		{"/api/v1/entries.json?find[type]=sgv&count=1", []int{100}},
		{"/api/v1/entries.json?" + url.Values{"find[date][$gte]": {itoa(ms(10))}}.Encode(), []int{100, 101, 102}},
		{"/api/v1/entries.json?" + url.Values{"find[date][$gt]": {itoa(ms(10))}}.Encode(), []int{100, 101}},
		{"/api/v1/entries.json?" + url.Values{"find[date][$lt]": {itoa(ms(45))}}.Encode(), []int{110, 111}},
		{"/api/v1/entries.json?" + url.Values{"find[date][$lte]": {itoa(ms(45))}}.Encode(), []int{109, 110, 111}},
		{"/api/v1/entries.json?" + url.Values{"find[date][$lte]": {itoa(ms(45))}, "find[date][$gt]": {itoa(ms(55))}}.Encode(), []int{109, 110}},
		{"/api/v1/entries.json?" + url.Values{"find[date]": {itoa(ms(20))}}.Encode(), []int{104}},
		{"/api/v1/entries/sgv.json?" + url.Values{"find[dateString][$gte]": {"2025-04-19T16:33:33.817Z"}}.Encode(), []int{100, 101, 102}},
		{"/api/v1/entries/sgv.json?" + url.Values{"find[dateString][$gte]": {"2025-04-19T12:33:33.817-04:00"}}.Encode(), []int{100, 101, 102}},
		{"/api/v1/entries.json?" + url.Values{"find[dateString][$lt]": {"2025-04-19"}}.Encode(), []int{}},
		{"/api/v1/entries.json?" + url.Values{"find[dateString][$gte]": {"2025-04-19"}, "count": {"1"}}.Encode(), []int{100}},
		{"/api/v1/entries.json?" + url.Values{"find[date][$gte]": {"1e300"}}.Encode(), []int{}},
		{"/api/v1/entries.json?count=1&" + url.Values{"find[date][$lt]": {"1e300"}}.Encode(), []int{100}},
		// Filters on fields glucoshare does not filter are ignored.
		{"/api/v1/entries.json?count=1&find[sgv][$gte]=0", []int{100}},
	} {
		if got := values(get(c.target)); !slices.Equal(got, c.want) {
			t.Errorf("%s: %v, want %v", c.target, got, c.want)
		}
	}

	// An entry is found again by its _id.
	second := get("/api/v1/entries.json?count=2")[1]
	if got := get("/api/v1/entries/" + second.ID); len(got) != 1 || got[0] != second {
		t.Errorf("by _id: %+v, want %+v", got, second)
	}
	if got := get("/api/v1/entries/0123456789abcdef01234567"); len(got) != 0 {
		t.Errorf("unknown _id: %+v", got)
	}

	if r := e.do("GET", "/api/v1/entries.json?find[date][$gte]=yesterday", "", auth...); r.status != 400 {
		t.Errorf("bad date filter: %d %s", r.status, r.body)
	}
	// A spec that is no id is a type, as in Nightscout: none of those.
	if got := get("/api/v1/entries/nonsense.json"); len(got) != 0 {
		t.Errorf("unknown type: %+v", got)
	}
	for _, path := range []string{"/api/v1/nonsense.json", "/api/v2/nonsense", "/api/v1/entries/sgv/more", "/ns/"} {
		if r := e.do("GET", path, "", auth...); r.status != 404 || r.body != `{"status":404,"message":"Not found"}` {
			t.Errorf("unknown API path %s: %d %s", path, r.status, r.body)
		}
	}
}

func TestEntriesPost(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.account("sam", samSecret)
	auth := []string{"api-secret", core.NightscoutSecretHash(samSecret), "Content-Type", "application/json"}
	post := func(body string) []entry {
		t.Helper()
		return e.entries(e.do("POST", "/api/v1/entries.json", body, auth...))
	}

	// xDrip+ and the bridge post arrays; direction wins over trend; all of
	// Nightscout's directions map through the Share trend table.
	directions := map[string]share.Trend{
		"NONE": 0, "TripleUp": 1, "DoubleUp": 1, "SingleUp": 2, "FortyFiveUp": 3, "Flat": 4,
		"FortyFiveDown": 5, "SingleDown": 6, "DoubleDown": 7, "TripleDown": 7,
		"NOT COMPUTABLE": 8, "RATE OUT OF RANGE": 9, "something else": 0,
	}
	var batch []map[string]any
	wantTrend := map[int64]share.Trend{}
	i := 0
	for dir, trend := range directions {
		date := ms(100 - i)
		batch = append(batch, map[string]any{"type": "sgv", "sgv": 150, "date": date, "direction": dir, "trend": 1, "device": "xDrip-DexcomG6"})
		wantTrend[date] = trend
		i++
	}
	body, _ := json.Marshal(batch)
	if got := post(string(body)); len(got) != len(directions) {
		t.Errorf("POST answered %d entries, want %d", len(got), len(directions))
	}
	stored := e.entries(e.do("GET", "/api/v1/entries.json?count=100", "", auth...))
	if len(stored) != len(directions) {
		t.Fatalf("stored %d entries, want %d", len(stored), len(directions))
	}
	for _, en := range stored {
		if share.Trend(en.Trend) != wantTrend[en.Date] || en.Direction != share.NightscoutDirection(wantTrend[en.Date]) {
			t.Errorf("entry at %d: trend %d %q, want %d", en.Date, en.Trend, en.Direction, wantTrend[en.Date])
		}
	}

	// A single object; the numeric trend when there is no direction; the
	// date from dateString, with its offset.
	post(`{"type":"sgv","sgv":"123","date":` + itoa(ms(3)) + `,"trend":5,"utcOffset":60}`)
	post(`{"sgv":124.6,"dateString":"2025-04-19T18:41:33.817+02:00"}`)
	got := e.entries(e.do("GET", "/api/v1/entries.json?count=2", "", auth...))
	if len(got) != 2 || got[0].SGV != 125 || got[0].Date != ms(2) || got[0].UTCOffset != 120 || got[0].Direction != "NONE" ||
		got[1].SGV != 123 || got[1].Trend != 5 || got[1].UTCOffset != 60 {
		t.Errorf("single entries: %+v", got)
	}

	// Dedupe by date, the first write winning; unusable entries skipped;
	// the Share value and time rules apply. Other types are documents
	// (TestEntriesOfOtherTypes).
	post(`[{"type":"sgv","sgv":300,"date":` + itoa(ms(3)) + `},
		{"type":"sgv","sgv":"high","date":` + itoa(ms(6)) + `},
		{"type":"sgv","sgv":100},
		{"type":"sgv","sgv":-5,"date":` + itoa(ms(7)) + `},
		{"type":"sgv","sgv":5,"date":` + itoa(ms(8)) + `},
		{"type":"sgv","sgv":20,"date":` + itoa(ms(9)) + `},
		{"type":"sgv","sgv":500,"date":` + itoa(ms(10)) + `},
		{"type":"sgv","sgv":110,"date":` + itoa(t0.Add(6*time.Minute).UnixMilli()) + `},
		{"type":"sgv","sgv":110,"date":1000}]`)
	got = e.entries(e.do("GET", "/api/v1/entries.json?count=6", "", auth...))
	if vs := values(got); !slices.Equal(vs, []int{125, 123, 39, 401, 150, 150}) {
		t.Errorf("after rules: %v, want [125 123 39 401 150 150]", vs)
	}

	if r := e.do("POST", "/api/v1/entries", "["+strings.Repeat(" ", 8<<20)+"]", auth...); r.status != 413 {
		t.Errorf("POST over 8 MiB: %d %s, want 413", r.status, r.body)
	}
	// A batch with an element that is not an entry is refused whole.
	before := values(e.entries(e.do("GET", "/api/v1/entries.json?count=100", "", auth...)))
	for _, bad := range []string{"", "nonsense", "[1,", `{"sgv":`, `[{"type":"sgv","sgv":99,"date":` + itoa(ms(20)) + `}, "not an object", 17]`,
		`{"notes":"\u0000"}`} {
		if r := e.do("POST", "/api/v1/entries", bad, auth...); r.status != 400 {
			t.Errorf("POST %q: %d %s, want 400", bad, r.status, r.body)
		}
	}
	if after := values(e.entries(e.do("GET", "/api/v1/entries.json?count=100", "", auth...))); !slices.Equal(after, before) {
		t.Errorf("a refused batch changed the entries: %v, then %v", before, after)
	}
}

func TestPebble(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	sam := e.account("sam", samSecret)
	e.upload(sam, reading{0, 120, 4}, reading{5, 126, 5}, reading{30, 180, 6})
	auth := []string{"api-secret", core.NightscoutSecretHash(samSecret)}
	for _, c := range []struct{ target, want string }{
		{"/pebble", `{"status":[{"now":1745081013817}],"bgs":[{"sgv":"120","trend":4,"direction":"Flat","datetime":1745081013817,"bgdelta":-6}],"cals":[]}`},
		{"/pebble?count=2&units=mmol", `{"status":[{"now":1745081013817}],"bgs":[{"sgv":"6.7","trend":4,"direction":"Flat","datetime":1745081013817,"bgdelta":-0.3},{"sgv":"7.0","trend":5,"direction":"FortyFiveDown","datetime":1745080713817}],"cals":[]}`},
	} {
		if r := e.do("GET", c.target, "", auth...); r.status != 200 || r.body != c.want {
			t.Errorf("%s: %d %s\nwant %s", c.target, r.status, r.body, c.want)
		}
	}
	// No delta across a gap.
	kim := e.account("kim", kimSecret)
	e.upload(kim, reading{0, 120, 4}, reading{30, 126, 5})
	r := e.do("GET", "/pebble", "", "api-secret", core.NightscoutSecretHash(kimSecret))
	if want := `{"status":[{"now":1745081013817}],"bgs":[{"sgv":"120","trend":4,"direction":"Flat","datetime":1745081013817}],"cals":[]}`; r.body != want {
		t.Errorf("pebble across a gap: %s\nwant %s", r.body, want)
	}
}
