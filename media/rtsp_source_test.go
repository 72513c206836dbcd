package media

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
func checkPulled(t *testing.T, units []*AccessUnit) {
	t.Helper()
	first := videoIndex(units[0].Payload)
	if first%testGOP != 0 || !units[0].Key {
		t.Errorf("pull started at frame %d (key %v), not a keyframe", first, units[0].Key)
	}
	for k, au := range units {
		i := first + k
		if fmtPayload(au.Payload) != fmtPayload(testH264AU(i)) {
			t.Fatalf("pulled unit %d: frame %d, want %d (or payload differs)", k, videoIndex(au.Payload), i)
		}
		if au.Key != (i%testGOP == 0) || au.PTS-units[0].PTS != int64(k)*testVideoTicks {
			t.Errorf("pulled frame %d: key %v, PTS +%d", i, au.Key, au.PTS-units[0].PTS)
		}
	}
	// Once the sender reports of the publisher went through both hops, the
	// producer's wall clock arrives intact.
	for _, au := range units[len(units)-5:] {
		i := videoIndex(au.Payload)
		if au.NTP.IsZero() || au.NTP.Sub(videoNTP(i)).Abs() > 50*time.Millisecond {
			t.Errorf("pulled frame %d: NTP %v, sent %v", i, au.NTP, videoNTP(i))
		}
	}
}

func TestSourcePullAndReconnect(t *testing.T) {
	regA := &Registry{Logger: testLogger()}
	srvA := startRTSPServer(t, regA, false)
	addr := srvA.Addr()
	lp := startLivePublisher(t, addr, "cam")

	regB := &Registry{Logger: testLogger()}
	tapB := newHubTap(regB)
	t.Cleanup(regB.Close)
	src := &Source{URL: "rtsp://user:secret@" + addr + "/cam", MinBackoff: 50 * time.Millisecond,
		MaxBackoff: 200 * time.Millisecond, Logger: testLogger()}
	if err := regB.AddSource("cam-b", src); err != nil {
		t.Fatal(err)
	}
	if err := regB.AddSource("cam-b", &Source{URL: src.URL}); !errors.Is(err, ErrSourceExists) {
		t.Errorf("second source: %v", err)
	}
	r := tapB.next(t, "cam-b")
	got := collect(t, r, func(m map[int][]*AccessUnit) bool { return len(m[0]) >= 30 && len(m[1]) > 0 })
	checkPulled(t, got[0])
	h, _ := regB.Hub("cam-b")
	checkTracks(t, h.Tracks, []Track{
		{ID: 0, Kind: Video, Codec: CodecH264, ClockRate: 90000, Config: [][]byte{testSPS, testPPS}},
		{ID: 1, Kind: Audio, Codec: CodecAAC, ClockRate: 48000, Config: [][]byte{must(testASC.Marshal())}},
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
	srvA2 := &RTSPServer{Address: addr, Registry: &Registry{Logger: testLogger()}, Logger: testLogger()}
	if err := srvA2.Initialize(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srvA2.Close)
	startLivePublisher(t, addr, "cam")
	r2 := tapB.next(t, "cam-b")
	got = collect(t, r2, func(m map[int][]*AccessUnit) bool { return len(m[0]) >= 20 })
	checkPulled(t, got[0])

	regB.RemoveSource("cam-b")
	if names := regB.Names(); len(names) != 0 {
		t.Errorf("after RemoveSource: %v", names)
	}
}

func TestSourceOnDemand(t *testing.T) {
	regA := &Registry{Logger: testLogger()}
	srvA := startRTSPServer(t, regA, false)
	startLivePublisher(t, srvA.Addr(), "cam")

	regB := &Registry{Logger: testLogger()}
	t.Cleanup(regB.Close)
	srvB := startRTSPServer(t, regB, false)
	src := &Source{URL: "rtsp://" + srvA.Addr() + "/cam", OnDemand: true, OnDemandStopAfter: 150 * time.Millisecond,
		MinBackoff: 50 * time.Millisecond, Logger: testLogger()}
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
	waitFor(t, "on-demand source to stop", func() bool { return !published() })

	// An RTSP reader of server B starts it again (DESCRIBE waits for it).
	rd, err := startReader(t, srvB.Addr(), "cam", gortsplib.TransportTCP)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "frames through the on-demand source", func() bool {
		rd.mu.Lock()
		defer rd.mu.Unlock()
		return len(rd.video) >= 10
	})
	rd.client.Close()
	waitFor(t, "on-demand source to stop after the RTSP reader", func() bool { return !published() })
}
