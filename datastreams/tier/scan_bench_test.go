package tier_test

import (
	"testing"
	"time"

	"github.com/eddy-video/eddy/datastreams/datastreamstest"
	"github.com/eddy-video/eddy/datastreams/logstore"
	"github.com/eddy-video/eddy/datastreams/logstore/filelog"
)

// segmentsTenYears64MiB is how many segments a 2 Mbit/s camera's log
// holds after ten years with the default 64 MiB segments (13.36 an hour
// × 87,660 hours); segmentsTenYears1h with one segment an hour.
const (
	segmentsTenYears64MiB = 1_171_249
	segmentsTenYears1h    = 87_660
)

// BenchmarkSealedScan measures Log.Sealed on a log of many sealed
// segments: the tier's pass calls it twice per log every Interval (1 s),
// to find segments to upload and to apply the hot policy, so its cost
// grows with the retention kept. One iteration is one call on a log of
// 5,000 segments (made in about a minute: every roll is fsynced); it
// reports the cost per segment and, scaled to a camera's log after ten
// years (64 MiB segments and hourly ones), the CPU per camera-hour of two
// calls a second.
//
//	go test ./datastreams/tier/ -run '^$' -bench SealedScan -benchtime 200x
func BenchmarkSealedScan(b *testing.B) {
	const segments = 5_000
	clk := datastreamstest.NewClock(benchEpoch)
	// One record per segment: each append rolls the segment before it.
	l, err := filelog.Open(b.TempDir(), filelog.Options{SegmentBytes: 1, Now: clk.Now})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
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
	if n := len(l.Sealed()); n < segments {
		b.Fatalf("%d sealed segments, want %d", n, segments)
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
	perHour := func(segs float64) float64 { return perSeg * segs * 2 * 3600 / 1e9 }
	b.ReportMetric(perHour(segmentsTenYears64MiB), "cpu_s_per_camera_hour_10y_64MiB")
	b.ReportMetric(perHour(segmentsTenYears1h), "cpu_s_per_camera_hour_10y_1h")
}
