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
