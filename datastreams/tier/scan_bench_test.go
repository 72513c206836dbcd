package tier_test

import (
	"errors"
	"io"
	"runtime"
	"testing"
	"time"

	"github.com/eddy-video/eddy/datastreams/datastreamstest"
	"github.com/eddy-video/eddy/datastreams/logstore"
	"github.com/eddy-video/eddy/datastreams/logstore/filelog"
)

// A 2 Mbit/s camera's log after ten years of the default 64 MiB segments
// (13.36 an hour × 87,660 hours).
const segmentsTenYears64MiB = 1_171_249

// BenchmarkLongLog measures what a long log of cold segments costs
// whatever the tier does with it: the heap its segment list holds (per
// segment, and scaled to a camera's ten years of 64 MiB segments), and
// the tier's periodic look at it (LocalSealed, which must not grow with
// the cold segments: reported as ns per call, next to Sealed's per
// segment). The log has 2,000 segments made cold (upload recorded, local
// file dropped; made in about a minute: every roll and record is fsynced)
// and one local sealed segment.
//
//	go test ./datastreams/tier/ -run '^$' -bench LongLog -benchtime 300x
func BenchmarkLongLog(b *testing.B) {
	const segments = 2_000
	dir := b.TempDir()
	clk := datastreamstest.NewClock(benchEpoch)
	opts := filelog.Options{SegmentBytes: 1, Now: clk.Now, Cold: noCold{}}
	// One record per segment: each append rolls the segment before it.
	l, err := filelog.Open(dir, opts)
	if err != nil {
		b.Fatal(err)
	}
	rec := []logstore.Record{{Data: make([]byte, 64)}}
	for range segments + 2 {
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
	sealed := l.Sealed()
	for _, s := range sealed[:segments] {
		if err := l.MarkUploaded(s.Base, filelog.Upload{Size: s.Size, At: 1}); err != nil {
			b.Fatal(err)
		}
		if err := l.DropLocal(s.Base); err != nil {
			b.Fatal(err)
		}
	}
	// The heap of the log opened again, over the heap before.
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
	heap0 := liveHeap()
	l, err = filelog.Open(dir, opts)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	perSegHeap := float64(int64(liveHeap())-int64(heap0)) / segments
	if n, local := len(l.Sealed()), len(l.LocalSealed()); n < segments || local != 1 {
		b.Fatalf("%d sealed segments, %d local: want %d cold and 1 local", n, local, segments)
	}

	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if len(l.LocalSealed()) != 1 {
			b.Fatal("local segments changed")
		}
	}
	b.StopTimer()
	t0 := time.Now()
	for range 20 {
		_ = l.Sealed()
	}
	sealedPerSeg := float64(time.Since(t0)) / 20 / segments
	b.ReportMetric(sealedPerSeg, "sealed_ns/segment")
	b.ReportMetric(perSegHeap, "heap_B/segment")
	b.ReportMetric(perSegHeap*segmentsTenYears64MiB/1e6, "heap_MB_10y_64MiB")
}

// noCold is a filelog.Cold whose segments are never read (the benchmark
// only lists them).
type noCold struct{}

func (noCold) Attach(*filelog.Log) {}
func (noCold) Detach(*filelog.Log) {}
func (noCold) OpenSegment(*filelog.Log, uint64, int64) (io.ReaderAt, error) {
	return nil, errors.New("not read in this benchmark")
}
func (noCold) Trimmed(*filelog.Log, []filelog.SegmentInfo) {}

// liveHeap is the heap in use after a collection.
func liveHeap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
