package e2e

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

// API v3 as the apps that use it send it, against a real glucoshare over
// HTTP: AndroidAPS's NSClient v3 and Juggluco's v3 uploader. Helpers here
// are prefixed v3 to keep clear of the API v1 apps' tests.

// v3Account is an account set up for Nightscout: its API secret and a
// read-write access token.
type v3Account struct {
	account
	secret, token string
}

func v3NewAccount(t *testing.T, s *server, name, tokenName string) v3Account {
	t.Helper()
	a := v3Account{account: s.addAccount(t, name, name, "", "correct horse battery staple")}
	a.secret = strings.TrimSpace(s.cli(t, "account", "nightscout-secret", name, "--generate"))
	a.token = strings.TrimSpace(s.cli(t, "account", "nightscout-token", name, "--name", tokenName))
	return a
}

// v3Decode decodes an answer's JSON body.
func v3Decode(t *testing.T, what string, r reply, status int, v any) {
	t.Helper()
	if r.status != status {
		t.Fatalf("%s: status %d, want %d: %s", what, r.status, status, r.body)
	}
	if err := json.Unmarshal([]byte(r.body), v); err != nil {
		t.Fatalf("%s: %v: %s", what, err, r.body)
	}
}

// aapsClient sends requests as AndroidAPS's NSClient v3 does
// (core/nssdk/src/main/kotlin/app/aaps/core/nssdk/networking/
// NSAuthInterceptor.kt @ 50fb6b94): every request carries a Date header
// in milliseconds and "Authorization: Bearer <jwt>", the JWT empty at
// first; on 401 or 403 it asks GET v2/authorization/request/{token}
// (NightscoutAuthRefreshService.kt) and retries with the new JWT.
type aapsClient struct {
	s     *server
	token string
	jwt   string
}

func (c *aapsClient) send(t *testing.T, method, path, body string) reply {
	t.Helper()
	r := c.once(t, method, path, body)
	if r.status != 401 && r.status != 403 {
		return r
	}
	auth := c.s.do(t, call{method: "GET", path: "/api/v2/authorization/request/" + c.token})
	var got struct{ Token string }
	v3Decode(t, "authorization request", auth, 200, &got)
	c.jwt = got.Token
	return c.once(t, method, path, body)
}

func (c *aapsClient) once(t *testing.T, method, path, body string) reply {
	hdr := []string{"Date", strconv.FormatInt(time.Now().UnixMilli(), 10), "Authorization", "Bearer " + c.jwt,
		"Accept-Encoding", "gzip"}
	if body != "" {
		hdr = append(hdr, "Content-Type", "application/json; charset=UTF-8")
	}
	return c.s.do(t, call{method: method, path: path, header: hdr, body: body})
}

// aapsEntry and aapsTreatment are the members AndroidAPS reads from API
// v3's documents (core/nssdk/src/main/kotlin/app/aaps/core/nssdk/
// remotemodel/RemoteEntry.kt @ 0d969ac8, RemoteTreatment.kt @ 18124771);
// the bodies it uploads are those classes serialised, nulls left out.
type aapsEntry struct {
	Type        string   `json:"type"`
	SGV         *float64 `json:"sgv"`
	Date        int64    `json:"date"`
	Identifier  string   `json:"identifier"`
	SrvModified int64    `json:"srvModified"`
	IsValid     *bool    `json:"isValid"`
}

type aapsTreatment struct {
	EventType   string   `json:"eventType"`
	Identifier  string   `json:"identifier"`
	Date        int64    `json:"date"`
	Insulin     *float64 `json:"insulin"`
	Notes       string   `json:"notes"`
	SrvModified int64    `json:"srvModified"`
	IsValid     *bool    `json:"isValid"`
}

// aapsCreated is RemoteCreateUpdateResponse.
type aapsCreated struct {
	Identifier      string `json:"identifier"`
	IsDeduplication bool   `json:"isDeduplication"`
	LastModified    int64  `json:"lastModified"`
}

// AndroidAPS's NSClient v3 against glucoshare, in the order
// NSClientV3Plugin runs it with the calls of NightscoutRemoteService.kt
// (core/nssdk/src/main/kotlin/app/aaps/core/nssdk/networking/
// NightscoutRemoteService.kt @ f141b7da): status, lastModified, uploads of
// a reading and a treatment, then history rounds. Between rounds the data
// changes elsewhere (API v1: a treatment edited, a reading uploaded,
// another deleted), and each change comes back in the next round exactly
// once, deletions with isValid false.
func TestAndroidAPSNightscoutV3(t *testing.T) {
	s := startServer(t)
	sam := v3NewAccount(t, s, "sam", "AAPS")
	aaps := &aapsClient{s: s, token: sam.token}

	var status struct {
		Result struct {
			Version        string            `json:"version"`
			APIVersion     string            `json:"apiVersion"`
			APIPermissions map[string]string `json:"apiPermissions"`
		} `json:"result"`
	}
	v3Decode(t, "v3/status", aaps.send(t, "GET", "/api/v3/status", ""), 200, &status)
	if status.Result.Version != "15.0.7" || status.Result.APIPermissions["treatments"] != "crud" || status.Result.APIPermissions["entries"] != "crud" {
		t.Fatalf("v3/status: %+v; AAPS needs version 15 and crud on its collections", status.Result)
	}
	if aaps.jwt == "" {
		t.Fatal("the first request with an empty bearer was not refused, so AAPS never asked for a JWT")
	}

	now := time.Now().UnixMilli()
	start := now - 1
	// createEntry: a reading from AAPS's CGM source.
	var created aapsCreated
	r := aaps.send(t, "POST", "/api/v3/entries", fmt.Sprintf(
		`{"type":"sgv","sgv":120.0,"date":%d,"device":"AndroidAPS-DexcomG6","direction":"Flat","app":"AAPS","utcOffset":60,"units":"mg/dl"}`, now-10*60_000))
	v3Decode(t, "createEntry", r, 201, &created)
	firstSGV := created.Identifier
	// createTreatment.
	r = aaps.send(t, "POST", "/api/v3/treatments", fmt.Sprintf(
		`{"eventType":"Correction Bolus","date":%d,"utcOffset":60,"app":"AAPS","device":"Dana-i","isValid":true,"insulin":1.5,"type":"NORMAL","isBasalInsulin":false,"pumpId":4102,"pumpType":"DANA_I","pumpSerial":"ABC"}`, now-8*60_000))
	v3Decode(t, "createTreatment", r, 201, &created)
	bolus := created.Identifier
	// The same upload again (a retry after a lost answer) is no new treatment.
	var again aapsCreated
	r = aaps.send(t, "POST", "/api/v3/treatments", fmt.Sprintf(
		`{"eventType":"Correction Bolus","date":%d,"utcOffset":60,"app":"AAPS","device":"Dana-i","isValid":true,"insulin":1.5,"type":"NORMAL","isBasalInsulin":false,"pumpId":4102,"pumpType":"DANA_I","pumpSerial":"ABC"}`, now-8*60_000))
	v3Decode(t, "createTreatment again", r, 200, &again)
	if !again.IsDeduplication || again.Identifier != bolus {
		t.Fatalf("createTreatment again: %+v, want a deduplication of %s", again, bolus)
	}

	var lm struct {
		Result struct {
			Collections map[string]int64 `json:"collections"`
		} `json:"result"`
	}
	v3Decode(t, "v3/lastModified", aaps.send(t, "GET", "/api/v3/lastModified", ""), 200, &lm)
	if lm.Result.Collections["treatments"] < start || lm.Result.Collections["entries"] < start {
		t.Fatalf("lastModified %v: the uploads are not reported", lm.Result.Collections)
	}

	// Round 1: everything since before the uploads.
	treatments := aapsTreatmentsSince(t, aaps, start)
	if len(treatments) != 1 || treatments[0].Identifier != bolus || *treatments[0].Insulin != 1.5 {
		t.Fatalf("treatments history: %+v, want the bolus once", treatments)
	}
	entries := aapsEntriesSince(t, aaps, start)
	if len(entries) != 1 || entries[0].Identifier != firstSGV || *entries[0].SGV != 120 {
		t.Fatalf("entries history: %+v, want the reading once", entries)
	}
	treatmentsMark, entriesMark := treatments[0].SrvModified, entries[0].SrvModified
	time.Sleep(5 * time.Millisecond)

	// Elsewhere, through API v1: the bolus edited (Nightscout's careportal
	// and AAPS's v1 client find it by _id), a reading uploaded, the first
	// reading deleted.
	v1 := []string{"api-secret", sha1Hex(sam.secret), "Content-Type", "application/json"}
	var v1Docs []map[string]any
	v3Decode(t, "v1 treatments", s.do(t, call{method: "GET", path: "/api/v1/treatments.json", header: v1}), 200, &v1Docs)
	if len(v1Docs) != 1 {
		t.Fatalf("v1 treatments: %v", v1Docs)
	}
	v1Docs[0]["notes"] = "edited on the web"
	v1Docs[0]["insulin"] = 2
	edit, _ := json.Marshal(v1Docs[0])
	if r := s.do(t, call{method: "PUT", path: "/api/v1/treatments", header: v1, body: string(edit)}); r.status != 200 {
		t.Fatalf("v1 PUT: %d %s", r.status, r.body)
	}
	if r := s.do(t, call{path: "/api/v1/entries", header: v1, body: fmt.Sprintf(
		`[{"type":"sgv","sgv":130,"date":%d,"direction":"FortyFiveUp","device":"xDrip-DexcomG6"}]`, now-5*60_000)}); r.status != 200 {
		t.Fatalf("v1 POST entries: %d %s", r.status, r.body)
	}
	if r := s.do(t, call{method: "DELETE", path: fmt.Sprintf("/api/v1/entries.json?find[date]=%d", now-10*60_000), header: v1}); r.status != 200 {
		t.Fatalf("v1 DELETE entries: %d %s", r.status, r.body)
	}

	// Round 2: each change once.
	treatments = aapsTreatmentsSince(t, aaps, treatmentsMark)
	if len(treatments) != 1 || treatments[0].Identifier != bolus || *treatments[0].Insulin != 2 || treatments[0].Notes != "edited on the web" {
		t.Fatalf("treatments history after the edit: %+v, want the edited bolus once", treatments)
	}
	entries = aapsEntriesSince(t, aaps, entriesMark)
	if len(entries) != 2 {
		t.Fatalf("entries history after the changes: %+v, want the deletion and the new reading", entries)
	}
	var deleted, added *aapsEntry
	for i := range entries {
		if entries[i].IsValid != nil && !*entries[i].IsValid {
			deleted = &entries[i]
		} else {
			added = &entries[i]
		}
	}
	if deleted == nil || deleted.Identifier != firstSGV || added == nil || added.SGV == nil || *added.SGV != 130 {
		t.Fatalf("entries history after the changes: %+v; want %s deleted and the 130 added", entries, firstSGV)
	}
	// Round 3: nothing new.
	if again := aapsTreatmentsSince(t, aaps, treatments[0].SrvModified); len(again) != 0 {
		t.Errorf("treatments history reports %+v again", again)
	}
	if again := aapsEntriesSince(t, aaps, max(entries[0].SrvModified, entries[1].SrvModified)); len(again) != 0 {
		t.Errorf("entries history reports %+v again", again)
	}

	// getSgvsNewerThan, as AAPS fills a gap: oldest first.
	var newer struct{ Result []aapsEntry }
	v3Decode(t, "getSgvsNewerThan", aaps.send(t, "GET", fmt.Sprintf("/api/v3/entries?sort=date&date$gt=%d&limit=10", now-60*60_000), ""), 200, &newer)
	if len(newer.Result) != 1 || *newer.Result[0].SGV != 130 {
		t.Errorf("getSgvsNewerThan: %+v, want the 130 reading alone (the other is deleted)", newer.Result)
	}
	// deleteTreatment, then the history reports it deleted.
	if r := aaps.send(t, "DELETE", "/api/v3/treatments/"+bolus, ""); r.status != 200 {
		t.Fatalf("deleteTreatment: %d %s", r.status, r.body)
	}
	treatments = aapsTreatmentsSince(t, aaps, treatments[0].SrvModified)
	if len(treatments) != 1 || treatments[0].IsValid == nil || *treatments[0].IsValid {
		t.Errorf("treatments history after deleteTreatment: %+v, want the bolus with isValid false", treatments)
	}
}

// aapsTreatmentsSince is getTreatmentsModifiedSince.
func aapsTreatmentsSince(t *testing.T, c *aapsClient, from int64) []aapsTreatment {
	t.Helper()
	var got struct{ Result []aapsTreatment }
	v3Decode(t, "getTreatmentsModifiedSince", c.send(t, "GET", fmt.Sprintf("/api/v3/treatments/history/%d?limit=500", from), ""), 200, &got)
	return got.Result
}

// aapsEntriesSince is getSgvsModifiedSince.
func aapsEntriesSince(t *testing.T, c *aapsClient, from int64) []aapsEntry {
	t.Helper()
	var got struct{ Result []aapsEntry }
	v3Decode(t, "getSgvsModifiedSince", c.send(t, "GET", fmt.Sprintf("/api/v3/entries/history/%d?limit=500", from), ""), 200, &got)
	return got.Result
}

// jugglucoV3Entry is the body Juggluco's v3 uploader posts, one reading a
// request (Common/src/main/cpp/net/watchserver/common.cpp writev3entry
// with server=false @ 8ae34b19): its own identifier and a 24-digit _id.
func jugglucoV3Entry(ms int64, mgdl int, direction string) string {
	return fmt.Sprintf(`{"app":"Juggluco","device":"3MH0070DHK","date":%d,"sgv":%d,"delta":0.000,"direction":"%s","type":"sgv","utcOffset":0,"identifier":"0037004d-0048-0030-44ee-eeeeeeee1234","_id":"00370030004844ee1234eeee"}`,
		ms, mgdl, direction)
}

// Juggluco's "test V3" uploader (Common/src/main/cpp/net/watchserver/
// uploader.cpp uploadCGM3 @ db5f9267, NightPost.java upload @ 8ae34b19):
// POST /api/v3/entries with `api-secret: SHA-1 of the secret`, one reading
// a request, 200 or 201 counting as sent. The readings become the
// account's glucose values, read back through API v1 and v3.
func TestJugglucoNightscoutV3(t *testing.T) {
	s := startServer(t)
	kim := v3NewAccount(t, s, "kim", "Juggluco")
	other := v3NewAccount(t, s, "lee", "Juggluco")
	now := time.Now().Truncate(time.Minute).UnixMilli()
	post := func(secret, body string) reply {
		return s.do(t, call{path: "/api/v3/entries", header: []string{"api-secret", sha1Hex(secret),
			"Content-Type", "application/json"}, body: body})
	}
	for i, v := range []int{101, 104, 108} {
		if r := post(kim.secret, jugglucoV3Entry(now-int64(2-i)*60_000, v, "Flat")); r.status != 201 {
			t.Fatalf("upload %d: %d %s", i, r.status, r.body)
		}
	}
	// A resent reading (Juggluco resends after a lost answer) counts as
	// sent and is stored once.
	if r := post(kim.secret, jugglucoV3Entry(now, 108, "Flat")); r.status != 200 {
		t.Fatalf("resent upload: %d %s, want 200 so that Juggluco moves on", r.status, r.body)
	}
	if r := post("not the secret at all", jugglucoV3Entry(now, 99, "Flat")); r.status != 401 {
		t.Fatalf("upload with a wrong secret: %d %s", r.status, r.body)
	}

	var v1 []struct {
		SGV  int   `json:"sgv"`
		Date int64 `json:"date"`
	}
	v3Decode(t, "v1 entries", s.do(t, call{method: "GET", path: "/api/v1/entries/sgv.json?count=10",
		header: []string{"api-secret", sha1Hex(kim.secret)}}), 200, &v1)
	if len(v1) != 3 || v1[0].SGV != 108 || v1[0].Date != now || v1[2].SGV != 101 {
		t.Fatalf("kim's readings through API v1: %+v, want 108, 104, 101", v1)
	}
	var lees []any
	v3Decode(t, "lee's entries", s.do(t, call{method: "GET", path: "/api/v1/entries/sgv.json",
		header: []string{"api-secret", sha1Hex(other.secret)}}), 200, &lees)
	if len(lees) != 0 {
		t.Fatalf("lee sees %v, kim's uploads", lees)
	}
}
