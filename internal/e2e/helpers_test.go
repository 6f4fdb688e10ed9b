// Package e2e drives the real glucoshare server, started in-process through
// cli.Run exactly as `glucoshare serve` runs, with the requests that real
// Share clients send (docs/protocol.md, "Known clients"): their headers, bodies, query strings
// and quirks. Every test runs on the engine storetest selects, so
//
//	go test ./internal/e2e/
//	GLUCOSHARE_TEST_DB=postgres://… go test ./internal/e2e/
//
// cover SQLite and PostgreSQL.
package e2e

import (
	"bytes"
	"compress/gzip"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/glucoshare/glucoshare/internal/cli/clitest"
	"github.com/glucoshare/glucoshare/internal/store/storetest"
)

const (
	// apiBase is where the protocol lives (docs/protocol.md, "Hosts and paths").
	apiBase = "/ShareWebServices/Services/"
	// appID is the applicationId nearly every client sends (docs/protocol.md, "Credential checks").
	appID = "d89443d2-327c-4a6f-89e5-496bbb0317db"
	// officialPartition is the official uploader's named-value partition (docs/protocol.md, "General").
	officialPartition = "8d61be97-5cc9-4428-9823-1e3b97c36262"

	// Dexcom's host names; fixed-host clients reach glucoshare through DNS
	// (docs/protocol.md, "Known clients"), so they send these in the Host header.
	usHost  = "share2.dexcom.com"
	ousHost = "shareous1.dexcom.com"
)

// server is a running glucoshare.
type server struct {
	dsn    string
	base   string // scheme://127.0.0.1:port
	addr   string // 127.0.0.1:port
	client *http.Client
	log    *clitest.SyncBuffer
}

// startServer runs `glucoshare serve` on a fresh database of the engine
// under test, listening on a free port of 127.0.0.1, with the extra flags
// in args. It serves HTTPS when args contain --tls-cert. The server stops at
// cleanup and must exit with status 0; its log is printed if the test failed.
func startServer(t *testing.T, args ...string) *server {
	t.Helper()
	live := clitest.Serve(t, storetest.DSN(t), args...)
	dsn, addr, log := live.DSN, live.Addr, live.Log
	scheme := "http"
	if slices.Contains(args, "--tls-cert") {
		scheme = "https"
	}
	transport := &http.Transport{
		// The requests carry exactly the Accept-Encoding each client sends;
		// gzip answers are decoded by hand in do.
		DisableCompression: true,
		// Like xDrip+ and the bridge, accept any certificate.
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true},
	}
	s := &server{
		dsn:  dsn,
		addr: addr,
		base: scheme + "://" + addr,
		log:  log,
		client: &http.Client{
			Transport:     transport,
			Timeout:       30 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
	t.Cleanup(transport.CloseIdleConnections)
	return s
}

// account is an account created by the operator's command line.
type account struct {
	id, name, password string
}

// addAccount runs `glucoshare account add` against the server's database
// and returns the account with the id the command printed.
func (s *server) addAccount(t *testing.T, name, displayName, email, password string) account {
	t.Helper()
	args := []string{"account", "add", "--db", s.dsn, "--name", name, "--display-name", displayName, "--password-stdin"}
	if email != "" {
		args = append(args, "--email", email)
	}
	code, out, errOut := clitest.Run(t, password+"\n", args...)
	if code != 0 {
		t.Fatalf("glucoshare account add %s: exit status %d; stderr: %s", name, code, errOut)
	}
	id := strings.TrimSpace(out)
	if !idPattern.MatchString(id) {
		t.Fatalf("glucoshare account add printed %q, want an account id", id)
	}
	return account{id: id, name: name, password: password}
}

// call is one HTTP request exactly as a client sends it.
type call struct {
	method string // "" means POST
	host   string // Host header; "" means the server's address
	path   string // path and query as on the request line
	// header holds name, value pairs: exactly these headers are sent, plus
	// Host and the Content-Length Go computes (0 for an empty POST, as every
	// client here sends). No User-Agent is sent unless listed.
	header []string
	body   string
}

// reply is an answer, with its body decompressed if it was gzipped.
type reply struct {
	status  int
	header  http.Header
	body    string
	gzipped bool
}

// do sends c and returns the server's answer.
func (s *server) do(t *testing.T, c call) reply {
	t.Helper()
	method := c.method
	if method == "" {
		method = http.MethodPost
	}
	var body io.Reader
	if c.body != "" {
		body = strings.NewReader(c.body)
	}
	req, err := http.NewRequest(method, s.base+c.path, body)
	if err != nil {
		t.Fatalf("building %s %s: %v", method, c.path, err)
	}
	req.Host = c.host
	req.Header["User-Agent"] = []string{""} // no Go default
	for i := 0; i+1 < len(c.header); i += 2 {
		req.Header.Set(c.header[i], c.header[i+1])
	}
	res, err := s.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, c.path, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, c.path, err)
	}
	r := reply{status: res.StatusCode, header: res.Header, body: string(raw)}
	if res.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			t.Fatalf("%s %s: gzip body: %v", method, c.path, err)
		}
		plain, err := io.ReadAll(zr)
		if err != nil {
			t.Fatalf("%s %s: gzip body: %v", method, c.path, err)
		}
		r.body, r.gzipped = string(plain), true
	}
	return r
}

// idPattern is an id as the server issues it (docs/protocol.md, "Identifiers").
var idPattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// wantOK checks the parts of docs/protocol.md, "Success responses" every success shares: status 200 and a
// Content-Type of exactly application/json.
func wantOK(t *testing.T, what string, r reply) {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("%s: status %d, want 200; body %s", what, r.status, r.body)
	}
	if got, want := r.header.Get("Content-Type"), "application/json"; got != want {
		t.Errorf("%s: Content-Type %q, want %q", what, got, want)
	}
}

// wantID checks an id answer: a JSON string of exactly 38 bytes holding a
// lower-case UUID, without a trailing newline (docs/protocol.md, "Success responses"), and returns the id.
func wantID(t *testing.T, what string, r reply) string {
	t.Helper()
	wantOK(t, what, r)
	if len(r.body) != 38 || r.body[0] != '"' || r.body[37] != '"' || !idPattern.MatchString(r.body[1:37]) {
		t.Fatalf("%s: body %q, want a quoted lower-case UUID of 38 bytes", what, r.body)
	}
	return r.body[1:37]
}

// wantVoid checks a void answer: 200, empty body, Content-Length 0.
func wantVoid(t *testing.T, what string, r reply) {
	t.Helper()
	wantOK(t, what, r)
	if r.body != "" {
		t.Errorf("%s: body %q, want empty", what, r.body)
	}
	if got := r.header.Get("Content-Length"); got != "0" {
		t.Errorf("%s: Content-Length %q, want \"0\"", what, got)
	}
}

// wantBody checks a 200 answer with exactly the body want.
func wantBody(t *testing.T, what string, r reply, want string) {
	t.Helper()
	wantOK(t, what, r)
	if r.body != want {
		t.Errorf("%s: body %q, want %q", what, r.body, want)
	}
}

// wireError is the protocol's error body (docs/protocol.md, "Errors").
type wireError struct {
	Code, Message, SubCode, TypeName string
}

// wantError checks an error answer: the status, Content-Type, and a JSON
// object of exactly four string members with the code, as Loop and
// xDrip4iOS read it (a string-to-string map).
func wantError(t *testing.T, what string, r reply, status int, code string) wireError {
	t.Helper()
	if r.status != status {
		t.Fatalf("%s: status %d, want %d (%s); body %s", what, r.status, status, code, r.body)
	}
	if got, want := r.header.Get("Content-Type"), "application/json"; got != want {
		t.Errorf("%s: Content-Type %q, want %q", what, got, want)
	}
	var m map[string]string
	if err := json.Unmarshal([]byte(r.body), &m); err != nil {
		t.Fatalf("%s: error body %s is not a string-to-string object: %v", what, r.body, err)
	}
	if len(m) != 4 {
		t.Errorf("%s: error body has %d members, want 4: %s", what, len(m), r.body)
	}
	e := wireError{Code: m["Code"], Message: m["Message"], SubCode: m["SubCode"], TypeName: m["TypeName"]}
	if e.Code != code {
		t.Fatalf("%s: Code %q, want %q; body %s", what, e.Code, code, r.body)
	}
	if e.TypeName != "FaultException" {
		t.Errorf("%s: TypeName %q, want FaultException", what, e.TypeName)
	}
	return e
}

// trendNames are the Trend names of docs/protocol.md, "Trends", by number.
var trendNames = [...]string{"None", "DoubleUp", "SingleUp", "FortyFiveUp", "Flat",
	"FortyFiveDown", "SingleDown", "DoubleDown", "NotComputable", "RateOutOfRange"}

// egv is a reading as the uploader knows it: its system time in Unix
// milliseconds, its value in mg/dL and its trend number.
type egv struct {
	st    int64
	value int
	trend int
}

// series returns n readings five minutes apart, newest first, the newest a
// minute before now, on whole seconds as every uploader sends them. Values
// and trends vary so that a mix-up would show.
func series(n int) []egv {
	newest := time.Now().Add(-time.Minute).Truncate(time.Second)
	out := make([]egv, n)
	for i := range out {
		out[i] = egv{
			st:    newest.Add(-time.Duration(i) * 5 * time.Minute).UnixMilli(),
			value: 60 + (i*37)%300,
			trend: 1 + i%7,
		}
	}
	return out
}

// wireReading is a Reading as decoded by a JSON decoder (docs/protocol.md, "Shared objects").
type wireReading struct {
	WT, ST, DT string
	Value      int
	Trend      json.RawMessage
}

// decodeReadings checks a 200 answer and decodes its array of readings.
func decodeReadings(t *testing.T, what string, r reply) []wireReading {
	t.Helper()
	wantOK(t, what, r)
	var rs []wireReading
	if err := json.Unmarshal([]byte(r.body), &rs); err != nil {
		t.Fatalf("%s: body %s is not an array of readings: %v", what, r.body, err)
	}
	return rs
}

// wantReadings checks modern-form readings (docs/protocol.md, "Dates and times", "Compatibility mode") against want,
// newest first, each with the UTC offset offset (e.g. "+0000") in DT.
func wantReadings(t *testing.T, what string, got []wireReading, want []egv, offset string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d readings, want %d", what, len(got), len(want))
	}
	for i, w := range want {
		g := got[i]
		date := fmt.Sprintf("Date(%d)", w.st)
		if g.WT != date || g.ST != date {
			t.Errorf("%s: reading %d: WT %q, ST %q, want both %q", what, i, g.WT, g.ST, date)
		}
		if wantDT := fmt.Sprintf("Date(%d%s)", w.st, offset); g.DT != wantDT {
			t.Errorf("%s: reading %d: DT %q, want %q", what, i, g.DT, wantDT)
		}
		if g.Value != w.value {
			t.Errorf("%s: reading %d: Value %d, want %d", what, i, g.Value, w.value)
		}
		if wantTrend := strconv.Quote(trendNames[w.trend]); string(g.Trend) != wantTrend {
			t.Errorf("%s: reading %d: Trend %s, want %s", what, i, g.Trend, wantTrend)
		}
	}
}

// newest returns the first n of readings (newest first).
func newest(readings []egv, n int) []egv { return readings[:min(n, len(readings))] }

// dotNetDate is the upload form of a time: "/Date(ms)/".
func dotNetDate(ms int64) string { return fmt.Sprintf("/Date(%d)/", ms) }

// escapeSlashes writes JSON the way NSJSONSerialization does, with "/" as
// "\/" (xDrip4iOS, LoopKit and the official iOS uploader use it).
func escapeSlashes(js string) string { return strings.ReplaceAll(js, "/", `\/`) }

// mustJSON encodes v compactly, as JSON.stringify and Gson do.
func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("encoding %v: %v", v, err)
	}
	return string(b)
}

// jsonString decodes a JSON string answer.
func jsonString(t *testing.T, what, body string) string {
	t.Helper()
	var s string
	if err := json.Unmarshal([]byte(body), &s); err != nil {
		t.Fatalf("%s: body %q is not a JSON string: %v", what, body, err)
	}
	return s
}

// minutesSince1970 is what the official uploader sends as minutes (docs/protocol.md, "Publisher: glucose").
func minutesSince1970() string { return strconv.FormatInt(time.Now().Unix()/60, 10) }

// publisher is an account with readings uploaded through the API, for the
// follower tests.
type publisher struct {
	account
	readings []egv // newest first
	offset   string
}

// newPublisher creates sam@example.org and uploads readings (newest first)
// the way the official uploader does (docs/protocol.md, "Publisher: glucose"): DT is local wall time without
// offset, here four hours behind UTC, so every reading carries the offset
// -0400.
func newPublisher(t *testing.T, s *server, readings []egv) publisher {
	t.Helper()
	acct := s.addAccount(t, "sam@example.org", "Sam", "", "correct horse battery")
	p := publisher{account: acct, readings: readings, offset: "-0400"}
	hdr := []string{"User-Agent", "Dexcom Share/3.0.2.11 CFNetwork/711.2.23 Darwin/14.0.0",
		"Content-Type", "application/json", "Accept", "application/json"}
	login := mustJSON(t, map[string]string{"accountName": acct.name, "password": acct.password, "applicationId": appID})
	sid := wantID(t, "publisher login", s.do(t, call{host: usHost, path: apiBase + "General/LoginPublisherAccountByName", header: hdr, body: login}))
	q := "?sessionId=" + sid + "&serialNumber=SM12345678"
	wantID(t, "publisher Replace", s.do(t, call{host: usHost, path: apiBase + "Publisher/ReplacePublisherAccountMonitoredReceiver" + q, header: hdr, body: "{}"}))
	wantVoid(t, "publisher Start", s.do(t, call{host: usHost, path: apiBase + "Publisher/StartRemoteMonitoringSession" + q, header: hdr, body: "{}"}))
	var egvs []string
	for _, r := range p.readings {
		egvs = append(egvs, fmt.Sprintf(`{"DT":"%s","ST":"%s","Trend":%d,"Value":%d}`,
			dotNetDate(r.st-4*3600_000), dotNetDate(r.st), r.trend, r.value))
	}
	body := escapeSlashes(`{"Egvs":[` + strings.Join(egvs, ",") + `],"SN":"SM12345678","TA":0}`)
	wantVoid(t, "publisher Post", s.do(t, call{host: usHost, path: apiBase + "Publisher/PostReceiverEgvRecords?sessionId=" + sid, header: hdr, body: body}))
	return p
}
