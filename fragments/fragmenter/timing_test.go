package fragmenter_test

import (
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"

	"github.com/eddy-video/eddy/fragments"
	"github.com/eddy-video/eddy/fragments/fragmenter"
	"github.com/eddy-video/eddy/fragments/fragmentstest"
	"github.com/eddy-video/eddy/media"
)

// shiftFrom moves every unit at or after media time at (seconds, in each
// track's own clock) by d: a producer clock that jumps.
func shiftFrom(aus []*media.AccessUnit, at float64, d time.Duration) {
	for _, au := range aus {
		rate := int64(90000)
		if au.Track == 1 {
			rate = 44100
		}
		if float64(au.DTS)/float64(rate) >= at {
			delta := int64(d/time.Millisecond) * rate / 1000
			au.DTS += delta
			au.PTS += delta
		}
	}
}

// badTimingCase is one producer misbehaviour and what the fragmenter
// must make of it.
type badTimingCase struct {
	name      string
	units     func() []*media.AccessUnit
	max       time.Duration // MaxDuration (0: default)
	maxBytes  int
	fragments int // fragments expected (0: any)
	jumps     int // EventJump at least
	sizeCuts  int // EventSizeCut at least
	drops     int // EventDropped at least
	durCuts   int // EventDurationCut at least
	audio     int // audio samples stored, at least
	disc      []int
}

var badTimingCases = []badTimingCase{
	{name: "backward jump of 10 s at a keyframe", units: func() []*media.AccessUnit {
		aus := fragmentstest.Synth(8, 50, time.Unix(1_800_000_000, 0))
		shiftFrom(aus, 6, -10*time.Second) // before the session origin
		return aus
	}, fragments: 4, jumps: 2, disc: []int{3}},
	{name: "backward jump of 4 s mid-GOP", units: func() []*media.AccessUnit {
		aus := fragmentstest.Synth(8, 50, time.Unix(1_800_000_000, 0))
		shiftFrom(aus, 5, -4*time.Second)
		return aus
	}, fragments: 5, jumps: 2, disc: []int{3}},
	{name: "forward jump of 5 h, then back", units: func() []*media.AccessUnit {
		aus := fragmentstest.Synth(10, 50, time.Unix(1_800_000_000, 0))
		shiftFrom(aus, 3, 5*time.Hour)
		shiftFrom(aus, 5*3600+7, -5*time.Hour)
		return aus
	}, fragments: 7, jumps: 4, disc: []int{2, 5}},
	{name: "0 fps for a minute", units: func() []*media.AccessUnit {
		aus := fragmentstest.Synth(6, 50, time.Unix(1_800_000_000, 0))
		shiftFrom(aus, 3, time.Minute)
		return aus
	}, jumps: 2, disc: []int{2}},
	{name: "60 s GOP", units: func() []*media.AccessUnit {
		return fragmentstest.Synth(61, 1500, time.Unix(1_800_000_000, 0))
	}, fragments: 7, durCuts: 5},
	{name: "audio 5 s ahead of video", units: func() []*media.AccessUnit {
		aus := fragmentstest.Synth(6, 50, time.Unix(1_800_000_000, 0))
		for _, au := range aus {
			if au.Track == 1 {
				au.DTS += 5 * 44100
				au.PTS += 5 * 44100
			}
		}
		return aus
	}, jumps: 1, audio: 200},
	{name: "audio pauses for 6 s", units: func() []*media.AccessUnit {
		var out []*media.AccessUnit
		for _, au := range fragmentstest.Synth(10, 50, time.Unix(1_800_000_000, 0)) {
			if s := float64(au.DTS) / 44100; au.Track != 1 || s < 2 || s >= 8 {
				out = append(out, au)
			}
		}
		return out
	}, audio: 150},
	{name: "50 Mbit/s burst", units: func() []*media.AccessUnit {
		aus := fragmentstest.Synth(4, 50, time.Unix(1_800_000_000, 0))
		for _, au := range aus {
			if au.Track == 0 {
				au.Payload = append(au.Payload, make([]byte, 250_000)) // 6.25 MB/s
			}
		}
		return aus
	}, maxBytes: 4 << 20, sizeCuts: 2},
	{name: "a unit larger than a quarter of a fragment", units: func() []*media.AccessUnit {
		aus := fragmentstest.Synth(4, 50, time.Unix(1_800_000_000, 0))
		aus[10].Payload = append(aus[10].Payload, make([]byte, 2<<20))
		return aus
	}, maxBytes: 4 << 20, drops: 1, fragments: 2},
}

// TestFragmenterBadTiming: whatever the timestamps, every fragment is one
// the store keeps (duration 0 to MaxDuration, size within MaxBytes), the
// video timeline runs on without gap or overlap, and each jump cuts a
// fragment marked as a discontinuity.
func TestFragmenterBadTiming(t *testing.T) {
	for _, c := range badTimingCases {
		t.Run(c.name, func(t *testing.T) {
			events := map[fragmenter.Event]int{}
			fr := &fragmenter.Fragmenter{Tracks: fragmentstest.Tracks(), MaxDuration: c.max, MaxBytes: c.maxBytes,
				OnEvent: func(e fragmenter.Event) { events[e]++ }}
			out := fragmentstest.RunFragmenter(t, fr, c.units())
			if c.fragments > 0 && len(out) != c.fragments {
				t.Errorf("fragments = %d, want %d", len(out), c.fragments)
			}
			if events[fragmenter.EventJump] < c.jumps || events[fragmenter.EventSizeCut] < c.sizeCuts ||
				events[fragmenter.EventDropped] < c.drops || events[fragmenter.EventDurationCut] < c.durCuts {
				t.Errorf("events %v, want at least %d jumps, %d size cuts, %d drops, %d duration cuts", events, c.jumps, c.sizeCuts, c.drops, c.durCuts)
			}
			var disc []int
			audio := 0
			for i, e := range out {
				if e.F.Discontinuity {
					disc = append(disc, i)
				}
				audio += audioSamples(t, e.F)
			}
			if audio < c.audio {
				t.Errorf("%d audio samples stored, want at least %d", audio, c.audio)
			}
			if c.disc != nil && !equalInts(disc, c.disc) {
				t.Errorf("discontinuities at fragments %v, want %v", disc, c.disc)
			}
			checkStorable(t, out, max(c.max, fragmenter.DefaultMaxFragmentDuration), c.maxBytes)
		})
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// checkStorable asserts every fragment passes the store's rule, lasts
// more than 0 and at most maxDur, fits maxBytes, and continues the video
// timeline of the one before (timeline).
func checkStorable(t testing.TB, out []fragmentstest.Emitted, maxDur time.Duration, maxBytes int) {
	t.Helper()
	var tl timeline
	for i, e := range out {
		if err := e.F.Validate(); err != nil {
			t.Errorf("fragment %d: %v", i, err)
		}
		if maxBytes > 0 && len(e.F.Media)+fragments.RecordHeaderSize > maxBytes {
			t.Errorf("fragment %d: %d bytes, over %d", i, len(e.F.Media), maxBytes)
		}
		tl.check(t, e.F, maxDur)
	}
}

// audioSamples counts the audio (track 2) samples of a fragment, having
// checked that they start within 1 s (maxTrackSkew) of the video.
func audioSamples(t *testing.T, f *fragments.Fragment) int {
	t.Helper()
	var parts fmp4.Parts
	if err := parts.Unmarshal(f.Media); err != nil {
		t.Fatal(err)
	}
	n := 0
	var video, audio float64
	for _, p := range parts {
		for _, pt := range p.Tracks {
			switch pt.ID {
			case 1:
				video = float64(pt.BaseTime) / 90000
			case 2:
				audio = float64(pt.BaseTime) / 44100
				n += len(pt.Samples)
			}
		}
	}
	if n > 0 && (audio < video-1.05 || audio > video+1.05) {
		t.Errorf("audio starts at %.3f s, video at %.3f s", audio, video)
	}
	return n
}
