package version

import (
	"runtime"
	"runtime/debug"
	"testing"
)

// stamped is build information as `go build` embeds it in a binary built
// from a module version with version-control stamping.
func stamped() *debug.BuildInfo {
	return &debug.BuildInfo{
		GoVersion: "go1.26.0",
		Main:      debug.Module{Path: "github.com/glucoshare/glucoshare", Version: "v1.3.0"},
		Settings: []debug.BuildSetting{
			{Key: "-ldflags", Value: ""},
			{Key: "vcs", Value: "git"},
			{Key: "vcs.revision", Value: "3f2a9c1b0d4e5f60718293a4b5c6d7e8f9012345"},
			{Key: "vcs.time", Value: "2026-05-01T10:00:00Z"},
			{Key: "vcs.modified", Value: "true"},
		},
	}
}

func TestResolve(t *testing.T) {
	cases := []struct {
		name                  string
		bi                    *debug.BuildInfo
		version, commit, date string
		want                  Info
	}{
		{
			name: "embedded build information",
			bi:   stamped(),
			want: Info{Version: "v1.3.0", Commit: "3f2a9c1b0d4e5f60718293a4b5c6d7e8f9012345",
				Date: "2026-05-01T10:00:00Z", Modified: true, GoVersion: "go1.26.0"},
		},
		{
			name: "linker values win",
			bi:   stamped(), version: "v1.4.0", commit: "abc123", date: "2026-06-01T00:00:00Z",
			want: Info{Version: "v1.4.0", Commit: "abc123", Date: "2026-06-01T00:00:00Z", Modified: true, GoVersion: "go1.26.0"},
		},
		{
			name: "a build from a working tree without stamps",
			bi:   &debug.BuildInfo{GoVersion: "go1.26.1", Main: debug.Module{Version: "(devel)"}},
			want: Info{Version: "devel", GoVersion: "go1.26.1"},
		},
		{
			name: "no build information at all",
			want: Info{Version: "devel", GoVersion: runtime.Version()},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := resolve(c.bi, c.version, c.commit, c.date); got != c.want {
				t.Errorf("resolve:\n got %+v\nwant %+v", got, c.want)
			}
		})
	}
}

func TestString(t *testing.T) {
	got := resolve(stamped(), "", "", "").String()
	want := "glucoshare v1.3.0 (commit 3f2a9c1b0d4e+modified, built 2026-05-01T10:00:00Z, go1.26.0)"
	if got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	got = Info{Version: "devel", GoVersion: "go1.26.0"}.String()
	want = "glucoshare devel (commit unknown, built unknown, go1.26.0)"
	if got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

// TestGetInTests: a test binary has no stamps, so Get reports the linker
// variables when set and the running Go version.
func TestGetInTests(t *testing.T) {
	old := [3]string{Version, Commit, Date}
	defer func() { Version, Commit, Date = old[0], old[1], old[2] }()
	Version, Commit, Date = "2.0.0", "feedface", "2026-07-01T00:00:00Z"
	got := Get()
	if got.Version != "2.0.0" || got.Commit != "feedface" || got.Date != "2026-07-01T00:00:00Z" || got.GoVersion != runtime.Version() {
		t.Errorf("Get() = %+v", got)
	}
}
