package recorder

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	recorders      prometheus.Gauge
	recorderDrops  prometheus.Counter
	fragments      prometheus.Counter
	bytes          prometheus.Counter
	appendErrors   prometheus.Counter
	persistLatency prometheus.Histogram
	// repairs counts what the fragmenter did to keep a bad producer's
	// stream storable (fragmenter.Event names), and "invalid": fragments
	// the store refused (none are expected: the fragmenter keeps its rule).
	repairs *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		recorders: prometheus.NewGauge(prometheus.GaugeOpts{Name: "eddy_recorders", Help: "Publications being recorded."}),
		recorderDrops: prometheus.NewCounter(prometheus.CounterOpts{Name: "eddy_recorder_overflows_total",
			Help: "Times a recorder fell a whole queue behind its publisher and resumed at the next keyframe."}),
		fragments:    prometheus.NewCounter(prometheus.CounterOpts{Name: "eddy_fragments_persisted_total", Help: "Fragments made durable and listed."}),
		bytes:        prometheus.NewCounter(prometheus.CounterOpts{Name: "eddy_fragment_bytes_total", Help: "Media bytes of persisted fragments."}),
		appendErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "eddy_fragment_append_errors_total", Help: "Fragments that failed to persist."}),
		persistLatency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "eddy_fragment_persist_seconds",
			Help:    "From the arrival of the unit that closes a fragment to the fragment being durable and listed.",
			Buckets: []float64{.001, .002, .005, .01, .02, .03, .05, .075, .1, .2, .5, 1, 2}}),
		repairs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "eddy_recorder_repairs_total",
			Help: "What recorders did with bad producer timing or sizes: timestamp_jump (fragment cut, discontinuity), duration_cut, size_cut, dropped (a unit too large), init_change (new codec configuration), invalid (a fragment refused by the store, skipped)."},
			[]string{"event"}),
	}
	if reg != nil {
		reg.MustRegister(m.recorders, m.recorderDrops, m.fragments, m.bytes, m.appendErrors, m.persistLatency, m.repairs)
	}
	return m
}
