package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// xdripPlus is a request as the xDrip+ uploader sends it (xDrip
// sharemodels/ShareRest.java): Retrofit over OkHttp, which asks for gzip,
// and a network interceptor that sets these headers on every call, also on
// the bodiless POSTs of Start, Check and Replace.
func xdripPlus(path, body string) call {
	return call{host: usHost, path: apiBase + path, body: body, header: []string{
		"User-Agent", "CGM-Store-1.2/22 CFNetwork/711.5.6 Darwin/14.0.0",
		"Content-Type", "application/json",
		"Accept", "application/json",
		"Accept-Encoding", "gzip",
	}}
}

// xdripPlusEGV is xDrip+'s upload body: one reading per call, Gson field
// order, DT = ST on whole seconds, integer Trend, TA -5 (xDrip
// sharemodels/models/ShareUploadPayload.java and Egv.java).
func xdripPlusEGV(serial string, r egv) string {
	return fmt.Sprintf(`{"SN":"%s","Egvs":[{"Trend":%d,"Value":%d,"ST":"%s","DT":"%s"}],"TA":-5}`,
		serial, r.trend, r.value, dotNetDate(r.st), dotNetDate(r.st))
}

// xdripPlusChain is xDrip+'s login chain (ShareRest.getSessionId), run when
// it has no session: LoginPublisherAccountByName, AuthenticatePublisherAccount
// with sessionId and serialNumber in the query, StartRemoteMonitoringSession,
// CheckMonitoredReceiverAssignmentStatus, and Replace unless Check answered
// AssignedToYou. xDrip+ ignores every answer but the session id and Check's;
// the test returns Start's and Replace's (if any) for the caller to judge.
func xdripPlusChain(t *testing.T, s *server, acct account, serial string) (sid string, start, replace *reply) {
	t.Helper()
	// TreeMap order: accountName, applicationId, password.
	login := fmt.Sprintf(`{"accountName":%q,"applicationId":%q,"password":%q}`, acct.name, appID, acct.password)
	sid = wantID(t, "LoginPublisherAccountByName", s.do(t, xdripPlus("General/LoginPublisherAccountByName", login)))
	q := "?sessionId=" + sid + "&serialNumber=" + serial

	gotID := wantID(t, "AuthenticatePublisherAccount", s.do(t, xdripPlus("General/AuthenticatePublisherAccount"+q, login)))
	if gotID != acct.id {
		t.Errorf("AuthenticatePublisherAccount answered %s, want the account id %s", gotID, acct.id)
	}
	st := s.do(t, xdripPlus("Publisher/StartRemoteMonitoringSession"+q, ""))
	check := s.do(t, xdripPlus("Publisher/CheckMonitoredReceiverAssignmentStatus"+q, ""))
	wantOK(t, "CheckMonitoredReceiverAssignmentStatus", check)
	if jsonString(t, "CheckMonitoredReceiverAssignmentStatus", check.body) != "AssignedToYou" {
		rp := s.do(t, xdripPlus("Publisher/ReplacePublisherAccountMonitoredReceiver"+q, ""))
		replace = &rp
	}
	return sid, &st, replace
}

// readAll reads the publisher's readings of the last day, up to maxCount,
// with the session in the query and no body.
func readAll(t *testing.T, s *server, sid string, maxCount int) []wireReading {
	t.Helper()
	r := s.do(t, call{path: fmt.Sprintf("%sPublisher/ReadPublisherLatestGlucoseValues?sessionId=%s&minutes=1440&maxCount=%d", apiBase, sid, maxCount),
		header: []string{"Content-Type", "application/json", "Accept", "application/json"}})
	return decodeReadings(t, "ReadPublisherLatestGlucoseValues", r)
}

// TestXDripPlusUploader replays the xDrip+ uploader on a new account with
// xDrip+'s default serial, then after a transmitter change.
func TestXDripPlusUploader(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	acct := s.addAccount(t, "sam@example.org", "Sam", "", "xdrip plus password")

	// Day one: the default Share key SM00000000. Start comes before Check;
	// it assigns the serial implicitly, so Check says AssignedToYou and
	// xDrip+ does not call Replace.
	sid, start, replace := xdripPlusChain(t, s, acct, "SM00000000")
	wantVoid(t, "StartRemoteMonitoringSession on a new account", *start)
	if replace != nil {
		t.Errorf("Check after Start did not answer AssignedToYou: xDrip+ called Replace and got %d %s", replace.status, replace.body)
	}
	wantBody(t, "IsRemoteMonitoringSessionActive", s.do(t, xdripPlus("Publisher/IsRemoteMonitoringSessionActive?sessionId="+sid, "")), "true")

	readings := series(4)
	// Day one has the older three, posted as they arrive: oldest first.
	day1 := readings[1:]
	for i := len(day1) - 1; i >= 0; i-- {
		wantVoid(t, fmt.Sprintf("PostReceiverEgvRecords reading %d", i), s.do(t, xdripPlus("Publisher/PostReceiverEgvRecords?sessionId="+sid, xdripPlusEGV("SM00000000", day1[i]))))
	}
	// xDrip+ retries once on any 500 — and on a timeout the same reading
	// can arrive twice. The repeat succeeds silently and is stored once.
	wantVoid(t, "PostReceiverEgvRecords repeated", s.do(t, xdripPlus("Publisher/PostReceiverEgvRecords?sessionId="+sid, xdripPlusEGV("SM00000000", day1[0]))))
	wantReadings(t, "after day one", readAll(t, s, sid, 10), day1, "+0000")

	// A new transmitter (here on a new phone, so the whole chain runs again):
	// Start with the new serial is refused, Check says NotAssigned, Replace
	// assigns it, and the monitoring flag — on since day one — stays on, so
	// the next upload works although xDrip+ never calls Start again.
	sid, start, replace = xdripPlusChain(t, s, acct, "8G1234")
	wantError(t, "StartRemoteMonitoringSession with a new serial", *start, 500, "MonitoredReceiverSerialNumberDoesNotMatch")
	if replace == nil {
		t.Fatalf("Check with a new serial answered AssignedToYou; want NotAssigned so that xDrip+ calls Replace")
	}
	wantID(t, "ReplacePublisherAccountMonitoredReceiver", *replace)
	wantBody(t, "IsRemoteMonitoringSessionActive after Replace", s.do(t, xdripPlus("Publisher/IsRemoteMonitoringSessionActive?sessionId="+sid, "")), "true")

	wantVoid(t, "PostReceiverEgvRecords with the new serial", s.do(t, xdripPlus("Publisher/PostReceiverEgvRecords?sessionId="+sid, xdripPlusEGV("8G1234", readings[0]))))
	old := s.do(t, xdripPlus("Publisher/PostReceiverEgvRecords?sessionId="+sid, xdripPlusEGV("SM00000000", egv{st: readings[0].st + 1000, value: 99, trend: 4})))
	wantError(t, "PostReceiverEgvRecords with the old serial", old, 500, "MonitoredReceiverSerialNumberDoesNotMatch")

	wantReadings(t, "after the transmitter change", readAll(t, s, sid, 10), readings, "+0000")
}

// xdrip4iOS is a request as the xDrip4iOS uploader sends it
// (xdripswift DexcomShareUploadManager.swift): URLSession's own headers
// plus the ones it sets. contentType false leaves out Content-Type, as
// some builds and proxies do; the server must not depend on it (docs/protocol.md, "Parameters").
func xdrip4iOS(path, body string, contentType bool) call {
	h := []string{
		"User-Agent", "Dexcom Share/3.0.2.11 CFNetwork/711.2.23 Darwin/14.0.0",
		"Accept", "application/json",
		"Accept-Encoding", "gzip, deflate, br",
		"Accept-Language", "en-GB,en;q=0.9",
	}
	if contentType {
		h = append(h, "Content-Type", "application/json")
	}
	return call{host: ousHost, path: path, body: body, header: h}
}

// xdrip4iOSBatch is xDrip4iOS's upload body: readings of up to 8 hours,
// Value a Double, Trend a name ("" for none, NotComputable beyond 7), an
// extra direction member, slashes escaped by NSJSONSerialization (xdripswift
// BgReading+DexcomShare.swift).
func xdrip4iOSBatch(serial string, readings []egv) string {
	names := [...]string{"", "DoubleUp", "SingleUp", "FortyFiveUp", "Flat", "FortyFiveDown", "SingleDown", "DoubleDown"}
	var egvs []string
	for _, r := range readings {
		trend := "NotComputable"
		if r.trend < len(names) {
			trend = names[r.trend]
		}
		egvs = append(egvs, fmt.Sprintf(`{"Trend":%q,"ST":"%s","DT":"%s","Value":%d.0,"direction":%q}`,
			trend, dotNetDate(r.st), dotNetDate(r.st), r.value, trendNames[r.trend]))
	}
	return escapeSlashes(fmt.Sprintf(`{"Egvs":[%s],"SN":%q,"TA":-5}`, strings.Join(egvs, ","), serial))
}

// TestXDrip4iOSUploader replays xDrip4iOS on a new account: it never calls
// Check or Replace, posts first, and calls Start only when told
// MonitoringSessionNotActive (docs/protocol.md, "Publisher: session, receiver and monitoring" implicit assignment).
func TestXDrip4iOSUploader(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	acct := s.addAccount(t, "sam@example.org", "Sam", "", "xdrip4ios password")

	// Its base URL ends in "/ShareWebServices/Services" and the login path
	// starts with "/": the request path has "//" in the middle (docs/protocol.md, "Hosts and paths").
	login := fmt.Sprintf(`{"applicationId":%q,"accountName":%q,"password":%q}`, appID, acct.name, acct.password)
	sid := wantID(t, "login at …Services//General/…", s.do(t, xdrip4iOS(apiBase+"/General/LoginPublisherAccountByName", login, true)))

	// Eight hours of readings, including "no trend" and NotComputable.
	readings := series(96)
	readings[3].trend, readings[10].trend = 0, 8
	const serial = "8G1234"
	post := xdrip4iOS(apiBase+"Publisher/PostReceiverEgvRecords?sessionId="+sid, xdrip4iOSBatch(serial, readings[1:]), true)
	wantError(t, "first PostReceiverEgvRecords", s.do(t, post), 500, "MonitoringSessionNotActive")
	if got := readAll(t, s, sid, 1); len(got) != 0 {
		t.Errorf("a refused upload stored %d readings, want none", len(got))
	}

	// Start with an empty body; the new account gets the serial implicitly.
	start := xdrip4iOS(apiBase+"Publisher/StartRemoteMonitoringSession?sessionId="+sid+"&serialNumber="+serial, "", true)
	wantVoid(t, "StartRemoteMonitoringSession", s.do(t, start))

	// xDrip4iOS stops after Start's empty answer until the next reading,
	// then uploads everything not yet confirmed, this time through a base
	// URL joined with a leading slash and without Content-Type. An empty
	// 200 body is what it takes as success.
	post = xdrip4iOS("/"+apiBase+"Publisher/PostReceiverEgvRecords?sessionId="+sid, xdrip4iOSBatch(serial, readings), false)
	wantVoid(t, "PostReceiverEgvRecords at //ShareWebServices/… without Content-Type", s.do(t, post))

	wantReadings(t, "after the batch", readAll(t, s, sid, 288), readings, "+0000")
}

// loopKit is a request as LoopKit G7SensorKit's G7ShareClient sends it.
func loopKit(path string, body string) call {
	return call{host: usHost, path: apiBase + path, body: body, header: []string{
		"User-Agent", "Dexcom Share/3.0.2.11 CFNetwork/711.2.23 Darwin/14.0.0",
		"Content-Type", "application/json",
		"Accept", "application/json",
		"Accept-Encoding", "gzip, deflate, br",
	}}
}

// TestLoopKitG7Uploader replays G7SensorKit's uploader: sign in
// (Authenticate → LoginById), Check → Replace if needed → Start → Post in
// batches of at most 50.
func TestLoopKitG7Uploader(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	acct := s.addAccount(t, "sam@example.org", "Sam", "", "loopkit password")

	auth := escapeSlashes(fmt.Sprintf(`{"password":%q,"accountName":%q,"applicationId":%q}`, acct.password, acct.name, appID))
	id := wantID(t, "AuthenticatePublisherAccount", s.do(t, loopKit("General/AuthenticatePublisherAccount", auth)))
	if id != acct.id {
		t.Errorf("AuthenticatePublisherAccount answered %s, want the account id %s", id, acct.id)
	}
	login := fmt.Sprintf(`{"applicationId":%q,"accountId":%q,"password":%q}`, appID, id, acct.password)
	sid := wantID(t, "LoginPublisherAccountById", s.do(t, loopKit("General/LoginPublisherAccountById", login)))

	const serial = "3MH0123456"
	q := "?sessionId=" + sid + "&serialNumber=" + serial
	wantBody(t, "Check on a new account", s.do(t, loopKit("Publisher/CheckMonitoredReceiverAssignmentStatus"+q, "")), `"NotAssigned"`)
	wantID(t, "ReplacePublisherAccountMonitoredReceiver", s.do(t, loopKit("Publisher/ReplacePublisherAccountMonitoredReceiver"+q, "")))
	wantBody(t, "Check after Replace", s.do(t, loopKit("Publisher/CheckMonitoredReceiverAssignmentStatus"+q, "")), `"AssignedToYou"`)
	wantVoid(t, "StartRemoteMonitoringSession", s.do(t, loopKit("Publisher/StartRemoteMonitoringSession"+q, "")))

	// Ten hours of backfill, sent oldest first in batches of 50; a reading
	// without trend goes up as 8.
	readings := series(120)
	readings[7].trend = 8
	for end := len(readings); end > 0; end -= 50 {
		batch := readings[max(0, end-50):end]
		var egvs []string
		for i := len(batch) - 1; i >= 0; i-- {
			r := batch[i]
			egvs = append(egvs, fmt.Sprintf(`{"Value":%d,"DT":"%s","Trend":%d,"ST":"%s"}`, r.value, dotNetDate(r.st), r.trend, dotNetDate(r.st)))
		}
		body := escapeSlashes(fmt.Sprintf(`{"TA":-5,"Egvs":[%s],"SN":%q}`, strings.Join(egvs, ","), serial))
		wantVoid(t, fmt.Sprintf("PostReceiverEgvRecords batch of %d", len(batch)), s.do(t, loopKit("Publisher/PostReceiverEgvRecords?sessionId="+sid, body)))
	}
	wantReadings(t, "after the backfill", readAll(t, s, sid, 200), readings, "+0000")
}

// official is a request as the official uploader sends it (2015 capture,
// and its Retrofit interface): query parameters, and an empty JSON object
// as the body of every POST that has no other.
func official(method, path, body string) call {
	h := []string{
		"User-Agent", "Dexcom Share/3.0.2.11 CFNetwork/711.2.23 Darwin/14.0.0",
		"Accept", "application/json",
		"Accept-Encoding", "gzip, deflate",
	}
	if body != "" {
		h = append(h, "Content-Type", "application/json")
	}
	return call{method: method, host: usHost, path: apiBase + path, header: h, body: body}
}

// TestOfficialUploader replays the official uploader's start-up and upload
// calls (docs/protocol.md, "Known clients"): login, profile, named values, receiver, monitoring, a read of
// its newest reading, and a batch whose DT is local wall time.
func TestOfficialUploader(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	acct := s.addAccount(t, "sam@example.org", "Sam", "sam@example.org", "official password")
	const post, get = "POST", "GET"

	login := fmt.Sprintf(`{"accountName":%q,"applicationId":%q,"password":%q}`, acct.name, appID, acct.password)
	sid := wantID(t, "LoginPublisherAccountByName", s.do(t, official(post, "General/LoginPublisherAccountByName", login)))
	if id := wantID(t, "AuthenticatePublisherAccount", s.do(t, official(post, "General/AuthenticatePublisherAccount", login))); id != acct.id {
		t.Errorf("AuthenticatePublisherAccount answered %s, want the account id %s", id, acct.id)
	}
	wantBody(t, "ReadPublisherAccountEmail", s.do(t, official(post, "Publisher/ReadPublisherAccountEmail?sessionId="+sid, "{}")), `"sam@example.org"`)

	// Its settings live in named values in its own partition, read with GET.
	pq := "?sessionId=" + sid + "&partitionId=" + officialPartition
	wantBody(t, "ListValueNames on a new account", s.do(t, official(get, "General/ListValueNames"+pq, "")), "[]")
	settings := `{"units":"mg/dL","highAlert":250,"lowAlert":70}`
	for _, nv := range []struct{ name, value string }{{"UserSettings", settings}, {"AlertSchedule", "off"}} {
		body := mustJSON(t, map[string]string{"sessionId": sid, "partitionId": officialPartition, "name": nv.name, "value": nv.value})
		wantVoid(t, "CreateNamedValue "+nv.name, s.do(t, official(post, "General/CreateNamedValue", body)))
	}
	wantBody(t, "ListValueNames", s.do(t, official(get, "General/ListValueNames"+pq, "")), `["AlertSchedule","UserSettings"]`)
	r := s.do(t, official(get, "General/ReadNamedValue"+pq+"&name=UserSettings", ""))
	wantOK(t, "ReadNamedValue", r)
	if got := jsonString(t, "ReadNamedValue", r.body); got != settings {
		t.Errorf("ReadNamedValue UserSettings = %q, want %q", got, settings)
	}
	wantError(t, "ReadNamedValue of a name never written", s.do(t, official(get, "General/ReadNamedValue"+pq+"&name=Missing", "")), 500, "NamedValueReadFailed")

	wantBody(t, "ReadPublisherAccountDisplayName", s.do(t, official(post, "Publisher/ReadPublisherAccountDisplayName?sessionId="+sid, "{}")), `"Sam"`)
	wantError(t, "ReadPublisherAccountImage without an image", s.do(t, official(get, "Publisher/ReadPublisherAccountImage?sessionId="+sid, "")), 404, "ImageNotFound")

	// Uploads: Replace, Start, then its newest reading.
	const serial = "SM12345678"
	q := "?sessionId=" + sid + "&serialNumber=" + serial
	receiver := wantID(t, "ReplacePublisherAccountMonitoredReceiver", s.do(t, official(post, "Publisher/ReplacePublisherAccountMonitoredReceiver"+q, "{}")))
	wantVoid(t, "StartRemoteMonitoringSession", s.do(t, official(post, "Publisher/StartRemoteMonitoringSession"+q, "{}")))
	wantBody(t, "GetMonitoredReceiverIdIfEnabled", s.do(t, official(post, "Publisher/GetMonitoredReceiverIdIfEnabled?sessionId="+sid, "{}")), `"`+receiver+`"`)
	newestQuery := "Publisher/ReadPublisherLatestGlucoseValues?sessionId=" + sid + "&minutes=" + minutesSince1970() + "&maxCount=1"
	wantBody(t, "newest reading before any upload", s.do(t, official(post, newestQuery, "{}")), "[]")

	// A batch with DT = local wall time written as UTC (four hours behind
	// here), TA 0, and one reading ten minutes in the future.
	readings := series(3)
	future := egv{st: time.Now().Add(10 * time.Minute).Truncate(time.Second).UnixMilli(), value: 180, trend: 4}
	var egvs []string
	for _, r := range append([]egv{future}, readings...) {
		egvs = append(egvs, fmt.Sprintf(`{"DT":"%s","ST":"%s","Trend":%d,"Value":%d}`, dotNetDate(r.st-4*3600_000), dotNetDate(r.st), r.trend, r.value))
	}
	body := escapeSlashes(fmt.Sprintf(`{"Egvs":[%s],"SN":%q,"TA":0}`, strings.Join(egvs, ","), serial))
	e := wantError(t, "PostReceiverEgvRecords with a future reading", s.do(t, official(post, "Publisher/PostReceiverEgvRecords?sessionId="+sid, body)), 500, "FutureEgvPosted")
	if !strings.HasPrefix(e.Message, "1 reading(s) ") || !strings.HasSuffix(e.Message, "; 3 stored") {
		t.Errorf("FutureEgvPosted Message %q, want it to report 1 discarded and 3 stored", e.Message)
	}

	// The others arrived, with the local offset in DT.
	got := decodeReadings(t, "newest reading after the upload", s.do(t, official(post, newestQuery, "{}")))
	wantReadings(t, "newest reading after the upload", got, readings[:1], "-0400")
	wantReadings(t, "all readings", readAll(t, s, sid, 10), readings, "-0400")
}
