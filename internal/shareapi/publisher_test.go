package shareapi_test

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/glucoshare/glucoshare/internal/core"
)

func TestReceiverAssignment(t *testing.T) {
	e := newEnv(t)
	e.account("sam")
	e.account("kim")
	sam, kim := e.login("sam"), e.login("kim")
	check := func(sid, sn string) string {
		return e.ok(e.post("Publisher/CheckMonitoredReceiverAssignmentStatus?sessionId="+sid+"&serialNumber="+sn, "")).body
	}
	if got := check(sam, "8G1234"); got != `"NotAssigned"` {
		t.Errorf("fresh serial: %s", got)
	}
	r1 := e.ok(e.post("Publisher/ReplacePublisherAccountMonitoredReceiver?sessionId="+sam+"&serialNumber=8g1234/", "")).body
	if !uuidBody.MatchString(r1) {
		t.Fatalf("receiver id %s", r1)
	}
	// Re-assigning your own serial changes nothing.
	if r2 := e.ok(e.post("Publisher/ReplacePublisherAccountMonitoredReceiver?sessionId="+sam+"&serialNumber=8G1234", "")).body; r2 != r1 {
		t.Errorf("same serial gave a new receiver id %s, want %s", r2, r1)
	}
	if got := check(sam, "8G1234"); got != `"AssignedToYou"` {
		t.Errorf("own serial: %s", got)
	}
	if got := check(kim, "8G1234"); got != `"AssignedToSomeoneElse"` {
		t.Errorf("foreign serial: %s", got)
	}
	e.wantError(e.post("Publisher/ReplacePublisherAccountMonitoredReceiver?sessionId="+kim+"&serialNumber=8G1234", ""), 500, "SerialNumberAssignedToSomeoneElse")
	e.wantError(e.post("Publisher/ReplacePublisherAccountMonitoredReceiver?sessionId="+kim+"&serialNumber=bad%20serial", ""), 500, "InvalidArgument")
	e.wantError(e.post("Publisher/ReplacePublisherAccountMonitoredReceiver?sessionId="+kim, ""), 500, "InvalidArgument")

	// Shared serials: any number of accounts hold them.
	e.ok(e.post("Publisher/ReplacePublisherAccountMonitoredReceiver?sessionId="+kim+"&serialNumber=SM00000000", ""))
	if got := check(sam, "SM00000000"); got != `"NotAssigned"` {
		t.Errorf("shared serial held by another: %s", got)
	}
	if got := check(kim, "sm00000000"); got != `"AssignedToYou"` {
		t.Errorf("shared serial held by caller: %s", got)
	}

	// GetMonitoredReceiverIdIfEnabled: zero id until monitoring is on.
	zero := `"00000000-0000-0000-0000-000000000000"`
	if got := e.ok(e.post("Publisher/GetMonitoredReceiverIdIfEnabled?sessionId="+sam, "")).body; got != zero {
		t.Errorf("receiver id with monitoring off: %s", got)
	}
	e.ok(e.post("Publisher/StartRemoteMonitoringSession?sessionId="+sam+"&serialNumber=8G1234", ""))
	if got := e.ok(e.post("Publisher/GetMonitoredReceiverIdIfEnabled?sessionId="+sam, "")).body; got != r1 {
		t.Errorf("receiver id with monitoring on: %s, want %s", got, r1)
	}
	// Replacing keeps the monitoring flag.
	r3 := e.ok(e.post("Publisher/ReplacePublisherAccountMonitoredReceiver?sessionId="+sam+"&serialNumber=8G9999", "")).body
	if got := e.ok(e.post("Publisher/IsRemoteMonitoringSessionActive?sessionId="+sam, "")).body; got != "true" {
		t.Errorf("monitoring after replace: %s", got)
	}
	if got := check(kim, "8G1234"); got != `"NotAssigned"` {
		t.Errorf("released serial: %s", got)
	}
	// StopMonitoringReceiver only with the current receiver id.
	e.wantError(e.post("Publisher/StopMonitoringReceiver?sessionId="+sam+"&monitoredReceiverId="+strings.Trim(r1, `"`), ""), 500, "MonitoredReceiverNotAssigned")
	e.wantError(e.post("Publisher/StopMonitoringReceiver?sessionId="+sam+"&monitoredReceiverId=junk", ""), 500, "MonitoredReceiverNotAssigned")
	e.ok(e.post("Publisher/StopMonitoringReceiver?sessionId="+sam+"&monitoredReceiverId="+strings.Trim(r3, `"`), ""))
	if got := e.ok(e.post("Publisher/IsRemoteMonitoringSessionActive?sessionId="+sam, "")).body; got != "false" {
		t.Errorf("monitoring after StopMonitoringReceiver: %s", got)
	}
	if got := check(sam, "8G9999"); got != `"NotAssigned"` {
		t.Errorf("serial after StopMonitoringReceiver: %s", got)
	}
}

func TestMonitoringSession(t *testing.T) {
	e := newEnv(t)
	e.account("sam")
	e.account("kim")
	sam, kim := e.login("sam"), e.login("kim")
	start := func(sid, sn string) response {
		return e.post("Publisher/StartRemoteMonitoringSession?sessionId="+sid+"&serialNumber="+sn, "")
	}
	// Implicit assignment on a new account; starting twice succeeds.
	e.ok(start(sam, "8G1234"))
	e.ok(start(sam, "8G1234"))
	e.wantError(start(sam, "8G0000"), 500, "MonitoredReceiverSerialNumberDoesNotMatch")
	// Another account's serial cannot be taken implicitly.
	e.wantError(start(kim, "8G1234"), 500, "MonitoredReceiverNotAssigned")
	e.ok(e.post("Publisher/StopRemoteMonitoringSession?sessionId="+sam, ""))
	e.ok(e.post("Publisher/StopRemoteMonitoringSession?sessionId="+sam, ""))
	if got := e.ok(e.post("Publisher/IsRemoteMonitoringSessionActive?sessionId="+sam, "")).body; got != "false" {
		t.Errorf("after stop: %s", got)
	}
	// The flag survives logout and new logins.
	e.ok(start(sam, "8G1234"))
	e.ok(e.post("Publisher/LogoutPublisherAccount?sessionId="+sam, ""))
	if got := e.ok(e.post("Publisher/IsRemoteMonitoringSessionActive?sessionId="+e.login("sam"), "")).body; got != "true" {
		t.Errorf("after re-login: %s", got)
	}
}

func TestStrictReceiverAssignment(t *testing.T) {
	e := newEnv(t, func(c *core.Config) { c.StrictReceiverAssignment = true })
	e.account("sam")
	sam := e.login("sam")
	e.wantError(e.post("Publisher/StartRemoteMonitoringSession?sessionId="+sam+"&serialNumber=8G1234", ""), 500, "MonitoredReceiverNotAssigned")
	e.ok(e.post("Publisher/ReplacePublisherAccountMonitoredReceiver?sessionId="+sam+"&serialNumber=8G1234", ""))
	e.ok(e.post("Publisher/StartRemoteMonitoringSession?sessionId="+sam+"&serialNumber=8G1234", ""))
}

func egv(st int64, value string, extra string) string {
	return `{"ST":"/Date(` + itoa(int(st)) + `)/","DT":"/Date(` + itoa(int(st)) + `)/","Value":` + value + `,"Trend":4` + extra + `}`
}

func TestPostReceiverEgvRecords(t *testing.T) {
	e := newEnv(t)
	sid := e.publisher("sam", "8G1234")
	now := t0.UnixMilli()
	post := func(body string) response {
		return e.post("Publisher/PostReceiverEgvRecords?sessionId="+sid, body)
	}
	r := e.ok(post(`{"SN":"8G1234","Egvs":[` + egv(now-600000, "97", "") + `,` + egv(now-300000, "98.5", `,"direction":"Flat"`) + `],"TA":-5}`))
	if r.body != "" || r.header.Get("Content-Length") != "0" || r.header.Get("Content-Type") != "application/json" {
		t.Errorf("void response: %q %q %q", r.body, r.header.Get("Content-Length"), r.header.Get("Content-Type"))
	}
	got := e.readings(sid, 60, 10)
	if len(got) != 2 || got[0]["Value"] != 99.0 || got[1]["Value"] != 97.0 {
		t.Fatalf("readings %v", got)
	}
	// Duplicates (stored, and within a request) succeed silently; first write wins.
	e.ok(post(`{"SN":"8G1234","Egvs":[` + egv(now-600000, "150", "") + `,` + egv(now, "120", "") + `,` + egv(now, "130", "") + `]}`))
	got = e.readings(sid, 60, 10)
	if len(got) != 3 || got[0]["Value"] != 120.0 || got[2]["Value"] != 97.0 {
		t.Fatalf("after duplicates: %v", got)
	}
	// Special values, clamping, too old.
	e.ok(post(`{"SN":"8G1234","Egvs":[` + egv(now-900000, "12", "") + `,` + egv(now-1200000, "20", "") + `,` + egv(now-1500000, "700", "") + `,` + egv(1262303999000, "100", "") + `]}`))
	got = e.readings(sid, 60, 10)
	if len(got) != 5 || got[3]["Value"] != 39.0 || got[4]["Value"] != 401.0 {
		t.Fatalf("after special values: %v", got)
	}
	// Future readings are discarded and reported after the others were stored.
	we := e.wantError(post(`{"SN":"8G1234","Egvs":[`+egv(now+299000, "140", "")+`,`+egv(now+301000, "141", "")+`,`+egv(now+3600000, "142", "")+`]}`), 500, "FutureEgvPosted")
	if !strings.Contains(we.Message, "2 reading(s)") || !strings.Contains(we.Message, "1 stored") {
		t.Errorf("FutureEgvPosted message %q", we.Message)
	}
	if got = e.readings(sid, 60, 10); len(got) != 6 {
		t.Errorf("after future post: %d readings, want 6", len(got))
	}
	// Empty or absent Egvs succeed.
	e.ok(post(`{"SN":"8G1234","Egvs":[]}`))
	e.ok(post(`{"SN":"8G1234"}`))
	e.ok(post(`{"SN":"8G1234","Egvs":null}`))

	// Structural errors store nothing, even the valid elements before them.
	bad := []string{
		`[]`,
		`{"Egvs":[]}`,
		`{"SN":"8G 1234","Egvs":[]}`,
		`{"SN":"8G1234","Egvs":{}}`,
		`{"SN":"8G1234","Egvs":[` + egv(now-1800000, "100", "") + `,{"ST":"yesterday","Value":100}]}`,
		`{"SN":"8G1234","Egvs":[` + egv(now-1800000, "100", "") + `,{"Value":100}]}`,
		`{"SN":"8G1234","Egvs":[` + egv(now-1800000, "100", "") + `,{"ST":"/Date(1745081013817)/","Value":"100"}]}`,
		`{"SN":"8G1234","Egvs":[` + egv(now-1800000, "1000.6", "") + `]}`,
		`{"SN":"8G1234","Egvs":[` + egv(now-1800000, "-1", "") + `]}`,
		`{"SN":"8G1234","Egvs":[` + egv(now-1800000, "100", "") + `,7]}`,
		`{"SN":"8G1234","Egvs":[{"ST":"/Date(1745081013817)/","DT":"/Date(1745081013817+9900)/","Value":100}]}`,
		`{"SN":"8G1234","Egvs":[`,
	}
	for _, b := range bad {
		we := e.wantError(post(b), 500, "InvalidArgument")
		if strings.Contains(b, `"yesterday"`) && !strings.Contains(we.Message, "Egvs[1].ST") {
			t.Errorf("message %q does not name Egvs[1].ST", we.Message)
		}
	}
	if got = e.readings(sid, 60, 10); len(got) != 6 {
		t.Errorf("after bad posts: %d readings, want 6", len(got))
	}
	// Monitoring off first, then the serial.
	e.wantError(post(`{"SN":"8G0000","Egvs":[`+egv(now-1800000, "100", "")+`]}`), 500, "MonitoredReceiverSerialNumberDoesNotMatch")
	e.ok(e.post("Publisher/StopRemoteMonitoringSession?sessionId="+sid, ""))
	e.wantError(post(`{"SN":"8G0000","Egvs":[`+egv(now-1800000, "100", "")+`]}`), 500, "MonitoringSessionNotActive")
	e.wantError(post(`{"SN":"8G1234","Egvs":[`+egv(now-1800000, "100", "")+`]}`), 500, "MonitoringSessionNotActive")
	if got = e.readings(sid, 60, 10); len(got) != 6 {
		t.Errorf("after refused posts: %d readings, want 6", len(got))
	}
	// Too many elements.
	e.ok(e.post("Publisher/StartRemoteMonitoringSession?sessionId="+sid+"&serialNumber=8G1234", ""))
	many := strings.Repeat(egv(now-1800000, "100", "")+",", 10000) + egv(now-1800000, "100", "")
	e.wantError(post(`{"SN":"8G1234","Egvs":[`+many+`]}`), 500, "InvalidArgument")
}

func TestReadingOffsetAndFormats(t *testing.T) {
	e := newEnv(t)
	sid := e.publisher("sam", "SM00000000")
	// The 2015 capture: ST 1426783106000, DT 1426754317000 → -0800. Give it a
	// clock right after.
	e.clock.Set(time.UnixMilli(1426783106000 + 60000))
	body := `{"SN":"SM00000000","Egvs":[
		{"Trend":4,"ST":"\/Date(1426783106000)\/","DT":"\/Date(1426754317000)\/","Value":97},
		{"Trend":"FortyFiveUp","ST":"/Date(1426782806000)/","DT":"/Date(1426782806000+0530)/","Value":95},
		{"Trend":"NOT COMPUTABLE","ST":1426782506000,"Value":93},
		{"Trend":12,"ST":"2015-03-19T16:23:26Z","DT":"2015-03-19T16:23:26Z","Value":91}],"TA":-14365}`
	e.ok(e.post("Publisher/PostReceiverEgvRecords?sessionId="+sid, body))
	r := e.ok(e.post("Publisher/ReadPublisherLatestGlucoseValues?sessionId="+sid+"&maxCount=10", ""))
	want := `[{"WT":"Date(1426783106000)","ST":"Date(1426783106000)","DT":"Date(1426783106000-0800)","Value":97,"Trend":"Flat"},` +
		`{"WT":"Date(1426782806000)","ST":"Date(1426782806000)","DT":"Date(1426782806000+0530)","Value":95,"Trend":"FortyFiveUp"},` +
		`{"WT":"Date(1426782506000)","ST":"Date(1426782506000)","DT":"Date(1426782506000+0000)","Value":93,"Trend":"NotComputable"},` +
		`{"WT":"Date(1426782206000)","ST":"Date(1426782206000)","DT":"Date(1426782206000+0000)","Value":91,"Trend":"None"}]`
	if r.body != want {
		t.Errorf("modern:\n got %s\nwant %s", r.body, want)
	}
	r = e.ok(e.post("Publisher/ReadPublisherLatestGlucoseValues?sessionId="+sid+"&maxCount=1&compat=legacy", ""))
	if want := `[{"WT":"\/Date(1426783106000)\/","ST":"\/Date(1426783106000)\/","DT":"\/Date(1426783106000-0800)\/","Value":97,"Trend":4}]`; r.body != want {
		t.Errorf("legacy:\n got %s\nwant %s", r.body, want)
	}
	// The account's setting applies when the query does not say.
	a, _ := e.svc.FindAccount(t.Context(), "sam")
	e.svc.SetCompat(t.Context(), a.ID, "legacy")
	r = e.ok(e.post("Publisher/ReadPublisherLatestGlucoseValues?sessionId="+sid, ""))
	if !strings.Contains(r.body, `"Trend":4`) {
		t.Errorf("account legacy setting ignored: %s", r.body)
	}
	r = e.ok(e.post("Publisher/ReadPublisherLatestGlucoseValues?sessionId="+sid+"&compat=modern", ""))
	if !strings.Contains(r.body, `"Trend":"Flat"`) {
		t.Errorf("query compat=modern ignored: %s", r.body)
	}
}

func TestReadPublisherLatestGlucoseValues(t *testing.T) {
	e := newEnv(t)
	sid := e.publisher("sam", "8G1234")
	now := t0.UnixMilli()
	var egvs []string
	for i := 0; i < 300; i++ { // 25 hours of readings
		egvs = append(egvs, egv(now-int64(i)*300000, itoa(100+i%50), ""))
	}
	e.ok(e.post("Publisher/PostReceiverEgvRecords?sessionId="+sid, `{"SN":"8G1234","Egvs":[`+strings.Join(egvs, ",")+`]}`))
	count := func(q string) int {
		t.Helper()
		r := e.ok(e.post("Publisher/ReadPublisherLatestGlucoseValues?sessionId="+sid+q, ""))
		return strings.Count(r.body, `"WT"`)
	}
	cases := []struct {
		query string
		want  int
	}{
		{"", 1},
		{"&minutes=1440&maxCount=288", 288},
		{"&minutes=60&maxCount=100", 13},
		{"&minutes=0&maxCount=10", 0},
		{"&minutes=10&maxCount=0", 0},
		{"&minutes=99999999&maxCount=5000", 300},
		{"&minutes=29287512&maxCount=1", 1}, // the official uploader's "minutes since 1970"
		{"&minutes=99999999999999999999999&maxCount=2", 2},
		{"&MINUTES=1440&MAXCOUNT=4", 4},
	}
	for _, c := range cases {
		if got := count(c.query); got != c.want {
			t.Errorf("query %q: %d readings, want %d", c.query, got, c.want)
		}
	}
	// Newest first.
	rs := e.readings(sid, 30, 3)
	if rs[0]["ST"].(string) != "Date("+itoa(int(now))+")" {
		t.Errorf("first reading %v is not the newest", rs[0])
	}
	r0 := e.ok(e.post("Publisher/ReadPublisherLatestGlucoseValues?sessionId="+sid, `{"minutes":1440.0,"maxCount":3.0}`))
	if n := strings.Count(r0.body, `"WT"`); n != 3 {
		t.Errorf("JSON numbers 1440.0 and 3.0: %d readings, want 3", n)
	}
	for _, q := range []string{"&minutes=-1", "&maxCount=-5", "&minutes=abc", "&maxCount=1.5", "&minutes=1440.0"} {
		e.wantError(e.post("Publisher/ReadPublisherLatestGlucoseValues?sessionId="+sid+q, ""), 500, "InvalidArgument")
	}
	// Numbers in a JSON body, as strings or numbers.
	r := e.ok(e.post("Publisher/ReadPublisherLatestGlucoseValues", `{"sessionId":"`+sid+`","minutes":"60","maxCount":2}`))
	if strings.Count(r.body, `"WT"`) != 2 {
		t.Errorf("JSON body numbers: %s", r.body)
	}
	// Other accounts see none of it.
	e.account("kim")
	if got := e.readings(e.login("kim"), 1440, 288); len(got) != 0 {
		t.Errorf("another account read %d readings", len(got))
	}
}

func TestProfile(t *testing.T) {
	e := newEnv(t)
	e.account("sam")
	sid := e.login("sam")
	q := "?sessionId=" + sid
	if got := e.ok(e.post("Publisher/ReadPublisherAccountDisplayName"+q, "")).body; got != `"Sam"` {
		t.Errorf("display name %s", got)
	}
	e.ok(e.post("Publisher/UpdatePublisherAccountDisplayName"+q+"&displayName=%20Sam%20%3CR%3E%20", ""))
	if got := e.ok(e.post("Publisher/ReadPublisherAccountDisplayName"+q, "")).body; got != `"Sam <R>"` {
		t.Errorf("display name %s", got)
	}
	e.wantError(e.post("Publisher/UpdatePublisherAccountDisplayName"+q+"&displayName=%20", ""), 500, "InvalidArgument")
	e.wantError(e.post("Publisher/UpdatePublisherAccountDisplayName"+q+"&displayName="+strings.Repeat("x", 101), ""), 500, "InvalidArgument")
	e.wantError(e.post("Publisher/UpdatePublisherAccountDisplayName"+q+"&displayName=a%07b", ""), 500, "InvalidArgument")

	if got := e.ok(e.post("Publisher/ReadPublisherAccountEmail"+q, "")).body; got != `""` {
		t.Errorf("email %s", got)
	}
	e.ok(e.post("Publisher/UpdatePublisherAccountEmail"+q+"&emailAddress=sam@example.org", ""))
	if got := e.ok(e.post("Publisher/ReadPublisherAccountEmail"+q, "")).body; got != `"sam@example.org"` {
		t.Errorf("email %s", got)
	}
	for _, bad := range []string{"sam", "sam@localhost", "@example.org", "a@b@example.org", strings.Repeat("a", 250) + "@example.org"} {
		e.wantError(e.post("Publisher/UpdatePublisherAccountEmail"+q+"&emailAddress="+bad, ""), 500, "InvalidEmailAddress")
	}
}

func TestImage(t *testing.T) {
	e := newEnv(t)
	e.account("sam")
	sid := e.login("sam")
	img := "/ShareWebServices/Services/Publisher/ReadPublisherAccountImage?sessionId=" + sid
	e.wantError(e.do(http.MethodGet, img, ""), 404, "ImageNotFound")
	png := []int{137, 80, 78, 71, 13, 10, 26, 10, 0, 0, 0, 13, -1, 255}
	var sb strings.Builder
	for i, n := range png {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(itoa(n))
	}
	e.ok(e.post("Publisher/UpdatePublisherAccountImage?sessionId="+sid, `{"ImageType":"png","ImageData":[`+sb.String()+`]}`))
	r := e.ok(e.do(http.MethodGet, img, ""))
	if r.header.Get("Content-Type") != "image/png" || r.header.Get("Cache-Control") != "private, no-cache" {
		t.Errorf("image headers %v", r.header)
	}
	if want := "\x89PNG\r\n\x1a\n\x00\x00\x00\r\xff\xff"; r.body != want {
		t.Errorf("image bytes %q, want %q", r.body, want)
	}
	jpeg := base64.StdEncoding.EncodeToString([]byte("\xff\xd8\xff\xe0 jfif"))
	e.ok(e.post("Publisher/UpdatePublisherAccountImage?sessionId="+sid, `{"ImageType":"png","ImageData":"`+jpeg+`"}`))
	if r := e.ok(e.do(http.MethodPost, img, "")); r.header.Get("Content-Type") != "image/jpeg" {
		t.Errorf("type detected from bytes: %q", r.header.Get("Content-Type"))
	}
	e.wantError(e.post("Publisher/UpdatePublisherAccountImage?sessionId="+sid, `{"ImageData":"R0lGODlh"}`), 500, "InvalidArgument")
	e.wantError(e.post("Publisher/UpdatePublisherAccountImage?sessionId="+sid, `{"ImageData":[137,80,999]}`), 500, "InvalidArgument")
	big := base64.StdEncoding.EncodeToString(append([]byte("\x89PNG\r\n\x1a\n"), make([]byte, 256<<10)...))
	e.wantError(e.post("Publisher/UpdatePublisherAccountImage?sessionId="+sid, `{"ImageData":"`+big+`"}`), 500, "InvalidArgument")
	e.ok(e.post("Publisher/UpdatePublisherAccountImage?sessionId="+sid, `{"ImageData":[]}`))
	e.wantError(e.do(http.MethodGet, img, ""), 404, "ImageNotFound")
}

func TestRuntimeInfo(t *testing.T) {
	e := newEnv(t)
	e.account("sam")
	sid := e.login("sam")
	info := `{"DeviceManufacturer":"Apple","DeviceModel":"iPhone5,2","DeviceOsVersion":"7.0.2","AppVersion":"3.0.2.11","AppName":"DexcomShare","AppNumber":"SW10569","DeviceOsName":"iPhone OS"}`
	e.ok(e.post("Publisher/UpdatePublisherAccountRuntimeInfo", `{"sessionId":"`+sid+`","runtimeInfo":`+info+`}`))
	e.ok(e.post("Publisher/UpdatePublisherAccountRuntimeInfo?sessionId="+sid, `{"runtimeInfo":{}}`))
	e.wantError(e.post("Publisher/UpdatePublisherAccountRuntimeInfo?sessionId="+sid, `{"runtimeInfo":{"x":"`+strings.Repeat("y", 5000)+`"}}`), 500, "InvalidArgument")
	e.wantError(e.post("Publisher/UpdatePublisherAccountRuntimeInfo?sessionId="+sid, `{}`), 500, "InvalidArgument")
}
