package fragments

import (
	"context"
	"errors"
	"math"
	"sync"
)

// ErrStoreClosed is what NextListed returns once the store is closed: its
// stream was deleted, or the server is stopping.
var ErrStoreClosed = errors.New("fragments: store closed")

// listedSignal tells waiters that a fragment was listed: a channel closed
// and replaced on every listing (the zero value is ready), closed for good
// with the store.
type listedSignal struct {
	mu     sync.Mutex
	ch     chan struct{}
	closed bool
}

// wait returns the channel closed at the next listing (or the close), and
// whether the store is closed already.
func (s *listedSignal) wait() (<-chan struct{}, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch == nil {
		s.ch = make(chan struct{})
	}
	return s.ch, s.closed
}

func (s *listedSignal) notify() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch != nil && !s.closed {
		close(s.ch)
		s.ch = nil
	}
}

func (s *listedSignal) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	if s.ch != nil {
		close(s.ch)
	}
}

// NextListed returns the index entry of the first listed fragment whose
// sequence is seq or later, waiting for one to be listed when there is
// none yet: the primitive of a reader that follows the live edge (GetMedia)
// without polling. Every listing (Append, or the index catching up after a
// failed write) wakes the waiters, so a reader that asks for seq, then for
// the entry's Seq+1, and so on, sees every listed fragment once, in order,
// whether it was stored before it asked or while it waited.
//
// It never skips a sequence that is, or later becomes, listed. The index
// only grows at its end (Index.Append refuses an entry at or below its
// last one), and Append writes a fragment's entry only once every durable
// fragment before it is listed: when an index write fails, the store
// refuses further appends until the entries it lacks are written (in
// order, waking the waiters). So a reader waiting at a fragment whose
// index write failed keeps waiting until it is listed, and gets it before
// any later one. A sequence below a listed one that is not listed itself
// never will be: it is a log record the index does not take (one that
// does not parse as a fragment, or the entry of an earlier release that
// breaks a read's rule, as a negative duration), which no read could
// serve, so going on to the next listed fragment loses nothing. (An
// append the store or the log refuses takes no sequence: the log cuts it
// back, and the next fragment gets the number.)
//
// It returns ErrFragmentNotFound when seq is older than the oldest
// fragment retention keeps (the reader fell behind it: fragments it did
// not get are gone), ctx's error when ctx ends first, and ErrStoreClosed
// once the store is closed.
func (st *Store) NextListed(ctx context.Context, seq uint64) (IndexEntry, error) {
	for {
		// The channel first, then the look: a listing between the two
		// closes the channel, so it is never missed.
		ch, closed := st.listed.wait()
		if closed {
			return IndexEntry{}, ErrStoreClosed
		}
		first, _ := st.shard.Log().Bounds()
		if seq < first {
			return IndexEntry{}, ErrFragmentNotFound
		}
		// The index, not the log's bounds, says what is listed: a
		// listing's wake-up must find the entry whatever the log's
		// bounds say at that moment.
		e, ok, err := st.firstListed(seq)
		if errors.Is(err, ErrIndexClosed) {
			return IndexEntry{}, ErrStoreClosed
		}
		if err != nil {
			return IndexEntry{}, err
		}
		if ok {
			return e, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return IndexEntry{}, ctx.Err()
		}
	}
}

// firstListed returns the first listed, valid entry with sequence seq or
// later.
func (st *Store) firstListed(seq uint64) (IndexEntry, bool, error) {
	if e, ok := st.idx.Lookup(seq); ok && validEntry(&e) {
		return e, true, nil
	}
	for {
		// Any server time: the first entries in sequence order from seq.
		entries, next, err := st.idx.Range(IndexServerTime, math.MinInt64, math.MaxInt64, seq, 64)
		if err != nil {
			return IndexEntry{}, false, err
		}
		for i := range entries {
			if validEntry(&entries[i]) {
				return entries[i], true, nil
			}
		}
		if next == 0 {
			return IndexEntry{}, false, nil
		}
		seq = next
	}
}

// FirstSeq returns the sequence of the oldest fragment retention keeps
// (NextSeq when there is none).
func (st *Store) FirstSeq() uint64 {
	first, _ := st.shard.Log().Bounds()
	return first
}
