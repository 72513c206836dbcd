package bench

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestBenchEvents runs `eddy bench events` briefly (3 readers, 100
// events/s, 4 s windows) against a server binary it starts as a child: a
// functional test of the bench code (writers, read-backs, the recorder and
// reader comparison, the verdict), not a performance assertion.
func TestBenchEvents(t *testing.T) {
	cfg := defaultEventsBenchConfig()
	cfg.Server, cfg.Clip, cfg.Log = eddyBinary(t, "~12 s"), testClip, testLog{t}
	cfg.Rate, cfg.Batch, cfg.Writers, cfg.Readers = 100, 10, 2, 3
	cfg.Duration, cfg.Warmup, cfg.Stagger, cfg.Progress = 4*time.Second, 2*time.Second, time.Second, 0
	// The verdict's rate and jitter limits are for full runs; a 4 s window
	// on a busy test machine is judged on loss and errors alone.
	cfg.MinRatePc, cfg.MaxJitterRise = 50, time.Hour
	res := runTestBench(t, 2*time.Minute, func(ctx context.Context) (*eventsResults, error) { return runEventsBench(ctx, cfg) })
	if !res.Pass {
		t.Errorf("verdict FAIL: %q", res.Problems)
	}
	p := res.Put
	if p.Acknowledged < 200 || p.Failed != 0 || p.CallErrors != 0 || p.Latency.Count != uint64(p.Calls) {
		t.Errorf("put: %d acknowledged, %d refused, %d failed calls, %d latencies of %d calls; want ≥ 200, 0, 0, one per call",
			p.Acknowledged, p.Failed, p.CallErrors, p.Latency.Count, p.Calls)
	}
	rb := res.ReadBack
	if rb.Indexed == nil || *rb.Indexed != p.Acknowledged || rb.Refused == nil || *rb.Refused != 0 {
		t.Errorf("indexed %v, refused %v (/metrics); want %d, 0", rb.Indexed, rb.Refused, p.Acknowledged)
	}
	if rb.Acknowledged != int(p.Acknowledged) {
		t.Errorf("read-back of %d events, %d acknowledged", rb.Acknowledged, p.Acknowledged)
	}
	for name, c := range map[string]*eventsCheck{"GetRecords": rb.GetRecords, "REST": rb.REST} {
		switch {
		case c == nil:
			t.Errorf("%s: no read-back", name)
		case name == "REST" && !c.Available:
			t.Logf("REST events endpoint not on this server: %v", c.Errors)
		case c.Matched != rb.Acknowledged || c.Lost != 0 || c.Altered != 0 || c.Read != rb.Acknowledged:
			t.Errorf("%s: %+v; want all %d acknowledged events read back once, unchanged", name, *c, rb.Acknowledged)
		}
	}
	for _, w := range []eventsWindow{res.Baseline, res.Events} {
		if w.FragmentsListed < 1 || w.FragmentsPersisted < 1 || w.HLS.Requests == 0 || w.HLS.SegmentRequests == 0 {
			t.Errorf("window: %d fragments listed, %d persisted, %d HLS requests (%d segments); want some of each",
				w.FragmentsListed, w.FragmentsPersisted, w.HLS.Requests, w.HLS.SegmentRequests)
		}
	}
}

// TestBenchEventsVerdict checks that the verdict fails a run for each
// kind of trouble it must catch, and passes a clean one.
func TestBenchEventsVerdict(t *testing.T) {
	clean := func() *eventsResults {
		w := eventsWindow{FragmentsListed: 30, FragmentsPersisted: 30, LengthP50MS: 2000, JitterP99MS: 20}
		return &eventsResults{
			Rate: 1000, DurationS: 60, FrameMS: 40, MaxJitterRiseMS: 250, MinRatePc: 99,
			Baseline: w, Events: w,
			Put: eventsPut{Acknowledged: 60000},
			ReadBack: eventsReadBack{Acknowledged: 60000,
				REST:       &eventsCheck{Available: true, Read: 60000, Matched: 60000},
				GetRecords: &eventsCheck{Available: true, Read: 60000, Matched: 60000}},
		}
	}
	for _, c := range []struct {
		name   string
		change func(r *eventsResults)
		want   string // in the problems; "" = PASS
	}{
		{"clean", func(*eventsResults) {}, ""},
		{"REST endpoint absent", func(r *eventsResults) { r.ReadBack.REST = &eventsCheck{Available: false} }, ""},
		{"lost on GetRecords", func(r *eventsResults) { r.ReadBack.GetRecords.Lost, r.ReadBack.GetRecords.Matched = 1, 59999 }, "GetRecords read-back: 1 of 60000 lost"},
		{"altered on REST", func(r *eventsResults) { r.ReadBack.REST.Altered = 2 }, "REST events read-back"},
		{"refused records", func(r *eventsResults) { r.Put.Failed = 3 }, "3 records refused"},
		{"not indexed", func(r *eventsResults) { n := int64(59990); r.ReadBack.Indexed = &n }, "eddy_events_indexed_total rose by 59990"},
		{"rate not sustained", func(r *eventsResults) { r.Put.Acknowledged = 50000 }, "rate not sustained"},
		{"fewer fragments", func(r *eventsResults) { r.Events.FragmentsListed = 28 }, "28 fragments listed with events, 30 without"},
		{"fragments persisted", func(r *eventsResults) { r.Events.FragmentsPersisted = 32 }, "32 fragments persisted"},
		{"cadence", func(r *eventsResults) { r.Events.LengthP50MS = 2200 }, "median fragment length"},
		{"jitter", func(r *eventsResults) { r.Events.JitterP99MS = 300 }, "p99 deviation"},
		{"one more fragment is noise", func(r *eventsResults) { r.Events.FragmentsListed, r.Events.FragmentsPersisted = 31, 31 }, ""},
	} {
		r := clean()
		c.change(r)
		r.verdict()
		got := strings.Join(r.Problems, "\n")
		switch {
		case c.want == "" && !r.Pass:
			t.Errorf("%s: FAIL, want PASS: %s", c.name, got)
		case c.want != "" && (r.Pass || !strings.Contains(got, c.want)):
			t.Errorf("%s: pass %v, problems %q; want FAIL with %q", c.name, r.Pass, got, c.want)
		}
	}
}
