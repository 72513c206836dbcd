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

// markEvery marks FragmentEnd on the unit before every n-th video
// keyframe, and on the last unit: publisher fragments of n GOPs.
func markEvery(aus []*media.AccessUnit, n int) int {
	keys, marks := 0, 0
	for i, au := range aus {
		if au.Track == 0 && au.Key {
			keys++
			if keys > 1 && (keys-1)%n == 0 {
				aus[i-1].FragmentEnd = true
				marks++
			}
		}
	}
	aus[len(aus)-1].FragmentEnd = true
	return marks + 1
}

// TestPublisherCuts: with PublisherCuts a fragment ends right after the
// unit marked FragmentEnd (emitted while that unit is pushed, not when the
// next arrives), never at the keyframes inside it, and its held-back
// samples get their last duration: the fragments tile the timeline.
func TestPublisherCuts(t *testing.T) {
	ntp0 := time.Unix(1_800_000_000, 0)
	aus := fragmentstest.Synth(8, 25, ntp0) // 1 s GOPs
	want := markEvery(aus, 2)               // 2 s fragments
	var out []*fragments.Fragment
	fr := &fragmenter.Fragmenter{Tracks: fragmentstest.Tracks(), PublisherCuts: true,
		Emit: func(_ *fragments.InitSegment, f *fragments.Fragment) error { out = append(out, f); return nil }}
	if err := fr.Initialize(); err != nil {
		t.Fatal(err)
	}
	marked := 0
	for _, au := range aus {
		if err := fr.Push(au); err != nil {
			t.Fatal(err)
		}
		if au.FragmentEnd {
			marked++
		}
		if len(out) != marked {
			t.Fatalf("after %d marked units, %d fragments emitted", marked, len(out))
		}
	}
	if err := fr.Flush(); err != nil {
		t.Fatal(err)
	}
	if len(out) != want || want != 4 {
		t.Fatalf("fragments = %d, want %d (4)", len(out), want)
	}
	var videoNext uint64
	for i, f := range out {
		if time.Duration(f.Duration) != 2*time.Second || !f.Keyframe {
			t.Errorf("fragment %d: duration %v keyframe %v, want 2s starting on a keyframe", i, time.Duration(f.Duration), f.Keyframe)
		}
		if want := ntp0.Add(time.Duration(i) * 2 * time.Second).UnixNano(); f.ProducerTime != want {
			t.Errorf("fragment %d: producer time %v, want %v", i, time.Unix(0, f.ProducerTime), time.Unix(0, want))
		}
		var parts fmp4.Parts
		if err := parts.Unmarshal(f.Media); err != nil {
			t.Fatal(err)
		}
		for _, pt := range parts[0].Tracks {
			if pt.ID != 1 {
				continue
			}
			if pt.BaseTime != videoNext {
				t.Errorf("fragment %d: video starts at %d, previous ended at %d", i, pt.BaseTime, videoNext)
			}
			sync := 0
			for _, s := range pt.Samples {
				videoNext += uint64(s.Duration)
				if !s.IsNonSyncSample {
					sync++
				}
			}
			if len(pt.Samples) != 50 || sync != 2 {
				t.Errorf("fragment %d: %d video samples with %d keyframes, want 50 with 2 (not cut at the inner keyframe)", i, len(pt.Samples), sync)
			}
		}
	}
}

// TestPublisherCutsNoCutWithoutMark: a publisher that cuts its own
// fragments gets none cut for it at keyframes; without marks, everything
// until the end is one fragment (within the store's duration limit).
func TestPublisherCutsNoCutWithoutMark(t *testing.T) {
	out := fragmentstest.RunFragmenter(t, &fragmenter.Fragmenter{Tracks: fragmentstest.Tracks(), PublisherCuts: true},
		fragmentstest.Synth(5, 25, time.Unix(1_800_000_000, 0)))
	if len(out) != 1 || time.Duration(out[0].F.Duration) != 5*time.Second {
		t.Fatalf("%d fragments, want one of 5 s", len(out))
	}
}
