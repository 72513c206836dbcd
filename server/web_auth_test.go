package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/eddy-video/eddy/fragments"
	"github.com/eddy-video/eddy/media/rtspclient"
	"github.com/eddy-video/eddy/server"
	"github.com/eddy-video/eddy/server/auth"
	"github.com/eddy-video/eddy/server/servertest"
)

// uiClient is a browser-like client: a cookie jar, and the Origin a
// same-origin fetch sends.
type uiClient struct {
	t      *testing.T
	base   string
	hc     *http.Client
	origin string
}

func newUIClient(t *testing.T, base string) *uiClient {
	jar, _ := cookiejar.New(nil)
	return &uiClient{t: t, base: base, hc: &http.Client{Jar: jar}, origin: base}
}

// do sends a request (JSON body when not "") with extra headers.
func (c *uiClient) do(method, path, body string, hdr ...string) (int, http.Header, string) {
	c.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, c.base+path, rd)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if method != "GET" && c.origin != "" {
		req.Header.Set("Origin", c.origin)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func loginBody(key, secret string) string {
	b, _ := json.Marshal(map[string]string{"accessKeyId": key, "secretAccessKey": secret})
	return string(b)
}

// TestWebUIAuth: with credentials the UI API needs a login, answers only
// what the identity may see, is safe from other sites' pages (Origin,
// Sec-Fetch-Site, Referer), and logout ends the session.
func TestWebUIAuth(t *testing.T) {
	t.Parallel()
	e := servertest.Start(t, withAuth, func(c *server.Config) { c.Auth.FailureLimit = 0 })
	ctx := servertest.Context(t, time.Minute)
	if _, err := e.Server.Videos().CreateStream("lobby", fragments.CreateOptions{RetentionHours: 1}); err != nil {
		t.Fatal(err)
	}
	pubCtx, cancel := context.WithCancel(ctx)
	_, _, done := publish(pubCtx, camURL(e, "cam-1"), 30*time.Second, "tcp")
	defer func() { cancel(); stopped(t, done) }()
	waitLive(t, e, "cam-1")

	c := newUIClient(t, e.URL)
	if st, _, b := c.do("GET", "/api/v1/ui/session", ""); st != 200 || !strings.Contains(b, `"auth":true`) || strings.Contains(b, "identity") {
		t.Fatalf("session before login: %d %s", st, b)
	}
	for _, p := range []string{"/api/v1/streams", "/api/v1/streams/cam-1/coverage", "/api/v1/streams/cam-1/clip.mp4?start=2026-01-01T00:00:00Z&end=2026-01-01T00:00:10Z"} {
		if st, _, b := c.do("GET", p, ""); st != 401 {
			t.Errorf("GET %s before login: %d %s", p, st, b)
		}
	}
	if st, _, b := c.do("POST", "/api/v1/ui/tokens", `{"stream":"cam-1","actions":["webrtc:read"]}`); st != 401 {
		t.Errorf("token before login: %d %s", st, b)
	}
	webFailures := authFailures(t, e, "web", "signature")

	// Refused logins: wrong secret, unknown key, and pages of other sites.
	for _, tc := range []struct {
		name, body string
		hdr        []string
		status     int
	}{
		{"wrong secret", loginBody(viewKey, "wrongsecret"), nil, 401},
		{"unknown key", loginBody("AKIDNOBODY", viewSecret), nil, 401},
		{"other origin", loginBody(viewKey, viewSecret), []string{"Origin", "http://evil.example"}, 403},
		{"cross-site fetch", loginBody(viewKey, viewSecret), []string{"Sec-Fetch-Site", "cross-site"}, 403},
		{"other referer", loginBody(viewKey, viewSecret), []string{"Origin", "", "Referer", "http://evil.example/page"}, 403},
		{"not JSON", "accessKeyId=" + viewKey, nil, 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, hdr, b := c.do("POST", "/api/v1/ui/login", tc.body, tc.hdr...)
			if st != tc.status || hdr.Get("Set-Cookie") != "" {
				t.Fatalf("%d %q %s", st, hdr.Get("Set-Cookie"), b)
			}
		})
	}
	if n := authFailures(t, e, "web", "signature") - webFailures; n != 1 {
		t.Errorf("%d wrong-secret failures counted, want 1", n)
	}

	st, hdr, b := c.do("POST", "/api/v1/ui/login", loginBody(viewKey, viewSecret))
	ck := hdr.Get("Set-Cookie")
	if st != 200 || !strings.Contains(b, `"identity":"`+viewKey+`"`) || !strings.HasPrefix(ck, auth.SessionCookie+"=eddy.") ||
		!strings.Contains(ck, "HttpOnly") || !strings.Contains(ck, "SameSite=Strict") || strings.Contains(ck, "Secure") || !strings.Contains(ck, "Max-Age=43200") {
		t.Fatalf("login: %d %s; Set-Cookie %s", st, b, ck)
	}
	t.Logf("Set-Cookie: %s…%s", ck[:24], ck[strings.Index(ck, ";"):])

	// Only the streams the identity may watch, with what it may do.
	st, _, b = c.do("GET", "/api/v1/streams", "")
	var streams []struct {
		Name   string
		Access map[string]bool
	}
	if st != 200 || json.Unmarshal([]byte(b), &streams) != nil || len(streams) != 1 || streams[0].Name != "cam-1" {
		t.Fatalf("streams: %d %s", st, b)
	}
	if a := streams[0].Access; !a["hls"] || !a["webrtc"] || !a["clip"] || a["publish"] {
		t.Errorf("access %v", a)
	}
	if st, _, b := c.do("GET", "/api/v1/streams/lobby/coverage", ""); st != 403 || !strings.Contains(b, "AccessDeniedException") {
		t.Errorf("coverage of lobby: %d %s", st, b)
	}
	if st, _, _ := c.do("GET", "/api/v1/streams/cam-1/coverage", ""); st != 200 {
		t.Errorf("coverage of cam-1: %d", st)
	}
	if st, hdr, b := c.do("GET", "/api/v1/streams/lobby/clip.mp4?start=2026-01-01T00:00:00Z&end=2026-01-01T00:00:10Z", ""); st != 403 || hdr.Get("x-amzn-ErrorType") != "AccessDeniedException" {
		t.Errorf("clip of lobby: %d %s", st, b)
	}

	// WebRTC tokens for the session's identity, for what it holds.
	st, _, b = c.do("POST", "/api/v1/ui/tokens", `{"stream":"cam-1","actions":["webrtc:read"]}`)
	var tok struct{ Token, Expires string }
	if st != 200 || json.Unmarshal([]byte(b), &tok) != nil {
		t.Fatalf("token: %d %s", st, b)
	}
	if id, d := e.Server.Auth().VerifyToken(tok.Token, "webrtc:read", "cam-1"); d != nil || id.AccessKeyID != viewKey {
		t.Errorf("the UI's token: %v", d)
	}
	if exp, _ := time.Parse(time.RFC3339, tok.Expires); time.Until(exp) > 5*time.Minute+time.Second {
		t.Errorf("the UI's token lives until %s", tok.Expires)
	}
	if st, _, b := c.do("POST", "/api/v1/ui/tokens", `{"stream":"cam-1","actions":["webrtc:publish"]}`); st != 403 {
		t.Errorf("publish token: %d %s", st, b)
	}
	if st, _, b := c.do("POST", "/api/v1/ui/tokens", `{"stream":"cam-1","actions":["webrtc:read"]}`, "Origin", "http://evil.example"); st != 403 {
		t.Errorf("token for another site's page: %d %s", st, b)
	}

	// HLS session URLs through the session, for hls:read.
	if st, _, b := c.do("POST", "/api/v1/ui/hls", `{"StreamName":"lobby","PlaybackMode":"LIVE"}`); st != 403 {
		t.Errorf("HLS of lobby: %d %s", st, b)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		st, _, b = c.do("POST", "/api/v1/ui/hls", `{"StreamName":"cam-1","PlaybackMode":"LIVE"}`)
		if st == 200 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	var hu struct{ HLSStreamingSessionURL string }
	if st != 200 || json.Unmarshal([]byte(b), &hu) != nil || !strings.Contains(hu.HLSStreamingSessionURL, "SessionToken=") {
		t.Fatalf("HLS of cam-1: %d %s", st, b)
	}
	if st, _, b := httpGet(t, hu.HLSStreamingSessionURL); st != 200 || !strings.HasPrefix(b, "#EXTM3U") {
		t.Errorf("the session's playlist: %d %.100s", st, b)
	}

	// Logout: no state change on GET, the cookie goes, the old value is dead.
	old := c.hc.Jar.Cookies(mustURL(t, e.URL))
	if st, _, _ := c.do("GET", "/api/v1/ui/logout", ""); st != 405 {
		t.Errorf("GET logout: %d", st)
	}
	if st, _, _ := c.do("POST", "/api/v1/ui/logout", "", "Origin", "http://evil.example"); st != 403 {
		t.Errorf("logout from another site: %d", st)
	}
	if st, hdr, _ := c.do("POST", "/api/v1/ui/logout", ""); st != 204 || !strings.Contains(hdr.Get("Set-Cookie"), "Max-Age=0") {
		t.Errorf("logout: %d %s", st, hdr.Get("Set-Cookie"))
	}
	if st, _, _ := c.do("GET", "/api/v1/streams", ""); st != 401 {
		t.Errorf("streams after logout: %d", st)
	}
	replay := newUIClient(t, e.URL)
	replay.hc.Jar.SetCookies(mustURL(t, e.URL), old)
	if st, _, _ := replay.do("GET", "/api/v1/streams", ""); st != 401 || len(old) != 1 {
		t.Errorf("the logged-out cookie replayed: %d (%d cookies)", st, len(old))
	}
}

// TestWebUIOpen: without credentials the UI needs no login.
func TestWebUIOpen(t *testing.T) {
	t.Parallel()
	e := servertest.Start(t)
	c := newUIClient(t, e.URL)
	if st, _, b := c.do("GET", "/api/v1/ui/session", ""); st != 200 || !strings.Contains(b, `"auth":false`) {
		t.Errorf("session: %d %s", st, b)
	}
	if st, _, b := c.do("POST", "/api/v1/ui/tokens", `{"stream":"cam","actions":["webrtc:publish"]}`); st != 200 || !strings.Contains(b, `"token":""`) {
		t.Errorf("token: %d %s", st, b)
	}
	if st, _, b := c.do("POST", "/api/v1/ui/login", loginBody(viewKey, viewSecret)); st != 400 {
		t.Errorf("login: %d %s", st, b)
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestWebUIBrowserAuth drives the UI with credentials in headless Chromium
// (web/test/e2e_auth.mjs): login (a wrong secret refused), the filtered
// stream list, live over WebRTC and LL-HLS, the timeline, a clip
// download, logout; then publishing over WHIP as another identity.
func TestWebUIBrowserAuth(t *testing.T) {
	node, chromium := needBrowser(t)
	e := servertest.Start(t, withAuth)
	ctx := servertest.Context(t, 120*time.Second)
	if _, err := e.Server.Videos().CreateStream("lobby", fragments.CreateOptions{RetentionHours: 1}); err != nil {
		t.Fatal(err)
	}
	pubCtx, stop := context.WithCancel(ctx)
	pubDone := make(chan error, 1)
	go func() {
		p := &rtspclient.FilePublisher{URL: camURL(e, "cam-1"), File: testClip, Loop: true}
		pubDone <- p.Run(pubCtx)
	}()
	defer func() {
		stop()
		if err := <-pubDone; err != nil && !errors.Is(err, context.Canceled) && ctx.Err() == nil {
			t.Logf("publisher: %v", err)
		}
	}()
	waitLive(t, e, "cam-1")
	runBrowserTest(ctx, t, node, chromium, "test/e2e_auth.mjs", "EDDY_URL="+e.URL, "EDDY_STREAM=cam-1", "EDDY_HIDDEN=lobby",
		"EDDY_VIEWER="+viewKey+":"+viewSecret, "EDDY_PUBLISHER="+otherKey+":"+otherSecret, "EDDY_PUBLISH_STREAM=cam-web")
	// The page ended its WebRTC sessions with their tokens (DELETE), and
	// no WebRTC request of the page went without one.
	waitPeers(t, e, 0, 2*time.Second)
	if n := authFailures(t, e, "webrtc", "missing") + authFailures(t, e, "webrtc", "expired"); n != 0 {
		t.Errorf("%d WebRTC requests of the page failed authentication", n)
	}
}
