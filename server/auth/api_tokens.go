package auth

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/eddy-video/eddy/datastreams/awsauth"
	"github.com/eddy-video/eddy/fragments/kvsapi"
)

// maxTokenBody caps the body of POST /api/v1/tokens.
const maxTokenBody = 16 << 10

// tokenIn is the body of POST /api/v1/tokens.
type tokenIn struct {
	Stream  string   `json:"stream"`
	Actions []string `json:"actions"`
	// Expires is a lifetime ("1h", "90m"), at most auth.max_token_ttl.
	Expires string `json:"expires"`
}

type tokenOut struct {
	Token   string `json:"token"`
	Expires string `json:"expires"` // RFC 3339
}

// ServeTokens answers POST /api/v1/tokens, signed with SigV4 for the
// service "kinesisvideo" as any Kinesis Video call: it issues a token for
// the signing identity (IssueToken). Errors are Kinesis Video's JSON
// errors (x-amzn-ErrorType and __type), so that SDK-style clients read them.
func (a *Auth) ServeTokens(w http.ResponseWriter, r *http.Request) {
	if !a.Enabled() {
		kvsapi.WriteError(w, kvsapi.Errorf(kvsapi.CodeInvalidArgument, "Eddy has no credentials configured (auth.credentials): WHIP and WHEP are open and take no token."))
		return
	}
	a.Wait(r.Context(), r.RemoteAddr)
	body, err := io.ReadAll(io.LimitReader(r.Body, maxTokenBody+1))
	if err != nil || len(body) > maxTokenBody {
		kvsapi.WriteError(w, kvsapi.Errorf(kvsapi.CodeInvalidArgument, "The request body is unreadable or larger than %d bytes.", maxTokenBody))
		return
	}
	id, f := a.Verifier.Verify(r, "kinesisvideo", body)
	if f != nil {
		a.Failed("kinesisvideo", f.Reason, r.RemoteAddr, awsauth.ClaimedKeyID(r))
		writeAWSError(w, &f.Error)
		return
	}
	var in tokenIn
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		kvsapi.WriteError(w, kvsapi.Errorf(kvsapi.CodeInvalidArgument, `The body must be {"stream": NAME, "actions": [ACTION, ...], "expires": "1h"}: %v`, err))
		return
	}
	ttl, err := time.ParseDuration(in.Expires)
	if err != nil {
		kvsapi.WriteError(w, kvsapi.Errorf(kvsapi.CodeInvalidArgument, "expires must be a duration such as 90s, 30m or 1h, not %q.", in.Expires))
		return
	}
	tok, expires, err := a.IssueToken(id, TokenRequest{Actions: in.Actions, Stream: in.Stream, TTL: ttl})
	var ae *awsauth.Error
	var ir *InvalidRequest
	switch {
	case errors.As(err, &ae):
		a.Failed("kinesisvideo", awsauth.ReasonAccessDenied, r.RemoteAddr, id.AccessKeyID)
		writeAWSError(w, ae)
		return
	case errors.As(err, &ir):
		kvsapi.WriteError(w, kvsapi.Errorf(kvsapi.CodeInvalidArgument, "%s", ir.Message))
		return
	case err != nil:
		kvsapi.WriteError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(tokenOut{Token: tok, Expires: expires.UTC().Format(time.RFC3339)})
}

// writeAWSError answers an authentication or authorization failure in
// Kinesis Video's error shape, with 403 as the Kinesis Video operations
// answer every one.
func writeAWSError(w http.ResponseWriter, e *awsauth.Error) {
	kvsapi.WriteStatus(w, http.StatusForbidden, &kvsapi.Error{Code: e.Type, Message: e.Message})
}
