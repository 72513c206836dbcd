package server

import (
	"errors"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	dto "github.com/prometheus/client_model/go"

	"github.com/eddy-video/eddy/fragments"
)

// MetricsConfig bounds the per-stream series of /metrics: a server with
// thousands of streams would otherwise export thousands of series per
// metric.
type MetricsConfig struct {
	// PerStream gives each stream series of its own (label stream); off,
	// every stream counts under stream="(aggregated)".
	PerStream bool `yaml:"per_stream"`
	// PerStreamLimit is how many streams have series of their own at a
	// time: the first ones to show activity; the others count under
	// stream="(aggregated)".
	PerStreamLimit int `yaml:"per_stream_limit"`
}

// AggregatedStream is the stream label of the series that sum the
// streams without series of their own. It is no valid stream name.
const AggregatedStream = "(aggregated)"

func (m MetricsConfig) validate() []error {
	if m.PerStreamLimit < 0 {
		return []error{errors.New("metrics.per_stream_limit: must be 0 or more (0: every stream aggregated)")}
	}
	return nil
}

// streamLabels chooses the stream label of every per-stream series: the
// stream's name for at most limit streams, AggregatedStream for the
// others. A video stream's events stream (NAME.events) has its label when
// its video stream has one, and takes no place of its own: a camera is
// one stream to its operator. A stream keeps its label while it exists;
// once it is gone, the next scrape deletes its series from every vector
// registered through register, and frees its place.
type streamLabels struct {
	limit  int
	exists func(name string) bool

	mu      sync.RWMutex
	labeled map[string]bool // name → whether it takes a place
	places  int
	// gone are the names removed at the last sweep: a request that took
	// the label just before may have recreated a series since, so the
	// next sweep deletes them once more.
	gone []string
	vecs []partialDeleter
}

// partialDeleter is a metric vector (CounterVec, GaugeVec, HistogramVec).
type partialDeleter interface {
	DeletePartialMatch(prometheus.Labels) int
}

func newStreamLabels(c MetricsConfig, exists func(string) bool) *streamLabels {
	limit := c.PerStreamLimit
	if !c.PerStream {
		limit = 0
	}
	return &streamLabels{limit: limit, exists: exists, labeled: map[string]bool{}}
}

// Label returns the stream label of name's series ("" stays "": the
// series of requests that named no stream).
func (l *streamLabels) Label(name string) string {
	if name == "" {
		return ""
	}
	l.mu.RLock()
	_, ok := l.labeled[name]
	l.mu.RUnlock()
	if ok {
		return name
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if video, ok := strings.CutSuffix(name, fragments.EventsSuffix); ok {
		if !l.takeLocked(video) {
			return AggregatedStream
		}
		l.labeled[name] = false
		return name
	}
	if !l.takeLocked(name) {
		return AggregatedStream
	}
	return name
}

// takeLocked gives name a place unless it has one, if one is free.
func (l *streamLabels) takeLocked(name string) bool {
	if _, ok := l.labeled[name]; ok {
		return true
	}
	if l.places >= l.limit {
		return false
	}
	l.labeled[name] = true
	l.places++
	return true
}

// sweep forgets the streams that no longer exist: their series go from
// every vector, and their places are free.
func (l *streamLabels) sweep() {
	l.mu.Lock()
	var gone []string
	for _, name := range l.gone {
		if _, again := l.labeled[name]; !again { // not a new stream of that name
			gone = append(gone, name)
		}
	}
	l.gone = nil
	for name, place := range l.labeled {
		if !l.exists(name) {
			if place {
				l.places--
			}
			delete(l.labeled, name)
			l.gone = append(l.gone, name)
		}
	}
	gone = append(gone, l.gone...)
	vecs := l.vecs
	l.mu.Unlock()
	for _, name := range gone {
		for _, v := range vecs {
			v.DeletePartialMatch(prometheus.Labels{"stream": name})
		}
	}
}

// register is a Registerer that remembers every vector it registers, so
// that sweep can delete a gone stream's series from it (a vector without
// a stream label has none to delete).
type register struct {
	prometheus.Registerer
	labels *streamLabels
}

func (r register) Register(c prometheus.Collector) error {
	if err := r.Registerer.Register(c); err != nil {
		return err
	}
	if v, ok := c.(partialDeleter); ok {
		r.labels.mu.Lock()
		r.labels.vecs = append(r.labels.vecs, v)
		r.labels.mu.Unlock()
	}
	return nil
}

func (r register) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}

// newMetrics builds the registry every package registers its metrics
// with (the Go runtime's and the process's included), the stream labels
// they use, and the gatherer /metrics serves, which forgets gone streams
// before each scrape.
func (s *Server) newMetrics() (prometheus.Registerer, prometheus.Gatherer) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s.labels = newStreamLabels(s.Config.Metrics, func(name string) bool {
		_, err := s.core.Stream(name)
		return err == nil
	})
	gather := prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		s.labels.sweep()
		return reg.Gather()
	})
	return register{Registerer: reg, labels: s.labels}, gather
}
