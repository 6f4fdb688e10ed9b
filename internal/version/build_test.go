package version_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/glucoshare/glucoshare/internal/version"
)

// TestBuiltBinary builds cmd/glucoshare as a release would, with -ldflags
// -X, and runs `glucoshare version` and `glucoshare --version`: the values
// reach the binary under the documented variable names.
func TestBuiltBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	dir := t.TempDir()
	const pkg = "github.com/glucoshare/glucoshare/internal/version"
	build := func(name string, ldflags string) string {
		t.Helper()
		out := filepath.Join(dir, name)
		cmd := exec.Command(gobin, "build", "-o", out, "-ldflags", ldflags, "../../cmd/glucoshare")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build: %v\n%s", err, b)
		}
		return out
	}
	run := func(bin string, args ...string) string {
		t.Helper()
		b, err := exec.Command(bin, args...).Output()
		if err != nil {
			t.Fatalf("%s %v: %v", bin, args, err)
		}
		return string(b)
	}

	release := build("release", "-X "+pkg+".Version=1.4.0 -X "+pkg+".Commit=0123456789abcdef0123 -X "+pkg+".Date=2026-05-01T10:00:00Z")
	var info version.Info
	if err := json.Unmarshal([]byte(run(release, "version", "--format", "json")), &info); err != nil {
		t.Fatal(err)
	}
	if info.Version != "1.4.0" || info.Commit != "0123456789abcdef0123" || info.Date != "2026-05-01T10:00:00Z" || info.GoVersion != runtime.Version() {
		t.Errorf("release build reports %+v", info)
	}
	line := run(release, "--version")
	if !strings.HasPrefix(line, "glucoshare 1.4.0 (commit 0123456789ab") || !strings.Contains(line, runtime.Version()) {
		t.Errorf("--version printed %q", line)
	}

}

// TestVCSStamps builds a small module from a git repository with this
// package's source, the way `go build` stamps any binary, and checks that
// Get reads the version, the revision, its time and the modified flag from
// the stamps.
// (The test binary itself carries no stamps, and a build of this
// repository may not either: worktrees and GOFLAGS=-buildvcs=false leave
// them out.)
func TestVCSStamps(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	dir := t.TempDir()
	src, err := os.ReadFile("version.go")
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"go.mod":             "module example.org/stamped\n\ngo 1.22\n",
		"version/version.go": string(src),
		"main.go": `package main

import (
	"encoding/json"
	"os"

	"example.org/stamped/version"
)

func main() { json.NewEncoder(os.Stdout).Encode(version.Get()) }
`,
	}
	for name, text := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sh := func(name string, args ...string) string {
		t.Helper()
		cmd := exec.Command(name, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.org",
			"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.org",
			"GIT_AUTHOR_DATE=2026-05-01T10:00:00Z", "GIT_COMMITTER_DATE=2026-05-01T10:00:00Z")
		b, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, b)
		}
		return strings.TrimSpace(string(b))
	}
	sh("git", "init", "-q")
	sh("git", "add", ".")
	sh("git", "commit", "-q", "-m", "stamped")
	head := sh("git", "rev-parse", "HEAD")
	read := func() version.Info {
		t.Helper()
		sh(gobin, "build", "-buildvcs=true", "-o", "stamped", ".")
		var info version.Info
		if err := json.Unmarshal([]byte(sh("./stamped")), &info); err != nil {
			t.Fatal(err)
		}
		return info
	}
	// Go 1.24 and later also derive a pseudo-version from the commit.
	pseudo := "v0.0.0-20260501100000-" + head[:12]
	want := version.Info{Version: pseudo, Commit: head, Date: "2026-05-01T10:00:00Z", GoVersion: runtime.Version()}
	if got := read(); got != want {
		t.Errorf("clean build: got %+v, want %+v", got, want)
	}
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(files["main.go"]+"\n// changed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	want.Modified, want.Version = true, pseudo+"+dirty"
	if got := read(); got != want {
		t.Errorf("build with a changed file: got %+v, want %+v", got, want)
	}
}
