package fragmenter_test

import (
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"

	"github.com/eddy-video/eddy/fragments"
	"github.com/eddy-video/eddy/fragments/fragmenter"
	"github.com/eddy-video/eddy/fragments/fragmentstest"
)

// partsOf runs the fragmenter with parts and returns each fragment with
// the parts emitted for it (which must come before it).
func partsOf(t *testing.T, target time.Duration, seconds float64) ([]*fragments.Fragment, [][]*fragmenter.PartCut) {
	t.Helper()
	var frags []*fragments.Fragment
	var parts [][]*fragmenter.PartCut
	var open []*fragmenter.PartCut
	fr := &fragmenter.Fragmenter{Tracks: fragmentstest.Tracks(), PartTarget: target}
	fr.EmitPart = func(init *fragments.InitSegment, p *fragmenter.PartCut) {
		if init == nil {
			t.Fatal("part without init segment")
		}
		if p.First != (len(open) == 0) {
			t.Errorf("part %d of fragment %d: First = %v", len(open), len(frags), p.First)
		}
		open = append(open, p)
	}
	fr.Emit = func(_ *fragments.InitSegment, f *fragments.Fragment) error {
		if len(open) == 0 || !open[len(open)-1].Last {
			t.Errorf("fragment %d emitted without its last part first", len(frags))
		}
		frags = append(frags, f)
		parts = append(parts, open)
		open = nil
		return nil
	}
	if err := fr.Initialize(); err != nil {
		t.Fatal(err)
	}
	for _, au := range fragmentstest.Synth(seconds, 50, time.Unix(1_800_000_000, 0)) {
		if err := fr.Push(au); err != nil {
			t.Fatal(err)
		}
	}
	if err := fr.Flush(); err != nil {
		t.Fatal(err)
	}
	if len(open) != 0 {
		t.Errorf("%d parts emitted after the last fragment", len(open))
	}
	return frags, parts
}

type flatSample struct {
	track   int
	dts     uint64
	dur     uint32
	offset  int32
	nonSync bool
	payload string
}

func flatten(t *testing.T, media ...[]byte) []flatSample {
	t.Helper()
	var out []flatSample
	for _, m := range media {
		var ps fmp4.Parts
		if err := ps.Unmarshal(m); err != nil {
			t.Fatal(err)
		}
		for _, p := range ps {
			for _, tr := range p.Tracks {
				dts := tr.BaseTime
				for _, s := range tr.Samples {
					out = append(out, flatSample{tr.ID, dts, s.Duration, s.PTSOffset, s.IsNonSyncSample, string(s.Payload)})
					dts += uint64(s.Duration)
				}
			}
		}
	}
	// Order by track then time: a fragment holds each track's run whole,
	// parts interleave them.
	byTrack := map[int][]flatSample{}
	for _, s := range out {
		byTrack[s.track] = append(byTrack[s.track], s)
	}
	out = out[:0]
	for id := 1; id <= 2; id++ {
		out = append(out, byTrack[id]...)
	}
	return out
}

// TestFragmenterParts: parts are at most the target, the first of each
// fragment is independent, and together they hold exactly the fragment's
// samples on the fragment's timeline.
func TestFragmenterParts(t *testing.T) {
	for _, tc := range []struct {
		target    time.Duration
		wantParts int // per 2 s fragment at 25 fps
	}{
		{200 * time.Millisecond, 10},
		{190 * time.Millisecond, 13}, // 4 frames (160 ms) each, the last 2 s - 12*160 ms = 80 ms
		{500 * time.Millisecond, 5},  // 12 frames (480 ms) each, the last 80 ms
	} {
		frags, parts := partsOf(t, tc.target, 10)
		if len(frags) != 5 {
			t.Fatalf("target %v: %d fragments, want 5", tc.target, len(frags))
		}
		for i, f := range frags {
			ps := parts[i]
			if len(ps) != tc.wantParts {
				t.Errorf("target %v, fragment %d: %d parts, want %d", tc.target, i, len(ps), tc.wantParts)
			}
			var sum int64
			var media [][]byte
			for j, p := range ps {
				if time.Duration(p.Duration) > tc.target {
					t.Errorf("target %v, fragment %d part %d: %v long", tc.target, i, j, time.Duration(p.Duration))
				}
				if p.Independent != (j == 0) {
					t.Errorf("target %v, fragment %d part %d: Independent = %v", tc.target, i, j, p.Independent)
				}
				if p.ServerTime != f.ServerTime || p.Keyframe != f.Keyframe {
					t.Errorf("fragment %d part %d: fragment times differ", i, j)
				}
				sum += p.Duration
				media = append(media, p.Media)
			}
			if ps[len(ps)-1].ProducerTime != f.ProducerTime {
				t.Errorf("fragment %d: last part's producer time differs", i)
			}
			if sum != f.Duration {
				t.Errorf("target %v, fragment %d: parts last %v, fragment %v", tc.target, i, time.Duration(sum), time.Duration(f.Duration))
			}
			got, want := flatten(t, media...), flatten(t, f.Media)
			if len(got) != len(want) {
				t.Fatalf("target %v, fragment %d: parts hold %d samples, fragment %d", tc.target, i, len(got), len(want))
			}
			for k := range got {
				if got[k] != want[k] {
					t.Fatalf("target %v, fragment %d sample %d: part %+v, fragment %+v", tc.target, i, k, got[k], want[k])
				}
			}
		}
	}
}
