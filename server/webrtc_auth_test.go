package server_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	pion "github.com/pion/webrtc/v4"

	"github.com/eddy-video/eddy/datastreams/awsauth"
	"github.com/eddy-video/eddy/server"
	"github.com/eddy-video/eddy/server/servertest"
	"github.com/eddy-video/eddy/webrtc/whepclient"
)

// postOffer POSTs a receive-only (WHEP) or send-only (WHIP) offer with an
// Authorization header ("" for none) and returns the response.
func postOffer(ctx context.Context, t *testing.T, url, authorization string) (*http.Response, string) {
	t.Helper()
	pc := loopbackPeer(t)
	defer pc.Close()
	dir := pion.RTPTransceiverDirectionRecvonly
	if strings.HasSuffix(url, "/whip") {
		dir = pion.RTPTransceiverDirectionSendonly
	}
	if _, err := pc.AddTransceiverFromKind(pion.RTPCodecTypeVideo, pion.RTPTransceiverInit{Direction: dir}); err != nil {
		t.Fatal(err)
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(ctx, "POST", url, strings.NewReader(offer.SDP))
	req.Header.Set("Content-Type", "application/sdp")
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

// TestWebRTCBearer: WHEP and WHIP take Eddy bearer tokens. A valid one
// plays or publishes; none, a malformed, an expired one, or one for
// another stream or action is refused before any session exists; a
// session's resource answers only its identity.
func TestWebRTCBearer(t *testing.T) {
	t.Parallel()
	e := servertest.Start(t, withAuth, func(c *server.Config) { c.Auth.FailureLimit = 0 })
	ctx := servertest.Context(t, time.Minute)
	a := e.Server.Auth()
	pubCtx, cancel := context.WithCancel(ctx)
	_, _, done := publish(pubCtx, camURL(e, "cam-1"), 30*time.Second, "tcp")
	defer func() { cancel(); stopped(t, done) }()
	waitLive(t, e, "cam-1")

	whep := e.URL + "/webrtc/cam-1/whep"
	read := issueToken(t, a, viewKey, "cam-1", time.Hour, "webrtc:read")
	missing0 := authFailures(t, e, "webrtc", awsauth.ReasonMissing)
	for _, tc := range []struct {
		name, url, authorization string
		status                   int
		challenge                string
	}{
		{"no token", whep, "", 401, `Bearer realm="eddy"`},
		{"basic", whep, "Basic " + camKey + ":" + camSecret, 401, `Bearer realm="eddy"`},
		{"malformed", whep, "Bearer nope", 401, `error="invalid_token"`},
		{"expired", whep, "Bearer " + expiredToken(t, a, viewKey, "cam-1", "webrtc:read"), 401, `error="invalid_token", error_description="the bearer token expired at`},
		{"other stream", e.URL + "/webrtc/cam-2/whep", "Bearer " + read, 403, `error="insufficient_scope"`},
		{"other action", whep, "Bearer " + issueToken(t, a, viewKey, "cam-1", time.Hour, "hls:read"), 403, `error="insufficient_scope"`},
		{"not the identity's", e.URL + "/webrtc/cam-1/whip", "Bearer " + issueToken(t, a, otherKey, "cam-1", time.Hour, "webrtc:read"), 403, `insufficient_scope`},
		{"whip without", e.URL + "/webrtc/cam-9/whip", "", 401, `Bearer realm="eddy"`},
		{"bad name first", e.URL + "/webrtc/a%20b/whep", "", 400, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := postOffer(ctx, t, tc.url, tc.authorization)
			if resp.StatusCode != tc.status || !strings.Contains(resp.Header.Get("WWW-Authenticate"), tc.challenge) {
				t.Fatalf("%d, WWW-Authenticate %q: %s", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), body)
			}
			t.Logf("%d %s: %s", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), strings.TrimSpace(body))
		})
	}
	if whep, whip := e.Server.WebRTC().Sessions(); whep+whip != 0 || e.Server.WebRTC().PeerConnections() != 0 {
		t.Fatalf("refused offers left %d+%d sessions, %d peer connections", whep, whip, e.Server.WebRTC().PeerConnections())
	}
	if n := authFailures(t, e, "webrtc", awsauth.ReasonMissing) - missing0; n != 3 {
		t.Errorf("%d failures counted as missing, want 3", n)
	}

	// A valid token plays.
	v, err := newWHEPViewer(ctx, t, whep, whepclient.WithToken(read))
	if err != nil {
		t.Fatal(err)
	}
	_, after := v.first(t, 5*time.Second)
	t.Logf("first access unit %s after the POST", after)
	waitPeers(t, e, 1, time.Second)

	// Its resource answers its identity only: no token, another
	// identity's, then a fresh token of its own, and the token it was made
	// with.
	if code, _ := whepclient.EndSession(ctx, http.DefaultClient, v.session); code != 401 {
		t.Errorf("DELETE without a token: %d", code)
	}
	if code, _ := whepclient.EndSession(ctx, http.DefaultClient, v.session, whepclient.WithToken(issueToken(t, a, otherKey, "cam-1", time.Hour, "webrtc:read"))); code != 403 {
		t.Errorf("DELETE with another identity's token: %d", code)
	}
	if code := patchSession(ctx, t, v.session, issueToken(t, a, viewKey, "cam-1", time.Minute, "webrtc:read")); code != 204 {
		t.Errorf("PATCH with another token of the identity: %d", code)
	}
	waitPeers(t, e, 1, time.Second)
	if code, _ := whepclient.EndSession(ctx, http.DefaultClient, v.session, whepclient.WithToken(read)); code != 200 {
		t.Errorf("DELETE with the session's token: %d", code)
	}
	waitPeers(t, e, 0, 5*time.Second)

	// A publisher with a webrtc:publish token: WHIP publishes.
	pc := loopbackPeer(t)
	defer pc.Close()
	video, _ := pion.NewTrackLocalStaticRTP(pion.RTPCodecCapability{MimeType: pion.MimeTypeH264, ClockRate: 90000,
		SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=4d001f"}, "video", "test")
	if _, err := pc.AddTransceiverFromTrack(video, pion.RTPTransceiverInit{Direction: pion.RTPTransceiverDirectionSendonly}); err != nil {
		t.Fatal(err)
	}
	pub := issueToken(t, a, camKey, "cam-*", time.Minute, "webrtc:publish")
	session, _, _, err := whepclient.Negotiate(ctx, http.DefaultClient, e.URL+"/webrtc/cam-7/whip", pc, whepclient.WithToken(pub))
	if err != nil {
		t.Fatal(err)
	}
	sent := make(chan error, 1)
	sendClipVideo(ctx, t, video, 3*time.Second, sent)
	waitLive(t, e, "cam-7")
	t.Logf("WHIP with a token: cam-7 is live")
	if code, _ := whepclient.EndSession(ctx, http.DefaultClient, session, whepclient.WithToken(pub)); code != 200 {
		t.Errorf("DELETE of the publication: %d", code)
	}
	waitPeers(t, e, 0, 5*time.Second)
}

// patchSession sends a trickle ICE fragment (an end-of-candidates) to a
// session with a bearer token.
func patchSession(ctx context.Context, t *testing.T, url, token string) int {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "PATCH", url, strings.NewReader("a=end-of-candidates\r\n"))
	req.Header.Set("Content-Type", "application/trickle-ice-sdpfrag")
	whepclient.WithToken(token)(req)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestWebRTCPenalty: an address that fails more than auth.failure_limit
// times a minute waits auth.failure_delay before each answer.
func TestWebRTCPenalty(t *testing.T) {
	t.Parallel()
	e := servertest.Start(t, withAuth, func(c *server.Config) {
		c.Auth.FailureLimit = 3
		c.Auth.FailureDelay = server.Duration(400 * time.Millisecond)
	})
	ctx := servertest.Context(t, 30*time.Second)
	for i := 0; i < 5; i++ {
		start := time.Now()
		resp, _ := postOffer(ctx, t, e.URL+"/webrtc/cam-1/whep", "Bearer nope")
		took := time.Since(start)
		if resp.StatusCode != 401 || (i > 3) != (took >= 400*time.Millisecond) {
			t.Errorf("attempt %d: %d after %s", i+1, resp.StatusCode, took)
		}
	}
}

// TestWebRTCOptionsICECredentials: with credentials configured, OPTIONS
// lists TURN servers with their passwords only to a request with a valid
// token for the stream; a CORS preflight or anyone else sees the STUN
// servers alone, and the 201 of an authorized POST lists both.
func TestWebRTCOptionsICECredentials(t *testing.T) {
	t.Parallel()
	e := servertest.Start(t, withAuth, func(c *server.Config) {
		c.Auth.FailureLimit = 0
		c.WebRTCOptions.ICEServers = []server.ICEServerConfig{{URLs: []string{"stun:stun.example.net:3478"}},
			{URLs: []string{"turn:turn.example.net:3478"}, Username: "u", Credential: "turn-password"}}
	})
	a := e.Server.Auth()
	links := func(token string) string {
		t.Helper()
		req, _ := http.NewRequest(http.MethodOptions, e.URL+"/webrtc/cam-1/whep", nil)
		req.Header.Set("Access-Control-Request-Method", "POST")
		if token != "" {
			whepclient.WithToken(token)(req)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("OPTIONS: %d", resp.StatusCode)
		}
		return strings.Join(resp.Header.Values("Link"), ", ")
	}
	for name, tc := range map[string]struct {
		token    string
		wantTURN bool
	}{
		"no token":          {"", false},
		"a forged token":    {"eddy.AAAA", false},
		"another stream's":  {issueToken(t, a, viewKey, "cam-2", time.Minute, "webrtc:read"), false},
		"a token for cam-1": {issueToken(t, a, viewKey, "cam-1", time.Minute, "webrtc:read"), true},
		"a token for cam-*": {issueToken(t, a, viewKey, "cam-*", time.Minute, "webrtc:read"), true},
	} {
		got := links(tc.token)
		if !strings.Contains(got, "stun:stun.example.net") || strings.Contains(got, "turn-password") != tc.wantTURN {
			t.Errorf("OPTIONS with %s: Link %q (TURN credentials wanted: %v)", name, got, tc.wantTURN)
		}
	}
}
