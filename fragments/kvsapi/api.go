package kvsapi

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/eddy-video/eddy/fragments"
)

// API serves the Kinesis Video operations Eddy implements — the control
// plane (restJson1, one POST path per operation) and the archived media
// (ListFragments, GetMediaForFragmentList, GetClip) — and answers every
// other Kinesis Video operation with a typed error naming it.
// GetHLSStreamingSessionURL is served by package hls with this package's
// decoder, resolver and errors.
type API struct {
	Videos *fragments.Manager
	Logger *slog.Logger
	Now    func() time.Time
	// Endpoint returns Eddy's own base URL for GetDataEndpoint.
	Endpoint func(r *http.Request) string

	rv *Resolver
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
	// Control plane.
	r.Post("/createStream", handle(a.createStream))
	r.Post("/describeStream", handle(a.describeStream))
	r.Post("/listStreams", handle(a.listStreams))
	r.Post("/deleteStream", handle(a.deleteStream))
	r.Post("/updateStream", handle(a.updateStream))
	r.Post("/updateDataRetention", handle(a.updateDataRetention))
	r.Post("/getDataEndpoint", func(w http.ResponseWriter, r *http.Request) {
		handle(func(in *getDataEndpointIn) (any, error) { return a.getDataEndpoint(r, in) })(w, r)
	})
	r.Post("/tagStream", handle(a.tagStream))
	r.Post("/untagStream", handle(a.untagStream))
	r.Post("/listTagsForStream", handle(a.listTagsForStream))
	r.Post("/TagResource", handle(a.tagResource))
	r.Post("/UntagResource", handle(a.untagResource))
	r.Post("/ListTagsForResource", handle(a.listTagsForResource))
	// Archived media.
	r.Post("/listFragments", handle(a.listFragments))
	r.Post("/getMediaForFragmentList", a.getMediaForFragmentList)
	r.Post("/getClip", a.getClip)
	for _, op := range unimplemented {
		r.Post(op.path, op.serve)
	}
}

// handle decodes a request into In, runs fn and writes its answer, or its
// error in the Kinesis Video shape.
func handle[In any](fn func(*In) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		in := new(In)
		if err := Decode(r, in); err != nil {
			WriteError(w, err)
			return
		}
		out, err := fn(in)
		if err != nil {
			WriteError(w, err)
			return
		}
		writeJSON(w, out)
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
