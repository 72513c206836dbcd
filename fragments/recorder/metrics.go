package recorder

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/eddy-video/eddy/fragments/fragmenter"
)

// metrics are the recorder's series: process-wide ones, and per stream
// and protocol those CloudWatch names for PutMedia (AWS/KinesisVideo
// PutMedia.IncomingFragments, Success, ErrorAckCount's equivalent,
// FragmentIngestionLatency): a recorded publication is Eddy's PutMedia.
type metrics struct {
	recorders      prometheus.Gauge
	recorderDrops  prometheus.Counter
	fragments      prometheus.Counter
	bytes          prometheus.Counter
	appendErrors   prometheus.Counter
	persistLatency prometheus.Histogram

	incomingFragments *prometheus.CounterVec // stream, protocol
	success           *prometheus.CounterVec // stream, protocol
	failures          *prometheus.CounterVec // stream, protocol
	ingestionLatency  prometheus.Histogram
	// repairs counts what the fragmenter did to keep a bad producer's
	// stream storable (fragmenter.Event names), and "invalid": fragments
	// the store refused (none are expected: the fragmenter keeps its rule).
	repairs *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	sp := []string{"stream", "protocol"}
	m := &metrics{
		recorders: prometheus.NewGauge(prometheus.GaugeOpts{Name: "eddy_recorders", Help: "Publications being recorded."}),
		recorderDrops: prometheus.NewCounter(prometheus.CounterOpts{Name: "eddy_recorder_overflows_total",
			Help: "Times a recorder fell a whole queue behind its publisher and resumed at the next keyframe."}),
		fragments:    prometheus.NewCounter(prometheus.CounterOpts{Name: "eddy_fragments_persisted_total", Help: "Fragments made durable and listed."}),
		bytes:        prometheus.NewCounter(prometheus.CounterOpts{Name: "eddy_fragment_bytes_total", Help: "Media bytes of persisted fragments."}),
		appendErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "eddy_fragment_append_errors_total", Help: "Fragments that failed to persist."}),
		persistLatency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "eddy_fragment_persist_seconds",
			Help:    "PutMedia.FragmentPersistLatency: from the arrival of the unit that closes a fragment to the fragment being durable and listed.",
			Buckets: []float64{.001, .002, .005, .01, .02, .03, .05, .075, .1, .2, .5, 1, 2}}),

		incomingFragments: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "eddy_kvs_putmedia_incoming_fragments_total",
			Help: "PutMedia.IncomingFragments: fragments the recorder cut from a publication, by stream and protocol."}, sp),
		success: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "eddy_kvs_putmedia_success_total",
			Help: "PutMedia.Success: fragments made durable and listed, by stream and protocol."}, sp),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "eddy_kvs_putmedia_errors_total",
			Help: "PutMedia.ErrorAckCount's equivalent: fragments that failed to persist, by stream and protocol."}, sp),
		ingestionLatency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "eddy_kvs_putmedia_fragment_ingestion_latency_seconds",
			Help:    "PutMedia.FragmentIngestionLatency: from the arrival of a fragment's first unit to that of its last.",
			Buckets: []float64{.1, .25, .5, 1, 2, 3, 4, 5, 7.5, 10, 15, 20, 30, 60}}),
		repairs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "eddy_recorder_repairs_total",
			Help: "What recorders did with bad producer timing or sizes: timestamp_jump (fragment cut, discontinuity), duration_cut, size_cut, dropped (a unit too large), init_change (new codec configuration), invalid (a fragment refused by the store, skipped)."},
			[]string{"event"}),
	}
	// Every repair is shown from the start (at 0), so that dashboards and
	// alerts see the series before the first bad camera.
	for e := fragmenter.EventJump; e <= fragmenter.EventInitChange; e++ {
		m.repairs.WithLabelValues(e.String())
	}
	m.repairs.WithLabelValues("invalid")
	if reg != nil {
		reg.MustRegister(m.recorders, m.recorderDrops, m.fragments, m.bytes, m.appendErrors, m.persistLatency,
			m.incomingFragments, m.success, m.failures, m.ingestionLatency, m.repairs)
	}
	return m
}

// streamCounters are one recording's per-stream counters.
type streamCounters struct {
	incoming, success, failures prometheus.Counter
}

func (m *metrics) forStream(label, protocol string) streamCounters {
	return streamCounters{
		incoming: m.incomingFragments.WithLabelValues(label, protocol),
		success:  m.success.WithLabelValues(label, protocol),
		failures: m.failures.WithLabelValues(label, protocol),
	}
}
