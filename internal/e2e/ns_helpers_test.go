package e2e

import (
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/glucoshare/glucoshare/internal/cli/clitest"
)

// nsAccount is an account set up for the Nightscout apps the way its
// owner does it with the command line (docs/nightscout.md): an API secret,
// access tokens, and a per-account address.
type nsAccount struct {
	account
	secret    string // the API secret
	readOnly  string // a read-only access token
	readWrite string
	site      string // /ns/HANDLE, readable without a credential
}

// newNSAccount creates an account with an API secret, a read-only and a
// read-write token, and its /ns/HANDLE address with anonymous reading
// on (anonymous says whether).
func newNSAccount(t *testing.T, s *server, name string, anonymous bool) nsAccount {
	t.Helper()
	a := nsAccount{account: s.addAccount(t, name, name, "", "correct horse battery staple")}
	a.secret = strings.TrimSpace(s.cli(t, "account", "nightscout-secret", name, "--generate"))
	a.readOnly = strings.TrimSpace(s.cli(t, "account", "nightscout-token", name, "--read-only", "--name", "follower app"))
	a.readWrite = strings.TrimSpace(s.cli(t, "account", "nightscout-token", name, "--name", "uploader app"))
	on := map[bool]string{true: "on", false: "off"}[anonymous]
	a.site = strings.TrimSuffix(strings.TrimSpace(s.cli(t, "account", "nightscout-site", name, "--anonymous-read", on)), "/")
	if !strings.HasPrefix(a.site, "/ns/") {
		t.Fatalf("nightscout-site printed %q, want /ns/HANDLE/", a.site)
	}
	return a
}

// cli runs a glucoshare command against the server's database and returns
// what it printed; it must succeed.
func (s *server) cli(t *testing.T, args ...string) string {
	t.Helper()
	args = append(args, "--db", s.dsn)
	code, out, errOut := clitest.Run(t, "", args...)
	if code != 0 {
		t.Fatalf("glucoshare %s: exit status %d; stderr: %s", strings.Join(args, " "), code, errOut)
	}
	return out
}

// sha1Hex is how Nightscout clients send a secret or a token as api-secret.
func sha1Hex(s string) string {
	sum := sha1.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

// get sends a GET with the headers (name, value pairs).
func (s *server) get(t *testing.T, path string, header ...string) reply {
	t.Helper()
	return s.do(t, call{method: "GET", path: path, header: header})
}

// wantStatus checks an answer's status.
func wantStatus(t *testing.T, what string, r reply, status int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("%s: status %d, want %d; body %s", what, r.status, status, r.body)
	}
}

// decodeAs decodes a 200 answer into v, strictly as a Swift Decodable or a
// Gson model would: a member of the wrong type fails.
func decodeAs(t *testing.T, what string, r reply, v any) {
	t.Helper()
	wantStatus(t, what, r, 200)
	if err := json.Unmarshal([]byte(r.body), v); err != nil {
		t.Fatalf("%s: %v; body %s", what, err, r.body)
	}
}

// nsEntryJSON is an sgv entry as uploaders post it: ms, value, direction,
// and the device and date string they add.
func nsEntryJSON(ms int64, sgv int, direction, device string) string {
	return fmt.Sprintf(`{"type":"sgv","sgv":%d,"date":%d,"dateString":%q,"direction":%q,"device":%q}`,
		sgv, ms, time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z"), direction, device)
}

// recent returns n times five minutes apart, newest first, the newest a
// minute ago, in whole seconds as CGMs give them.
func recent(n int) []int64 {
	newest := time.Now().Add(-time.Minute).Truncate(time.Second)
	out := make([]int64, n)
	for i := range out {
		out[i] = newest.Add(-time.Duration(i) * 5 * time.Minute).UnixMilli()
	}
	return out
}

// uploadEntries posts sgv entries with the API secret, as any uploader
// does; values[i] is at times[i].
func (s *server) uploadEntries(t *testing.T, a nsAccount, times []int64, values []int, directions []string) {
	t.Helper()
	var es []string
	for i := range times {
		es = append(es, nsEntryJSON(times[i], values[i], directions[i], "xDrip-DexcomG6"))
	}
	r := s.do(t, call{path: "/api/v1/entries", header: []string{"api-secret", sha1Hex(a.secret), "Content-Type", "application/json"},
		body: "[" + strings.Join(es, ",") + "]"})
	wantStatus(t, "uploading entries", r, 200)
}

// postDeviceStatus posts a device status with the API secret.
func (s *server) postDeviceStatus(t *testing.T, a nsAccount, body string) {
	t.Helper()
	r := s.do(t, call{path: "/api/v1/devicestatus", header: []string{"api-secret", sha1Hex(a.secret), "Content-Type", "application/json"}, body: body})
	wantStatus(t, "posting device status", r, 200)
}

// isoMs is a time as Nightscout clients write it, in UTC with milliseconds.
func isoMs(ms int64) string { return time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z") }
