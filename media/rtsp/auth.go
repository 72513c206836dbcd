package rtsp

import (
	"crypto/sha256"
	"crypto/subtle"
	"strings"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/auth"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/headers"
	"github.com/bluenviron/gortsplib/v4/pkg/liberrors"
)

// Actions an RTSP request needs of its identity (Server.Authorize).
const (
	ActionPublish = "rtsp:publish" // ANNOUNCE, and the SETUP/RECORD that follow
	ActionRead    = "rtsp:read"    // DESCRIBE, SETUP and PLAY
)

// Reasons Server.OnAuthFailure reports: the words the server's failure
// accounting uses for every protocol, plus the one that only RTSP has.
const (
	ReasonMissing      = "missing"       // challenged, and never answered
	ReasonMalformed    = "malformed"     // an Authorization header that does not parse
	ReasonUnknownKey   = "unknown_key"   // a user name that is no access key id
	ReasonSignature    = "signature"     // the wrong password
	ReasonAccessDenied = "access_denied" // a known user without the permission
	// ReasonInsecure is Basic authentication on plain RTSP: it would send
	// the secret in clear, so it is never checked there.
	ReasonInsecure = "insecure_method"
)

// realm is gortsplib's: its challenges name it, and a client's Digest
// response hashes it.
const realm = "ipcam"

// authMethods are the methods a listener offers, most preferred first
// (RFC 7616 3.7): clients that know SHA-256 take it. FFmpeg takes the last
// Digest challenge it reads, so MD5 comes after SHA-256 (FFmpeg knows only
// MD5). Basic goes over TLS only.
func authMethods(tls bool) []auth.VerifyMethod {
	m := []auth.VerifyMethod{auth.VerifyMethodDigestSHA256, auth.VerifyMethodDigestMD5}
	if tls {
		m = append(m, auth.VerifyMethodBasic)
	}
	return m
}

// connAuth is what one connection proved of its client. gortsplib calls
// handlers of one connection one at a time, so it needs no lock.
type connAuth struct {
	user       string // authenticated access key id; "" until then
	challenged bool   // a 401 asked for credentials
	failed     bool   // a failure was reported
}

func connAuthOf(sc *gortsplib.ServerConn) *connAuth {
	if ca, ok := sc.UserData().(*connAuth); ok {
		return ca
	}
	ca := &connAuth{}
	sc.SetUserData(ca)
	return ca
}

// credentials are the parts of an Authorization header Eddy acts on.
type credentials struct {
	header headers.Authorization
	sent   bool // the request has an Authorization header
	err    error
}

// parseCredentials reads the Authorization header of req as gortsplib's
// verifier will, so that who Eddy thinks is asking is who is checked.
func parseCredentials(req *base.Request) credentials {
	v, ok := req.Header["Authorization"]
	if !ok {
		return credentials{}
	}
	c := credentials{sent: true}
	c.err = c.header.Unmarshal(v)
	if c.err == nil && c.header.Username == "" {
		c.err = errNoUser
	}
	return c
}

type authError string

func (e authError) Error() string { return string(e) }

const errNoUser = authError("no user name")

// who is a claimed user name fit for a log line and a metric-free report:
// bounded, printable.
func who(user string) string {
	if len(user) > 128 {
		user = user[:128]
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, user)
}

// authenticate returns the access key id req comes from ("" with
// authentication off). When it cannot say, it returns the response to
// send and the error to hand gortsplib: liberrors.ErrServerAuth makes
// gortsplib add the challenge when the request carries no credentials,
// and close the connection after the 401 when they are wrong.
func (s *Server) authenticate(sc *gortsplib.ServerConn, req *base.Request) (string, *base.Response, error) {
	if s.Authenticate == nil {
		return "", nil, nil
	}
	ca := connAuthOf(sc)
	s.slowDown(sc)
	c := parseCredentials(req)
	switch {
	case !c.sent && ca.user != "":
		return ca.user, nil, nil // proved earlier on this connection
	case !c.sent:
		return "", s.challenge(sc, req, ca), liberrors.ErrServerAuth{}
	case c.err != nil:
		s.failed(sc, ca, "", ReasonMalformed)
		return "", s.challenge(sc, req, ca), liberrors.ErrServerAuth{}
	case c.header.Method == headers.AuthMethodBasic && !s.secure():
		s.failed(sc, ca, c.header.Username, ReasonInsecure)
		return "", s.challenge(sc, req, ca), liberrors.ErrServerAuth{}
	}
	user := c.header.Username
	secret, ok := s.Authenticate(user)
	if !ok {
		s.failed(sc, ca, user, ReasonUnknownKey)
		return "", unauthorized(), liberrors.ErrServerAuth{}
	}
	if s.verify(sc, req, &c.header, secret) {
		ca.user = user
		if g := guardOf(sc); g != nil {
			g.proved()
		}
		return user, nil, nil
	}
	if c.header.Method == headers.AuthMethodDigest && stale(req, &c.header, secret) {
		// Right password, a nonce of another connection (RFC 7616 3.3
		// stale): ask again with this connection's nonce.
		return "", s.challenge(sc, req, ca), liberrors.ErrServerAuth{}
	}
	s.failed(sc, ca, user, ReasonSignature)
	return "", unauthorized(), liberrors.ErrServerAuth{}
}

// verify checks a password: Basic (RTSPS only) in constant time, Digest
// through gortsplib against the connection's nonce.
func (s *Server) verify(sc *gortsplib.ServerConn, req *base.Request, h *headers.Authorization, secret string) bool {
	if h.Method == headers.AuthMethodBasic {
		return basicOK(s.secure(), h, secret)
	}
	return sc.VerifyCredentials(req, h.Username, secret)
}

// basicOK checks a Basic password, which is allowed over TLS only.
func basicOK(secure bool, h *headers.Authorization, secret string) bool {
	if !secure || h.Method != headers.AuthMethodBasic {
		return false
	}
	// Hashed first, so that the comparison does not reveal the length.
	got, want := sha256.Sum256([]byte(h.BasicPass)), sha256.Sum256([]byte(secret))
	return subtle.ConstantTimeCompare(got[:], want[:]) == 1
}

// stale reports whether a Digest response is right for the nonce it
// names, which is not the connection's.
func stale(req *base.Request, h *headers.Authorization, secret string) bool {
	methods := []auth.VerifyMethod{auth.VerifyMethodDigestSHA256, auth.VerifyMethodDigestMD5}
	return auth.Verify(req, h.Username, secret, methods, realm, h.Nonce) == nil
}

// challenge prepares a 401 that gortsplib completes with a
// WWW-Authenticate challenge: it adds one when the request carries no
// credentials, so the ones Eddy refused to check are taken away.
func (s *Server) challenge(sc *gortsplib.ServerConn, req *base.Request, ca *connAuth) *base.Response {
	delete(req.Header, "Authorization")
	// The challenge names the connection's nonce, which gortsplib makes
	// on the first verification.
	sc.VerifyCredentials(req, "-", "")
	ca.challenged = true
	return unauthorized()
}

func unauthorized() *base.Response { return &base.Response{StatusCode: base.StatusUnauthorized} }

// permit checks that user may perform action on stream: nil when it may,
// else a 403.
func (s *Server) permit(sc *gortsplib.ServerConn, user, action, stream string) *base.Response {
	if s.Authenticate == nil || s.Authorize == nil || s.Authorize(user, action, stream) {
		return nil
	}
	s.failed(sc, connAuthOf(sc), user, ReasonAccessDenied)
	return &base.Response{StatusCode: base.StatusForbidden,
		StatusMessage: "Forbidden: " + action + " on " + stream + " is not allowed"}
}

// failed reports a failure to OnAuthFailure.
func (s *Server) failed(sc *gortsplib.ServerConn, ca *connAuth, user, reason string) {
	ca.failed = true
	if s.OnAuthFailure != nil {
		s.OnAuthFailure(sc.NetConn().RemoteAddr().String(), who(user), reason)
	}
}

// connClosed reports a connection that was asked for credentials and
// closed without giving any.
func (s *Server) connClosed(sc *gortsplib.ServerConn) {
	ca, ok := sc.UserData().(*connAuth)
	if ok && ca.challenged && ca.user == "" && !ca.failed && s.OnAuthFailure != nil {
		s.OnAuthFailure(sc.NetConn().RemoteAddr().String(), "", ReasonMissing)
	}
}

// slowDown holds the answer to an address that failed too often
// (Server.SlowDown), or until the server closes.
func (s *Server) slowDown(sc *gortsplib.ServerConn) {
	if s.SlowDown != nil {
		s.SlowDown(s.ctx, sc.NetConn().RemoteAddr().String())
	}
}

// secure reports whether the listener runs over TLS, where Basic
// authentication is allowed.
func (s *Server) secure() bool { return s.TLSConfig != nil }
