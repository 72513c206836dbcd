package recorder_test

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/eddy-video/eddy/datastreams/datastreamstest"
	"github.com/eddy-video/eddy/fragments"
	"github.com/eddy-video/eddy/fragments/fragmentstest"
	"github.com/eddy-video/eddy/fragments/recorder"
	"github.com/eddy-video/eddy/media"
	"github.com/eddy-video/eddy/media/mediatest"
)

// record records aus as stream "cam" and returns the stored fragments.
// paced publishes in steps of 10 units a millisecond apart (the recorder
// reads as they come) rather than all at once.
func record(t *testing.T, aus []*media.AccessUnit, maxDur, partDur time.Duration, watched, paced bool) []*fragments.Fragment {
	t.Helper()
	_, m := fragmentstest.NewManager(t, t.TempDir(), datastreamstest.NewClock(time.Now()), 64<<20)
	m.PartDuration = partDur
	if _, err := m.CreateStream("cam", fragments.CreateOptions{RetentionHours: 24}); err != nil {
		t.Fatal(err)
	}
	st, err := m.Store("cam")
	if err != nil {
		t.Fatal(err)
	}
	if watched {
		st.Live().Touch()
	}
	rec := &recorder.Recorder{Videos: m, MaxFragmentDuration: maxDur, Logger: mediatest.Logger()}
	if err := rec.Initialize(); err != nil {
		t.Fatal(err)
	}
	reg := &media.Registry{QueueSize: 1 << 16, OnPublish: rec.OnPublish, OnUnpublish: rec.OnUnpublish}
	h, err := reg.Publish("cam", fragmentstest.Tracks())
	if err != nil {
		t.Fatal(err)
	}
	for i, au := range aus {
		h.Publish(au)
		if paced && i%10 == 9 {
			time.Sleep(time.Millisecond)
		}
	}
	reg.Close()
	rec.Close()
	list, _, err := st.List(fragments.IndexServerTime, time.Unix(0, 0), time.Now().Add(24*time.Hour), 0, 10000)
	if err != nil {
		t.Fatal(err)
	}
	var out []*fragments.Fragment
	for _, e := range list {
		f, err := st.Read(e.Seq)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, f)
	}
	return out
}

// TestLazyRecorderSameFragments: a recorder reading its hub lazily
// (woken at keyframes, fragment ends, 250 ms, half a queue) stores the
// very fragments, byte for byte, that one woken for every unit stores:
// keyframe cuts, MaxFragmentDuration cuts inside long GOPs, with and
// without LL-HLS parts being cut, published in a burst or paced.
func TestLazyRecorderSameFragments(t *testing.T) {
	defer recorder.SetEagerReaders(false)
	for _, tc := range []struct {
		seconds float64
		gop     int
		maxDur  time.Duration
		partDur time.Duration
		watched bool
	}{
		{8, 25, 10 * time.Second, 0, false},
		{8, 75, time.Second, 0, false},                           // MaxFragmentDuration cuts
		{6, 25, 10 * time.Second, 200 * time.Millisecond, false}, // parts possible, unwatched
		{6, 50, 10 * time.Second, 200 * time.Millisecond, true},  // parts cut: the reader is eager
	} {
		for _, paced := range []bool{false, true} {
			name := fmt.Sprintf("gop%d-max%v-part%v-watched%v-paced%v", tc.gop, tc.maxDur, tc.partDur, tc.watched, paced)
			t.Run(name, func(t *testing.T) {
				aus := fragmentstest.Synth(tc.seconds, tc.gop, mediatest.NTP0)
				recorder.SetEagerReaders(true)
				eager := record(t, aus, tc.maxDur, tc.partDur, tc.watched, paced)
				recorder.SetEagerReaders(false)
				lazy := record(t, aus, tc.maxDur, tc.partDur, tc.watched, paced)
				if len(eager) < 3 || len(lazy) != len(eager) {
					t.Fatalf("%d fragments lazy, %d eager", len(lazy), len(eager))
				}
				for i, e := range eager {
					l := lazy[i]
					if l.ServerTime != e.ServerTime || l.ProducerTime != e.ProducerTime || l.Duration != e.Duration ||
						l.Keyframe != e.Keyframe || l.Discontinuity != e.Discontinuity || l.InitID != e.InitID || !bytes.Equal(l.Media, e.Media) {
						t.Fatalf("fragment %d differs: lazy %d bytes %v at %d, eager %d bytes %v at %d",
							i, len(l.Media), time.Duration(l.Duration), l.ServerTime, len(e.Media), time.Duration(e.Duration), e.ServerTime)
					}
				}
			})
		}
	}
}
