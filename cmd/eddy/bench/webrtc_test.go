package bench

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
	"time"
)

// TestBenchWebRTC runs `eddy bench webrtc` briefly (1 publisher, 3 WHEP
// viewers, 3 s windows) against a server binary it starts as a child: a
// functional test of the bench code and of WHEP keeping up, not a
// performance assertion.
func TestBenchWebRTC(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the server binary and publishes for ~20 s; skipped with -short")
	}
	cfg := defaultRTCBenchConfig()
	cfg.Server = ingestTestBinary(t)
	cfg.Clip = filepath.Join("..", "..", "..", "testdata", "cam-h264-aac.mp4")
	cfg.Viewers, cfg.Duration, cfg.Warmup, cfg.Stagger = 3, 3*time.Second, 2*time.Second, time.Second
	cfg.Log = ingestTestLog{t}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := runWebRTCBench(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	res.writeText(&out)
	t.Log(out.String())
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
		if w.CPUPerViewer <= 0 {
			t.Errorf("%d viewers: server CPU per viewer-minute not measured", w.Viewers)
		}
	}
	if res.PeakRSSMB <= 0 {
		t.Error("peak RSS not measured")
	}
}
