package fragments

import (
	"fmt"

	"github.com/eddy-video/eddy/datastreams"
)

// Kind classifies a fragments error. The Kinesis Video API edge
// (fragments/kvsapi) maps each kind to its AWS error type and HTTP status
// from one table; this package never speaks HTTP.
type Kind int

// Error kinds.
const (
	KindInternal            Kind = iota // a fault of Eddy's, not the caller's
	KindNotFound                        // the stream (or fragment) does not exist
	KindInUse                           // the name is taken
	KindInvalidArgument                 // a value the caller passed is not acceptable
	KindVersionMismatch                 // CurrentVersion is not the stream's version
	KindTagsLimit                       // more than 50 tags
	KindInvalidCodecPrivate             // a stored init segment cannot be read
	KindInvalidMedia                    // a stored fragment cannot be read
	KindUnsupportedMedia                // the output cannot carry a stored codec
)

// Error is a fragments error with a kind and a message for people, in the
// words the Kinesis Video API uses.
type Error struct {
	Kind    Kind
	Message string
}

func (e *Error) Error() string { return e.Message }

func errf(kind Kind, format string, args ...any) *Error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

// validName reports whether s may name a video stream: the Kinesis Video
// pattern, never "." or "..", and not the reserved event-stream suffix.
func validName(s string) bool {
	return datastreams.ValidName(s) && CheckName(s) == nil
}

// Errorf returns an *Error of kind with a formatted message, for the
// packages layered on the store (archive).
func Errorf(kind Kind, format string, args ...any) *Error { return errf(kind, format, args...) }
