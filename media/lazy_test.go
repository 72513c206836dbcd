package media

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
	"time"
)

var t0 = time.Unix(1_800_000_000, 0)

// lazyReader returns a lazy reader of a video+audio hub.
func lazyReader(t *testing.T, queue int) (*Hub, *Reader) {
	t.Helper()
	h := videoAudioHub(queue)
	r, err := h.NewFirstReader()
	if err != nil {
		t.Fatal(err)
	}
	r.SetLazy(true)
	return h, r
}

func signals(h *Hub, r *Reader) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return r.signals
}

// batchAsync runs one ReadBatch in a goroutine and returns once it
// waits for a wake-up.
func batchAsync(ctx context.Context, r *Reader) <-chan batchResult {
	ch := make(chan batchResult, 1)
	w := r.waits.Load()
	go func() {
		aus, err := r.ReadBatch(ctx, nil)
		ch <- batchResult{aus, err}
	}()
	for r.lazy.Load() && r.waits.Load() == w {
		time.Sleep(time.Millisecond)
	}
	return ch
}

type batchResult struct {
	aus []*AccessUnit
	err error
}

// notReturned checks that a blocked ReadBatch stays blocked for a while.
func notReturned(t *testing.T, ch <-chan batchResult, why string) {
	t.Helper()
	select {
	case b := <-ch:
		t.Fatalf("%s: ReadBatch returned %d units, %v; want it still waiting", why, len(b.aus), b.err)
	case <-time.After(50 * time.Millisecond):
	}
}

func returned(t *testing.T, ch <-chan batchResult, why string) batchResult {
	t.Helper()
	select {
	case b := <-ch:
		return b
	case <-time.After(5 * time.Second):
		t.Fatalf("%s: ReadBatch still waiting", why)
		return batchResult{}
	}
}

// video and audio make units arriving at t0+ms.
func video(pts int64, key bool, ms int) *AccessUnit {
	return &AccessUnit{Track: 0, PTS: pts, DTS: pts, Key: key, Arrival: t0.Add(time.Duration(ms) * time.Millisecond)}
}

func audio(pts int64, ms int) *AccessUnit {
	return &AccessUnit{Track: 1, PTS: pts, DTS: pts, Key: true, Arrival: t0.Add(time.Duration(ms) * time.Millisecond)}
}

// TestLazyReaderWokenOnlyForWork: a lazy reader blocked in ReadBatch is
// not woken by non-key video or audio units (no signal is even sent), and
// is woken by the next keyframe with every unit since, in order.
func TestLazyReaderWokenOnlyForWork(t *testing.T) {
	h, r := lazyReader(t, 1024)
	ctx := t.Context()
	ch := batchAsync(ctx, r)
	var want []*AccessUnit
	for i := range 5 { // 200 ms of units: 5 frames at 40 ms, 2 audio each
		for _, au := range []*AccessUnit{video(int64(i)*3600, false, i*40), audio(int64(i)*1920, i*40), audio(int64(i)*1920+960, i*40+20)} {
			h.Publish(au)
			want = append(want, au)
		}
	}
	notReturned(t, ch, "15 non-key units in 200 ms")
	if n := signals(h, r); n != 0 {
		t.Fatalf("%d wake-ups for non-key units, want 0", n)
	}
	key := video(5*3600, true, 210)
	h.Publish(key)
	want = append(want, key)
	b := returned(t, ch, "keyframe")
	if b.err != nil {
		t.Fatal(b.err)
	}
	if len(b.aus) != len(want) {
		t.Fatalf("batch of %d units, want %d", len(b.aus), len(want))
	}
	for i := range want {
		if b.aus[i] != want[i] {
			t.Fatalf("unit %d out of order", i)
		}
	}
	if n := signals(h, r); n != 1 {
		t.Fatalf("%d wake-ups, want 1 (the keyframe)", n)
	}
}

// TestLazyReaderWakeUps: each reason to wake a lazy reader wakes it.
func TestLazyReaderWakeUps(t *testing.T) {
	for _, tc := range []struct {
		name    string
		queue   int
		publish func(h *Hub, r *Reader) // the units that must wake it
	}{
		{"FragmentEnd", 1024, func(h *Hub, _ *Reader) {
			h.Publish(video(0, false, 0))
			au := audio(0, 10)
			au.FragmentEnd = true
			h.Publish(au)
		}},
		{"250ms", 1024, func(h *Hub, _ *Reader) {
			for ms := 0; ms <= 250; ms += 10 {
				h.Publish(audio(int64(ms)*48, ms))
			}
		}},
		{"HalfQueue", 64, func(h *Hub, _ *Reader) {
			for i := range 33 {
				h.Publish(audio(int64(i)*960, 0))
			}
		}},
		{"Eager", 1024, func(h *Hub, r *Reader) {
			r.SetEager(true)
			h.Publish(audio(0, 0))
		}},
		{"Close", 1024, func(h *Hub, _ *Reader) {
			h.Publish(audio(0, 0))
			h.Close()
		}},
		{"End", 1024, func(h *Hub, _ *Reader) {
			h.Publish(audio(0, 0))
			h.End(errors.New("stream deleted"))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, r := lazyReader(t, tc.queue)
			ch := batchAsync(t.Context(), r)
			// One unit short of the reason, then the reason.
			h.Publish(audio(0, 0))
			notReturned(t, ch, "one audio unit")
			tc.publish(h, r)
			b := returned(t, ch, tc.name)
			if b.err != nil || len(b.aus) < 2 || b.aus[0].Arrival != t0 {
				t.Fatalf("batch: %d units, %v", len(b.aus), b.err)
			}
			if tc.name == "Close" || tc.name == "End" {
				// EOF once the queue is drained, at once.
				if aus, err := r.ReadBatch(t.Context(), b.aus); err != io.EOF || len(aus) != 0 {
					t.Fatalf("after the end: %d units, %v; want EOF", len(aus), err)
				}
			}
		})
	}
}

// TestLazyReaderCloseWakes: a reader closed while it waits gets io.EOF.
func TestLazyReaderCloseWakes(t *testing.T) {
	h, r := lazyReader(t, 64)
	h.Publish(audio(0, 0))
	if aus, err := r.ReadBatch(t.Context(), nil); err != nil || len(aus) != 1 {
		t.Fatalf("%d units, %v", len(aus), err)
	}
	ch := batchAsync(t.Context(), r)
	notReturned(t, ch, "nothing published")
	r.Close()
	if b := returned(t, ch, "Close"); b.err != io.EOF {
		t.Fatalf("after Close: %v, want EOF", b.err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	_, r2 := lazyReader(t, 64)
	if _, err := r2.ReadBatch(ctx, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("idle: %v, want the context's error", err)
	}
}

// TestLazyReaderOverflow: a lazy reader that does not read is dropped with
// ErrOverflow and counted, like any reader; the publisher never waits.
func TestLazyReaderOverflow(t *testing.T) {
	h, r := lazyReader(t, 16)
	for i := range 17 {
		h.Publish(audio(int64(i)*960, 0))
	}
	if _, err := r.ReadBatch(t.Context(), nil); !errors.Is(err, ErrOverflow) {
		t.Fatalf("ReadBatch: %v, want ErrOverflow", err)
	}
	if h.Dropped() != 1 || h.Readers() != 0 {
		t.Fatalf("dropped %d, attached %d; want 1 and 0", h.Dropped(), h.Readers())
	}
}

// TestLazyReaderInOrder: a lazy reader reading in batches while the
// publisher runs gets every unit in order, each batch ending at a wake-up
// reason or with the queue drained; a short batch buffer takes no more
// than its capacity.
func TestLazyReaderInOrder(t *testing.T) {
	const n = 20000
	h, r := lazyReader(t, 256)
	got := make(chan error, 1)
	go func() {
		next := int64(0)
		buf := make([]*AccessUnit, 0, 7)
		for {
			var err error
			buf, err = r.ReadBatch(context.Background(), buf)
			if len(buf) > 7 {
				got <- errors.New("batch longer than its buffer")
				return
			}
			for _, au := range buf {
				if au.PTS != next {
					got <- errors.New("unit out of order or missing")
					return
				}
				next++
			}
			if err == io.EOF && next == n {
				got <- nil
				return
			}
			if err != nil {
				got <- err
				return
			}
		}
	}()
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range n {
		au := &AccessUnit{Track: rng.IntN(2), PTS: int64(i), Key: rng.IntN(50) == 0, Arrival: t0.Add(time.Duration(i) * 13 * time.Millisecond)}
		au.FragmentEnd = rng.IntN(100) == 0
		h.Publish(au)
		if i%64 == 0 {
			time.Sleep(time.Millisecond) // let the reader keep up
		}
	}
	h.Close()
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("reader did not finish")
	}
	if h.Dropped() != 0 {
		t.Fatalf("%d readers dropped", h.Dropped())
	}
	// Keyframes (1 in 50), fragment ends (1 in 100) and 250 ms of
	// arrivals (1 in 20 units) wake it: far fewer than one per unit.
	if s := signals(h, r); s > n/8 {
		t.Fatalf("%d wake-ups for %d units", s, n)
	}
}

// TestReadBatchNotLazy: on a reader not made lazy, ReadBatch returns as
// soon as a unit is queued, as Read does.
func TestReadBatchNotLazy(t *testing.T) {
	h := videoAudioHub(64)
	r, _ := h.NewFirstReader()
	ch := batchAsync(t.Context(), r)
	h.Publish(audio(0, 0))
	if b := returned(t, ch, "one unit"); b.err != nil || len(b.aus) != 1 {
		t.Fatalf("%d units, %v", len(b.aus), b.err)
	}
	if n := signals(h, r); n != 0 {
		t.Fatalf("%d lazy signals for an ordinary reader", n)
	}
}

// TestLazyReaderAudioOnly: in an audio-only publication every unit is a
// "keyframe"; a lazy reader is woken every 250 ms of arrivals, not per unit.
func TestLazyReaderAudioOnly(t *testing.T) {
	h := &Hub{Tracks: []Track{{ID: 0, Kind: Audio, Codec: "AAC", ClockRate: 48000}}}
	r, _ := h.NewFirstReader()
	r.SetLazy(true)
	for ms := 0; ms < 1000; ms += 20 {
		h.Publish(&AccessUnit{Track: 0, PTS: int64(ms) * 48, Key: true, Arrival: t0.Add(time.Duration(ms) * time.Millisecond)})
	}
	if n := signals(h, r); n != 3 { // at 260, 520 and 780 ms
		t.Fatalf("%d wake-ups for 50 audio units in 1 s, want 3", n)
	}
	aus, err := r.ReadBatch(t.Context(), nil)
	if err != nil || len(aus) != 50 {
		t.Fatalf("%d units, %v; want 50", len(aus), err)
	}
}

// TestSetLazyFalseWakesWaiter: a ReadBatch waiting for a lazy wake-up
// when its reader stops being lazy reads unit by unit from then on.
func TestSetLazyFalseWakesWaiter(t *testing.T) {
	h, r := lazyReader(t, 64)
	ch := batchAsync(t.Context(), r)
	notReturned(t, ch, "nothing published")
	r.SetLazy(false)
	h.Publish(audio(0, 0)) // a lazy reader would not be woken for it yet
	if b := returned(t, ch, "a unit after SetLazy(false)"); b.err != nil || len(b.aus) != 1 {
		t.Fatalf("%d units, %v", len(b.aus), b.err)
	}
}

// TestReadBatchCancelReturnsQueued: units queued without a wake-up are
// returned with the context's error, not left behind.
func TestReadBatchCancelReturnsQueued(t *testing.T) {
	h, r := lazyReader(t, 64)
	h.Publish(video(0, true, 0))
	if aus, err := r.ReadBatch(t.Context(), nil); err != nil || len(aus) != 1 {
		t.Fatalf("%d units, %v", len(aus), err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	ch := batchAsync(ctx, r)
	notReturned(t, ch, "nothing published")
	h.Publish(video(40, false, 40)) // no wake-up for a non-key unit
	h.Publish(audio(40, 40))
	notReturned(t, ch, "two units without a wake-up")
	cancel()
	b := returned(t, ch, "the context's end")
	if !errors.Is(b.err, context.Canceled) || len(b.aus) != 2 {
		t.Fatalf("%d units, %v; want the 2 queued with context.Canceled", len(b.aus), b.err)
	}
}
