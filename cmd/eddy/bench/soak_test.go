package bench

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"
)

// runShortSoak runs `eddy bench soak` small (2 cameras, 2 HLS readers, 1
// WHEP viewer, 1 KDS producer, 20 s) against a server binary it starts as
// a child, with faults injected. Slopes fitted over 15 s say nothing per
// hour, so the limits are lifted: the tests check the bench's checks, not
// the server's trends.
func runShortSoak(t *testing.T, faults soakFaults) *soakResults {
	t.Helper()
	cfg := defaultSoakConfig()
	cfg.Server, cfg.Clip, cfg.Log = eddyBinary(t, "~35 s"), testClip, testLog{t}
	cfg.Cameras, cfg.HLS, cfg.WHEP, cfg.KDS, cfg.KDSRate = 2, 2, 1, 1, 50
	cfg.Duration, cfg.Warmup, cfg.Interval, cfg.Progress = 20*time.Second, 5*time.Second, 2*time.Second, 10*time.Second
	cfg.Stagger, cfg.Settle = time.Second, 10*time.Second
	cfg.Limits = soakLimits{RSSMiBPerH: 1e9, GoroutinesPerH: 1e9, FDsPerH: 1e9, CPUPctPerH: 1e9}
	cfg.faults = faults
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	return runTestBench(t, 3*time.Minute, func(ctx context.Context) (*soakResults, error) { return runSoak(ctx, cfg) })
}

// TestBenchSoak: every load ran, the report is complete (every trend
// fitted, every figure measured), and nothing failed or was lost.
func TestBenchSoak(t *testing.T) {
	res := runShortSoak(t, soakFaults{})
	if !res.Pass || res.Tally.Errors != 0 || res.Tally.Lost || len(res.Problems) != 0 {
		t.Errorf("pass %v, %d errors, lost %v, problems %q; want a pass", res.Pass, res.Tally.Errors, res.Tally.Lost, res.Problems)
	}
	if len(res.Trends) != 5 {
		t.Fatalf("%d trends, want 5 (RSS, heap, goroutines, fds, CPU)", len(res.Trends))
	}
	for _, tr := range res.Trends {
		// 15 s after the warm-up, a sample every 2 s.
		if tr.Samples < 5 || tr.Min <= 0 || math.IsNaN(tr.SlopePerH) {
			t.Errorf("trend %s: %d samples, min %v, slope %v; want ≥ 5 samples of a measured figure", tr.Metric, tr.Samples, tr.Min, tr.SlopePerH)
		}
	}
	if res.ServerCores == nil || res.RSSIdleMiB <= 0 || res.DurationS < 20 || len(res.Samples) < 10 {
		t.Errorf("server CPU %v, idle RSS %v MiB, %v s, %d samples: want all measured over the run", res.ServerCores, res.RSSIdleMiB, res.DurationS, len(res.Samples))
	}
	if v := res.Video; v == nil || v.FragmentsListed < 10 || v.ListedMediaS < 20 || math.Abs(v.SentMediaS-v.ListedMediaS) > 0.1 {
		t.Errorf("video %+v: want about 30 s of media from each camera listed, all of it", v)
	}
	if res.HLS.ReadersStarted != 2 || res.HLS.SegmentRequests < 4 || res.HLS.PlaylistRequests < 4 {
		t.Errorf("HLS: %d readers started, %d segments, %d playlists; want 2 and some of each", res.HLS.ReadersStarted, res.HLS.SegmentRequests, res.HLS.PlaylistRequests)
	}
	if res.WHEP.Connected != 1 || res.WHEP.Frames < 250 || res.WHEP.Unnamed != 0 {
		t.Errorf("WHEP %+v: want the viewer connected at the end, ≥ 250 numbered frames (25/s for ~15 s)", res.WHEP)
	}
	if k := res.KDS; k == nil || k.Put.Records < 500 || k.GetRecords == nil || k.SubscribeToShard == nil ||
		k.GetRecords.Received != k.Put.Records || k.SubscribeToShard.Received != k.Put.Records {
		t.Errorf("KDS %+v: want ≥ 500 records acknowledged (50/s), every one read back by both consumers", k)
	}
}

// TestBenchSoakCatches injects a fault at each check's seam and wants
// each counted, and the run failed.
func TestBenchSoakCatches(t *testing.T) {
	res := runShortSoak(t, soakFaults{dropFragment: true, dropFrame: 100, failSegment: true, fakeAck: true})
	tl := res.Tally
	if res.Pass || !tl.Lost || tl.Errors == 0 {
		t.Errorf("pass %v, lost %v, %d errors; want a failed run", res.Pass, tl.Lost, tl.Errors)
	}
	if tl.VideoMissing == 0 || tl.VideoLossy != 1 {
		t.Errorf("%d missing fragment numbers in %d streams; want the dropped fragment found in one", tl.VideoMissing, tl.VideoLossy)
	}
	if tl.WHEPFramesLost != 1 {
		t.Errorf("%d WHEP frames lost; want the dropped one", tl.WHEPFramesLost)
	}
	if tl.HLSRequestErrors != 1 {
		t.Errorf("%d HLS request errors; want the failed segment", tl.HLSRequestErrors)
	}
	if tl.KDSIncomplete != 2 {
		t.Errorf("%d KDS consumers incomplete; want both (a record acknowledged under a number nobody reads)", tl.KDSIncomplete)
	}
	if !strings.Contains(strings.Join(res.Problems, "\n"), "KDS GetRecords") {
		t.Errorf("problems %q: want the KDS loss named", res.Problems)
	}
}

func TestSoakTrend(t *testing.T) {
	// 1 MiB a minute, and an unknown sample skipped.
	ts := []float64{0, 60, 120, 180, 240}
	tr := trend("rss", "MiB", ts, []float64{100, 101, -1, 103, 104}, 10)
	if tr.Samples != 4 || math.Abs(tr.SlopePerH-60) > 1e-9 || tr.CI95PerH > 1e-9 || tr.Flat || tr.Min != 100 || tr.Max != 104 {
		t.Errorf("trend %+v; want 4 samples, 60/h ± 0, not flat under 10/h", tr)
	}
	tr = trend("fds", "", ts, []float64{50, 52, 50, 52, 50}, 10)
	if !tr.Flat || tr.Noisy || math.Abs(tr.SlopePerH) > 10 {
		t.Errorf("trend %+v; want flat", tr)
	}
	// Connections opening and closing: 60/h, but ± 700/h.
	tr = trend("goroutines", "", ts, []float64{1000, 1020, 990, 1030, 1000}, 10)
	if !tr.Flat || !tr.Noisy || math.Abs(tr.SlopePerH-60) > 1e-9 {
		t.Errorf("trend %+v; want flat within noise, 60/h", tr)
	}
}
