package buildinfo

import (
	"runtime/debug"
	"testing"
)

func TestFrom(t *testing.T) {
	bi := &debug.BuildInfo{Main: debug.Module{Path: "github.com/eddy-video/eddy", Version: "v1.2.0"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "0123456789abcdef0123"}, {Key: "vcs.time", Value: "2026-12-07T08:00:00Z"}, {Key: "vcs.modified", Value: "true"}}}
	i := From(bi)
	want := Info{Path: "github.com/eddy-video/eddy", Version: "v1.2.0", Revision: "0123456789abcdef0123", Time: "2026-12-07T08:00:00Z", Modified: true}
	if i != want {
		t.Errorf("From: %+v, want %+v", i, want)
	}
	if got := i.Summary(); got != "v1.2.0 (0123456789ab-dirty)" {
		t.Errorf("Summary: %q", got)
	}
	i.Modified, i.Revision = false, "abc"
	if got := i.Summary(); got != "v1.2.0 (abc)" {
		t.Errorf("Summary with a short revision: %q", got)
	}
	if got := From(nil); got != (Info{}) || got.Summary() != "" || got.ShortRevision() != "" {
		t.Errorf("From(nil): %+v", got)
	}
	// A test binary records its module but no revision.
	if i, ok := Read(); !ok || i.Revision != "" || i.Summary() != i.Version {
		t.Errorf("Read in a test: %+v %v", i, ok)
	}
}
