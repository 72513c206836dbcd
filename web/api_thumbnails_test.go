package web

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The thumbnail cache and decode gate (server/web_thumbnails_test.go tests
// the endpoint with ffmpeg): here each decode is a function the test
// controls, to see what the gate runs, shares, bounds and cancels.

func thumbKeyOf(i int) thumbKey { return thumbKey{stream: "cam", seq: uint64(i), width: 160} }

func jpegOf(n int, b byte) func(context.Context) ([]byte, error) {
	return func(context.Context) ([]byte, error) { return bytes.Repeat([]byte{b}, n), nil }
}

func TestThumbnailCacheLRUBytes(t *testing.T) {
	th := newThumbnails(100, nil)
	ctx := context.Background()
	for i, b := range []byte{'a', 'b'} {
		if _, how, err := th.decode(ctx, thumbKeyOf(i), jpegOf(40, b)); err != nil || how != "miss" {
			t.Fatalf("%c: %s %v", b, how, err)
		}
	}
	// a is used again: b is now the least recently used.
	if img, how, _ := th.decode(ctx, thumbKeyOf(0), jpegOf(40, 'x')); how != "hit" || img[0] != 'a' {
		t.Fatalf("a again: %s %c", how, img[0])
	}
	if _, how, _ := th.decode(ctx, thumbKeyOf(2), jpegOf(40, 'c')); how != "miss" {
		t.Fatalf("c: %s", how)
	}
	if th.bytes != 80 || len(th.entries) != 2 {
		t.Errorf("%d bytes in %d entries, want 80 in 2", th.bytes, len(th.entries))
	}
	if _, ok := th.entries[thumbKeyOf(1)]; ok {
		t.Error("b (least recently used) was kept")
	}
	if _, how, _ := th.decode(ctx, thumbKeyOf(0), jpegOf(40, 'x')); how != "hit" {
		t.Errorf("a was evicted (%s)", how)
	}
	// An image larger than the whole cache is served, not kept.
	if img, _, err := th.decode(ctx, thumbKeyOf(3), jpegOf(101, 'd')); err != nil || len(img) != 101 || th.bytes != 80 {
		t.Errorf("a 101-byte image: %d bytes served, %v; cache %d bytes", len(img), err, th.bytes)
	}
	// Errors are not cached.
	boom := errors.New("boom")
	if _, _, err := th.decode(ctx, thumbKeyOf(4), func(context.Context) ([]byte, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Errorf("error: %v", err)
	}
	if _, how, _ := th.decode(ctx, thumbKeyOf(4), jpegOf(10, 'e')); how != "miss" {
		t.Errorf("after an error: %s", how)
	}
}

func TestThumbnailDecodesShared(t *testing.T) {
	th := newThumbnails(1<<20, nil)
	release := make(chan struct{})
	var calls atomic.Int32
	decode := func(context.Context) ([]byte, error) {
		calls.Add(1)
		<-release
		return []byte("jpeg"), nil
	}
	var wg sync.WaitGroup
	hows := make(chan string, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			img, how, err := th.decode(context.Background(), thumbKeyOf(1), decode)
			if err != nil || string(img) != "jpeg" {
				t.Errorf("%q %v", img, err)
			}
			hows <- how
		}()
	}
	waitUntil(t, func() bool {
		th.mu.Lock()
		defer th.mu.Unlock()
		c := th.calls[thumbKeyOf(1)]
		return c != nil && c.waiters == 8
	})
	close(release)
	wg.Wait()
	close(hows)
	n := map[string]int{}
	for h := range hows {
		n[h]++
	}
	if calls.Load() != 1 || n["miss"] != 1 || n["shared"] != 7 {
		t.Errorf("%d decodes, %v", calls.Load(), n)
	}
}

func TestThumbnailDecodesBounded(t *testing.T) {
	th := newThumbnails(1<<20, nil)
	var running, most atomic.Int32
	release := make(chan struct{})
	decode := func(context.Context) ([]byte, error) {
		n := running.Add(1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		<-release
		running.Add(-1)
		return []byte("jpeg"), nil
	}
	var wg sync.WaitGroup
	for i := range thumbPending {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, _, err := th.decode(context.Background(), thumbKeyOf(i), decode); err != nil {
				t.Error(err)
			}
		}()
	}
	waitUntil(t, func() bool {
		th.mu.Lock()
		defer th.mu.Unlock()
		return len(th.calls) == thumbPending && running.Load() == thumbDecodes
	})
	// Full: one more distinct thumbnail is refused; an identical one waits.
	if _, how, err := th.decode(context.Background(), thumbKeyOf(thumbPending), decode); !errors.Is(err, errThumbBusy) || how != "busy" {
		t.Errorf("over the bound: %s %v", how, err)
	}
	time.Sleep(50 * time.Millisecond)
	if running.Load() != thumbDecodes {
		t.Errorf("%d decodes running, bound %d", running.Load(), thumbDecodes)
	}
	close(release)
	wg.Wait()
	if most.Load() != thumbDecodes {
		t.Errorf("at most %d decodes ran at once, want %d", most.Load(), thumbDecodes)
	}
}

// A decode is cancelled when every request waiting on it has left, not
// before; one still waiting for a decode slot never starts.
func TestThumbnailDecodeCancelled(t *testing.T) {
	th := newThumbnails(1<<20, nil)
	cancelled := make(chan struct{})
	started := make(chan struct{}, 1)
	hold := make(chan struct{}) // keeps the cancelled decode from returning
	decode := func(ctx context.Context) ([]byte, error) {
		started <- struct{}{}
		<-ctx.Done()
		close(cancelled)
		<-hold
		return nil, ctx.Err()
	}
	var cancels []context.CancelFunc
	var wg sync.WaitGroup
	for range 3 {
		ctx, cancel := context.WithCancel(context.Background())
		cancels = append(cancels, cancel)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, _, err := th.decode(ctx, thumbKeyOf(1), decode); !errors.Is(err, context.Canceled) {
				t.Errorf("a request that left: %v", err)
			}
		}()
	}
	<-started
	waitUntil(t, func() bool { th.mu.Lock(); defer th.mu.Unlock(); return th.calls[thumbKeyOf(1)].waiters == 3 })
	cancels[0]()
	cancels[1]()
	select {
	case <-cancelled:
		t.Fatal("cancelled while a request still waits")
	case <-time.After(100 * time.Millisecond):
	}
	cancels[2]()
	select {
	case <-cancelled:
	case <-time.After(5 * time.Second):
		t.Fatal("not cancelled when the last request left")
	}
	// A request for the same thumbnail while the cancelled decode is still
	// winding down starts its own decode, not join the cancelled one.
	got := make(chan error, 1)
	go func() {
		jpg, how, err := th.decode(context.Background(), thumbKeyOf(1), func(context.Context) ([]byte, error) { return []byte("new"), nil })
		if err == nil && (string(jpg) != "new" || how != "miss") {
			err = fmt.Errorf("got %q (%s), want a new decode", jpg, how)
		}
		got <- err
	}()
	select {
	case err := <-got:
		if err != nil {
			t.Errorf("request after the last waiter left: %v", err)
		}
		close(hold)
	case <-time.After(time.Second):
		t.Error("a request after the last waiter left waits on the cancelled decode")
		close(hold)
		if err := <-got; err != nil {
			t.Errorf("request after the last waiter left: %v", err)
		}
	}
	wg.Wait()

	// Both slots busy: a request that leaves while queued never decodes.
	release := make(chan struct{})
	for i := range thumbDecodes {
		go func() {
			_, _, _ = th.decode(context.Background(), thumbKeyOf(10+i), func(context.Context) ([]byte, error) { <-release; return []byte("x"), nil })
		}()
	}
	waitUntil(t, func() bool { th.mu.Lock(); defer th.mu.Unlock(); return len(th.decodes) == thumbDecodes })
	var ran atomic.Bool
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(50 * time.Millisecond); cancel() }()
	if _, _, err := th.decode(ctx, thumbKeyOf(20), func(context.Context) ([]byte, error) { ran.Store(true); return nil, nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("queued request: %v", err)
	}
	close(release)
	waitUntil(t, func() bool { th.mu.Lock(); defer th.mu.Unlock(); return len(th.calls) == 0 })
	if ran.Load() {
		t.Error("the decode of a request that left while queued ran")
	}
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
	}
}
