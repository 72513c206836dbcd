package filelog

import "github.com/eddy-video/eddy/datastreams/logstore"

var _ logstore.Reclaimer = (*Log)(nil)

// Oldest implements logstore.Reclaimer: the oldest segment.
func (l *Log) Oldest() (newest int64, bytes int64, active bool, ok bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	s := l.segs[0]
	if len(l.segs) == 1 && s.count() == 0 {
		return 0, 0, false, false
	}
	return s.lastTime, s.size, len(l.segs) == 1, true
}

// DropOldest implements logstore.Reclaimer: it deletes the oldest
// segment, sealing it first when it is the active one (the new active
// segment starts at the next sequence, so appends continue the numbering).
func (l *Log) DropOldest() (uint64, int64, error) {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if l.closed {
		return 0, 0, logstore.ErrClosed
	}
	l.mu.RLock()
	a := l.segs[len(l.segs)-1]
	only, empty, busy := len(l.segs) == 1, a.count() == 0, l.wNext != a.next
	l.mu.RUnlock()
	if only {
		if empty || busy {
			return 0, 0, nil
		}
		if err := l.rollIndexed(false); err != nil {
			return 0, 0, err
		}
	}
	l.mu.Lock()
	s := l.segs[0]
	l.segs = l.segs[1:]
	l.closeReaderLocked(s)
	l.mu.Unlock()
	return l.removeSegments([]*segment{s})
}
