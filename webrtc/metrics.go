package webrtc

import "github.com/prometheus/client_golang/prometheus"

// sessionsDesc is eddy_webrtc_sessions: open WHEP and WHIP sessions by
// stream and kind, counted at each scrape.
var sessionsDesc = prometheus.NewDesc("eddy_webrtc_sessions",
	"Open WebRTC sessions, by stream and kind: whep (viewers) or whip (publishers).", []string{"stream", "kind"}, nil)

// sessionsCollector counts the server's sessions.
type sessionsCollector struct{ s *Server }

func (c sessionsCollector) Describe(ch chan<- *prometheus.Desc) { ch <- sessionsDesc }

func (c sessionsCollector) Collect(ch chan<- prometheus.Metric) {
	type key struct{ stream, kind string }
	counts := map[key]int{}
	c.s.mu.Lock()
	for _, ss := range c.s.sessions {
		counts[key{ss.stream, ss.kind}]++
	}
	c.s.mu.Unlock()
	byLabel := map[key]int{}
	for k, n := range counts {
		byLabel[key{c.s.streamLabel(k.stream), k.kind}] += n
	}
	for k, n := range byLabel {
		ch <- prometheus.MustNewConstMetric(sessionsDesc, prometheus.GaugeValue, float64(n), k.stream, k.kind)
	}
}

func (s *Server) streamLabel(name string) string {
	if s.StreamLabel == nil {
		return name
	}
	return s.StreamLabel(name)
}

// newEventCounters makes the counters of the WHEP events channels.
func newEventCounters() (sent, dropped prometheus.Counter) {
	sent = prometheus.NewCounter(prometheus.CounterOpts{Name: "eddy_webrtc_events_sent_total",
		Help: "Events written to WHEP events data channels (one per event per viewer)."})
	dropped = prometheus.NewCounter(prometheus.CounterOpts{Name: "eddy_webrtc_events_dropped_total",
		Help: "Events dropped for WHEP viewers whose events data channel was full (a viewer that does not read) or whose event queue overflowed."})
	return sent, dropped
}
