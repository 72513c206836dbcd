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
		if c != nil && (c.AckLatency.Latency.Count != uint64(c.Received) || c.AckLatency.Unacknowledged != 0) {
			t.Errorf("ack→receive latency of %d records, %d unacknowledged; want all %d, 0", c.AckLatency.Latency.Count, c.AckLatency.Unacknowledged, c.Received)
		}
		if c != nil && c.AckLatency.AfterAck.Count+uint64(c.AckLatency.Early) != c.AckLatency.Latency.Count {
			t.Errorf("%d records after the ack + %d early; want the %d with a latency", c.AckLatency.AfterAck.Count, c.AckLatency.Early, c.AckLatency.Latency.Count)
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

// TestBenchAckLatency checks the acknowledgement → receive bookkeeping: a
// record received after its call's answer counts its delay, one received
// before counts 0 and as early (settled once the answer is known), and one
// whose call never had an answer stays out of the latency.
func TestBenchAckLatency(t *testing.T) {
	var tab ackTable
	var a ackLat
	tab.store(100, 1_000_000)
	a.record(&tab, 100, 3_000_000) // 2 ms after the ack
	a.record(&tab, 200, 5_000_000) // before call 200's ack
	a.record(&tab, 300, 6_000_000) // call 300 is never acknowledged
	a.settle(&tab, 7_000_000, false)
	if len(a.pending) != 2 || a.unacked != 0 {
		t.Fatalf("%d pending, %d unacknowledged; want 2, 0 (answers may still come)", len(a.pending), a.unacked)
	}
	tab.store(200, 5_500_000) // 0.5 ms after the record arrived
	a.settle(&tab, 0, true)
	if a.unacked != 1 || len(a.pending) != 0 {
		t.Errorf("unacknowledged %d, pending %d; want 1, 0", a.unacked, len(a.pending))
	}
	if a.lat.n != 2 || a.lat.max != 2_000_000 || a.lat.counts[0] != 1 {
		t.Errorf("latencies: n %d, max %d, zeros %d; want 2, 2000000, 1", a.lat.n, a.lat.max, a.lat.counts[0])
	}
	if a.early.n != 1 || a.early.max != 500_000 {
		t.Errorf("early: n %d, max %d; want 1, 500000", a.early.n, a.early.max)
	}
	if a.late.n != 1 || a.late.max != 2_000_000 || a.late.counts[0] != 0 {
		t.Errorf("after the ack: n %d, max %d, zeros %d; want 1, 2000000, 0", a.late.n, a.late.max, a.late.counts[0])
	}
}

// The pending list stays bounded, and the table forgets old calls.
func TestBenchAckBounded(t *testing.T) {
	var tab ackTable
	var a ackLat
	for i := range uint64(3 * pendingSettle) {
		a.record(&tab, i, int64(i)) // each before its ack...
		tab.store(i, int64(i)+1)    // ...which comes right after
	}
	if len(a.pending) >= pendingSettle {
		t.Errorf("%d records pending, want fewer than %d", len(a.pending), pendingSettle)
	}
	old := time.Now().UnixNano()
	tab.store(1<<40, old)
	for i := range uint64(8192) {
		tab.store(1<<41+i, old+int64(ackKeep)+1)
	}
	if _, ok := tab.load(1 << 40); ok {
		t.Error("a call answered more than ackKeep before is still in the table")
	}
}

// Records of calls that never get an answer stay pending; they must not
// make every later record rescan the pending list.
func TestAckLatPendingNotQuadratic(t *testing.T) {
	var tbl ackTable
	var a ackLat
	now := time.Now().UnixNano()
	start := time.Now()
	for i := range 40_000 {
		a.record(&tbl, uint64(i/125)+1, now) // 320 unanswered calls of 125 records
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("recording 40k unanswered records took %v: settle rescans the pending list on every record", el)
	}
}

func TestBenchUniqueSendTime(t *testing.T) {
	b := &kdsBench{}
	now := time.Unix(0, 1_000)
	seen := map[int64]bool{}
	for range 100 {
		v := b.uniqueSendTime(now)
		if seen[v] || v < 1_000 {
			t.Fatalf("send time %d repeated or before now", v)
		}
		seen[v] = true
	}
}
