package datastreams

import (
	"errors"
	"net/http"
)

// errorTable maps core error kinds to the Kinesis error type and HTTP
// status (KVS-API.md §1.2): every error leaves the server through it.
var errorTable = map[Kind]struct {
	code   string
	status int
}{
	KindInternal:         {"InternalFailureException", http.StatusInternalServerError},
	KindNotFound:         {"ResourceNotFoundException", http.StatusBadRequest},
	KindInUse:            {"ResourceInUseException", http.StatusBadRequest},
	KindInvalidArgument:  {"InvalidArgumentException", http.StatusBadRequest},
	KindValidation:       {"ValidationException", http.StatusBadRequest},
	KindThroughput:       {"ProvisionedThroughputExceededException", http.StatusBadRequest},
	KindLimit:            {"LimitExceededException", http.StatusBadRequest},
	KindExpiredIterator:  {"ExpiredIteratorException", http.StatusBadRequest},
	KindExpiredNextToken: {"ExpiredNextTokenException", http.StatusBadRequest},
	KindSerialization:    {"SerializationException", http.StatusBadRequest},
	KindUnknownOperation: {"UnknownOperationException", http.StatusBadRequest},
	KindAccessDenied:     {"AccessDeniedException", http.StatusBadRequest},
}

// ErrorCode returns the AWS error type and HTTP status for err, and the
// message to show. Errors without a kind are internal failures whose
// details stay in the log.
func ErrorCode(err error) (code string, status int, message string) {
	var e *Error
	if errors.As(err, &e) {
		t := errorTable[e.Kind]
		return t.code, t.status, e.Message
	}
	t := errorTable[KindInternal]
	return t.code, t.status, "Internal service failure."
}

// recordErrorCode is the per-record ErrorCode in PutRecords results.
func recordErrorCode(err error) string {
	if KindOf(err) == KindThroughput {
		return "ProvisionedThroughputExceededException"
	}
	return "InternalFailure"
}
