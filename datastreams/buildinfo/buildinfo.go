// Package buildinfo reads what the Go toolchain recorded of Eddy's build
// (module version, VCS revision), for `eddy version`, the status page and
// the data directory's format marker: one reading, three wordings.
package buildinfo

import "runtime/debug"

// Info is what a build recorded. Revision, Time and Modified are set by
// go build in a git checkout; go run, go test and -buildvcs=false leave
// them empty.
type Info struct {
	Path     string // the main module's path
	Version  string // its version: a tag, or "(devel)" for a checkout
	Revision string // the VCS revision
	Time     string // the revision's commit time (RFC 3339)
	Modified bool   // built with uncommitted changes
}

// Read returns the running binary's build info (false: none was
// recorded, as for a binary built without module support).
func Read() (Info, bool) {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return Info{}, false
	}
	return From(bi), true
}

// From extracts Info from bi (nil: zero Info).
func From(bi *debug.BuildInfo) Info {
	var i Info
	if bi == nil {
		return i
	}
	i.Path, i.Version = bi.Main.Path, bi.Main.Version
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			i.Revision = s.Value
		case "vcs.time":
			i.Time = s.Value
		case "vcs.modified":
			i.Modified = s.Value == "true"
		}
	}
	return i
}

// ShortRevision is the revision's first 12 characters ("" when none).
func (i Info) ShortRevision() string {
	return i.Revision[:min(len(i.Revision), 12)]
}

// Summary is the version and short revision, "-dirty" when modified:
// "v1.2.0 (0123456789ab)", or the version alone without a revision.
func (i Info) Summary() string {
	if i.Revision == "" {
		return i.Version
	}
	s := i.Version + " (" + i.ShortRevision()
	if i.Modified {
		s += "-dirty"
	}
	return s + ")"
}
