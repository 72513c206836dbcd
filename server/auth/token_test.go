package auth

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/eddy-video/eddy/datastreams/awsauth"
)

// testIdentities are the identities of these tests: a camera that
// publishes cam-*, a viewer of cam-* and lobby, and an admin of all.
func testIdentities() []awsauth.Identity {
	return []awsauth.Identity{
		{AccessKeyID: "AKIDCAM", Secret: "camsecret1", Rules: []awsauth.Rule{
			{Actions: []string{"webrtc:publish", "rtsp:publish"}, Streams: []string{"cam-*"}}}},
		{AccessKeyID: "AKIDVIEW", Secret: "viewsecret", Rules: []awsauth.Rule{
			{Actions: []string{"webrtc:read", "hls:read"}, Streams: []string{"cam-*", "lobby"}}}},
		{AccessKeyID: "AKIDADMIN", Secret: "adminsecret", Rules: []awsauth.Rule{
			{Actions: []string{"*"}, Streams: []string{"*"}}}},
	}
}

type testClock struct{ t time.Time }

func (c *testClock) Now() time.Time { return c.t }

func newTestAuth(t testing.TB) (*Auth, *testClock) {
	t.Helper()
	creds, err := awsauth.NewCredentials(testIdentities(), ".events")
	if err != nil {
		t.Fatal(err)
	}
	clk := &testClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	a := &Auth{Credentials: creds, Region: "us-east-1", Account: "000000000000", Key: bytes.Repeat([]byte{9}, 32),
		MaxTokenTTL: 24 * time.Hour, SessionTTL: 12 * time.Hour, Now: clk.Now}
	if err := a.Initialize(); err != nil {
		t.Fatal(err)
	}
	return a, clk
}

func lookup(t testing.TB, a *Auth, key string) *awsauth.Identity {
	id, ok := a.Credentials.Lookup(key)
	if !ok {
		t.Fatalf("no identity %s", key)
	}
	return id
}

func issue(t testing.TB, a *Auth, key, stream string, ttl time.Duration, actions ...string) string {
	t.Helper()
	tok, exp, err := a.IssueToken(lookup(t, a, key), TokenRequest{Actions: actions, Stream: stream, TTL: ttl})
	if err != nil {
		t.Fatalf("issue %s %v on %s: %v", key, actions, stream, err)
	}
	if !exp.Equal(a.Now().Add(ttl).Truncate(time.Second)) {
		t.Errorf("expires %v", exp)
	}
	return tok
}

func TestTokenVerify(t *testing.T) {
	a, clk := newTestAuth(t)
	read := issue(t, a, "AKIDVIEW", "cam-1", time.Hour, "webrtc:read")
	both := issue(t, a, "AKIDVIEW", "cam-*", time.Hour, "webrtc:read", "hls:read")
	pub := issue(t, a, "AKIDCAM", "cam-1", time.Minute, "webrtc:publish")
	if strings.ContainsAny(read, "+/=") || !strings.HasPrefix(read, "eddy.") {
		t.Errorf("token %q is not URL-safe or lacks its prefix", read)
	}
	tampered := []byte(read)
	tampered[len(tampered)/2] ^= 1
	for _, tc := range []struct {
		name, tok, action, stream string
		status                    int
		reason                    string
	}{
		{"read", read, "webrtc:read", "cam-1", 0, ""},
		{"pattern", both, "hls:read", "cam-77", 0, ""},
		{"publish", pub, "webrtc:publish", "cam-1", 0, ""},
		{"action case", read, "WebRTC:Read", "cam-1", 0, ""},
		{"other stream", read, "webrtc:read", "cam-2", 403, awsauth.ReasonAccessDenied},
		{"outside the pattern", both, "webrtc:read", "lobby", 403, awsauth.ReasonAccessDenied},
		{"other action", read, "webrtc:publish", "cam-1", 403, awsauth.ReasonAccessDenied},
		{"garbage", "eddy.AAAA", "webrtc:read", "cam-1", 401, awsauth.ReasonMalformed},
		{"no prefix", strings.TrimPrefix(read, "eddy."), "webrtc:read", "cam-1", 401, awsauth.ReasonMalformed},
		{"tampered", string(tampered), "webrtc:read", "cam-1", 401, ""},
		{"empty", "", "webrtc:read", "cam-1", 401, awsauth.ReasonMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, d := a.VerifyToken(tc.tok, tc.action, tc.stream)
			switch {
			case tc.status == 0 && d != nil:
				t.Fatalf("refused: %+v", d)
			case tc.status == 0 && id == nil:
				t.Fatal("no identity")
			case tc.status != 0 && (d == nil || d.Status != tc.status || (tc.reason != "" && d.Reason != tc.reason)):
				t.Fatalf("got %+v, want %d %s", d, tc.status, tc.reason)
			}
		})
	}

	// Expiry: a second before, fine; at the expiry, 401.
	clk.t = clk.t.Add(time.Minute - time.Second)
	if _, d := a.VerifyToken(pub, "webrtc:publish", "cam-1"); d != nil {
		t.Fatalf("before expiry: %v", d)
	}
	clk.t = clk.t.Add(time.Second)
	if _, d := a.VerifyToken(pub, "webrtc:publish", "cam-1"); d == nil || d.Status != 401 || d.Reason != awsauth.ReasonExpired || d.Code != "invalid_token" {
		t.Fatalf("expired: %+v", d)
	}
}

// TestTokenFollowsIdentity: a token never outlives its identity, its
// secret or its permission.
func TestTokenFollowsIdentity(t *testing.T) {
	a, _ := newTestAuth(t)
	tok := issue(t, a, "AKIDVIEW", "lobby", time.Hour, "webrtc:read")
	ids := testIdentities()
	replace := func(ids []awsauth.Identity) {
		if err := a.Credentials.Replace(ids, ".events"); err != nil {
			t.Fatal(err)
		}
	}
	check := func(what string, status int, reason string) {
		t.Helper()
		_, d := a.VerifyToken(tok, "webrtc:read", "lobby")
		if status == 0 && d != nil || status != 0 && (d == nil || d.Status != status || d.Reason != reason) {
			t.Errorf("%s: %+v, want %d %s", what, d, status, reason)
		}
	}
	check("as issued", 0, "")
	ids[1].Rules = []awsauth.Rule{{Actions: []string{"webrtc:read"}, Streams: []string{"cam-*"}}}
	replace(ids)
	check("permission revoked", 403, awsauth.ReasonAccessDenied)
	ids = testIdentities()
	ids[1].Secret = "rotatedsecret"
	replace(ids)
	check("secret rotated", 401, awsauth.ReasonSignature)
	replace(testIdentities()[:1])
	check("identity removed", 401, awsauth.ReasonUnknownKey)
	replace(testIdentities())
	check("restored", 0, "")
}

func TestIssueToken(t *testing.T) {
	a, _ := newTestAuth(t)
	for _, tc := range []struct {
		name, key, stream string
		actions           []string
		ttl               time.Duration
		denied, invalid   bool
	}{
		{"name", "AKIDVIEW", "cam-1", []string{"webrtc:read"}, time.Hour, false, false},
		{"covered pattern", "AKIDVIEW", "cam-1*", []string{"webrtc:read", "hls:read"}, time.Hour, false, false},
		{"same pattern", "AKIDCAM", "cam-*", []string{"webrtc:publish"}, time.Hour, false, false},
		{"wider pattern", "AKIDVIEW", "*", []string{"webrtc:read"}, time.Hour, true, false},
		{"one action missing", "AKIDVIEW", "cam-1", []string{"webrtc:read", "webrtc:publish"}, time.Hour, true, false},
		{"not held", "AKIDCAM", "cam-1", []string{"webrtc:read"}, time.Hour, true, false},
		{"admin", "AKIDADMIN", "*", []string{"eddy:admin", "webrtc:publish"}, 24 * time.Hour, false, false},
		{"not a token action", "AKIDADMIN", "cam-1", []string{"kinesisvideo:GetClip"}, time.Hour, false, true},
		{"no action", "AKIDADMIN", "cam-1", nil, time.Hour, false, true},
		{"too long", "AKIDADMIN", "cam-1", []string{"webrtc:read"}, 25 * time.Hour, false, true},
		{"bad stream", "AKIDADMIN", "cam/1", []string{"webrtc:read"}, time.Hour, false, true},
		{"empty stream", "AKIDADMIN", "", []string{"webrtc:read"}, time.Hour, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := a.IssueToken(lookup(t, a, tc.key), TokenRequest{Actions: tc.actions, Stream: tc.stream, TTL: tc.ttl})
			var ae *awsauth.Error
			var ir *InvalidRequest
			switch {
			case tc.denied && (!errors.As(err, &ae) || ae.Type != awsauth.TypeAccessDenied):
				t.Fatalf("want AccessDenied, got %v", err)
			case tc.invalid && !errors.As(err, &ir):
				t.Fatalf("want InvalidRequest, got %v", err)
			case !tc.denied && !tc.invalid && err != nil:
				t.Fatal(err)
			}
			if tc.denied && !strings.Contains(ae.Message, "arn:aws:iam::000000000000:user/"+tc.key) {
				t.Errorf("message %q", ae.Message)
			}
		})
	}
}

func TestCovers(t *testing.T) {
	for _, tc := range []struct {
		q, p string
		want bool
	}{
		{"*", "cam-*", true},
		{"*", "?", true},
		{"cam-*", "cam-*", true},
		{"cam-*", "cam-1*", true},
		{"cam-*", "cam-?", true},
		{"cam-*", "cam*", false},
		{"cam-?", "cam-*", false},
		{"cam-?", "cam-?", true},
		{"cam-?", "cam-1", true},
		{"cam-?", "cam-12", false},
		{"*a*", "*a*a*", true},
		{"a*b", "a*", false},
		{"lobby", "lobby", true},
		{"lobby", "lobb?", false},
		{"*-*", "cam-?*", true},
	} {
		if got := covers(tc.q, tc.p); got != tc.want {
			t.Errorf("covers(%q, %q) = %v, want %v", tc.q, tc.p, got, tc.want)
		}
	}
}

func TestBearer(t *testing.T) {
	a, _ := newTestAuth(t)
	tok := issue(t, a, "AKIDVIEW", "lobby", time.Hour, "webrtc:read")
	req := func(h string) *http.Request {
		r := httptest.NewRequest("POST", "/webrtc/lobby/whep", nil)
		if h != "" {
			r.Header.Set("Authorization", h)
		}
		return r
	}
	if id, d := a.Bearer(req("Bearer "+tok), "webrtc", "webrtc:read", "lobby"); d != nil || id.AccessKeyID != "AKIDVIEW" {
		t.Fatalf("bearer: %v %v", id, d)
	}
	if _, d := a.Bearer(req("bearer  "+tok), "webrtc", "webrtc:read", "lobby"); d != nil {
		t.Fatalf("lower-case scheme: %v", d)
	}
	for _, h := range []string{"", "Basic QUtJRDpzZWNyZXQ=", "Bearer", "Bearer "} {
		if _, d := a.Bearer(req(h), "webrtc", "webrtc:read", "lobby"); d == nil || d.Status != 401 || d.Code != "" || d.Reason != awsauth.ReasonMissing {
			t.Errorf("%q: %+v", h, d)
		}
	}
}

// FuzzTokenParse checks the token parser: no input panics, a body that
// parses is the one encoding of its claims, and nothing but a token Eddy
// signed opens.
func FuzzTokenParse(f *testing.F) {
	a, _ := newTestAuth(f)
	id, _ := a.Credentials.Lookup("AKIDVIEW")
	// Sealed directly, with a fixed id: every fuzzing process signs the same.
	tok := a.seal(&claims{Kind: kindToken, Actions: 5, Expires: a.Now().Add(time.Hour).Unix(), ID: [idSize]byte{1, 2, 3}, AccessKeyID: id.AccessKeyID, Stream: "cam-*"}, id)
	if _, d := a.VerifyToken(tok, "hls:read", "cam-1"); d != nil {
		f.Fatal(d)
	}
	f.Add(tok)
	f.Add(tok[:len(tok)-2])
	f.Add("eddy.")
	f.Add("eddy.AQ")
	f.Add("Bearer " + tok)
	f.Fuzz(func(t *testing.T, s string) {
		c, body, _, err := decode(s)
		if err != nil {
			return
		}
		if !bytes.Equal(c.marshal(), body) {
			t.Fatalf("body %x re-encodes as %x", body, c.marshal())
		}
		if _, id, reason := a.open(s, c.Kind); reason == "" && s != tok {
			t.Fatalf("%q opened for %s without Eddy signing it", s, id.AccessKeyID)
		}
	})
}

// BenchmarkVerifyToken: what a WHEP/WHIP request pays for its token.
func BenchmarkVerifyToken(b *testing.B) {
	a, _ := newTestAuth(b)
	tok := issue(b, a, "AKIDVIEW", "cam-*", time.Hour, "webrtc:read")
	b.ReportAllocs()
	for b.Loop() {
		if _, d := a.VerifyToken(tok, "webrtc:read", "cam-1"); d != nil {
			b.Fatal(d)
		}
	}
}
