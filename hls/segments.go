package hls

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/eddy-video/eddy/fragments"
	"github.com/eddy-video/eddy/fragments/kvsapi"
)

func (s *Server) init(w http.ResponseWriter, r *http.Request) {
	_, st, ok := s.open(w, r)
	if !ok {
		return
	}
	raw, err := hex.DecodeString(r.URL.Query().Get("InitId"))
	if err != nil || len(raw) != len(fragments.InitID{}) {
		kvsapi.WriteError(w, kvsapi.Errorf(kvsapi.CodeInvalidArgument, "InitId is invalid."))
		return
	}
	b, err := st.Init(fragments.InitID(raw))
	if err != nil {
		kvsapi.WriteError(w, kvsapi.Errorf(kvsapi.CodeNotFound, "The init segment is not found."))
		return
	}
	h := w.Header()
	h.Set("Content-Type", "video/mp4")
	h.Set("Cache-Control", "private, max-age=86400, immutable")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	s.serve(w, r, time.Time{}, b)
}

func (s *Server) fragment(w http.ResponseWriter, r *http.Request) {
	sess, st, ok := s.open(w, r)
	if !ok {
		return
	}
	f, ok := sessionFragment(w, r, sess, st)
	if !ok {
		return
	}
	h := w.Header()
	h.Set("Content-Type", "video/mp4")
	h.Set("Cache-Control", "private, max-age=86400, immutable")
	s.serve(w, r, time.Unix(0, f.ServerTime), f.Media)
}

// serve answers a segment (ranges too) within the write deadlines.
func (s *Server) serve(w http.ResponseWriter, r *http.Request, mod time.Time, b []byte) {
	dw := s.Deadlines.Writer(w)
	http.ServeContent(dw, r, "", mod, bytes.NewReader(b))
	dw.Done()
}

// sessionFragment reads the fragment a segment request names, if its
// session may read it; otherwise it answers the error.
func sessionFragment(w http.ResponseWriter, r *http.Request, sess *session, st *fragments.Store) (*fragments.Fragment, bool) {
	seq, ok := fragments.ParseFragmentNumber(r.URL.Query().Get("FragmentNumber"))
	if !ok {
		kvsapi.WriteError(w, kvsapi.Errorf(kvsapi.CodeInvalidArgument, "FragmentNumber is invalid."))
		return nil, false
	}
	e, ok := st.Lookup(seq)
	if !ok && sess.Mode == ModeLive && seq >= sess.Anchor {
		// An LL-HLS playlist lists a fragment as soon as its last part is
		// cut, a few milliseconds before it is durable: wait for that.
		live := st.Live()
		if v, _ := live.View(); v.Complete(seq) {
			ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
			live.Wait(ctx, func(v *fragments.LiveView) bool {
				_, ok := st.Lookup(seq)
				return ok || !v.Complete(seq)
			})
			cancel()
			e, ok = st.Lookup(seq)
		}
	}
	if !ok || !sess.covers(e) {
		kvsapi.WriteError(w, kvsapi.Errorf(kvsapi.CodeNotFound, "The fragment is not found in this session."))
		return nil, false
	}
	f, err := st.Read(seq)
	switch {
	case errors.Is(err, fragments.ErrFragmentNotFound):
		kvsapi.WriteError(w, kvsapi.Errorf(kvsapi.CodeNotFound, "The fragment is not found (retention removed it)."))
		return nil, false
	case kvsapi.IsUnavailable(err):
		// Cold, and the object store cannot be reached: 503, Retry-After.
		kvsapi.WriteError(w, err)
		return nil, false
	case err != nil:
		// Listed but unreadable (an I/O error): say so, never an empty 200.
		kvsapi.WriteError(w, kvsapi.Errorf(kvsapi.CodeInternal, "The fragment cannot be read: %v.", err))
		return nil, false
	}
	kvsapi.Consumed(r, 1, 0)
	return f, true
}

// tsFragment serves getTSFragment.ts: the fragment converted to an
// MPEG-TS segment, for MPEG_TS sessions.
func (s *Server) tsFragment(w http.ResponseWriter, r *http.Request) {
	sess, st, ok := s.open(w, r)
	if !ok {
		return
	}
	if sess.Container != ContainerTS {
		kvsapi.WriteError(w, kvsapi.Errorf(kvsapi.CodeInvalidArgument, "getTSFragment.ts serves sessions with ContainerFormat MPEG_TS only."))
		return
	}
	f, ok := sessionFragment(w, r, sess, st)
	if !ok {
		return
	}
	init, err := st.Init(f.InitID)
	if err != nil {
		kvsapi.WriteError(w, kvsapi.Errorf(kvsapi.CodeNotFound, "The init segment of the fragment is not found."))
		return
	}
	seg, err := tsSegment(init, f.Media)
	if err != nil {
		s.log.Warn("MPEG-TS conversion failed", "stream", sess.Stream, "fragment", fragments.FragmentNumber(f.Seq), "err", err)
		kvsapi.WriteError(w, kvsapi.Errorf(kvsapi.CodeUnsupportedMediaType, "The fragment cannot be packaged as MPEG-TS: %v.", err))
		return
	}
	h := w.Header()
	h.Set("Content-Type", "video/mp2t")
	h.Set("Cache-Control", "private, max-age=86400, immutable")
	s.serve(w, r, time.Unix(0, f.ServerTime), seg)
}
