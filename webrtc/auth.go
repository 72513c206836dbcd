package webrtc

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"
)

// The actions a WHEP and a WHIP session need (Authorize's action).
const (
	ActionRead    = "webrtc:read"
	ActionPublish = "webrtc:publish"
)

// AuthError is Authorize's refusal: Status 401 (no usable credential:
// none, malformed, forged, expired) or 403 (valid, but not for this
// action or stream), Code the RFC 6750 error code of the Bearer challenge
// ("invalid_token", "insufficient_scope"; "" when no credential was sent)
// and a message for people.
type AuthError struct {
	Status  int
	Code    string
	Message string
}

func (e *AuthError) Error() string { return e.Message }

func actionOf(kind string) string {
	if kind == kindWHIP {
		return ActionPublish
	}
	return ActionRead
}

// owner is who made a session: the principal Authorize named and a hash
// of the credential the offer came with.
type owner struct {
	principal  string
	credential [sha256.Size]byte
}

// setOwner records who made the session (its log lines name them).
func (ss *session) setOwner(o owner) {
	ss.owner = o
	if o.principal != "" {
		ss.log = ss.log.With("identity", o.principal)
	}
}

// authorizeOffer checks the POST of a new session before its offer is
// read: the stream name first (names are validated before they reach
// auth), then Authorize. On refusal it answers and returns false; no
// session exists yet.
func (s *Server) authorizeOffer(w http.ResponseWriter, r *http.Request, kind string) (owner, bool) {
	name := chi.URLParam(r, "stream")
	if err := s.Registry.ValidateName(name); err != nil {
		s.httpError(w, refuse(400, "bad_name", "%v", err))
		return owner{}, false
	}
	if s.Authorize == nil {
		return owner{}, true
	}
	who, err := s.Authorize(r, actionOf(kind), name)
	if err != nil {
		s.authError(w, err)
		return owner{}, false
	}
	return owner{principal: who, credential: sha256.Sum256([]byte(r.Header.Get("Authorization")))}, true
}

// authorizeResource checks a PATCH or DELETE of session ss: the
// credential the session was made with keeps working for it (even once a
// token expired: the session is the identity's), and any other must be
// valid for the session's action and stream and name the same principal.
func (s *Server) authorizeResource(w http.ResponseWriter, r *http.Request, ss *session) bool {
	if s.Authorize == nil {
		return true
	}
	cred := sha256.Sum256([]byte(r.Header.Get("Authorization")))
	if r.Header.Get("Authorization") != "" && subtle.ConstantTimeCompare(cred[:], ss.owner.credential[:]) == 1 {
		return true
	}
	who, err := s.Authorize(r, actionOf(ss.kind), ss.stream)
	if err != nil {
		s.authError(w, err)
		return false
	}
	if who != ss.owner.principal {
		if s.OnDenied != nil {
			s.OnDenied(r, who)
		}
		s.authError(w, &AuthError{Status: http.StatusForbidden, Code: "insufficient_scope",
			Message: fmt.Sprintf("this session belongs to another identity than %s", who)})
		return false
	}
	return true
}

// authError answers an Authorize refusal: 401 with a Bearer challenge
// (RFC 6750 §3), 403 naming the insufficient scope; any other error is
// a 401 too (the hook could not vouch for the request).
func (s *Server) authError(w http.ResponseWriter, err error) {
	ae := &AuthError{Status: http.StatusUnauthorized, Code: "invalid_token", Message: err.Error()}
	if !errors.As(err, &ae) {
		ae.Message = err.Error()
	}
	reason := "unauthorized"
	if ae.Status == http.StatusForbidden {
		reason = "forbidden"
	}
	s.refused.WithLabelValues(reason).Inc()
	ch := `Bearer realm="eddy"`
	if ae.Code != "" {
		ch += fmt.Sprintf(`, error=%q, error_description=%q`, ae.Code, challengeText(ae.Message))
	}
	w.Header().Set("WWW-Authenticate", ch)
	http.Error(w, ae.Message, ae.Status)
}

// challengeText keeps a message within a quoted-string's safe characters
// (RFC 6750 §3: error_description is %x20-21 / %x23-5B / %x5D-7E).
func challengeText(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '"' || r == '\\' || r < 0x20 || r > 0x7e {
			return '\''
		}
		return r
	}, s)
}
