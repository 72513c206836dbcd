package fragments

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Live holds the partial segments (Low-Latency HLS parts) of a stream's
// recent and in-progress fragments, as the recorder cuts them from the
// live hub. Parts are fMP4 moof+mdat pairs on the same timeline, with the
// same init segment, as the fragment they belong to, so a player may mix
// a stored fragment and the parts of the next one. Parts live in memory
// only: the fragment is what is stored.
//
// Part numbers are global to the stream and never reused while the
// process runs (they start above every number a previous run could have
// used, from the store's next fragment sequence), so a preload hint for
// the next part is always valid whichever fragment it turns out to open.
type Live struct {
	mu      sync.Mutex
	segs    []*LiveSegment // oldest first; the last may be in progress
	next    uint64         // number of the next part
	active  bool           // a recorder is cutting parts now
	run     uint64         // the current recorder run
	target  time.Duration  // part target duration of the current run
	changed chan struct{}  // closed and replaced on every change
	gen     uint64         // counts changes
	// waiters are Wait's callers blocked now, in arrival order; a change
	// wakes them all, oldest first (notifyLocked).
	waiters []chan struct{}
	// view is the state at generation gen once a View built it: every
	// waiter woken by a change shares it (nil: not built yet).
	view     *LiveView
	inits    map[InitID][]byte
	keepDone int
	wanted   atomic.Int64 // Unix ns of the last LL-HLS request (Touch)
}

// LiveSegment is one fragment as parts: complete (Done) once its last
// part is cut; it is stored (listed in the index) shortly after that.
type LiveSegment struct {
	Seq          uint64 // the fragment's sequence number in the store
	InitID       InitID
	ServerTime   int64 // Unix ns, as the stored fragment's
	ProducerTime int64
	Keyframe     bool
	Duration     int64 // ns, sum of the parts'
	Done         bool
	Parts        []*LivePart
}

// LivePart is one partial segment.
type LivePart struct {
	Number      uint64
	Seq         uint64 // the fragment it belongs to
	Index       int    // position in the fragment
	Duration    int64  // ns
	Independent bool   // starts with a keyframe
	Media       []byte // moof+mdat
	First       time.Time
	Ready       time.Time
}

// LiveView is a consistent copy of a Live's state.
type LiveView struct {
	Segments []LiveSegment // oldest first; Parts slices are shared, read-only
	Next     uint64        // the next part's number
	Gen      uint64        // changes when anything else does
	Active   bool
	Target   time.Duration
}

// liveKeepDone is how many complete segments keep their parts while
// someone watches: enough to list parts for the last three target
// durations of any playlist. An unwatched stream has no parts at all
// (the recorder emits none: Watched), so a new viewer's first LL-HLS
// playlist lists no part of the fragment in progress; once the recorder
// next looks at its units (an unwatched stream's recorder is woken lazily:
// at a keyframe, or within media.LazyWakeInterval) and passes a part
// boundary, that fragment's parts so far appear together, and its later
// parts as they are cut.
const liveKeepDone = 4

// liveWatched is how long after the last LL-HLS request a stream counts
// as watched.
const liveWatched = time.Minute

// Touch notes an LL-HLS request: complete segments keep their parts.
func (l *Live) Touch() { l.wanted.Store(time.Now().UnixNano()) }

// Watched reports whether an LL-HLS request came within liveWatched (the
// recorder emits parts only then: fragmenter.PartsWanted). An unwatched
// Live also drops the parts of its complete segments, as pruning does
// once no one watches, so a stream whose viewers left holds none.
func (l *Live) Watched() bool {
	if time.Since(time.Unix(0, l.wanted.Load())) <= liveWatched {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if n := len(l.segs); n > 0 {
		l.pruneLocked()
		if len(l.segs) != n {
			l.notifyLocked()
		}
	}
	return false
}

func newLive(nextSeq uint64) *Live {
	return &Live{next: nextSeq << 10, changed: make(chan struct{}), inits: map[InitID][]byte{}, keepDone: liveKeepDone}
}

// notifyLocked counts a change and wakes whoever waits for one.
//
// Wait's callers run in arrival order, the longest waiting first, as a
// best effort: with 200 blocked LL-HLS playlist requests, closing one
// shared channel readied them newest first (the runtime's order for a
// closed channel's receivers), so the request that had waited longest
// answered almost last. Each waiter has its own channel. The runtime
// runs the goroutine readied last before the others, and those in the
// order readied, so the channels are closed from the second oldest to
// the newest, then the oldest's. That order is the scheduler's, not a
// guarantee: a processor's run queue holds 256 goroutines (the rest go
// to the global queue), and other processors steal from it, so with
// many waiters or several processors the order is only roughly oldest
// first.
func (l *Live) notifyLocked() {
	l.gen++
	l.view = nil
	close(l.changed)
	l.changed = make(chan struct{})
	if len(l.waiters) > 0 {
		for _, w := range l.waiters[1:] {
			close(w)
		}
		close(l.waiters[0])
		clear(l.waiters)
		l.waiters = l.waiters[:0]
	}
}

// Start begins a run of parts with the given target duration; Stop(run)
// ends it.
func (l *Live) Start(target time.Duration) (run uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.run++
	l.active, l.target = true, target
	l.notifyLocked()
	return l.run
}

// Stop ends a run: an in-progress segment that was never completed is
// dropped (its fragment will not be stored as such). A run that a newer
// one replaced (the previous publication's recorder finishing late)
// changes nothing.
func (l *Live) Stop(run uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if run != l.run {
		return
	}
	if n := len(l.segs); n > 0 && !l.segs[n-1].Done {
		l.segs[n-1] = nil
		l.segs = l.segs[:n-1]
	}
	l.active = false
	l.notifyLocked()
}

// AddPart appends a part to fragment seq, opening the segment on its
// first part. last marks the fragment's final part.
func (l *Live) AddPart(seg LiveSegment, init *InitSegment, p *LivePart, last bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var cur *LiveSegment
	if n := len(l.segs); n > 0 && l.segs[n-1].Seq == seg.Seq && !l.segs[n-1].Done {
		cur = l.segs[n-1]
	} else {
		// Segments this one replaces: an abandoned in-progress one, or
		// any whose fragment was never stored (its number is reused).
		for n := len(l.segs); n > 0 && (!l.segs[n-1].Done || l.segs[n-1].Seq >= seg.Seq); n-- {
			l.segs[n-1] = nil
			l.segs = l.segs[:n-1]
		}
		s := seg
		s.Parts, s.Duration, s.Done = nil, 0, false
		cur = &s
		l.segs = append(l.segs, cur)
		l.inits[init.ID] = init.Bytes
	}
	p.Number = l.next
	l.next++
	p.Seq, p.Index = cur.Seq, len(cur.Parts)
	p.Ready = time.Now()
	cur.Parts = append(cur.Parts, p)
	cur.Duration += p.Duration
	if last {
		cur.Done = true
		cur.ProducerTime = seg.ProducerTime
		l.pruneLocked()
	}
	l.notifyLocked()
}

func (l *Live) pruneLocked() {
	done := 0
	for _, s := range l.segs {
		if s.Done {
			done++
		}
	}
	keep := l.keepDone
	if time.Since(time.Unix(0, l.wanted.Load())) > liveWatched {
		keep = 0
	}
	drop := done - keep
	if drop <= 0 {
		return
	}
	clear(l.segs[:drop])
	l.segs = append(l.segs[:0], l.segs[drop:]...)
	live := map[InitID]bool{}
	for _, s := range l.segs {
		live[s.InitID] = true
	}
	for id := range l.inits {
		if !live[id] {
			delete(l.inits, id)
		}
	}
}

// stored notes that a fragment was stored: playlists that listed it from
// its parts now list it from the store.
func (l *Live) stored() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.notifyLocked()
}

// Complete reports whether the view holds fragment seq as complete
// (it may not be stored yet).
func (v *LiveView) Complete(seq uint64) bool {
	for i := len(v.Segments) - 1; i >= 0; i-- {
		if v.Segments[i].Seq == seq {
			return v.Segments[i].Done
		}
	}
	return false
}

// View returns the current state and a channel closed at the next change.
// Views of one generation share their Segments: callers only read them.
func (l *Live) View() (LiveView, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.viewLocked(), l.changed
}

// viewLocked returns the state, copied once per change: the waiters a
// change wakes all read the same copy.
func (l *Live) viewLocked() LiveView {
	if l.view == nil {
		v := &LiveView{Next: l.next, Gen: l.gen, Active: l.active, Target: l.target, Segments: make([]LiveSegment, len(l.segs))}
		for i, s := range l.segs {
			v.Segments[i] = *s
		}
		l.view = v
	}
	return *l.view
}

// Wait returns the first view for which ok reports true, or the last one
// with false when ctx ends first. ok runs without the lock held. Callers
// blocked in Wait are woken in the order they began waiting.
func (l *Live) Wait(ctx context.Context, ok func(*LiveView) bool) (LiveView, bool) {
	for {
		v, _ := l.View()
		if ok(&v) {
			return v, true
		}
		l.mu.Lock()
		if l.gen != v.Gen {
			l.mu.Unlock()
			continue // changed while ok ran
		}
		w := make(chan struct{})
		l.waiters = append(l.waiters, w)
		l.mu.Unlock()
		select {
		case <-w:
		case <-ctx.Done():
			l.mu.Lock()
			for i, x := range l.waiters {
				if x == w {
					l.waiters = slices.Delete(l.waiters, i, i+1)
					break
				}
			}
			l.mu.Unlock()
			return v, false
		}
	}
}

// Part returns part number n.
func (l *Live) Part(n uint64) (*LivePart, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range l.segs {
		if len(s.Parts) == 0 || s.Parts[0].Number > n {
			continue
		}
		if i := n - s.Parts[0].Number; i < uint64(len(s.Parts)) {
			return s.Parts[i], true
		}
	}
	return nil, false
}

// Init returns an init segment of a retained live segment (the in-progress
// fragment's init is stored only with the fragment).
func (l *Live) Init(id InitID) ([]byte, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.inits[id]
	return b, ok
}
