package server

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"
	"strings"

	"github.com/eddy-video/eddy/datastreams/awsauth"
)

// adminAction is what reading /metrics needs (besides the scrape token).
const adminAction = "eddy:admin"

// guardMetrics lets through to /metrics, when credentials are configured,
// only what may read it: a scraper sending the configured metrics token
// as its bearer token (Prometheus's authorization: credentials), a GET
// signed with SigV4 (service kinesisvideo) by an identity allowed
// eddy:admin, or, with the same permission, an Eddy token or a web UI
// session. Without credentials /metrics is open, like everything else.
func (s *Server) guardMetrics(h http.Handler) http.Handler {
	a := s.auth
	if !a.Enabled() {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		authz := r.Header.Get("Authorization")
		if tok, ok := strings.CutPrefix(authz, "Bearer "); ok && isScrapeToken(a.CurrentMetricsToken(), strings.TrimSpace(tok)) {
			h.ServeHTTP(w, r)
			return
		}
		if strings.HasPrefix(authz, "AWS4-HMAC-SHA256") || r.URL.Query().Has("X-Amz-Signature") {
			s.metricsSigned(w, r, h)
			return
		}
		if _, d := a.Identify(r, "metrics", adminAction, ""); d != nil {
			// A bearer token that is not the scrape token was checked as an
			// Eddy token; the challenge names the scheme either way.
			w.Header().Set("WWW-Authenticate", `Bearer realm="eddy"`)
			http.Error(w, "/metrics needs the scrape token or "+adminAction+": "+d.Message, d.Status)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// metricsSigned answers a SigV4-signed request for /metrics.
func (s *Server) metricsSigned(w http.ResponseWriter, r *http.Request, h http.Handler) {
	a := s.auth
	a.Wait(r.Context(), r.RemoteAddr)
	id, f := a.Verifier.Verify(r, "kinesisvideo", nil)
	if f != nil {
		a.Failed("metrics", f.Reason, r.RemoteAddr, awsauth.ClaimedKeyID(r))
		http.Error(w, fmt.Sprintf("%s: %s", f.Type, f.Message), http.StatusForbidden)
		return
	}
	if !id.Allowed(adminAction, "") {
		a.Failed("metrics", awsauth.ReasonAccessDenied, r.RemoteAddr, id.AccessKeyID)
		http.Error(w, fmt.Sprintf("%s: %s is not allowed %s", awsauth.TypeAccessDenied, id.AccessKeyID, adminAction), http.StatusForbidden)
		return
	}
	h.ServeHTTP(w, r)
}

// isScrapeToken reports whether tok is the configured scrape token (none
// when configured is "").
func isScrapeToken(configured, tok string) bool {
	return configured != "" && sameSecret(tok, configured)
}

// sameSecret compares two secrets in constant time, their lengths
// included (both are hashed first).
func sameSecret(a, b string) bool {
	ha, hb := sha256.Sum256([]byte(a)), sha256.Sum256([]byte(b))
	return subtle.ConstantTimeCompare(ha[:], hb[:]) == 1
}
