package web

import (
	"bytes"
	"fmt"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/eddy-video/eddy/fragments"
	"github.com/eddy-video/eddy/fragments/kvsapi"
)

// clipMP4 serves GET /api/v1/streams/{name}/clip.mp4?start=RFC3339&end=RFC3339
// [&timestamps=producer|server]: the GetClip MP4 with Content-Length and
// HTTP Range (via http.ServeContent), so players can seek and download
// tools can resume. Errors are JSON in the Kinesis Video shape.
func (h *Handler) clipMP4(w http.ResponseWriter, r *http.Request) {
	name := chi.URLParam(r, "name")
	q := r.URL.Query()
	start, err1 := time.Parse(time.RFC3339Nano, q.Get("start"))
	end, err2 := time.Parse(time.RFC3339Nano, q.Get("end"))
	if err1 != nil || err2 != nil {
		kvsapi.WriteError(w, kvsapi.Errorf(kvsapi.CodeInvalidArgument, "start and end must be RFC 3339 times, e.g. 2026-01-02T15:04:05Z."))
		return
	}
	if end.Before(start) {
		kvsapi.WriteError(w, kvsapi.Errorf(kvsapi.CodeInvalidArgument, "end must not be before start."))
		return
	}
	kind := fragments.IndexProducerTime
	switch q.Get("timestamps") {
	case "", "producer":
	case "server":
		kind = fragments.IndexServerTime
	default:
		kvsapi.WriteError(w, kvsapi.Errorf(kvsapi.CodeInvalidArgument, "timestamps must be producer or server."))
		return
	}
	if err := kvsapi.CheckName("The stream name", name); err != nil {
		kvsapi.WriteError(w, err)
		return
	}
	p, ae := h.who(r)
	if ae == nil && !p.Allowed(actionClip, name) {
		ae = h.accessDenied(r, p, actionClip, name)
	}
	if ae != nil {
		kvsapi.WriteStatus(w, ae.Status, &kvsapi.Error{Code: ae.Code, Message: ae.Message})
		return
	}
	st, err := h.Manager.Store(name)
	if err != nil {
		kvsapi.WriteError(w, err)
		return
	}
	c, err := kvsapi.Clip(st, kind, start, end, h.Now())
	if err != nil {
		kvsapi.WriteError(w, err)
		return
	}
	w.Header().Set("Content-Type", "video/mp4")
	w.Header().Set("ETag", c.ETag()) // If-Range: a resumed download of a changed clip restarts
	w.Header().Set("Content-Disposition", fmt.Sprintf("inline; filename=%q", name+"-"+start.UTC().Format("20060102T150405Z")+".mp4"))
	dw := h.Deadlines.Writer(w)
	http.ServeContent(dw, r, "", c.Start, bytes.NewReader(c.Bytes))
	dw.Done()
}
