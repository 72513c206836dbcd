package main

import (
	"io"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/eddy-video/eddy/server"
)

// The metrics `eddy status` reads from /metrics, all in this one table
// (with the open-session gauges of server.SessionGauges): when the server
// renames one, change it here. Each figure is a metric family summed over
// its label sets (RTSP connections over listeners, auth failures over
// protocols and reasons), or over those with one label's value
// (label=value). A family with labels that is absent has no series yet,
// so counts zero (vec); any other figure the server does not serve is left
// out of the report, not shown as zero.
var statusMetrics = append([]statusMetric{
	{"recording", "eddy_recorders", false, ""}, // publications being recorded
	{"rtspConnections", "eddy_rtsp_connections", true, ""},
	{"webrtcPeerConnections", "eddy_webrtc_peer_connections", false, ""}, // WHEP viewers and WHIP publishers
	{"fragmentsPersisted", "eddy_fragments_persisted_total", false, ""},
	{"fragmentBytes", "eddy_fragment_bytes_total", false, ""},
	{"fragmentAppendErrors", "eddy_fragment_append_errors_total", false, ""},
	{"liveReaderDrops", "eddy_live_reader_drops_total", false, ""},
	{"retentionTrimmedBytes", "eddy_retention_trimmed_bytes_total", false, ""},
	{"authFailures", "eddy_auth_failures_total", true, ""},
	{"diskFreeBytes", "eddy_disk_free_bytes", false, ""}, // the data directory's file system
	{"diskTotalBytes", "eddy_disk_size_bytes", false, ""},
	{"diskMinFreeBytes", "eddy_disk_min_free_bytes", false, ""}, // the floor retention keeps
	{"diskFullErrors", "eddy_disk_full_errors_total", false, ""},
	// Object storage (storage.object): absent without it.
	{"objectPendingBytes", "eddy_object_pending_bytes", false, ""},
	{"objectPendingSegments", "eddy_object_pending_segments", false, ""},
	{"objectLagSeconds", "eddy_object_upload_lag_seconds", false, ""},
	{"objectUploadedBytes", "eddy_object_uploaded_bytes_total", false, ""},
	{"objectUploadFailures", "eddy_object_upload_failures_total", false, ""},
	{"objectLostBytes", "eddy_object_lost_bytes_total", false, ""},
	{"objectAvailable", "eddy_object_available", false, ""},
	{"objectCacheHits", "eddy_object_cache_hits_total", false, ""},
	{"objectCacheMisses", "eddy_object_cache_misses_total", false, ""},
	{"residentBytes", "process_resident_memory_bytes", false, ""},
	{"openFiles", "process_open_fds", false, ""},
	{"maxFiles", "process_max_fds", false, ""},
	{"startTime", "process_start_time_seconds", false, ""},
	{"goroutines", "go_goroutines", false, ""},
}, sessionMetrics()...)

type statusMetric struct {
	key, family string
	vec         bool
	label       string // "name=value": only the series with it
}

// sessionKey is the key of the open sessions of a protocol (as
// server.SessionGauges names it: rtsp_publish, webrtc_whep, hls, ...).
func sessionKey(protocol string) string { return "sessions." + protocol }

// sessionMetrics are the figures of server.SessionGauges: a family that
// appears with its first session, so absent means not reported.
func sessionMetrics() []statusMetric {
	out := make([]statusMetric, 0, len(server.SessionGauges))
	for _, g := range server.SessionGauges {
		m := statusMetric{key: sessionKey(g.Protocol), family: g.Family}
		if g.Label != "" {
			m.label = g.Label + "=" + g.Value
		}
		out = append(out, m)
	}
	return out
}

// parseStatusMetrics reads the text exposition format (with expfmt) and
// returns the figures of statusMetrics the server serves, by key.
func parseStatusMetrics(r io.Reader) (map[string]float64, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for _, m := range statusMetrics {
		f, ok := families[m.family]
		if !ok {
			if m.vec {
				out[m.key] = 0
			}
			continue
		}
		name, want, _ := strings.Cut(m.label, "=")
		sum := 0.0
		for _, s := range f.GetMetric() {
			if m.label == "" || hasLabel(s, name, want) {
				sum += value(s)
			}
		}
		out[m.key] = sum
	}
	return out, nil
}

func hasLabel(s *dto.Metric, name, value string) bool {
	for _, l := range s.GetLabel() {
		if l.GetName() == name {
			return l.GetValue() == value
		}
	}
	return false
}

// value is a counter's, gauge's or untyped metric's value.
func value(s *dto.Metric) float64 {
	switch {
	case s.GetCounter() != nil:
		return s.GetCounter().GetValue()
	case s.GetGauge() != nil:
		return s.GetGauge().GetValue()
	default:
		return s.GetUntyped().GetValue()
	}
}
