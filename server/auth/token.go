package auth

import (
	"crypto/rand"
	"fmt"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/eddy-video/eddy/datastreams/awsauth"
)

// Denied is a refused Eddy token or session: the HTTP status (401 when
// the request has no usable credential: none, malformed, forged, of an
// unknown identity, expired; 403 when it is valid but not for this action
// or stream), the RFC 6750 error code of a Bearer challenge
// ("invalid_token", "insufficient_scope"; "" when nothing was sent), the
// reason for metrics and logs (awsauth.Reason*), and a message for people.
type Denied struct {
	Status  int
	Code    string
	Reason  string
	Message string
}

func (d *Denied) Error() string { return d.Message }

// HTTPStatus is the status to answer with.
func (d *Denied) HTTPStatus() int { return d.Status }

func unauthorized(reason, format string, args ...any) *Denied {
	code := "invalid_token"
	if reason == awsauth.ReasonMissing {
		code = ""
	}
	return &Denied{Status: http.StatusUnauthorized, Code: code, Reason: reason, Message: fmt.Sprintf(format, args...)}
}

func forbidden(format string, args ...any) *Denied {
	return &Denied{Status: http.StatusForbidden, Code: "insufficient_scope", Reason: awsauth.ReasonAccessDenied, Message: fmt.Sprintf(format, args...)}
}

// TokenRequest is what a token is asked for: token actions
// ("webrtc:read", "webrtc:publish", "hls:read", "eddy:admin"), a stream
// name or pattern (* and ?), and a lifetime of at most MaxTokenTTL.
type TokenRequest struct {
	Actions []string
	Stream  string
	TTL     time.Duration
}

// InvalidRequest is a token request that cannot be issued as asked.
type InvalidRequest struct{ Message string }

func (e *InvalidRequest) Error() string { return e.Message }

// IssueToken signs a token for id. The identity must itself hold every
// requested action on every stream the pattern names; otherwise the
// error is an *awsauth.Error (AccessDeniedException). A malformed request is an
// *InvalidRequest.
func (a *Auth) IssueToken(id *awsauth.Identity, req TokenRequest) (string, time.Time, error) {
	bits, ok := actionBits(req.Actions)
	if !ok {
		return "", time.Time{}, &InvalidRequest{fmt.Sprintf("actions must be one or more of %s.", strings.Join(tokenActions, ", "))}
	}
	if !streamPattern.MatchString(req.Stream) {
		return "", time.Time{}, &InvalidRequest{"stream must be a stream name or a pattern of 1 to 256 characters of [a-zA-Z0-9_.-] with * and ?."}
	}
	if req.TTL < time.Second || req.TTL > a.maxTokenTTL() {
		return "", time.Time{}, &InvalidRequest{fmt.Sprintf("expires must be from 1s to %s (auth.max_token_ttl).", a.maxTokenTTL())}
	}
	for _, action := range req.Actions {
		if !grants(id, action, req.Stream) {
			return "", time.Time{}, &awsauth.AccessDenied(id, a.Account, action, a.streamARN(req.Stream)).Error
		}
	}
	expires := a.Now().Add(req.TTL).Truncate(time.Second)
	c := &claims{Kind: kindToken, Actions: bits, Expires: expires.Unix(), AccessKeyID: id.AccessKeyID, Stream: req.Stream}
	_, _ = rand.Read(c.ID[:])
	return a.seal(c, id), expires, nil
}

func (a *Auth) maxTokenTTL() time.Duration {
	if a.MaxTokenTTL > 0 {
		return a.MaxTokenTTL
	}
	return 24 * time.Hour
}

// streamARN names a stream (or pattern) in AccessDenied messages, as
// Kinesis Video's ARNs do.
func (a *Auth) streamARN(stream string) string {
	return "arn:aws:kinesisvideo:" + a.Region + ":" + a.Account + ":stream/" + stream + "/*"
}

// VerifyToken checks a bearer token for action on stream (see
// verifyToken) and returns its identity, or why not.
func (a *Auth) VerifyToken(tok, action, stream string) (*awsauth.Identity, *Denied) {
	id, _, d := a.verifyToken(tok, action, stream)
	return id, d
}

// verifyToken checks a bearer token for action on stream: authentic,
// issued to an identity that still exists with the same secret, not
// expired, carrying the action, naming the stream, and the identity is
// still allowed the action there (a token never outlives its identity's
// permission). The identity is nil on failure; the claims are set once
// the token parsed.
func (a *Auth) verifyToken(tok, action, stream string) (*awsauth.Identity, *claims, *Denied) {
	c, id, reason := a.open(tok, kindToken)
	switch reason {
	case "":
	case awsauth.ReasonMalformed:
		return nil, nil, unauthorized(reason, "the bearer token is not an Eddy token")
	case awsauth.ReasonUnknownKey:
		return nil, c, unauthorized(reason, "the bearer token's identity %s is not configured", c.AccessKeyID)
	default:
		return nil, c, unauthorized(reason, "the bearer token's signature does not match (forged, or its identity's secret changed)")
	}
	if c.expired(a.Now()) {
		return nil, c, unauthorized(awsauth.ReasonExpired, "the bearer token expired at %s", time.Unix(c.Expires, 0).UTC().Format(time.RFC3339))
	}
	if !c.has(action) {
		return nil, c, forbidden("the bearer token is for %s, not %s", strings.Join(c.actionNames(), ", "), action)
	}
	if ok, _ := path.Match(c.Stream, stream); !ok {
		return nil, c, forbidden("the bearer token is for stream %q, not %q", c.Stream, stream)
	}
	if !id.Allowed(action, stream) {
		return nil, c, forbidden("%s is no longer allowed %s on stream %q", id.AccessKeyID, action, stream)
	}
	return id, c, nil
}

// Bearer authenticates a request by its "Authorization: Bearer <token>"
// header (RFC 6750 §2.1) for action on stream, on behalf of protocol (for
// failure accounting). An address over its failure limit waits first.
// Failures are counted and logged.
func (a *Auth) Bearer(r *http.Request, protocol, action, stream string) (*awsauth.Identity, *Denied) {
	a.Wait(r.Context(), r.RemoteAddr)
	tok, ok := bearerToken(r)
	if !ok {
		d := unauthorized(awsauth.ReasonMissing, "this needs an Eddy token: Authorization: Bearer <token> (POST /api/v1/tokens, or eddy token)")
		a.Failed(protocol, d.Reason, r.RemoteAddr, "")
		return nil, d
	}
	id, c, d := a.verifyToken(tok, action, stream)
	if d != nil {
		who := ""
		if c != nil {
			who = c.AccessKeyID
		}
		a.Failed(protocol, d.Reason, r.RemoteAddr, who)
		return nil, d
	}
	return id, nil
}

// bearerToken returns the token of an Authorization: Bearer header (the
// scheme is case-insensitive, RFC 9110 §11.1).
func bearerToken(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

// grants reports whether id may perform action on every stream pattern
// names: for a plain name, Allowed; for a pattern, one of the identity's
// rules with the action must have a stream pattern that covers it.
func grants(id *awsauth.Identity, action, pattern string) bool {
	if !strings.ContainsAny(pattern, "*?") {
		return id.Allowed(action, pattern)
	}
	for _, r := range id.Rules {
		// The rule alone, on a stream it surely names: does it grant the action?
		alone := awsauth.Identity{Rules: []awsauth.Rule{{Actions: r.Actions, Streams: []string{"*"}}}}
		if !alone.Allowed(action, "x") {
			continue
		}
		for _, q := range r.Streams {
			if covers(q, pattern) {
				return true
			}
		}
	}
	return false
}

// covers reports whether every name pattern p matches is matched by q
// (both with * and ?). It is sound, not complete: a yes is always right;
// a no may be too strict for contrived pairs, which only refuses a token.
// q's * takes any run of p's characters and wildcards; q's ? takes one
// literal or ?; a literal takes the same literal.
func covers(q, p string) bool {
	memo := make([]int8, (len(q)+1)*(len(p)+1)) // 0 unknown, 1 yes, 2 no
	var walk func(i, j int) bool
	walk = func(i, j int) bool {
		k := i*(len(p)+1) + j
		if memo[k] != 0 {
			return memo[k] == 1
		}
		var ok bool
		switch {
		case i < len(q) && q[i] == '*':
			ok = walk(i+1, j) || (j < len(p) && walk(i, j+1))
		case j == len(p) || i == len(q):
			ok = i == len(q) && j == len(p)
		case q[i] == '?':
			ok = p[j] != '*' && walk(i+1, j+1)
		default:
			ok = p[j] == q[i] && walk(i+1, j+1)
		}
		memo[k] = 2
		if ok {
			memo[k] = 1
		}
		return ok
	}
	return walk(0, 0)
}
