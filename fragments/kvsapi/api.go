package kvsapi

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"sync"
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

	setupOnce sync.Once
	rv        *Resolver
	getMedia  mediaSessions
	// stopping ends the long answers (GetMedia, PutMedia) at Shutdown.
	stopping context.Context
	stop     context.CancelFunc
}

// operation is one Kinesis Video operation the API serves: its name, its
// path, and either call (an operation whose JSON body decodes into one
// input, run past the guard) or serve (one that reads and writes its own
// body: media). Mount routes them all; ServeAs runs those marked console.
type operation struct {
	name, path string
	call       func(*API, http.ResponseWriter, *Call)
	serve      func(*API, http.ResponseWriter, *http.Request)
	// console: the web UI's stream management runs it with its session
	// (ServeAs).
	console bool
}

// operations are the operations the API implements, in one table.
var operations = []operation{
	// Control plane.
	{name: "CreateStream", path: "/createStream", call: decoded((*API).createStream), console: true},
	{name: "DescribeStream", path: "/describeStream", call: decoded((*API).describeStream), console: true},
	{name: "ListStreams", path: "/listStreams", call: decoded((*API).listStreams), console: true},
	{name: "DeleteStream", path: "/deleteStream", call: decoded((*API).deleteStream), console: true},
	{name: "UpdateStream", path: "/updateStream", call: decoded((*API).updateStream), console: true},
	{name: "UpdateDataRetention", path: "/updateDataRetention", call: decoded((*API).updateDataRetention), console: true},
	{name: "GetDataEndpoint", path: "/getDataEndpoint", call: decoded((*API).getDataEndpoint)},
	{name: "TagStream", path: "/tagStream", call: decoded((*API).tagStream), console: true},
	{name: "UntagStream", path: "/untagStream", call: decoded((*API).untagStream), console: true},
	{name: "ListTagsForStream", path: "/listTagsForStream", call: decoded((*API).listTagsForStream), console: true},
	{name: "TagResource", path: "/TagResource", call: decoded((*API).tagResource)},
	{name: "UntagResource", path: "/UntagResource", call: decoded((*API).untagResource)},
	{name: "ListTagsForResource", path: "/ListTagsForResource", call: decoded((*API).listTagsForResource)},
	// Archived media.
	{name: "ListFragments", path: "/listFragments", call: decoded((*API).listFragments)},
	{name: "GetMediaForFragmentList", path: "/getMediaForFragmentList", serve: (*API).getMediaForFragmentList},
	{name: "GetClip", path: "/getClip", serve: (*API).getClip},
	// Media.
	{name: "GetMedia", path: "/getMedia", serve: (*API).serveGetMedia},
	{name: "PutMedia", path: "/putMedia", serve: (*API).putMedia}, // when API.PutMedia is set
	{name: "GetImages", path: "/getImages", call: decoded((*API).getImages)},
}

// decoded makes an operation's call from a method that takes its input
// decoded (run decodes it and writes the answer or the error).
func decoded[In any](m func(*API, *Call, *In) (any, error)) func(*API, http.ResponseWriter, *Call) {
	return func(a *API, w http.ResponseWriter, c *Call) {
		run(w, c, func(c *Call, in *In) (any, error) { return m(a, c, in) })
	}
}

// consoleOp finds the operation ServeAs runs by that name (a scan of a
// short table: no map to build).
func consoleOp(name string) (operation, bool) {
	for _, op := range operations {
		if op.console && op.name == name {
			return op, true
		}
	}
	return operation{}, false
}

// consoleOpNames lists the operations ServeAs runs, in the table's order: "A, B and C".
func consoleOpNames() string {
	var names []string
	for _, op := range operations {
		if op.console {
			names = append(names, op.name)
		}
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}

// setup sets the defaults and the state Mount and ServeAs share, once,
// whichever runs first.
func (a *API) setup() {
	a.setupOnce.Do(func() {
		if a.Now == nil {
			a.Now = time.Now
		}
		if a.Logger == nil {
			a.Logger = slog.Default()
		}
		a.rv = &Resolver{Videos: a.Videos}
		a.stopping, a.stop = context.WithCancel(context.Background())
	})
}

// Mount adds the routes to r: every operation, each counted in Metrics,
// and the operations Eddy does not implement.
func (a *API) Mount(r chi.Router) {
	a.setup()
	for _, op := range operations {
		if op.name == "PutMedia" {
			if a.PutMedia == nil {
				continue
			}
			a.PutMedia.init() // its series show from the start
		}
		r.Post(op.path, a.Metrics.Instrument(op.name, a.handler(op)))
	}
	for _, op := range unimplemented {
		r.Post(op.path, a.Metrics.Instrument(op.name, func(w http.ResponseWriter, r *http.Request) {
			if _, ok := a.Guard.Begin(w, r, op.name, a.rv); ok {
				op.serve(w, r)
			}
		}))
	}
}

// handler serves op to a signed request.
func (a *API) handler(op operation) http.HandlerFunc {
	if op.serve != nil {
		return func(w http.ResponseWriter, r *http.Request) { op.serve(a, w, r) }
	}
	return func(w http.ResponseWriter, r *http.Request) {
		if c, ok := a.Guard.Begin(w, r, op.name, a.rv); ok {
			op.call(a, w, c)
		}
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

// ServeAs answers a request to a control-plane operation of the web UI's
// stream management (those marked console in operations) made by
// principal, whom another layer authenticated (the web UI's session; ""
// without credentials): the same body, answer, errors and permission
// (kinesisvideo:<op> on the streams it names) as the signed call, counted
// alike. Any other op is answered 404 in the Kinesis Video shape. With
// credentials configured, an empty or unknown principal is refused: no
// identity is never all rights.
func (a *API) ServeAs(w http.ResponseWriter, r *http.Request, op, principal string) {
	a.setup()
	o, ok := consoleOp(op)
	if !ok {
		WriteStatus(w, http.StatusNotFound, &Error{Code: CodeUnknownOperation,
			Message: "The web UI does not serve the operation " + op + "; it serves " + consoleOpNames() + "."})
		return
	}
	a.Metrics.Instrument(op, func(w http.ResponseWriter, r *http.Request) {
		var id *Identity
		if a.Guard.Enabled() {
			if principal == "" {
				a.Guard.refuse(w, r, &awsauth.Failure{Reason: ReasonMissing,
					Error: awsauth.Error{Type: awsauth.TypeAccessDenied, Message: "The web UI's session names no identity, and credentials are configured."}}, principal)
				return
			}
			if id, ok = a.Guard.Identity(principal); !ok {
				a.Guard.refuse(w, r, &awsauth.Failure{Reason: ReasonUnknownKey,
					Error: awsauth.Error{Type: awsauth.TypeAccessDenied, Message: "The identity of this session is no longer configured."}}, principal)
				return
			}
		}
		if c, ok := a.Guard.BeginAs(w, r, op, a.rv, id, "kinesisvideo:"+op); ok {
			o.call(a, w, c)
		}
	})(w, r)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
