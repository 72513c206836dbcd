package mediatest

import (
	"fmt"
	"strings"
	"testing"

	"github.com/eddy-video/eddy/media"
)

// CheckTracks compares tracks field by field, Config by value.
func CheckTracks(t testing.TB, got, want []media.Track) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("tracks %+v, want %+v", got, want)
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.ID != w.ID || g.Kind != w.Kind || g.Codec != w.Codec || g.ClockRate != w.ClockRate ||
			fmt.Sprint(g.Config) != fmt.Sprint(w.Config) {
			t.Errorf("track %d = %+v, want %+v", i, g, w)
		}
	}
}

// ReserveSuffix returns a Registry.CheckName that refuses the names ending
// in suffix, as the layer above does for the event streams of video
// streams (".events").
func ReserveSuffix(suffix string) func(name string) error {
	return func(name string) error {
		if strings.HasSuffix(name, suffix) {
			return fmt.Errorf("%w %q: the suffix %q is reserved", media.ErrInvalidName, name, suffix)
		}
		return nil
	}
}
