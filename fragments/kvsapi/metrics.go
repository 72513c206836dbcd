package kvsapi

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the Kinesis Video API's series, named as CloudWatch names
// them (namespace AWS/KinesisVideo): every operation's Requests, Success
// and Latency are eddy_kvs_requests_total{operation,stream,code} and
// eddy_kvs_latency_seconds{operation}, its OutgoingBytes and
// OutgoingFragments eddy_kvs_outgoing_bytes_total and
// eddy_kvs_outgoing_fragments_total, and ArchivedFragmentsConsumed.Media
// and .Metadata eddy_kvs_archived_fragments_consumed_{media,metadata}_total.
// The API and package hls share one (Instrument wraps their handlers).
type Metrics struct {
	requests     *prometheus.CounterVec   // operation, stream, code
	latency      *prometheus.HistogramVec // operation
	outBytes     *prometheus.CounterVec   // operation, stream
	outFragments *prometheus.CounterVec   // operation, stream
	media        *prometheus.CounterVec   // stream
	metadata     *prometheus.CounterVec   // stream
	label        func(string) string
	getMedia     *getMediaMetrics
}

// NewMetrics registers the series with reg; label gives a stream's label
// value (nil: its name).
func NewMetrics(reg prometheus.Registerer, label func(name string) string) *Metrics {
	os := []string{"operation", "stream"}
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "eddy_kvs_requests_total",
			Help: "<Operation>.Requests: Kinesis Video requests by operation, stream (\"\" when none was found) and HTTP status; <Operation>.Success is code=\"200\" (206 for a range)."},
			[]string{"operation", "stream", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "eddy_kvs_latency_seconds",
			Help:    "<Operation>.Latency: from a Kinesis Video request's arrival to the end of its answer, by operation.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}}, []string{"operation"}),
		outBytes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "eddy_kvs_outgoing_bytes_total",
			Help: "<Operation>.OutgoingBytes: body bytes sent, by operation and stream."}, os),
		outFragments: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "eddy_kvs_outgoing_fragments_total",
			Help: "<Operation>.OutgoingFragments: fragments sent (GetMediaForFragmentList, GetClip, GetMP4MediaFragment, GetTSFragment), by operation and stream."}, os),
		media: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "eddy_kvs_archived_fragments_consumed_media_total",
			Help: "ArchivedFragmentsConsumed.Media: fragments whose media an archived-media or HLS request read, by stream."}, []string{"stream"}),
		metadata: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "eddy_kvs_archived_fragments_consumed_metadata_total",
			Help: "ArchivedFragmentsConsumed.Metadata: fragments listed by ListFragments and HLS media playlists, by stream."}, []string{"stream"}),
		label: label,
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.latency, m.outBytes, m.outFragments, m.media, m.metadata)
	}
	m.getMedia = newGetMediaMetrics(reg)
	return m
}

// Instrument wraps h, the handler of operation op, with its series (a
// nil Metrics leaves h as it is).
func (m *Metrics) Instrument(op string, h http.HandlerFunc) http.HandlerFunc {
	if m == nil {
		return h
	}
	return func(w http.ResponseWriter, r *http.Request) {
		rq := &request{op: op, started: time.Now()}
		cw := &countingWriter{ResponseWriter: w}
		defer m.observe(rq, cw) // an aborted answer (a panic) is counted too
		h(cw, r.WithContext(context.WithValue(r.Context(), requestKey{}, rq)))
	}
}

// observe counts an answered request.
func (m *Metrics) observe(rq *request, cw *countingWriter) {
	stream := rq.stream
	if stream != "" && m.label != nil {
		stream = m.label(stream)
	}
	code := cw.code
	if code == 0 {
		code = http.StatusOK
	}
	m.requests.WithLabelValues(rq.op, stream, strconv.Itoa(code)).Inc()
	m.latency.WithLabelValues(rq.op).Observe(time.Since(rq.started).Seconds())
	if cw.n > 0 {
		m.outBytes.WithLabelValues(rq.op, stream).Add(float64(cw.n))
	}
	if rq.fragments > 0 {
		m.outFragments.WithLabelValues(rq.op, stream).Add(float64(rq.fragments))
		m.media.WithLabelValues(stream).Add(float64(rq.fragments))
	}
	if rq.listed > 0 {
		m.metadata.WithLabelValues(stream).Add(float64(rq.listed))
	}
}

// request is what Instrument learns of a request while it is handled.
type request struct {
	op        string
	stream    string
	started   time.Time
	fragments int // media of fragments sent
	listed    int // fragments listed (metadata)
}

type requestKey struct{}

func requestOf(r *http.Request) *request {
	rq, _ := r.Context().Value(requestKey{}).(*request)
	return rq
}

// SetStream names the stream r acts on, once found, for its series.
func SetStream(r *http.Request, name string) {
	if rq := requestOf(r); rq != nil {
		rq.stream = name
	}
}

// Consumed counts the fragments r sent (their media read) and listed
// (their metadata read).
func Consumed(r *http.Request, sent, listed int) {
	if rq := requestOf(r); rq != nil {
		rq.fragments += sent
		rq.listed += listed
	}
}

// countingWriter records the status and counts the body bytes.
type countingWriter struct {
	http.ResponseWriter
	code int
	n    int64
}

func (w *countingWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *countingWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.n += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the connection.
func (w *countingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
