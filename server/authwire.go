package server

import (
	"fmt"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/eddy-video/eddy/datastreams/awsauth"
	"github.com/eddy-video/eddy/server/auth"
	"github.com/eddy-video/eddy/web"
	"github.com/eddy-video/eddy/webrtc"
)

// mountAuth adds Eddy's own authentication endpoints: POST /api/v1/tokens.
func (s *Server) mountAuth(r chi.Router) {
	r.Post("/api/v1/tokens", s.auth.ServeTokens)
}

// webrtcAuthorize is webrtc.Server.Authorize: Eddy bearer tokens, nil
// (open) without credentials.
func (s *Server) webrtcAuthorize() func(r *http.Request, action, stream string) (string, error) {
	if !s.auth.Enabled() {
		return nil
	}
	return func(r *http.Request, action, stream string) (string, error) {
		id, d := s.auth.Bearer(r, "webrtc", action, stream)
		if d != nil {
			return "", &webrtc.AuthError{Status: d.Status, Code: d.Code, Message: d.Message}
		}
		return id.AccessKeyID, nil
	}
}

// uiTokenTTL is the lifetime of the tokens the web UI gets for its WHEP
// and WHIP requests: it asks right before each, and a session's resource
// keeps answering the token it was made with.
const uiTokenTTL = 5 * time.Minute

// webAccess is web.Handler.Access: logins against the identities, session
// cookies, and WebRTC tokens for the session's identity; nil (an open UI)
// without credentials.
func (s *Server) webAccess() *web.Access {
	if !s.auth.Enabled() {
		return nil
	}
	principal := func(id *awsauth.Identity) *web.Principal {
		return &web.Principal{Name: id.AccessKeyID, Allowed: id.Allowed}
	}
	return &web.Access{
		Login: func(w http.ResponseWriter, r *http.Request, key, secret string) (*web.Principal, time.Time, error) {
			id, exp, d := s.auth.Login(w, r, key, secret)
			if d != nil {
				return nil, exp, d
			}
			return principal(id), exp, nil
		},
		Logout: s.auth.Logout,
		Session: func(r *http.Request) (*web.Principal, time.Time, error) {
			id, exp, d := s.auth.Session(r)
			if d != nil {
				return nil, exp, d
			}
			return principal(id), exp, nil
		},
		OnDenied: func(r *http.Request, who string) {
			s.auth.Failed("web", awsauth.ReasonAccessDenied, r.RemoteAddr, who)
		},
		Token: func(p *web.Principal, actions []string, stream string) (string, time.Time, error) {
			id, ok := s.auth.Credentials.Lookup(p.Name)
			if !ok {
				return "", time.Time{}, fmt.Errorf("%s is no longer configured", p.Name)
			}
			return s.auth.IssueToken(id, auth.TokenRequest{Actions: actions, Stream: stream, TTL: min(uiTokenTTL, time.Duration(s.Config.Auth.MaxTokenTTL))})
		},
	}
}

// authSources are the configured identities as the authority reads them.
func authSources(creds []CredentialConfig) []auth.Source {
	srcs := make([]auth.Source, 0, len(creds))
	for _, cr := range creds {
		src := auth.Source{AccessKeyID: cr.AccessKeyID, Secret: cr.SecretAccessKey, SecretFile: cr.SecretAccessKeyFile}
		for _, al := range cr.Allow {
			src.Rules = append(src.Rules, awsauth.Rule{Actions: al.Actions, Streams: al.Streams})
		}
		srcs = append(srcs, src)
	}
	return srcs
}

// Auth returns the server's authority (identities, tokens, sessions).
func (s *Server) Auth() *auth.Auth { return s.auth }
