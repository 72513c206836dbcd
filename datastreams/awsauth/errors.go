package awsauth

import "fmt"

// Error is an authentication or authorization failure in AWS's own terms:
// the error type SDKs map to their exception classes and AWS's message.
// Each API writes it in its wire format and with its status.
type Error struct {
	Type    string
	Message string
}

func (e *Error) Error() string { return e.Type + ": " + e.Message }

// The error types AWS answers signature and permission failures with.
const (
	TypeMissingToken        = "MissingAuthenticationTokenException"
	TypeIncompleteSignature = "IncompleteSignatureException"
	TypeInvalidSignature    = "InvalidSignatureException"
	TypeUnrecognizedClient  = "UnrecognizedClientException"
	TypeAccessDenied        = "AccessDeniedException"
)

// Reasons, for metrics and logs: one per way a request fails.
const (
	ReasonMissing      = "missing"
	ReasonMalformed    = "malformed"
	ReasonUnknownKey   = "unknown_key"
	ReasonSignature    = "signature"
	ReasonExpired      = "expired"
	ReasonScope        = "scope"
	ReasonAccessDenied = "access_denied"
)

// Failure is an Error with the reason it was raised for.
type Failure struct {
	Error
	Reason string
}

func fail(reason, typ, format string, args ...any) *Failure {
	return &Failure{Error: Error{Type: typ, Message: fmt.Sprintf(format, args...)}, Reason: reason}
}

// AccessDenied is the failure of a known identity that may not perform
// action on resource (an ARN), worded as AWS words it.
func AccessDenied(id *Identity, account, action, resource string) *Failure {
	return fail(ReasonAccessDenied, TypeAccessDenied,
		"User: %s is not authorized to perform: %s on resource: %s because no identity-based policy allows the %s action",
		id.ARN(account), action, resource, action)
}
