package fragmenter_test

import (
	"bytes"
	"math/rand/v2"
	"reflect"
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

// TestFragmenterPartsWanted: with PartsWanted, a fragment's parts are
// emitted only once it reports true, then all of them: the ones already
// due at once, at the first part boundary after (a viewer who joins
// mid-fragment gets the whole fragment in parts), the later ones as
// they are cut, to the fragment's end even when it reports false again.
// They are the very parts a fragmenter always cutting parts emits, and
// the fragments do not change.
func TestFragmenterPartsWanted(t *testing.T) {
	const target = 200 * time.Millisecond
	aus := fragmentstest.Synth(10, 50, time.Unix(1_800_000_000, 0))
	type emitted struct {
		p    *fragmenter.PartCut
		push int // the unit whose Push emitted it
	}
	run := func(wanted func(sec float64) bool) (frags []*fragments.Fragment, parts [][]emitted, asked int) {
		var open []emitted
		push, sec := 0, 0.0
		fr := &fragmenter.Fragmenter{Tracks: fragmentstest.Tracks(), PartTarget: target}
		fr.EmitPart = func(_ *fragments.InitSegment, p *fragmenter.PartCut) { open = append(open, emitted{p, push}) }
		fr.Emit = func(_ *fragments.InitSegment, f *fragments.Fragment) error {
			frags, parts, open = append(frags, f), append(parts, open), nil
			return nil
		}
		if wanted != nil {
			fr.PartsWanted = func() bool { asked++; return wanted(sec) }
		}
		if err := fr.Initialize(); err != nil {
			t.Fatal(err)
		}
		for i, au := range aus {
			push, sec = i, float64(au.DTS)/float64(fragmentstest.Tracks()[au.Track].ClockRate)
			if err := fr.Push(au); err != nil {
				t.Fatal(err)
			}
		}
		if err := fr.Flush(); err != nil {
			t.Fatal(err)
		}
		return frags, parts, asked
	}
	allFrags, allParts, _ := run(nil)
	// Watched from 4.7 s (fragment 2, [4 s, 6 s)) to 6.3 s (fragment 3).
	frags, parts, asked := run(func(sec float64) bool { return sec >= 4.7 && sec < 6.3 })
	if len(frags) != 5 || len(allFrags) != 5 {
		t.Fatalf("%d and %d fragments, want 5", len(frags), len(allFrags))
	}
	for i := range frags {
		if !bytes.Equal(frags[i].Media, allFrags[i].Media) || frags[i].Duration != allFrags[i].Duration {
			t.Errorf("fragment %d differs when its parts are not wanted", i)
		}
		want := allParts[i]
		if i != 2 && i != 3 {
			if len(parts[i]) != 0 {
				t.Errorf("fragment %d: %d parts emitted, none wanted", i, len(parts[i]))
			}
			continue
		}
		if len(parts[i]) != len(want) {
			t.Fatalf("fragment %d: %d parts, want %d", i, len(parts[i]), len(want))
		}
		for j, e := range parts[i] {
			g, w := *e.p, *want[j].p
			if !bytes.Equal(g.Media, w.Media) {
				t.Errorf("fragment %d part %d: media differs", i, j)
			}
			g.Media, w.Media = nil, nil
			if !reflect.DeepEqual(g, w) {
				t.Errorf("fragment %d part %d: %+v, want %+v", i, j, g, w)
			}
		}
	}
	// Fragment 2's parts up to 4.8 s (the first boundary at or after
	// 4.7 s) come out together, at that boundary; the rest one by one.
	caught := 0
	for _, e := range parts[2] {
		if e.push == parts[2][0].push {
			caught++
		}
	}
	if caught != 4 {
		t.Errorf("fragment 2: %d parts emitted when they became wanted, want 4 (0–0.8 s)", caught)
	}
	// Asked at every boundary of a fragment while its parts are not
	// wanted, its end included (10 a fragment: 0, 1 and 4; 4 for
	// fragment 2), and at the first boundary of a watched one (3).
	if asked != 10+10+4+1+10 {
		t.Errorf("PartsWanted asked %d times, want 35", asked)
	}
}

// TestPartsWantedRandom: whenever PartsWanted turns true, for every
// payload kind, with the fragmenter's cuts or the publisher's, the parts
// emitted for a fragment are exactly (media and every field) the ones a
// fragmenter always cutting parts emits for it, and the fragments do not
// change. Every segment is allocated at its exact size.
func TestPartsWantedRandom(t *testing.T) {
	for _, c := range segCases(t) {
		for _, pub := range []bool{false, true} {
			run := func(wanted func() bool) (frags []*fragments.Fragment, parts [][]fragmenter.PartCut) {
				var open []fragmenter.PartCut
				fr := &fragmenter.Fragmenter{Tracks: c.tracks, PartTarget: 200 * time.Millisecond, PartsWanted: wanted}
				fr.EmitPart = func(_ *fragments.InitSegment, p *fragmenter.PartCut) { open = append(open, *p) }
				fr.Emit = func(_ *fragments.InitSegment, f *fragments.Fragment) error {
					frags, parts, open = append(frags, f), append(parts, open), nil
					return nil
				}
				if err := fr.Initialize(); err != nil {
					t.Fatal(err)
				}
				for i, au := range c.aus {
					a := *au
					if pub {
						a.FragmentEnd = i%37 == 36
						fr.PublisherCuts = true
					}
					if err := fr.Push(&a); err != nil {
						t.Fatal(err)
					}
				}
				if err := fr.Flush(); err != nil {
					t.Fatal(err)
				}
				return frags, parts
			}
			allF, allP := run(nil)
			// Each segment is written into a buffer of exactly its size
			// (a fragment's with the record header's room in front).
			for i, f := range allF {
				if cap(f.Media) != len(f.Media) {
					t.Fatalf("%s pub=%v fragment %d: %d bytes in a %d-byte buffer", c.name, pub, i, len(f.Media), cap(f.Media))
				}
				for j, p := range allP[i] {
					if cap(p.Media) != len(p.Media) {
						t.Fatalf("%s pub=%v fragment %d part %d: %d bytes in a %d-byte buffer", c.name, pub, i, j, len(p.Media), cap(p.Media))
					}
				}
			}
			for seed := range uint64(20) {
				rng := rand.New(rand.NewPCG(seed, 7))
				p := rng.Float64()
				f, ps := run(func() bool { return rng.Float64() < p })
				if len(f) != len(allF) {
					t.Fatalf("%s pub=%v seed %d: %d fragments, want %d", c.name, pub, seed, len(f), len(allF))
				}
				for i := range f {
					if !bytes.Equal(f[i].Media, allF[i].Media) || !reflect.DeepEqual(f[i], allF[i]) {
						t.Fatalf("%s pub=%v seed %d: fragment %d differs", c.name, pub, seed, i)
					}
					if len(ps[i]) == 0 {
						continue
					}
					if len(ps[i]) != len(allP[i]) {
						t.Fatalf("%s pub=%v seed %d fragment %d: %d parts, want %d", c.name, pub, seed, i, len(ps[i]), len(allP[i]))
					}
					for j := range ps[i] {
						g, w := ps[i][j], allP[i][j]
						if !bytes.Equal(g.Media, w.Media) {
							t.Fatalf("%s pub=%v seed %d fragment %d part %d: media differs", c.name, pub, seed, i, j)
						}
						g.Media, w.Media = nil, nil
						if !reflect.DeepEqual(g, w) {
							t.Fatalf("%s pub=%v seed %d fragment %d part %d: %+v, want %+v", c.name, pub, seed, i, j, g, w)
						}
					}
				}
			}
		}
	}
}
