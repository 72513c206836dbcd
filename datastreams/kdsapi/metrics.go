package kdsapi

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eddy-video/eddy/datastreams"
	"github.com/eddy-video/eddy/datastreams/logstore"
)

// The Kinesis Data Streams metrics CloudWatch reports (namespace
// AWS/Kinesis), as Prometheus series: CloudWatch's Operation.Metric is
// eddy_kds_<operation>_<metric>, and the Requests, Success and Latency of
// every operation are eddy_kds_requests_total and eddy_kds_latency_seconds
// by operation. IncomingBytes, IncomingRecords and the throughput
// refusals are the core's (package datastreams).
type apiMetrics struct {
	requests *prometheus.CounterVec   // operation, stream, code
	latency  *prometheus.HistogramVec // operation

	putRecordBytes     *prometheus.CounterVec // stream
	putRecordsBytes    *prometheus.CounterVec // stream
	putRecordsRecords  *prometheus.CounterVec // stream, result
	getRecordsBytes    *prometheus.CounterVec // stream
	getRecordsRecords  *prometheus.CounterVec // stream
	iteratorAge        *lagGauge
	subscribeExceeded  *prometheus.CounterVec // stream
	eventBytes         *prometheus.CounterVec // stream
	eventRecords       *prometheus.CounterVec // stream
	eventSuccess       *prometheus.CounterVec // stream
	eventBehindLatest  *lagGauge
	subscriptionsGauge *prometheus.Desc
}

// latencyBuckets span a cached read (well under a millisecond) to a
// PutRecords waiting for its fsync on a busy disk.
var latencyBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}

// Results of the records of a PutRecords call (PutRecords.SuccessfulRecords,
// FailedRecords and ThrottledRecords).
const (
	resultSuccessful = "successful"
	resultFailed     = "failed"
	resultThrottled  = "throttled"
)

func counterVec(name, help string, labels ...string) *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
}

func newAPIMetrics() *apiMetrics {
	return &apiMetrics{
		requests: counterVec("eddy_kds_requests_total",
			"Kinesis Data Streams requests by operation, stream (PutRecord, PutRecords, GetRecords and SubscribeToShard; \"\" for the others) and HTTP status: <Operation>.Success is code=\"200\".",
			"operation", "stream", "code"),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "eddy_kds_latency_seconds",
			Help:    "<Operation>.Latency: time to answer a Kinesis Data Streams request (SubscribeToShard: not observed), by operation.",
			Buckets: latencyBuckets}, []string{"operation"}),
		putRecordBytes: counterVec("eddy_kds_putrecord_bytes_total",
			"PutRecord.Bytes: key and data bytes put by PutRecord, by stream.", "stream"),
		putRecordsBytes: counterVec("eddy_kds_putrecords_bytes_total",
			"PutRecords.Bytes: key and data bytes of the records PutRecords stored, by stream.", "stream"),
		putRecordsRecords: counterVec("eddy_kds_putrecords_records_total",
			"PutRecords.TotalRecords by result: successful (SuccessfulRecords), throttled (ThrottledRecords) or failed otherwise (FailedRecords), by stream.",
			"stream", "result"),
		getRecordsBytes: counterVec("eddy_kds_getrecords_bytes_total",
			"GetRecords.Bytes: key and data bytes GetRecords returned, by stream.", "stream"),
		getRecordsRecords: counterVec("eddy_kds_getrecords_records_total",
			"GetRecords.Records: records GetRecords returned, by stream.", "stream"),
		iteratorAge: newLagGauge("eddy_kds_getrecords_iterator_age_milliseconds",
			"GetRecords.IteratorAgeMilliseconds: how far behind the shard's tip the largest GetRecords answer of the last minute left its reader (0: caught up), by stream."),
		subscribeExceeded: counterVec("eddy_kds_subscribetoshard_rate_exceeded_total",
			"SubscribeToShard.RateExceeded: subscriptions refused because the consumer's subscription to the shard was younger than 5 s, by stream.", "stream"),
		eventBytes: counterVec("eddy_kds_subscribetoshardevent_bytes_total",
			"SubscribeToShardEvent.Bytes: key and data bytes sent in SubscribeToShard events, by stream.", "stream"),
		eventRecords: counterVec("eddy_kds_subscribetoshardevent_records_total",
			"SubscribeToShardEvent.Records: records sent in SubscribeToShard events, by stream.", "stream"),
		eventSuccess: counterVec("eddy_kds_subscribetoshardevent_success_total",
			"SubscribeToShardEvent.Success: SubscribeToShard events sent, by stream.", "stream"),
		eventBehindLatest: newLagGauge("eddy_kds_subscribetoshardevent_millis_behind_latest",
			"SubscribeToShardEvent.MillisBehindLatest: the largest of the last minute's SubscribeToShard events (0: caught up), by stream."),
		subscriptionsGauge: prometheus.NewDesc("eddy_kds_subscriptions",
			"Open SubscribeToShard subscriptions (enhanced fan-out), by stream.", []string{"stream"}, nil),
	}
}

// register registers the metrics, the open subscriptions of subs read at
// each scrape.
func (m *apiMetrics) register(reg prometheus.Registerer, a *API) {
	reg.MustRegister(m.requests, m.latency, m.putRecordBytes, m.putRecordsBytes, m.putRecordsRecords,
		m.getRecordsBytes, m.getRecordsRecords, m.iteratorAge, m.subscribeExceeded,
		m.eventBytes, m.eventRecords, m.eventSuccess, m.eventBehindLatest, subscriptionsCollector{a})
}

// subscriptionsCollector counts the open subscriptions by stream label.
type subscriptionsCollector struct{ a *API }

func (c subscriptionsCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.a.metrics.subscriptionsGauge
}

func (c subscriptionsCollector) Collect(ch chan<- prometheus.Metric) {
	counts := map[string]int{}
	c.a.subs.mu.Lock()
	for key := range c.a.subs.m {
		counts[key.stream.Name()]++
	}
	c.a.subs.mu.Unlock()
	byLabel := map[string]int{}
	for name, n := range counts {
		byLabel[c.a.Core.StreamLabel(name)] += n
	}
	for label, n := range byLabel {
		ch <- prometheus.MustNewConstMetric(c.a.metrics.subscriptionsGauge, prometheus.GaugeValue, float64(n), label)
	}
}

// request is one request being answered: its operation, the stream it
// acts on once resolved, and whether its status was counted.
type request struct {
	m       *apiMetrics
	a       *API
	op      string
	stream  string
	started time.Time
	counted bool
}

type requestKey struct{}

// requestOf returns ctx's request (nil outside ServeHTTP).
func requestOf(ctx context.Context) *request {
	rq, _ := ctx.Value(requestKey{}).(*request)
	return rq
}

// setStream names the stream a request acts on, for its series.
func setStream(ctx context.Context, s *datastreams.Stream) {
	if rq := requestOf(ctx); rq != nil {
		rq.stream = s.Name()
	}
}

// status counts the request once, when its status is written (a
// subscription's at its start, not when it ends).
func (rq *request) status(code int) {
	if rq.counted {
		return
	}
	rq.counted = true
	op := rq.op
	if op == "" {
		op = "unknown"
	}
	rq.m.requests.WithLabelValues(op, rq.a.Core.StreamLabel(rq.stream), codeLabel(code)).Inc()
}

// done observes the request's latency.
func (rq *request) done() {
	if rq.op == "" || rq.op == "SubscribeToShard" {
		return
	}
	rq.m.latency.WithLabelValues(rq.op).Observe(time.Since(rq.started).Seconds())
}

func codeLabel(code int) string {
	switch code {
	case http.StatusOK:
		return "200"
	case http.StatusBadRequest:
		return "400"
	}
	return strconv.Itoa(code)
}

// statusWriter tells its request the status it writes.
type statusWriter struct {
	http.ResponseWriter
	rq *request
}

func (w statusWriter) WriteHeader(code int) {
	w.rq.status(code)
	w.ResponseWriter.WriteHeader(code)
}

func (w statusWriter) Write(b []byte) (int, error) {
	w.rq.status(http.StatusOK)
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (flushes and
// deadlines of SubscribeToShard).
func (w statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// lagGauge is a gauge by stream of the largest value observed in about
// the last minute (CloudWatch's Maximum over a one-minute period): two
// 30-second windows, the current one and the one before. A stream with
// no observation for a minute has no series.
type lagGauge struct {
	desc *prometheus.Desc
	mu   sync.Mutex
	m    map[string]*lagWindow
}

type lagWindow struct {
	start     time.Time
	cur, prev int64 // prev < 0: none
}

const lagWindowLength = 30 * time.Second

func newLagGauge(name, help string) *lagGauge {
	return &lagGauge{desc: prometheus.NewDesc(name, help, []string{"stream"}, nil), m: map[string]*lagWindow{}}
}

func (g *lagGauge) observe(label string, v int64, now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	w := g.m[label]
	switch {
	case w == nil:
		g.m[label] = &lagWindow{start: now, cur: v, prev: -1}
	case now.Sub(w.start) >= 2*lagWindowLength:
		*w = lagWindow{start: now, cur: v, prev: -1}
	case now.Sub(w.start) >= lagWindowLength:
		*w = lagWindow{start: now, cur: v, prev: w.cur}
	default:
		w.cur = max(w.cur, v)
	}
}

func (g *lagGauge) Describe(ch chan<- *prometheus.Desc) { ch <- g.desc }

func (g *lagGauge) Collect(ch chan<- prometheus.Metric) {
	now := time.Now()
	g.mu.Lock()
	defer g.mu.Unlock()
	for label, w := range g.m {
		age := now.Sub(w.start)
		v := w.cur
		switch {
		case age >= 2*lagWindowLength:
			delete(g.m, label)
			continue
		case age < lagWindowLength:
			v = max(v, w.prev)
		}
		ch <- prometheus.MustNewConstMetric(g.desc, prometheus.GaugeValue, float64(v), label)
	}
}

// DeletePartialMatch forgets a deleted stream's series (the server's
// registry calls it as it does a vector's).
func (g *lagGauge) DeletePartialMatch(labels prometheus.Labels) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, ok := g.m[labels["stream"]]; !ok {
		return 0
	}
	delete(g.m, labels["stream"])
	return 1
}

// recordBytes sums the key and data bytes of records.
func recordBytes(recs []logstore.Record) int {
	n := 0
	for i := range recs {
		n += len(recs[i].Key) + len(recs[i].Data)
	}
	return n
}

// observePutRecord counts a stored PutRecord.
func (a *API) observePutRecord(s *datastreams.Stream, bytes int) {
	a.metrics.putRecordBytes.WithLabelValues(a.Core.StreamLabel(s.Name())).Add(float64(bytes))
}

// observePutRecords counts the records of a PutRecords call by result.
func (a *API) observePutRecords(s *datastreams.Stream, entries []datastreams.PutEntry, res []datastreams.PutResult) {
	var ok, failed, throttled, bytes int
	for i, r := range res {
		switch {
		case r.Err == nil:
			ok++
			bytes += len(entries[i].Key) + len(entries[i].Data)
		case datastreams.KindOf(r.Err) == datastreams.KindThroughput:
			throttled++
		default:
			failed++
		}
	}
	m, label := a.metrics, a.Core.StreamLabel(s.Name())
	m.putRecordsBytes.WithLabelValues(label).Add(float64(bytes))
	for result, n := range map[string]int{resultSuccessful: ok, resultFailed: failed, resultThrottled: throttled} {
		if n > 0 || result == resultSuccessful {
			m.putRecordsRecords.WithLabelValues(label, result).Add(float64(n))
		}
	}
}

// observeGetRecords counts what a GetRecords call returned.
func (a *API) observeGetRecords(s *datastreams.Stream, res datastreams.ReadResult) {
	m, label := a.metrics, a.Core.StreamLabel(s.Name())
	m.getRecordsRecords.WithLabelValues(label).Add(float64(len(res.Records)))
	m.getRecordsBytes.WithLabelValues(label).Add(float64(recordBytes(res.Records)))
	m.iteratorAge.observe(label, res.BehindMillis, time.Now())
}

// observeEvent counts a SubscribeToShardEvent sent.
func (a *API) observeEvent(s *datastreams.Stream, res datastreams.ReadResult) {
	m, label := a.metrics, a.Core.StreamLabel(s.Name())
	m.eventSuccess.WithLabelValues(label).Inc()
	if len(res.Records) > 0 {
		m.eventRecords.WithLabelValues(label).Add(float64(len(res.Records)))
		m.eventBytes.WithLabelValues(label).Add(float64(recordBytes(res.Records)))
	}
	m.eventBehindLatest.observe(label, res.BehindMillis, time.Now())
}
