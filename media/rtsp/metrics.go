package rtsp

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are one listener's eddy_rtsp_* series. Every RTSP listener of a
// process shares the collectors, with its own "listener" label.
type metrics struct {
	open         prometheus.Gauge
	refused      *prometheus.CounterVec // by reason: refusedTotal, refusedPerAddress
	acceptErrors prometheus.Counter
	timeouts     *prometheus.CounterVec // by reason: the phase that overstayed
}

// Reasons a connection is refused: one of the caps is full.
const (
	refusedTotal      = "connections"
	refusedPerAddress = "connections_per_address"
)

func newMetrics(reg prometheus.Registerer, listener string) (*metrics, error) {
	open := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "eddy_rtsp_connections",
		Help: "Open RTSP connections, by listener."}, []string{"listener"})
	refused := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "eddy_rtsp_connections_refused_total",
		Help: "RTSP connections closed as soon as accepted because a connection cap was full, by listener and cap."},
		[]string{"listener", "reason"})
	acceptErrors := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "eddy_rtsp_accept_errors_total",
		Help: "Failed accepts on an RTSP listener (such as too many open files), each retried, by listener."},
		[]string{"listener"})
	timeouts := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "eddy_rtsp_timeouts_total",
		Help: "RTSP connections and publications ended for overstaying: auth (nothing authenticated), idle (no request), publish (ANNOUNCE without RECORD)."},
		[]string{"listener", "reason"})
	var err error
	if open, err = register(reg, open); err != nil {
		return nil, err
	}
	if refused, err = register(reg, refused); err != nil {
		return nil, err
	}
	if acceptErrors, err = register(reg, acceptErrors); err != nil {
		return nil, err
	}
	if timeouts, err = register(reg, timeouts); err != nil {
		return nil, err
	}
	l := prometheus.Labels{"listener": listener}
	return &metrics{open: open.With(l), refused: refused.MustCurryWith(l),
		acceptErrors: acceptErrors.With(l), timeouts: timeouts.MustCurryWith(l)}, nil
}

// register registers c, or returns the collector registered before it
// under the same name (another listener's).
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if reg == nil {
		return c, nil
	}
	err := reg.Register(c)
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if old, ok := are.ExistingCollector.(C); ok {
			return old, nil
		}
	}
	return c, err
}

// sessionsCollector is eddy_rtsp_sessions of one listener: its open
// sessions by stream and mode (publish: ANNOUNCE/RECORD; play: readers
// from SETUP on), counted at each scrape.
type sessionsCollector struct {
	s    *Server
	desc *prometheus.Desc
}

// registerSessions registers the listener's sessions collector (a
// second listener of the same name keeps the first one's).
func (s *Server) registerSessions() error {
	if s.Registerer == nil {
		return nil
	}
	_, err := register(s.Registerer, prometheus.Collector(sessionsCollector{s: s, desc: prometheus.NewDesc("eddy_rtsp_sessions",
		"Open RTSP sessions, by listener, stream and mode: publish (ANNOUNCE, RECORD) or play (readers).",
		[]string{"stream", "mode"}, prometheus.Labels{"listener": s.listenerName()})}))
	return err
}

func (c sessionsCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c sessionsCollector) Collect(ch chan<- prometheus.Metric) {
	type key struct{ stream, mode string }
	counts := map[key]int{}
	c.s.mu.Lock()
	for _, sess := range c.s.sessions {
		switch {
		case sess.pub != nil:
			counts[key{sess.pub.name, "publish"}]++
		case sess.out != nil:
			counts[key{sess.out.name, "play"}]++
		}
	}
	c.s.mu.Unlock()
	byLabel := map[key]int{}
	for k, n := range counts {
		byLabel[key{c.s.streamLabel(k.stream), k.mode}] += n
	}
	for k, n := range byLabel {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n), k.stream, k.mode)
	}
}

func (s *Server) streamLabel(name string) string {
	if s.StreamLabel == nil {
		return name
	}
	return s.StreamLabel(name)
}
