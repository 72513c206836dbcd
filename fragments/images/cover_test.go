package images_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/eddy-video/eddy/datastreams/datastreamstest"
	"github.com/eddy-video/eddy/fragments"
	"github.com/eddy-video/eddy/fragments/fragmentstest"
	"github.com/eddy-video/eddy/fragments/images"
	"github.com/eddy-video/eddy/media/mediatest"
)

// TestCover: Cover names the fragment a time is decoded from, by the rule
// Frames uses: the latest starting at or before it whose span holds it, a
// hole of up to half a second after a fragment being the fragment's, a
// longer one a gap. Frames answers NO_MEDIA exactly where Cover finds none.
func TestCover(t *testing.T) {
	mediatest.RequireTool(t, "ffmpeg")
	clk := datastreamstest.NewClock(t0)
	_, m := fragmentstest.NewManager(t, t.TempDir(), clk, 64<<20)
	if _, err := m.CreateStream("cam", fragments.CreateOptions{RetentionHours: 1}); err != nil {
		t.Fatal(err)
	}
	st, err := m.Store("cam")
	if err != nil {
		t.Fatal(err)
	}
	init := &fragments.InitSegment{ID: fragments.InitID{7}, Bytes: []byte("init")}
	// [0, 1 s), a 300 ms hole, [1.3 s, 2.3 s), a 2 s gap, [4.3 s, 5.3 s).
	var seqs []uint64
	for _, start := range []time.Duration{0, 1300 * time.Millisecond, 4300 * time.Millisecond} {
		at := t0.Add(start).UnixNano()
		seq, err := st.Append(init, &fragments.Fragment{ServerTime: at, ProducerTime: at, Duration: int64(time.Second), Keyframe: true,
			InitID: init.ID, Media: []byte("not media")})
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, seq)
	}
	svc := images.New(images.Options{})
	for _, tc := range []struct {
		at   time.Duration
		want int // index in seqs, -1 for none
	}{
		{-time.Millisecond, -1}, {0, 0}, {999 * time.Millisecond, 0}, {1200 * time.Millisecond, 0}, {1300 * time.Millisecond, 1},
		{2299 * time.Millisecond, 1}, {2900 * time.Millisecond, -1}, {4299 * time.Millisecond, -1}, {5 * time.Second, 2},
		{5400 * time.Millisecond, -1},
	} {
		at := t0.Add(tc.at)
		e, ok, err := images.Cover(st, fragments.IndexProducerTime, at)
		if err != nil {
			t.Fatal(err)
		}
		if got := -1; ok != (tc.want >= 0) || (ok && e.Seq != seqs[tc.want]) {
			if ok {
				got = int(e.Seq)
			}
			t.Errorf("%v: fragment %d (found %v), want index %d", tc.at, got, ok, tc.want)
		}
		res := svc.Frames(context.Background(), st, fragments.IndexProducerTime, []time.Time{at}, images.Spec{Format: "JPEG"})
		if noMedia := errors.Is(res[0].Err, images.ErrNoMedia); noMedia == ok {
			t.Errorf("%v: Frames answered %v where Cover found a fragment: %v", tc.at, res[0].Err, ok)
		}
	}
}
