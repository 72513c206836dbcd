package tier_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eddy-video/eddy/datastreams/objstore"
	"github.com/eddy-video/eddy/datastreams/objstore/objstoretest"
	"github.com/eddy-video/eddy/datastreams/tier/blockcache"
)

// coldObjectSize is the size of each cold object the read benchmarks
// use: one cache block (the default 1 MiB), so a read of its start is
// exactly one ranged GET (there is no next block to prefetch).
const coldObjectSize = 1 << 20

// coldReadSpan is what a reader asks for: the start of a segment (its
// header and the beginning of the first record, a fragment).
const coldReadSpan = 4 << 10

// BenchmarkColdFirstByte measures the first byte of a cold segment read
// through the block cache from versitygw: every iteration reads the start
// of an object never read before (fresh keys, an empty cache), so every
// read is a miss that costs one ranged GET of a 1 MiB block.
//
//   - loopback: versitygw on loopback, straight.
//   - rtt20ms: through a TCP proxy that delays each direction by 10 ms,
//     the model of a store 20 ms away (one request/response ≈ 20 ms more;
//     a new connection's handshake one more round trip).
//   - concurrent100/*: 100 readers ask for the same cold block at once;
//     exactly one GET per block goes through the proxy (it counts them),
//     and the latency of each reader is a sample.
//
// It reports p50_ms and p99_ms of the read (the block fetched and the
// first bytes copied out), and gets/block. One iteration is one cold
// block; use -benchtime 200x or more for a p99 of meaning:
//
//	go test ./datastreams/tier/ -run '^$' -bench ColdFirstByte -benchtime 200x
func BenchmarkColdFirstByte(b *testing.B) {
	srv := objstoretest.Start(b)
	b.Run("loopback", func(b *testing.B) { benchColdRead(b, srv, 0, 1, false) })
	b.Run("rtt20ms", func(b *testing.B) { benchColdRead(b, srv, 10*time.Millisecond, 1, true) })
	b.Run("concurrent100/loopback", func(b *testing.B) { benchColdRead(b, srv, 0, 100, true) })
	b.Run("concurrent100/rtt20ms", func(b *testing.B) { benchColdRead(b, srv, 10*time.Millisecond, 100, true) })
}

// benchColdRead runs b.N cold reads of fresh objects, each by readers
// goroutines at once, through a delay proxy when proxied (oneWay each way).
func benchColdRead(b *testing.B, srv *objstoretest.Server, oneWay time.Duration, readers int, proxied bool) {
	ctx := context.Background()
	// The objects, written straight to the server before the clock runs.
	direct := srv.Bucket()
	data := make([]byte, coldObjectSize)
	_, _ = rand.Read(data)
	prefix := fmt.Sprintf("coldread/%s/", strings.ReplaceAll(b.Name(), "/", "_"))
	keys := make([]string, b.N)
	for i := range keys {
		keys[i] = fmt.Sprintf("%s%020d.seg", prefix, i)
		// The first bytes differ per object, so a read served from the
		// wrong object is caught.
		copy(data, keys[i])
		if err := direct.Put(ctx, keys[i], data); err != nil {
			b.Fatal(err)
		}
	}

	cfg := srv.Config()
	var proxy *delayProxy
	if proxied {
		proxy = startDelayProxy(b, strings.TrimPrefix(cfg.Endpoint, "http://"), oneWay)
		cfg.Endpoint = proxy.URL()
	}
	bkt, err := objstore.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	var fetches atomic.Int64 // the cache's calls of Fetch
	cache, err := blockcache.New(blockcache.Config{
		Dir: b.TempDir(),
		Fetch: func(ctx context.Context, key string, off, n int64) ([]byte, error) {
			fetches.Add(1)
			return bkt.GetRange(ctx, key, off, n)
		},
		Registerer: prometheus.NewRegistry(),
	})
	if err != nil {
		b.Fatal(err)
	}
	defer cache.Close()
	// One read before the clock runs, so the client's connection set-up
	// is not in the first sample (a store that is used keeps its
	// connections open).
	warm := prefix + "warm"
	if err := direct.Put(ctx, warm, data); err != nil {
		b.Fatal(err)
	}
	if _, err := cache.ReaderAt(warm, coldObjectSize).ReadAt(make([]byte, coldReadSpan), 0); err != nil {
		b.Fatal(err)
	}
	getsBefore := 0
	if proxy != nil {
		getsBefore = proxy.Requests("GET", prefix)
	}
	missesBefore := cache.Stats().Misses
	fetchesBefore := fetches.Load()

	samples := make([]time.Duration, 0, b.N*readers)
	var mu sync.Mutex
	b.ResetTimer()
	for i := range b.N {
		key := keys[i]
		r := cache.ReaderAt(key, coldObjectSize)
		start := make(chan struct{})
		var wg sync.WaitGroup
		errs := make(chan error, readers)
		for range readers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				buf := make([]byte, coldReadSpan)
				<-start
				t0 := time.Now()
				n, err := r.ReadAt(buf, 0)
				d := time.Since(t0)
				if err != nil || n != len(buf) || !bytes.HasPrefix(buf, []byte(key)) {
					errs <- fmt.Errorf("read %s: %d bytes, %v", key, n, err)
					return
				}
				mu.Lock()
				samples = append(samples, d)
				mu.Unlock()
			}()
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			b.Fatal(err)
		}
	}
	b.StopTimer()

	if m := cache.Stats().Misses - missesBefore; readers == 1 && m != int64(b.N) {
		b.Fatalf("%d cache misses for %d cold blocks", m, b.N)
	}
	if f := fetches.Load() - fetchesBefore; f != int64(b.N) {
		b.Fatalf("%d fetches for %d cold blocks read by %d readers each: want one per block", f, b.N, readers)
	}
	if proxy != nil {
		gets := proxy.Requests("GET", prefix) - getsBefore
		b.ReportMetric(float64(gets)/float64(b.N), "gets/block")
		if gets != b.N {
			b.Fatalf("%d GETs through the proxy for %d cold blocks read by %d readers each: want one per block", gets, b.N, readers)
		}
	}
	slices.Sort(samples)
	b.ReportMetric(ms(percentile(samples, 0.50)), "p50_ms")
	b.ReportMetric(ms(percentile(samples, 0.99)), "p99_ms")
}

// percentile returns the q-quantile of sorted samples (nearest rank).
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
