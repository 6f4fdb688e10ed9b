package cli_test

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/glucoshare/glucoshare/internal/cli"
	"github.com/glucoshare/glucoshare/internal/store/storetest"
)

var tokenLine = regexp.MustCompile(`^gs-[0-9a-f]{32}\n$`)

const samPassword = "a long password of sam's"

func TestNightscoutCommands(t *testing.T) {
	vars := map[string]string{"GLUCOSHARE_DB": storetest.DSN(t)}
	if code, _, errOut := run(t, samPassword+"\n", vars, "account", "add", "--name", "sam", "--password-stdin"); code != 0 {
		t.Fatalf("account add: %d %s", code, errOut)
	}

	for _, c := range []struct {
		stdin string
		args  []string
		code  int
		want  string
	}{
		{"", []string{"sam"}, 2, "--secret-stdin"},
		{"", []string{"sam", "--secret-stdin"}, 2, "standard input was empty"},
		{"x\n", []string{"sam", "--secret-stdin", "--generate"}, 2, "exclude each other"},
		{"too short\n", []string{"sam", "--secret-stdin"}, 1, "12 to 256"},
		{"aaaaaaaaaaaaaaaaaaaaaa\n", []string{"sam", "--secret-stdin"}, 1, "too easy to guess"},
		{samPassword + "\n", []string{"sam", "--secret-stdin"}, 1, "differ from the account's password"},
		{"", []string{"nobody", "--remove"}, 1, `no account "nobody"`},
		{"", []string{"sam", "--remove"}, 1, "no Nightscout API secret"},
	} {
		code, _, errOut := run(t, c.stdin, vars, append([]string{"account", "nightscout-secret"}, c.args...)...)
		if code != c.code || !strings.Contains(errOut, c.want) {
			t.Errorf("nightscout-secret %v: exit %d %q, want %d and %q", c.args, code, errOut, c.code, c.want)
		}
	}
	const secret = "sam's uploader secret"
	if code, out, errOut := run(t, secret+"\n", vars, "account", "nightscout-secret", "sam", "--secret-stdin"); code != 0 || !strings.Contains(out, "set") {
		t.Fatalf("nightscout-secret: %d %q %q", code, out, errOut)
	}

	code, token, errOut := run(t, "", vars, "account", "nightscout-token", "sam")
	if code != 0 || !tokenLine.MatchString(token) || !strings.Contains(errOut, "shown only now") {
		t.Fatalf("nightscout-token: %d %q %q", code, token, errOut)
	}
	token = strings.TrimSpace(token)
	code, readOnly, _ := run(t, "", vars, "account", "nightscout-token", "sam", "--read-only")
	if code != 0 || !tokenLine.MatchString(readOnly) {
		t.Fatalf("nightscout-token --read-only: %d %q", code, readOnly)
	}
	if code, _, errOut := run(t, "", vars, "account", "nightscout-token", "sam", "--subscription", "00000000-0000-4000-8000-000000000001"); code != 1 || !strings.Contains(errOut, "follows no subscription") {
		t.Errorf("follower token for no subscription: %d %q", code, errOut)
	}
	code, list, _ := run(t, "", vars, "account", "nightscout-token", "sam", "--list")
	rows := strings.Split(strings.TrimSpace(list), "\n")
	if code != 0 || len(rows) != 3 || !strings.Contains(rows[1], "read, upload") || strings.Fields(rows[2])[2] != "read" {
		t.Fatalf("--list: %d\n%s", code, list)
	}
	if strings.Contains(list, token) {
		t.Errorf("--list shows the token itself")
	}
	readOnlyID := strings.Fields(rows[2])[0]

	// The server accepts the secret and the tokens, and no longer the
	// revoked one.
	base := serveForTest(t, vars["GLUCOSHARE_DB"])
	get := func(target string, headers ...string) int {
		t.Helper()
		return statusOf(t, base, target, headers...)
	}
	sum := sha1.Sum([]byte(secret))
	if s := get("/api/v1/entries.json", "api-secret", hex.EncodeToString(sum[:])); s != 200 {
		t.Errorf("secret: %d", s)
	}
	if s := get("/api/v1/entries.json?token=" + token); s != 200 {
		t.Errorf("token: %d", s)
	}
	if s := get("/api/v1/entries.json", "Authorization", "Bearer "+strings.TrimSpace(readOnly)); s != 200 {
		t.Errorf("read-only token: %d", s)
	}
	if code, out, errOut := run(t, "", vars, "account", "nightscout-token", "sam", "--revoke", readOnlyID); code != 0 || !strings.Contains(out, "revoked") {
		t.Fatalf("--revoke: %d %q %q", code, out, errOut)
	}
	if s := get("/api/v1/entries.json", "Authorization", "Bearer "+strings.TrimSpace(readOnly)); s != 401 {
		t.Errorf("revoked token: %d, want 401", s)
	}
	if code, _, errOut := run(t, "", vars, "account", "nightscout-token", "sam", "--revoke", readOnlyID); code != 1 || !strings.Contains(errOut, "no Nightscout token") {
		t.Errorf("revoking again: %d %q", code, errOut)
	}
	if code, _, _ := run(t, "", vars, "account", "nightscout-secret", "sam", "--remove"); code != 0 {
		t.Errorf("--remove: %d", code)
	}
	if s := get("/api/v1/entries.json", "api-secret", hex.EncodeToString(sum[:])); s != 401 {
		t.Errorf("removed secret: %d, want 401", s)
	}
}

// serveForTest runs `glucoshare serve` on dsn until the test ends and
// returns its base URL.
func serveForTest(t *testing.T, dsn string) string {
	base, _ := serveWithLogs(t, dsn)
	return base
}

// serveWithLogs runs `glucoshare serve` on dsn with extra flags until the
// test ends, and returns its base URL and its log so far.
func serveWithLogs(t *testing.T, dsn string, extra ...string) (string, func() string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan string, 1)
	done := make(chan int, 1)
	var logs bytes.Buffer
	sw := &syncWriter{w: &logs}
	go func() {
		env := cli.Env{Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: sw,
			Getenv: func(string) string { return "" }, Listening: func(a string) { addrc <- a }}
		done <- cli.Run(ctx, append([]string{"serve", "--addr", "127.0.0.1:0", "--db", dsn}, extra...), env)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	logged := func() string {
		sw.mu.Lock()
		defer sw.mu.Unlock()
		return logs.String()
	}
	select {
	case addr := <-addrc:
		return "http://" + addr, logged
	case code := <-done:
		done <- code
		t.Fatalf("serve exited %d", code)
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not start")
	}
	return "", logged
}

// TestNightscoutSecretKey: a generated secret stored under --secret-key
// works on a server with the same key, is refused (with a warning) by one
// without it, and a site address opens the account to anonymous readers.
func TestNightscoutSecretKey(t *testing.T) {
	dsn := storetest.DSN(t)
	const key = "a server key of at least thirty-two characters"
	vars := map[string]string{"GLUCOSHARE_DB": dsn}
	if code, _, errOut := run(t, samPassword+"\n", vars, "account", "add", "--name", "sam", "--password-stdin"); code != 0 {
		t.Fatalf("account add: %d %s", code, errOut)
	}
	if code, _, errOut := run(t, "", vars, "account", "nightscout-secret", "sam", "--generate", "--secret-key", "too short"); code != 2 || !strings.Contains(errOut, "at least 32") {
		t.Errorf("short --secret-key: %d %q", code, errOut)
	}
	vars["GLUCOSHARE_SECRET_KEY"] = key
	code, out, errOut := run(t, "", vars, "account", "nightscout-secret", "sam", "--generate")
	secret := strings.TrimSpace(out)
	if code != 0 || !regexp.MustCompile(`^[a-z2-7]{32}$`).MatchString(secret) || !strings.Contains(errOut, "shown only now") {
		t.Fatalf("--generate: %d %q %q", code, out, errOut)
	}
	code, out, _ = run(t, "", vars, "account", "nightscout-site", "sam", "--handle", "sams-glucose-site", "--anonymous-read", "on")
	if code != 0 || out != "/ns/sams-glucose-site/\n" {
		t.Fatalf("nightscout-site: %d %q", code, out)
	}
	if code, _, errOut := run(t, "", vars, "account", "nightscout-site", "sam", "--handle", "sam"); code != 1 || !strings.Contains(errOut, "12 to 64") {
		t.Errorf("a short handle: %d %q", code, errOut)
	}

	sum := sha1.Sum([]byte(secret))
	header := []string{"api-secret", hex.EncodeToString(sum[:])}
	status := func(base, target string, headers ...string) int {
		t.Helper()
		return statusOf(t, base, target, headers...)
	}
	keyed, _ := serveWithLogs(t, dsn, "--secret-key", key)
	if s := status(keyed, "/api/v1/experiments/test", header...); s != 200 {
		t.Errorf("the generated secret with the server key: %d, want 200", s)
	}
	if s := status(keyed, "/ns/sams-glucose-site/api/v1/entries.json"); s != 200 {
		t.Errorf("anonymous read at the site: %d, want 200", s)
	}
	if s := status(keyed, "/api/v1/entries.json"); s != 401 {
		t.Errorf("anonymous read at the root: %d, want 401", s)
	}
	unkeyed, logs := serveWithLogs(t, dsn)
	if s := status(unkeyed, "/api/v1/experiments/test", header...); s != 401 {
		t.Errorf("the secret on a server without the key: %d, want 401", s)
	}
	for _, want := range []string{"no --secret-key", "kept under another --secret-key"} {
		if !strings.Contains(logs(), want) {
			t.Errorf("the log does not say %q:\n%s", want, logs())
		}
	}
}

// statusOf GETs base+target with the headers (name, value pairs) and
// returns the status.
func statusOf(t *testing.T, base, target string, headers ...string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+target, nil)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
