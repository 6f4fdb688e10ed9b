package nightscout

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/glucoshare/glucoshare/internal/glucose"
	"github.com/glucoshare/glucoshare/share"
)

// appendJSON must write exactly what json.Marshal writes, escapes and all.
func TestEntryAppendJSON(t *testing.T) {
	r := glucose.Reading{ST: 1745081013817, Value: 120, Trend: share.Trend(4), Offset: -240}
	entries := []entry{
		entryOf("2f0c62a8-3c51-4b8e-9a55-5d7f3f4f2f10", r, device),
		entryOf("x", glucose.Reading{ST: -1, Value: 0, Trend: share.Trend(9), Offset: 840}, mirrorDevice),
		{ID: `"<&>\`, Type: "\u2028\x00\x1f", Device: "é\xff", Direction: "NOT COMPUTABLE", SGV: -5, Date: -9e15},
		{},
	}
	for _, e := range entries {
		want, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		if got := e.appendJSON([]byte("prefix")); string(got) != "prefix"+string(want) {
			t.Errorf("appendJSON:\n got %s\nwant prefix%s", got, want)
		}
	}
	for trend := range 16 {
		e := entryOf("a", glucose.Reading{ST: 1, Trend: share.Trend(trend)}, device)
		want, _ := json.Marshal(e)
		if got := e.appendJSON(nil); string(got) != string(want) {
			t.Errorf("trend %d: got %s, want %s", trend, got, want)
		}
	}
}

// appendISOMillis and appendHTTPDate must write exactly what Format writes.
func TestAppendDates(t *testing.T) {
	ms := []int64{0, 1, -1, 999, 1745081013817, 1745081013000, -62135596800000, -62135596800001, 253402300799999,
		253402300800000, -62167219200000, 951782400000, 4102444799999}
	for i := int64(0); i < 2000; i++ {
		ms = append(ms, i*7919*3600_013+i%1000, -i*1_000_003_331)
	}
	for _, m := range ms {
		for _, tm := range []time.Time{glucose.FromMS(m), time.UnixMilli(m).In(time.FixedZone("x", 3600))} {
			if got, want := string(appendISOMillis([]byte("p"), tm)), "p"+tm.Format(isoMillis); got != want {
				t.Errorf("appendISOMillis(%d) = %s, want %s", m, got, want)
			}
			if got, want := string(appendHTTPDate(nil, tm)), tm.Format(http.TimeFormat); got != want {
				t.Errorf("appendHTTPDate(%d) = %s, want %s", m, got, want)
			}
		}
	}
}

// The polled GET routes are served without the mux's matching (route);
// routes checks each against the mux, so a route missing here would be
// one the mux sends elsewhere.
func TestRouteGets(t *testing.T) {
	a := New(nil, Options{})
	defer a.Close()
	for _, p := range []string{"/api/v1/entries.json", "/api/v1/entries", "/api/v1/status.json", "/pebble", "/api/v1/treatments.json"} {
		if a.gets[p] == nil {
			t.Errorf("GET %s is not routed directly", p)
		}
	}
	for _, p := range []string{"/api/v1/entries/", "/api/v1/entries/current", "/api/v1/entries/{spec}", "/api/v2/properties/{names...}"} {
		if a.gets[p] != nil {
			t.Errorf("GET %s is routed directly", p)
		}
	}
}
