package e2e

import (
	"cmp"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Every follower test reads readings uploaded through the API by
// newPublisher (DT offset -0400) and checks what the client would make of
// them, parsed the way that client parses.

// pydexcom is a request as pydexcom ≥ 0.4.1 sends it: requests with
// json=… (Python's separators) and its fixed Accept-Encoding header.
func pydexcom(path, body string) call {
	return call{host: usHost, path: apiBase + path, body: body, header: []string{
		"User-Agent", "python-requests/2.32.3",
		"Accept-Encoding", "application/json",
		"Accept", "*/*",
		"Connection", "keep-alive",
		"Content-Type", "application/json",
	}}
}

// pydexcomDT is pydexcom's parse of DT (glucose_reading.py, re.match).
var pydexcomDT = regexp.MustCompile(`^Date\((\d+)([+-]\d{4})\)`)

// pydexcomRead reads as pydexcom's get_glucose_readings and checks each
// reading the way GlucoseReading parses it: Value, the DT regex, and Trend
// looked up in DEXCOM_TREND_DIRECTIONS.
func pydexcomRead(t *testing.T, s *server, sid string, minutes, maxCount int, want []egv, offset string) {
	t.Helper()
	what := fmt.Sprintf("pydexcom read minutes=%d maxCount=%d", minutes, maxCount)
	r := s.do(t, pydexcom(fmt.Sprintf("Publisher/ReadPublisherLatestGlucoseValues?sessionId=%s&minutes=%d&maxCount=%d", sid, minutes, maxCount), "{}"))
	if r.gzipped {
		t.Errorf("%s: answer gzip-compressed although Accept-Encoding was application/json", what)
	}
	got := decodeReadings(t, what, r)
	if len(got) != len(want) {
		t.Fatalf("%s: %d readings, want %d", what, len(got), len(want))
	}
	for i, w := range want {
		m := pydexcomDT.FindStringSubmatch(got[i].DT)
		if m == nil {
			t.Errorf("%s: reading %d: DT %q does not match pydexcom's Date\\(\\d+[+-]\\d{4}\\)", what, i, got[i].DT)
			continue
		}
		if ms, _ := strconv.ParseInt(m[1], 10, 64); ms != w.st || m[2] != offset {
			t.Errorf("%s: reading %d: DT gives time %d%s, want %d%s", what, i, ms, m[2], w.st, offset)
		}
		var trend string
		if err := json.Unmarshal(got[i].Trend, &trend); err != nil || !slices.Contains(trendNames[:], trend) {
			t.Errorf("%s: reading %d: Trend %s is not a key of DEXCOM_TREND_DIRECTIONS", what, i, got[i].Trend)
		} else if trend != trendNames[w.trend] {
			t.Errorf("%s: reading %d: Trend %q, want %q", what, i, trend, trendNames[w.trend])
		}
		if got[i].Value != w.value {
			t.Errorf("%s: reading %d: Value %d, want %d", what, i, got[i].Value, w.value)
		}
	}
}

// TestPydexcom follows pydexcom ≥ 0.4.1 (Home Assistant): Authenticate →
// LoginById → reads; after the session ends server-side, the read answers
// SessionNotValid and pydexcom's one re-login (by id) works.
func TestPydexcom(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	p := newPublisher(t, s, series(24))

	auth := fmt.Sprintf(`{"accountName": %q, "password": %q, "applicationId": %q}`, p.name, p.password, appID)
	id := wantID(t, "AuthenticatePublisherAccount", s.do(t, pydexcom("General/AuthenticatePublisherAccount", auth)))
	if id != p.id {
		t.Fatalf("AuthenticatePublisherAccount answered %s, want the account id %s", id, p.id)
	}
	login := fmt.Sprintf(`{"accountId": %q, "password": %q, "applicationId": %q}`, id, p.password, appID)
	sid := wantID(t, "LoginPublisherAccountById", s.do(t, pydexcom("General/LoginPublisherAccountById", login)))

	pydexcomRead(t, s, sid, 1440, 288, p.readings, p.offset)          // get_glucose_readings()
	pydexcomRead(t, s, sid, 10, 1, p.readings[:1], p.offset)          // get_current_glucose_reading()
	pydexcomRead(t, s, sid, 1440, 1, newest(p.readings, 1), p.offset) // get_latest_glucose_reading()

	wantVoid(t, "LogoutPublisherAccount", s.do(t, official("POST", "Publisher/LogoutPublisherAccount?sessionId="+sid, "{}")))
	r := s.do(t, pydexcom(fmt.Sprintf("Publisher/ReadPublisherLatestGlucoseValues?sessionId=%s&minutes=1440&maxCount=288", sid), "{}"))
	wantError(t, "read with a logged-out session", r, 500, "SessionNotValid")

	// pydexcom keeps the account id and logs in again by id only.
	sid2 := wantID(t, "LoginPublisherAccountById again", s.do(t, pydexcom("General/LoginPublisherAccountById", login)))
	if sid2 == sid {
		t.Errorf("the new login returned the logged-out session id %s", sid)
	}
	pydexcomRead(t, s, sid2, 1440, 288, p.readings, p.offset)
}

// nsEntry is a Nightscout entry as share2nightscout-bridge and
// nightscout-connect build it (dex_to_entry).
type nsEntry struct {
	sgv       int
	date      int64
	direction string
}

// bridgeTrends are the bridge's DIRECTIONS keys in trend order.
var bridgeTrends = [...]string{"NONE", "DoubleUp", "SingleUp", "FortyFiveUp", "Flat",
	"FortyFiveDown", "SingleDown", "DoubleDown", "NOT COMPUTABLE", "RATE OUT OF RANGE"}

var bridgeWT = regexp.MustCompile(`\((.*)\)`)

// bridgeEntry ports dex_to_entry: date is parseInt of what WT holds
// between the parentheses, direction comes from matchTrend and
// trendToDirection (names matched as given or lower-cased without spaces;
// anything unknown becomes "NONE").
func bridgeEntry(r wireReading) nsEntry {
	e := nsEntry{sgv: r.Value, direction: "NONE"}
	if m := bridgeWT.FindStringSubmatch(r.WT); m != nil {
		digits := m[1]
		end := 0
		for end < len(digits) && digits[end] >= '0' && digits[end] <= '9' {
			end++
		}
		e.date, _ = strconv.ParseInt(digits[:end], 10, 64)
	}
	var n int
	var name string
	switch {
	case json.Unmarshal(r.Trend, &n) == nil:
	case json.Unmarshal(r.Trend, &name) == nil:
		n = -1
		squash := func(s string) string { return strings.ReplaceAll(strings.ToLower(s), " ", "") }
		for i, key := range bridgeTrends {
			if name == key || squash(name) == squash(key) {
				n = i
			}
		}
	}
	if n >= 0 && n < len(bridgeTrends) {
		e.direction = bridgeTrends[n]
	}
	return e
}

// wantEntries checks Nightscout entries against the uploaded readings.
func wantEntries(t *testing.T, what string, got []nsEntry, want []egv) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d entries, want %d", what, len(got), len(want))
	}
	for i, w := range want {
		if wantE := (nsEntry{sgv: w.value, date: w.st, direction: bridgeTrends[w.trend]}); got[i] != wantE {
			t.Errorf("%s: entry %d = %+v, want %+v", what, i, got[i], wantE)
		}
	}
}

// TestShare2NightscoutBridgeFollower follows the cgm-remote-monitor bridge
// plugin (share2nightscout-bridge): sessionID in the query, an empty body
// with Content-Length: 0, maxCount=289, and WT digits as the time.
func TestShare2NightscoutBridgeFollower(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	p := newPublisher(t, s, series(24))
	bridge := func(path, body string) call {
		return call{host: usHost, path: apiBase + path, body: body, header: []string{
			"User-Agent", "share2nightscout-bridge/0.2.12",
			"Content-Type", "application/json",
			"Accept", "application/json",
		}}
	}

	auth := fmt.Sprintf(`{"password":%q,"applicationId":%q,"accountName":%q}`, p.password, appID, p.name)
	id := wantID(t, "AuthenticatePublisherAccount", s.do(t, bridge("General/AuthenticatePublisherAccount", auth)))
	login := fmt.Sprintf(`{"password":%q,"applicationId":%q,"accountId":%q}`, p.password, appID, id)
	sid := wantID(t, "LoginPublisherAccountById", s.do(t, bridge("General/LoginPublisherAccountById", login)))

	got := decodeReadings(t, "read", s.do(t, bridge("Publisher/ReadPublisherLatestGlucoseValues?sessionID="+sid+"&minutes=1440&maxCount=289", "")))
	var entries []nsEntry
	for _, r := range got {
		entries = append(entries, bridgeEntry(r))
	}
	wantEntries(t, "entries", entries, p.readings)
}

// TestNightscoutConnect follows nightscout-connect: both logins with
// ?applicationId= appended, sessionID, body {}, 2880 minutes and 576
// readings, and axios's Accept-Encoding (a gzip answer is fine for it).
func TestNightscoutConnect(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	p := newPublisher(t, s, series(24))
	connect := func(path, body string) call {
		return call{host: ousHost, path: apiBase + path, body: body, header: []string{
			"Accept", "application/json",
			"Content-Type", "application/json",
			"User-Agent", `nightscout-connect, nightscout-connect@0.0.12, "Dexcom Share", https://github.com/nightscout/nightscout-connect#readme`,
			"Accept-Encoding", "gzip, compress, deflate, br",
		}}
	}

	auth := fmt.Sprintf(`{"password":%q,"applicationId":%q,"accountName":%q}`, p.password, appID, p.name)
	id := wantID(t, "AuthenticatePublisherAccount", s.do(t, connect("General/AuthenticatePublisherAccount?applicationId="+appID, auth)))
	login := fmt.Sprintf(`{"password":%q,"applicationId":%q,"accountId":%q}`, p.password, appID, id)
	sid := wantID(t, "LoginPublisherAccountById", s.do(t, connect("General/LoginPublisherAccountById?applicationId="+appID, login)))

	got := decodeReadings(t, "read", s.do(t, connect("Publisher/ReadPublisherLatestGlucoseValues?sessionID="+sid+"&minutes=2880&maxCount=576", "{}")))
	var entries []nsEntry
	for _, r := range got {
		entries = append(entries, bridgeEntry(r))
	}
	wantEntries(t, "entries", entries, p.readings)
}

// TestTooTallNateDexcomShare follows TooTallNate dexcom-share 3.4:
// LoginPublisherAccountByName, then reads with sessionID, no body and no
// Content-Type, maxCount=1000; the time is parsed from WT and Trend looked
// up by name in its own enum (which spells 9 "OutOfRange").
func TestTooTallNateDexcomShare(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	p := newPublisher(t, s, series(24))
	hdr := []string{"User-Agent", "Dexcom Share/3.0.2.11 CFNetwork/711.2.23 Darwin/14.0.0",
		"Accept", "application/json", "Accept-Encoding", "gzip,deflate", "Connection", "close"}

	login := fmt.Sprintf(`{"password":%q,"applicationId":%q,"accountName":%q}`, p.password, appID, p.name)
	sid := wantID(t, "LoginPublisherAccountByName", s.do(t, call{host: usHost, path: apiBase + "General/LoginPublisherAccountByName",
		header: append(slices.Clone(hdr), "Content-Type", "application/json"), body: login}))

	got := decodeReadings(t, "read", s.do(t, call{host: usHost, path: apiBase + "Publisher/ReadPublisherLatestGlucoseValues?sessionID=" + sid + "&minutes=1440&maxCount=1000", header: hdr}))
	enum := []string{"None", "DoubleUp", "SingleUp", "FortyFiveUp", "Flat", "FortyFiveDown", "SingleDown", "DoubleDown", "NotComputable", "OutOfRange"}
	wtDate := regexp.MustCompile(`Date\((.*)\)`)
	type reading struct {
		date         int64
		value, trend int
	}
	var readings []reading
	for i, r := range got {
		m := wtDate.FindStringSubmatch(r.WT)
		var date int64
		if m != nil {
			date, _ = strconv.ParseInt(m[1], 10, 64)
		}
		var name string
		json.Unmarshal(r.Trend, &name)
		trend := slices.Index(enum, name)
		if trend < 0 {
			t.Errorf("reading %d: Trend %s is not in dexcom-share's Trend enum", i, r.Trend)
		}
		readings = append(readings, reading{date: date, value: r.Value, trend: trend})
	}
	slices.SortFunc(readings, func(a, b reading) int { return cmp.Compare(a.date, b.date) }) // it sorts oldest first
	if len(readings) != len(p.readings) {
		t.Fatalf("%d readings, want %d", len(readings), len(p.readings))
	}
	for i, r := range readings {
		w := p.readings[len(p.readings)-1-i]
		if want := (reading{date: w.st, value: w.value, trend: w.trend}); r != want {
			t.Errorf("reading %d (oldest first) = %+v, want %+v", i, r, want)
		}
	}
}

// TestTgiv014DexcomShare follows the Go client tgiv014 dexcom-share: no
// query string at all; sessionId, minutes and maxCount travel in the JSON
// body, and Trend is decoded into a Go string.
func TestTgiv014DexcomShare(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	p := newPublisher(t, s, series(24))
	goClient := func(path, body string) call {
		return call{host: usHost, path: apiBase + path, body: body, header: []string{
			"User-Agent", "Go-http-client/1.1",
			"Content-Type", "application/json",
			"Accept-Encoding", "gzip",
		}}
	}

	auth := mustJSON(t, struct {
		AccountName string `json:"accountName"`
		Password    string `json:"password"`
		Application string `json:"applicationId"`
	}{p.name, p.password, appID})
	r := s.do(t, goClient("General/AuthenticatePublisherAccount", auth))
	wantOK(t, "AuthenticatePublisherAccount", r)
	var accountID string
	if err := json.Unmarshal([]byte(r.body), &accountID); err != nil || accountID != p.id {
		t.Fatalf("AuthenticatePublisherAccount body %s: decoded %q (%v), want the account id %s", r.body, accountID, err, p.id)
	}
	login := mustJSON(t, struct {
		AccountID   string `json:"accountId"`
		Password    string `json:"password"`
		Application string `json:"applicationId"`
	}{accountID, p.password, appID})
	sid := wantID(t, "LoginPublisherAccountById", s.do(t, goClient("General/LoginPublisherAccountById", login)))

	read := mustJSON(t, struct {
		SessionID string `json:"sessionId"`
		Minutes   int    `json:"minutes"`
		MaxCount  int    `json:"maxCount"`
	}{sid, 1440, 3})
	r = s.do(t, goClient("Publisher/ReadPublisherLatestGlucoseValues", read))
	wantOK(t, "read", r)
	type glucoseEntry struct {
		Value int    `json:"Value"`
		Trend string `json:"Trend"`
		DT    string `json:"DT"`
		WT    string `json:"WT"`
		ST    string `json:"ST"`
	}
	var entries []glucoseEntry
	if err := json.Unmarshal([]byte(r.body), &entries); err != nil {
		t.Fatalf("read body %s does not decode into []GlucoseEntry: %v", r.body, err)
	}
	var want []glucoseEntry
	for _, w := range newest(p.readings, 3) {
		want = append(want, glucoseEntry{Value: w.value, Trend: trendNames[w.trend],
			DT: fmt.Sprintf("Date(%d%s)", w.st, p.offset), WT: fmt.Sprintf("Date(%d)", w.st), ST: fmt.Sprintf("Date(%d)", w.st)})
	}
	if !slices.Equal(entries, want) {
		t.Errorf("entries (maxCount 3 from the body)\n got %+v\nwant %+v", entries, want)
	}
}

// TestDexcomSwift follows dexcom-swift: Swift's UUID type writes the
// account and session ids upper-case; reads have no body but a JSON
// Content-Type; Trend must be one of its enum's names and the time is the
// digits of WT.
func TestDexcomSwift(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	p := newPublisher(t, s, series(24))
	swift := func(path, body string) call {
		return call{host: usHost, path: apiBase + path, body: body, header: []string{
			"Accept-Encoding", "application/json",
			"Content-Type", "application/json",
			"Accept", "*/*",
			"User-Agent", "Glucose/1 CFNetwork/1568.100.1 Darwin/24.0.0",
		}}
	}

	auth := fmt.Sprintf(`{"accountName":%q,"password":%q,"applicationId":%q}`, p.name, p.password, appID)
	id := strings.ToUpper(wantID(t, "AuthenticatePublisherAccount", s.do(t, swift("General/AuthenticatePublisherAccount", auth))))
	login := fmt.Sprintf(`{"accountId":%q,"password":%q,"applicationId":%q}`, id, p.password, appID)
	sid := strings.ToUpper(wantID(t, "LoginPublisherAccountById with an upper-case accountId", s.do(t, swift("General/LoginPublisherAccountById", login))))

	r := s.do(t, swift("Publisher/ReadPublisherLatestGlucoseValues?maxCount=288&sessionId="+sid+"&minutes=1440", ""))
	if r.gzipped {
		t.Errorf("read: answer gzip-compressed although Accept-Encoding was application/json")
	}
	got := decodeReadings(t, "read with an upper-case sessionId", r)
	if len(got) != len(p.readings) {
		t.Fatalf("%d readings, want %d", len(got), len(p.readings))
	}
	for i, w := range p.readings {
		var trend string
		if err := json.Unmarshal(got[i].Trend, &trend); err != nil || !slices.Contains(trendNames[:], trend) {
			t.Errorf("reading %d: Trend %s does not decode into TrendDirection", i, got[i].Trend)
		}
		notDigit := func(r rune) bool { return r < '0' || r > '9' } // trimmingCharacters(in: .decimalDigits.inverted)
		date, _ := strconv.ParseInt(strings.TrimFunc(got[i].WT, notDigit), 10, 64)
		if date != w.st || got[i].Value != w.value || trend != trendNames[w.trend] {
			t.Errorf("reading %d: date %d, value %d, trend %q; want %d, %d, %q", i, date, got[i].Value, trend, w.st, w.value, trendNames[w.trend])
		}
	}
}

// TestLegacyCompat starts a server with --compat legacy for pre-2022
// clients: readings carry .NET's escaped "\/Date(…)\/" and an integer
// Trend, byte for byte (docs/protocol.md, "Compatibility mode"); ?compat=modern restores the modern form for
// one request.
func TestLegacyCompat(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--compat", "legacy")
	p := newPublisher(t, s, series(3))
	// share2nightscout-bridge ≤ 0.2.4: login by name, then read.
	hdr := []string{"User-Agent", "share2nightscout-bridge/0.2.4", "Content-Type", "application/json", "Accept", "application/json"}
	login := fmt.Sprintf(`{"password":%q,"applicationId":%q,"accountName":%q}`, p.password, appID, p.name)
	sid := wantID(t, "LoginPublisherAccountByName", s.do(t, call{host: usHost, path: apiBase + "General/LoginPublisherAccountByName", header: hdr, body: login}))
	read := apiBase + "Publisher/ReadPublisherLatestGlucoseValues?sessionID=" + sid + "&minutes=1440&maxCount=3"

	r := s.do(t, call{host: usHost, path: read, header: hdr})
	wantOK(t, "legacy read", r)
	var raw []map[string]json.RawMessage
	if err := json.Unmarshal([]byte(r.body), &raw); err != nil {
		t.Fatalf("legacy read body %s: %v", r.body, err)
	}
	if len(raw) != len(p.readings) {
		t.Fatalf("legacy read: %d readings, want %d", len(raw), len(p.readings))
	}
	for i, w := range p.readings {
		for member, want := range map[string]string{
			"WT":    fmt.Sprintf(`"\/Date(%d)\/"`, w.st),
			"ST":    fmt.Sprintf(`"\/Date(%d)\/"`, w.st),
			"DT":    fmt.Sprintf(`"\/Date(%d%s)\/"`, w.st, p.offset),
			"Value": strconv.Itoa(w.value),
			"Trend": strconv.Itoa(w.trend),
		} {
			if got := string(raw[i][member]); got != want {
				t.Errorf("legacy read: reading %d: %s is %s on the wire, want %s", i, member, got, want)
			}
		}
		// The bridge of that era reads WT's digits and the integer trend.
		var wr wireReading
		b, _ := json.Marshal(raw[i])
		json.Unmarshal(b, &wr)
		if e, want := bridgeEntry(wr), (nsEntry{sgv: w.value, date: w.st, direction: bridgeTrends[w.trend]}); e != want {
			t.Errorf("legacy read: reading %d as an old bridge entry = %+v, want %+v", i, e, want)
		}
	}

	r = s.do(t, call{host: usHost, path: read + "&compat=modern", header: hdr})
	wantReadings(t, "read with ?compat=modern", decodeReadings(t, "read with ?compat=modern", r), p.readings, p.offset)
}

// TestFollowerSeesNewUpload checks the whole loop a user relies on: a
// reading uploaded by one client shows up for a follower that polls with
// another, at its own time and not at the upload's arrival time.
func TestFollowerSeesNewUpload(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	p := newPublisher(t, s, series(2))
	auth := fmt.Sprintf(`{"accountName": %q, "password": %q, "applicationId": %q}`, p.name, p.password, appID)
	id := wantID(t, "AuthenticatePublisherAccount", s.do(t, pydexcom("General/AuthenticatePublisherAccount", auth)))
	login := fmt.Sprintf(`{"accountId": %q, "password": %q, "applicationId": %q}`, id, p.password, appID)
	follower := wantID(t, "LoginPublisherAccountById", s.do(t, pydexcom("General/LoginPublisherAccountById", login)))
	pydexcomRead(t, s, follower, 10, 1, p.readings[:1], p.offset)

	// xDrip+ uploads a reading taken 30 s ago, on its own session.
	uploader, start, _ := xdripPlusChain(t, s, p.account, "SM12345678")
	wantVoid(t, "StartRemoteMonitoringSession", *start)
	next := egv{st: time.Now().Add(-30 * time.Second).Truncate(time.Second).UnixMilli(), value: 143, trend: 2}
	wantVoid(t, "PostReceiverEgvRecords", s.do(t, xdripPlus("Publisher/PostReceiverEgvRecords?sessionId="+uploader, xdripPlusEGV("SM12345678", next))))

	pydexcomRead(t, s, follower, 10, 1, []egv{next}, "+0000")
}
