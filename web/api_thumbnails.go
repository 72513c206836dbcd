package web

import (
	lru "container/list"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/eddy-video/eddy/fragments"
	"github.com/eddy-video/eddy/fragments/images"
	"github.com/eddy-video/eddy/fragments/kvsapi"
)

// Thumbnails: GET /api/v1/streams/{name}/thumbnail?time=&width= answers a
// JPEG of the frame at a producer time, decoded by the images service and
// kept in a cache bounded by bytes.
//
// The time is snapped down to the thumbnail grid of the fragment that
// covers it (images.Cover: the fragment the images service decodes it
// from): multiples of thumbGrid from the fragment's start (its keyframe),
// so the frame shown is at most a grid step before the time asked, and
// every time in one grid cell is one cache entry: the key is (stream,
// fragment, grid cell, width), and a hit is exactly the image a decode
// would give (the snapped time is in the same fragment, which is still the
// latest starting at or before it). Fragments never change, so the answer
// is immutable for browsers (ETag and Cache-Control) for as long as the
// fragment is stored.
const (
	thumbGrid         = 100 * time.Millisecond
	thumbDefaultWidth = 160
	thumbMinWidth     = 16
	thumbMaxWidth     = 1280
	// thumbMaxWithin bounds the within parameter (the UI's longest tile).
	thumbMaxWithin = 7 * 24 * time.Hour
	// DefaultThumbnailCache is the cache's size when
	// Handler.ThumbnailCacheBytes is 0.
	DefaultThumbnailCache = 64 << 20
	// thumbDecodes is how many distinct thumbnails are decoded at once,
	// and thumbPending how many distinct ones may wait (more are answered
	// 503 with Retry-After): a timeline scrub starts a bounded amount of
	// work, and a request whose client left is dropped before its decode
	// starts. Identical requests share one decode.
	thumbDecodes = 2
	thumbPending = 64
)

// thumbKey names one cached thumbnail: a fragment (its sequence and, so
// that a recreated stream never hits an old entry, its server time), the
// grid cell from its start, and the width.
type thumbKey struct {
	stream string
	seq    uint64
	server int64
	cell   int64
	width  int
}

func (k thumbKey) etag() string {
	return fmt.Sprintf(`"th-%x-%x-%d-%d"`, k.seq, k.server, k.cell, k.width)
}

// thumbnails is the handler's cache and decode gate.
type thumbnails struct {
	mu      sync.Mutex
	max     int64
	bytes   int64
	order   *lru.List // of *thumbEntry, most recent first
	entries map[thumbKey]*lru.Element
	calls   map[thumbKey]*thumbCall
	decodes chan struct{}

	requests    *prometheus.CounterVec // by result
	decodeCount prometheus.Counter
	cacheBytes  prometheus.GaugeFunc
}

type thumbEntry struct {
	key thumbKey
	jpg []byte
}

// thumbCall is one decode that identical requests wait on; it is
// cancelled when the last of them leaves.
type thumbCall struct {
	done    chan struct{}
	waiters int
	cancel  context.CancelFunc
	jpg     []byte
	err     error
}

func newThumbnails(maxBytes int64, reg prometheus.Registerer) *thumbnails {
	if maxBytes <= 0 {
		maxBytes = DefaultThumbnailCache
	}
	t := &thumbnails{max: maxBytes, order: lru.New(), entries: map[thumbKey]*lru.Element{}, calls: map[thumbKey]*thumbCall{},
		decodes: make(chan struct{}, thumbDecodes)}
	t.requests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "eddy_web_thumbnail_requests_total",
		Help: "Web UI thumbnail requests by result: hit (from the cache), miss (decoded), shared (waited on an identical decode), not_modified, no_media, busy, error."},
		[]string{"result"})
	t.decodeCount = prometheus.NewCounter(prometheus.CounterOpts{Name: "eddy_web_thumbnail_decodes_total",
		Help: "Thumbnail decodes started by the web UI API (cache misses that reached the images service)."})
	t.cacheBytes = prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "eddy_web_thumbnail_cache_bytes",
		Help: "Bytes of JPEG held by the web UI's thumbnail cache."}, func() float64 {
		t.mu.Lock()
		defer t.mu.Unlock()
		return float64(t.bytes)
	})
	if reg != nil {
		reg.MustRegister(t.requests, t.decodeCount, t.cacheBytes)
	}
	return t
}

// putLocked adds an image and evicts the least recently used beyond the
// bound (an image larger than the whole cache is not kept).
func (t *thumbnails) putLocked(k thumbKey, jpg []byte) {
	if int64(len(jpg)) > t.max {
		return
	}
	if _, ok := t.entries[k]; ok {
		return
	}
	t.entries[k] = t.order.PushFront(&thumbEntry{key: k, jpg: jpg})
	t.bytes += int64(len(jpg))
	for t.bytes > t.max {
		old := t.order.Back()
		oe := old.Value.(*thumbEntry)
		t.order.Remove(old)
		delete(t.entries, oe.key)
		t.bytes -= int64(len(oe.jpg))
	}
}

var errThumbBusy = errors.New("too many thumbnails are being decoded; retry in a second")

// decode returns k's image from the cache, from an identical decode in
// flight, or from a new one (decode runs it), and how: "hit", "shared" or
// "miss". ctx is the request's: when every request waiting on a decode has
// left, the decode is cancelled.
func (t *thumbnails) decode(ctx context.Context, k thumbKey, decode func(context.Context) ([]byte, error)) ([]byte, string, error) {
	t.mu.Lock()
	if e, ok := t.entries[k]; ok {
		t.order.MoveToFront(e)
		t.mu.Unlock()
		return e.Value.(*thumbEntry).jpg, "hit", nil
	}
	how := "shared"
	c, ok := t.calls[k]
	if !ok {
		if len(t.calls) >= thumbPending {
			t.mu.Unlock()
			return nil, "busy", errThumbBusy
		}
		how = "miss"
		var cctx context.Context
		cctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		c = &thumbCall{done: make(chan struct{}), cancel: cancel}
		t.calls[k] = c
		go t.run(cctx, k, c, decode)
	}
	c.waiters++
	t.mu.Unlock()
	select {
	case <-c.done:
		return c.jpg, how, c.err
	case <-ctx.Done():
		t.mu.Lock()
		c.waiters--
		if c.waiters == 0 {
			// Cancelled: a later identical request starts a decode of
			// its own rather than join this one and get its error.
			c.cancel()
			if t.calls[k] == c {
				delete(t.calls, k)
			}
		}
		t.mu.Unlock()
		return nil, how, ctx.Err()
	}
}

func (t *thumbnails) run(ctx context.Context, k thumbKey, c *thumbCall, decode func(context.Context) ([]byte, error)) {
	defer c.cancel()
	select {
	case t.decodes <- struct{}{}:
		t.decodeCount.Inc()
		c.jpg, c.err = decode(ctx)
		<-t.decodes
	case <-ctx.Done():
		c.err = ctx.Err()
	}
	t.mu.Lock()
	if t.calls[k] == c { // else it was cancelled, and a new call may hold k
		delete(t.calls, k)
	}
	if c.err == nil {
		t.putLocked(k, c.jpg)
	}
	t.mu.Unlock()
	close(c.done)
}

// thumbnail answers GET /api/v1/streams/{name}/thumbnail?time=&width=
// [&within=ms] (hls:read on the stream, like the timeline): image/jpeg, or the API's
// JSON error: 400 for bad parameters, 404 for no media at the
// time, 503 without FFmpeg (saying what to install) or when too many
// decodes wait.
func (h *Handler) thumbnail(w http.ResponseWriter, r *http.Request) {
	name := chi.URLParam(r, "name")
	if err := h.Registry.ValidateName(name); err != nil {
		h.thumbError(w, badRequest(err.Error()))
		return
	}
	p, ae := h.who(r)
	if ae == nil && !p.Allowed(actionHLS, name) {
		ae = h.accessDenied(r, p, actionHLS, name)
	}
	if ae != nil {
		h.thumbError(w, ae)
		return
	}
	q := r.URL.Query()
	at, err := time.Parse(time.RFC3339Nano, q.Get("time"))
	if err != nil {
		h.thumbError(w, badRequest("time must be an RFC 3339 time (the producer's clock), e.g. 2026-01-02T15:04:05.5Z"))
		return
	}
	width := thumbDefaultWidth
	if s := q.Get("width"); s != "" {
		if width, err = strconv.Atoi(s); err != nil || width < thumbMinWidth || width > thumbMaxWidth {
			h.thumbError(w, badRequest(fmt.Sprintf("width must be a number of pixels from %d to %d", thumbMinWidth, thumbMaxWidth)))
			return
		}
	}
	var within time.Duration
	if s := q.Get("within"); s != "" {
		ms, err := strconv.ParseInt(s, 10, 64)
		if within = time.Duration(ms) * time.Millisecond; err != nil || within < 0 || within > thumbMaxWithin {
			h.thumbError(w, badRequest(fmt.Sprintf("within must be a number of milliseconds from 0 to %d", thumbMaxWithin.Milliseconds())))
			return
		}
	}
	st, err := h.Manager.Store(name)
	if err != nil {
		h.thumbError(w, err)
		return
	}
	if h.Images == nil {
		h.thumbError(w, &apiError{Status: http.StatusServiceUnavailable, Code: "ServiceUnavailable", Message: "thumbnails are not served"})
		return
	}
	if err := h.Images.Available(); err != nil {
		h.thumbError(w, &apiError{Status: http.StatusServiceUnavailable, Code: "ServiceUnavailable", Message: err.Error()})
		return
	}
	e, ok, err := images.Cover(st, fragments.IndexProducerTime, at)
	if err == nil && !ok && within > 0 {
		// Nothing at the time: the first fragment starting within the
		// span after it (a tile of a window drawn by hourly or daily
		// buckets shows the first frame recorded in it).
		var es []fragments.IndexEntry
		if es, _, err = st.List(fragments.IndexProducerTime, at, at.Add(within), 0, 1); err == nil && len(es) > 0 {
			at = time.Unix(0, es[0].ProducerTime)
			e, ok, err = images.Cover(st, fragments.IndexProducerTime, at)
		}
	}
	if err != nil {
		h.thumbError(w, err)
		return
	}
	if !ok {
		h.thumbs.requests.WithLabelValues("no_media").Inc()
		h.thumbError(w, noMedia(name, at))
		return
	}
	cell := int64(max(at.Sub(time.Unix(0, e.ProducerTime)), 0) / thumbGrid)
	if last := (e.Duration - 1) / int64(thumbGrid); cell > last {
		cell = last
	}
	k := thumbKey{stream: name, seq: e.Seq, server: e.ServerTime, cell: cell, width: width}
	frameAt := time.Unix(0, e.ProducerTime+cell*int64(thumbGrid)).UTC()
	hdr := w.Header()
	hdr.Set("ETag", k.etag())
	// The session's, not a shared cache's; the fragment never changes.
	hdr.Set("Cache-Control", "private, max-age=31536000, immutable")
	hdr.Set("X-Eddy-Thumbnail-Time", frameAt.Format(time.RFC3339Nano))
	if inm := r.Header.Get("If-None-Match"); inm != "" && etagMatch(inm, k.etag()) {
		h.thumbs.requests.WithLabelValues("not_modified").Inc()
		w.WriteHeader(http.StatusNotModified)
		return
	}
	jpg, how, err := h.thumbs.decode(r.Context(), k, func(ctx context.Context) ([]byte, error) {
		res := h.Images.Frames(ctx, st, fragments.IndexProducerTime, []time.Time{frameAt}, images.Spec{Format: "JPEG", Width: width})
		if len(res) != 1 {
			return nil, fmt.Errorf("the images service answered %d images for one time", len(res))
		}
		return res[0].Image, res[0].Err
	})
	switch {
	case err == nil:
	case r.Context().Err() != nil:
		return // the client left
	case errors.Is(err, errThumbBusy):
		h.thumbs.requests.WithLabelValues("busy").Inc()
		hdr.Set("Retry-After", "1")
		h.thumbError(w, &apiError{Status: http.StatusServiceUnavailable, Code: "ServiceUnavailable", Message: err.Error()})
		return
	case errors.Is(err, images.ErrNoMedia):
		h.thumbs.requests.WithLabelValues("no_media").Inc()
		h.thumbError(w, noMedia(name, at))
		return
	case kvsapi.IsUnavailable(err):
		// Cold, the object store out of reach: 503 with Retry-After
		// (writeError).
		h.thumbs.requests.WithLabelValues("error").Inc()
		h.thumbError(w, err)
		return
	case errors.Is(err, images.ErrMediaError):
		h.thumbs.requests.WithLabelValues("error").Inc()
		h.thumbError(w, &apiError{Status: http.StatusInternalServerError, Code: "MediaError",
			Message: "the frame at " + at.UTC().Format(time.RFC3339Nano) + " could not be decoded: " + err.Error()})
		return
	default:
		h.thumbs.requests.WithLabelValues("error").Inc()
		h.thumbError(w, err)
		return
	}
	h.thumbs.requests.WithLabelValues(how).Inc()
	hdr.Set("Content-Type", "image/jpeg")
	hdr.Set("Content-Length", strconv.Itoa(len(jpg)))
	hdr.Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(jpg)
}

func noMedia(name string, at time.Time) *apiError {
	return &apiError{Status: http.StatusNotFound, Code: "NoMedia",
		Message: "stream " + name + " has no video at " + at.UTC().Format(time.RFC3339Nano)}
}

// thumbError writes err as the API's JSON error {"error":{"code",
// "message"}} (writeError), without the image's headers.
func (h *Handler) thumbError(w http.ResponseWriter, err error) {
	hdr := w.Header()
	hdr.Del("ETag")
	hdr.Del("X-Eddy-Thumbnail-Time")
	h.writeError(w, err)
}

// etagMatch reports whether an If-None-Match list names tag.
func etagMatch(inm, tag string) bool {
	for _, t := range strings.Split(inm, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == tag || t == "*" {
			return true
		}
	}
	return false
}
