package datastreams

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// coreMetrics are the core's series: the log's (process-wide) and, per
// stream, the Kinesis Data Streams metrics CloudWatch reports from the
// core's side (AWS/Kinesis IncomingBytes, IncomingRecords,
// WriteProvisionedThroughputExceeded, ReadProvisionedThroughputExceeded).
type coreMetrics struct {
	streams        prometheus.Gauge
	records        prometheus.Counter
	bytes          prometheus.Counter
	commits        prometheus.Counter
	commitSeconds  prometheus.Histogram
	throttled      prometheus.Counter
	trimmedRecords prometheus.Counter
	trimmedBytes   prometheus.Counter

	incomingBytes   *prometheus.CounterVec // by stream
	incomingRecords *prometheus.CounterVec
	writeExceeded   *prometheus.CounterVec
	readExceeded    *prometheus.CounterVec
}

func newCoreMetrics(reg prometheus.Registerer) *coreMetrics {
	stream := []string{"stream"}
	m := &coreMetrics{
		streams:        prometheus.NewGauge(prometheus.GaugeOpts{Name: "eddy_streams", Help: "Streams on the shard core."}),
		records:        prometheus.NewCounter(prometheus.CounterOpts{Name: "eddy_log_appended_records_total", Help: "Records appended to shard logs."}),
		bytes:          prometheus.NewCounter(prometheus.CounterOpts{Name: "eddy_log_appended_bytes_total", Help: "Key and data bytes appended to shard logs."}),
		commits:        prometheus.NewCounter(prometheus.CounterOpts{Name: "eddy_log_commits_total", Help: "Group commits (one write and, with sync always, one fsync each)."}),
		commitSeconds:  prometheus.NewHistogram(prometheus.HistogramOpts{Name: "eddy_log_commit_seconds", Help: "Time to write and commit one group.", Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16)}),
		throttled:      prometheus.NewCounter(prometheus.CounterOpts{Name: "eddy_throughput_exceeded_total", Help: "Requests or records refused by per-shard limits."}),
		trimmedRecords: prometheus.NewCounter(prometheus.CounterOpts{Name: "eddy_retention_trimmed_records_total", Help: "Records removed by retention."}),
		trimmedBytes:   prometheus.NewCounter(prometheus.CounterOpts{Name: "eddy_retention_trimmed_bytes_total", Help: "Bytes removed by retention."}),

		incomingBytes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "eddy_kds_incoming_bytes_total",
			Help: "IncomingBytes: key and data bytes of the records put to a data stream (PutRecord, PutRecords, and a video stream's events), by stream."}, stream),
		incomingRecords: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "eddy_kds_incoming_records_total",
			Help: "IncomingRecords: records put to a data stream, by stream."}, stream),
		writeExceeded: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "eddy_kds_write_provisioned_throughput_exceeded_total",
			Help: "WriteProvisionedThroughputExceeded: records refused by a shard's write limits, by stream."}, stream),
		readExceeded: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "eddy_kds_read_provisioned_throughput_exceeded_total",
			Help: "ReadProvisionedThroughputExceeded: GetRecords calls refused by a shard's read limits, by stream."}, stream),
	}
	if reg != nil {
		reg.MustRegister(m.streams, m.records, m.bytes, m.commits, m.commitSeconds, m.throttled, m.trimmedRecords, m.trimmedBytes,
			m.incomingBytes, m.incomingRecords, m.writeExceeded, m.readExceeded)
	}
	return m
}

func (m *coreMetrics) observeCommit(records, bytes int, took time.Duration) {
	m.records.Add(float64(records))
	m.bytes.Add(float64(bytes))
	m.commits.Inc()
	m.commitSeconds.Observe(took.Seconds())
}

// StreamLabel returns the value of the stream label of name's series:
// LabelStream's answer, or the name itself without one.
func (c *Core) StreamLabel(name string) string {
	if c.LabelStream == nil {
		return name
	}
	return c.LabelStream(name)
}

// observePut counts a Put's outcome: the records accepted and their
// bytes, and those the shard limits refused.
func (s *Stream) observePut(records, bytes, throttled int) {
	m, label := s.core.metrics, s.core.StreamLabel(s.name)
	if records > 0 {
		m.incomingRecords.WithLabelValues(label).Add(float64(records))
		m.incomingBytes.WithLabelValues(label).Add(float64(bytes))
	}
	if throttled > 0 {
		m.throttled.Add(float64(throttled))
		m.writeExceeded.WithLabelValues(label).Add(float64(throttled))
	}
}
