package rtsp

import (
	"context"
	"encoding/base64"
	"net"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/auth"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/conn"
	"github.com/bluenviron/gortsplib/v4/pkg/headers"

	"github.com/eddy-video/eddy/media"
	"github.com/eddy-video/eddy/media/mediatest"
)

// testUser is an identity of the test authority: a secret and the
// actions it may perform on streams matching a pattern.
type testUser struct {
	secret  string
	actions []string
	streams string
}

var testUsers = map[string]testUser{
	"AKIDPUB":  {"pub-secret/+1", []string{ActionPublish, ActionRead}, "*"},
	"AKIDREAD": {"read-secret/+2", []string{ActionRead}, "*"},
	"AKIDCAM":  {"cam-secret/+3", []string{ActionPublish}, "cam*"},
}

// testAuthority is the hooks' side: the identities above, and every
// failure it hears of.
type testAuthority struct {
	mu       sync.Mutex
	failures []string // "reason user"
	penalty  time.Duration
}

func (a *testAuthority) hook(s *Server) {
	s.Authenticate = func(user string) (string, bool) {
		u, ok := testUsers[user]
		return u.secret, ok
	}
	s.Authorize = func(user, action, stream string) bool {
		u := testUsers[user]
		ok, _ := path.Match(u.streams, stream)
		return ok && slices.Contains(u.actions, action)
	}
	s.OnAuthFailure = func(addr, user, reason string) {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			panic("OnAuthFailure without host:port: " + addr)
		}
		a.mu.Lock()
		a.failures = append(a.failures, reason+" "+user)
		a.mu.Unlock()
	}
	s.SlowDown = func(ctx context.Context, _ string) {
		a.mu.Lock()
		d := a.penalty
		a.mu.Unlock()
		select {
		case <-time.After(d):
		case <-ctx.Done():
		}
	}
}

// take returns the failures heard since the last call.
func (a *testAuthority) take() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	f := a.failures
	a.failures = nil
	return f
}

// waitFailures waits for want (in any order) to be heard.
func (a *testAuthority) waitFailures(t *testing.T, want ...string) {
	t.Helper()
	var got []string
	mediatest.WaitFor(t, "failures "+strings.Join(want, ", "), func() bool {
		got = append(got, a.take()...)
		return len(got) >= len(want)
	})
	slices.Sort(got)
	want = slices.Clone(want)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("failures %q, want %q", got, want)
	}
}

func startAuthServer(t *testing.T, reg *media.Registry, mutate ...func(*Server)) (*Server, *testAuthority) {
	t.Helper()
	a := &testAuthority{}
	s := &Server{Address: "127.0.0.1:0", Registry: reg, Logger: mediatest.Logger()}
	a.hook(s)
	for _, m := range mutate {
		m(s)
	}
	if err := s.Initialize(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s, a
}

// userAt is addr with credentials, for the test clients' URLs.
func userAt(user, pass, addr string) string {
	if user == "" {
		return addr
	}
	return url.UserPassword(user, pass).String() + "@" + addr
}

// TestRTSPAuthPublishRead drives gortsplib's client (Digest SHA-256, the
// method it prefers) with right, wrong and no credentials, and with
// identities that lack the permission.
func TestRTSPAuthPublishRead(t *testing.T) {
	reg := &media.Registry{Logger: mediatest.Logger()}
	srv, a := startAuthServer(t, reg)
	addr := srv.Addr()

	for _, tc := range []struct {
		name, user, pass, stream string
		status                   base.StatusCode
		failure                  string
	}{
		{"no credentials", "", "", "cam1", base.StatusUnauthorized, "missing "},
		{"wrong password", "AKIDPUB", "wrong-secret", "cam1", base.StatusUnauthorized, "signature AKIDPUB"},
		{"unknown key", "AKIDNOBODY", "pub-secret/+1", "cam1", base.StatusUnauthorized, "unknown_key AKIDNOBODY"},
		{"read-only key", "AKIDREAD", "read-secret/+2", "cam1", base.StatusForbidden, "access_denied AKIDREAD"},
		{"other streams' key", "AKIDCAM", "cam-secret/+3", "door1", base.StatusForbidden, "access_denied AKIDCAM"},
	} {
		t.Run("publish "+tc.name, func(t *testing.T) {
			_, err := startPublisher(t, userAt(tc.user, tc.pass, addr), tc.stream, gortsplib.TransportTCP, h264PubTrack())
			if got := statusCode(err); got != tc.status {
				t.Fatalf("publish: %v, want status %d", err, tc.status)
			}
			a.waitFailures(t, tc.failure)
			if _, ok := reg.Hub(tc.stream); ok {
				t.Fatal("a refused publisher holds the stream")
			}
		})
	}

	pub, err := startPublisher(t, userAt("AKIDCAM", "cam-secret/+3", addr), "cam1", gortsplib.TransportTCP, h264PubTrack())
	if err != nil {
		t.Fatalf("publish with the right credentials: %v", err)
	}
	v := pub.tracks[0]
	go func() {
		for i := 0; ; i++ {
			if pub.write(v, int64(i)*mediatest.VideoTicks, videoNTP(i), mediatest.H264AU(i)) != nil {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	waitUnits(t, reg, "cam1", 1)

	for _, tc := range []struct {
		name, user, pass string
		status           base.StatusCode
		failure          string
	}{
		{"no credentials", "", "", base.StatusUnauthorized, "missing "},
		{"wrong password", "AKIDREAD", "pub-secret/+1", base.StatusUnauthorized, "signature AKIDREAD"},
		{"publish-only key", "AKIDCAM", "cam-secret/+3", base.StatusForbidden, "access_denied AKIDCAM"},
	} {
		t.Run("read "+tc.name, func(t *testing.T) {
			_, err := startReader(t, userAt(tc.user, tc.pass, addr), "cam1", gortsplib.TransportTCP)
			if got := statusCode(err); got != tc.status {
				t.Fatalf("read: %v, want status %d", err, tc.status)
			}
			a.waitFailures(t, tc.failure)
		})
	}
	r, err := startReader(t, userAt("AKIDREAD", "read-secret/+2", addr), "cam1", gortsplib.TransportTCP)
	if err != nil {
		t.Fatalf("read with the right credentials: %v", err)
	}
	r.waitVideo(t, 1)
	if f := a.take(); len(f) != 0 {
		t.Fatalf("failures after the right credentials: %q", f)
	}
}

// rtspConn is a raw RTSP connection, for requests a library client would
// not send.
type rtspConn struct {
	nc   net.Conn
	c    *conn.Conn
	addr string
	cseq int
}

func dialRTSP(t *testing.T, addr string) *rtspConn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &rtspConn{nc: nc, c: conn.NewConn(nc), addr: addr}
}

// do sends a request (authorization: an Authorization header value, or
// "") and reads the response.
func (rc *rtspConn) do(t *testing.T, method base.Method, path, authorization string) (*base.Response, error) {
	t.Helper()
	h := base.Header{}
	if authorization != "" {
		h["Authorization"] = base.HeaderValue{authorization}
	}
	return rc.send(t, method, path, h, nil)
}

// send sends a request with header and body and reads the response.
func (rc *rtspConn) send(t *testing.T, method base.Method, path string, header base.Header, body []byte) (*base.Response, error) {
	t.Helper()
	rc.cseq++
	u, err := base.ParseURL("rtsp://" + rc.addr + path)
	if err != nil {
		t.Fatal(err)
	}
	req := &base.Request{Method: method, URL: u, Header: header, Body: body}
	req.Header["CSeq"] = base.HeaderValue{strconv.Itoa(rc.cseq)}
	_ = rc.nc.SetDeadline(time.Now().Add(5 * time.Second))
	if err := rc.c.WriteRequest(req); err != nil {
		return nil, err
	}
	return rc.c.ReadResponse()
}

// digest answers the challenge of res offering algorithm (MD5 or
// SHA-256) with gortsplib's own sender.
func digest(t *testing.T, res *base.Response, algorithm headers.AuthAlgorithm, user, pass string, method base.Method, u string) string {
	t.Helper()
	for _, v := range res.Header["WWW-Authenticate"] {
		var h headers.Authenticate
		if h.Unmarshal(base.HeaderValue{v}) != nil || h.Method != headers.AuthMethodDigest || *h.Algorithm != algorithm {
			continue
		}
		s := &auth.Sender{WWWAuth: base.HeaderValue{v}, User: user, Pass: pass}
		if err := s.Initialize(); err != nil {
			t.Fatal(err)
		}
		req := &base.Request{Method: method, URL: mediatest.Must(base.ParseURL(u))}
		s.AddAuthorization(req)
		return req.Header["Authorization"][0]
	}
	t.Fatalf("no %v Digest challenge in %q", algorithm, res.Header["WWW-Authenticate"])
	return ""
}

func basic(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

// challenges lists the methods a 401 offers, in order ("Basic",
// "Digest MD5", "Digest SHA-256").
func challenges(res *base.Response) []string {
	var out []string
	for _, v := range res.Header["WWW-Authenticate"] {
		var h headers.Authenticate
		if h.Unmarshal(base.HeaderValue{v}) != nil {
			out = append(out, "?"+v)
			continue
		}
		if h.Method == headers.AuthMethodBasic {
			out = append(out, "Basic")
			continue
		}
		alg := "MD5"
		if h.Algorithm != nil && *h.Algorithm == headers.AuthAlgorithmSHA256 {
			alg = "SHA-256"
		}
		out = append(out, "Digest "+alg)
	}
	return out
}

// TestRTSPAuthMethods checks the challenge, both Digest algorithms, and
// that Basic is refused unchecked on plain RTSP.
func TestRTSPAuthMethods(t *testing.T) {
	reg := &media.Registry{Logger: mediatest.Logger()}
	srv, a := startAuthServer(t, reg)
	addr := srv.Addr()
	u := "rtsp://" + addr + "/cam1"

	rc := dialRTSP(t, addr)
	res, err := rc.do(t, base.Options, "/cam1", "")
	if err != nil || res.StatusCode != base.StatusOK {
		t.Fatalf("OPTIONS needs no credentials: %v %v", res, err)
	}
	res, err = rc.do(t, base.Describe, "/cam1", "")
	if err != nil || res.StatusCode != base.StatusUnauthorized {
		t.Fatalf("DESCRIBE without credentials: %v %v", res, err)
	}
	if got, want := challenges(res), []string{"Digest SHA-256", "Digest MD5"}; !slices.Equal(got, want) {
		t.Fatalf("challenge %q, want %q (no Basic on plain RTSP)", got, want)
	}
	// Basic with the right password is not even checked: 401, a new
	// challenge, the connection stays.
	res2, err := rc.do(t, base.Describe, "/cam1", basic("AKIDPUB", "pub-secret/+1"))
	if err != nil || res2.StatusCode != base.StatusUnauthorized || len(challenges(res2)) != 2 {
		t.Fatalf("Basic on plain RTSP: %v %v", res2, err)
	}
	a.waitFailures(t, "insecure_method AKIDPUB")
	for _, alg := range []headers.AuthAlgorithm{headers.AuthAlgorithmMD5, headers.AuthAlgorithmSHA256} {
		res3, err := rc.do(t, base.Describe, "/cam1", digest(t, res, alg, "AKIDPUB", "pub-secret/+1", base.Describe, u))
		// 404: authenticated and authorized, and nothing is published.
		if err != nil || res3.StatusCode != base.StatusNotFound {
			t.Fatalf("Digest %v: %v %v", alg, res3, err)
		}
	}

	// A Digest answer computed for another connection's nonce is stale:
	// a new challenge, not a failure.
	rc2 := dialRTSP(t, addr)
	res4, err := rc2.do(t, base.Describe, "/cam1", digest(t, res, headers.AuthAlgorithmMD5, "AKIDPUB", "pub-secret/+1", base.Describe, u))
	if err != nil || res4.StatusCode != base.StatusUnauthorized || len(challenges(res4)) != 2 {
		t.Fatalf("stale nonce: %v %v", res4, err)
	}
	res5, err := rc2.do(t, base.Describe, "/cam1", digest(t, res4, headers.AuthAlgorithmMD5, "AKIDPUB", "pub-secret/+1", base.Describe, u))
	if err != nil || res5.StatusCode != base.StatusNotFound {
		t.Fatalf("after the stale challenge: %v %v", res5, err)
	}
	// A wrong password closes the connection after the 401.
	res6, err := rc2.do(t, base.Describe, "/cam1", digest(t, res4, headers.AuthAlgorithmSHA256, "AKIDPUB", "nope-nope", base.Describe, u))
	if err != nil || res6.StatusCode != base.StatusUnauthorized || len(challenges(res6)) != 0 {
		t.Fatalf("wrong password: %v %v", res6, err)
	}
	if _, err := rc2.do(t, base.Options, "/cam1", ""); err == nil {
		t.Fatal("the connection stayed open after a wrong password")
	}
	// Malformed credentials get a challenge.
	rc3 := dialRTSP(t, addr)
	res7, err := rc3.do(t, base.Describe, "/cam1", "Digest username=\"AKIDPUB\"")
	if err != nil || res7.StatusCode != base.StatusUnauthorized || len(challenges(res7)) != 2 {
		t.Fatalf("malformed: %v %v", res7, err)
	}
	a.waitFailures(t, "signature AKIDPUB", "malformed ")
}

// TestRTSPAuthPenalty checks that the server holds its answer to an
// address the authority slows down.
func TestRTSPAuthPenalty(t *testing.T) {
	reg := &media.Registry{Logger: mediatest.Logger()}
	srv, a := startAuthServer(t, reg)
	a.penalty = 400 * time.Millisecond
	rc := dialRTSP(t, srv.Addr())
	start := time.Now()
	res, err := rc.do(t, base.Describe, "/cam1", basic("AKIDPUB", "x"))
	if err != nil || res.StatusCode != base.StatusUnauthorized {
		t.Fatalf("%v %v", res, err)
	}
	if d := time.Since(start); d < a.penalty {
		t.Fatalf("answered after %v, want at least the %v penalty", d, a.penalty)
	}
}
