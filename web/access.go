package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/eddy-video/eddy/fragments/kvsapi"
)

// Principal is who a UI session is: a name (the access key id) and what
// it may do (IAM-style actions on streams).
type Principal struct {
	Name    string
	Allowed func(action, stream string) bool
}

// The actions the UI checks.
const (
	actionHLS     = "hls:read"             // list, timeline, HLS playback
	actionWebRTC  = "webrtc:read"          // live view over WebRTC
	actionPublish = "webrtc:publish"       // the publish page
	actionClip    = "kinesisvideo:GetClip" // clip downloads
)

// Access authenticates the UI's users: hooks the server wires to its
// identities, so that this package knows no credentials. Errors with an
// HTTPStatus() int method keep that status (401, 403).
type Access struct {
	// Login checks an access key id and secret and, if right, sets the
	// session cookie on w.
	Login func(w http.ResponseWriter, r *http.Request, accessKeyID, secret string) (*Principal, time.Time, error)
	// Logout ends r's session and deletes the cookie.
	Logout func(w http.ResponseWriter, r *http.Request)
	// Session returns the principal of r's session and when it ends.
	Session func(r *http.Request) (*Principal, time.Time, error)
	// Token issues a bearer token for WHEP/WHIP (webrtc:read,
	// webrtc:publish) on stream, for p.
	Token func(p *Principal, actions []string, stream string) (string, time.Time, error)
	// OnDenied, when set, hears of every request refused because its
	// principal lacks the permission (counted as a failed authorization).
	OnDenied func(r *http.Request, principal string)
}

// open is the principal of a UI without Access: anyone may do anything.
var open = &Principal{Allowed: func(string, string) bool { return true }}

// statusOf returns an error's HTTP status, or def.
func statusOf(err error, def int) int {
	var s interface{ HTTPStatus() int }
	if errors.As(err, &s) {
		return s.HTTPStatus()
	}
	return def
}

func notAuthorized(msg string) *apiError {
	return &apiError{Status: http.StatusUnauthorized, Code: kvsapi.CodeNotAuthorized, Message: msg}
}

// accessDenied refuses r because p may not perform action on stream.
func (h *Handler) accessDenied(r *http.Request, p *Principal, action, stream string) *apiError {
	if h.Access != nil && h.Access.OnDenied != nil {
		h.Access.OnDenied(r, p.Name)
	}
	return &apiError{Status: http.StatusForbidden, Code: "AccessDeniedException",
		Message: p.Name + " is not allowed " + action + " on stream " + stream}
}

// principal returns the request's principal, or answers 401 and
// returns nil.
func (h *Handler) principal(w http.ResponseWriter, r *http.Request) *Principal {
	p, err := h.who(r)
	if err != nil {
		h.writeError(w, err)
	}
	return p
}

// who returns the request's principal: everyone's without Access, else
// the session's, or why not.
func (h *Handler) who(r *http.Request) (*Principal, *apiError) {
	if h.Access == nil {
		return open, nil
	}
	p, _, err := h.Access.Session(r)
	if err != nil {
		return nil, notAuthorized(err.Error())
	}
	return p, nil
}

// sameOrigin refuses state-changing requests that another site's page
// started (CSRF): the browser's Sec-Fetch-Site or Origin must name this
// origin (net/http's CrossOriginProtection), and a Referer, when it is all
// there is, this host. Requests with none of these come from no browser.
func (h *Handler) sameOrigin(w http.ResponseWriter, r *http.Request) bool {
	if err := h.crossOrigin(r); err != nil {
		h.writeError(w, &apiError{Status: http.StatusForbidden, Code: "AccessDeniedException", Message: err.Error()})
		return false
	}
	return true
}

// crossOrigin returns why r comes from another site's page (sameOrigin),
// or nil.
func (h *Handler) crossOrigin(r *http.Request) error {
	err := h.csrf.Check(r)
	if err == nil && r.Header.Get("Origin") == "" && r.Header.Get("Sec-Fetch-Site") == "" {
		if ref := r.Header.Get("Referer"); ref != "" {
			if u, perr := url.Parse(ref); perr != nil || u.Host != r.Host {
				err = errors.New("cross-origin request detected from Referer header")
			}
		}
	}
	return err
}

// readJSON decodes a small JSON body strictly.
func readJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, 16<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badRequest("the body is not the JSON this endpoint takes: " + err.Error())
	}
	return nil
}

type sessionOut struct {
	// Auth says whether the UI needs a login (credentials are configured).
	Auth     bool       `json:"auth"`
	Identity string     `json:"identity,omitempty"`
	Expires  *time.Time `json:"expires,omitempty"`
	// CanPublish: the identity may publish some stream over WHIP.
	CanPublish bool `json:"canPublish"`
	// CanCreate: the identity may create streams (kinesisvideo:CreateStream
	// on "*"); Admin: it may read the status page (eddy:admin).
	CanCreate bool `json:"canCreate"`
	Admin     bool `json:"admin"`
}

// sessionOf is the session answer for p.
func sessionOf(p *Principal, exp time.Time) sessionOut {
	return sessionOut{Auth: true, Identity: p.Name, Expires: &exp, CanPublish: p.Allowed(actionPublish, ""),
		CanCreate: p.Allowed(actionCreate, "*"), Admin: p.Allowed(actionAdmin, "")}
}

// session answers GET /api/v1/ui/session: whether a login is needed and
// who is logged in (200 either way: the page asks before it logs in).
func (h *Handler) session(w http.ResponseWriter, r *http.Request) {
	if h.Access == nil {
		writeJSON(w, sessionOut{CanPublish: true, CanCreate: true, Admin: true})
		return
	}
	out := sessionOut{Auth: true}
	if p, exp, err := h.Access.Session(r); err == nil {
		out = sessionOf(p, exp)
	}
	writeJSON(w, out)
}

// login answers POST /api/v1/ui/login {"accessKeyId","secretAccessKey"}.
func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	if !h.sameOrigin(w, r) {
		return
	}
	if h.Access == nil {
		h.writeError(w, badRequest("no credentials are configured: the UI needs no login"))
		return
	}
	var in struct {
		AccessKeyID     string `json:"accessKeyId"`
		SecretAccessKey string `json:"secretAccessKey"`
	}
	if err := readJSON(r, &in); err != nil {
		h.writeError(w, err)
		return
	}
	p, exp, err := h.Access.Login(w, r, in.AccessKeyID, in.SecretAccessKey)
	if err != nil {
		h.writeError(w, &apiError{Status: statusOf(err, http.StatusUnauthorized), Code: kvsapi.CodeNotAuthorized, Message: err.Error()})
		return
	}
	writeJSON(w, sessionOf(p, exp))
}

// logout answers POST /api/v1/ui/logout.
func (h *Handler) logout(w http.ResponseWriter, r *http.Request) {
	if !h.sameOrigin(w, r) {
		return
	}
	if h.Access != nil {
		h.Access.Logout(w, r)
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}

// uiToken answers POST /api/v1/ui/tokens {"stream","actions"} with a
// WHEP/WHIP bearer token for the session's identity ("" without Access:
// WebRTC is open then).
func (h *Handler) uiToken(w http.ResponseWriter, r *http.Request) {
	if !h.sameOrigin(w, r) {
		return
	}
	p := h.principal(w, r)
	if p == nil {
		return
	}
	var in struct {
		Stream  string   `json:"stream"`
		Actions []string `json:"actions"`
	}
	if err := readJSON(r, &in); err != nil {
		h.writeError(w, err)
		return
	}
	if err := h.Registry.ValidateName(in.Stream); err != nil {
		h.writeError(w, badRequest(err.Error()))
		return
	}
	for _, a := range in.Actions {
		if a != actionWebRTC && a != actionPublish {
			h.writeError(w, badRequest("actions must be webrtc:read or webrtc:publish"))
			return
		}
		if !p.Allowed(a, in.Stream) {
			h.writeError(w, h.accessDenied(r, p, a, in.Stream))
			return
		}
	}
	if h.Access == nil {
		writeJSON(w, map[string]string{"token": ""})
		return
	}
	tok, exp, err := h.Access.Token(p, in.Actions, in.Stream)
	if err != nil {
		h.writeError(w, &apiError{Status: statusOf(err, http.StatusBadRequest), Code: kvsapi.CodeInvalidArgument, Message: err.Error()})
		return
	}
	writeJSON(w, map[string]string{"token": tok, "expires": exp.UTC().Format(time.RFC3339)})
}

// uiHLS answers POST /api/v1/ui/hls, the UI's GetHLSStreamingSessionURL:
// the same request body and answer, authenticated by the session (the
// API's own endpoint stays a SigV4 call) and allowed with hls:read on the
// stream.
func (h *Handler) uiHLS(w http.ResponseWriter, r *http.Request) {
	if !h.sameOrigin(w, r) {
		return
	}
	p := h.principal(w, r)
	if p == nil {
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err != nil {
		h.writeError(w, badRequest("unreadable body"))
		return
	}
	var in struct {
		StreamName string `json:"StreamName"`
	}
	if err := json.Unmarshal(body, &in); err != nil || in.StreamName == "" {
		h.writeError(w, badRequest("the body is a GetHLSStreamingSessionURL request with a StreamName"))
		return
	}
	if err := h.Registry.ValidateName(in.StreamName); err != nil {
		h.writeError(w, badRequest(err.Error()))
		return
	}
	if !p.Allowed(actionHLS, in.StreamName) {
		h.writeError(w, h.accessDenied(r, p, actionHLS, in.StreamName))
		return
	}
	if h.HLSSession == nil {
		h.writeError(w, &apiError{Status: http.StatusNotFound, Code: kvsapi.CodeNotFound, Message: "HLS is not served"})
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	h.HLSSession(w, r, p.Name)
}
