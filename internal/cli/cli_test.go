package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/glucoshare/glucoshare/internal/cli"
	"github.com/glucoshare/glucoshare/internal/cli/clitest"
	"github.com/glucoshare/glucoshare/internal/store/storetest"
)

// run runs the command line with stdin and environment variables, returning
// the exit code and what it printed.
func run(t *testing.T, stdin string, vars map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	env := cli.Env{
		Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errOut,
		Getenv: func(k string) string { return vars[k] },
	}
	code := cli.Run(context.Background(), args, env)
	return code, out.String(), errOut.String()
}

var idLine = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}\n$`)

func TestAccountCommands(t *testing.T) {
	dsn := storetest.DSN(t)
	code, out, errOut := run(t, "a long password\n", nil, "account", "add", "--db", dsn, "--name", "sam@example.org", "--display-name", "Sam", "--email", "sam@example.org", "--password-stdin")
	if code != 0 || !idLine.MatchString(out) {
		t.Fatalf("account add: exit %d, out %q, err %q", code, out, errOut)
	}
	samID := strings.TrimSpace(out)

	// The database can come from the environment too.
	vars := map[string]string{"GLUCOSHARE_DB": dsn}
	if code, _, _ := run(t, "another password\n", vars, "account", "add", "--name", "kim", "--password-stdin"); code != 0 {
		t.Fatalf("account add via GLUCOSHARE_DB: exit %d", code)
	}
	code, _, errOut = run(t, "yet another password\n", vars, "account", "add", "--name", "SAM@example.org ", "--password-stdin")
	if code != 1 || !strings.Contains(errOut, "already exists") {
		t.Errorf("duplicate name: exit %d, %q", code, errOut)
	}
	code, _, errOut = run(t, "", vars, "account", "add", "--name", "nopass")
	if code != 2 || !strings.Contains(errOut, "--password-stdin") {
		t.Errorf("missing password: exit %d, %q", code, errOut)
	}
	code, _, errOut = run(t, "short\n", vars, "account", "add", "--name", "weak", "--password-stdin")
	if code != 1 || !strings.Contains(errOut, "8 to 256") {
		t.Errorf("short password: exit %d, %q", code, errOut)
	}

	code, out, _ = run(t, "", vars, "account", "list")
	if code != 0 || !strings.Contains(out, "NAME") || !strings.Contains(out, samID) || !strings.Contains(out, "kim") {
		t.Errorf("account list: exit %d\n%s", code, out)
	}
	code, out, _ = run(t, "", vars, "account", "list", "--format", "json")
	var items []map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &items) != nil || len(items) != 2 {
		t.Fatalf("account list json: exit %d\n%s", code, out)
	}
	if items[1]["name"] != "sam@example.org" || items[1]["email"] != "sam@example.org" || items[1]["disabled"] != false {
		t.Errorf("json item %v", items[1])
	}
	// Accounts the operator makes read mg/dL (units unset) unless --units
	// says otherwise.
	if items[0]["units"] != "" || items[1]["units"] != "" {
		t.Errorf("units without --units: %v, %v", items[0]["units"], items[1]["units"])
	}
	if code, _, errOut = run(t, "a long password\n", vars, "account", "add", "--name", "lee", "--units", "mmol/l", "--password-stdin"); code != 0 {
		t.Fatalf("account add --units: exit %d %q", code, errOut)
	}
	if _, out, _ = run(t, "", vars, "account", "list", "--format", "json"); !regexp.MustCompile(`"name": "lee",[^}]*"units": "mmol/L"`).MatchString(out) {
		t.Errorf("lee added with --units mmol/l:\n%s", out)
	}
	if code, _, errOut = run(t, "a long password\n", vars, "account", "add", "--name", "max", "--units", "furlongs", "--password-stdin"); code != 2 || !strings.Contains(errOut, "--units") {
		t.Errorf("account add --units furlongs: exit %d %q", code, errOut)
	}

	if code, out, _ = run(t, "", vars, "account", "disable", "kim"); code != 0 || !strings.Contains(out, "disabled kim") {
		t.Errorf("disable: %d %q", code, out)
	}
	_, out, _ = run(t, "", vars, "account", "list")
	if !regexp.MustCompile(`kim .*disabled`).MatchString(out) {
		t.Errorf("kim not shown disabled:\n%s", out)
	}
	if code, _, _ = run(t, "", vars, "account", "enable", samID); code != 0 {
		t.Errorf("enable by id: %d", code)
	}
	if code, _, _ = run(t, "new password 1\n", vars, "account", "passwd", "sam@example.org", "--password-stdin"); code != 0 {
		t.Errorf("passwd: %d", code)
	}
	if code, _, errOut = run(t, "", vars, "account", "disable", "nobody"); code != 1 || !strings.Contains(errOut, `no account "nobody"`) {
		t.Errorf("unknown account: %d %q", code, errOut)
	}
	if code, out, _ = run(t, "", vars, "account", "compat", "kim", "--mode", "legacy"); code != 0 {
		t.Errorf("compat: %d %q", code, out)
	}
	if code, _, _ = run(t, "", vars, "account", "compat", "kim", "--mode", "ancient"); code != 2 {
		t.Errorf("bad compat mode: exit %d, want 2", code)
	}
	if code, out, _ = run(t, "", vars, "account", "units", "kim", "--units", "mmol"); code != 0 || !strings.Contains(out, "units of kim set to mmol/L") {
		t.Errorf("units: %d %q", code, out)
	}
	if code, _, _ = run(t, "", vars, "account", "units", "kim", "--units", "furlongs"); code != 2 {
		t.Errorf("bad units: exit %d, want 2", code)
	}
	_, out, _ = run(t, "", vars, "account", "list", "--format", "json")
	if !strings.Contains(out, `"units": "mmol/L"`) {
		t.Errorf("account list does not show kim's units:\n%s", out)
	}
	if code, out, _ = run(t, "", vars, "migrate"); code != 0 || !strings.Contains(out, "up to date") {
		t.Errorf("migrate: %d %q", code, out)
	}
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"serve", "--help"}, {"account", "--help"}, {"account", "add", "--help"}, {"migrate", "-h"}} {
		code, out, _ := run(t, "", nil, args...)
		if code != 0 || !strings.Contains(out, "Usage") {
			t.Errorf("%v: exit %d, out %q", args, code, out)
		}
	}
	_, out, _ := run(t, "", nil, "serve", "--help")
	if !strings.Contains(out, "$GLUCOSHARE_DB") || !strings.Contains(out, "-tls-cert") {
		t.Errorf("serve --help does not name the environment variables or TLS flags:\n%s", out)
	}
	if code, _, errOut := run(t, "", nil, "frobnicate"); code != 2 || !strings.Contains(errOut, "unknown command") {
		t.Errorf("unknown command: %d %q", code, errOut)
	}
	if code, _, errOut := run(t, "", nil, "serve", "--nope"); code != 2 || !strings.Contains(errOut, "nope") {
		t.Errorf("unknown flag: %d %q", code, errOut)
	}
}

func TestSecretKey(t *testing.T) {
	code, key, _ := run(t, "", nil, "secret-key", "generate")
	key = strings.TrimSpace(key)
	if code != 0 || len(key) != 43 {
		t.Fatalf("secret-key generate: exit %d, %q", code, key)
	}
	code, out, _ := run(t, "", map[string]string{"GLUCOSHARE_SECRET_KEY": key}, "serve", "--print-config")
	if code != 0 || strings.Contains(out, key) || !strings.Contains(out, "secret-key=xxxxx") {
		t.Errorf("print-config with a secret key: exit %d\n%s", code, out)
	}
	if code, _, errOut := run(t, "", map[string]string{"GLUCOSHARE_SECRET_KEY": "short"}, "serve", "--print-config"); code != 2 || !strings.Contains(errOut, "at least 32") {
		t.Errorf("a short key: exit %d, %q", code, errOut)
	}
}

func TestPrintConfigMasksSecrets(t *testing.T) {
	vars := map[string]string{"GLUCOSHARE_DB": "postgres://glucoshare:s3cret@db.example.org/glucoshare", "GLUCOSHARE_COMPAT": "legacy"}
	code, out, _ := run(t, "", vars, "serve", "--print-config", "--addr", "127.0.0.1:9999")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	if strings.Contains(out, "s3cret") || !strings.Contains(out, "xxxxx") {
		t.Errorf("password not masked:\n%s", out)
	}
	for _, want := range []string{"addr=127.0.0.1:9999", "compat=legacy", "shared-serials=SM00000000"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
	if code, _, errOut := run(t, "", map[string]string{"GLUCOSHARE_COMPAT": "ancient"}, "serve", "--print-config"); code != 2 || !strings.Contains(errOut, "--compat") {
		t.Errorf("bad compat from env: %d %q", code, errOut)
	}
	if code, _, _ := run(t, "", nil, "serve", "--tls-cert", "x.pem"); code != 2 {
		t.Errorf("--tls-cert without --tls-key: exit %d, want 2", code)
	}
}

func TestServeAndShutdown(t *testing.T) {
	dsn := storetest.DSN(t)
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan string, 1)
	done := make(chan int, 1)
	var errOut clitest.SyncBuffer
	go func() {
		env := cli.Env{Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: &errOut,
			Getenv: func(string) string { return "" }, Listening: func(a string) { addrc <- a }}
		done <- cli.Run(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--db", dsn}, env)
	}()
	var addr string
	select {
	case addr = <-addrc:
	case code := <-done:
		t.Fatalf("serve exited %d before listening", code)
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not start")
	}
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get("http://" + addr + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", resp, err)
	}
	resp.Body.Close()
	// A second server on the same port fails at once, with the reason.
	code, _, errText := run(t, "", nil, "serve", "--addr", addr, "--db", storetest.DSN(t))
	if code != 1 || !strings.Contains(errText, "address already in use") {
		t.Errorf("port in use: exit %d, %q", code, errText)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("serve exit %d after shutdown", code)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not shut down")
	}
}

// syncWriter serialises writes from the server's goroutines.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
