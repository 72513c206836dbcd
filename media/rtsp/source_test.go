package rtsp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v4"

	"github.com/eddy-video/eddy/media"
	"github.com/eddy-video/eddy/media/mediatest"
)

// livePublisher keeps publishing synthetic H.264 + AAC, one frame every
// 5 ms, until stopped or its connection fails.
type livePublisher struct {
	stop     chan struct{}
	stopOnce sync.Once
	finished chan struct{}
	err      error // why it ended, once finished is closed
}

func (lp *livePublisher) close() {
	lp.stopOnce.Do(func() { close(lp.stop) })
	<-lp.finished
}

func startLivePublisher(t *testing.T, addr, name string) *livePublisher {
	t.Helper()
	v, a := h264PubTrack(), aacPubTrack()
	pub, err := startPublisher(t, addr, name, gortsplib.TransportTCP, v, a)
	if err != nil {
		t.Fatal(err)
	}
	lp := &livePublisher{stop: make(chan struct{}), finished: make(chan struct{})}
	go func() {
		defer close(lp.finished)
		audio := 0
		for i := 0; ; i++ {
			select {
			case <-lp.stop:
				return
			default:
			}
			if audio, lp.err = sendAV(pub, v, a, i, i+1, audio, 0); lp.err != nil {
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	t.Cleanup(lp.close)
	return lp
}

func fmtPayload(p [][]byte) string { return fmt.Sprint(p) }

// checkPulled checks units pulled from a live publisher: consecutive
// frames from a keyframe, as sent, with the publisher's timing.
func checkPulled(t *testing.T, units []*media.AccessUnit) {
	t.Helper()
	first := mediatest.VideoIndex(units[0].Payload)
	if first%mediatest.GOP != 0 || !units[0].Key {
		t.Errorf("pull started at frame %d (key %v), not a keyframe", first, units[0].Key)
	}
	for k, au := range units {
		i := first + k
		if fmtPayload(au.Payload) != fmtPayload(mediatest.H264AU(i)) {
			t.Fatalf("pulled unit %d: frame %d, want %d (or payload differs)", k, mediatest.VideoIndex(au.Payload), i)
		}
		if au.Key != (i%mediatest.GOP == 0) || au.PTS-units[0].PTS != int64(k)*mediatest.VideoTicks {
			t.Errorf("pulled frame %d: key %v, PTS +%d", i, au.Key, au.PTS-units[0].PTS)
		}
	}
	// Once the sender reports of the publisher went through both hops, the
	// producer's wall clock arrives intact.
	for _, au := range units[len(units)-5:] {
		i := mediatest.VideoIndex(au.Payload)
		if au.NTP.IsZero() || au.NTP.Sub(videoNTP(i)).Abs() > 50*time.Millisecond {
			t.Errorf("pulled frame %d: NTP %v, sent %v", i, au.NTP, videoNTP(i))
		}
	}
}

func TestSourcePullAndReconnect(t *testing.T) {
	regA := &media.Registry{Logger: mediatest.Logger()}
	srvA := startRTSPServer(t, regA, false)
	addr := srvA.Addr()
	lp := startLivePublisher(t, addr, "cam")

	regB := &media.Registry{Logger: mediatest.Logger()}
	tapB := newHubTap(regB)
	t.Cleanup(regB.Close)
	src := &Source{URL: "rtsp://user:secret@" + addr + "/cam", MinBackoff: 50 * time.Millisecond,
		MaxBackoff: 200 * time.Millisecond, Logger: mediatest.Logger()}
	if err := regB.AddSource("cam-b", src); err != nil {
		t.Fatal(err)
	}
	if err := regB.AddSource("cam-b", &Source{URL: src.URL}); !errors.Is(err, media.ErrSourceExists) {
		t.Errorf("second source: %v", err)
	}
	r := tapB.next(t, "cam-b")
	got := collect(t, r, func(m map[int][]*media.AccessUnit) bool { return len(m[0]) >= 30 && len(m[1]) > 0 })
	checkPulled(t, got[0])
	h, _ := regB.Hub("cam-b")
	mediatest.CheckTracks(t, h.Tracks, []media.Track{
		{ID: 0, Kind: media.Video, Codec: media.CodecH264, ClockRate: 90000, Config: [][]byte{mediatest.H264SPS, mediatest.H264PPS}},
		{ID: 1, Kind: media.Audio, Codec: media.CodecAAC, ClockRate: 48000, Config: [][]byte{mediatest.Must(mediatest.ASC.Marshal())}},
	})

	// Server A dies: the pulled publication ends.
	srvA.Close()
	<-lp.finished
	if lp.err == nil {
		t.Error("publisher of A not disconnected")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		if _, err := r.Read(ctx); err != nil {
			if !errors.Is(err, io.EOF) {
				t.Fatalf("pulled publication: %v, want EOF", err)
			}
			break
		}
	}

	// A comes back on the same address: the source reconnects.
	time.Sleep(300 * time.Millisecond) // a few failed attempts
	srvA2 := &Server{Address: addr, Registry: &media.Registry{Logger: mediatest.Logger()}, Logger: mediatest.Logger()}
	if err := srvA2.Initialize(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srvA2.Close)
	startLivePublisher(t, addr, "cam")
	r2 := tapB.next(t, "cam-b")
	got = collect(t, r2, func(m map[int][]*media.AccessUnit) bool { return len(m[0]) >= 20 })
	checkPulled(t, got[0])

	regB.RemoveSource("cam-b")
	if names := regB.Names(); len(names) != 0 {
		t.Errorf("after RemoveSource: %v", names)
	}
}

// TestSourceEndedByServer: when the server ends a pulled publication
// (recording failed on a full disk), the source drops its connection and
// pulls again after its backoff, so the stream is recorded again once
// the store takes fragments.
func TestSourceEndedByServer(t *testing.T) {
	regA := &media.Registry{Logger: mediatest.Logger()}
	srvA := startRTSPServer(t, regA, false)
	startLivePublisher(t, srvA.Addr(), "cam")
	regB := &media.Registry{Logger: mediatest.Logger()}
	tapB := newHubTap(regB)
	t.Cleanup(regB.Close)
	src := &Source{URL: "rtsp://" + srvA.Addr() + "/cam", MinBackoff: 50 * time.Millisecond,
		MaxBackoff: 200 * time.Millisecond, Logger: mediatest.Logger()}
	if err := regB.AddSource("cam-b", src); err != nil {
		t.Fatal(err)
	}
	r := tapB.next(t, "cam-b")
	collect(t, r, func(m map[int][]*media.AccessUnit) bool { return len(m[0]) >= 5 })
	if !regB.End("cam-b", errors.New("recording failed: no space left on device")) {
		t.Fatal("no publication to end")
	}
	r2 := tapB.next(t, "cam-b")
	got := collect(t, r2, func(m map[int][]*media.AccessUnit) bool { return len(m[0]) >= 10 })
	checkPulled(t, got[0])
}

func TestSourceOnDemand(t *testing.T) {
	regA := &media.Registry{Logger: mediatest.Logger()}
	srvA := startRTSPServer(t, regA, false)
	startLivePublisher(t, srvA.Addr(), "cam")

	regB := &media.Registry{Logger: mediatest.Logger()}
	t.Cleanup(regB.Close)
	srvB := startRTSPServer(t, regB, false)
	src := &Source{URL: "rtsp://" + srvA.Addr() + "/cam", OnDemand: true, OnDemandStopAfter: 150 * time.Millisecond,
		MinBackoff: 50 * time.Millisecond, Logger: mediatest.Logger()}
	if err := regB.AddSource("cam", src); err != nil {
		t.Fatal(err)
	}
	published := func() bool { return slices.Contains(regB.Names(), "cam") }

	time.Sleep(100 * time.Millisecond)
	if published() {
		t.Fatal("on-demand source started without a viewer")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	v1, err := regB.Read(ctx, "cam")
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if _, err := v1.Read(ctx); err != nil {
			t.Fatal(err)
		}
	}
	v2, err := regB.Read(ctx, "cam")
	if err != nil {
		t.Fatal(err)
	}
	v1.Close()
	v1.Close() // idempotent
	time.Sleep(300 * time.Millisecond)
	if !published() {
		t.Fatal("source stopped while a viewer remains")
	}
	v2.Close()
	mediatest.WaitFor(t, "on-demand source to stop", func() bool { return !published() })

	// An RTSP reader of server B starts it again (DESCRIBE waits for it).
	rd, err := startReader(t, srvB.Addr(), "cam", gortsplib.TransportTCP)
	if err != nil {
		t.Fatal(err)
	}
	mediatest.WaitFor(t, "frames through the on-demand source", func() bool {
		rd.mu.Lock()
		defer rd.mu.Unlock()
		return len(rd.video) >= 10
	})
	rd.client.Close()
	mediatest.WaitFor(t, "on-demand source to stop after the RTSP reader", func() bool { return !published() })
}

func TestRegistrySourceConfig(t *testing.T) {
	reg := &media.Registry{Logger: mediatest.Logger()}
	defer reg.Close()
	for _, s := range []*Source{
		{URL: "http://cam/x"},
		{URL: "rtsp://cam/x", Transport: "sctp"},
		{URL: "::"},
	} {
		if err := reg.AddSource("cam", s); err == nil {
			t.Errorf("AddSource(%+v) accepted", s)
		}
	}
	if err := reg.AddSource("a/b", &Source{URL: "rtsp://cam/x"}); !errors.Is(err, media.ErrInvalidName) {
		t.Errorf("AddSource with a bad name: %v", err)
	}
	// An on-demand source does not run until read; a Read that times out
	// releases its demand.
	s := &Source{URL: "rtsp://127.0.0.1:1/none", OnDemand: true, MinBackoff: 10 * time.Millisecond}
	if err := reg.AddSource("cam", s); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := reg.Read(ctx, "cam"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Read of an unreachable source: %v", err)
	}
	s.mu.Lock()
	viewers := s.viewers
	s.mu.Unlock()
	if viewers != 0 {
		t.Errorf("%d viewers left after a failed Read", viewers)
	}
	reg.RemoveSource("cam")
}
