package web

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/eddy-video/eddy/fragments"
	"github.com/eddy-video/eddy/fragments/archive"
	"github.com/eddy-video/eddy/fragments/kvsapi"
)

// clipMP4 serves GET (and HEAD) /api/v1/streams/{name}/clip.mp4
// ?start=RFC3339&end=RFC3339[&timestamps=producer|server]: the export of
// the range, however long (archive.Export: a fragmented MP4 read one
// fragment at a time), with Content-Length, ETag and HTTP Range (via
// http.ServeContent), so players can seek and download tools can resume.
// The file name carries the start of its first fragment and the end of
// its last (UTC); where the codec configuration changes inside the range
// the file ends before the change and the header Eddy-Clip-Cut gives the
// time the rest starts at.
//
// A range that reaches the end of the export's last fragment (up to now,
// or later) would be a longer file once the next fragment is stored, and a
// <video> sends its Range requests without If-Range: it would splice two
// files. Such a request, when it asks for a Range (or is a HEAD: the
// probe before ranges), is redirected (307) to the same URL with the
// range pinned to the fragments it holds (archive.Export.Pinned), a file
// that stays the same; a whole answer, one file anyway, names that URL in
// Content-Location instead, so that clients which follow no redirect
// (curl without -L) still get the clip. The redirect comes after the
// permission check (the session cookie goes along to the same origin).
//
// The exports built are kept for a while (archive.ExportCache), so that
// the Range requests that follow do not build them again.
//
// Errors, an unsatisfiable Range (416) included, are JSON in the Kinesis
// Video shape.
func (h *Handler) clipMP4(w http.ResponseWriter, r *http.Request) {
	name := chi.URLParam(r, "name")
	q := r.URL.Query()
	start, end, kind, err := clipRange(q)
	if err != nil {
		kvsapi.WriteError(w, err)
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
	last := end
	if now := h.Now(); kind == fragments.IndexServerTime && !last.Before(now) {
		last = now // as GetClip: a server-time range ends now at the latest
	}
	build := h.clips.Export
	if h.noClipCache {
		build = archive.NewExport
	}
	through := kvsapi.InclusiveEnd(last)
	x, err := build(st, kind, start, time.Unix(0, through))
	if errors.Is(err, archive.ErrExportTooLong) {
		err = kvsapi.Errorf(kvsapi.CodeInvalidArgument, "The range holds more than %d fragments, the most one clip holds; ask for a shorter range.", archive.MaxExportFragments)
	}
	if err != nil {
		kvsapi.WriteError(w, kvsapi.MediaError(err))
		return
	}
	if redirectOpenRange(w, r, q, x, start, end, through) {
		return
	}
	hd := w.Header()
	const stamp = "20060102T150405Z"
	hd.Set("Content-Type", "video/mp4")
	hd.Set("ETag", x.ETag()) // If-Range: a resumed download of a changed clip restarts
	hd.Set("Content-Disposition", fmt.Sprintf("inline; filename=%q", name+"-"+x.Start.UTC().Format(stamp)+"-"+x.End.UTC().Format(stamp)+".mp4"))
	if !x.Cut.IsZero() {
		hd.Set("Eddy-Clip-Cut", x.Cut.UTC().Format(time.RFC3339Nano))
	}
	dw := h.Deadlines.Writer(w)
	rd := x.NewReader()
	http.ServeContent(&rangeErrors{ResponseWriter: dw, size: x.Size()}, r, "", time.Time{}, rd)
	if err := rd.Err(); err != nil {
		// Bytes may be out: the status cannot change any more, and the
		// answer is shorter than its Content-Length. Aborting closes the
		// connection so that the client sees a cut answer.
		h.Logger.Warn("clip.mp4 stopped", "stream", name, "err", err)
		panic(http.ErrAbortHandler)
	}
	dw.Done()
}

// clipRange reads clip.mp4's range and its kind of time from its query.
func clipRange(q url.Values) (start, end time.Time, kind fragments.IndexTime, err error) {
	start, err1 := time.Parse(time.RFC3339Nano, q.Get("start"))
	end, err2 := time.Parse(time.RFC3339Nano, q.Get("end"))
	if err1 != nil || err2 != nil {
		return start, end, kind, kvsapi.Errorf(kvsapi.CodeInvalidArgument, "start and end must be RFC 3339 times, e.g. 2026-01-02T15:04:05Z.")
	}
	if end.Before(start) {
		return start, end, kind, kvsapi.Errorf(kvsapi.CodeInvalidArgument, "end must not be before start.")
	}
	switch q.Get("timestamps") {
	case "", "producer":
		kind = fragments.IndexProducerTime
	case "server":
		kind = fragments.IndexServerTime
	default:
		return start, end, kind, kvsapi.Errorf(kvsapi.CodeInvalidArgument, "timestamps must be producer or server.")
	}
	return start, end, kind, nil
}

// redirectOpenRange points a request whose range is open at its end
// (see clipMP4) to the pinned range of its export x: a Range request or a
// HEAD is redirected there (and true returned: answered), a whole answer
// names it in Content-Location. q is the request's query, through the
// range's inclusive end (ns).
func redirectOpenRange(w http.ResponseWriter, r *http.Request, q url.Values, x *archive.Export, start, end time.Time, through int64) bool {
	// Open at the end: a fragment stored next (it starts where the last
	// one ends) would be in the range. The pinned range itself is not
	// open; the comparison with it only guards against a redirect to
	// itself.
	pinStart, pinEnd := x.Pinned()
	if !x.Cut.IsZero() || through < x.End.UnixNano() || (start.Equal(pinStart) && end.Equal(pinEnd)) {
		return false
	}
	// Relative to the clip's own URL, so it holds behind a proxy's path
	// prefix too.
	q.Set("start", pinStart.UTC().Format(time.RFC3339Nano))
	q.Set("end", pinEnd.UTC().Format(time.RFC3339Nano))
	pinned := "clip.mp4?" + q.Encode()
	hd := w.Header()
	if r.Method == http.MethodHead || r.Header.Get("Range") != "" {
		hd.Set("Location", pinned)
		hd.Set("Cache-Control", "no-store") // where it leads changes as fragments come
		w.WriteHeader(http.StatusTemporaryRedirect)
		return true
	}
	// A whole answer is one file whatever comes next (curl, a browser's
	// download): no redirect to follow, the fixed file's URL for whoever
	// asks again.
	hd.Set("Content-Location", pinned)
	return false
}

// rangeErrors answers http.ServeContent's 416 (no requested byte range
// overlaps the clip, or the Range header is malformed) in the Kinesis
// Video error shape, in place of net/http's plain text. Content-Range
// (bytes */size) stays: it tells the client the clip's length.
type rangeErrors struct {
	http.ResponseWriter
	size    int64
	refused bool
}

func (w *rangeErrors) WriteHeader(code int) {
	if code != http.StatusRequestedRangeNotSatisfiable {
		w.ResponseWriter.WriteHeader(code)
		return
	}
	w.refused = true
	w.Header().Del("Content-Disposition") // an error is not a file to save
	w.Header().Del("X-Content-Type-Options")
	kvsapi.WriteStatus(w.ResponseWriter, code, kvsapi.Errorf(kvsapi.CodeInvalidArgument,
		"The requested byte range is not satisfiable: the clip has %d bytes (bytes 0-%d).", w.size, w.size-1))
}

func (w *rangeErrors) Write(b []byte) (int, error) {
	if w.refused {
		return len(b), nil // net/http's text, replaced
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap gives http.ResponseController the writer underneath.
func (w *rangeErrors) Unwrap() http.ResponseWriter { return w.ResponseWriter }
