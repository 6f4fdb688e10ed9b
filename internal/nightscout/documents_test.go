package nightscout_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/glucoshare/glucoshare/internal/core"
)

// TestEntriesOfOtherTypes: meter values and calibrations are stored beside
// the readings (Loop compares the count its POST echoes), and every
// entries query merges both by date, with count applied to the merge.
func TestEntriesOfOtherTypes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.account("sam", samSecret)
	auth := []string{"api-secret", core.NightscoutSecretHash(samSecret), "Content-Type", "application/json"}
	// Loop's batch (LoopKit NightscoutKit, NightscoutEntry): sgv and mbg.
	body := fmt.Sprintf(`[{"type":"sgv","sgv":110,"date":%d,"direction":"Flat","device":"loop://iPhone"},
		{"type":"mbg","mbg":105,"date":%d,"device":"loop://iPhone"},
		{"type":"sgv","sgv":115,"date":%d,"direction":"Flat"},
		{"type":"cal","slope":900,"intercept":30000,"scale":1,"date":%d},
		{"type":"sgv","sgv":120,"date":%d,"direction":"Flat"}]`, ms(20), ms(12), ms(10), ms(7), ms(0))
	echo := e.entries(e.do("POST", "/api/v1/entries", body, auth...))
	if got := types(echo); got != "sgv mbg sgv cal sgv" {
		t.Fatalf("echo: %s, want every entry in the order sent", got)
	}
	for _, c := range []struct{ target, want string }{
		{"/api/v1/entries.json", "sgv cal sgv mbg sgv"},
		{"/api/v1/entries.json?count=3", "sgv cal sgv"},
		{"/api/v1/entries/sgv.json?count=2", "sgv sgv"},
		{"/api/v1/entries.json?find[type]=mbg", "mbg"},
		{"/api/v1/entries.json?find[type][$ne]=sgv", "cal mbg"},
		{"/api/v1/entries/current.json", "sgv"},
		{"/api/v1/entries.json?count=2&" + "find[date][$lt]=" + itoa(ms(5)), "cal sgv"},
		// The two oldest, shown newest first as format_entries sorts them.
		{"/api/v1/entries.json?sort[date]=1&count=2", "mbg sgv"},
	} {
		if got := types(e.entries(e.do("GET", c.target, "", auth...))); got != c.want {
			t.Errorf("%s: %s, want %s", c.target, got, c.want)
		}
	}
	// A meter value sent again at the same time replaces (merges into) the
	// first, as Nightscout's upsert on sysTime and type does.
	again := e.entries(e.do("POST", "/api/v1/entries", fmt.Sprintf(`{"type":"mbg","mbg":106,"date":%d}`, ms(12)), auth...))
	r := e.do("GET", "/api/v1/entries.json?find[type]=mbg", "", auth...)
	var mbgs []map[string]any
	json.Unmarshal([]byte(r.body), &mbgs)
	if len(again) != 1 || len(mbgs) != 1 || mbgs[0]["mbg"] != 106.0 || mbgs[0]["device"] != "loop://iPhone" {
		t.Errorf("the meter value sent again: %s", r.body)
	}
	// Deleting a type deletes that type only.
	if r := e.do("DELETE", "/api/v1/entries/mbg", "", auth...); r.body != `{"acknowledged":true,"deletedCount":1}` {
		t.Errorf("DELETE mbg: %s", r.body)
	}
	if got := types(e.entries(e.do("GET", "/api/v1/entries.json", "", auth...))); got != "sgv cal sgv sgv" {
		t.Errorf("after deleting mbg: %s", got)
	}
}

func types(es []entry) string {
	var ts []string
	for _, e := range es {
		ts = append(ts, e.Type)
	}
	return strings.Join(ts, " ")
}

// TestDocumentLimits: documents are bounded one by one and per account,
// with clear errors, and a refused request stores nothing.
func TestDocumentLimits(t *testing.T) {
	t.Parallel()
	e := newEnvConfig(t, core.Config{NightscoutQuota: 2000})
	e.account("sam", samSecret)
	auth := []string{"api-secret", core.NightscoutSecretHash(samSecret), "Content-Type", "application/json"}
	note := func(i int, size int) string {
		return fmt.Sprintf(`{"eventType":"Note","created_at":"2025-04-19T16:%02d:00Z","notes":%q}`, i, strings.Repeat("x", size))
	}
	count := func() int {
		r := e.do("GET", "/api/v1/treatments.json?count=1000", "", auth...)
		var ds []any
		json.Unmarshal([]byte(r.body), &ds)
		return len(ds)
	}
	if r := e.do("POST", "/api/v1/treatments", "["+note(1, 300)+","+note(2, 300)+"]", auth...); r.status != 200 {
		t.Fatalf("within the quota: %d %s", r.status, r.body)
	}
	// A batch that would cross the quota is refused whole.
	r := e.do("POST", "/api/v1/treatments", "["+note(3, 300)+","+note(4, 900)+"]", auth...)
	if r.status != 507 || !strings.Contains(r.body, "storage limit") {
		t.Errorf("over the quota: %d %s, want 507", r.status, r.body)
	}
	if n := count(); n != 2 {
		t.Errorf("%d treatments after the refused batch, want 2", n)
	}
	for _, c := range []struct {
		what, body string
		status     int
	}{
		{"a document over 1 MiB", note(5, 1<<20), 413},
		{"a body over 8 MiB", "[" + strings.Repeat(note(6, 1000)+",", 8500) + note(7, 1) + "]", 413},
		{"nesting 40 levels deep", strings.Repeat(`{"a":`, 40) + "1" + strings.Repeat("}", 40), 400},
		{"a NUL character", `{"eventType":"Note","notes":"a\u0000b"}`, 400},
		{"a number out of range", `{"eventType":"Note","carbs":1e999}`, 400},
		{"not JSON", `{"eventType":`, 400},
	} {
		if r := e.do("POST", "/api/v1/treatments", c.body, auth...); r.status != c.status {
			t.Errorf("%s: %d %.200s, want %d", c.what, r.status, r.body, c.status)
		}
	}
	if n := count(); n != 2 {
		t.Errorf("%d treatments after the refused requests, want 2", n)
	}
}

// TestIfModifiedSince: entries and treatments answer 304 when nothing is
// newer than the client's copy, as Nightscout does.
func TestIfModifiedSince(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	sam := e.account("sam", samSecret)
	e.upload(sam, reading{1, 120, 4})
	auth := []string{"api-secret", core.NightscoutSecretHash(samSecret)}
	r := e.do("GET", "/api/v1/entries.json", "", auth...)
	last := r.header.Get("Last-Modified")
	if last != t0.Add(-time.Minute).Format(http.TimeFormat) {
		t.Fatalf("Last-Modified %q", last)
	}
	if r := e.do("GET", "/api/v1/entries.json", "", append(auth, "If-Modified-Since", last)...); r.status != 304 || r.body != "" {
		t.Errorf("not modified: %d %q", r.status, r.body)
	}
	e.upload(sam, reading{0, 125, 4})
	if r := e.do("GET", "/api/v1/entries.json", "", append(auth, "If-Modified-Since", last)...); r.status != 200 {
		t.Errorf("modified: %d", r.status)
	}
}
