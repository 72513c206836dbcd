package bench

import (
	"context"
	"math"
	"testing"
	"time"
)

// TestBenchIngest runs `eddy bench ingest` briefly (2 streams, 6 s window)
// against a server binary it starts as a child: a functional test of the
// bench code and of loss-free recording, not a performance assertion.
func TestBenchIngest(t *testing.T) {
	cfg := defaultIngestBenchConfig()
	cfg.Server, cfg.Clip, cfg.Log = eddyBinary(t, "~10 s"), testClip, testLog{t}
	cfg.Streams, cfg.Duration, cfg.Warmup, cfg.Stagger = 2, 6*time.Second, time.Second, time.Second
	cfg.Settle, cfg.Progress = 10*time.Second, 0
	res := runTestBench(t, time.Minute, func(ctx context.Context) (*ingestResults, error) { return runIngestBench(ctx, cfg) })
	// 2 streams × 6 s / 2 s GOP = 6 fragments; one more or less at the edges.
	if res.FragmentsListed < 4 || res.FragmentsPersisted < 4 {
		t.Errorf("%d fragments listed, %d persisted; want about 6", res.FragmentsListed, res.FragmentsPersisted)
	}
	if res.Loss || res.LostMediaS != 0 || res.Gaps != 0 || res.MissingNumbers != 0 || res.PublisherErrors != 0 {
		t.Errorf("loss: %.3f s lost, %d gaps, %d missing numbers, %d publisher errors; problems %q",
			res.LostMediaS, res.Gaps, res.MissingNumbers, res.PublisherErrors, res.Problems)
	}
	if math.Abs(res.SentMediaS-res.ListedMediaS) > 0.1 || res.ListedMediaS < 8 {
		t.Errorf("sent %.3f s, listed %.3f s; want equal, about 12 s", res.SentMediaS, res.ListedMediaS)
	}
	if res.ServerCPUSeconds == nil || res.RSSPeakMiB <= 0 || res.LatencyP99MS == nil {
		t.Errorf("CPU %v, RSS %v MiB, p99 %v: want all measured", res.ServerCPUSeconds, res.RSSPeakMiB, res.LatencyP99MS)
	}
	if res.GOPS < 1.9 || res.GOPS > 2.1 || res.FrameMS < 39 || res.FrameMS > 41 {
		t.Errorf("GOP %.3f s, frame %.1f ms; the clip has 2 s and 40 ms", res.GOPS, res.FrameMS)
	}
}
