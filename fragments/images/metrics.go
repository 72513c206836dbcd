package images

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the eddy_images_* series: ffmpeg decodes (one per GOP a
// request needs), their wall time, and the images that failed, by error.
type metrics struct {
	decodes prometheus.Counter
	seconds prometheus.Histogram
	images  prometheus.Counter
	errors  *prometheus.CounterVec // error: NO_MEDIA, MEDIA_ERROR
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		decodes: prometheus.NewCounter(prometheus.CounterOpts{Name: "eddy_images_decodes_total",
			Help: "ffmpeg decodes run for images (GetImages, thumbnails): one per GOP an answer needs."}),
		seconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "eddy_images_decode_seconds",
			Help:    "Wall time of one ffmpeg decode of a GOP into its images, from process start to exit.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}}),
		images: prometheus.NewCounter(prometheus.CounterOpts{Name: "eddy_images_images_total",
			Help: "Images decoded and returned."}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "eddy_images_errors_total",
			Help: "Images not returned, by the Kinesis Video GetImages error: NO_MEDIA (no fragment at the time), MEDIA_ERROR (not decodable)."},
			[]string{"error"}),
	}
	if reg != nil {
		reg.MustRegister(m.decodes, m.seconds, m.images, m.errors)
	}
	return m
}
