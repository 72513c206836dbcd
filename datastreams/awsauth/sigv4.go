package awsauth

import (
	"net/http"
	"time"
)

// Verifier checks AWS Signature Version 4 signatures (header and
// presigned query string) against Credentials.
type Verifier struct {
	Credentials *Credentials
	// Region is the only region a credential scope may name.
	Region string
	// Skew is how far a request's time may be from now (default 15
	// minutes, as AWS allows).
	Skew time.Duration
	Now  func() time.Time
}

// Verify authenticates r as a request to service ("kinesis",
// "kinesisvideo") whose body is body (already read whole; nil for a
// streaming body, which must be signed as UNSIGNED-PAYLOAD or as the empty
// payload). It returns the identity that signed r, or why not.
func (v *Verifier) Verify(r *http.Request, service string, body []byte) (*Identity, *Failure) {
	panic("not implemented yet")
}
