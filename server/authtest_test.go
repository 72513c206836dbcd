package server_test

import (
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/eddy-video/eddy/server"
	"github.com/eddy-video/eddy/server/auth"
	"github.com/eddy-video/eddy/server/servertest"
)

// The identities of the auth tests: cameras publish cam-*, a viewer
// watches cam-* (not lobby), a second viewer too, and an admin does
// everything.
const (
	camKey, camSecret     = "AKIDCAM", "camsecret1"
	viewKey, viewSecret   = "AKIDVIEW", "viewsecret1"
	otherKey, otherSecret = "AKIDOTHER", "othersecret1"
	adminKey, adminSecret = "AKIDADMIN", "adminsecret1"
	testMetricsToken      = "metrics-scrape-token"
)

// withAuth configures the test identities.
func withAuth(c *server.Config) {
	c.Auth.Credentials = []server.CredentialConfig{
		{AccessKeyID: camKey, SecretAccessKey: camSecret, Allow: []server.AllowConfig{
			{Actions: []string{"rtsp:publish", "webrtc:publish", "kinesisvideo:PutMedia"}, Streams: []string{"cam-*"}}}},
		{AccessKeyID: viewKey, SecretAccessKey: viewSecret, Allow: []server.AllowConfig{
			{Actions: []string{"webrtc:read", "hls:read", "kinesisvideo:GetClip"}, Streams: []string{"cam-*"}}}},
		{AccessKeyID: otherKey, SecretAccessKey: otherSecret, Allow: []server.AllowConfig{
			{Actions: []string{"webrtc:read", "webrtc:publish"}, Streams: []string{"cam-*"}}}},
		{AccessKeyID: adminKey, SecretAccessKey: adminSecret, Allow: []server.AllowConfig{
			{Actions: []string{"*"}, Streams: []string{"*"}}}},
	}
	c.Auth.MetricsToken = testMetricsToken
}

// camURL is the RTSP URL of a stream with the camera's credentials.
func camURL(e *servertest.Env, stream string) string {
	return "rtsp://" + camKey + ":" + camSecret + "@" + e.Server.RTSPAddr() + "/" + stream
}

// issueToken signs a token directly (the SigV4 endpoint has its own test).
func issueToken(t *testing.T, a *auth.Auth, key, stream string, ttl time.Duration, actions ...string) string {
	t.Helper()
	id, ok := a.Credentials.Lookup(key)
	if !ok {
		t.Fatalf("no identity %s", key)
	}
	tok, _, err := a.IssueToken(id, auth.TokenRequest{Actions: actions, Stream: stream, TTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// expiredToken signs a token that expired an hour ago.
func expiredToken(t *testing.T, a *auth.Auth, key, stream string, actions ...string) string {
	t.Helper()
	past := &auth.Auth{Credentials: a.Credentials, Key: a.Key, Now: func() time.Time { return time.Now().Add(-2 * time.Hour) }}
	if err := past.Initialize(); err != nil {
		t.Fatal(err)
	}
	return issueToken(t, past, key, stream, time.Hour, actions...)
}

// authFailures reads eddy_auth_failures_total{protocol,reason} (with the
// metrics scrape token).
func authFailures(t *testing.T, e *servertest.Env, protocol, reason string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", e.URL+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+testMetricsToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	re := regexp.MustCompile(`(?m)^eddy_auth_failures_total\{protocol="` + protocol + `",reason="` + reason + `"\} (\d+)$`)
	m := re.FindStringSubmatch(string(b))
	if m == nil {
		if resp.StatusCode != 200 || !strings.Contains(string(b), "go_goroutines") {
			t.Fatalf("GET /metrics: %d %.200s", resp.StatusCode, b)
		}
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}
