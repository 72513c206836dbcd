package datastreams

import (
	"errors"
	"fmt"
)

// Kind classifies a core error. The API edge maps each kind to the AWS
// error type and HTTP status in one table (kdsapi/errors.go).
type Kind int

// Error kinds.
const (
	KindInternal Kind = iota
	KindNotFound
	KindInUse
	KindInvalidArgument
	KindValidation
	KindThroughput
	KindLimit
	KindExpiredIterator
	KindExpiredNextToken
	KindSerialization
	KindUnknownOperation
	KindAccessDenied
)

// Error is a core error with a kind and a user-facing message in the words
// the Kinesis API uses.
type Error struct {
	Kind    Kind
	Message string
}

func (e *Error) Error() string { return e.Message }

func errf(k Kind, format string, args ...any) *Error {
	return &Error{Kind: k, Message: fmt.Sprintf(format, args...)}
}

// KindOf returns the kind of err, KindInternal when it carries none.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindInternal
}
