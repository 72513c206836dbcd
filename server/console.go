package server

import (
	dto "github.com/prometheus/client_model/go"

	"github.com/eddy-video/eddy/datastreams"
	"github.com/eddy-video/eddy/datastreams/buildinfo"
	"github.com/eddy-video/eddy/media/redact"
	"github.com/eddy-video/eddy/media/rtsp"
	"github.com/eddy-video/eddy/web"
)

// The web console's view of the server: what web.Handler's Endpoints,
// Sources and Status report.

// consoleEndpoints returns the addresses the listeners are bound to.
func (s *Server) consoleEndpoints() web.Endpoints {
	e := web.Endpoints{RTSPS: s.RTSPSAddr(), HTTPS: s.Config.TLSCert != ""}
	if s.rtsp != nil {
		e.RTSP = s.rtsp.Addr()
	}
	if s.httpLn != nil {
		e.HTTP = s.httpLn.Addr().String()
	}
	return e
}

// consoleSources returns the state of every pull source.
func (s *Server) consoleSources() []web.SourceStatus {
	var out []web.SourceStatus
	for name, src := range s.registry.Sources() {
		rs, ok := src.(*rtsp.Source)
		if !ok {
			continue
		}
		st := rs.Status()
		// The URL is shown to every viewer of the stream: without its
		// credentials. LastError comes masked from the source.
		ss := web.SourceStatus{Stream: name, URL: redact.URL(rs.URL), State: st.State, LastError: st.LastError}
		if !st.LastErrorAt.IsZero() {
			t := st.LastErrorAt
			ss.LastErrorAt = &t
		}
		out = append(out, ss)
	}
	return out
}

// consoleStatus is the server's part of the status page.
func (s *Server) consoleStatus() web.Status {
	st := web.Status{Version: version(), StartedAt: s.started, DataDir: s.Config.Data,
		Sessions: s.consoleSessions(), Errors: s.errors.Recent(), ObjectStorage: s.objectStatus()}
	st.Disk.UsedBytes = uint64(max(s.core.UsedBytes(), 0))
	if free, total, err := datastreams.StatDisk(s.Config.Data); err == nil {
		st.Disk.FreeBytes, st.Disk.TotalBytes = free, total
		st.Disk.MinFreeBytes = datastreams.FreeSpace(s.Config.Storage.MinFree).Of(total)
	}
	return st
}

// SessionGauge is a gauge of open sessions of one protocol, as /metrics
// serves it: the series of Family, or those with Label=Value when Label
// is set.
type SessionGauge struct{ Protocol, Family, Label, Value string }

// SessionGauges are the open-session gauges by protocol: the status page
// counts its sessions with them, and `eddy status` reads them from
// /metrics. When the server renames a gauge, change it here.
var SessionGauges = []SessionGauge{
	{"rtsp_publish", "eddy_rtsp_sessions", "mode", "publish"},
	{"rtsp_read", "eddy_rtsp_sessions", "mode", "play"},
	{"webrtc_whep", "eddy_webrtc_sessions", "kind", "whep"},
	{"webrtc_whip", "eddy_webrtc_sessions", "kind", "whip"},
	{"hls", "eddy_hls_sessions", "", ""},
	{"getmedia", "eddy_kvs_getmedia_sessions", "", ""},
	{"putmedia", "eddy_putmedia_sessions_active", "", ""},
}

// consoleSessions counts the open sessions by protocol from the gauges
// /metrics serves (the same numbers, summed over streams): a gather of
// the registry, as one scrape costs.
func (s *Server) consoleSessions() map[string]int {
	out := map[string]int{}
	for _, g := range SessionGauges {
		out[g.Protocol] = 0
	}
	mfs, err := s.gather.Gather()
	if err != nil && len(mfs) == 0 {
		return out
	}
	byName := map[string]*dto.MetricFamily{}
	for _, mf := range mfs {
		byName[mf.GetName()] = mf
	}
	for _, g := range SessionGauges {
		mf := byName[g.Family]
		if mf == nil {
			continue
		}
		for _, m := range mf.GetMetric() {
			if g.Label != "" && !hasLabel(m, g.Label, g.Value) {
				continue
			}
			out[g.Protocol] += int(m.GetGauge().GetValue())
		}
	}
	return out
}

func hasLabel(m *dto.Metric, name, value string) bool {
	for _, lp := range m.GetLabel() {
		if lp.GetName() == name {
			return lp.GetValue() == value
		}
	}
	return false
}

// version is the module version the binary was built from, with its VCS
// revision when the build recorded one.
func version() string {
	if bi, ok := buildinfo.Read(); ok {
		return bi.Summary()
	}
	return "unknown"
}
