package datastreams

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type coreMetrics struct {
	streams        prometheus.Gauge
	records        prometheus.Counter
	bytes          prometheus.Counter
	commits        prometheus.Counter
	commitSeconds  prometheus.Histogram
	throttled      prometheus.Counter
	trimmedRecords prometheus.Counter
	trimmedBytes   prometheus.Counter
}

func newCoreMetrics(reg prometheus.Registerer) *coreMetrics {
	m := &coreMetrics{
		streams:        prometheus.NewGauge(prometheus.GaugeOpts{Name: "eddy_streams", Help: "Streams on the shard core."}),
		records:        prometheus.NewCounter(prometheus.CounterOpts{Name: "eddy_log_appended_records_total", Help: "Records appended to shard logs."}),
		bytes:          prometheus.NewCounter(prometheus.CounterOpts{Name: "eddy_log_appended_bytes_total", Help: "Key and data bytes appended to shard logs."}),
		commits:        prometheus.NewCounter(prometheus.CounterOpts{Name: "eddy_log_commits_total", Help: "Group commits (one write and, with sync always, one fsync each)."}),
		commitSeconds:  prometheus.NewHistogram(prometheus.HistogramOpts{Name: "eddy_log_commit_seconds", Help: "Time to write and commit one group.", Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16)}),
		throttled:      prometheus.NewCounter(prometheus.CounterOpts{Name: "eddy_throughput_exceeded_total", Help: "Requests or records refused by per-shard limits."}),
		trimmedRecords: prometheus.NewCounter(prometheus.CounterOpts{Name: "eddy_retention_trimmed_records_total", Help: "Records removed by retention."}),
		trimmedBytes:   prometheus.NewCounter(prometheus.CounterOpts{Name: "eddy_retention_trimmed_bytes_total", Help: "Bytes removed by retention."}),
	}
	if reg != nil {
		reg.MustRegister(m.streams, m.records, m.bytes, m.commits, m.commitSeconds, m.throttled, m.trimmedRecords, m.trimmedBytes)
	}
	return m
}

func (m *coreMetrics) observeCommit(records, bytes int, took time.Duration) {
	m.records.Add(float64(records))
	m.bytes.Add(float64(bytes))
	m.commits.Inc()
	m.commitSeconds.Observe(took.Seconds())
}
