package kvsapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/eddy-video/eddy/datastreams"
	"github.com/eddy-video/eddy/datastreams/logstore"
	"github.com/eddy-video/eddy/fragments"
)

// Error is a Kinesis Video API error: its AWS error type and a message for
// people. Every Kinesis Video operation, and the HLS endpoints, answer
// with it; its HTTP status comes from one table.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Errorf returns an *Error of code with a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Kinesis Video error types (the AWS API's names).
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
	CodeInvalidCodecPrivate  = "InvalidCodecPrivateDataException"
	CodeInvalidMediaFrame    = "InvalidMediaFrameException"
	CodeUnknownOperation     = "UnknownOperationException"
	CodeInternal             = "InternalFailure"
	CodeConnectionLimit      = "ConnectionLimitExceededException"
)

// The one table: the HTTP status of each error type (400 unless listed),
// as the Kinesis Video service models declare them.
var statusOf = map[string]int{
	CodeNotFound:      http.StatusNotFound,
	CodeNotAuthorized: http.StatusUnauthorized,
	CodeInternal:      http.StatusInternalServerError,
}

// The error types of the video layer's and the shard core's error kinds.
var (
	videoCodes = map[fragments.Kind]string{
		fragments.KindInternal:            CodeInternal,
		fragments.KindNotFound:            CodeNotFound,
		fragments.KindInUse:               CodeInUse,
		fragments.KindInvalidArgument:     CodeInvalidArgument,
		fragments.KindVersionMismatch:     CodeVersionMismatch,
		fragments.KindTagsLimit:           CodeTagsLimit,
		fragments.KindInvalidCodecPrivate: CodeInvalidCodecPrivate,
		fragments.KindInvalidMedia:        CodeInvalidMediaFrame,
		fragments.KindUnsupportedMedia:    CodeUnsupportedMediaType,
	}
	coreCodes = map[datastreams.Kind]string{
		datastreams.KindNotFound:        CodeNotFound,
		datastreams.KindInUse:           CodeInUse,
		datastreams.KindLimit:           CodeStreamLimit,
		datastreams.KindThroughput:      CodeClientLimit,
		datastreams.KindInvalidArgument: CodeInvalidArgument,
		datastreams.KindValidation:      CodeInvalidArgument,
	}
)

// UnavailableMessage is the message of a read that needs object storage
// while it cannot be reached (logstore.ErrUnavailable).
const UnavailableMessage = "The requested media is kept in object storage, which Eddy cannot reach now; retry later."

// RetryAfterSeconds is the Retry-After of an answer to such a read.
const RetryAfterSeconds = 5

// IsUnavailable reports whether err is a read that needed object storage
// while it could not be reached: answered 503 (ClientLimitExceededException,
// Retry-After), never as "not found" or an internal failure.
func IsUnavailable(err error) bool { return errors.Is(err, logstore.ErrUnavailable) }

// AsError maps any error to a Kinesis Video error: errors of the video
// layer and of the shard core by their kind, a read that needs the
// unreachable object store a ClientLimitExceededException, anything else
// an InternalFailure.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	if IsUnavailable(err) {
		return &Error{CodeClientLimit, UnavailableMessage}
	}
	var fe *fragments.Error
	if errors.As(err, &fe) {
		if code, ok := videoCodes[fe.Kind]; ok {
			return &Error{code, fe.Message}
		}
	}
	var de *datastreams.Error
	if errors.As(err, &de) {
		if code, ok := coreCodes[de.Kind]; ok {
			return &Error{code, de.Message}
		}
	}
	return &Error{CodeInternal, "Internal service failure: " + err.Error()}
}

// Status returns the HTTP status an error type is answered with.
func Status(code string) int {
	if s, ok := statusOf[code]; ok {
		return s
	}
	return http.StatusBadRequest
}

// WriteError answers a REST-JSON request with a Kinesis Video error: the
// x-amzn-ErrorType header and a body with both message spellings and
// __type, which every AWS SDK reads.
//
// A read that needs the unreachable object store is answered 503 with
// Retry-After (every protocol of the Kinesis Video family, HLS and the
// browser's clip.mp4 go through here).
func WriteError(w http.ResponseWriter, err error) {
	e := AsError(err)
	if IsUnavailable(err) {
		w.Header().Set("Retry-After", strconv.Itoa(RetryAfterSeconds))
		WriteStatus(w, http.StatusServiceUnavailable, e)
		return
	}
	WriteStatus(w, Status(e.Code), e)
}

// WriteStatus answers e with a status of the caller's choosing (the HLS
// endpoints answer some errors with the status players act on).
func WriteStatus(w http.ResponseWriter, status int, e *Error) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("x-amzn-ErrorType", e.Code)
	w.WriteHeader(status)
	b, _ := json.Marshal(map[string]string{"__type": e.Code, "message": e.Message, "Message": e.Message})
	_, _ = w.Write(b)
}
