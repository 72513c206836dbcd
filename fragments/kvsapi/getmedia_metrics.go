package kvsapi

import "github.com/prometheus/client_golang/prometheus"

// getMediaMetrics are GetMedia's own series, beside the ones every
// operation has (its requests, latency, outgoing bytes and fragments,
// counted when a session ends): the sessions open now, and why sessions
// ended.
type getMediaMetrics struct {
	sessions *prometheus.GaugeVec   // stream
	ended    *prometheus.CounterVec // reason
}

func newGetMediaMetrics(reg prometheus.Registerer) *getMediaMetrics {
	g := &getMediaMetrics{
		sessions: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "eddy_kvs_getmedia_sessions",
			Help: "GetMedia sessions open now, by stream (at most 3 per stream)."}, []string{"stream"}),
		ended: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "eddy_kvs_getmedia_sessions_ended_total",
			Help: "GetMedia sessions ended, by reason: client (the client went), session_limit (the session cap), stream_deleted, error (error tags sent), shutdown (the server stopped)."},
			[]string{"reason"}),
	}
	if reg != nil {
		reg.MustRegister(g.sessions, g.ended)
	}
	return g
}

// getMediaOf returns GetMedia's series (nil without metrics).
func (m *Metrics) getMediaOf() *getMediaMetrics {
	if m == nil {
		return nil
	}
	return m.getMedia
}

// begin counts a session of stream open; end, given what begin
// returned, counts it ended (the label is the one begin used, even if
// the stream's label changed meanwhile).
func (g *getMediaMetrics) begin(m *Metrics, stream string) string {
	if g == nil {
		return ""
	}
	label := m.streamLabel(stream)
	g.sessions.WithLabelValues(label).Inc()
	return label
}

func (g *getMediaMetrics) end(label, reason string) {
	if g != nil {
		g.sessions.WithLabelValues(label).Dec()
		g.ended.WithLabelValues(reason).Inc()
	}
}

// streamLabel is a stream's label value.
func (m *Metrics) streamLabel(stream string) string {
	if m.label != nil {
		return m.label(stream)
	}
	return stream
}
