package bench

import (
	"context"
	"testing"
	"time"
)

// TestBenchPutMedia runs `eddy bench putmedia` briefly (2 streams, 6 s
// windows) against a server binary it starts as a child: a functional
// test of the bench code (both phases measured, every Cluster of the
// window acknowledged PERSISTED and listed, latencies and CPU figures
// present), not a performance assertion: the latency target is lifted to
// 10 s so that a busy machine does not fail it.
func TestBenchPutMedia(t *testing.T) {
	cfg := defaultPutMediaBenchConfig()
	cfg.Server, cfg.Clip, cfg.Log = eddyBinary(t, "~30 s"), testClip, testLog{t}
	cfg.Streams, cfg.Duration, cfg.Warmup, cfg.Stagger, cfg.Pause = 2, 6*time.Second, time.Second, time.Second, time.Second
	cfg.Settle, cfg.Progress, cfg.MaxP99 = 10*time.Second, 0, 10*time.Second
	res := runTestBench(t, 2*time.Minute, func(ctx context.Context) (*putMediaResults, error) { return runPutMediaBench(ctx, cfg) })
	if !res.Pass {
		t.Errorf("FAIL: %q", res.Problems)
	}
	ph := res.PutMedia
	// 2 streams × 6 s / 2 s GOP = 6 Clusters; one more or less at the edges.
	if ph.Clusters < 4 || ph.Persisted != ph.Clusters || ph.ErrorAcks+ph.Unacked+ph.Unlisted+ph.Resent+ph.ProducerWarns != 0 {
		t.Errorf("%d Clusters written in the window, %d acked PERSISTED, %d ERROR, %d not acked, %d not listed, %d resent, %d producer warnings; want about 6, all PERSISTED and listed",
			ph.Clusters, ph.Persisted, ph.ErrorAcks, ph.Unacked, ph.Unlisted, ph.Resent, ph.ProducerWarns)
	}
	if ph.PersistP50MS == nil || ph.PersistP99MS == nil || ph.PersistMaxMS == nil ||
		!(0 < *ph.PersistP50MS && *ph.PersistP50MS <= *ph.PersistP99MS && *ph.PersistP99MS <= *ph.PersistMaxMS) {
		t.Errorf("PERSISTED latency p50 %v, p99 %v, max %v: want 0 < p50 ≤ p99 ≤ max", ph.PersistP50MS, ph.PersistP99MS, ph.PersistMaxMS)
	}
	if ph.ServerMbitPerStream == nil || *ph.ServerMbitPerStream <= 0 || ph.ServerPersistCount == 0 {
		t.Errorf("server's upload rate %v Mbit/s per stream, %d persist latencies observed: want the server's PutMedia metrics measured",
			ph.ServerMbitPerStream, ph.ServerPersistCount)
	}
	rt := res.RTSP
	if rt == nil || rt.ServerCPUPerStreamMinute == nil || *rt.ServerCPUPerStreamMinute <= 0 ||
		ph.ServerCPUPerStreamMinute == nil || *ph.ServerCPUPerStreamMinute <= 0 || res.CPURatio == nil || *res.CPURatio <= 0 {
		t.Fatalf("server CPU per stream-minute: RTSP %v, PutMedia %v, ratio %v; want all measured", rt, ph.ServerCPUPerStreamMinute, res.CPURatio)
	}
	if rt.Loss || rt.FragmentsListed < 4 {
		t.Errorf("RTSP phase: loss %v, %d fragments listed; want no loss, about 6", rt.Loss, rt.FragmentsListed)
	}
}

// TestPMWaitOverlaps: a wait for an ack overlaps a stall of the bench
// process when the stall's span [end − d, end] and the wait's share time.
func TestPMWaitOverlaps(t *testing.T) {
	t0 := time.Unix(1000, 0)
	w := pmWait{from: t0, d: 100 * time.Millisecond}
	for _, c := range []struct {
		end  time.Duration // stall end after t0
		d    time.Duration
		want bool
	}{
		{50 * time.Millisecond, 60 * time.Millisecond, true},    // began before the wait, ended in it
		{200 * time.Millisecond, 150 * time.Millisecond, true},  // began in it, ended after
		{300 * time.Millisecond, 500 * time.Millisecond, true},  // spans it
		{-time.Millisecond, 50 * time.Millisecond, false},       // over before it
		{250 * time.Millisecond, 100 * time.Millisecond, false}, // began after it
	} {
		if got := w.overlaps([]stall{{at: t0.Add(c.end), d: c.d}}); got != c.want {
			t.Errorf("stall ending at +%v lasting %v: overlaps %v, want %v", c.end, c.d, got, c.want)
		}
	}
}
