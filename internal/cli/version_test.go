package cli_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/glucoshare/glucoshare/internal/cli/clitest"
	"github.com/glucoshare/glucoshare/internal/store/storetest"
	"github.com/glucoshare/glucoshare/internal/version"
)

// TestVersionCommand: `glucoshare version`, `--version` and `-version`
// print one line with the version, commit, build date and Go version;
// --format json prints the fields.
func TestVersionCommand(t *testing.T) {
	old := [3]string{version.Version, version.Commit, version.Date}
	t.Cleanup(func() { version.Version, version.Commit, version.Date = old[0], old[1], old[2] })
	version.Version, version.Commit, version.Date = "1.4.0", "0123456789abcdef0123", "2026-05-01T10:00:00Z"
	want := "glucoshare 1.4.0 (commit 0123456789ab, built 2026-05-01T10:00:00Z, " + runtime.Version() + ")\n"
	for _, args := range [][]string{{"version"}, {"--version"}, {"-version"}} {
		code, out, errOut := clitest.Run(t, "", args...)
		if code != 0 || out != want {
			t.Errorf("glucoshare %v: exit %d, stdout %q, stderr %q; want %q", args, code, out, errOut, want)
		}
	}

	code, out, _ := clitest.Run(t, "", "version", "--format", "json")
	var info version.Info
	if err := json.Unmarshal([]byte(out), &info); code != 0 || err != nil {
		t.Fatalf("version --format json: exit %d, %v: %q", code, err, out)
	}
	if info.Version != "1.4.0" || info.Commit != "0123456789abcdef0123" || info.Date != "2026-05-01T10:00:00Z" || info.GoVersion != runtime.Version() {
		t.Errorf("version --format json = %+v", info)
	}

	if code, _, errOut := clitest.Run(t, "", "version", "--format", "yaml"); code != 2 || !strings.Contains(errOut, "--format must be text or json") {
		t.Errorf("version --format yaml: exit %d, %q; want exit 2 and a clear message", code, errOut)
	}
	if code, out, _ := clitest.Run(t, "", "--help"); code != 0 || !strings.Contains(out, "version") {
		t.Errorf("--help does not list the version command: %q", out)
	}
}

// TestVersionServed: a running server answers GET /version with the build
// information as JSON and exports glucoshare_build_info at /metrics.
func TestVersionServed(t *testing.T) {
	srv := clitest.Serve(t, storetest.DSN(t))
	client := &http.Client{Timeout: 10 * time.Second}
	get := func(path string) (*http.Response, string) {
		t.Helper()
		resp, err := client.Get("http://" + srv.Addr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	want := version.Get()

	resp, body := get("/version")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET /version: %d %s %q", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	var got version.Info
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatalf("GET /version: %v: %q", err, body)
	}
	if got != want || got.GoVersion != runtime.Version() {
		t.Errorf("GET /version = %+v, want %+v", got, want)
	}
	for _, member := range []string{`"version":`, `"commit":`, `"date":`, `"modified":`, `"goVersion":`} {
		if !strings.Contains(body, member) {
			t.Errorf("GET /version lacks %s: %s", member, body)
		}
	}

	_, metrics := get("/metrics")
	commit := want.Commit
	if commit == "" {
		commit = "unknown"
	}
	line := fmt.Sprintf(`glucoshare_build_info{commit=%q,goversion=%q,version=%q} 1`, commit, want.GoVersion, want.Version)
	if !strings.Contains(metrics, line) {
		t.Errorf("/metrics lacks %s", line)
	}
}
