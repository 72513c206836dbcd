package blockcache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/eddy-video/eddy/datastreams/logstore"
	"github.com/eddy-video/eddy/datastreams/objstore"
)

// The Fetch of these tests is a function over byte slices: the seam the
// cache owns (the tier passes ranged GETs of a real bucket).

const testBlock = 4096

// store holds the objects; its fetch counts calls and can be made to
// fail, to wait on a gate, or to hang.
type store struct {
	t       *testing.T
	mu      sync.Mutex
	objs    map[string][]byte
	fetches atomic.Int64
	fail    atomic.Bool
	gate    chan struct{} // when set, fetches wait for it to close
	hang    chan struct{} // when set, fetches ignore their context until it closes
	short   bool          // objects answer one byte less than asked
	pastEnd bool          // reads past an object's end fail as objstore's GetRange does
}

func newStore(t *testing.T) *store {
	return &store{t: t, objs: make(map[string][]byte)}
}

func (s *store) put(key string, size int) []byte {
	b := make([]byte, size)
	r := rand.New(rand.NewPCG(uint64(size), uint64(len(key))))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	s.mu.Lock()
	s.objs[key] = b
	s.mu.Unlock()
	return b
}

func (s *store) fetch(ctx context.Context, key string, off, n int64) ([]byte, error) {
	s.fetches.Add(1)
	s.mu.Lock()
	obj, found := s.objs[key]
	gate, hang, short := s.gate, s.hang, s.short
	s.mu.Unlock()
	if hang != nil {
		<-hang
	}
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if s.fail.Load() {
		return nil, errors.New("dial tcp 127.0.0.1:9: connect: connection refused")
	}
	if !found {
		return nil, fmt.Errorf("GET %s: %w", key, objstore.ErrNotFound)
	}
	if off >= int64(len(obj)) && s.pastEnd {
		return nil, fmt.Errorf("get-range %s: offset %d: %w", key, off, objstore.ErrPastEnd)
	}
	if off < 0 || n <= 0 || off+n > int64(len(obj)) {
		s.t.Errorf("fetch of %s [%d, +%d) outside its %d bytes", key, off, n, len(obj))
		return nil, errors.New("bad range")
	}
	end := off + n
	if short {
		end--
	}
	return bytes.Clone(obj[off:end]), nil
}

// clock is a fake clock for the breaker.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newCache(t *testing.T, s *store, edit func(*Config)) *Cache {
	t.Helper()
	cfg := Config{Dir: t.TempDir(), BlockSize: testBlock, MaxBytes: 64 * testBlock, Fetch: s.fetch,
		Logger: slog.New(slog.DiscardHandler)}
	if edit != nil {
		edit(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// diskBytes is the size of the block files in dir.
func diskBytes(t *testing.T, dir string) (n int64, files int) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		fi, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		n += fi.Size()
		files++
	}
	return n, files
}

// checkRead compares a read through the cache with the same read of the
// source, n and error as io.ReaderAt gives them.
func checkRead(t *testing.T, ra io.ReaderAt, src []byte, off int64, n int) {
	t.Helper()
	got := make([]byte, n)
	want := make([]byte, n)
	gn, gerr := ra.ReadAt(got, off)
	wn, werr := bytes.NewReader(src).ReadAt(want, off)
	if gn != wn || !errors.Is(gerr, werr) && gerr != werr {
		t.Fatalf("ReadAt(%d bytes at %d) of %d: got %d, %v; want %d, %v", n, off, len(src), gn, gerr, wn, werr)
	}
	if !bytes.Equal(got[:gn], want[:wn]) {
		t.Fatalf("ReadAt(%d bytes at %d) of %d: bytes differ from the source", n, off, len(src))
	}
}

func TestReadAtMatchesSource(t *testing.T) {
	sizes := map[string]int{
		"empty": 0, "one byte": 1, "small": 100, "block-1": testBlock - 1, "block": testBlock,
		"block+1": testBlock + 1, "blocks+tail": 3*testBlock + 17, "blocks": 4 * testBlock,
	}
	for name, size := range sizes {
		t.Run(name, func(t *testing.T) {
			s := newStore(t)
			src := s.put("obj", size)
			c := newCache(t, s, nil)
			ra := c.ReaderAt("obj", int64(size))
			type rd struct {
				off int64
				n   int
			}
			reads := []rd{{0, 0}, {0, 1}, {0, size}, {0, size + 10}, {int64(size), 1}, {int64(size) + 5, 3}}
			for _, b := range []int64{1, 2, 3} { // across every block boundary
				at := b * testBlock
				reads = append(reads, rd{at - 1, 2}, rd{at - 10, 20}, rd{at, 1}, rd{at - testBlock/2, testBlock + 3})
			}
			reads = append(reads, rd{int64(size) - 1, 1}, rd{int64(size) - 3, 10}, rd{1, 2*testBlock + 5})
			for pass := range 2 { // cold, then from the cache
				for _, r := range reads {
					if r.off < 0 {
						continue
					}
					t.Run(fmt.Sprintf("pass%d/%d+%d", pass, r.off, r.n), func(t *testing.T) {
						checkRead(t, ra, src, r.off, r.n)
					})
				}
			}
			if _, err := ra.ReadAt(make([]byte, 1), -1); err == nil {
				t.Error("a read at a negative offset did not fail")
			}
			c.wg.Wait()
			st := c.Stats()
			if blocks := (size + testBlock - 1) / testBlock; st.Bytes != int64(size) || s.fetches.Load() != int64(blocks) {
				t.Errorf("after reading it all twice: %d bytes held, %d fetches; want %d bytes, %d fetches (one per block)",
					st.Bytes, s.fetches.Load(), size, blocks)
			}
		})
	}
}

func TestLRUBoundUnderRandomReads(t *testing.T) {
	s := newStore(t)
	const objects, maxBytes = 40, 10 * testBlock
	srcs := make([][]byte, objects)
	for i := range srcs {
		srcs[i] = s.put(fmt.Sprint("o", i), 5*testBlock-i*37)
	}
	c := newCache(t, s, func(cfg *Config) { cfg.MaxBytes = maxBytes })
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 2000 {
		k := r.IntN(objects)
		src := srcs[k]
		off := r.Int64N(int64(len(src)))
		checkRead(t, c.ReaderAt(fmt.Sprint("o", k), int64(len(src))), src, off, 1+r.IntN(2*testBlock))
		if i%50 == 0 {
			c.wg.Wait()
			if n, _ := diskBytes(t, c.cfg.Dir); n > maxBytes+testBlock {
				t.Fatalf("after %d reads: %d bytes on disk, budget %d", i, n, maxBytes)
			}
			if st := c.Stats(); st.Bytes > maxBytes {
				t.Fatalf("after %d reads: Stats.Bytes %d past the budget %d", i, st.Bytes, maxBytes)
			}
		}
	}
	c.wg.Wait()
	n, _ := diskBytes(t, c.cfg.Dir)
	if st := c.Stats(); n != st.Bytes || st.Hits == 0 || st.Misses == 0 {
		t.Errorf("%d bytes on disk, Stats %+v: want the bytes on disk counted, hits and misses", n, st)
	}
}

func TestSingleFlight(t *testing.T) {
	s := newStore(t)
	src := s.put("obj", 3*testBlock)
	s.gate = make(chan struct{})
	c := newCache(t, s, func(cfg *Config) { cfg.Prefetch = -1 })
	ra := c.ReaderAt("obj", int64(len(src)))
	const readers = 100
	var wg sync.WaitGroup
	errs := make(chan error, readers)
	for i := range readers {
		wg.Go(func() {
			off := int64(testBlock + i)
			p := make([]byte, 100)
			if _, err := ra.ReadAt(p, off); err != nil {
				errs <- err
			} else if !bytes.Equal(p, src[off:off+100]) {
				errs <- fmt.Errorf("reader %d: bytes differ", i)
			}
		})
	}
	waitFor(t, "100 readers waiting", func() bool { return c.Stats().Misses == readers })
	close(s.gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := s.fetches.Load(); n != 1 {
		t.Errorf("%d fetches for 100 concurrent readers of a cold block, want 1", n)
	}
}

// waitFor polls cond (for states reached by other goroutines).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestPrefetch(t *testing.T) {
	s := newStore(t)
	src := s.put("obj", 6*testBlock+10)
	c := newCache(t, s, func(cfg *Config) { cfg.Prefetch = 2 })
	ra := c.ReaderAt("obj", int64(len(src)))

	checkRead(t, ra, src, 0, testBlock) // block 0: no read before it
	c.wg.Wait()
	if n := s.fetches.Load(); n != 1 {
		t.Fatalf("a first read fetched %d blocks, want 1 (no prefetch)", n)
	}
	checkRead(t, ra, src, testBlock, 100) // block 1 after block 0: sequential
	c.wg.Wait()                           // the prefetches of blocks 2 and 3
	if n, st := s.fetches.Load(), c.Stats(); n != 4 || st.Misses != 2 || st.Hits != 0 {
		t.Fatalf("after a sequential read of block 1: %d fetches, %+v; want 4 fetches (2 prefetched, not misses)", n, st)
	}
	checkRead(t, ra, src, testBlock+100, testBlock) // blocks 1 and 2: both hits; prefetches 3 (cached) and 4
	c.wg.Wait()
	if n, st := s.fetches.Load(), c.Stats(); st.Hits != 2 || st.Misses != 2 || n != 5 {
		t.Fatalf("the next block of a sequential read: %d fetches, %+v; want it a hit and block 4 prefetched", n, st)
	}
	checkRead(t, ra, src, 6*testBlock, 10) // a jump: no prefetch
	checkRead(t, ra, src, 4*testBlock, 10) // backwards: a hit, no prefetch
	c.wg.Wait()
	if n := s.fetches.Load(); n != 6 {
		t.Errorf("non-sequential reads: %d fetches, want 6 (only the jump's block fetched)", n)
	}
}

func TestPrefetchNotPastTheEnd(t *testing.T) {
	s := newStore(t)
	src := s.put("obj", 2*testBlock+1)
	c := newCache(t, s, func(cfg *Config) { cfg.Prefetch = 8 })
	ra := c.ReaderAt("obj", int64(len(src)))
	checkRead(t, ra, src, 0, len(src)) // fetches of past-the-end blocks fail the store's range check
	c.wg.Wait()
	if n := s.fetches.Load(); n != 3 {
		t.Errorf("%d fetches of a 3-block object, want 3", n)
	}
}

func TestBreaker(t *testing.T) {
	s := newStore(t)
	src := s.put("obj", 8*testBlock)
	clk := &clock{t: time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)}
	reg := prometheus.NewRegistry()
	c := newCache(t, s, func(cfg *Config) {
		cfg.Prefetch = -1
		cfg.Now = clk.Now
		cfg.Registerer = reg
	})
	ra := c.ReaderAt("obj", int64(len(src)))
	checkRead(t, ra, src, 0, 10) // block 0 cached before the outage
	available := func() float64 { return testutil.ToFloat64(c.metrics.available) }

	s.fail.Store(true)
	fetches := s.fetches.Load()
	_, err := ra.ReadAt(make([]byte, 10), testBlock)
	if !errors.Is(err, logstore.ErrUnavailable) || !strings.Contains(err.Error(), "cannot be reached since 2026-12-07T12:00:00Z") ||
		!strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("a failing fetch: %v; want ErrUnavailable saying since when and why", err)
	}
	if available() != 0 {
		t.Error("eddy_object_cold_reads_available is not 0 after a failed fetch")
	}
	var ue *UnavailableError
	if !errors.As(err, &ue) || !ue.Until.Equal(clk.Now().Add(2*time.Second)) {
		t.Errorf("UnavailableError %+v: want Until 2 s after the failure", ue)
	}

	// Open: reads that need a fetch fail at once, without one; cached blocks read.
	block := int64(2) // not cached
	step := func(d time.Duration, wantFetch bool) {
		t.Helper()
		clk.Advance(d)
		before := s.fetches.Load()
		_, err := ra.ReadAt(make([]byte, 10), block*testBlock)
		if !errors.Is(err, logstore.ErrUnavailable) {
			t.Fatalf("+%s: %v, want ErrUnavailable", d, err)
		}
		if fetched := s.fetches.Load() > before; fetched != wantFetch {
			t.Fatalf("+%s: fetched %v, want %v", d, fetched, wantFetch)
		}
	}
	step(time.Second, false)
	checkRead(t, ra, src, 0, 10)
	step(time.Second, true)                            // 2 s: tries again, fails: next 4 s
	step(3*time.Second, false)                         // 3 s of 4
	step(time.Second, true)                            // 4 s: tries, fails: 8 s
	step(7*time.Second, false)                         // 7 s of 8
	for _, d := range []time.Duration{8, 16, 30, 30} { // capped at 30 s
		step(d*time.Second, true)
	}
	step(29*time.Second, false)
	if n := s.fetches.Load() - fetches; n != 7 {
		t.Errorf("%d fetches during the outage, want 7 (one per backoff)", n)
	}

	s.fail.Store(false)
	clk.Advance(time.Second)
	checkRead(t, ra, src, 2*testBlock, 10)
	if available() != 1 {
		t.Error("eddy_object_cold_reads_available is not 1 after a fetch succeeded")
	}
	s.fail.Store(true) // a new outage starts at the first backoff again
	block = 3
	step(0, true)
	step(2*time.Second-time.Nanosecond, false)
	step(time.Nanosecond, true)
}

// TestBreakerProbe: once the backoff has passed one read tries the store
// while the others keep failing at once, and fetches that were in flight
// when the breaker opened do not lengthen the backoff.
func TestBreakerProbe(t *testing.T) {
	s := newStore(t)
	src := s.put("obj", 8*testBlock)
	clk := &clock{t: time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)}
	c := newCache(t, s, func(cfg *Config) { cfg.Prefetch = -1; cfg.Now = clk.Now })
	ra := c.ReaderAt("obj", int64(len(src)))
	read := func(block int64) error {
		_, err := ra.ReadAt(make([]byte, 1), block*testBlock)
		return err
	}
	s.fail.Store(true)
	s.mu.Lock()
	s.gate = make(chan struct{})
	s.mu.Unlock()
	errs := make(chan error, 2)
	for _, b := range []int64{0, 1} {
		go func() { errs <- read(b) }()
	}
	waitFor(t, "two fetches in flight", func() bool { return s.fetches.Load() == 2 })
	close(s.gate)
	for range 2 {
		var ue *UnavailableError
		if err := <-errs; !errors.As(err, &ue) || !ue.Until.Equal(clk.Now().Add(2*time.Second)) {
			t.Fatalf("two fetches failing together: %v; want the first backoff, 2 s", err)
		}
	}

	clk.Advance(2 * time.Second)
	s.mu.Lock()
	s.gate = make(chan struct{})
	s.mu.Unlock()
	go func() { errs <- read(2) }() // the probe
	waitFor(t, "the probe", func() bool { return s.fetches.Load() == 3 })
	for _, b := range []int64{3, 4, 5} {
		if err := read(b); !errors.Is(err, logstore.ErrUnavailable) {
			t.Fatalf("a read during the probe: %v", err)
		}
	}
	if n := s.fetches.Load(); n != 3 {
		t.Errorf("reads during the probe fetched: %d fetches, want 3", n)
	}
	close(s.gate)
	if err := <-errs; !errors.Is(err, logstore.ErrUnavailable) {
		t.Fatalf("the failed probe: %v", err)
	}
	clk.Advance(4*time.Second - time.Nanosecond)
	if err := read(3); !errors.Is(err, logstore.ErrUnavailable) || s.fetches.Load() != 3 {
		t.Fatalf("before the doubled backoff: %v, %d fetches", err, s.fetches.Load())
	}
	s.fail.Store(false)
	clk.Advance(time.Nanosecond)
	checkRead(t, ra, src, 3*testBlock, 10)
	checkRead(t, ra, src, 4*testBlock, 10) // closed again: every read may fetch
}

func TestFetchTimeout(t *testing.T) {
	s := newStore(t)
	src := s.put("obj", testBlock)
	s.hang = make(chan struct{}) // a Fetch that ignores its context
	t.Cleanup(func() { close(s.hang) })
	c := newCache(t, s, func(cfg *Config) { cfg.Timeout = 50 * time.Millisecond })
	start := time.Now()
	_, err := c.ReaderAt("obj", int64(len(src))).ReadAt(make([]byte, 1), 0)
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("a hanging fetch returned after %s, the timeout is 50 ms", took)
	}
	if !errors.Is(err, logstore.ErrUnavailable) || !strings.Contains(err.Error(), "timed out after 50ms") {
		t.Errorf("a hanging fetch: %v; want ErrUnavailable saying it timed out", err)
	}
}

func TestCloseCancelsFetches(t *testing.T) {
	s := newStore(t)
	src := s.put("obj", testBlock)
	s.gate = make(chan struct{}) // never opens: fetches end by their context
	c := newCache(t, s, nil)
	done := make(chan error, 1)
	go func() {
		_, err := c.ReaderAt("obj", int64(len(src))).ReadAt(make([]byte, 1), 0)
		done <- err
	}()
	waitFor(t, "the fetch to start", func() bool { return s.fetches.Load() == 1 })
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	err := <-done
	if err == nil || errors.Is(err, logstore.ErrUnavailable) {
		t.Errorf("a read cut by Close: %v; want an error that does not blame the object store", err)
	}
	if _, err := c.ReaderAt("obj", int64(len(src))).ReadAt(make([]byte, 1), 0); !errors.Is(err, errClosed) {
		t.Errorf("a read after Close: %v", err)
	}
}

func TestShortObjectIsNotAnOutage(t *testing.T) {
	s := newStore(t)
	src := s.put("obj", testBlock)
	s.short = true
	c := newCache(t, s, nil)
	ra := c.ReaderAt("obj", int64(len(src)))
	_, err := ra.ReadAt(make([]byte, 1), 0)
	if !errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, logstore.ErrUnavailable) {
		t.Fatalf("an object shorter than its size: %v; want io.ErrUnexpectedEOF, not ErrUnavailable", err)
	}
	s.mu.Lock()
	s.short = false
	s.mu.Unlock()
	checkRead(t, ra, src, 0, 10) // the breaker stayed closed

	s.mu.Lock()
	s.pastEnd = true
	s.mu.Unlock()
	_, err = c.ReaderAt("obj", 3*testBlock).ReadAt(make([]byte, 1), 2*testBlock) // a size larger than the object
	if !errors.Is(err, objstore.ErrPastEnd) || !errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, logstore.ErrUnavailable) {
		t.Fatalf("a read past the object's end: %v; want ErrPastEnd from the store and io.ErrUnexpectedEOF, not ErrUnavailable", err)
	}
	c.Drop("obj")
	before := s.fetches.Load()
	checkRead(t, ra, src, 10, 10) // fetched: the breaker stayed closed
	if s.fetches.Load() != before+1 {
		t.Errorf("a read after a past-the-end answer made %d fetches, want 1", s.fetches.Load()-before)
	}
}

func TestMissingObjectIsNotAnOutage(t *testing.T) {
	s := newStore(t)
	src := s.put("obj", testBlock)
	c := newCache(t, s, nil)
	_, err := c.ReaderAt("gone", testBlock).ReadAt(make([]byte, 1), 0)
	if !errors.Is(err, objstore.ErrNotFound) || errors.Is(err, logstore.ErrUnavailable) {
		t.Fatalf("a missing object: %v; want objstore.ErrNotFound, not ErrUnavailable", err)
	}
	checkRead(t, c.ReaderAt("obj", int64(len(src))), src, 0, 10) // the breaker stayed closed
}

func TestDrop(t *testing.T) {
	s := newStore(t)
	a := s.put("a", 3*testBlock)
	b := s.put("b", 2*testBlock)
	c := newCache(t, s, nil)
	checkRead(t, c.ReaderAt("a", int64(len(a))), a, 0, len(a))
	checkRead(t, c.ReaderAt("b", int64(len(b))), b, 0, len(b))
	c.wg.Wait()
	c.Drop("a")
	if st := c.Stats(); st.Bytes != int64(len(b)) {
		t.Errorf("after Drop(a): %d bytes held, want b's %d", st.Bytes, len(b))
	}
	if n, files := diskBytes(t, c.cfg.Dir); n != int64(len(b)) || files != 2 {
		t.Errorf("after Drop(a): %d bytes in %d files on disk, want b's 2 blocks", n, files)
	}
	before := s.fetches.Load()
	checkRead(t, c.ReaderAt("a", int64(len(a))), a, 0, 10)
	checkRead(t, c.ReaderAt("b", int64(len(b))), b, 0, 10)
	if n := s.fetches.Load() - before; n != 1 {
		t.Errorf("reads of a dropped and a kept object fetched %d blocks, want 1", n)
	}
}

func TestDropDuringFetch(t *testing.T) {
	s := newStore(t)
	a := s.put("a", testBlock)
	s.gate = make(chan struct{})
	c := newCache(t, s, nil)
	done := make(chan struct{})
	go func() {
		defer close(done)
		checkRead(t, c.ReaderAt("a", int64(len(a))), a, 0, 10)
	}()
	waitFor(t, "the fetch to start", func() bool { return s.fetches.Load() == 1 })
	c.Drop("a")
	close(s.gate)
	<-done
	c.wg.Wait()
	if n, files := diskBytes(t, c.cfg.Dir); n != 0 || c.Stats().Bytes != 0 {
		t.Errorf("a block fetched while its object was dropped was kept: %d bytes in %d files", n, files)
	}
}

func TestEvictionWhileReading(t *testing.T) {
	s := newStore(t)
	a := s.put("a", testBlock)
	b := s.put("b", 8*testBlock)
	c := newCache(t, s, func(cfg *Config) { cfg.MaxBytes = 2 * testBlock; cfg.Prefetch = -1 })
	checkRead(t, c.ReaderAt("a", int64(len(a))), a, 0, 1)
	c.wg.Wait()

	// A reader mid-copy holds a's block as readBlock does.
	c.mu.Lock()
	e := c.index[blockID{"a", 0}]
	e.refs++
	c.mu.Unlock()
	checkRead(t, c.ReaderAt("b", int64(len(b))), b, 0, len(b)) // 8 blocks through a budget of 2
	c.wg.Wait()
	got := make([]byte, len(a))
	if err := readFile(e, got, 0); err != nil || !bytes.Equal(got, a) {
		t.Fatalf("a block held by a reader was evicted from under it: %v", err)
	}
	c.release(e, false)
	if n, _ := diskBytes(t, c.cfg.Dir); n > 2*testBlock {
		t.Errorf("%d bytes on disk after the release, budget %d", n, 2*testBlock)
	}
	checkRead(t, c.ReaderAt("b", int64(len(b))), b, 0, len(b)) // b again: a's block is least recently used
	c.wg.Wait()
	if _, err := os.Stat(e.path); !os.IsNotExist(err) {
		t.Errorf("the block once held, least recently used, was not evicted once released: %v", err)
	}

	// Dropped while held: the file goes when the reader is done.
	checkRead(t, c.ReaderAt("a", int64(len(a))), a, 0, 1)
	c.wg.Wait()
	c.mu.Lock()
	e = c.index[blockID{"a", 0}]
	e.refs++
	c.mu.Unlock()
	c.Drop("a")
	if _, err := os.Stat(e.path); err != nil {
		t.Fatalf("a dropped block's file was removed while a reader held it: %v", err)
	}
	c.release(e, false)
	if _, err := os.Stat(e.path); !os.IsNotExist(err) {
		t.Errorf("a dropped block's file outlived its last reader: %v", err)
	}
}

func TestConcurrentReadsEvictionsAndDrops(t *testing.T) {
	s := newStore(t)
	const objects = 12
	srcs := make([][]byte, objects)
	for i := range srcs {
		srcs[i] = s.put(fmt.Sprint("o", i), 6*testBlock+i*101)
	}
	c := newCache(t, s, func(cfg *Config) { cfg.MaxBytes = 8 * testBlock })
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 7))
			for range 300 {
				k := r.IntN(objects)
				src := srcs[k]
				if r.IntN(50) == 0 {
					c.Drop(fmt.Sprint("o", k))
					continue
				}
				ra := c.ReaderAt(fmt.Sprint("o", k), int64(len(src)))
				if r.IntN(2) == 0 { // a sequential run
					for off := int64(0); off < int64(len(src)); off += testBlock / 2 {
						checkRead(t, ra, src, off, testBlock/2)
					}
					continue
				}
				checkRead(t, ra, src, r.Int64N(int64(len(src))), 1+r.IntN(3*testBlock))
			}
		})
	}
	wg.Wait()
	c.wg.Wait()
	n, _ := diskBytes(t, c.cfg.Dir)
	if st := c.Stats(); n != st.Bytes || n > 8*testBlock {
		t.Errorf("after concurrent reads: %d bytes on disk, Stats.Bytes %d, budget %d", n, st.Bytes, 8*testBlock)
	}
}

// lines counts the log records of a handler.
type lines struct {
	mu sync.Mutex
	n  map[string]int
}

func (l *lines) Enabled(context.Context, slog.Level) bool { return true }
func (l *lines) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	l.n[r.Message]++
	l.mu.Unlock()
	return nil
}
func (l *lines) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *lines) WithGroup(string) slog.Handler      { return l }

func TestDiskErrorServesUncached(t *testing.T) {
	s := newStore(t)
	src := s.put("obj", 4*testBlock)
	logs := &lines{n: make(map[string]int)}
	c := newCache(t, s, func(cfg *Config) { cfg.Logger = slog.New(logs); cfg.Prefetch = -1 })
	if err := os.RemoveAll(c.cfg.Dir); err != nil { // every write of a block fails
		t.Fatal(err)
	}
	ra := c.ReaderAt("obj", int64(len(src)))
	for range 2 {
		checkRead(t, ra, src, 0, len(src))
		c.wg.Wait() // the attempts to keep the blocks
	}
	c.wg.Wait()
	if st := c.Stats(); st.Bytes != 0 || s.fetches.Load() != 8 {
		t.Errorf("with an unwritable cache: %+v, %d fetches; want reads served, nothing kept", st, s.fetches.Load())
	}
	logged := 0
	for msg, n := range logs.n {
		if strings.Contains(msg, "cannot write a block") {
			logged += n
		}
	}
	if logged != 1 {
		t.Errorf("the write failure was logged %d times, want once", logged)
	}
}

func TestNewEmptiesItsBlocks(t *testing.T) {
	dir := t.TempDir()
	other := filepath.Join(dir, "keep.txt")
	for _, f := range []string{"0123-1.blk", other} {
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s := newStore(t)
	c := newCache(t, s, func(cfg *Config) { cfg.Dir = dir })
	if _, err := os.Stat(filepath.Join(dir, "0123-1.blk")); !os.IsNotExist(err) {
		t.Errorf("a block left by an earlier run survived New: %v", err)
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("New removed a file that is not a block: %v", err)
	}
	if st := c.Stats(); st != (Stats{}) {
		t.Errorf("a new cache: %+v", st)
	}
	if _, err := New(Config{Dir: dir}); err == nil {
		t.Error("New without Fetch did not fail")
	}
	if _, err := New(Config{Fetch: s.fetch}); err == nil {
		t.Error("New without Dir did not fail")
	}
}

func TestMetrics(t *testing.T) {
	s := newStore(t)
	src := s.put("obj", 2*testBlock)
	reg := prometheus.NewRegistry()
	c := newCache(t, s, func(cfg *Config) { cfg.Registerer = reg; cfg.Prefetch = -1 })
	ra := c.ReaderAt("obj", int64(len(src)))
	checkRead(t, ra, src, 0, len(src))
	checkRead(t, ra, src, 0, len(src))
	c.wg.Wait()
	want := `
# HELP eddy_object_cache_bytes Bytes of blocks held in the local cache.
# TYPE eddy_object_cache_bytes gauge
eddy_object_cache_bytes 8192
# HELP eddy_object_cache_hits_total Block reads of cold segments served from the local cache.
# TYPE eddy_object_cache_hits_total counter
eddy_object_cache_hits_total 2
# HELP eddy_object_cache_misses_total Block reads of cold segments that waited for the object store (prefetches not counted).
# TYPE eddy_object_cache_misses_total counter
eddy_object_cache_misses_total 2
# HELP eddy_object_cold_reads_available 1 while cold reads reach the object store, 0 after a failed fetch until one succeeds.
# TYPE eddy_object_cold_reads_available gauge
eddy_object_cold_reads_available 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "eddy_object_cache_bytes",
		"eddy_object_cache_hits_total", "eddy_object_cache_misses_total", "eddy_object_cold_reads_available"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(c.metrics.coldRead); n != 1 {
		t.Errorf("eddy_object_cold_read_seconds: %d series", n)
	}
	if h := histCount(t, reg); h != 2 {
		t.Errorf("eddy_object_cold_read_seconds counted %d fetches, want 2", h)
	}
	if _, err := New(Config{Dir: t.TempDir(), Fetch: s.fetch, Registerer: reg}); err == nil {
		t.Error("a second cache on the same registry did not fail to register its series")
	}
}

func histCount(t *testing.T, reg *prometheus.Registry) uint64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "eddy_object_cold_read_seconds" {
			return mf.GetMetric()[0].GetHistogram().GetSampleCount()
		}
	}
	t.Fatal("eddy_object_cold_read_seconds not registered")
	return 0
}
