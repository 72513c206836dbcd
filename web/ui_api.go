package web

import (
	"net"
	"net/http"
	"sort"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/eddy-video/eddy/fragments/kvsapi"
)

// The console's management API (api_streams.go has the stream list):
//
//	POST /api/v1/ui/kinesisvideo/{Operation}  the Kinesis Video control plane with the session
//	GET  /api/v1/ui/endpoints                 where to publish: the listeners' URLs
//	GET  /api/v1/ui/status                    the server's state (eddy:admin)

// The actions of the console's management.
const (
	actionCreate = "kinesisvideo:CreateStream"
	actionAdmin  = "eddy:admin" // the status page, as /metrics
)

// SourceStatus is the state of a pull source (config video.sources), as
// the server's sources report it.
type SourceStatus struct {
	Stream      string     `json:"stream"`
	URL         string     `json:"url"` // without credentials
	State       string     `json:"state"`
	LastError   string     `json:"lastError,omitempty"`
	LastErrorAt *time.Time `json:"lastErrorAt,omitempty"`
}

// Endpoints are the addresses the server's listeners are bound to
// (host:port; RTSPS "" without TLS), and whether HTTP is served over TLS.
type Endpoints struct {
	RTSP, RTSPS, HTTP string
	HTTPS             bool
}

// Status is what the server reports of itself on the status page; the
// handler adds the stream counts and the sources.
type Status struct {
	Version   string    `json:"version"`
	StartedAt time.Time `json:"startedAt"`
	DataDir   string    `json:"dataDir"`
	Disk      Disk      `json:"disk"`
	// Sessions counts the open sessions by protocol: rtsp_publish,
	// rtsp_read, webrtc_whep, webrtc_whip, hls, getmedia, putmedia.
	Sessions map[string]int `json:"sessions"`
	// Errors are the latest warnings and errors logged, newest first.
	Errors []LogRecord `json:"errors"`
	// ObjectStorage is the bucket sealed segments tier to; absent
	// without storage.object.
	ObjectStorage *ObjectStorage `json:"objectStorage,omitempty"`
}

// ObjectStorage is the state of the object-storage tier (the
// eddy_object_* metrics, summed).
type ObjectStorage struct {
	Bucket    string `json:"bucket"`    // "bucket B at ENDPOINT" (no secret)
	Available bool   `json:"available"` // the last request to the store succeeded
	Hot       string `json:"hot"`       // storage.object.hot
	// PendingBytes and PendingSegments wait for upload; LagSeconds is
	// the age of the oldest waiting segment's newest record.
	PendingBytes    int64   `json:"pendingBytes"`
	PendingSegments int64   `json:"pendingSegments"`
	LagSeconds      float64 `json:"lagSeconds"`
	UploadedBytes   int64   `json:"uploadedBytes"`
	UploadFailures  int64   `json:"uploadFailures"`
	LostBytes       int64   `json:"lostBytes"`
	// CacheHits and CacheMisses count block reads of cold segments;
	// CacheBytes is the cache's size now.
	CacheHits   int64 `json:"cacheHits"`
	CacheMisses int64 `json:"cacheMisses"`
	CacheBytes  int64 `json:"cacheBytes"`
}

// TierUsage is how much of a stream is on local disk, in the bucket,
// and waiting for upload (Handler.Tiering).
type TierUsage struct {
	LocalBytes, BucketBytes, PendingBytes int64
}

// Disk is the data directory's use: Eddy's data, and the filesystem's
// free space (as available to Eddy), size and configured floor.
type Disk struct {
	UsedBytes    uint64 `json:"usedBytes"`
	FreeBytes    uint64 `json:"freeBytes"`
	TotalBytes   uint64 `json:"totalBytes"`
	MinFreeBytes uint64 `json:"minFreeBytes"`
}

// LogRecord is one warning or error the server logged.
type LogRecord struct {
	Time    time.Time         `json:"time"`
	Level   string            `json:"level"`
	Message string            `json:"message"`
	Attrs   map[string]string `json:"attrs,omitempty"`
}

// uiKVS answers POST /api/v1/ui/kinesisvideo/{Operation}: the Kinesis
// Video operation with the session's identity, through the same handler,
// permission and answers as a signed call. Every refusal here is in the
// Kinesis Video shape too, so the page reads one kind of error.
func (h *Handler) uiKVS(w http.ResponseWriter, r *http.Request) {
	fail := func(ae *apiError) {
		kvsapi.WriteStatus(w, ae.Status, &kvsapi.Error{Code: ae.Code, Message: ae.Message})
	}
	if err := h.crossOrigin(r); err != nil {
		fail(&apiError{Status: http.StatusForbidden, Code: "AccessDeniedException", Message: err.Error()})
		return
	}
	p, ae := h.who(r)
	if ae != nil {
		fail(ae)
		return
	}
	if h.KVS == nil {
		fail(&apiError{Status: http.StatusNotFound, Code: kvsapi.CodeUnknownOperation, Message: "The Kinesis Video API is not served."})
		return
	}
	h.KVS(w, r, chi.URLParam(r, "op"), p.Name)
}

// uiEndpoints answers GET /api/v1/ui/endpoints: the base URLs to publish
// to, with the host name the page was loaded from and the ports the
// server listens on.
func (h *Handler) uiEndpoints(w http.ResponseWriter, r *http.Request) {
	if h.principal(w, r) == nil {
		return
	}
	out := map[string]any{"rtsp": "", "rtsps": "", "http": "", "auth": h.Access != nil}
	if h.Endpoints != nil {
		host := requestHost(r)
		e := h.Endpoints()
		out["rtsp"] = withHost("rtsp", host, e.RTSP)
		out["rtsps"] = withHost("rtsps", host, e.RTSPS)
		scheme := "http"
		if e.HTTPS {
			scheme = "https"
		}
		out["http"] = withHost(scheme, host, e.HTTP)
	}
	writeJSON(w, out)
}

// requestHost is the host name the request was sent to, without port.
func requestHost(r *http.Request) string {
	if host, _, err := net.SplitHostPort(r.Host); err == nil {
		return host
	}
	return r.Host
}

// withHost is scheme://host:port with addr's port ("" when addr is).
func withHost(scheme, host, addr string) string {
	if addr == "" {
		return ""
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return ""
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}

// uiStatus answers GET /api/v1/ui/status: versions, disk, sessions,
// streams, sources and recent errors; with credentials, for identities
// allowed eddy:admin only.
func (h *Handler) uiStatus(w http.ResponseWriter, r *http.Request) {
	p := h.principal(w, r)
	if p == nil {
		return
	}
	if h.Access != nil && !p.Allowed(actionAdmin, "") {
		ae := h.accessDenied(r, p, actionAdmin, "")
		ae.Message = p.Name + " needs " + actionAdmin + " to see the server's status" // no stream involved
		h.writeError(w, ae)
		return
	}
	var st Status
	if h.Status != nil {
		st = h.Status()
	}
	if st.Sessions == nil {
		st.Sessions = map[string]int{}
	}
	if st.Errors == nil {
		st.Errors = []LogRecord{}
	}
	streams := map[string]int{"video": len(h.Manager.List()), "live": 0}
	if h.Registry != nil {
		streams["live"] = len(h.Registry.Names())
	}
	sources := h.sources()
	sort.Slice(sources, func(i, j int) bool { return sources[i].Stream < sources[j].Stream })
	writeJSON(w, struct {
		Status
		Streams map[string]int `json:"streams"`
		Sources []SourceStatus `json:"sources"`
	}{st, streams, sources})
}

// sources returns the pull sources' states (never nil).
func (h *Handler) sources() []SourceStatus {
	out := []SourceStatus{}
	if h.Sources != nil {
		out = append(out, h.Sources()...)
	}
	return out
}
