package fragments

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/eddy-video/eddy/datastreams"
)

// Error is a Kinesis Video error: its AWS error code and message. The
// HTTP status comes from one table (KVS-API.md §2, §4).
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Kinesis Video error codes.
const (
	CodeNotFound             = "ResourceNotFoundException"
	CodeInUse                = "ResourceInUseException"
	CodeInvalidArgument      = "InvalidArgumentException"
	CodeVersionMismatch      = "VersionMismatchException"
	CodeNoDataRetention      = "NoDataRetentionException"
	CodeClientLimit          = "ClientLimitExceededException"
	CodeTagsLimit            = "TagsPerResourceExceededLimitException"
	CodeStreamLimit          = "AccountStreamLimitExceededException"
	CodeNotAuthorized        = "NotAuthorizedException"
	CodeUnsupportedMediaType = "UnsupportedStreamMediaTypeException"
	CodeMissingCodecPrivate  = "MissingCodecPrivateDataException"
	CodeInvalidCodecPrivate  = "InvalidCodecPrivateDataException"
	CodeInvalidMediaFrame    = "InvalidMediaFrameException"
	CodeInternal             = "InternalFailure"
)

var statusOf = map[string]int{
	CodeNotFound:      http.StatusNotFound,
	CodeNotAuthorized: http.StatusUnauthorized,
	CodeInternal:      http.StatusInternalServerError,
}

func errf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// AsError maps any error to a Kinesis Video error: core errors keep their
// meaning, anything unknown is an InternalFailure.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	var de *datastreams.Error
	if errors.As(err, &de) {
		switch de.Kind {
		case datastreams.KindNotFound:
			return &Error{CodeNotFound, de.Message}
		case datastreams.KindInUse:
			return &Error{CodeInUse, de.Message}
		case datastreams.KindLimit:
			return &Error{CodeStreamLimit, de.Message}
		case datastreams.KindThroughput:
			return &Error{CodeClientLimit, de.Message}
		case datastreams.KindInvalidArgument, datastreams.KindValidation:
			return &Error{CodeInvalidArgument, de.Message}
		}
	}
	return &Error{CodeInternal, "Internal service failure: " + err.Error()}
}

// WriteError answers a REST-JSON request with a Kinesis Video error: the
// x-amzn-ErrorType header and a body with both message spellings and
// __type, which every AWS SDK reads.
func WriteError(w http.ResponseWriter, err error) {
	e := AsError(err)
	status, ok := statusOf[e.Code]
	if !ok {
		status = http.StatusBadRequest
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("x-amzn-ErrorType", e.Code)
	w.WriteHeader(status)
	b, _ := json.Marshal(map[string]string{"__type": e.Code, "message": e.Message, "Message": e.Message})
	_, _ = w.Write(b)
}

// validName reports whether s may name a video stream: the Kinesis Video
// pattern, never "." or "..", and not the reserved event-stream suffix.
func validName(s string) bool {
	return datastreams.ValidName(s) && !strings.HasSuffix(s, EventsSuffix)
}
