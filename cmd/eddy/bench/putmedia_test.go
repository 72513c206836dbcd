package bench

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/eddy-video/eddy/cmd/eddy/putmedia"
	"github.com/eddy-video/eddy/fragments/mkv"
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
	res := runTestBench(t, 3*time.Minute, func(ctx context.Context) (*putMediaResults, error) { return runPutMediaBench(ctx, cfg) })
	if !res.Pass {
		t.Errorf("FAIL: %q", res.Problems)
	}
	ph := res.PutMedia
	// 2 streams × 6 s / 2 s GOP = 6 Clusters; one more or less at the edges.
	checkPhase := func(ph *pmPhase) {
		t.Helper()
		if ph.Clusters < 4 || ph.Persisted != ph.Clusters || ph.ErrorAcks+ph.Unacked+ph.Unlisted+ph.Resent+ph.ProducerWarns+ph.EarlyAcks+ph.Unmatched != 0 {
			t.Errorf("%s: %d Clusters ended in the window, %d acked PERSISTED, %d ERROR, %d not acked, %d not listed, %d resent, %d producer warnings, %d acks before their Cluster ended, %d without a Cluster; want about 6, all PERSISTED and listed",
				ph.name(), ph.Clusters, ph.Persisted, ph.ErrorAcks, ph.Unacked, ph.Unlisted, ph.Resent, ph.ProducerWarns, ph.EarlyAcks, ph.Unmatched)
		}
	}
	checkPhase(&ph)
	// Clusters of unknown size: measured from the next Cluster's first
	// byte, so that their last byte came about a GOP (2 s) earlier.
	if u := res.PutMediaUnknown; u == nil {
		t.Error("no phase with Clusters of unknown size")
	} else {
		checkPhase(u)
		if u.PersistP50MS == nil || u.FromLastP50MS == nil || *u.FromLastP50MS-*u.PersistP50MS < 1000 {
			t.Errorf("unknown size: PERSISTED p50 %v ms from the next Cluster's first byte, %v ms from the Cluster's last byte; want the second about a GOP (2 s) more",
				u.PersistP50MS, u.FromLastP50MS)
		}
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

// pmTestStream is a PutMedia body as the producer writes it: the stream
// header, then Clusters with timecodes tcs (ms), each one write.
func pmTestStream(t *testing.T, unknown bool, tcs ...int64) [][]byte {
	t.Helper()
	tracks := []mkv.Track{{Number: 1, UID: 1, Type: 2, CodecID: "A_PCM/INT/LIT", SampleRate: 8000, Channels: 1, BitDepth: 16}}
	head, err := mkv.AppendStreamHeader(nil, "", tracks)
	if err != nil {
		t.Fatal(err)
	}
	writes := [][]byte{head}
	for _, tc := range tcs {
		c := &mkv.Cluster{Timecode: time.Duration(tc) * time.Millisecond, Frames: []mkv.Frame{
			{Track: 1, Key: true, Data: make([]byte, 300)}, {Track: 1, Time: 20 * time.Millisecond, Key: true, Data: make([]byte, 300)}}}
		b, err := mkv.AppendCluster(nil, tracks, c, unknown)
		if err != nil {
			t.Fatal(err)
		}
		writes = append(writes, b)
	}
	return writes
}

// TestPMClusterScan: the wire scan finds every Cluster of a PutMedia body,
// however the transport's reads split it, with its timecode, and ends it
// when the server can know it ended: at its last byte with a size; at the
// next Cluster's first byte (or the body's end) without.
func TestPMClusterScan(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Second) }
	tcs := []int64{1_700_000_000_000, 1_700_000_002_000, 1_700_000_004_000}
	for _, unknown := range []bool{false, true} {
		for _, chunk := range []int{1, 3, 64, 1 << 20} {
			p := newPMProducer("s", "", unknown)
			s := &clusterScan{p: p, conn: p.newConnection()}
			// Write i is read at at(i), in reads of chunk bytes.
			for i, w := range pmTestStream(t, unknown, tcs...) {
				for len(w) > 0 {
					n := min(chunk, len(w))
					s.feed(w[:n], at(i))
					w = w[n:]
				}
			}
			s.close(at(9))
			name := fmt.Sprintf("unknown size %v, reads of %d bytes", unknown, chunk)
			if len(p.clusters) != len(tcs) {
				t.Fatalf("%s: %d Clusters found, want %d", name, len(p.clusters), len(tcs))
			}
			for i, c := range p.clusters {
				wantEnd := at(i + 1) // its own write (the header is write 0)
				if unknown {
					wantEnd = at(i + 2) // the next Cluster's write
					if i == len(tcs)-1 {
						wantEnd = at(9) // the body's end
					}
				}
				if c.tc != tcs[i] || c.conn != 1 || c.unknown != unknown || !c.first.Equal(at(i+1)) || !c.last.Equal(at(i+1)) || !c.end.Equal(wantEnd) {
					t.Errorf("%s: Cluster %d: timecode %d, connection %d, unknown %v, first +%v, last +%v, end +%v; want %d, 1, %v, +%v, +%v, +%v",
						name, i, c.tc, c.conn, c.unknown, c.first.Sub(t0), c.last.Sub(t0), c.end.Sub(t0),
						tcs[i], unknown, at(i+1).Sub(t0), at(i+1).Sub(t0), wantEnd.Sub(t0))
				}
			}
		}
	}
}

// TestPMAckPairing: acks are paired with the Cluster of their timecode
// written on their own connection. An ack of a resent Cluster that comes
// before the new copy is on the wire is not taken for the old copy's; an
// ack with no Cluster (an ERROR without timecode) and a PERSISTED before
// the Cluster ended are reported, never counted as latencies.
func TestPMAckPairing(t *testing.T) {
	t0 := time.Unix(1000, 0)
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	ack := func(ev string, tc int64, num string) putmedia.Ack {
		return putmedia.Ack{EventType: ev, FragmentTimecode: &tc, FragmentNumber: num}
	}
	p := newPMProducer("s", "", false)
	start := func(conn int, tc int64, first, end time.Time) *pmCluster {
		c := &pmCluster{conn: conn, first: first}
		p.clusterStarted(c, tc)
		if !end.IsZero() {
			p.clusterEnded(c, end, end)
		}
		return c
	}

	// Connection 1: Cluster 100 acked normally (10 ms); Cluster 200 ends,
	// is RECEIVED, then the connection fails before PERSISTED.
	p.newConnection()
	start(1, 100, ms(0), ms(5))
	p.ack(ack(putmedia.EventReceived, 100, ""), ms(8))
	p.ack(ack(putmedia.EventPersisted, 100, "n100"), ms(15))
	start(1, 200, ms(2000), ms(2005))
	p.ack(ack(putmedia.EventReceived, 200, ""), ms(2009))
	// Connection 2: a PERSISTED for 200 arrives before the new copy of 200
	// is on the wire: not connection 1's copy's ack.
	p.newConnection()
	p.ack(ack(putmedia.EventPersisted, 200, "stale"), ms(3000))
	start(2, 200, ms(3001), ms(3006))
	p.ack(ack(putmedia.EventPersisted, 200, "n200"), ms(3030))
	// Cluster 300 (unknown size, not ended yet) gets a PERSISTED: early.
	c300 := start(2, 300, ms(4000), time.Time{})
	p.ack(ack(putmedia.EventPersisted, 300, "n300"), ms(4010))
	p.clusterEnded(c300, ms(4020), ms(6000))
	// An ERROR of the session, with no timecode.
	p.ack(putmedia.Ack{EventType: putmedia.EventError, ErrorID: 5000, ErrorCode: "INTERNAL_ERROR"}, ms(6500))

	st, persisted, received, _ := p.window(t0, ms(10_000), map[string]bool{"n100": true, "n200": true})
	if st.Clusters != 3 || st.Persisted != 2 || st.Unacked != 1 || st.Unlisted != 0 || st.Resent != 1 {
		t.Errorf("%d Clusters, %d PERSISTED, %d not acked, %d not listed, %d resent; want 3 (100, 200's second copy, 300), 2, 1 (300), 0, 1",
			st.Clusters, st.Persisted, st.Unacked, st.Unlisted, st.Resent)
	}
	want := []time.Duration{10 * time.Millisecond, 24 * time.Millisecond} // 100 from 5 ms, 200 from 3006 ms
	if got := waitDurations(persisted); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("PERSISTED latencies %v, want %v (the stale ack and the early one not counted)", got, want)
	}
	if fmt.Sprint(received) != fmt.Sprint([]time.Duration{3 * time.Millisecond}) {
		t.Errorf("RECEIVED latencies %v, want [3ms] (200's RECEIVED was its first copy's)", received)
	}
	if len(st.Early) != 1 || !strings.Contains(st.Early[0], "PERSISTED (timecode 300)") {
		t.Errorf("acks before their Cluster ended: %q; want the PERSISTED of 300", st.Early)
	}
	if len(st.Unmatched) != 2 || !strings.Contains(st.Unmatched[0], "PERSISTED (timecode 200) on connection 2") ||
		!strings.Contains(st.Unmatched[1], "ERROR (no timecode) 5000 INTERNAL_ERROR") {
		t.Errorf("acks without a Cluster: %q; want the stale PERSISTED of 200 and the ERROR", st.Unmatched)
	}
}
