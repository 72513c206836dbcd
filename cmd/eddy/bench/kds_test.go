package bench

import (
	"context"
	"testing"
	"time"

	"github.com/eddy-video/eddy/server/servertest"
)

// TestBenchKDS runs the benchmark briefly against an in-process server: a
// functional test of the bench code, not a performance assertion.
func TestBenchKDS(t *testing.T) {
	env := servertest.Start(t)
	cfg := defaultKDSBenchConfig()
	cfg.Endpoint = env.URL
	cfg.Shards, cfg.Producers, cfg.Batch, cfg.Size = 2, 2, 50, 64
	cfg.Duration, cfg.Rate, cfg.Progress = 2*time.Second, 2000, 0
	cfg.Log = testLog{t}
	res := runTestBench(t, 2*time.Minute, func(ctx context.Context) (*kdsBenchResults, error) { return runKDSBench(ctx, cfg) })
	if res.Put.Records == 0 || res.Put.FailedRecords != 0 || res.Put.CallErrors != 0 {
		t.Errorf("put %d records, %d failed, %d call errors; want some, 0, 0", res.Put.Records, res.Put.FailedRecords, res.Put.CallErrors)
	}
	for _, c := range []*kdsConsumeResults{res.GetRecords, res.SubscribeToShard} {
		if c == nil || !c.Complete || c.Received != res.Put.Records {
			t.Errorf("consumer %+v: want all %d records received", c, res.Put.Records)
		}
	}
	if len(res.Errors) != 0 || len(res.HTTP.ErrorResponses) != 0 || len(res.HTTP.RetriedErrors) != 0 {
		t.Errorf("errors %v, error responses %v, retried %v; want none", res.Errors, res.HTTP.ErrorResponses, res.HTTP.RetriedErrors)
	}
}

func TestBenchLatHist(t *testing.T) {
	var h latHist
	for v := int64(1); v <= 1000; v++ {
		h.record(v * 1000) // 1µs .. 1ms
	}
	for _, c := range []struct {
		q    float64
		want int64
	}{{0.5, 500_000}, {0.99, 990_000}, {1, 1_000_000}} {
		if got := h.quantile(c.q); got < c.want*98/100 || got > c.want*102/100 {
			t.Errorf("quantile(%v) = %d, want ≈ %d", c.q, got, c.want)
		}
	}
}
