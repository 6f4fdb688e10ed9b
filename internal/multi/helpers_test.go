// Package multi tests several glucoshare instances on one database, as a
// load balancer runs them: every instance is the real `glucoshare serve`,
// started in-process through cli.Run on its own port of 127.0.0.1, and they
// share one database of the engine storetest selects — a PostgreSQL
// database when GLUCOSHARE_TEST_DB names a server, else one SQLite file
// (WAL, busy_timeout), which several instances on one host may share too.
//
// The benchmarks measure read throughput of one instance and of two on one
// PostgreSQL database:
//
//	GLUCOSHARE_TEST_DB=postgres://… go test ./internal/multi -run '^$' -bench Read
package multi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/glucoshare/glucoshare/internal/cli"
	"github.com/glucoshare/glucoshare/internal/cli/clitest"
	"github.com/glucoshare/glucoshare/internal/store/storetest"
)

const (
	apiBase = "/ShareWebServices/Services/"
	appID   = "d89443d2-327c-4a6f-89e5-496bbb0317db"
	serial  = "SM12345678"
)

// instance is one running `glucoshare serve`.
type instance struct {
	name   string
	base   string
	client *http.Client
}

// onPostgres reports whether the tests run on PostgreSQL.
func onPostgres() bool {
	env := os.Getenv(storetest.EnvDB)
	return strings.HasPrefix(env, "postgres://") || strings.HasPrefix(env, "postgresql://")
}

// startInstances migrates dsn, then starts n servers on it, with the extra
// flags in args, and stops them at cleanup. The schema is created first, as docs/scaling.md advises: on
// SQLite, two connections that open a file that does not exist yet can fail
// to switch it to WAL (SQLITE_BUSY without waiting).
func startInstances(t testing.TB, dsn string, n int, args ...string) []*instance {
	t.Helper()
	if code, errOut := runCLI("", "migrate", "--db", dsn); code != 0 {
		t.Fatalf("migrate: exit %d: %s", code, errOut)
	}
	ins := make([]*instance, n)
	for i := range ins {
		live := clitest.Serve(t, dsn, args...)
		transport := &http.Transport{MaxIdleConnsPerHost: 64}
		t.Cleanup(transport.CloseIdleConnections)
		ins[i] = &instance{name: string(rune('A' + i)), base: "http://" + live.Addr,
			client: &http.Client{Transport: transport, Timeout: 30 * time.Second}}
	}
	return ins
}

// runCLI runs a glucoshare command and returns its exit code and what it
// printed on standard error.
func runCLI(stdin string, args ...string) (int, string) {
	var errOut bytes.Buffer
	env := cli.Env{Stdin: strings.NewReader(stdin), Stdout: io.Discard, Stderr: &errOut,
		Getenv: func(string) string { return "" }}
	return cli.Run(context.Background(), args, env), errOut.String()
}

// addAccount creates an account with `glucoshare account add`.
func addAccount(t testing.TB, dsn, name, password string) {
	t.Helper()
	code, errOut := runCLI(password+"\n", "account", "add", "--db", dsn, "--name", name,
		"--display-name", name, "--password-stdin")
	if code != 0 {
		t.Fatalf("account add %s: exit %d: %s", name, code, errOut)
	}
}

// reply is an answer of the Share API.
type reply struct {
	status int
	body   string
}

// code returns the error code of an error answer, "" for a success.
func (r reply) code() string {
	if r.status == http.StatusOK {
		return ""
	}
	var e struct{ Code string }
	json.Unmarshal([]byte(r.body), &e)
	return e.Code
}

// post sends a POST to the API path (with its query) and returns the
// answer; transport failures are returned, not fatal, so that goroutines
// may call it.
func (in *instance) post(path, body string) (reply, error) {
	resp, err := in.client.Post(in.base+apiBase+path, "application/json", strings.NewReader(body))
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return reply{status: resp.StatusCode, body: string(b)}, err
}

// call is post for the test's goroutine.
func (in *instance) call(t testing.TB, path, body string) reply {
	t.Helper()
	r, err := in.post(path, body)
	if err != nil {
		t.Fatalf("instance %s: %s: %v", in.name, path, err)
	}
	return r
}

// want checks an answer's error code ("" for success).
func want(t testing.TB, what string, r reply, code string) {
	t.Helper()
	if got := r.code(); got != code || (code == "" && r.status != http.StatusOK) {
		t.Fatalf("%s: status %d, code %q, want %q; body %s", what, r.status, got, code, r.body)
	}
}

func loginBody(name, password string) string {
	b, _ := json.Marshal(map[string]string{"accountName": name, "password": password, "applicationId": appID})
	return string(b)
}

// login logs in on in and returns the session id.
func (in *instance) login(t testing.TB, name, password string) string {
	t.Helper()
	r := in.call(t, "General/LoginPublisherAccountByName", loginBody(name, password))
	want(t, "login on "+in.name, r, "")
	var sid string
	if err := json.Unmarshal([]byte(r.body), &sid); err != nil {
		t.Fatalf("login on %s: body %s: %v", in.name, r.body, err)
	}
	return sid
}

// startMonitoring assigns the test's receiver to the session's account
// on one instance and starts monitoring on another.
func startMonitoring(t testing.TB, a, b *instance, sid string) {
	t.Helper()
	q := "?sessionId=" + sid + "&serialNumber=" + serial
	want(t, "Replace receiver on "+a.name, a.call(t, "Publisher/ReplacePublisherAccountMonitoredReceiver"+q, ""), "")
	want(t, "Start monitoring on "+b.name, b.call(t, "Publisher/StartRemoteMonitoringSession"+q, ""), "")
}

// egv is one reading: its system time (Unix ms) and value; the value is a
// function of the time, so that a reading stored twice or mixed up shows.
type egv struct {
	st    int64
	value int
}

// readings returns n readings five minutes apart, newest first, the newest
// a minute ago.
func readings(n int) []egv {
	newest := time.Now().Add(-time.Minute).Truncate(time.Second)
	out := make([]egv, n)
	for i := range out {
		st := newest.Add(-time.Duration(i) * 5 * time.Minute).UnixMilli()
		out[i] = egv{st: st, value: valueAt(st)}
	}
	return out
}

func valueAt(st int64) int { return 40 + int(st/1000/300%360) }

// egvBody is an upload of rs, as the official uploader sends it.
func egvBody(rs []egv) string {
	var b strings.Builder
	b.WriteString(`{"SN":"` + serial + `","TA":0,"Egvs":[`)
	for i, r := range rs {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"DT":"/Date(%d)/","ST":"/Date(%d)/","Trend":4,"Value":%d}`, r.st, r.st, r.value)
	}
	b.WriteString(`]}`)
	return b.String()
}

// wireReading is a reading as the read API returns it.
type wireReading struct {
	ST    string
	Value int
}

// latest reads up to max of the account's readings of the last week.
func (in *instance) latest(t testing.TB, sid string, max int) []wireReading {
	t.Helper()
	r := in.call(t, fmt.Sprintf("Publisher/ReadPublisherLatestGlucoseValues?sessionId=%s&minutes=10080&maxCount=%d", sid, max), "")
	want(t, "read on "+in.name, r, "")
	var rs []wireReading
	if err := json.Unmarshal([]byte(r.body), &rs); err != nil {
		t.Fatalf("read on %s: body %s: %v", in.name, r.body, err)
	}
	return rs
}

// sessionCheck is the request that tests a session: its account's display
// name, answered with SessionNotValid when the session is not.
const sessionCheck = "Publisher/ReadPublisherAccountDisplayName?sessionId="

// checkSession wants in's answer to sessionCheck for sid to carry code
// ("" for success).
func checkSession(t *testing.T, in *instance, sid, code, what string) {
	t.Helper()
	want(t, what, in.call(t, sessionCheck+sid, ""), code)
}
