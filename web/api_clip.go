package web

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/eddy-video/eddy/fragments"
	"github.com/eddy-video/eddy/fragments/archive"
	"github.com/eddy-video/eddy/fragments/kvsapi"
)

// clipMP4 serves GET /api/v1/streams/{name}/clip.mp4?start=RFC3339&end=RFC3339
// [&timestamps=producer|server]: the export of the range, however long
// (archive.Export: a fragmented MP4 read one fragment at a time), with
// Content-Length, ETag and HTTP Range (via http.ServeContent), so players
// can seek and download tools can resume. The file name carries the start
// of its first fragment and the end of its last (UTC); where the codec
// configuration changes inside the range the file ends before the change
// and the header Eddy-Clip-Cut gives the time the rest starts at. Errors
// are JSON in the Kinesis Video shape.
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
	if kind == fragments.IndexServerTime && !end.Before(h.Now()) {
		end = h.Now() // as GetClip: a server-time range ends now at the latest
	}
	x, err := archive.NewExport(st, kind, start, time.Unix(0, kvsapi.InclusiveEnd(end)))
	if errors.Is(err, archive.ErrExportTooLong) {
		err = kvsapi.Errorf(kvsapi.CodeInvalidArgument, "The range holds more than %d fragments, the most one clip holds; ask for a shorter range.", archive.MaxExportFragments)
	}
	if err != nil {
		kvsapi.WriteError(w, kvsapi.MediaError(err))
		return
	}
	const stamp = "20060102T150405Z"
	hd := w.Header()
	hd.Set("Content-Type", "video/mp4")
	hd.Set("ETag", x.ETag()) // If-Range: a resumed download of a changed clip restarts
	hd.Set("Content-Disposition", fmt.Sprintf("inline; filename=%q", name+"-"+x.Start.UTC().Format(stamp)+"-"+x.End.UTC().Format(stamp)+".mp4"))
	if !x.Cut.IsZero() {
		hd.Set("Eddy-Clip-Cut", x.Cut.UTC().Format(time.RFC3339Nano))
	}
	dw := h.Deadlines.Writer(w)
	rd := x.NewReader()
	http.ServeContent(dw, r, "", time.Time{}, rd)
	if err := rd.Err(); err != nil {
		// Bytes may be out: the status cannot change any more, and the
		// answer is shorter than its Content-Length. Aborting closes the
		// connection so that the client sees a cut answer.
		h.Logger.Warn("clip.mp4 stopped", "stream", name, "err", err)
		panic(http.ErrAbortHandler)
	}
	dw.Done()
}
