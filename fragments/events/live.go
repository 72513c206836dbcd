package events

// Subscription delivers the events added to a timeline after Subscribe,
// in the order they were indexed, through a bounded buffer: when a reader
// does not keep up, the events that do not fit are dropped for it alone
// (and counted), so a slow reader never slows the writer or other readers.
type Subscription struct {
	t       *Timeline
	c       chan Event
	dropped uint64 // guarded by t.mu
}

// Subscribe starts a live subscription with a buffer of buf events
// (at least 1).
func (t *Timeline) Subscribe(buf int) *Subscription {
	s := &Subscription{t: t, c: make(chan Event, max(buf, 1))}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		close(s.c)
		return s
	}
	t.subs[s] = struct{}{}
	return s
}

// C delivers the events; it is closed by Close and when the timeline
// closes (its stream was deleted).
func (s *Subscription) C() <-chan Event { return s.c }

// Dropped returns how many events this subscription dropped.
func (s *Subscription) Dropped() uint64 {
	s.t.mu.Lock()
	defer s.t.mu.Unlock()
	return s.dropped
}

// Close ends the subscription.
func (s *Subscription) Close() {
	s.t.mu.Lock()
	defer s.t.mu.Unlock()
	if _, ok := s.t.subs[s]; ok {
		delete(s.t.subs, s)
		close(s.c)
	}
}

// Changed returns a channel closed at the next indexed event (or when the
// timeline closes); call it again for the one after.
func (t *Timeline) Changed() <-chan struct{} {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.changed
}

func (t *Timeline) notifyLocked(evs []Event) {
	for s := range t.subs {
		for _, ev := range evs {
			select {
			case s.c <- ev:
			default:
				s.dropped++
				t.dropped.Add(1)
			}
		}
	}
	close(t.changed)
	t.changed = make(chan struct{})
}
