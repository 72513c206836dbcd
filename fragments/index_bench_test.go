package fragments

import (
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"testing"
	"time"
)

// BenchmarkIndexListFragments1h measures ListFragments over an index of
// EDDY_BENCH_INDEX_YEARS (default 10) years of 2-second fragments: each
// iteration lists a random 1-hour window (1800 fragments) as two pages of
// at most 1000, and p50/p99 are per page (one ListFragments call). The
// index is built once, outside the timer; its reopen time is reported too,
// and the page cache is warmed before the queries.
//
//	EDDY_BENCH_INDEX_YEARS=10 go test -run '^$' -bench IndexListFragments1h -benchtime 2000x ./fragments/
func BenchmarkIndexListFragments1h(b *testing.B) {
	years := 10.0
	if s := os.Getenv("EDDY_BENCH_INDEX_YEARS"); s != "" {
		var err error
		if years, err = strconv.ParseFloat(s, 64); err != nil || years <= 0 {
			b.Fatalf("EDDY_BENCH_INDEX_YEARS=%q: want a positive number of years", s)
		}
	}
	const step = 2 * time.Second
	n := uint64(years * 365.25 * 24 * float64(time.Hour/step))
	if n < 2*1800 {
		b.Fatalf("%d entries: need at least two hours", n)
	}
	t0 := time.Date(2016, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	dir := b.TempDir()

	x, err := OpenIndex(dir)
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	if err := benchBuildIndex(x, n, t0, step); err != nil {
		b.Fatal(err)
	}
	if err := x.Sync(); err != nil {
		b.Fatal(err)
	}
	build := time.Since(start)
	var disk int64
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	for _, f := range files {
		if st, err := os.Stat(f); err == nil {
			disk += st.Size()
		}
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	heapMB := float64(ms.HeapInuse) / (1 << 20)
	b.Logf("built %d entries (%.2f years) in %v (%.1f M entries/s), %d files, %.2f GB on disk (%.1f B/entry), index %.1f MB, heap in use %.1f MB",
		n, years, build.Round(time.Millisecond), float64(n)/build.Seconds()/1e6, len(files), float64(disk)/1e9, float64(disk)/float64(n),
		float64(x.MemoryBytes())/(1<<20), heapMB)
	if err := x.Close(); err != nil {
		b.Fatal(err)
	}

	start = time.Now()
	x, err = OpenIndex(dir)
	if err != nil {
		b.Fatal(err)
	}
	open := time.Since(start)
	defer x.Close()
	indexMB := float64(x.MemoryBytes()) / (1 << 20)
	b.Logf("reopened in %v, index %.1f MB", open.Round(time.Millisecond), indexMB)

	// Queries are measured with a warm page cache: read every file once
	// (the build may be older than the kernel keeps idle pages cached).
	start = time.Now()
	buf := make([]byte, 1<<20)
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			b.Fatal(err)
		}
		_, err = io.CopyBuffer(io.Discard, struct{ io.Reader }{f}, buf)
		f.Close()
		if err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("warmed the page cache in %v", time.Since(start).Round(time.Millisecond))

	for _, kind := range []IndexTime{IndexServerTime, IndexProducerTime} {
		b.Run(kind.String(), func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, uint64(kind)))
			var lat []time.Duration
			span := int64(n-1800) * int64(step)
			for b.Loop() {
				s := t0 + rng.Int64N(span)
				e := s + int64(time.Hour) - 1
				total, from := 0, uint64(0)
				for page := 0; ; page++ {
					t := time.Now()
					es, next, err := x.Range(kind, s, e, from, 1000)
					lat = append(lat, time.Since(t))
					if err != nil {
						b.Fatal(err)
					}
					total += len(es)
					if next == 0 {
						break
					}
					from = next
				}
				// Producer time jitters around server time and, rarely,
				// loses a burst to 1970.
				if kind == IndexServerTime && total != 1800 || total < 1700 || total > 1810 {
					b.Fatalf("%v window at %d: %d entries, want about 1800", kind, s, total)
				}
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2])/1e6, "p50-ms")
			b.ReportMetric(float64(lat[len(lat)*99/100])/1e6, "p99-ms")
			b.ReportMetric(indexMB, "index-MB")
			b.ReportMetric(heapMB, "heap-MB")
			b.ReportMetric(open.Seconds(), "open-s")
			b.ReportMetric(build.Seconds(), "build-s")
		})
	}
}

// benchBuildIndex appends n fragments every step from t0. Producer time runs
// 150 ms behind with ±0.5 s jitter, and every 2^20 fragments (about 24 days)
// the camera reboots with its clock in 1970 for 8 fragments.
func benchBuildIndex(x *Index, n uint64, t0 int64, step time.Duration) error {
	batch := make([]IndexEntry, 0, 16384)
	h := uint64(0x9e3779b97f4a7c15)
	for seq := uint64(1); seq <= n; seq++ {
		h ^= h << 13
		h ^= h >> 7
		h ^= h << 17
		server := t0 + int64(seq-1)*int64(step)
		producer := server - 150*int64(time.Millisecond) + int64(h%uint64(time.Second)) - int64(time.Second/2)
		if seq%(1<<20) < 8 {
			producer = int64(seq%(1<<20)) * int64(step)
		}
		batch = append(batch, IndexEntry{
			Seq:          seq,
			ServerTime:   server,
			ProducerTime: producer,
			Duration:     int64(step),
			Size:         int64(200_000 + h%400_000),
			Flags:        IndexKeyframe,
		})
		if len(batch) == cap(batch) || seq == n {
			if err := x.Append(batch...); err != nil {
				return err
			}
			batch = batch[:0]
		}
	}
	return nil
}
