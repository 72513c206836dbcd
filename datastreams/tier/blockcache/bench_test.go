package blockcache

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"
)

// BenchmarkHit reads blocks already cached (MB/s from the cache files).
func BenchmarkHit(b *testing.B) {
	const size = 16 << 20
	src := make([]byte, size)
	for _, read := range []int{64 << 10, 1 << 20} {
		b.Run(fmt.Sprintf("read=%dKiB", read>>10), func(b *testing.B) {
			c, err := New(Config{Dir: b.TempDir(), MaxBytes: 2 * size, Prefetch: -1, Logger: slog.New(slog.DiscardHandler),
				Fetch: func(_ context.Context, _ string, off, n int64) ([]byte, error) { return src[off : off+n], nil }})
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			ra := c.ReaderAt("seg", size)
			p := make([]byte, read)
			for off := int64(0); off < size; off += int64(read) { // warm
				if _, err := ra.ReadAt(p, off); err != nil && err != io.EOF {
					b.Fatal(err)
				}
			}
			c.wg.Wait()
			misses := c.Stats().Misses
			b.SetBytes(int64(read))
			off := int64(0)
			for b.Loop() {
				if _, err := ra.ReadAt(p, off); err != nil {
					b.Fatal(err)
				}
				off = (off + int64(read)) % size
			}
			if c.Stats().Misses != misses {
				b.Fatal("a warm read missed")
			}
		})
	}
}

// BenchmarkColdFirstByte is the latency of the first byte of an object
// not in the cache: one 1 MiB block fetched (its Fetch answers after an
// injected delay, 0 for loopback and 20 ms for the round trip to a
// distant store; bandwidth is not modelled), handed to the reader and
// kept. It reports p50 and p99 in ms.
func BenchmarkColdFirstByte(b *testing.B) {
	src := make([]byte, DefaultBlockSize)
	for _, rtt := range []time.Duration{0, 20 * time.Millisecond} {
		b.Run(fmt.Sprintf("rtt=%s", rtt), func(b *testing.B) {
			fetch := func(ctx context.Context, _ string, off, n int64) ([]byte, error) {
				if rtt > 0 {
					select {
					case <-time.After(rtt):
					case <-ctx.Done():
						return nil, ctx.Err()
					}
				}
				return src[off : off+n], nil
			}
			c, err := New(Config{Dir: b.TempDir(), MaxBytes: 64 << 20, Prefetch: -1, Fetch: fetch,
				Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			var lat []time.Duration
			p := make([]byte, 1)
			for i := 0; b.Loop(); i++ {
				ra := c.ReaderAt(fmt.Sprint("seg-", i), int64(len(src)))
				start := time.Now()
				if _, err := ra.ReadAt(p, 0); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(start))
			}
			slices.Sort(lat)
			q := func(f float64) float64 {
				return float64(lat[min(len(lat)-1, int(f*float64(len(lat))))]) / float64(time.Millisecond)
			}
			b.ReportMetric(q(0.50), "p50-ms")
			b.ReportMetric(q(0.99), "p99-ms")
		})
	}
}
