package bench

import (
	"context"
	"runtime"
	"testing"
	"time"
)

// TestBenchWebRTC runs `eddy bench webrtc` briefly (1 publisher, 3 WHEP
// viewers, 3 s windows) against a server binary it starts as a child: a
// functional test of the bench code and of WHEP keeping up, not a
// performance assertion.
func TestBenchWebRTC(t *testing.T) {
	cfg := defaultRTCBenchConfig()
	cfg.Server, cfg.Clip, cfg.Log = eddyBinary(t, "~20 s"), testClip, testLog{t}
	cfg.Viewers, cfg.Duration, cfg.Warmup, cfg.Stagger = 3, 3*time.Second, 2*time.Second, time.Second
	res := runTestBench(t, 2*time.Minute, func(ctx context.Context) (*rtcResults, error) { return runWebRTCBench(ctx, cfg) })
	for _, w := range []*rtcWindow{res.One, res.Many} {
		if w == nil || w.Samples < 40*w.Viewers || w.Starved != 0 {
			t.Fatalf("window %+v: want ≥ 40 latency samples per viewer and no viewer starved", w)
		}
		if w.FirstP50MS <= 0 || w.FirstP50MS > w.LastP50MS+0.001 {
			t.Errorf("%d viewers: first-packet p50 %.3f ms, last-packet p50 %.3f ms; want 0 < first ≤ last", w.Viewers, w.FirstP50MS, w.LastP50MS)
		}
		if w.ServerUnits < int64(40*w.Viewers) || w.ServerFirstP50MS <= 0 || w.ServerFirstP50MS > w.ServerLastP50MS {
			t.Errorf("%d viewers: server histogram: %d units timed, first p50 %.3f ms, last p50 %.3f ms", w.Viewers, w.ServerUnits, w.ServerFirstP50MS, w.ServerLastP50MS)
		}
		// The kernel stamps each packet at the viewer's socket, on loopback
		// when the server sends it: before the viewer reads it.
		if runtime.GOOS == "linux" && (!w.Stamped || w.FirstP50MS > w.ReadFirstP50MS || w.ReadFirstP50MS <= 0) {
			t.Errorf("%d viewers: stamped %v, first packet out p50 %.3f ms, read p50 %.3f ms; want stamped, out ≤ read", w.Viewers, w.Stamped, w.FirstP50MS, w.ReadFirstP50MS)
		}
		if w.CPUPerViewer <= 0 {
			t.Errorf("%d viewers: server CPU per viewer-minute not measured", w.Viewers)
		}
	}
	if res.PeakRSSMB <= 0 {
		t.Error("peak RSS not measured")
	}
}
