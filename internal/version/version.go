// Package version tells which build of glucoshare is running: its version,
// the commit it was built from, when, and with which Go. The values come
// from the build information Go embeds in every binary (module version and
// version-control stamps) unless a release build sets them with the linker:
//
//	go build -ldflags "-X github.com/glucoshare/glucoshare/internal/version.Version=1.4.0 \
//	    -X github.com/glucoshare/glucoshare/internal/version.Commit=$(git rev-parse HEAD) \
//	    -X github.com/glucoshare/glucoshare/internal/version.Date=$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
//	    ./cmd/glucoshare
//
// Values set with -ldflags win over the embedded ones.
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Set with -ldflags -X at build time; empty means "from the build
// information".
var (
	// Version is the release, e.g. "1.4.0".
	Version = ""
	// Commit is the version-control revision the binary was built from.
	Commit = ""
	// Date is when the binary was built (or the commit's time), RFC 3339.
	Date = ""
)

// Info describes a build. Its JSON form is the body of GET /version.
type Info struct {
	Version   string `json:"version"`   // release, module (pseudo-)version, or "devel"
	Commit    string `json:"commit"`    // revision, "" when unknown
	Date      string `json:"date"`      // build or commit time, "" when unknown
	Modified  bool   `json:"modified"`  // built from a working tree with uncommitted changes
	GoVersion string `json:"goVersion"` // e.g. "go1.26.0"
}

// Get returns the running binary's build information.
func Get() Info {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		bi = nil
	}
	return resolve(bi, Version, Commit, Date)
}

// resolve combines the embedded build information (nil when there is none)
// with the linker-set values, which win where they are set.
func resolve(bi *debug.BuildInfo, version, commit, date string) Info {
	info := Info{Version: "devel", GoVersion: runtime.Version()}
	if bi != nil {
		if v := bi.Main.Version; v != "" && v != "(devel)" {
			info.Version = v
		}
		if bi.GoVersion != "" {
			info.GoVersion = bi.GoVersion
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				info.Commit = s.Value
			case "vcs.time":
				info.Date = s.Value
			case "vcs.modified":
				info.Modified = s.Value == "true"
			}
		}
	}
	if version != "" {
		info.Version = version
	}
	if commit != "" {
		info.Commit = commit
	}
	if date != "" {
		info.Date = date
	}
	return info
}

// ShortCommit returns the first 12 characters of the commit, "unknown"
// when there is none, with "+modified" when the tree was not clean.
func (i Info) ShortCommit() string {
	c := i.Commit
	if c == "" {
		c = "unknown"
	} else if len(c) > 12 {
		c = c[:12]
	}
	if i.Modified {
		c += "+modified"
	}
	return c
}

// String is the one-line form: "glucoshare 1.4.0 (commit 3f2a9c1b0d4e,
// built 2026-05-01T10:00:00Z, go1.26.0)".
func (i Info) String() string {
	date := i.Date
	if date == "" {
		date = "unknown"
	}
	return fmt.Sprintf("glucoshare %s (commit %s, built %s, %s)", i.Version, i.ShortCommit(), date, i.GoVersion)
}
