package media

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"
)

func videoAudioHub(queue int) *Hub {
	return &Hub{QueueSize: queue, Tracks: []Track{
		{ID: 0, Kind: Video, Codec: "H264", ClockRate: 90000},
		{ID: 1, Kind: Audio, Codec: "AAC", ClockRate: 48000},
	}}
}

// publishGOP publishes one keyframe and n-1 more video frames, each
// followed by an audio frame; pts continues from start.
func publishGOP(h *Hub, start, n int) int {
	for i := 0; i < n; i++ {
		pts := int64(start+i) * 3000
		h.Publish(&AccessUnit{Track: 0, PTS: pts, DTS: pts, Key: i == 0, Payload: [][]byte{{byte(start + i)}}})
		h.Publish(&AccessUnit{Track: 1, PTS: pts, DTS: pts, Key: true})
	}
	return start + n
}

func read(t *testing.T, r *Reader) *AccessUnit {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	au, err := r.Read(ctx)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	return au
}

func TestHubFanOutInOrder(t *testing.T) {
	h := videoAudioHub(1024)
	var readers []*Reader
	for i := 0; i < 3; i++ {
		r, err := h.NewReader()
		if err != nil {
			t.Fatal(err)
		}
		readers = append(readers, r)
	}
	// Readers that joined before any keyframe wait for one: the leading
	// non-key frames are not delivered.
	h.Publish(&AccessUnit{Track: 0, PTS: -3000, Payload: [][]byte{{0xff}}})
	publishGOP(h, 0, 10)
	for _, r := range readers {
		for i := 0; i < 10; i++ {
			v, a := read(t, r), read(t, r)
			if v.Track != 0 || v.PTS != int64(i)*3000 || v.Key != (i == 0) || a.Track != 1 {
				t.Fatalf("unit %d: video %+v audio %+v", i, v, a)
			}
		}
	}
	if h.Units() != 21 || h.Readers() != 3 {
		t.Fatalf("units %d readers %d", h.Units(), h.Readers())
	}
}

func TestHubNewReaderStartsAtLastKeyframe(t *testing.T) {
	h := videoAudioHub(1024)
	next := publishGOP(h, 0, 5)
	next = publishGOP(h, next, 4) // the last GOP: frames 5..8
	r, err := h.NewReader()
	if err != nil {
		t.Fatal(err)
	}
	first := read(t, r)
	if !first.Key || first.PTS != 5*3000 {
		t.Fatalf("a new reader starts with %+v, want the keyframe at frame 5", first)
	}
	for i := 0; i < 7; i++ { // the rest of the replayed GOP
		read(t, r)
	}
	publishGOP(h, next, 1)
	if au := read(t, r); au.PTS != int64(next)*3000 || !au.Key {
		t.Fatalf("after the replay the reader gets live units, got %+v", au)
	}
}

func TestHubLongGOPMakesNewReadersWaitForKeyframe(t *testing.T) {
	h := videoAudioHub(8)
	next := publishGOP(h, 0, 20) // 40 units: longer than a queue of 8
	r, err := h.NewReader()
	if err != nil {
		t.Fatal(err)
	}
	h.Publish(&AccessUnit{Track: 0, PTS: 1, Payload: [][]byte{{1}}}) // not a keyframe: skipped
	publishGOP(h, next, 2)
	if au := read(t, r); !au.Key || au.PTS != int64(next)*3000 {
		t.Fatalf("reader starts with %+v, want the next keyframe", au)
	}
}

func TestHubSlowReaderIsDroppedNotWaitedFor(t *testing.T) {
	h := videoAudioHub(16)
	stalled, _ := h.NewReader()
	live, _ := h.NewReader()
	done := make(chan error, 1)
	go func() {
		// The live reader keeps up (it reads each GOP right after it is
		// published); the stalled one never reads. If Publish waited for
		// a reader, this loop would hang.
		next := 0
		for i := 0; i < 500; i++ {
			next = publishGOP(h, next, 1)
			for k := 0; k < 2; k++ {
				au, err := live.Read(context.Background())
				if err != nil {
					done <- err
					return
				}
				if au.PTS != int64(next-1)*3000 {
					done <- fmt.Errorf("live reader got pts %d at frame %d", au.PTS, next-1)
					return
				}
			}
		}
		done <- nil
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the publisher blocked on a stalled reader")
	}
	if _, err := stalled.Read(context.Background()); !errors.Is(err, ErrOverflow) {
		t.Fatalf("stalled reader: %v, want ErrOverflow", err)
	}
	if h.Dropped() != 1 || h.Readers() != 1 {
		t.Fatalf("dropped %d, attached %d; want 1 and 1", h.Dropped(), h.Readers())
	}
}

func TestHubCloseDrainsThenEOF(t *testing.T) {
	h := videoAudioHub(64)
	r, _ := h.NewReader()
	publishGOP(h, 0, 3)
	h.Close()
	for i := 0; i < 6; i++ {
		read(t, r)
	}
	if _, err := r.Read(context.Background()); err != io.EOF {
		t.Fatalf("after the queue: %v, want EOF", err)
	}
	if _, err := h.NewReader(); !errors.Is(err, ErrHubClosed) {
		t.Fatalf("NewReader after Close: %v", err)
	}
	h.Publish(&AccessUnit{Track: 0, Key: true}) // harmless
}

func TestHubReaderCloseAndContext(t *testing.T) {
	h := videoAudioHub(64)
	r, _ := h.NewReader()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := r.Read(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Read on an idle hub: %v", err)
	}
	r.Close()
	if h.Readers() != 0 {
		t.Fatal("closed reader still attached")
	}
	if _, err := r.Read(context.Background()); err != io.EOF {
		t.Fatalf("Read after Close: %v", err)
	}
}

func TestHubAudioOnly(t *testing.T) {
	h := &Hub{Tracks: []Track{{ID: 0, Kind: Audio, Codec: "Opus", ClockRate: 48000}}}
	h.Publish(&AccessUnit{Track: 0, PTS: 0, Key: true})
	r, _ := h.NewReader()
	h.Publish(&AccessUnit{Track: 0, PTS: 960, Key: true})
	if au := read(t, r); au.PTS != 960 {
		t.Fatalf("audio-only reader starts at %d, want the next unit", au.PTS)
	}
}

// TestHubConcurrent: readers come and go while the publisher runs; every
// reader sees a gap-free, ordered sequence from a keyframe on.
func TestHubConcurrent(t *testing.T) {
	h := videoAudioHub(256)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	stop := make(chan struct{})
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				r, err := h.NewReader()
				if err != nil {
					return
				}
				var last int64 = -1
				for k := 0; k < 200; k++ {
					au, err := r.Read(context.Background())
					if err != nil {
						break
					}
					if au.Track != 0 {
						continue
					}
					if last < 0 && !au.Key {
						errs <- fmt.Errorf("reader started on a non-key frame %d", au.PTS)
					}
					if last >= 0 && au.PTS != last+3000 {
						errs <- fmt.Errorf("gap: %d after %d", au.PTS, last)
					}
					last = au.PTS
				}
				r.Close()
			}
		}()
	}
	next := 0
	for i := 0; i < 400; i++ {
		next = publishGOP(h, next, 10)
	}
	close(stop)
	h.Close()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// BenchmarkHubPublish100Readers measures fan-out cost per published unit
// with 100 attached readers that keep up.
func BenchmarkHubPublish100Readers(b *testing.B) {
	h := videoAudioHub(4096)
	var wg sync.WaitGroup
	for i := 0; i < 100; i++ {
		r, _ := h.NewReader()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				if _, err := r.Read(context.Background()); err != nil {
					return
				}
			}
		}()
	}
	au := &AccessUnit{Track: 1, Key: true}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		h.Publish(au)
	}
	b.StopTimer()
	h.Close()
	wg.Wait()
	if h.Dropped() > 0 {
		b.Logf("%d readers fell behind", h.Dropped())
	}
}

// BenchmarkHubPublish publishes units (a keyframe every 50) to four
// readers that drain their queues.
func BenchmarkHubPublish(b *testing.B) {
	h := &Hub{Tracks: []Track{{ID: 0, Kind: Video}, {ID: 1, Kind: Audio}}}
	var wg sync.WaitGroup
	for range 4 {
		r, err := h.NewReader()
		if err != nil {
			b.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				if _, err := r.Read(context.Background()); err != nil {
					return
				}
			}
		}()
	}
	aus := make([]*AccessUnit, 100)
	for i := range aus {
		aus[i] = &AccessUnit{Track: i % 2, Key: i%100 == 0 || i%2 == 1, Payload: [][]byte{{1}}}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		h.Publish(aus[i%len(aus)])
	}
	b.StopTimer()
	h.Close()
	wg.Wait()
}

// TestHubQueueSpillsInOrder: a queue longer than the reader's channel
// (readerChan) keeps its units in order across the channel and the spill,
// whether read one by one, in batches or both while more arrive; a GOP
// longer than the channel is replayed whole to a new reader; the queue
// still holds QueueSize units and no more; a reader caught up gets the
// channel back (nothing left spilled).
func TestHubQueueSpillsInOrder(t *testing.T) {
	const queue = 3 * readerChan
	h := videoAudioHub(queue)
	r, err := h.NewReader()
	if err != nil {
		t.Fatal(err)
	}
	want := int64(0)
	check := func(au *AccessUnit) {
		t.Helper()
		if au.Track != 0 {
			return
		}
		if au.PTS != want*3000 {
			t.Fatalf("video unit with PTS %d, want %d", au.PTS, want*3000)
		}
		want++
	}
	next := publishGOP(h, 0, readerChan) // 2 × readerChan units: half spilled
	if !r.spilled.Load() {
		t.Fatal("nothing spilled with the channel full")
	}
	for range readerChan / 2 { // some read while more come
		check(read(t, r))
	}
	next = publishGOP(h, next, readerChan/4)
	batch, err := r.ReadBatch(context.Background(), make([]*AccessUnit, 0, readerChan))
	if err != nil || len(batch) != readerChan {
		t.Fatalf("ReadBatch: %d units, %v", len(batch), err)
	}
	for _, au := range batch {
		check(au)
	}
	for r.spilled.Load() || len(r.ch) > 0 {
		check(read(t, r))
	}
	if want != int64(next) {
		t.Fatalf("read %d video units of %d", want, next)
	}
	if r.spill != nil || r.spillHead != 0 {
		t.Fatalf("caught up, the spill is kept: %d/%d", r.spillHead, len(r.spill))
	}

	// A new reader replays the GOP so far, longer than a channel.
	next = publishGOP(h, next, readerChan)
	r2, err := h.NewReader()
	if err != nil {
		t.Fatal(err)
	}
	if r2.Backlog() != 2*readerChan {
		t.Fatalf("backlog %d, want %d", r2.Backlog(), 2*readerChan)
	}
	batch, err = r2.ReadBatch(context.Background(), nil)
	if err != nil || len(batch) != 2*readerChan || batch[0].PTS != int64(next-readerChan)*3000 || !batch[0].Key ||
		batch[len(batch)-1].Track != 1 || batch[len(batch)-2].PTS != int64(next-1)*3000 {
		t.Fatalf("replay: %d units, %v", len(batch), err)
	}

	// r holds the same GOP: QueueSize units fit, one more drops it.
	for range (queue - 2*readerChan) / 2 {
		next = publishGOP(h, next, 1)
	}
	if _, err := r2.ReadBatch(context.Background(), nil); err != nil { // r2 keeps up
		t.Fatal(err)
	}
	select {
	case <-r.done:
		t.Fatalf("dropped with %d units queued of %d", queue, queue)
	default:
	}
	h.Publish(&AccessUnit{Track: 1})
	if _, err := r.Read(context.Background()); !errors.Is(err, ErrOverflow) {
		t.Fatalf("one unit over the queue: %v, want ErrOverflow", err)
	}
}

// TestHubSpillConcurrent: a publisher and a reader at once, the reader
// pausing so that its queue spills and drains again and again (run with
// -race): every unit arrives, in order.
func TestHubSpillConcurrent(t *testing.T) {
	h := videoAudioHub(8 * readerChan)
	r, err := h.NewReader()
	if err != nil {
		t.Fatal(err)
	}
	const gops, per = 40, 25
	done := make(chan struct{})
	go func() {
		defer close(done)
		next := 0
		for range gops {
			next = publishGOP(h, next, per)
			time.Sleep(time.Millisecond)
		}
		h.Close()
	}()
	want, spills := int64(0), 0
	batch := make([]*AccessUnit, 0, 100)
	for i := 0; ; i++ {
		var err error
		if i%2 == 0 {
			var au *AccessUnit
			batch = batch[:0]
			if au, err = r.Read(context.Background()); err == nil {
				batch = append(batch, au)
			}
		} else {
			batch, err = r.ReadBatch(context.Background(), batch)
		}
		for _, au := range batch {
			if au.Track == 0 {
				if au.PTS != want*3000 {
					t.Fatalf("video PTS %d, want %d", au.PTS, want*3000)
				}
				want++
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if i%50 == 0 {
			time.Sleep(15 * time.Millisecond) // fall behind: spill
			if r.spilled.Load() {
				spills++
			}
		}
	}
	<-done
	if spills == 0 {
		t.Error("the queue never spilled")
	}
	if want != gops*per {
		t.Fatalf("read %d video units of %d", want, gops*per)
	}
}

// TestReaderOnly: a reader that asked for some tracks is queued only
// their units from then on (what was queued stays); it still starts at a
// keyframe; the other readers get every unit.
func TestReaderOnly(t *testing.T) {
	h := videoAudioHub(1024)
	all, err := h.NewReader()
	if err != nil {
		t.Fatal(err)
	}
	r, err := h.NewReader()
	if err != nil {
		t.Fatal(err)
	}
	next := publishGOP(h, 0, 2) // queued for r before Only: 4 units
	r.Only(0)
	next = publishGOP(h, next, 3)
	h.Close()
	count := func(r *Reader) (video, audio int) {
		for {
			au, err := r.Read(context.Background())
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if au.Track == 0 {
				video++
			} else {
				audio++
			}
		}
	}
	if v, a := count(r); v != next || a != 2 {
		t.Errorf("video only after 2 GOP frames: %d video, %d audio units; want %d and 2", v, a, next)
	}
	if v, a := count(all); v != next || a != next {
		t.Errorf("the other reader: %d video, %d audio units; want %d each", v, a, next)
	}
}

// TestHubAfterEnd: functions registered with AfterEnd run once End is
// called (at once when it was), not after their stop, nor for Close alone.
func TestHubAfterEnd(t *testing.T) {
	h := videoAudioHub(16)
	ran := make(chan string, 4)
	h.AfterEnd(func() { ran <- "a" })
	stopB := h.AfterEnd(func() { ran <- "b" })
	if !stopB() || stopB() {
		t.Fatal("stop: want true once, then false")
	}
	h.End(errors.New("deleted"))
	h.End(errors.New("again")) // once
	if got := <-ran; got != "a" {
		t.Fatalf("ran %q", got)
	}
	h.AfterEnd(func() { ran <- "c" }) // after End: at once
	if got := <-ran; got != "c" {
		t.Fatalf("ran %q", got)
	}
	select {
	case got := <-ran:
		t.Fatalf("also ran %q", got)
	case <-time.After(50 * time.Millisecond):
	}

	closed := videoAudioHub(16)
	stop := closed.AfterEnd(func() { ran <- "closed" })
	closed.Close()
	if !stop() {
		t.Fatal("a hub closed by its publisher (not ended) ran the end watch")
	}
}
