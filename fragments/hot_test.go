package fragments_test

import (
	"errors"
	"testing"
	"time"

	"github.com/eddy-video/eddy/datastreams"
	"github.com/eddy-video/eddy/fragments"
)

// TestHotTag: eddy:hot takes Go durations of 0s or more at CreateStream
// and TagStream; anything else is an InvalidArgument that says what to
// write, and the stream's tags do not change.
func TestHotTag(t *testing.T) {
	t.Parallel()
	core := &datastreams.Core{Dir: t.TempDir(), JanitorInterval: time.Hour}
	if err := core.Initialize(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = core.Close() })
	m := &fragments.Manager{Core: core}
	if err := m.Initialize(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	for _, v := range []string{"0s", "90m", "36h"} {
		if d, err := fragments.ParseHot(v); err != nil || d < 0 {
			t.Errorf("ParseHot(%q) = %v, %v", v, d, err)
		}
	}
	invalid := func(what string, err error) {
		t.Helper()
		var fe *fragments.Error
		if !errors.As(err, &fe) || fe.Kind != fragments.KindInvalidArgument {
			t.Fatalf("%s: %v, want an InvalidArgument", what, err)
		}
	}
	for _, v := range []string{"", "1d", "-1h", "soon", "24"} {
		_, err := m.CreateStream("cam", fragments.CreateOptions{RetentionHours: 24, Tags: map[string]string{fragments.HotTag: v}})
		invalid("CreateStream with eddy:hot "+v, err)
	}
	if _, err := m.CreateStream("cam", fragments.CreateOptions{RetentionHours: 24, Tags: map[string]string{fragments.HotTag: "0s"}}); err != nil {
		t.Fatal(err)
	}
	invalid("TagStream eddy:hot=1w", m.Tag("cam", map[string]string{fragments.HotTag: "1w"}))
	if err := m.Tag("cam", map[string]string{fragments.HotTag: "48h"}); err != nil {
		t.Fatal(err)
	}
	s, err := core.Stream("cam")
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Info().Tags[fragments.HotTag]; got != "48h" {
		t.Errorf("eddy:hot = %q, want 48h", got)
	}
}
