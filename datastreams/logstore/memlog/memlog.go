package memlog

import (
	"fmt"
	"sort"
	"sync"

	"github.com/eddy-video/eddy/datastreams/logstore"
)

// Log is a logstore.Log kept in memory: retained records in a slice, the
// first of them at sequence first. Records from index committed on are
// appended but not yet visible to readers.
//
// Locking: mu guards everything; readers take it shared.
type Log struct {
	mu        sync.RWMutex
	recs      []logstore.Record // retained records, recs[i].Seq == first+i
	first     uint64            // sequence of recs[0] (or next, when empty)
	committed int               // recs[:committed] are visible to readers
	size      int64             // key+data bytes of recs[:committed]
	closed    bool
}

var _ logstore.Log = (*Log)(nil)

// New returns an empty log whose first record will be sequence 1.
func New() *Log { return &Log{first: 1} }

// Append implements logstore.Log. It copies the records' bytes.
func (l *Log) Append(recs []logstore.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return logstore.ErrClosed
	}
	next := l.first + uint64(len(l.recs))
	for i := range recs {
		if want := next + uint64(i); recs[i].Seq != want {
			return fmt.Errorf("append: sequence %d, expected %d", recs[i].Seq, want)
		}
	}
	for _, r := range recs {
		l.recs = append(l.recs, clone(r))
	}
	return nil
}

// clone copies a record's key and data into one allocation.
func clone(r logstore.Record) logstore.Record {
	b := make([]byte, len(r.Key)+len(r.Data))
	n := copy(b, r.Key)
	copy(b[n:], r.Data)
	r.Key, r.Data = b[:n:n], b[n:]
	return r
}

func recSize(r *logstore.Record) int64 { return int64(len(r.Key) + len(r.Data)) }

// Commit implements logstore.Log: everything appended becomes visible.
// Memory is as durable as it gets, so sync changes nothing.
func (l *Log) Commit(sync bool) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return logstore.ErrClosed
	}
	for i := l.committed; i < len(l.recs); i++ {
		l.size += recSize(&l.recs[i])
	}
	l.committed = len(l.recs)
	return nil
}

// Sync implements logstore.Log; there is nothing to sync.
func (l *Log) Sync() error { return nil }

// Bounds implements logstore.Log.
func (l *Log) Bounds() (first, next uint64) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.first, l.first + uint64(l.committed)
}

// LastTime implements logstore.Log.
func (l *Log) LastTime() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.committed == 0 {
		return 0
	}
	return l.recs[l.committed-1].Time
}

// Size implements logstore.Log: the key and data bytes of the committed records.
func (l *Log) Size() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.size
}

// Read implements logstore.Log. The records are copies.
func (l *Log) Read(from uint64, maxRecords, maxBytes int) ([]logstore.Record, error) {
	if maxRecords <= 0 {
		return nil, nil
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	i := 0
	if from > l.first {
		i = int(min(from-l.first, uint64(l.committed)))
	}
	var out []logstore.Record
	total := 0
	for ; i < l.committed && len(out) < maxRecords; i++ {
		r := &l.recs[i]
		if len(out) > 0 && total+len(r.Key)+len(r.Data) > maxBytes {
			break
		}
		out = append(out, clone(*r))
		total += len(r.Key) + len(r.Data)
	}
	return out, nil
}

// SeqAtTime implements logstore.Log.
func (l *Log) SeqAtTime(t int64) uint64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	i := sort.Search(l.committed, func(i int) bool { return l.recs[i].Time >= t })
	return l.first + uint64(i)
}

// TimeOf implements logstore.Log.
func (l *Log) TimeOf(seq uint64) (int64, bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if seq < l.first || seq-l.first >= uint64(l.committed) {
		return 0, false
	}
	return l.recs[seq-l.first].Time, true
}

// Trim implements logstore.Log record by record: committed records older
// than olderThan go, then the oldest while Size exceeds maxBytes.
func (l *Log) Trim(olderThan int64, maxBytes int64) (uint64, int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return 0, 0, logstore.ErrClosed
	}
	n := 0
	var bytes int64
	for n < l.committed {
		r := &l.recs[n]
		byAge := olderThan > 0 && r.Time < olderThan
		bySize := maxBytes > 0 && l.size-bytes > maxBytes
		if !byAge && !bySize {
			break
		}
		bytes += recSize(r)
		n++
	}
	l.dropLocked(n)
	l.size -= bytes
	return uint64(n), bytes, nil
}

// dropLocked forgets the first n records, letting go of the slice's
// front once most of it is dead.
func (l *Log) dropLocked(n int) {
	if n == 0 {
		return
	}
	clear(l.recs[:n])
	l.recs = l.recs[n:]
	l.first += uint64(n)
	l.committed -= n
	if len(l.recs) < cap(l.recs)/4 {
		l.recs = append([]logstore.Record(nil), l.recs...)
	}
}

// Close implements logstore.Log. Reads keep working on what is there.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	return nil
}
