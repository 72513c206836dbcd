package fragments

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/eddy-video/eddy/fragments/events"
)

// registerEventMetrics registers the totals of the event timelines.
func (m *Manager) registerEventMetrics() {
	for i, d := range []struct{ name, help string }{
		{"eddy_events_indexed_total", "Events placed on the timelines of video streams (records of {name}.events in the event schema)."},
		{"eddy_events_refused_total", "Records of {name}.events refused for breaking the event schema (each answered InvalidArgumentException, written nothing)."},
		{"eddy_events_live_dropped_total", "Events not delivered to a live subscriber (a WHEP data channel) that did not keep up; others are not held up."},
	} {
		m.Registerer.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: d.name, Help: d.help},
			func() float64 { return float64(m.eventCount(i)) }))
	}
}

func timelineCount(tl *events.Timeline, i int) uint64 {
	switch i {
	case 0:
		return tl.Indexed()
	case 1:
		return tl.Refused()
	}
	return tl.Dropped()
}

func (m *Manager) eventCount(i int) uint64 {
	n := m.eventsGone[i].Load()
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, st := range m.stores {
		if st.timeline != nil {
			n += timelineCount(st.timeline, i)
		}
	}
	for st := range m.leaving {
		if st.timeline != nil {
			n += timelineCount(st.timeline, i)
		}
	}
	return n
}

// keepEventCounts moves a deleted store's event counts into the totals,
// in one step under the lock the scrape reads them with.
func (m *Manager) keepEventCounts(st *Store) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.leaving, st)
	if st.timeline == nil {
		return
	}
	for i := range m.eventsGone {
		m.eventsGone[i].Add(timelineCount(st.timeline, i))
	}
}
