package nightscout_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/glucoshare/glucoshare/internal/core"
)

// v3Entry is an entry as API v3 shows it.
type v3Entry struct {
	Identifier  string `json:"identifier"`
	SGV         int    `json:"sgv"`
	Date        int64  `json:"date"`
	SrvModified int64  `json:"srvModified"`
	IsValid     *bool  `json:"isValid"`
}

func v3Entries(t *testing.T, r response) []v3Entry {
	t.Helper()
	var got struct{ Result []v3Entry }
	if r.status != 200 || json.Unmarshal([]byte(r.body), &got) != nil {
		t.Fatalf("%d %s", r.status, r.body)
	}
	return got.Result
}

// Readings through API v3: a created sgv entry is a reading Share serves;
// it is never modified, and a deletion — soft, by PATCH isValid false, or
// permanent — takes it out of the account's values, the soft ones leaving
// a history entry that the Last-Modified header finds from its second on.
func TestV3Readings(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	sam := e.account("sam", samSecret)
	auth := []string{"Authorization", "Bearer " + e.jwt(e.token(sam, false))}
	post := func(minutesAgo, sgv int) string {
		t.Helper()
		r := e.do("POST", "/api/v3/entries", fmt.Sprintf(`{"type":"sgv","sgv":%d,"date":%d,"utcOffset":0,"app":"test","device":"x"}`,
			sgv, t0.Add(-time.Duration(minutesAgo)*time.Minute).UnixMilli()), auth...)
		var created struct{ Identifier string }
		if r.status != 201 || json.Unmarshal([]byte(r.body), &created) != nil {
			t.Fatalf("create: %d %s", r.status, r.body)
		}
		return created.Identifier
	}
	first, second, third := post(15, 100), post(10, 110), post(5, 120)
	rs, err := e.svc.LatestReadings(context.Background(), sam, core.ReadQuery{Minutes: 60, MaxCount: 10}, e.clock.Now())
	if err != nil || len(rs) != 3 || rs[0].Value != 120 {
		t.Fatalf("Share's view of the uploads: %+v, %v", rs, err)
	}
	e.clock.Advance(10 * time.Second)
	changedAt := e.clock.Now()

	if r := e.do("PUT", "/api/v3/entries/"+first, `{"type":"sgv","sgv":101,"app":"test"}`, auth...); r.status != 422 {
		t.Errorf("PUT of a reading: %d %s, want 422", r.status, r.body)
	}
	if r := e.do("PATCH", "/api/v3/entries/"+first, `{"sgv":101}`, auth...); r.status != 422 {
		t.Errorf("PATCH of a reading's value: %d %s, want 422", r.status, r.body)
	}
	if r := e.do("PATCH", "/api/v3/entries/"+first, `{"isValid":false}`, auth...); r.status != 200 {
		t.Errorf("PATCH isValid false: %d %s", r.status, r.body)
	}
	if r := e.do("DELETE", "/api/v3/entries/"+second, "", auth...); r.status != 200 {
		t.Errorf("DELETE: %d %s", r.status, r.body)
	}
	if r := e.do("DELETE", "/api/v3/entries/"+third+"?permanent=true", "", auth...); r.status != 200 {
		t.Errorf("DELETE permanent: %d %s", r.status, r.body)
	}
	for id, want := range map[string]int{first: 410, second: 410, third: 404} {
		if r := e.do("GET", "/api/v3/entries/"+id, "", auth...); r.status != want {
			t.Errorf("read %s: %d, want %d", id, r.status, want)
		}
	}
	rs, err = e.svc.LatestReadings(context.Background(), sam, core.ReadQuery{Minutes: 60, MaxCount: 10}, e.clock.Now())
	if err != nil || len(rs) != 0 {
		t.Errorf("Share still serves %+v", rs)
	}

	// From the header's second (floored, inclusive): both soft deletions,
	// not the permanent one, nor the uploads 10 s before.
	since := []string{"Last-Modified", changedAt.UTC().Format(http.TimeFormat)}
	got := v3Entries(t, e.do("GET", "/api/v3/entries/history", "", append(since, auth...)...))
	if len(got) != 2 || got[0].Identifier != first || got[1].Identifier != second || got[0].IsValid == nil || *got[0].IsValid ||
		got[0].SrvModified != changedAt.UnixMilli() {
		t.Errorf("history since the changes: %+v, want the two soft deletions, isValid false", got)
	}
	// A path's lastModified is exclusive.
	if got := v3Entries(t, e.do("GET", fmt.Sprintf("/api/v3/entries/history/%d", changedAt.UnixMilli()), "", auth...)); len(got) != 0 {
		t.Errorf("history after the changes: %+v, want none", got)
	}
	// Deleted for good, a deleted reading leaves the history too.
	if r := e.do("DELETE", "/api/v3/entries/"+second+"?permanent=true", "", auth...); r.status != 200 {
		t.Errorf("DELETE permanent of a deleted reading: %d %s", r.status, r.body)
	}
	if got := v3Entries(t, e.do("GET", "/api/v3/entries/history", "", append(since, auth...)...)); len(got) != 1 || got[0].Identifier != first {
		t.Errorf("history after the permanent deletion: %+v, want the first deletion alone", got)
	}
	if r := e.do("GET", "/api/v3/entries/"+second, "", auth...); r.status != 404 {
		t.Errorf("read the reading deleted for good: %d, want 404", r.status)
	}
	// Uploaded again, a deleted reading is live again.
	if id := post(15, 100); id != first {
		t.Errorf("identifier of the reading stored again: %s, want %s", id, first)
	}
	if r := e.do("GET", "/api/v3/entries/"+first, "", auth...); r.status != 200 {
		t.Errorf("read the reading stored again: %d", r.status)
	}
}

// Deleting what is already deleted, as Nightscout 15 answers it
// (lib/api3/generic/delete/operation.js, recorded in testdata/golden/
// v3.json): API v3 answers 200 and marks the deletion again, so its
// srvModified moves on and history reports it once more, for a reading
// and a document alike; API v1 deletes nothing more.
func TestV3DeleteAgain(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	sam := e.account("sam", samSecret)
	auth := []string{"Authorization", "Bearer " + e.jwt(e.token(sam, false))}
	create := func(path, body string) string {
		t.Helper()
		r := e.do("POST", path, body, auth...)
		var created struct{ Identifier string }
		if r.status != 201 || json.Unmarshal([]byte(r.body), &created) != nil {
			t.Fatalf("create: %d %s", r.status, r.body)
		}
		return created.Identifier
	}
	at := t0.Add(-10 * time.Minute).UnixMilli()
	for _, c := range []struct{ collection, body string }{
		{"entries", fmt.Sprintf(`{"type":"sgv","sgv":140,"date":%d,"utcOffset":0,"app":"test","device":"x"}`, at)},
		{"treatments", fmt.Sprintf(`{"eventType":"Note","notes":"x","date":%d,"utcOffset":0,"app":"test"}`, at)},
	} {
		id := create("/api/v3/"+c.collection, c.body)
		history := func(after int64) []v3Entry {
			t.Helper()
			return v3Entries(t, e.do("GET", fmt.Sprintf("/api/v3/%s/history/%d", c.collection, after), "", auth...))
		}
		e.clock.Advance(time.Second)
		first := e.clock.Now().UnixMilli()
		if r := e.do("DELETE", "/api/v3/"+c.collection+"/"+id, "", auth...); r.status != 200 {
			t.Fatalf("%s: DELETE: %d %s", c.collection, r.status, r.body)
		}
		e.clock.Advance(time.Second)
		again := e.clock.Now().UnixMilli()
		if r := e.do("DELETE", "/api/v3/"+c.collection+"/"+id, "", auth...); r.status != 200 || r.body != `{"status":200}` {
			t.Errorf("%s: DELETE again: %d %s, want 200", c.collection, r.status, r.body)
		}
		got := history(first)
		if len(got) != 1 || got[0].Identifier != id || got[0].SrvModified != again || got[0].IsValid == nil || *got[0].IsValid {
			t.Errorf("%s: history after the first deletion: %+v, want %s deleted again at %d", c.collection, got, id, again)
		}
		if r := e.do("GET", "/api/v3/"+c.collection+"/"+id, "", auth...); r.status != 410 {
			t.Errorf("%s: read after deleting twice: %d, want 410", c.collection, r.status)
		}
	}

	// API v1 deletes a reading once; the second time finds nothing.
	v1 := []string{"api-secret", core.NightscoutSecretHash(samSecret)}
	r := e.do("POST", "/api/v1/entries", fmt.Sprintf(`[{"type":"sgv","sgv":150,"date":%d,"device":"x"}]`, at+60_000), v1...)
	var posted []struct {
		ID string `json:"_id"`
	}
	if r.status != 200 || json.Unmarshal([]byte(r.body), &posted) != nil || len(posted) != 1 {
		t.Fatalf("v1 POST: %d %s", r.status, r.body)
	}
	for _, want := range []string{`{"acknowledged":true,"deletedCount":1}`, `{"acknowledged":true,"deletedCount":0}`} {
		if r := e.do("DELETE", "/api/v1/entries/"+posted[0].ID, "", v1...); r.status != 200 || r.body != want {
			t.Errorf("v1 DELETE: %d %s, want 200 %s", r.status, r.body, want)
		}
	}
}
