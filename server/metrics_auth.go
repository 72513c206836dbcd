package server

import (
	"crypto/subtle"
	"io"
	"net/http"
	"strings"

	"github.com/eddy-video/eddy/datastreams/awsauth"
	"github.com/eddy-video/eddy/server/auth"
)

// guardMetrics lets through to /metrics, when credentials are configured,
// only what may read it: a scraper with the configured metrics token as
// its bearer token (Prometheus's authorization: credentials), or a
// request signed (SigV4) by an identity with eddy:admin. identify, when
// set, finds the identity of other requests (the web UI's session).
func guardMetrics(h http.Handler, a *auth.Auth, identify func(*http.Request) (allowed func(action, stream string) bool, ok bool)) http.Handler {
	if !a.Enabled() {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && a.MetricsToken != "" &&
			subtle.ConstantTimeCompare([]byte(tok), []byte(a.MetricsToken)) == 1 {
			h.ServeHTTP(w, r)
			return
		}
		if strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") || r.URL.Query().Has("X-Amz-Signature") {
			id, f := a.Verifier.Verify(r, "kinesisvideo", nil)
			reason, who := awsauth.ReasonAccessDenied, ""
			switch {
			case f != nil:
				reason = f.Reason
			case id.Allowed("eddy:admin", ""):
				h.ServeHTTP(w, r)
				return
			default:
				who = id.AccessKeyID
			}
			a.Failed("metrics", reason, r.RemoteAddr, who)
			http.Error(w, "forbidden: /metrics needs eddy:admin", http.StatusForbidden)
			return
		}
		if identify != nil {
			if allowed, ok := identify(r); ok && allowed("eddy:admin", "") {
				h.ServeHTTP(w, r)
				return
			}
		}
		a.Failed("metrics", awsauth.ReasonMissing, r.RemoteAddr, "")
		w.Header().Set("WWW-Authenticate", `Bearer realm="eddy"`)
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, "unauthorized: /metrics needs the metrics token or eddy:admin\n")
	})
}
