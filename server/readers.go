package server

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eddy-video/eddy/datastreams/kdsapi"
	"github.com/eddy-video/eddy/media/netlimit"
	"github.com/eddy-video/eddy/media/rtsp"
)

// readerCuts gives every reader of the server's protocols its write
// deadline (limits.write_timeout) and counts the readers cut for missing
// it, or for letting their queue fill, as eddy_reader_cuts_total.
type readerCuts struct {
	timeout time.Duration
	vec     *prometheus.CounterVec
}

// newReaderCuts registers the counter and hooks the SubscribeToShard
// consumers of kds.
func newReaderCuts(reg prometheus.Registerer, timeout time.Duration, kds *kdsapi.API) *readerCuts {
	rc := &readerCuts{timeout: timeout, vec: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "eddy_reader_cuts_total",
		Help: "Readers cut because they could not keep up: a write missed limits.write_timeout, or an RTSP reader's queue filled.",
	}, []string{"protocol"})}
	reg.MustRegister(rc.vec)
	kds.WriteTimeout, kds.OnReaderCut = timeout, rc.vec.WithLabelValues("kds_subscribe").Inc
	return rc
}

// deadlines are the write deadlines of one protocol's HTTP readers.
func (rc *readerCuts) deadlines(protocol string) netlimit.Deadlines {
	return netlimit.Deadlines{Write: rc.timeout, OnCut: rc.vec.WithLabelValues(protocol).Inc}
}

// hookRTSP gives an RTSP server's readers the deadline.
func (rc *readerCuts) hookRTSP(rs *rtsp.Server) {
	rs.WriteTimeout, rs.OnReaderCut = rc.timeout, rc.vec.WithLabelValues("rtsp").Inc
}
