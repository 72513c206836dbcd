package fragments

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
)

// partsOf runs the fragmenter with parts and returns each fragment with
// the parts emitted for it (which must come before it).
func partsOf(t *testing.T, target time.Duration, seconds float64) ([]*Fragment, [][]*PartCut) {
	t.Helper()
	var frags []*Fragment
	var parts [][]*PartCut
	var open []*PartCut
	fr := &Fragmenter{Tracks: testTracks(), PartTarget: target}
	fr.EmitPart = func(init *InitSegment, p *PartCut) {
		if init == nil {
			t.Fatal("part without init segment")
		}
		if p.First != (len(open) == 0) {
			t.Errorf("part %d of fragment %d: First = %v", len(open), len(frags), p.First)
		}
		open = append(open, p)
	}
	fr.Emit = func(_ *InitSegment, f *Fragment) error {
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
	for _, au := range synth(seconds, 50, time.Unix(1_800_000_000, 0)) {
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

func livePart(d time.Duration, media string) *LivePart {
	return &LivePart{Duration: int64(d), Media: []byte(media)}
}

func TestLive(t *testing.T) {
	l := newLive(7)
	l.Touch()
	init := &InitSegment{ID: InitID{1}, Bytes: []byte("init")}
	run := l.start(200 * time.Millisecond)
	v, ch := l.View()
	if !v.Active || len(v.Segments) != 0 || v.Next != 7<<10 {
		t.Fatalf("fresh view %+v", v)
	}
	l.addPart(LiveSegment{Seq: 7, InitID: init.ID}, init, livePart(200*time.Millisecond, "a"), false)
	select {
	case <-ch:
	default:
		t.Fatal("a new part did not signal a change")
	}
	l.addPart(LiveSegment{Seq: 7, InitID: init.ID}, init, livePart(100*time.Millisecond, "b"), true)
	v, _ = l.View()
	if len(v.Segments) != 1 || !v.Segments[0].Done || len(v.Segments[0].Parts) != 2 || v.Segments[0].Duration != int64(300*time.Millisecond) {
		t.Fatalf("view %+v", v)
	}
	if p, ok := l.Part(7<<10 + 1); !ok || string(p.Media) != "b" || p.Index != 1 || p.Seq != 7 {
		t.Fatalf("Part = %+v, %v", p, ok)
	}
	if _, ok := l.Part(7<<10 + 2); ok {
		t.Fatal("a part not yet cut was found")
	}
	if b, ok := l.Init(init.ID); !ok || !bytes.Equal(b, init.Bytes) {
		t.Fatal("the live init segment is not served")
	}

	// Wait returns at once for what exists and waits for what does not.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	has := func(n uint64) func(*LiveView) bool { return func(v *LiveView) bool { return v.Next > n } }
	if _, ok := l.Wait(ctx, has(7<<10+1)); !ok {
		t.Fatal("Wait for an existing part did not return it")
	}
	go func() {
		time.Sleep(20 * time.Millisecond)
		l.addPart(LiveSegment{Seq: 8, InitID: init.ID}, init, livePart(200*time.Millisecond, "c"), false)
	}()
	if v, ok := l.Wait(ctx, has(7<<10+2)); !ok || len(v.Segments) != 2 {
		t.Fatalf("Wait for the next part: %v %+v", ok, v)
	}

	// A run that ends drops its unfinished segment; its fragment number
	// is reused by the next run.
	l.stop(run)
	v, _ = l.View()
	if v.Active || len(v.Segments) != 1 {
		t.Fatalf("after stop: %+v", v)
	}
	run = l.start(200 * time.Millisecond)
	// The previous run's recorder ending late changes nothing.
	l.stop(run - 1)
	if v, _ = l.View(); !v.Active {
		t.Fatal("a stale run's stop ended the current run")
	}
	l.addPart(LiveSegment{Seq: 8, InitID: init.ID}, init, livePart(200*time.Millisecond, "d"), true)
	v, _ = l.View()
	if len(v.Segments) != 2 || string(v.Segments[1].Parts[0].Media) != "d" {
		t.Fatalf("after restart: %+v", v)
	}
	if v.Segments[1].Parts[0].Number == 7<<10+2 {
		t.Fatal("a part number was reused")
	}

	// Only the last few complete segments keep their parts.
	for seq := uint64(9); seq < 20; seq++ {
		l.addPart(LiveSegment{Seq: seq, InitID: init.ID}, init, livePart(200*time.Millisecond, "x"), true)
	}
	v, _ = l.View()
	if len(v.Segments) != liveKeepDone || v.Segments[0].Seq != 20-liveKeepDone {
		t.Fatalf("kept segments %d from %d", len(v.Segments), v.Segments[0].Seq)
	}
	if _, ok := l.Part(7<<10 + 1); ok {
		t.Fatal("a pruned part is still served")
	}

	// Unwatched, complete segments let their parts go at once; the one in
	// progress keeps them.
	l.wanted.Store(time.Now().Add(-2 * liveWatched).UnixNano())
	l.addPart(LiveSegment{Seq: 20, InitID: init.ID}, init, livePart(200*time.Millisecond, "y"), true)
	l.addPart(LiveSegment{Seq: 21, InitID: init.ID}, init, livePart(200*time.Millisecond, "z"), false)
	v, _ = l.View()
	if len(v.Segments) != 1 || v.Segments[0].Seq != 21 {
		t.Fatalf("unwatched: %d segments kept", len(v.Segments))
	}
}
