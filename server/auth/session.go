package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"sync"
	"time"

	"github.com/eddy-video/eddy/datastreams/awsauth"
)

// SessionCookie is the web UI's session cookie: signed claims of kind
// session (claims.go), naming the identity and the expiry; the identity's
// own permissions apply.
//
// It is HttpOnly (scripts never see it), Secure under TLS, and
// SameSite=Strict: no request that another site starts carries it, not
// even a top-level navigation. That costs the UI nothing, because it is a
// single page whose own fetches (same-site) carry the cookie: a link from
// elsewhere lands on the page, which then loads as logged in. Lax would
// let other sites make the browser fetch GETs with it (clip downloads cost
// the server work); Strict closes that too, while the Origin checks on
// every POST stay the CSRF defence for browsers that ignore SameSite.
const SessionCookie = "eddy_session"

// maxLoggedOut bounds the logged-out sessions remembered until they
// expire (a flood of logins and logouts forgets the oldest half).
const maxLoggedOut = 1 << 16

// loggedOut remembers sessions ended before their expiry. Sessions are
// stateless (signed cookies that survive restarts); a logout is kept in
// memory, so a restart forgets it: the cookie, already deleted from the
// browser, would work again until it expires.
type loggedOut struct {
	mu  sync.Mutex
	ids map[[idSize]byte]int64 // session id → expiry (Unix seconds)
}

func (l *loggedOut) add(id [idSize]byte, expires int64, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ids == nil {
		l.ids = map[[idSize]byte]int64{}
	}
	if len(l.ids) >= maxLoggedOut {
		for k, exp := range l.ids {
			if exp <= now.Unix() || len(l.ids) >= maxLoggedOut/2 {
				delete(l.ids, k)
			}
		}
	}
	l.ids[id] = expires
}

func (l *loggedOut) has(id [idSize]byte) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, ok := l.ids[id]
	return ok
}

func (a *Auth) sessionTTL() time.Duration {
	if a.SessionTTL > 0 {
		return a.SessionTTL
	}
	return 12 * time.Hour
}

// Login checks an access key id and its secret (in constant time, the
// same for an unknown id) and, if they are right, sets the session cookie
// on w. A failure is counted and logged ("web"), and an address over its
// failure limit waits first.
func (a *Auth) Login(w http.ResponseWriter, r *http.Request, accessKeyID, secret string) (*awsauth.Identity, time.Time, *Denied) {
	a.Wait(r.Context(), r.RemoteAddr)
	id, ok := a.Credentials.Lookup(accessKeyID)
	want := "\x00no identity: nothing matches this\x00"
	if ok {
		want = id.Secret
	}
	got, exp := sha256.Sum256([]byte(secret)), sha256.Sum256([]byte(want))
	match := subtle.ConstantTimeCompare(got[:], exp[:]) == 1
	if !ok || !match {
		reason := awsauth.ReasonSignature
		if !ok {
			reason = awsauth.ReasonUnknownKey
		}
		a.Failed("web", reason, r.RemoteAddr, accessKeyID)
		return nil, time.Time{}, unauthorized(reason, "wrong access key id or secret access key")
	}
	expires := a.Now().Add(a.sessionTTL()).Truncate(time.Second)
	c := &claims{Kind: kindSession, Expires: expires.Unix(), AccessKeyID: id.AccessKeyID}
	_, _ = rand.Read(c.ID[:])
	http.SetCookie(w, a.cookie(r, a.seal(c, id), expires))
	return id, expires, nil
}

func (a *Auth) cookie(r *http.Request, value string, expires time.Time) *http.Cookie {
	maxAge := int((expires.Sub(a.Now()) + time.Second - 1) / time.Second) // whole seconds, rounded up
	if maxAge <= 0 {
		maxAge = -1 // delete
	}
	return &http.Cookie{Name: SessionCookie, Value: value, Path: "/", Expires: expires, MaxAge: maxAge,
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode}
}

// Session returns the identity of r's session cookie and when the session
// ends. No cookie, or an expired or logged-out one, is a plain 401; a
// forged or malformed one, or one of a removed identity or a changed
// secret, is also counted and logged ("web").
func (a *Auth) Session(r *http.Request) (*awsauth.Identity, time.Time, *Denied) {
	ck, err := r.Cookie(SessionCookie)
	if err != nil || ck.Value == "" {
		return nil, time.Time{}, unauthorized(awsauth.ReasonMissing, "not logged in")
	}
	c, id, reason := a.open(ck.Value, kindSession)
	if reason != "" {
		who := ""
		if c != nil {
			who = c.AccessKeyID
		}
		a.Failed("web", reason, r.RemoteAddr, who)
		return nil, time.Time{}, unauthorized(reason, "the session is not valid; log in again")
	}
	if c.expired(a.Now()) || a.loggedOut.has(c.ID) {
		return nil, time.Time{}, unauthorized(awsauth.ReasonExpired, "the session ended; log in again")
	}
	return id, time.Unix(c.Expires, 0), nil
}

// Logout ends r's session (if any) and deletes the cookie.
func (a *Auth) Logout(w http.ResponseWriter, r *http.Request) {
	if ck, err := r.Cookie(SessionCookie); err == nil {
		if c, _, reason := a.open(ck.Value, kindSession); reason == "" {
			a.loggedOut.add(c.ID, c.Expires, a.Now())
		}
	}
	http.SetCookie(w, a.cookie(r, "", time.Unix(1, 0)))
}

// Identify authenticates r by Eddy's own credentials for action on
// stream ("" for any): the UI session cookie, else an Eddy bearer token.
// It is for endpoints people reach both ways, such as /metrics
// (eddy:admin). Failures are counted under protocol.
func (a *Auth) Identify(r *http.Request, protocol, action, stream string) (*awsauth.Identity, *Denied) {
	if _, err := r.Cookie(SessionCookie); err == nil {
		id, _, d := a.Session(r)
		if d != nil {
			return nil, d
		}
		if !id.Allowed(action, stream) {
			a.Failed(protocol, awsauth.ReasonAccessDenied, r.RemoteAddr, id.AccessKeyID)
			return nil, forbidden("%s is not allowed %s", id.AccessKeyID, action)
		}
		return id, nil
	}
	return a.Bearer(r, protocol, action, stream)
}
