package blockcache

import (
	"fmt"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the cache's Prometheus series (names fixed for dashboards)
// and the counters Stats reads.
type metrics struct {
	hits, misses        prometheus.Counter
	bytes               prometheus.Gauge
	coldRead            prometheus.Histogram
	available           prometheus.Gauge
	hitCount, missCount atomic.Int64
}

// coldReadBuckets are the fetch latencies, 1 ms (a store on the LAN) to
// 10 s (the default timeout).
var coldReadBuckets = []float64{.001, .002, .005, .01, .02, .05, .1, .2, .5, 1, 2, 5, 10}

func (m *metrics) register(reg prometheus.Registerer) error {
	m.hits = prometheus.NewCounter(prometheus.CounterOpts{Name: "eddy_object_cache_hits_total",
		Help: "Block reads of cold segments served from the local cache."})
	m.misses = prometheus.NewCounter(prometheus.CounterOpts{Name: "eddy_object_cache_misses_total",
		Help: "Block reads of cold segments that waited for the object store (prefetches not counted)."})
	m.bytes = prometheus.NewGauge(prometheus.GaugeOpts{Name: "eddy_object_cache_bytes",
		Help: "Bytes of blocks held in the local cache."})
	m.coldRead = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "eddy_object_cold_read_seconds",
		Help: "Latency of successful block fetches (ranged GETs) from the object store.", Buckets: coldReadBuckets})
	m.available = prometheus.NewGauge(prometheus.GaugeOpts{Name: "eddy_object_cold_reads_available",
		Help: "1 while cold reads reach the object store, 0 after a failed fetch until one succeeds."})
	m.available.Set(1)
	if reg == nil {
		return nil
	}
	for _, col := range []prometheus.Collector{m.hits, m.misses, m.bytes, m.coldRead, m.available} {
		if err := reg.Register(col); err != nil {
			return fmt.Errorf("blockcache: registering metrics: %w", err)
		}
	}
	return nil
}

func (m *metrics) hit() {
	m.hits.Inc()
	m.hitCount.Add(1)
}

func (m *metrics) miss() {
	m.misses.Inc()
	m.missCount.Add(1)
}
