package web

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/eddy-video/eddy/fragments"
	"github.com/eddy-video/eddy/fragments/archive"
	"github.com/eddy-video/eddy/fragments/images"
	"github.com/eddy-video/eddy/fragments/kvsapi"
	"github.com/eddy-video/eddy/media"
	"github.com/eddy-video/eddy/media/netlimit"
)

// Handler serves the web UI and its JSON API. Set the exported fields, then
// call Mount.
type Handler struct {
	Manager  *fragments.Manager
	Registry *media.Registry // nil: no stream is ever shown as live
	Logger   *slog.Logger
	// Now replaces time.Now (tests).
	Now func() time.Time
	// Access, when set, makes the UI log in and checks every API call
	// against the session's identity (access.go); nil: open to anyone
	// (no credentials configured).
	Access *Access
	// HLSSession answers a GetHLSStreamingSessionURL request (r's body)
	// made for principal ("" when open), already allowed hls:read on its
	// stream: the UI's HLS sessions, without SigV4.
	HLSSession func(w http.ResponseWriter, r *http.Request, principal string)
	// Deadlines bound the writes of clip.mp4: a reader that stops
	// reading is cut and counted.
	Deadlines netlimit.Deadlines
	// clips keeps the exports clip.mp4 built recently, for the Range
	// requests that follow (noClipCache: off, for a benchmark).
	clips       archive.ExportCache
	noClipCache bool
	// Images decodes the thumbnails of GET /api/v1/streams/{name}/thumbnail
	// (api_thumbnails.go; nil: 503), cached in up to ThumbnailCacheBytes
	// (0: DefaultThumbnailCache); Registerer, when set, gets their metrics.
	Images              *images.Service
	ThumbnailCacheBytes int64
	Registerer          prometheus.Registerer
	thumbs              *thumbnails
	// KVS answers a Kinesis Video control-plane operation (r's body) for
	// principal ("" when open): POST /api/v1/ui/kinesisvideo/{op}
	// (ui_api.go; nil: 404).
	KVS func(w http.ResponseWriter, r *http.Request, op, principal string)
	// Endpoints returns the listeners' addresses (GET /api/v1/ui/endpoints).
	Endpoints func() Endpoints
	// Sources returns the pull sources' states (stream list, status).
	Sources func() []SourceStatus
	// Status returns the server's own part of GET /api/v1/ui/status.
	Status func() Status
	// Tiering, when set (object storage is configured), returns a
	// stream's usage on disk and in the bucket (GET /api/v1/streams).
	Tiering func(name string) (TierUsage, bool)

	csrf *http.CrossOriginProtection

	// codecs remembers the codecs of each stream's last publication, so
	// an offline stream still shows what it recorded.
	mu     sync.Mutex
	codecs map[string][]string
}

// Mount adds the UI routes to r: GET / and /assets/*, GET /api/v1/streams
// GET /api/v1/streams/{name}/coverage and the browser clip
// GET /api/v1/streams/{name}/clip.mp4; the events and the timeline, GET
// /api/v1/streams/{name}/events and /timeline; thumbnails, GET
// /api/v1/streams/{name}/thumbnail; the session's GET /api/v1/ui/session,
// POST /api/v1/ui/login and /logout, and the session's tokens: POST
// /api/v1/ui/tokens (WHEP/WHIP) and /api/v1/ui/hls (HLS session URLs);
// the console's management: POST /api/v1/ui/kinesisvideo/{Operation},
// GET /api/v1/ui/endpoints and /api/v1/ui/status.
func (h *Handler) Mount(r chi.Router) {
	if h.Logger == nil {
		h.Logger = slog.Default()
	}
	h.Logger = h.Logger.With("component", "web")
	if h.Now == nil {
		h.Now = time.Now
	}
	h.codecs = map[string][]string{}
	h.csrf = http.NewCrossOriginProtection()
	r.Get("/", h.serveIndex)
	r.Get("/index.html", h.serveIndex)
	r.Get("/assets/*", h.serveAsset)
	r.Get("/api/v1/streams", h.listStreams)
	r.Get("/api/v1/streams/{name}/coverage", h.coverage)
	r.Get("/api/v1/streams/{name}/clip.mp4", h.clipMP4)
	r.Head("/api/v1/streams/{name}/clip.mp4", h.clipMP4) // download tools probe the size first
	r.Get("/api/v1/streams/{name}/events", h.listEvents) // api_events.go
	r.Get("/api/v1/streams/{name}/timeline", h.timeline)
	h.thumbs = newThumbnails(h.ThumbnailCacheBytes, h.Registerer)
	r.Get("/api/v1/streams/{name}/thumbnail", h.thumbnail) // api_thumbnails.go
	r.Get("/api/v1/ui/session", h.session)
	r.Post("/api/v1/ui/login", h.login)
	r.Post("/api/v1/ui/logout", h.logout)
	r.Post("/api/v1/ui/tokens", h.uiToken)
	r.Post("/api/v1/ui/hls", h.uiHLS)
	r.Post("/api/v1/ui/kinesisvideo/{op}", h.uiKVS) // ui_api.go
	r.Get("/api/v1/ui/endpoints", h.uiEndpoints)
	r.Get("/api/v1/ui/status", h.uiStatus)
}

// apiError is the JSON error body of the UI API.
type apiError struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

func badRequest(msg string) *apiError {
	return &apiError{Status: http.StatusBadRequest, Code: "InvalidArgument", Message: msg}
}

// writeError writes err as the API's JSON error (apiErrorOf).
func (h *Handler) writeError(w http.ResponseWriter, err error) {
	ae := h.apiErrorOf(err)
	if kvsapi.IsUnavailable(err) {
		w.Header().Set("Retry-After", strconv.Itoa(kvsapi.RetryAfterSeconds))
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(ae.Status)
	_ = json.NewEncoder(w).Encode(map[string]*apiError{"error": ae})
}

// apiErrorOf translates err to an API error in one place: API errors keep
// their status, store errors go through the Kinesis Video table.
func (h *Handler) apiErrorOf(err error) *apiError {
	var ae *apiError
	if !errors.As(err, &ae) {
		fe := kvsapi.AsError(err)
		ae = &apiError{Status: http.StatusInternalServerError, Code: fe.Code, Message: fe.Message}
		switch {
		case kvsapi.IsUnavailable(err):
			// Cold media, the object store out of reach: retry later.
			ae.Status = http.StatusServiceUnavailable
		case fe.Code == kvsapi.CodeNotFound:
			ae.Status = http.StatusNotFound
		case fe.Code == kvsapi.CodeInvalidArgument:
			ae.Status = http.StatusBadRequest
		default:
			h.Logger.Error("ui api", "err", err)
		}
	}
	return ae
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(v)
}
