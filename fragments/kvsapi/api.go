package kvsapi

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/eddy-video/eddy/datastreams/awsauth"
	"github.com/eddy-video/eddy/fragments"
	"github.com/eddy-video/eddy/fragments/images"
	"github.com/eddy-video/eddy/media/netlimit"
)

// API serves the Kinesis Video operations Eddy implements — the control
// plane (restJson1, one POST path per operation), the archived media
// (ListFragments, GetMediaForFragmentList, GetClip) and GetMedia — and answers every
// other Kinesis Video operation with a typed error naming it.
// GetHLSStreamingSessionURL is served by package hls with this package's
// decoder, resolver and errors.
type API struct {
	Videos *fragments.Manager
	Logger *slog.Logger
	Now    func() time.Time
	// Endpoint returns Eddy's own base URL for GetDataEndpoint.
	Endpoint func(r *http.Request) string
	// Guard authenticates and authorizes every operation (nil: open).
	Guard *Guard
	// Metrics, when set, counts every operation (Metrics.Instrument).
	Metrics *Metrics
	// Deadlines bound the writes of media answers (GetMediaForFragmentList,
	// GetClip): a reader that stops reading is cut and counted.
	Deadlines netlimit.Deadlines
	// GetMediaSession caps a GetMedia session (0: DefaultGetMediaSession).
	GetMediaSession time.Duration
	// PutMedia serves POST /putMedia (nil: not served).
	PutMedia *PutMedia
	// Images decodes the images of GetImages (nil, or without ffmpeg:
	// GetImages answers what to install).
	Images *images.Service

	rv       *Resolver
	ops      map[string]func(http.ResponseWriter, *Call) // ServeAs's
	getMedia mediaSessions
	// stopping ends the long answers (GetMedia, PutMedia) at Shutdown.
	stopping context.Context
	stop     context.CancelFunc
}

// Mount adds the routes to r.
func (a *API) Mount(r chi.Router) {
	if a.Now == nil {
		a.Now = time.Now
	}
	if a.Logger == nil {
		a.Logger = slog.Default()
	}
	a.rv = &Resolver{Videos: a.Videos}
	a.ops = a.asOps()
	a.stopping, a.stop = context.WithCancel(context.Background())
	// Every route counts its operation (handle does it for its own).
	post := func(path, op string, h http.HandlerFunc) { r.Post(path, a.Metrics.Instrument(op, h)) }
	// Control plane.
	r.Post("/createStream", handle(a, "CreateStream", a.createStream))
	r.Post("/describeStream", handle(a, "DescribeStream", a.describeStream))
	r.Post("/listStreams", handle(a, "ListStreams", a.listStreams))
	r.Post("/deleteStream", handle(a, "DeleteStream", a.deleteStream))
	r.Post("/updateStream", handle(a, "UpdateStream", a.updateStream))
	r.Post("/updateDataRetention", handle(a, "UpdateDataRetention", a.updateDataRetention))
	r.Post("/getDataEndpoint", handle(a, "GetDataEndpoint", a.getDataEndpoint))
	r.Post("/tagStream", handle(a, "TagStream", a.tagStream))
	r.Post("/untagStream", handle(a, "UntagStream", a.untagStream))
	r.Post("/listTagsForStream", handle(a, "ListTagsForStream", a.listTagsForStream))
	r.Post("/TagResource", handle(a, "TagResource", a.tagResource))
	r.Post("/UntagResource", handle(a, "UntagResource", a.untagResource))
	r.Post("/ListTagsForResource", handle(a, "ListTagsForResource", a.listTagsForResource))
	// Archived media.
	r.Post("/listFragments", handle(a, "ListFragments", a.listFragments))
	post("/getMediaForFragmentList", "GetMediaForFragmentList", a.getMediaForFragmentList)
	post("/getClip", "GetClip", a.getClip)
	// Media.
	post("/getMedia", "GetMedia", a.serveGetMedia)
	if a.PutMedia != nil {
		a.PutMedia.init() // its series show from the start
		post("/putMedia", "PutMedia", a.putMedia)
	}
	r.Post("/getImages", handle(a, "GetImages", a.getImages))
	for _, op := range unimplemented {
		post(op.path, op.name, func(w http.ResponseWriter, r *http.Request) {
			if _, ok := a.Guard.Begin(w, r, op.name, a.rv); ok {
				op.serve(w, r)
			}
		})
	}
}

// Shutdown ends the sessions that would otherwise hold a server's
// graceful shutdown until its grace period (GetMedia at the live edge,
// PutMedia uploads);
// register it with http.Server.RegisterOnShutdown.
func (a *API) Shutdown() {
	if a.stop != nil {
		a.stop()
	}
}

// handle authenticates a request to operation op, decodes it into In,
// runs fn and writes its answer, or its error in the Kinesis Video shape.
func handle[In any](a *API, op string, fn func(*Call, *In) (any, error)) http.HandlerFunc {
	return a.Metrics.Instrument(op, func(w http.ResponseWriter, r *http.Request) {
		if c, ok := a.Guard.Begin(w, r, op, a.rv); ok {
			run(w, c, fn)
		}
	})
}

// run decodes a call past the guard into In, runs fn and writes its
// answer, or its error in the Kinesis Video shape.
func run[In any](w http.ResponseWriter, c *Call, fn func(*Call, *In) (any, error)) {
	in := new(In)
	if err := c.Decode(in); err != nil {
		WriteError(w, err)
		return
	}
	out, err := fn(c, in)
	if err != nil {
		c.Fail(w, err)
		return
	}
	if s, ok := out.(responseWriter); ok {
		s.WriteResponse(w) // an answer that streams itself (GetImages)
		return
	}
	writeJSON(w, out)
}

// asOps are the control-plane operations ServeAs runs: the web UI's
// stream management.
func (a *API) asOps() map[string]func(http.ResponseWriter, *Call) {
	return map[string]func(http.ResponseWriter, *Call){
		"CreateStream":        func(w http.ResponseWriter, c *Call) { run(w, c, a.createStream) },
		"DescribeStream":      func(w http.ResponseWriter, c *Call) { run(w, c, a.describeStream) },
		"ListStreams":         func(w http.ResponseWriter, c *Call) { run(w, c, a.listStreams) },
		"DeleteStream":        func(w http.ResponseWriter, c *Call) { run(w, c, a.deleteStream) },
		"UpdateStream":        func(w http.ResponseWriter, c *Call) { run(w, c, a.updateStream) },
		"UpdateDataRetention": func(w http.ResponseWriter, c *Call) { run(w, c, a.updateDataRetention) },
		"TagStream":           func(w http.ResponseWriter, c *Call) { run(w, c, a.tagStream) },
		"UntagStream":         func(w http.ResponseWriter, c *Call) { run(w, c, a.untagStream) },
		"ListTagsForStream":   func(w http.ResponseWriter, c *Call) { run(w, c, a.listTagsForStream) },
	}
}

// ServeAs answers a request to control-plane operation op (CreateStream,
// DescribeStream, ListStreams, DeleteStream, UpdateStream,
// UpdateDataRetention, TagStream, UntagStream, ListTagsForStream) made by
// principal, whom another layer authenticated (the web UI's session; ""
// without credentials): the same body, answer, errors and permission
// (kinesisvideo:<op> on the streams it names) as the signed call, counted
// alike. Any other op is answered 404 in the Kinesis Video shape.
func (a *API) ServeAs(w http.ResponseWriter, r *http.Request, op, principal string) {
	fn, ok := a.ops[op]
	if !ok {
		WriteStatus(w, http.StatusNotFound, &Error{Code: CodeUnknownOperation,
			Message: "The web UI does not serve the operation " + op + "; it serves CreateStream, DescribeStream, ListStreams, DeleteStream, UpdateStream, UpdateDataRetention, TagStream, UntagStream and ListTagsForStream."})
		return
	}
	a.Metrics.Instrument(op, func(w http.ResponseWriter, r *http.Request) {
		var id *Identity
		if principal != "" && a.Guard.Enabled() {
			if id, ok = a.Guard.Identity(principal); !ok {
				a.Guard.refuse(w, r, &awsauth.Failure{Reason: ReasonUnknownKey,
					Error: awsauth.Error{Type: awsauth.TypeAccessDenied, Message: "The identity of this session is no longer configured."}}, principal)
				return
			}
		}
		if c, ok := a.Guard.BeginAs(w, r, op, a.rv, id, "kinesisvideo:"+op); ok {
			fn(w, c)
		}
	})(w, r)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
