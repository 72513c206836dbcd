package kdsapi

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/eddy-video/eddy/datastreams"
	"github.com/eddy-video/eddy/datastreams/logstore"
)

// errorTable maps core error kinds to the Kinesis error type and HTTP
// status (the Kinesis Data Streams API's common and per-operation errors):
// every error of this API leaves the server through it.
var errorTable = map[datastreams.Kind]struct {
	code   string
	status int
}{
	datastreams.KindInternal:         {"InternalFailureException", http.StatusInternalServerError},
	datastreams.KindNotFound:         {"ResourceNotFoundException", http.StatusBadRequest},
	datastreams.KindInUse:            {"ResourceInUseException", http.StatusBadRequest},
	datastreams.KindInvalidArgument:  {"InvalidArgumentException", http.StatusBadRequest},
	datastreams.KindValidation:       {"ValidationException", http.StatusBadRequest},
	datastreams.KindThroughput:       {"ProvisionedThroughputExceededException", http.StatusBadRequest},
	datastreams.KindLimit:            {"LimitExceededException", http.StatusBadRequest},
	datastreams.KindExpiredIterator:  {"ExpiredIteratorException", http.StatusBadRequest},
	datastreams.KindExpiredNextToken: {"ExpiredNextTokenException", http.StatusBadRequest},
	datastreams.KindSerialization:    {"SerializationException", http.StatusBadRequest},
	datastreams.KindUnknownOperation: {"UnknownOperationException", http.StatusBadRequest},
	datastreams.KindAccessDenied:     {"AccessDeniedException", http.StatusBadRequest},
}

// UnavailableMessage is the message of a read that needs records kept in
// object storage while it cannot be reached (logstore.ErrUnavailable).
const UnavailableMessage = "The records are kept in object storage, which cannot be reached now; retry later."

// ErrorCode returns the AWS error type and HTTP status for err, and the
// message to show. Errors without a kind are internal failures whose
// details stay in the log; a read that needs the unreachable object
// store is one too, with a message that says so (SDKs retry it).
func ErrorCode(err error) (code string, status int, message string) {
	if errors.Is(err, logstore.ErrUnavailable) {
		t := errorTable[datastreams.KindInternal]
		return t.code, t.status, UnavailableMessage
	}
	var e *datastreams.Error
	if errors.As(err, &e) {
		t := errorTable[e.Kind]
		return t.code, t.status, e.Message
	}
	t := errorTable[datastreams.KindInternal]
	return t.code, t.status, "Internal service failure."
}

// recordErrorCode is the per-record ErrorCode in PutRecords results.
func recordErrorCode(err error) string {
	switch datastreams.KindOf(err) {
	case datastreams.KindThroughput:
		return "ProvisionedThroughputExceededException"
	case datastreams.KindInvalidArgument:
		// A record a stream's PutHook refused (an event that breaks the
		// event schema): that record alone failed, and was written nothing.
		return "InvalidArgumentException"
	}
	return "InternalFailure"
}

// errf builds a core error of kind k with a message in the words the
// Kinesis API uses.
func errf(k datastreams.Kind, format string, args ...any) *datastreams.Error {
	return &datastreams.Error{Kind: k, Message: fmt.Sprintf(format, args...)}
}
