package tier_test

import (
	"runtime"
	"testing"
	"time"

	"github.com/eddy-video/eddy/datastreams/datastreamstest"
	"github.com/eddy-video/eddy/datastreams/logstore"
	"github.com/eddy-video/eddy/datastreams/logstore/filelog"
)

// A 2 Mbit/s camera's log after ten years: 13.36 segments an hour of
// the default 64 MiB (× 87,660 hours), or one an hour.
const (
	segmentsTenYears64MiB = 1_171_249
	segmentsTenYears1h    = 87_660
	rolls64MiBPerHour     = 13.36
)

// BenchmarkLongLogScan measures what a log's segment list costs the tier
// as it grows, per segment, on a log of 5,000 sealed segments (made in
// about a minute: every roll is fsynced), scaled to a camera's log after
// ten years (64 MiB segments and hourly ones): the heap the list holds,
// and the CPU-seconds per camera-hour of Log.Sealed, which a scan of the
// log calls once. The tier scans a log every Interval (1 s) ×
// min(max(segments/2000, 1), 60) (a minute apart for a long log), and
// after each upload and each retention trim of it: 60 + 2 × 13.36 scans an
// hour of a ten-year log of 64 MiB segments, 3600 / 43 + 2 of one of
// hourly segments. (The mirror does not walk log directories.)
//
//	go test ./datastreams/tier/ -run '^$' -bench LongLogScan -benchtime 100x
func BenchmarkLongLogScan(b *testing.B) {
	const segments = 5_000
	dir := b.TempDir()
	clk := datastreamstest.NewClock(benchEpoch)
	// One record per segment: each append rolls the segment before it.
	l, err := filelog.Open(dir, filelog.Options{SegmentBytes: 1, Now: clk.Now})
	if err != nil {
		b.Fatal(err)
	}
	rec := []logstore.Record{{Data: make([]byte, 64)}}
	for range segments + 1 {
		_, next := l.Bounds()
		rec[0].Seq, rec[0].Time = next, clk.Now().UnixNano()
		if err := l.Append(rec); err != nil {
			b.Fatal(err)
		}
		if err := l.Commit(false); err != nil {
			b.Fatal(err)
		}
		clk.Advance(time.Second)
	}
	// The memory a log's segment list holds: the heap of the log opened
	// again, over the heap before.
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
	heap0 := liveHeap()
	l, err = filelog.Open(dir, filelog.Options{SegmentBytes: 1, Now: clk.Now})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	perSegHeap := float64(int64(liveHeap())-int64(heap0)) / segments
	if n := len(l.Sealed()); n < segments {
		b.Fatalf("%d sealed segments, want %d", n, segments)
	}
	// The tier's scan rule: a minute apart at most, sooner for short logs.
	scansPerHour := func(segs float64, rolls float64) float64 {
		gap := min(max(float64(int(segs)/2000), 1), 60)
		return 3600/gap + 2*rolls
	}

	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if len(l.Sealed()) < segments {
			b.Fatal("segments went")
		}
	}
	b.StopTimer()
	perSeg := float64(b.Elapsed()) / float64(b.N) / segments // ns
	b.ReportMetric(perSeg, "ns/segment")
	b.ReportMetric(perSeg*segmentsTenYears64MiB*scansPerHour(segmentsTenYears64MiB, rolls64MiBPerHour)/1e9, "cpu_s_per_camera_hour_10y_64MiB")
	b.ReportMetric(perSeg*segmentsTenYears1h*scansPerHour(segmentsTenYears1h, 1)/1e9, "cpu_s_per_camera_hour_10y_1h")
	b.ReportMetric(perSegHeap, "heap_B/segment")
	b.ReportMetric(perSegHeap*segmentsTenYears64MiB/1e6, "heap_MB_10y_64MiB")
}

// liveHeap is the heap in use after a collection.
func liveHeap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
