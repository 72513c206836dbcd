package hls

import (
	"crypto/hmac"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/eddy-video/eddy/fragments"
	"github.com/eddy-video/eddy/fragments/kvsapi"
	"github.com/eddy-video/eddy/media/netlimit"
)

// Server serves GetHLSStreamingSessionURL and the /hls/v1/ endpoints.
// Sessions are stateless: the signed SessionToken carries the stream, mode,
// range and expiry, and every request re-checks it.
type Server struct {
	Manager *fragments.Manager
	// Guard checks GetHLSStreamingSessionURL calls (nil: open).
	Guard *kvsapi.Guard
	// OnFailure, when set, hears of every playlist or segment request
	// refused for its session token (reason: kvsapi.ReasonMissing,
	// ReasonSignature for a malformed or forged token, ReasonExpired,
	// ReasonAccessDenied), and may hold it before it is answered.
	OnFailure func(r *http.Request, reason, who string)
	Key       []byte
	Now       func() time.Time
	Logger    *slog.Logger
	log       *slog.Logger // Logger naming the component
	// Metrics, when set, counts every operation (kvsapi.Metrics.Instrument);
	// Registerer, when set, receives eddy_hls_sessions.
	Metrics    *kvsapi.Metrics
	Registerer prometheus.Registerer
	// Deadlines bound the writes of segments and LL-HLS parts: a player that stops
	// reading is cut and counted.
	Deadlines netlimit.Deadlines

	sign     signer
	resolver *kvsapi.Resolver

	discMu   sync.Mutex
	discMemo map[discKey]discMemo

	llMu       sync.Mutex
	llRendered map[llKey]*llRendered

	memoMu   sync.Mutex
	memos    map[memoKey]*startMemo // daterange.go
	memoTick int64

	sessions *sessionGauge
}

// Endpoint paths under /hls/v1/ (KVS names).
const (
	pathMaster = "getHLSMasterPlaylist.m3u8"
	pathMedia  = "getHLSMediaPlaylist.m3u8"
	pathInit   = "getMP4InitFragment.mp4"
	pathFrag   = "getMP4MediaFragment.mp4"
	pathTS     = "getTSFragment.ts"
	pathPart   = "getMP4MediaPart.mp4" // LL-HLS parts (Eddy's own)
)

// liveRecent is how recent the newest fragment must be for a LIVE session.
const liveRecent = 30 * time.Second

// Mount adds the routes to r.
func (s *Server) Mount(r chi.Router) {
	if s.Now == nil {
		s.Now = time.Now
	}
	if s.Logger == nil {
		s.Logger = slog.Default()
	}
	s.log = s.Logger.With("component", "hls") // the one place it is named
	s.sign = signer{key: s.Key}
	s.resolver = &kvsapi.Resolver{Videos: s.Manager}
	s.sessions = newSessionGauge(s.Manager.Core.StreamLabel)
	if s.Registerer != nil {
		s.Registerer.MustRegister(s.sessions)
	}
	r.Post("/getHLSStreamingSessionURL", s.Metrics.Instrument("GetHLSStreamingSessionURL", s.getSessionURL))
	s.get(r, pathMaster, s.master)
	s.get(r, pathMedia, s.media)
	s.get(r, pathInit, s.init)
	s.get(r, pathFrag, s.fragment)
	s.get(r, pathTS, s.tsFragment)
	s.get(r, pathPart, s.part)
	r.Options("/hls/v1/*", s.cors(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
}

// cors lets pages of any origin play sessions: the token is the credential.
func (s *Server) cors(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Access-Control-Allow-Origin", "*")
		hd.Set("Access-Control-Allow-Methods", "GET, OPTIONS")
		hd.Set("Access-Control-Allow-Headers", "Range")
		hd.Set("Access-Control-Expose-Headers", "Content-Length, Content-Range")
		h(w, r)
	}
}

// open verifies a request's token and returns its session and store.
func (s *Server) open(w http.ResponseWriter, r *http.Request) (*session, *fragments.Store, bool) {
	sess, err := s.sign.verify(r.URL.Query().Get("SessionToken"))
	if err != nil {
		reason := kvsapi.ReasonSignature
		if r.URL.Query().Get("SessionToken") == "" {
			reason = kvsapi.ReasonMissing
		}
		s.deny(w, r, reason, "", "The session token is not valid.")
		return nil, nil, false
	}
	if s.Now().Unix() > sess.Expires {
		s.deny(w, r, kvsapi.ReasonExpired, sess.Identity, "The session token has expired.")
		return nil, nil, false
	}
	// A session lasts no longer than its identity's permission (removed
	// from the configuration, or its secret changed, it ends), and one
	// opened while Eddy had no credentials ends when it gets some.
	if s.Guard.Enabled() && !s.stillAllowed(sess) {
		s.deny(w, r, kvsapi.ReasonAccessDenied, sess.Identity, "The identity that opened this session may no longer read the stream.")
		return nil, nil, false
	}
	st, ok := s.storeOf(sess)
	if !ok {
		kvsapi.WriteError(w, kvsapi.Errorf(kvsapi.CodeNotFound, "The stream of this session no longer exists."))
		return nil, nil, false
	}
	kvsapi.SetStream(r, sess.Stream)
	s.sessions.touch(sess, time.Now())
	return sess, st, true
}

// storeOf returns the store of a session's stream when the stream still
// exists and is the one the session was opened on (same creation time):
// a stream deleted and created again has a new store, with a new
// creation time. The store's creation time is read when it is opened:
// Describe decodes the stream's metadata (JSON), which was 8% of the
// server's CPU with 200 LL-HLS readers, as every part and playlist
// request opens its session. Nothing here keeps a store: a deleted
// stream's store goes with its last reader.
func (s *Server) storeOf(sess *session) (*fragments.Store, bool) {
	st, err := s.Manager.Store(sess.Stream)
	if err != nil || st.Created().UnixMilli() != sess.Created {
		return nil, false
	}
	return st, true
}

// stillAllowed reports whether a session's identity still exists with
// the same secret and may still read the session's stream.
func (s *Server) stillAllowed(sess *session) bool {
	id, ok := s.Guard.Identity(sess.Identity)
	if !ok || !id.Allowed(sess.action(), sess.Stream) {
		return false
	}
	tag := s.sign.secretTag(id.AccessKeyID, id.Secret)
	return hmac.Equal(tag[:], sess.SecretTag[:])
}

// deny refuses a request for its session (403 NotAuthorizedException),
// after telling OnFailure.
func (s *Server) deny(w http.ResponseWriter, r *http.Request, reason, who, msg string) {
	if s.OnFailure != nil {
		s.OnFailure(r, reason, who)
	}
	kvsapi.WriteStatus(w, http.StatusForbidden, kvsapi.Errorf(kvsapi.CodeNotAuthorized, "%s", msg))
}
