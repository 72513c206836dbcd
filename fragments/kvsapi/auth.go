package kvsapi

import (
	"net/http"

	"github.com/eddy-video/eddy/datastreams/awsauth"
	"github.com/eddy-video/eddy/fragments"
)

// Guard authenticates Kinesis Video requests (Signature Version 4, service
// "kinesisvideo") and authorizes their operation's action on the streams
// they name. A nil Guard, or one without a Verifier, lets every request
// through: Eddy without credentials.
type Guard struct {
	Verifier *awsauth.Verifier
	// Account names principals and resources in messages.
	Account string
	// OnFailure, when set, is told of every refused request (the server
	// counts, logs and slows down the address), before it is answered.
	OnFailure func(r *http.Request, f *awsauth.Failure, who string)
}

// Enabled reports whether the guard checks requests.
func (g *Guard) Enabled() bool { return g != nil && g.Verifier != nil }

// Call is one request to a Kinesis Video operation past the guard: its
// body, who signed it and the operation's action, so that naming a stream
// also checks that the identity may act on it.
type Call struct {
	R      *http.Request
	Body   []byte
	Action string            // "kinesisvideo:<Operation>"
	ID     *awsauth.Identity // nil when auth is off
	guard  *Guard
	rv     *Resolver
}

// Begin reads a request's body and authenticates it for operation op; on
// failure it has answered and returns false. Nothing the request asks for
// has been looked at yet.
func (g *Guard) Begin(w http.ResponseWriter, r *http.Request, op string, rv *Resolver) (*Call, bool) {
	body, err := readBody(r)
	if err != nil {
		WriteError(w, err)
		return nil, false
	}
	c := &Call{R: r, Body: body, Action: "kinesisvideo:" + op, guard: g, rv: rv}
	if g == nil || g.Verifier == nil {
		return c, true
	}
	id, f := g.Verifier.Verify(r, "kinesisvideo", body)
	if f != nil {
		g.refuse(w, r, f, awsauth.ClaimedKeyID(r))
		return nil, false
	}
	c.ID = id
	return c, true
}

// BeginAs reads a request's body for operation op on behalf of id, an
// identity another layer authenticated (the web UI's session), whose
// permission on every stream the call names is action. A nil id (Eddy
// without credentials) is allowed everything.
func (g *Guard) BeginAs(w http.ResponseWriter, r *http.Request, op string, rv *Resolver, id *awsauth.Identity, action string) (*Call, bool) {
	body, err := readBody(r)
	if err != nil {
		WriteError(w, err)
		return nil, false
	}
	if id != nil && !g.Enabled() {
		id = nil // no verifier: nothing to answer a refusal with
	}
	return &Call{R: r, Body: body, Action: action, ID: id, guard: g, rv: rv}, true
}

// Identity returns the configured identity of an access key id.
func (g *Guard) Identity(akid string) (*awsauth.Identity, bool) {
	if !g.Enabled() {
		return nil, false
	}
	return g.Verifier.Credentials.Lookup(akid)
}

// refuse reports a failure and answers it in the Kinesis Video shape.
func (g *Guard) refuse(w http.ResponseWriter, r *http.Request, f *awsauth.Failure, who string) {
	if g.OnFailure != nil {
		g.OnFailure(r, f, who)
	}
	// Kinesis Video answers every authentication and authorization
	// failure with 403, AccessDeniedException included (its models
	// declare 401 for that one, but the service sends 403).
	WriteStatus(w, http.StatusForbidden, &Error{Code: f.Type, Message: f.Message})
}

// authError carries an authorization failure out of an operation, to be
// answered by Fail.
type authError struct{ f *awsauth.Failure }

func (e *authError) Error() string { return e.f.Error.Error() }

// Decode decodes the call's body into v.
func (c *Call) Decode(v any) error { return decodeBody(c.Body, v) }

// Allow checks that the call's identity may perform its action on stream
// ("" for operations that name none).
func (c *Call) Allow(stream string) error {
	if c.ID == nil || c.ID.Allowed(c.Action, stream) {
		return nil
	}
	resource := "*"
	if stream != "" {
		resource = c.rv.Videos.ARNPattern(stream)
	}
	return &authError{awsauth.AccessDenied(c.ID, c.guard.Account, c.Action, resource)}
}

// Sees reports whether the call's identity may perform its action on
// stream (listings show only those streams).
func (c *Call) Sees(stream string) bool { return c.ID == nil || c.ID.Allowed(c.Action, stream) }

// Name resolves a stream reference and checks the identity may act on it.
func (c *Call) Name(ref StreamRef) (string, error) {
	name, err := c.rv.Name(ref)
	if err != nil {
		return "", err
	}
	return name, c.Allow(name)
}

// ResourceName resolves an ARN-only member and checks the identity.
func (c *Call) ResourceName(field string, arn *string) (string, error) {
	name, err := c.rv.ResourceName(field, arn)
	if err != nil {
		return "", err
	}
	return name, c.Allow(name)
}

// Describe resolves, authorizes and describes a stream.
func (c *Call) Describe(ref StreamRef) (fragments.VideoStream, error) {
	name, err := c.Name(ref)
	if err != nil {
		return fragments.VideoStream{}, err
	}
	d, err := c.rv.Videos.Describe(name)
	if err == nil {
		SetStream(c.R, name)
	}
	return d, err
}

// Archive resolves and authorizes a stream that keeps data (see
// Resolver.Archive).
func (c *Call) Archive(ref StreamRef) (*fragments.Store, fragments.VideoStream, error) {
	name, err := c.Name(ref)
	if err != nil {
		return nil, fragments.VideoStream{}, err
	}
	st, d, err := c.rv.Archive(StreamRef{StreamName: &name})
	if err == nil {
		SetStream(c.R, name)
	}
	return st, d, err
}

// Fail answers an error of an operation: an authorization failure goes
// through the guard (reported, answered with its status), anything else
// through WriteError.
func (c *Call) Fail(w http.ResponseWriter, err error) {
	if ae, ok := err.(*authError); ok {
		who := ""
		if c.ID != nil {
			who = c.ID.AccessKeyID
		}
		c.guard.refuse(w, c.R, ae.f, who)
		return
	}
	WriteError(w, err)
}

// Identity is a configured identity (the HLS layer names it without
// reaching past this package into the SigV4 verifier).
type Identity = awsauth.Identity

// The reasons an authentication failure is counted under, for the HLS
// layer's own refusals (session tokens).
const (
	ReasonMissing      = awsauth.ReasonMissing
	ReasonUnknownKey   = awsauth.ReasonUnknownKey
	ReasonSignature    = awsauth.ReasonSignature
	ReasonExpired      = awsauth.ReasonExpired
	ReasonAccessDenied = awsauth.ReasonAccessDenied
)
