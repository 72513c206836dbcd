package hls

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/eddy-video/eddy/fragments"
	"github.com/eddy-video/eddy/fragments/kvsapi"
)

// Low-Latency HLS (RFC 8216bis §4.4.3.7, §6.2.5.2). A LIVE fMP4 session's
// media playlist also lists the parts the recorder cuts from the live hub
// (fragments.Live) for its last three target durations, the segment in
// progress as parts only, a preload hint for the next part, and honours
// blocking reloads (_HLS_msn, _HLS_part). Complete segments are the
// stored fragments, so a client may mix parts and segments freely.

// llInfo is what a playlist needs to add the LL-HLS tags.
type llInfo struct {
	target time.Duration
	next   uint64
	active bool
}

// lowLatency reports whether a session's playlists are LL-HLS.
func (s *Server) lowLatency(sess *session) bool {
	return sess.Mode == ModeLive && sess.Container == ContainerFMP4 && s.Manager.PartDuration > 0
}

// blockLimit is how long a blocking request may wait: three target
// durations, as the specification allows.
func blockLimit(v *fragments.LiveView) time.Duration {
	t := int64(time.Second)
	for _, g := range v.Segments {
		t = max(t, g.Duration)
	}
	return 3 * time.Duration(t)
}

func (s *Server) badRequest(w http.ResponseWriter, msg string) {
	kvsapi.WriteError(w, kvsapi.Errorf(kvsapi.CodeInvalidArgument, "%s", msg))
}

// llMedia serves an LL-HLS media playlist, waiting first when the client
// asks for a segment or part that does not exist yet.
func (s *Server) llMedia(w http.ResponseWriter, r *http.Request, sess *session, st *fragments.Store) {
	q := r.URL.Query()
	live := st.Live()
	live.Touch()
	v, _ := live.View()
	if ms := q.Get("_HLS_msn"); ms != "" || q.Get("_HLS_part") != "" {
		msn, err := strconv.ParseUint(ms, 10, 64)
		if err != nil {
			s.badRequest(w, "_HLS_msn must be a media sequence number.")
			return
		}
		part, hasPart := uint64(0), false
		if ps := q.Get("_HLS_part"); ps != "" {
			if part, err = strconv.ParseUint(ps, 10, 32); err != nil {
				s.badRequest(w, "_HLS_part must be a part index.")
				return
			}
			hasPart = true
		}
		// Nothing more than two segments ahead of the last one is waited for.
		last := uint64(0)
		if e, ok := st.Last(); ok {
			last = e.Seq
		}
		if n := len(v.Segments); n > 0 {
			last = max(last, v.Segments[n-1].Seq)
		}
		if msn > last+2 {
			s.badRequest(w, "_HLS_msn is more than two segments ahead of the playlist.")
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), blockLimit(&v))
		defer cancel()
		var ok bool
		v, ok = live.Wait(ctx, func(v *fragments.LiveView) bool { return reached(v, st, msn, part, hasPart) })
		if !ok {
			if r.Context().Err() == nil {
				w.Header().Set("Retry-After", "1")
				kvsapi.WriteStatus(w, http.StatusServiceUnavailable, kvsapi.Errorf(kvsapi.CodeClientLimit, "The requested segment or part did not become available in time."))
			}
			return
		}
	}
	// Every viewer of a stream wakes when a part is cut: they share one
	// rendering per (playlist state, session options), with a placeholder
	// for their own token.
	key := llKey{stream: sess.Stream, created: sess.Created, anchor: sess.Anchor, max: sess.MaxResults, disc: sess.Disc, producer: sess.Producer, showTime: sess.ShowTime}
	stored := uint64(0)
	if e, ok := st.Last(); ok {
		stored = e.Seq
	}
	// An event indexed since the rendering makes it stale too, but at
	// most once a part target: a busy event stream costs one rendering a
	// part, and its events are listed by the next part's playlist.
	indexed := uint64(0)
	if tl := st.Timeline(); tl != nil {
		indexed = tl.Indexed()
	}
	now := time.Now()
	c := s.llCache(key)
	c.mu.Lock()
	if !c.ok || c.gen != v.Gen || c.stored != stored || (c.indexed != indexed && now.Sub(c.at) >= v.Target) {
		body, err := s.llPlaylist(sess, st, &v)
		if err != nil {
			c.mu.Unlock()
			kvsapi.WriteError(w, err)
			return
		}
		c.pieces, c.gen, c.stored, c.indexed, c.at, c.ok = strings.Split(body, tokenPlaceholder), v.Gen, stored, indexed, now, true
	}
	pieces := c.pieces
	c.mu.Unlock()
	writeWithToken(w, pieces, url.QueryEscape(q.Get("SessionToken")))
}

// writeWithToken writes a shared rendering (pieces: its text split at
// tokenPlaceholder) with tok between the pieces, in one Write from a
// pooled buffer. Every waiting viewer of a stream answers at each part,
// so a string built per request (strings.ReplaceAll) was 200 playlist-
// sized allocations a part at 200 viewers (BenchmarkBlockingReload200).
func writeWithToken(w http.ResponseWriter, pieces []string, tok string) {
	n := len(tok) * (len(pieces) - 1)
	for _, p := range pieces {
		n += len(p)
	}
	bp := playlistBufs.Get().(*[]byte)
	b := (*bp)[:0]
	for i, p := range pieces {
		if i > 0 {
			b = append(b, tok...)
		}
		b = append(b, p...)
	}
	h := w.Header()
	h.Set("Content-Type", "application/vnd.apple.mpegurl")
	h.Set("Cache-Control", "no-cache")
	h.Set("Content-Length", strconv.Itoa(n))
	_, _ = w.Write(b) // net/http copies it before returning
	if cap(b) <= maxPooledPlaylist {
		*bp = b
		playlistBufs.Put(bp)
	}
}

// maxPooledPlaylist bounds the playlist buffers kept for reuse.
const maxPooledPlaylist = 256 << 10

var playlistBufs = sync.Pool{New: func() any { b := make([]byte, 0, 16<<10); return &b }}

// tokenPlaceholder stands for the session token in a shared rendering.
const tokenPlaceholder = "\x00"

type llKey struct {
	stream   string
	created  int64
	anchor   uint64
	max      uint32
	disc     byte
	producer bool
	showTime bool
}

type llRendered struct {
	mu     sync.Mutex
	ok     bool
	gen    uint64 // fragments.LiveView.Gen
	stored uint64 // the store's last fragment
	// indexed is the event timeline's Indexed count at the rendering, at.
	indexed uint64
	at      time.Time
	// pieces is the rendering split at tokenPlaceholder.
	pieces []string
}

// maxLLCache bounds the shared renderings (one per stream and session
// options in use).
const maxLLCache = 1024

func (s *Server) llCache(k llKey) *llRendered {
	s.llMu.Lock()
	defer s.llMu.Unlock()
	c := s.llRendered[k]
	if c == nil {
		if s.llRendered == nil || len(s.llRendered) >= maxLLCache {
			s.llRendered = map[llKey]*llRendered{}
		}
		c = &llRendered{}
		s.llRendered[k] = c
	}
	return c
}

// llPlaylist renders an LL-HLS media playlist of the stored window and
// the live parts in v, with tokenPlaceholder for the token.
func (s *Server) llPlaylist(sess *session, st *fragments.Store, v *fragments.LiveView) (string, error) {
	entries, err := s.window(sess, st)
	if err != nil {
		return "", err
	}
	segs := s.stored(entries)
	// Attach the live parts, and add what the store does not list yet:
	// a complete fragment being made durable, and the one in progress.
	byseq := make(map[uint64]int, len(segs))
	for i := range segs {
		byseq[segs[i].e.Seq] = i
	}
	lastStored := uint64(0)
	if n := len(segs); n > 0 {
		lastStored = segs[n-1].e.Seq
	}
	for _, g := range v.Segments {
		if i, ok := byseq[g.Seq]; ok {
			segs[i].parts = g.Parts
			continue
		}
		if g.Seq <= lastStored || g.Seq < sess.Anchor || len(g.Parts) == 0 {
			continue
		}
		e := fragments.IndexEntry{Seq: g.Seq, ServerTime: g.ServerTime, ProducerTime: g.ProducerTime, Duration: g.Duration}
		segs = append(segs, segment{e: e, init: g.InitID, parts: g.Parts, open: !g.Done})
		lastStored = g.Seq
	}
	return s.mediaPlaylist(sess, st, segs, tokenPlaceholder, &llInfo{target: v.Target, next: v.Next, active: v.Active})
}

// reached reports whether a playlist would now hold segment msn (complete)
// or, with hasPart, part `part` of segment msn or any later part.
func reached(v *fragments.LiveView, st *fragments.Store, msn, part uint64, hasPart bool) bool {
	for i := len(v.Segments) - 1; i >= 0; i-- {
		g := &v.Segments[i]
		switch {
		case g.Seq > msn:
			if (hasPart && len(g.Parts) > 0) || g.Done {
				return true
			}
		case g.Seq == msn:
			if hasPart {
				return uint64(len(g.Parts)) > part
			}
			return g.Done
		}
	}
	// Segments the live parts no longer hold (or never held, while no
	// recorder cuts parts) are complete once stored.
	e, ok := st.Last()
	return ok && (e.Seq > msn || (e.Seq == msn && !hasPart))
}

// part serves getMP4MediaPart.mp4: one LL-HLS part from memory. A request
// for the next part (the preload hint) waits until it is cut.
func (s *Server) part(w http.ResponseWriter, r *http.Request) {
	sess, st, ok := s.open(w, r)
	if !ok {
		return
	}
	if !s.lowLatency(sess) {
		s.badRequest(w, "getMP4MediaPart.mp4 serves LIVE sessions with ContainerFormat FRAGMENTED_MP4 only.")
		return
	}
	n, err := strconv.ParseUint(r.URL.Query().Get("PartNumber"), 10, 64)
	if err != nil {
		s.badRequest(w, "PartNumber is invalid.")
		return
	}
	live := st.Live()
	live.Touch()
	p, found := live.Part(n)
	if !found {
		v, _ := live.View()
		if v.Active && n >= v.Next && n <= v.Next+1 {
			ctx, cancel := context.WithTimeout(r.Context(), blockLimit(&v))
			defer cancel()
			live.Wait(ctx, func(v *fragments.LiveView) bool { return v.Next > n || !v.Active })
			p, found = live.Part(n)
		}
	}
	if !found || p.Seq < sess.Anchor {
		kvsapi.WriteError(w, kvsapi.Errorf(kvsapi.CodeNotFound, "The part is not found in this session."))
		return
	}
	h := w.Header()
	h.Set("Content-Type", "video/mp4")
	h.Set("Content-Length", strconv.Itoa(len(p.Media)))
	h.Set("Cache-Control", "private, max-age=300")
	dw := s.Deadlines.Writer(w) // a player that stops reading is cut
	if _, err := dw.Write(p.Media); err == nil {
		dw.Done()
	}
}
