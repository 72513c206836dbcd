package fragments

import (
	"bytes"
	"context"
	"runtime"
	"testing"
	"time"
)

func livePart(d time.Duration, media string) *LivePart {
	return &LivePart{Duration: int64(d), Media: []byte(media)}
}

func TestLive(t *testing.T) {
	l := newLive(7)
	l.Touch()
	init := &InitSegment{ID: InitID{1}, Bytes: []byte("init")}
	run := l.Start(200 * time.Millisecond)
	v, ch := l.View()
	if !v.Active || len(v.Segments) != 0 || v.Next != 7<<10 {
		t.Fatalf("fresh view %+v", v)
	}
	l.AddPart(LiveSegment{Seq: 7, InitID: init.ID}, init, livePart(200*time.Millisecond, "a"), false)
	select {
	case <-ch:
	default:
		t.Fatal("a new part did not signal a change")
	}
	l.AddPart(LiveSegment{Seq: 7, InitID: init.ID}, init, livePart(100*time.Millisecond, "b"), true)
	v, _ = l.View()
	if len(v.Segments) != 1 || !v.Segments[0].Done || len(v.Segments[0].Parts) != 2 || v.Segments[0].Duration != int64(300*time.Millisecond) {
		t.Fatalf("view %+v", v)
	}
	if p, ok := l.Part(7<<10 + 1); !ok || string(p.Media) != "b" || p.Index != 1 || p.Seq != 7 {
		t.Fatalf("Part = %+v, %v", p, ok)
	}
	if _, ok := l.Part(7<<10 + 2); ok {
		t.Fatal("a part not yet cut was found")
	}
	if b, ok := l.Init(init.ID); !ok || !bytes.Equal(b, init.Bytes) {
		t.Fatal("the live init segment is not served")
	}

	// Wait returns at once for what exists and waits for what does not.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	has := func(n uint64) func(*LiveView) bool { return func(v *LiveView) bool { return v.Next > n } }
	if _, ok := l.Wait(ctx, has(7<<10+1)); !ok {
		t.Fatal("Wait for an existing part did not return it")
	}
	go func() {
		time.Sleep(20 * time.Millisecond)
		l.AddPart(LiveSegment{Seq: 8, InitID: init.ID}, init, livePart(200*time.Millisecond, "c"), false)
	}()
	if v, ok := l.Wait(ctx, has(7<<10+2)); !ok || len(v.Segments) != 2 {
		t.Fatalf("Wait for the next part: %v %+v", ok, v)
	}

	// A run that ends drops its unfinished segment; its fragment number
	// is reused by the next run.
	l.Stop(run)
	v, _ = l.View()
	if v.Active || len(v.Segments) != 1 {
		t.Fatalf("after stop: %+v", v)
	}
	run = l.Start(200 * time.Millisecond)
	// The previous run's recorder ending late changes nothing.
	l.Stop(run - 1)
	if v, _ = l.View(); !v.Active {
		t.Fatal("a stale run's stop ended the current run")
	}
	l.AddPart(LiveSegment{Seq: 8, InitID: init.ID}, init, livePart(200*time.Millisecond, "d"), true)
	v, _ = l.View()
	if len(v.Segments) != 2 || string(v.Segments[1].Parts[0].Media) != "d" {
		t.Fatalf("after restart: %+v", v)
	}
	if v.Segments[1].Parts[0].Number == 7<<10+2 {
		t.Fatal("a part number was reused")
	}

	// Only the last few complete segments keep their parts.
	for seq := uint64(9); seq < 20; seq++ {
		l.AddPart(LiveSegment{Seq: seq, InitID: init.ID}, init, livePart(200*time.Millisecond, "x"), true)
	}
	v, _ = l.View()
	if len(v.Segments) != liveKeepDone || v.Segments[0].Seq != 20-liveKeepDone {
		t.Fatalf("kept segments %d from %d", len(v.Segments), v.Segments[0].Seq)
	}
	if _, ok := l.Part(7<<10 + 1); ok {
		t.Fatal("a pruned part is still served")
	}

	// Unwatched, complete segments let their parts go at once; the one in
	// progress keeps them.
	l.wanted.Store(time.Now().Add(-2 * liveWatched).UnixNano())
	l.AddPart(LiveSegment{Seq: 20, InitID: init.ID}, init, livePart(200*time.Millisecond, "y"), true)
	l.AddPart(LiveSegment{Seq: 21, InitID: init.ID}, init, livePart(200*time.Millisecond, "z"), false)
	v, _ = l.View()
	if len(v.Segments) != 1 || v.Segments[0].Seq != 21 {
		t.Fatalf("unwatched: %d segments kept", len(v.Segments))
	}
}

// TestLiveWaitOrder: a change wakes Wait's callers oldest first (with one
// processor the runtime runs them in the order they were readied; not so
// under the race detector), and a caller whose context ends leaves the
// queue.
func TestLiveWaitOrder(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	l := newLive(1)
	init := &InitSegment{ID: InitID{1}, Bytes: []byte("init")}
	l.Start(200 * time.Millisecond)
	waiting := func() int {
		l.mu.Lock()
		defer l.mu.Unlock()
		return len(l.waiters)
	}
	// Callers whose context ends leave no waiter behind.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan bool)
	for range 3 {
		go func() { _, ok := l.Wait(ctx, func(v *LiveView) bool { return v.Next > 1<<10 }); done <- ok }()
	}
	for waiting() != 3 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	for range 3 {
		if <-done {
			t.Fatal("Wait reported success for a part never cut")
		}
	}
	if n := waiting(); n != 0 {
		t.Fatalf("%d waiters left after their contexts ended", n)
	}

	const n = 50
	order := make(chan int, n)
	for i := range n {
		go func() {
			l.Wait(context.Background(), func(v *LiveView) bool { return v.Next > 1<<10 })
			order <- i
		}()
		for waiting() != i+1 {
			time.Sleep(100 * time.Microsecond)
		}
	}
	l.AddPart(LiveSegment{Seq: 1, InitID: init.ID}, init, livePart(200*time.Millisecond, "a"), false)
	for want := range n {
		// The race detector runs readied goroutines in random order.
		if got := <-order; got != want && !raceEnabled {
			t.Fatalf("waiter %d answered in place %d: not in arrival order", got, want)
		}
	}
	if n := waiting(); n != 0 {
		t.Fatalf("%d waiters left after the change", n)
	}
}
