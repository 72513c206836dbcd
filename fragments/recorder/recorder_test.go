package recorder_test

import (
	"testing"
	"time"

	"github.com/eddy-video/eddy/datastreams/datastreamstest"
	"github.com/eddy-video/eddy/fragments"
	"github.com/eddy-video/eddy/fragments/fragmentstest"
	"github.com/eddy-video/eddy/fragments/recorder"
	"github.com/eddy-video/eddy/media"
	"github.com/eddy-video/eddy/media/mediatest"
)

// TestCloseRecordsWhatWasQueued: a server shutting down ends every
// publication, then closes the recorder. Units still queued for a
// recording that lags behind (a burst, a slow fsync) must be recorded,
// up to the fragment in progress, not dropped by the close.
func TestCloseRecordsWhatWasQueued(t *testing.T) {
	const seconds, gop = 20, 10 // 50 fragments of 0.4 s
	_, m := fragmentstest.NewManager(t, t.TempDir(), datastreamstest.NewClock(time.Now()), 64<<20)
	if _, err := m.CreateStream("cam", fragments.CreateOptions{RetentionHours: 24}); err != nil {
		t.Fatal(err)
	}
	rec := &recorder.Recorder{Videos: m, MaxFragmentDuration: 10 * time.Second, Logger: mediatest.Logger()}
	if err := rec.Initialize(); err != nil {
		t.Fatal(err)
	}
	reg := &media.Registry{QueueSize: 1 << 16, OnPublish: rec.OnPublish, OnUnpublish: rec.OnUnpublish}
	h, err := reg.Publish("cam", fragmentstest.Tracks())
	if err != nil {
		t.Fatal(err)
	}
	mediatest.WaitFor(t, "the recorder to read the hub", func() bool { return h.Readers() == 1 })
	for _, au := range fragmentstest.Synth(seconds, gop, mediatest.NTP0) {
		h.Publish(au)
	}
	// As Server.Close does: publications end, then the recorder closes.
	reg.Close()
	rec.Close()

	st, err := m.Store("cam")
	if err != nil {
		t.Fatal(err)
	}
	list, _, err := st.List(fragments.IndexServerTime, time.Unix(0, 0), time.Now().Add(time.Hour), 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var total time.Duration
	for _, e := range list {
		total += time.Duration(e.Duration)
	}
	if want := seconds * 25 / gop; len(list) != want || total < seconds*time.Second-100*time.Millisecond {
		t.Fatalf("%d fragments, %v recorded; want %d fragments, %d s", len(list), total, want, seconds)
	}
}

// TestPartsOnlyWhileWatched: a recording cuts LL-HLS parts only once an
// LL-HLS request touched the stream; then the fragment in progress is
// there whole, in parts, from its first.
func TestPartsOnlyWhileWatched(t *testing.T) {
	_, m := fragmentstest.NewManager(t, t.TempDir(), datastreamstest.NewClock(time.Now()), 64<<20)
	m.PartDuration = 200 * time.Millisecond
	if _, err := m.CreateStream("cam", fragments.CreateOptions{RetentionHours: 24}); err != nil {
		t.Fatal(err)
	}
	rec := &recorder.Recorder{Videos: m, MaxFragmentDuration: 10 * time.Second, Logger: mediatest.Logger()}
	if err := rec.Initialize(); err != nil {
		t.Fatal(err)
	}
	defer rec.Close()
	reg := &media.Registry{QueueSize: 1 << 12, OnPublish: rec.OnPublish, OnUnpublish: rec.OnUnpublish}
	defer reg.Close()
	h, err := reg.Publish("cam", fragmentstest.Tracks())
	if err != nil {
		t.Fatal(err)
	}
	st, err := m.Store("cam")
	if err != nil {
		t.Fatal(err)
	}
	live := st.Live()
	aus := fragmentstest.Synth(6, 50, mediatest.NTP0) // 2 s GOPs
	at := func(sec float64) int {
		for i, au := range aus {
			if au.Track == 0 && au.DTS >= int64(sec*90000) {
				return i
			}
		}
		return len(aus)
	}
	publish := func(from, to int) {
		for _, au := range aus[from:to] {
			h.Publish(au)
		}
	}
	// Two fragments and half of the third, unwatched: no parts.
	publish(0, at(5))
	var first uint64
	mediatest.WaitFor(t, "two fragments stored", func() bool {
		list, _, err := st.List(fragments.IndexServerTime, time.Unix(0, 0), time.Now().Add(time.Hour), 0, 10)
		if err != nil || len(list) < 2 {
			return false
		}
		first = list[0].Seq
		return true
	})
	// No part was cut for them: none took a part number (they start at
	// the first fragment's number << 10).
	if v, _ := live.View(); len(v.Segments) != 0 || !v.Active || v.Next != first<<10 {
		t.Fatalf("unwatched: %d live segments (active %v), next part %d; want none, %d", len(v.Segments), v.Active, v.Next, first<<10)
	}
	// A viewer arrives at 5 s; the next part boundary (5.2 s) brings the
	// third fragment's parts from 4 s.
	live.Touch()
	publish(at(5), at(5.4))
	third := first + 2
	v, ok := live.Wait(t.Context(), func(v *fragments.LiveView) bool {
		n := len(v.Segments)
		return n > 0 && v.Segments[n-1].Seq == third && len(v.Segments[n-1].Parts) >= 6
	})
	if !ok {
		t.Fatalf("watched: live segments %+v", v.Segments)
	}
	g := v.Segments[len(v.Segments)-1]
	if g.Done || !g.Parts[0].Independent || g.Parts[0].Index != 0 {
		t.Fatalf("live segment %d: done %v, first part %d, independent %v", g.Seq, g.Done, g.Parts[0].Index, g.Parts[0].Independent)
	}
	var d int64
	for _, p := range g.Parts {
		d += p.Duration
	}
	if time.Duration(d) < 1200*time.Millisecond {
		t.Fatalf("parts hold %v of the fragment in progress, want 1.2 s", time.Duration(d))
	}
}
