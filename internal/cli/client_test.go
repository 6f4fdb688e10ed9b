package cli_test

// Tests of the client commands (login, latest, readings, watch, upload,
// followers, follow) against the real server started in-process, with
// golden output under testdata/client. Run with -update-client to rewrite
// the golden files after a deliberate change of output.

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/glucoshare/glucoshare/internal/cli"
	"github.com/glucoshare/glucoshare/internal/cli/clitest"
	"github.com/glucoshare/glucoshare/internal/store/storetest"
	"github.com/glucoshare/glucoshare/share"
)

var updateClientGolden = flag.Bool("update-client", false, "rewrite the golden files of the client command tests")

const clientPW = "correct horse battery"

// clientEnv is a running server and what the tests know about it.
type clientEnv struct {
	t    *testing.T
	dsn  string
	base string   // http://127.0.0.1:port
	repl []string // old, new pairs applied before comparing with golden files
}

// clientServe runs `glucoshare serve` on a fresh database until the test
// ends.
func clientServe(t *testing.T, args ...string) *clientEnv {
	t.Helper()
	live := clitest.Serve(t, storetest.DSN(t), append([]string{"--log-level", "error"}, args...)...)
	dsn, addr := live.DSN, live.Addr
	e := &clientEnv{t: t, dsn: dsn, base: "http://" + addr}
	e.replace(e.base, "{SERVER}")
	return e
}

// replace makes golden comparisons see new instead of old.
func (e *clientEnv) replace(old, new string) { e.repl = append(e.repl, old, new) }

// account creates an account and returns its id, shown as {NAME-ID} in
// golden files.
func (e *clientEnv) account(name, display string) string {
	e.t.Helper()
	id := clitest.AddAccount(e.t, e.dsn, name, display, clientPW)
	e.replace(id, "{"+strings.ToUpper(name)+"-ID}")
	return id
}

// client returns a share.Client for an account.
func (e *clientEnv) client(name string) *share.Client {
	e.t.Helper()
	c, err := share.NewClient(share.WithBaseURL(e.base), share.WithCredentials(name, clientPW))
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// as returns the flags and environment of a command run as account name:
// the server and user name as flags, the password in $GLUCOSHARE_PASSWORD.
func (e *clientEnv) as(name string, args ...string) ([]string, map[string]string) {
	return append(args, "--server", e.base, "--username", name), map[string]string{"GLUCOSHARE_PASSWORD": clientPW}
}

// runAs runs a client command as account name.
func (e *clientEnv) runAs(name string, args ...string) (int, string, string) {
	e.t.Helper()
	argv, vars := e.as(name, args...)
	return clientRun(e.t, "", vars, argv...)
}

// clientRun runs the command line; HOME is unset unless vars set it, so no
// real config file is read.
func clientRun(t *testing.T, stdin string, vars map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	env := cli.Env{Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errOut, Getenv: func(k string) string { return vars[k] }}
	code := cli.Run(context.Background(), args, env)
	return code, out.String(), errOut.String()
}

var (
	uuidRE    = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
	agoRE     = regexp.MustCompile(`\b\d+ min ago|just now`)
	minAgoRE  = regexp.MustCompile(`"minutesAgo": \d+`)
	expiresRE = regexp.MustCompile(`\d{4}-\d\d-\d\d \d\d:\d\d UTC|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ`)
)

// normalize replaces what changes from run to run: the registered strings,
// then other ids (numbered in order of appearance), ages and UTC dates.
func (e *clientEnv) normalize(s string) string {
	for i := 0; i+1 < len(e.repl); i += 2 {
		s = strings.ReplaceAll(s, e.repl[i], e.repl[i+1])
	}
	ids := map[string]string{}
	s = uuidRE.ReplaceAllStringFunc(s, func(id string) string {
		if _, ok := ids[id]; !ok {
			ids[id] = fmt.Sprintf("{ID%d}", len(ids)+1)
		}
		return ids[id]
	})
	s = agoRE.ReplaceAllString(s, "N min ago")
	s = minAgoRE.ReplaceAllString(s, `"minutesAgo": N`)
	// Same-width placeholders keep the columns aligned.
	return expiresRE.ReplaceAllStringFunc(s, func(d string) string {
		if strings.HasSuffix(d, " UTC") {
			return "yyyy-mm-dd hh:mm UTC"
		}
		return "yyyy-mm-ddThh:mm:ssZ"
	})
}

// golden compares normalised output with testdata/client/name.golden.
func (e *clientEnv) golden(name, got string) {
	e.t.Helper()
	clientGolden(e.t, name, e.normalize(got))
}

func clientGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "client", name+".golden")
	if *updateClientGolden {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update-client to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s: output differs from the golden file\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

// wantExit checks an exit code and that stderr contains each of msgs.
func wantExit(t *testing.T, what string, code, want int, stderr string, msgs ...string) {
	t.Helper()
	if code != want {
		t.Errorf("%s: exit %d, want %d; stderr %q", what, code, want, stderr)
	}
	for _, m := range msgs {
		if !strings.Contains(stderr, m) {
			t.Errorf("%s: stderr %q lacks %q", what, stderr, m)
		}
	}
}

// upload posts readings for name through the client library and registers
// their times for the golden files as {R0} (newest) … .
func (e *clientEnv) upload(name string, rs []share.Reading) {
	e.t.Helper()
	c := e.client(name)
	ctx := context.Background()
	if err := c.StartRemoteMonitoringSession(ctx, "SM12345678"); err != nil {
		e.t.Fatal(err)
	}
	if err := c.PostReceiverEgvRecords(ctx, "SM12345678", rs); err != nil {
		e.t.Fatal(err)
	}
}

// registerTimes shows reading times as {R<i>}.
func (e *clientEnv) registerTimes(rs []share.Reading) {
	for i, r := range rs {
		t := r.LocalTime()
		// Placeholders as wide as the times keep the columns aligned.
		tag := fmt.Sprintf("{R%d ", i)
		e.replace(t.Format("2006-01-02 15:04:05 -0700"), tag+strings.Repeat(".", 24-len(tag))+"}")
		e.replace(t.Format(time.RFC3339), fmt.Sprintf("{R%d}", i))
	}
}

// series returns n readings five minutes apart, newest first, the newest
// at newest, in UTC offset off minutes; values and trends vary, with the
// LOW and HIGH markers in.
func series(newest time.Time, n, off int) []share.Reading {
	rs := make([]share.Reading, n)
	values := []int{224, 219, 180, 101, 39, 401, 64, 52}
	for i := range rs {
		rs[i] = share.Reading{
			ST:     newest.Add(-time.Duration(i) * 5 * time.Minute).Truncate(time.Second).UnixMilli(),
			Offset: off, Value: values[i%len(values)], Trend: share.Trend((4 + i) % 10),
		}
	}
	return rs
}

func TestClientLoginAndConfig(t *testing.T) {
	t.Parallel()
	e := clientServe(t, "--login-first-delay", "15m")
	e.account("sam@example.org", "Sam")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "glucoshare", "client.conf")

	code, out, errOut := e.runAs("sam@example.org", "login")
	wantExit(t, "login", code, 0, errOut)
	e.golden("login", out)

	// --save with the password on standard input; the file is private.
	code, out, errOut = clientRun(t, clientPW+"\n", map[string]string{"XDG_CONFIG_HOME": dir},
		"login", "--server", e.base, "--username", "sam@example.org", "--password-stdin", "--save")
	wantExit(t, "login --save", code, 0, errOut)
	e.replace(cfg, "{CONFIG}")
	e.golden("login-save", out)
	fi, err := os.Stat(cfg)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("config file: %v, mode %v", err, fi.Mode())
	}
	if dirInfo, _ := os.Stat(filepath.Dir(cfg)); dirInfo.Mode().Perm() != 0o700 {
		t.Errorf("config directory mode %v", dirInfo.Mode().Perm())
	}
	data, _ := os.ReadFile(cfg)
	e.golden("login-save-config", string(data))

	// Later commands need no flags at all.
	code, out, errOut = clientRun(t, "", map[string]string{"XDG_CONFIG_HOME": dir}, "latest")
	wantExit(t, "latest from the config file", code, 1, errOut, "no reading in the last 1440 minutes")
	code, _, errOut = clientRun(t, "", map[string]string{"GLUCOSHARE_CONFIG": cfg}, "readings", "--format", "json")
	wantExit(t, "readings with GLUCOSHARE_CONFIG", code, 0, errOut)
	code, out, errOut = clientRun(t, "", map[string]string{"HOME": filepath.Join(dir, "nohome")}, "login", "--config", cfg, "--format", "json")
	wantExit(t, "login --config --format json", code, 0, errOut)
	e.golden("login-json", out)
	// The file's password is not used for another account.
	code, _, errOut = clientRun(t, "", nil, "login", "--config", cfg, "--username", "kim")
	wantExit(t, "another account with the config file", code, 2, errOut, "no password")

	// A config file others can read is refused.
	if err := os.Chmod(cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errOut = clientRun(t, "", nil, "latest", "--config", cfg)
	wantExit(t, "config file 0644", code, 1, errOut, "mode 0644", "chmod 600")
	code, _, errOut = clientRun(t, "", nil, "latest", "--config", filepath.Join(dir, "missing.conf"))
	wantExit(t, "missing --config", code, 1, errOut, "missing.conf")

	// Usage errors exit 2; failed logins exit 1.
	code, _, errOut = clientRun(t, "", map[string]string{"GLUCOSHARE_PASSWORD": "x"}, "latest", "--username", "sam")
	wantExit(t, "no server", code, 2, errOut, "--server is required")
	code, _, errOut = clientRun(t, "", map[string]string{"GLUCOSHARE_PASSWORD": "x"}, "latest", "--server", e.base)
	wantExit(t, "no account", code, 2, errOut, "--username or --account-id")
	code, _, errOut = clientRun(t, "", nil, "latest", "--server", e.base, "--username", "sam@example.org")
	wantExit(t, "no password", code, 2, errOut, "no password", "GLUCOSHARE_PASSWORD")
	code, _, errOut = clientRun(t, "", map[string]string{"GLUCOSHARE_PASSWORD": "x"}, "latest", "--server", "eu", "--username", "sam")
	wantExit(t, "bad server", code, 2, errOut, `server "eu"`)
	code, _, errOut = clientRun(t, "", map[string]string{"GLUCOSHARE_PASSWORD": "x"}, "latest", "--server", e.base, "--account-id", "42")
	wantExit(t, "bad account id", code, 2, errOut, "account id")
	code, _, errOut = clientRun(t, "", map[string]string{"GLUCOSHARE_PASSWORD": "wrong password"}, "login", "--server", e.base, "--username", "sam@example.org")
	wantExit(t, "wrong password", code, 1, errOut, "login failed: wrong account name or password")
	code, _, errOut = clientRun(t, "", map[string]string{"GLUCOSHARE_PASSWORD": clientPW}, "login", "--server", "http://127.0.0.1:1", "--username", "sam")
	wantExit(t, "unreachable server", code, 1, errOut, "cannot reach the server")

	// Throttling: the sixth attempt from this address is refused with the
	// time to wait (the first delay, 15 minutes here).
	for range 4 {
		clientRun(t, "", map[string]string{"GLUCOSHARE_PASSWORD": "wrong password"}, "login", "--server", e.base, "--username", "sam@example.org")
	}
	code, _, errOut = clientRun(t, "", map[string]string{"GLUCOSHARE_PASSWORD": clientPW}, "login", "--server", e.base, "--username", "sam@example.org")
	wantExit(t, "delayed", code, 1, errOut, "too many failed logins; try again in 15m0s")
}

func TestClientReadCommands(t *testing.T) {
	t.Parallel()
	e := clientServe(t)
	e.account("sam", "Sam")
	e.account("empty", "")
	rs := series(time.Now().Add(-time.Minute), 8, -240)
	e.upload("sam", rs)
	e.registerTimes(rs)

	for _, tc := range []struct {
		name string
		args []string
	}{
		{"latest", []string{"latest"}},
		{"latest-json", []string{"latest", "--format", "json"}},
		{"latest-mmol", []string{"latest", "--units", "mmol/L"}},
		{"readings", []string{"readings"}},
		{"readings-json", []string{"readings", "--format", "json", "--max-count", "3"}},
		{"readings-csv", []string{"readings", "--format", "csv"}},
		{"readings-mmol", []string{"readings", "--units", "mmol", "--minutes", "16"}},
	} {
		code, out, errOut := e.runAs("sam", tc.args...)
		wantExit(t, tc.name, code, 0, errOut)
		e.golden(tc.name, out)
	}
	code, out, errOut := e.runAs("empty", "readings")
	wantExit(t, "readings of an empty account", code, 0, errOut)
	e.golden("readings-empty", out)
	code, _, errOut = e.runAs("empty", "latest")
	wantExit(t, "latest of an empty account", code, 1, errOut, "no reading in the last 1440 minutes")
	code, _, errOut = e.runAs("sam", "readings", "--format", "xml")
	wantExit(t, "bad format", code, 2, errOut, "--format must be table, json, csv")
	code, _, errOut = e.runAs("sam", "readings", "--units", "furlongs")
	wantExit(t, "bad units", code, 2, errOut, "--units")
	code, _, errOut = e.runAs("sam", "readings", "extra")
	wantExit(t, "extra argument", code, 2, errOut, "want 0 argument(s)")
}

// TestClientWatch shows watch printing the newest reading, then new ones
// as they are uploaded, and stopping after --count.
func TestClientWatch(t *testing.T) {
	t.Parallel()
	e := clientServe(t)
	e.account("sam", "")
	now := time.Now()
	old := series(now.Add(-11*time.Minute), 3, 120)
	fresh := series(now.Add(-time.Minute), 2, 120) // newest first: -1 min, -6 min
	e.upload("sam", old)
	e.registerTimes(append(append([]share.Reading{}, fresh...), old...))

	for _, tc := range []struct{ format, count string }{{"text", "3"}, {"json", "1"}} {
		format := tc.format
		out := &clitest.SyncBuffer{}
		var errOut bytes.Buffer
		argv, vars := e.as("sam", "watch", "--interval", "50ms", "--count", tc.count, "--format", format)
		done := make(chan int, 1)
		go func() {
			env := cli.Env{Stdin: strings.NewReader(""), Stdout: out, Stderr: &errOut, Getenv: func(k string) string { return vars[k] }}
			done <- cli.Run(context.Background(), argv, env)
		}()
		waitFor(t, func() bool { return strings.Count(out.String(), "\n") >= 1 })
		if format == "text" {
			e.upload("sam", fresh)
		}
		select {
		case code := <-done:
			wantExit(t, "watch", code, 0, errOut.String())
		case <-time.After(20 * time.Second):
			t.Fatalf("watch did not stop after %s readings; output:\n%s", tc.count, out)
		}
		e.golden("watch-"+format, out.String())
	}
}

// waitFor polls cond for up to 10 seconds.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatal("condition not met within 10s")
}

// TestClientWatchErrors: failed polls are retried and reported; after
// --max-errors in a row, or at once for a failed login, watch exits 1.
func TestClientWatchErrors(t *testing.T) {
	t.Parallel()
	e := clientServe(t)
	e.account("sam", "")
	code, out, errOut := clientRun(t, "", map[string]string{"GLUCOSHARE_PASSWORD": clientPW},
		"watch", "--server", "http://127.0.0.1:1", "--username", "sam", "--interval", "10ms", "--max-errors", "3")
	wantExit(t, "watch on an unreachable server", code, 1, errOut,
		"cannot reach the server", "(failure 1 of 3; retrying)", "(failure 2 of 3; retrying)", "giving up after 3 failed poll(s)")
	if out != "" {
		t.Errorf("stdout %q", out)
	}
	code, _, errOut = clientRun(t, "", map[string]string{"GLUCOSHARE_PASSWORD": "wrong password"},
		"watch", "--server", e.base, "--username", "sam", "--interval", "10ms")
	wantExit(t, "watch with a wrong password", code, 1, errOut, "giving up after 1 failed poll(s): login failed")
}

func TestClientHelp(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"login", "--help"}, {"latest", "-h"}, {"readings", "--help"}, {"watch", "--help"}, {"upload", "--help"},
		{"followers", "--help"}, {"followers", "invite", "--help"}, {"followers", "pause", "--help"},
		{"follow", "help"}, {"follow", "read", "--help"}, {"follow", "alarms", "--help"}, {"follow", "ack", "--help"},
	} {
		code, out, _ := clientRun(t, "", nil, args...)
		if code != 0 || !strings.Contains(out, "Usage") {
			t.Errorf("%v: exit %d, out %q", args, code, out)
		}
	}
	_, out, _ := clientRun(t, "", nil, "latest", "--help")
	for _, want := range []string{"-server", "$GLUCOSHARE_SERVER", "-password-stdin", "$GLUCOSHARE_PASSWORD", "-account-id"} {
		if !strings.Contains(out, want) {
			t.Errorf("latest --help lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "-password ") || strings.Contains(out, "-password\n") {
		t.Errorf("a --password flag exists:\n%s", out)
	}
	for _, args := range [][]string{{"followers"}, {"follow"}, {"follow", "nope"}} {
		if code, _, _ := clientRun(t, "", nil, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}
