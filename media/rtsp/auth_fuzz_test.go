package rtsp

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"strings"
	"testing"

	"github.com/bluenviron/gortsplib/v4/pkg/auth"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/headers"

	"github.com/eddy-video/eddy/media"
)

const (
	fuzzSecret = "fuzz-secret/+1"
	fuzzNonce  = "0123456789abcdef0123456789abcdef"
)

func hexHash(h func() hash.Hash, s string) string {
	d := h()
	d.Write([]byte(s))
	return hex.EncodeToString(d.Sum(nil))
}

// digestResponse computes RFC 2617/7616 "response" without qop, as
// clients of gortsplib's challenge do, independently of gortsplib.
func digestResponse(h func() hash.Hash, user, realm, pass, nonce string, method base.Method, uri string) string {
	return hexHash(h, hexHash(h, user+":"+realm+":"+pass)+":"+nonce+":"+hexHash(h, string(method)+":"+uri))
}

// FuzzAuthorization runs a request's Authorization header and path
// through what Eddy does with them before anything is allowed: gortsplib's
// header parser as parseCredentials uses it, the password checks (Basic,
// and Digest with the verifier and nonce policy of the server) and the
// stream name. Nothing may panic, a user name Eddy acts on is never empty
// and is logged printable, a password check passes only for the right
// secret (checked against an independent Digest computation), and a
// stream name is one path segment the registry accepts.
func FuzzAuthorization(f *testing.F) {
	u := "rtsp://127.0.0.1:8554/cam1"
	f.Add("Digest username=\"AKID\", realm=\"ipcam\", nonce=\""+fuzzNonce+"\", uri=\""+u+"\", response=\""+
		digestResponse(md5.New, "AKID", realm, fuzzSecret, fuzzNonce, base.Describe, u)+"\"", "/cam1")
	f.Add("Digest username=\"AKID\", realm=\"ipcam\", nonce=\""+fuzzNonce+"\", uri=\""+u+"\", response=\""+
		digestResponse(sha256.New, "AKID", realm, fuzzSecret, fuzzNonce, base.Describe, u)+"\", algorithm=\"SHA-256\"", "/cam1")
	f.Add("Basic "+strings.TrimPrefix(basic("AKID", fuzzSecret), "Basic "), "/cam1")
	f.Add("Basic QUtJRDo=", "/a/b")
	f.Add("Digest username=\"\", realm=\"ipcam\", nonce=\"\", uri=\"\", response=\"\"", "/%2e%2e")
	f.Add("Digest username=AKID,realm=ipcam,nonce=x,uri=y,response=z,algorithm=MD5-sess", "/cam1.events")
	f.Add("Bearer abc", "/")
	srv := &Server{Registry: &media.Registry{}}
	f.Fuzz(func(t *testing.T, authorization, path string) {
		pu, err := base.ParseURL("rtsp://127.0.0.1:8554" + path)
		if err != nil {
			return
		}
		req := &base.Request{Method: base.Describe, URL: pu, Header: base.Header{"Authorization": base.HeaderValue{authorization}}}
		c := parseCredentials(req)
		if !c.sent {
			t.Fatal("a request with an Authorization header seen as without")
		}
		if name, err := srv.streamName(pu.Path, pu); err == nil {
			if name == "" || strings.Contains(name, "/") || srv.Registry.ValidateName(name) != nil {
				t.Fatalf("stream name %q accepted from path %q", name, pu.Path)
			}
		}
		if c.err != nil {
			return
		}
		h := c.header
		if h.Username == "" {
			t.Fatal("credentials without a user name accepted")
		}
		if w := who(h.Username); strings.ContainsFunc(w, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			t.Fatalf("unprintable user name logged: %q", w)
		}
		if basicOK(true, &h, fuzzSecret) && h.BasicPass != fuzzSecret {
			t.Fatalf("Basic accepted %q", h.BasicPass)
		}
		if basicOK(false, &h, fuzzSecret) {
			t.Fatal("Basic accepted without TLS")
		}
		if auth.Verify(req, h.Username, fuzzSecret, authMethods(false), realm, fuzzNonce) != nil {
			return
		}
		if h.Method != headers.AuthMethodDigest || h.Nonce != fuzzNonce || h.Realm != realm {
			t.Fatalf("plain RTSP accepted %+v", h)
		}
		alg := md5.New
		if h.Algorithm != nil && *h.Algorithm == headers.AuthAlgorithmSHA256 {
			alg = sha256.New
		}
		if want := digestResponse(alg, h.Username, realm, fuzzSecret, fuzzNonce, req.Method, h.URI); h.Response != want {
			t.Fatalf("Digest accepted response %q, want %q", h.Response, want)
		}
		if !stale(req, &h, fuzzSecret) {
			t.Fatal("a right Digest answer is not recognised for its own nonce")
		}
	})
}
