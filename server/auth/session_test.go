package auth

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/eddy-video/eddy/datastreams/awsauth"
)

func login(t *testing.T, a *Auth, key, secret string, tlsOn bool) (*http.Cookie, *Denied) {
	t.Helper()
	r := httptest.NewRequest("POST", "/api/v1/ui/login", nil)
	if tlsOn {
		r.TLS = &tls.ConnectionState{}
	}
	w := httptest.NewRecorder()
	_, _, d := a.Login(w, r, key, secret)
	cs := w.Result().Cookies()
	if d != nil {
		if len(cs) != 0 {
			t.Errorf("a failed login set %v", cs)
		}
		return nil, d
	}
	if len(cs) != 1 {
		t.Fatalf("cookies %v", cs)
	}
	return cs[0], nil
}

func withCookie(c *http.Cookie) *http.Request {
	r := httptest.NewRequest("GET", "/api/v1/streams", nil)
	if c != nil {
		r.AddCookie(c)
	}
	return r
}

func TestSession(t *testing.T) {
	a, clk := newTestAuth(t)
	if _, d := login(t, a, "AKIDVIEW", "wrongsecret", false); d == nil || d.Status != 401 || d.Reason != awsauth.ReasonSignature {
		t.Fatalf("wrong secret: %+v", d)
	}
	if _, d := login(t, a, "AKIDNOBODY", "viewsecret", false); d == nil || d.Status != 401 || d.Reason != awsauth.ReasonUnknownKey {
		t.Fatalf("unknown key: %+v", d)
	}
	c, d := login(t, a, "AKIDVIEW", "viewsecret", false)
	if d != nil {
		t.Fatal(d)
	}
	if c.Name != SessionCookie || !c.HttpOnly || c.Secure || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.MaxAge != int((12*time.Hour).Seconds()) {
		t.Errorf("cookie %+v", c)
	}
	if tc, _ := login(t, a, "AKIDVIEW", "viewsecret", true); !tc.Secure {
		t.Error("the cookie is not Secure under TLS")
	}
	id, exp, d := a.Session(withCookie(c))
	if d != nil || id.AccessKeyID != "AKIDVIEW" || !exp.Equal(clk.t.Add(12*time.Hour)) {
		t.Fatalf("session: %v %v %v", id, exp, d)
	}
	if _, _, d := a.Session(withCookie(nil)); d == nil || d.Reason != awsauth.ReasonMissing {
		t.Errorf("no cookie: %+v", d)
	}

	// A session is not a token, nor a token a session.
	r := httptest.NewRequest("POST", "/webrtc/cam-1/whep", nil)
	r.Header.Set("Authorization", "Bearer "+c.Value)
	if _, d := a.Bearer(r, "webrtc", "webrtc:read", "cam-1"); d == nil || d.Status != 401 {
		t.Errorf("a session cookie as a bearer token: %+v", d)
	}
	tok := issue(t, a, "AKIDVIEW", "cam-1", time.Hour, "webrtc:read")
	if _, _, d := a.Session(withCookie(&http.Cookie{Name: SessionCookie, Value: tok})); d == nil || d.Reason != awsauth.ReasonMalformed {
		t.Errorf("a token as a session: %+v", d)
	}

	// Identify: the session's identity, for what it may do.
	if id, d := a.Identify(withCookie(c), "metrics", "hls:read", "cam-1"); d != nil || id.AccessKeyID != "AKIDVIEW" {
		t.Errorf("identify: %v", d)
	}
	if _, d := a.Identify(withCookie(c), "metrics", "eddy:admin", ""); d == nil || d.Status != 403 {
		t.Errorf("identify as admin: %+v", d)
	}

	// Logout ends it; another session of the same identity lives on.
	other, _ := login(t, a, "AKIDVIEW", "viewsecret", false)
	w := httptest.NewRecorder()
	a.Logout(w, withCookie(c))
	if cs := w.Result().Cookies(); len(cs) != 1 || cs[0].MaxAge >= 0 || cs[0].Value != "" {
		t.Errorf("logout cookie %v", cs)
	}
	if _, _, d := a.Session(withCookie(c)); d == nil || d.Status != 401 {
		t.Errorf("after logout: %+v", d)
	}
	if _, _, d := a.Session(withCookie(other)); d != nil {
		t.Errorf("the other session: %v", d)
	}

	// Expiry.
	clk.t = clk.t.Add(12 * time.Hour)
	if _, _, d := a.Session(withCookie(other)); d == nil || d.Reason != awsauth.ReasonExpired {
		t.Errorf("expired: %+v", d)
	}
}
