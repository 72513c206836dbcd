package media

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TrackKind is what a track carries.
type TrackKind int

// Track kinds.
const (
	Video TrackKind = iota
	Audio
)

// Track describes one elementary stream of a publication. Codec names are
// the protocol adapters' (H264, H265, AAC, Opus, G711, ...); Config holds
// the codec configuration (SPS/PPS/VPS, AudioSpecificConfig) when known.
type Track struct {
	ID        int
	Kind      TrackKind
	Codec     string
	ClockRate int // media time units per second
	Config    [][]byte
}

// AccessUnit is one decodable unit of one track: a video frame (its NAL
// units) or an audio frame. It is shared by every reader and must not be
// modified after Publish.
type AccessUnit struct {
	Track int
	PTS   int64 // presentation time, in the track's clock rate
	DTS   int64 // decode time, in the track's clock rate
	// Key marks a unit a decoder can start from (an IDR / IRAP picture).
	Key bool
	// NTP is the producer's wall clock for this unit (RTCP sender
	// reports), zero when unknown; Arrival is when the server got it.
	NTP     time.Time
	Arrival time.Time
	Payload [][]byte
	// FragmentEnd, set by a publisher that cuts its own fragments (PutMedia: one per MKV Cluster), marks
	// the last unit of a fragment: the recorder cuts the fragment right after it (not waiting for the next
	// unit) and, when Stored is set, calls it once with the stored fragment's sequence number, or with
	// the error that kept the fragment from being stored.
	FragmentEnd bool
	Stored      func(seq uint64, err error)
}

// Errors a Reader returns.
var (
	// ErrOverflow ends a reader that fell QueueSize units behind: the
	// publisher never waits for a reader.
	ErrOverflow = errors.New("media: reader fell too far behind and was dropped")
	// ErrHubClosed is returned by NewReader after the publisher left.
	ErrHubClosed = errors.New("media: publication ended")
)

// Hub fans one publication out to readers. Publish never blocks: each
// reader has a bounded queue, and a reader whose queue is full is dropped
// (ErrOverflow) and counted. A new reader starts at the last keyframe of
// the first video track (the units since then are replayed to it), so a
// decoder can start at once; with no video track it starts at the next unit.
//
// Set the exported fields before the first call; the zero value of
// QueueSize means 1024 units.
type Hub struct {
	Tracks    []Track
	QueueSize int
	// Protocol is what the publisher speaks ("rtsp", "whip", ...; see
	// Registry.PublishFrom), for the publication's series.
	Protocol string
	// CutsFragments is set for a publisher that cuts its own fragments
	// (Registry.PublishCutting): it marks the last unit of each one with
	// AccessUnit.FragmentEnd, and a recorder cuts there only, never at the
	// keyframes inside.
	CutsFragments bool

	mu sync.Mutex
	// readers, in attach order: a slice, not a map, as Publish walks it
	// for every unit.
	readers []*Reader
	kt      int // the first video track's ID, when hasKT
	hasKT   bool
	ktOnce  bool          // kt and hasKT are set
	gop     []*AccessUnit // units since the last video keyframe
	gopOK   bool          // gop starts at a keyframe and fits a reader's queue
	closed  bool
	ended   chan struct{} // closed by End (made on first use)
	endErr  error
	// onEnd are the functions AfterEnd registered, by registration number
	// (nil once End ran them).
	onEnd   map[uint64]func()
	onEndID uint64
	dropped atomic.Int64
	units   atomic.Int64
	// inFrames and inBytes count the published units (nil: not counted).
	inFrames, inBytes prometheus.Counter
}

func (h *Hub) queueSize() int {
	if h.QueueSize <= 0 {
		return 1024
	}
	return h.QueueSize
}

// keyTrack returns the first video track's ID (h.mu held): Tracks is set
// before the first call and not changed after.
func (h *Hub) keyTrack() (int, bool) {
	if !h.ktOnce {
		for _, t := range h.Tracks {
			if t.Kind == Video {
				h.kt, h.hasKT = t.ID, true
				break
			}
		}
		h.ktOnce = true
	}
	return h.kt, h.hasKT
}

// removeLocked detaches r (h.mu held).
func (h *Hub) removeLocked(r *Reader) {
	for i, x := range h.readers {
		if x == r {
			last := len(h.readers) - 1
			copy(h.readers[i:], h.readers[i+1:])
			h.readers[last] = nil
			h.readers = h.readers[:last]
			return
		}
	}
}

// Publish hands au to every reader without waiting for any of them.
func (h *Hub) Publish(au *AccessUnit) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	h.units.Add(1)
	h.countUnit(au)
	if kt, ok := h.keyTrack(); ok {
		switch {
		case au.Track == kt && au.Key:
			clear(h.gop)
			h.gop = append(h.gop[:0], au)
			h.gopOK = true
		case h.gopOK && len(h.gop) < h.queueSize():
			h.gop = append(h.gop, au)
		default:
			// A GOP longer than a reader's queue cannot be replayed whole;
			// new readers wait for the next keyframe instead.
			h.gopOK = false
			clear(h.gop)
			h.gop = h.gop[:0]
		}
	}
	var now time.Time // for lazy readers, when au has no arrival time
	kept := h.readers[:0]
	for _, r := range h.readers {
		if !r.waiting || (au.Track == r.keyTrack && au.Key) {
			r.waiting = false
			if !r.skips(au.Track) {
				if !h.deliverLocked(r, au) {
					continue
				}
				if r.lazy.Load() {
					if au.Arrival.IsZero() && now.IsZero() {
						now = time.Now()
					}
					r.signalLocked(au, now)
				}
			}
		}
		kept = append(kept, r)
	}
	clear(h.readers[len(kept):])
	h.readers = kept
}

// deliverLocked queues au for r, or ends r with ErrOverflow when its queue
// is full and returns false: then the caller detaches r.
func (h *Hub) deliverLocked(r *Reader, au *AccessUnit) bool {
	if r.queueLocked(au) {
		return true
	}
	r.end(ErrOverflow)
	h.dropped.Add(1)
	return false
}

// readerChan is the most units a reader's channel holds; the rest of its
// queue (up to QueueSize) waits in its spill. A reader keeping up (a
// recorder between wake-ups holds ~20) never spills, and the channel,
// allocated whole when the reader is made, is 2 KiB where a whole
// 4096-unit queue was 32 KiB for every recorded stream and every viewer.
const readerChan = 256

// queueLocked appends au to r's queue, false when it is full (hub.mu
// held). The channel is used while nothing is spilled; then units go to
// the spill until the reader has taken all of it, so that it reads them
// in order: the channel's first, then the spill's.
func (r *Reader) queueLocked(au *AccessUnit) bool {
	if len(r.spill) == 0 {
		select {
		case r.ch <- au:
			return true
		default:
		}
	}
	if len(r.ch)+len(r.spill)-r.spillHead >= r.max {
		return false
	}
	r.spill = append(r.spill, au)
	r.spilled.Store(true)
	return true
}

// queued is how many units wait in r's queue (hub.mu held).
func (r *Reader) queuedLocked() int { return len(r.ch) + len(r.spill) - r.spillHead }

// unspill appends up to n spilled units to dst: called with the channel
// found empty.
func (r *Reader) unspill(dst []*AccessUnit, n int) []*AccessUnit {
	if !r.spilled.Load() {
		return dst
	}
	h := r.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	for ; n > 0 && r.spillHead < len(r.spill); n-- {
		dst = append(dst, r.spill[r.spillHead])
		r.spill[r.spillHead] = nil
		r.spillHead++
	}
	if r.spillHead == len(r.spill) { // all taken: the channel again
		r.spill, r.spillHead = nil, 0
		r.spilled.Store(false)
	}
	return dst
}

// next takes the next queued unit without waiting (nil: none).
func (r *Reader) next() *AccessUnit {
	select {
	case au := <-r.ch:
		return au
	default:
	}
	var one [1]*AccessUnit
	if got := r.unspill(one[:0], 1); len(got) == 1 {
		return got[0]
	}
	return nil
}

// LazyWakeInterval is the most arrival time a lazy reader's queue holds
// unsignalled (Reader.SetLazy): enough for a recorder to cut an
// audio-only publication or a MaxDuration fragment on time.
const LazyWakeInterval = 250 * time.Millisecond

// signalLocked wakes lazy reader r, just handed au, when it has work:
// see Reader.SetLazy (hub.mu held). now stands for au.Arrival when that
// is unknown.
func (r *Reader) signalLocked(au *AccessUnit, now time.Time) {
	at := au.Arrival
	if at.IsZero() {
		at = now
	}
	if r.lastSignal.IsZero() {
		// The interval counts from the first unit queued.
		r.lastSignal = at
	}
	key := r.hasKeyTrack && au.Track == r.keyTrack && au.Key
	if !r.eager.Load() && !key && !au.FragmentEnd &&
		at.Sub(r.lastSignal) < LazyWakeInterval && r.queuedLocked() <= r.max/2 {
		return
	}
	r.lastSignal = at
	r.signals++
	select {
	case r.wake <- struct{}{}:
	default: // a wake-up is already pending
	}
}

// NewReader returns a reader positioned at the last keyframe.
func (h *Hub) NewReader() (*Reader, error) { return h.newReader(false) }

// NewFirstReader is NewReader for a reader attached before the first
// unit is published (in OnPublish) that must see every unit, not only
// those from the first keyframe: the recorder, which answers every
// FragmentEnd mark (AccessUnit.Stored), even one it could not record.
// Once units were published it is NewReader.
func (h *Hub) NewFirstReader() (*Reader, error) { return h.newReader(true) }

func (h *Hub) newReader(first bool) (*Reader, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, ErrHubClosed
	}
	r := &Reader{hub: h, ch: make(chan *AccessUnit, min(h.queueSize(), readerChan)), max: h.queueSize(),
		done: make(chan struct{}), wake: make(chan struct{}, 1)}
	if kt, ok := h.keyTrack(); ok {
		r.keyTrack, r.hasKeyTrack = kt, true
		if h.gopOK {
			for _, au := range h.gop {
				r.queueLocked(au) // fits: the GOP is never longer than the queue
			}
			r.backlog = len(h.gop)
		} else {
			r.waiting = !first || h.units.Load() > 0
		}
	}
	h.readers = append(h.readers, r)
	return r, nil
}

// Close ends the publication: readers get io.EOF after what is queued.
func (h *Hub) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	h.closed = true
	for _, r := range h.readers {
		r.end(io.EOF)
	}
	h.readers = nil
	clear(h.gop)
	h.gop = nil
}

// End ends the publication from the server's side (its stream deleted,
// its recording failed): readers get io.EOF as with Close, and the
// publisher, watching Ended, closes its session, telling its client why.
func (h *Hub) End(err error) {
	h.mu.Lock()
	ch := h.endedLocked()
	var fs map[uint64]func()
	select {
	case <-ch:
	default:
		h.endErr = err
		close(ch)
		fs, h.onEnd = h.onEnd, nil
	}
	h.mu.Unlock()
	for _, f := range fs {
		go f()
	}
	h.Close()
}

// AfterEnd has f run in its own goroutine when the server ends the
// publication (End), at once if it has: a watcher that costs no parked
// goroutine (and its stack) per publication. stop unregisters f; it
// reports whether that kept f from running.
func (h *Hub) AfterEnd(f func()) (stop func() bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	select {
	case <-h.endedLocked():
		go f()
		return func() bool { return false }
	default:
	}
	if h.onEnd == nil {
		h.onEnd = map[uint64]func(){}
	}
	h.onEndID++
	id := h.onEndID
	h.onEnd[id] = f
	return func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		_, ok := h.onEnd[id]
		delete(h.onEnd, id)
		return ok
	}
}

// Ended is closed once the server has ended the publication (End);
// EndErr then says why.
func (h *Hub) Ended() <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.endedLocked()
}

// EndErr is why the server ended the publication (nil until End).
func (h *Hub) EndErr() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.endErr
}

func (h *Hub) endedLocked() chan struct{} {
	if h.ended == nil {
		h.ended = make(chan struct{})
	}
	return h.ended
}

// Readers returns the number of attached readers.
func (h *Hub) Readers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.readers)
}

// Dropped returns how many readers were dropped for falling behind.
func (h *Hub) Dropped() int64 { return h.dropped.Load() }

// Units returns how many access units were published.
func (h *Hub) Units() int64 { return h.units.Load() }

// Reader receives a publication's access units in order.
type Reader struct {
	hub *Hub
	// The queue: ch, then spill[spillHead:] once ch was full (guarded by
	// hub.mu; spilled tells a reader there is some without the lock), max
	// units in all.
	ch        chan *AccessUnit
	spill     []*AccessUnit
	spillHead int
	spilled   atomic.Bool
	max       int
	keyTrack  int
	// hasKeyTrack: keyTrack is the first video track (an audio-only
	// publication has none: its units are all "key").
	hasKeyTrack bool
	waiting     bool // for the next keyframe (guarded by hub.mu)
	// skip has bit i set when the units of track i are not queued (Only;
	// guarded by hub.mu).
	skip    uint64
	backlog int // units replayed from the last keyframe at creation

	// A lazy reader (SetLazy) is signalled on wake only when it has work;
	// lastSignal (au.Arrival of the last signal) and signals (how many
	// were sent, for tests) are guarded by hub.mu.
	lazy       atomic.Bool
	eager      atomic.Bool
	lastSignal time.Time
	signals    int
	wake       chan struct{}
	waits      atomic.Int64 // how many times ReadBatch waited (for tests)

	once sync.Once
	done chan struct{}
	err  error
}

// end stops the reader with err once its queue is drained (hub.mu held).
func (r *Reader) end(err error) {
	r.once.Do(func() {
		r.err = err
		close(r.done)
	})
}

// Read returns the next access unit. After the publication ends it
// returns io.EOF once the queue is drained; a reader dropped for falling
// behind gets ErrOverflow at once (what it missed is gone anyway).
func (r *Reader) Read(ctx context.Context) (*AccessUnit, error) {
	select {
	case <-r.done:
		if r.err == ErrOverflow {
			return nil, r.err
		}
	default:
	}
	// A queued unit needs no three-way select (which locks all three
	// channels): a reader catching up takes its queue this way. Nothing is
	// spilled while the reader waits on the channel: a unit goes to the
	// spill only when the channel is full or the spill is not empty.
	if au := r.next(); au != nil {
		return au, nil
	}
	select {
	case au := <-r.ch:
		return au, nil
	case <-r.done:
		if au := r.next(); au != nil {
			if r.err == ErrOverflow {
				return nil, r.err
			}
			return au, nil
		}
		return nil, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// SetLazy makes r a lazily woken reader, to be read with ReadBatch: the
// hub still queues every unit for it in order, under the same overflow
// rule, but wakes a blocked ReadBatch only when there is work for a
// recorder: a keyframe of the first video track, a unit marked
// FragmentEnd, LazyWakeInterval of arrival time since the last wake-up
// (audio-only and MaxDuration cuts), a queue more than half full, the end
// of the publication or of the reader; and for every unit while r is
// eager (SetEager). A reader woken for each access unit costs its
// publisher a goroutine wake-up per unit (chansend, goready, futex wake
// and the scheduler's findRunnable): about 70 per second per
// recorded 25 fps H.264 + AAC stream, 10–15% of the server's CPU at 10
// recorded streams, where a recorder has work only when it can cut a
// fragment or a part. Read keeps its meaning on a lazy reader (it waits
// for the next unit), but only ReadBatch waits lazily.
func (r *Reader) SetLazy(lazy bool) {
	h := r.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	r.lazy.Store(lazy)
	r.lastSignal = time.Time{}
	if !lazy {
		// A ReadBatch waiting for a wake-up would get none any more.
		select {
		case r.wake <- struct{}{}:
		default:
		}
	}
}

// SetEager makes a lazy reader woken for every unit (true) or only when it
// has work (false): a recorder cutting LL-HLS parts is eager so that
// every part is cut as soon as its units arrived.
func (r *Reader) SetEager(eager bool) {
	if r.eager.Load() != eager {
		r.eager.Store(eager)
	}
}

// ReadBatch appends the units queued for r, in order, to dst[:0] (at most
// cap(dst) of them, or the queue size when cap(dst) is zero) and returns
// it, waiting while none is queued. On a lazy reader (SetLazy) it waits
// for the hub's wake-up rather than for the next unit, so units may stay
// queued until then. Its errors are Read's: io.EOF once the publication
// ended and the queue is drained, ErrOverflow at once for a reader
// dropped for falling behind, or ctx's error (returned with the units
// queued by then: handle them before the error).
func (r *Reader) ReadBatch(ctx context.Context, dst []*AccessUnit) ([]*AccessUnit, error) {
	limit := cap(dst)
	if limit == 0 {
		limit = r.max
	}
	dst = dst[:0]
	for {
		select {
		case <-r.done:
			if r.err == ErrOverflow {
				return dst[:0], r.err
			}
		default:
		}
		dst = r.drain(dst, limit)
		if len(dst) > 0 {
			return dst, nil
		}
		select {
		case <-r.done:
			// Units queued before the end are still to be read.
			if (len(r.ch) > 0 || r.spilled.Load()) && r.err != ErrOverflow {
				continue
			}
			return dst, r.err
		default:
		}
		if !r.lazy.Load() {
			au, err := r.Read(ctx)
			if err != nil {
				return dst, err
			}
			return append(dst, au), nil
		}
		r.waits.Add(1)
		select {
		case <-r.wake:
		case <-r.done:
		case <-ctx.Done():
			// Units queued without a wake-up come with the error, so that
			// a recorder stopped by ctx still stores them.
			return r.drain(dst, limit), ctx.Err()
		}
	}
}

// Only has the hub queue for r, from now on, only the units of the given
// tracks (IDs under 64; the others are always queued): a reader that sends
// some of the tracks (a WebRTC viewer sends no AAC) is then not woken for
// the others. Units already queued stay.
func (r *Reader) Only(tracks ...int) {
	skip := ^uint64(0)
	for _, id := range tracks {
		if id >= 0 && id < 64 {
			skip &^= 1 << id
		}
	}
	h := r.hub
	h.mu.Lock()
	r.skip = skip
	h.mu.Unlock()
}

// skips reports whether units of track id are not queued for r (hub.mu held).
func (r *Reader) skips(id int) bool { return id >= 0 && id < 64 && r.skip&(1<<id) != 0 }

// drain appends queued units to dst, up to limit in all, without waiting:
// the channel's, then (the channel empty) the spill's.
func (r *Reader) drain(dst []*AccessUnit, limit int) []*AccessUnit {
	for len(dst) < limit {
		select {
		case au := <-r.ch:
			dst = append(dst, au)
			continue
		default:
		}
		if n := len(dst); n < limit {
			if dst = r.unspill(dst, limit-n); len(dst) > n {
				continue
			}
		}
		break
	}
	return dst
}

// Backlog returns how many units were already queued when the reader was
// created: the replay of the GOP since the last keyframe, older than live.
// A reader that paces by wall clock (WebRTC) can treat them as a burst.
func (r *Reader) Backlog() int { return r.backlog }

// Close detaches the reader.
func (r *Reader) Close() {
	h := r.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	h.removeLocked(r)
	r.end(io.EOF)
}
