package kvsapi

import (
	"github.com/prometheus/client_golang/prometheus"
)

// pmMetrics are PutMedia's own series (the publication it makes is also
// counted with every other by the media registry's eddy_kvs_putmedia_*):
// sessions, fragments (clusters), acks by event type, errors by
// ErrorCode, and the time from a cluster's end to its PERSISTED ack.
type pmMetrics struct {
	sessions  prometheus.Counter
	active    prometheus.Gauge
	refused   *prometheus.CounterVec // code (the HTTP error type)
	fragments prometheus.Counter
	bytes     prometheus.Counter
	acks      *prometheus.CounterVec // type
	errors    *prometheus.CounterVec // code
	persist   prometheus.Histogram
}

func newPMMetrics(reg prometheus.Registerer) *pmMetrics {
	m := &pmMetrics{
		sessions: prometheus.NewCounter(prometheus.CounterOpts{Name: "eddy_putmedia_sessions_total",
			Help: "PutMedia sessions started (answered 200)."}),
		active: prometheus.NewGauge(prometheus.GaugeOpts{Name: "eddy_putmedia_sessions_active",
			Help: "PutMedia sessions in progress."}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "eddy_putmedia_refused_total",
			Help: "PutMedia requests refused before a session started, by error type (ConnectionLimitExceededException, InvalidArgumentException, ResourceNotFoundException)."}, []string{"code"}),
		fragments: prometheus.NewCounter(prometheus.CounterOpts{Name: "eddy_putmedia_fragments_total",
			Help: "PutMedia fragments (Matroska clusters) received whole and valid, and published."}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{Name: "eddy_putmedia_received_bytes_total",
			Help: "PutMedia upload bytes read."}),
		acks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "eddy_putmedia_acks_total",
			Help: "PutMedia acknowledgements sent, by event type (BUFFERING, RECEIVED, PERSISTED, ERROR, IDLE)."}, []string{"type"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "eddy_putmedia_errors_total",
			Help: "PutMedia ERROR acknowledgements, by ErrorCode."}, []string{"code"}),
		persist: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "eddy_putmedia_persist_latency_seconds",
			Help:    "From the end of a PutMedia cluster (its last byte read) to its PERSISTED acknowledgement being sent.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}}),
	}
	if reg != nil {
		reg.MustRegister(m.sessions, m.active, m.refused, m.fragments, m.bytes, m.acks, m.errors, m.persist)
	}
	return m
}
