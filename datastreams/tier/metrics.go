package tier

import "github.com/prometheus/client_golang/prometheus"

// metrics are the tier's eddy_object_* series (the cache has its own).
type metrics struct {
	uploadedBytes    prometheus.Counter
	uploadedSegments prometheus.Counter
	uploadFailures   prometheus.Counter
	pendingBytes     prometheus.Gauge
	pendingSegments  prometheus.Gauge
	uploadLag        prometheus.Gauge
	lostBytes        prometheus.Counter
	deletedObjects   prometheus.Counter
	droppedBytes     prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		uploadedBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "eddy_object_uploaded_bytes_total", Help: "Segment bytes uploaded to object storage and verified.",
		}),
		uploadedSegments: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "eddy_object_uploaded_segments_total", Help: "Segments uploaded to object storage and verified.",
		}),
		uploadFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "eddy_object_upload_failures_total", Help: "Segment uploads that failed (retried with backoff).",
		}),
		pendingBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "eddy_object_pending_bytes", Help: "Sealed segment bytes waiting for upload.",
		}),
		pendingSegments: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "eddy_object_pending_segments", Help: "Sealed segments waiting for upload.",
		}),
		uploadLag: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "eddy_object_upload_lag_seconds", Help: "Age of the newest record of the oldest segment waiting for upload (0: none waits).",
		}),
		lostBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "eddy_object_lost_bytes_total", Help: "Sealed bytes discarded before upload because the upload queue was full.",
		}),
		deletedObjects: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "eddy_object_deleted_objects_total", Help: "Objects deleted from object storage (retention, stream deletes, repairs).",
		}),
		droppedBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "eddy_object_local_dropped_bytes_total", Help: "Bytes of uploaded segments removed from local disk (hot time over or disk floor).",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.uploadedBytes, m.uploadedSegments, m.uploadFailures, m.pendingBytes,
			m.pendingSegments, m.uploadLag, m.lostBytes, m.deletedObjects, m.droppedBytes)
	}
	return m
}
