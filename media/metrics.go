package media

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// registryMetrics are the series of publications, named as Kinesis
// Video's CloudWatch names PutMedia's (AWS/KinesisVideo PutMedia.*): a
// publication (RTSP RECORD, WHIP, a pulled source) is Eddy's PutMedia
// connection, and the protocol label says which. Series are by stream
// label (Registry.StreamLabel) and protocol.
type registryMetrics struct {
	requests *prometheus.CounterVec // stream, protocol
	refused  *prometheus.CounterVec // protocol, reason
	bytes    *prometheus.CounterVec // stream, protocol
	frames   *prometheus.CounterVec // stream, protocol
	active   *prometheus.Desc       // stream, protocol
}

func newRegistryMetrics() *registryMetrics {
	sp := []string{"stream", "protocol"}
	return &registryMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "eddy_kvs_putmedia_requests_total",
			Help: "PutMedia.Requests: publications started (RTSP RECORD, WHIP, pulled sources), by stream and protocol."}, sp),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "eddy_kvs_putmedia_connection_errors_total",
			Help: "PutMedia.ConnectionErrors: publications refused, by protocol and reason (busy, not_found, invalid_name, forbidden, closed, other)."},
			[]string{"protocol", "reason"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "eddy_kvs_putmedia_incoming_bytes_total",
			Help: "PutMedia.IncomingBytes: access-unit payload bytes published, by stream and protocol."}, sp),
		frames: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "eddy_kvs_putmedia_incoming_frames_total",
			Help: "PutMedia.IncomingFrames: access units (video frames and audio frames) published, by stream and protocol."}, sp),
		active: prometheus.NewDesc("eddy_kvs_putmedia_active_connections",
			"PutMedia.ActiveConnections: live publications, by stream and protocol.", sp, nil),
	}
}

// activeCollector counts the registry's live publications at each scrape.
type activeCollector struct{ r *Registry }

func (c activeCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.r.metrics.active }

func (c activeCollector) Collect(ch chan<- prometheus.Metric) {
	type key struct{ name, protocol string }
	counts := map[key]int{}
	c.r.mu.Lock()
	for name, h := range c.r.pubs {
		if h != nil {
			counts[key{name, h.Protocol}]++
		}
	}
	c.r.mu.Unlock()
	byLabel := map[key]int{}
	for k, n := range counts {
		byLabel[key{c.r.streamLabel(k.name), k.protocol}] += n
	}
	for k, n := range byLabel {
		ch <- prometheus.MustNewConstMetric(c.r.metrics.active, prometheus.GaugeValue, float64(n), k.name, k.protocol)
	}
}

// RegisterMetrics registers the registry's series with Registerer now, so
// that they show before the first publication (which would otherwise).
func (r *Registry) RegisterMetrics() { r.initMetrics() }

// initMetrics builds the metrics and registers them with Registerer,
// once.
func (r *Registry) initMetrics() {
	r.metricsOnce.Do(func() {
		r.metrics = newRegistryMetrics()
		if r.Registerer != nil {
			m := r.metrics
			r.Registerer.MustRegister(m.requests, m.refused, m.bytes, m.frames, activeCollector{r})
		}
	})
}

func (r *Registry) streamLabel(name string) string {
	if r.StreamLabel == nil {
		return name
	}
	return r.StreamLabel(name)
}

// refusedReason names a Publish error for the connection errors' reason.
func refusedReason(err error) string {
	switch {
	case errors.Is(err, ErrAlreadyPublishing):
		return "busy"
	case errors.Is(err, ErrNotFound):
		return "not_found"
	case errors.Is(err, ErrInvalidName):
		return "invalid_name"
	case errors.Is(err, ErrForbidden):
		return "forbidden"
	case errors.Is(err, ErrRegistryClosed):
		return "closed"
	}
	return "other"
}

// instrument gives a new publication's hub its counters.
func (r *Registry) instrument(h *Hub, name string) {
	label := r.streamLabel(name)
	m := r.metrics
	m.requests.WithLabelValues(label, h.Protocol).Inc()
	h.inBytes = m.bytes.WithLabelValues(label, h.Protocol)
	h.inFrames = m.frames.WithLabelValues(label, h.Protocol)
}

// countUnit counts a published unit (h.mu held).
func (h *Hub) countUnit(au *AccessUnit) {
	if h.inFrames == nil {
		return
	}
	n := 0
	for _, p := range au.Payload {
		n += len(p)
	}
	h.inFrames.Inc()
	h.inBytes.Add(float64(n))
}
