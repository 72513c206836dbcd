package blockcache_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eddy-video/eddy/datastreams/logstore"
	"github.com/eddy-video/eddy/datastreams/objstore"
	"github.com/eddy-video/eddy/datastreams/objstore/objstoretest"
	"github.com/eddy-video/eddy/datastreams/tier/blockcache"
)

// TestOverBucket reads through the cache from a real S3 server
// (versitygw): ranged GETs give back the object byte for byte, 100
// readers of a cold block make one GET, a missing object is not an
// outage, and while the server is stopped cold reads fail at once with
// ErrUnavailable, cached ones still read, and reads recover once it is
// back and the backoff has passed.
func TestOverBucket(t *testing.T) {
	srv := objstoretest.Start(t)
	bucket := srv.Bucket()
	ctx := context.Background()
	const blockSize = 64 << 10
	src := make([]byte, 5*blockSize+1234)
	r := rand.New(rand.NewPCG(3, 4))
	for i := range src {
		src[i] = byte(r.Uint32())
	}
	if err := bucket.Put(ctx, "seg", src); err != nil {
		t.Fatal(err)
	}
	var gets atomic.Int64
	var mu sync.Mutex
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	c, err := blockcache.New(blockcache.Config{
		Dir: t.TempDir(), BlockSize: blockSize, MaxBytes: 1 << 20, Prefetch: -1, Timeout: 5 * time.Second,
		Logger: slog.New(slog.DiscardHandler),
		Now: func() time.Time {
			mu.Lock()
			defer mu.Unlock()
			return now
		},
		Fetch: func(ctx context.Context, key string, off, n int64) ([]byte, error) {
			gets.Add(1)
			return bucket.GetRange(ctx, key, off, n)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ra := c.ReaderAt("seg", int64(len(src)))

	// 100 readers of the cold first block: one GET.
	var wg sync.WaitGroup
	for i := range 100 {
		wg.Go(func() {
			p := make([]byte, 1000)
			if _, err := ra.ReadAt(p, int64(i*100)); err != nil || !bytes.Equal(p, src[i*100:i*100+1000]) {
				t.Errorf("reader %d: %v or bytes differ", i, err)
			}
		})
	}
	wg.Wait()
	if n := gets.Load(); n != 1 {
		t.Errorf("100 readers of a cold block made %d GETs, want 1", n)
	}

	// The whole object in pieces across blocks, and its end.
	got := make([]byte, len(src))
	for off := 0; off < len(src); off += 7000 {
		end := min(off+7000, len(src))
		if n, err := ra.ReadAt(got[off:end], int64(off)); n != end-off || err != nil {
			t.Fatalf("ReadAt at %d: %d, %v", off, n, err)
		}
	}
	if !bytes.Equal(got, src) {
		t.Fatal("the object read through the cache differs from what was stored")
	}

	if _, err := c.ReaderAt("nothing", 10).ReadAt(make([]byte, 1), 0); !errors.Is(err, objstore.ErrNotFound) ||
		errors.Is(err, logstore.ErrUnavailable) {
		t.Errorf("a missing object: %v; want objstore.ErrNotFound, not ErrUnavailable", err)
	}

	// Outage: Drop some blocks so they are cold, stop the server.
	c.Drop("seg")
	if _, err := ra.ReadAt(make([]byte, 10), 0); err != nil { // block 0 cached again
		t.Fatal(err)
	}
	srv.Stop()
	start := time.Now()
	_, err = ra.ReadAt(make([]byte, 10), 3*blockSize)
	if !errors.Is(err, logstore.ErrUnavailable) {
		t.Fatalf("a cold read with the server stopped: %v; want ErrUnavailable", err)
	}
	t.Logf("the failed cold read: %v (after %s)", err, time.Since(start).Round(time.Millisecond))
	before := gets.Load()
	start = time.Now()
	if _, err := ra.ReadAt(make([]byte, 10), 4*blockSize); !errors.Is(err, logstore.ErrUnavailable) || gets.Load() != before {
		t.Fatalf("a second cold read during the outage: %v, %d GETs; want ErrUnavailable without a GET", err, gets.Load()-before)
	}
	if took := time.Since(start); took > 100*time.Millisecond {
		t.Errorf("a cold read with the breaker open took %s", took)
	}
	p := make([]byte, 10)
	if _, err := ra.ReadAt(p, 5); err != nil || !bytes.Equal(p, src[5:15]) {
		t.Fatalf("a cached read during the outage: %v", err)
	}

	srv.Start()
	mu.Lock()
	now = now.Add(blockcache.MaxBackoff)
	mu.Unlock()
	if _, err := ra.ReadAt(p, 4*blockSize); err != nil || !bytes.Equal(p, src[4*blockSize:4*blockSize+10]) {
		t.Fatalf("a cold read once the server is back: %v", err)
	}
}

// TestClosedConnectionIsAnOutage: a store whose connections are accepted
// and closed without an answer (a TCP proxy or load balancer whose
// backend is gone) is unavailable: the cold read wraps ErrUnavailable and
// the breaker opens (the next cold read fails without a request), though
// net/http's error wraps io.EOF.
func TestClosedConnectionIsAnOutage(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ln.Close() }()
	var conns atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			_ = c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
			_, _ = c.Read(make([]byte, 4096))
			_ = c.Close()
		}
	}()
	bucket, err := objstore.New(objstore.Config{Endpoint: "http://" + ln.Addr().String(), Bucket: "b",
		AccessKeyID: "ak", SecretAccessKey: "sk", PathStyle: true, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	c, err := blockcache.New(blockcache.Config{
		Dir: t.TempDir(), BlockSize: 64 << 10, MaxBytes: 1 << 20, Prefetch: -1, Timeout: 5 * time.Second,
		Logger: slog.New(slog.DiscardHandler),
		Fetch:  bucket.GetRange,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ra := c.ReaderAt("seg", 1<<20)
	_, err = ra.ReadAt(make([]byte, 10), 0)
	if !errors.Is(err, logstore.ErrUnavailable) || errors.Is(err, objstore.ErrPastEnd) {
		t.Fatalf("a cold read from a store that closes its connections: %v; want ErrUnavailable", err)
	}
	before := conns.Load()
	if _, err := ra.ReadAt(make([]byte, 10), 128<<10); !errors.Is(err, logstore.ErrUnavailable) {
		t.Fatalf("a second cold read: %v; want ErrUnavailable", err)
	}
	if n := conns.Load() - before; n != 0 {
		t.Errorf("a second cold read made %d connections; want none (the breaker open)", n)
	}
}
