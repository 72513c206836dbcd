package filelog

import "github.com/eddy-video/eddy/datastreams/logstore"

var _ logstore.Reclaimer = (*Log)(nil)

// Oldest implements logstore.Reclaimer: the oldest segment on local disk
// (cold segments hold none; ok is false when no local segment holds a
// record). For an uploaded one, DropOldest frees its bytes and loses no
// record.
func (l *Log) Oldest() (newest int64, bytes int64, active bool, ok bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	s := l.local[0] // the active segment is always local
	last := s == l.segs[len(l.segs)-1]
	if last && s.count() == 0 {
		return 0, 0, false, false
	}
	return s.lastTime, s.size, last, true
}

// DropOldest implements logstore.Reclaimer: it frees the oldest segment
// on local disk. An uploaded one loses only its local file (DropLocal: 0
// records, its bytes); one never uploaded is deleted, records and all:
// the first segment of the log as Trim does, one after cold segments as
// Discard does (a hole). The active segment is sealed first (the new
// active segment starts at the next sequence, so appends continue the
// numbering).
func (l *Log) DropOldest() (uint64, int64, error) {
	l.smu.Lock()
	defer l.smu.Unlock()
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if l.closed {
		return 0, 0, logstore.ErrClosed
	}
	l.mu.RLock()
	s := l.local[0] // the active segment is always local
	a := l.segs[len(l.segs)-1]
	only, empty, busy, first := s == a, a.count() == 0, l.wNext != a.next, s == l.segs[0]
	l.mu.RUnlock()
	if only {
		if empty || busy {
			return 0, 0, nil
		}
		if err := l.rollIndexed(false); err != nil {
			return 0, 0, err
		}
	}
	switch {
	case s.up != nil && l.opts.Cold != nil:
		n, err := l.dropLocalLocked(s.base)
		return 0, n, err
	case !first:
		return l.discardLocked(s.base)
	}
	// The first segment of the log (uploaded too, when no object storage
	// is configured to read it from): removed as Trim does.
	l.mu.Lock()
	l.segs = l.segs[1:]
	l.removedLocked(s)
	l.mu.Unlock()
	recs, bytes, _, err := l.removeSegments([]*segment{s})
	return recs, bytes, err
}
