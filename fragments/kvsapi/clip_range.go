package kvsapi

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/eddy-video/eddy/fragments/archive"
)

// writeClip answers GetClip with the clip, honoring HTTP Range as an Eddy
// extension so that downloads resume: AWS's GetClip ignores Range, and so
// do AWS clients (they never send it). Every answer carries a strong ETag
// and Accept-Ranges; a single byte range, with an If-Range naming the
// current ETag or none, gets 206 and Content-Range (RFC 9110 §14). An
// If-Range naming another ETag (the clip changed: a fragment added or
// trimmed) and anything else (several ranges, a malformed header) get the
// whole clip, 200, as RFC 9110 lets a server answer. net/http's
// ServeContent is not used: it ignores If-Range on POST, and GetClip is a
// POST, which would splice two different clips. It reports whether the
// clip's bytes (or the range's) were sent.
func writeClip(w http.ResponseWriter, r *http.Request, c *archive.Clip) (sent bool) {
	size := int64(len(c.Bytes))
	etag := c.ETag()
	h := w.Header()
	h.Set("Content-Type", "video/mp4")
	h.Set("ETag", etag)
	h.Set("Accept-Ranges", "bytes")
	start, end, ok := parseByteRange(r.Header.Get("Range"), size)
	if ir := r.Header.Get("If-Range"); ir != "" && ir != etag {
		ok = false
	}
	switch {
	case ok && start >= size:
		h.Set("Content-Range", fmt.Sprintf("bytes */%d", size))
		WriteStatus(w, http.StatusRequestedRangeNotSatisfiable, Errorf(CodeInvalidArgument,
			"The range starts at byte %d; the clip has %d bytes.", start, size))
	case ok:
		h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, end, size))
		h.Set("Content-Length", strconv.FormatInt(end-start+1, 10))
		w.WriteHeader(http.StatusPartialContent)
		_, err := w.Write(c.Bytes[start : end+1])
		return err == nil
	default:
		h.Set("Content-Length", strconv.FormatInt(size, 10))
		_, err := w.Write(c.Bytes)
		return err == nil
	}
	return false
}

// parseByteRange reads a Range header of one byte range, "bytes=A-",
// "bytes=A-B" or "bytes=-N" (the last N bytes), for a body of size bytes.
// It returns the first and last byte (B is clamped to the end) and false
// for anything else: no header, another unit, several ranges, malformed
// numbers, B before A. A first byte at or past the end is returned as is
// (the caller answers 416).
func parseByteRange(s string, size int64) (int64, int64, bool) {
	spec, ok := strings.CutPrefix(s, "bytes=")
	if !ok || strings.Contains(spec, ",") {
		return 0, 0, false
	}
	a, b, ok := strings.Cut(strings.TrimSpace(spec), "-")
	if !ok {
		return 0, 0, false
	}
	if a == "" { // suffix: the last b bytes
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n <= 0 || size == 0 {
			return 0, 0, false
		}
		return max(size-n, 0), size - 1, true
	}
	first, err := strconv.ParseInt(a, 10, 64)
	if err != nil || first < 0 {
		return 0, 0, false
	}
	last := size - 1
	if b != "" {
		if last, err = strconv.ParseInt(b, 10, 64); err != nil || last < first {
			return 0, 0, false
		}
		last = min(last, size-1)
	}
	return first, last, true
}
