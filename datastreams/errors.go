package datastreams

import (
	"errors"
	"fmt"
	"syscall"
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
// the Kinesis API uses. Err, when set, is the cause (errors.Is and As
// reach it: a full disk's syscall.ENOSPC).
type Error struct {
	Kind    Kind
	Message string
	Err     error
}

func (e *Error) Error() string { return e.Message }

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

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

// IsNoSpace reports whether err is a write that found the filesystem
// full: no space left (ENOSPC) or the user's disk quota exceeded (EDQUOT).
func IsNoSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// noSpace is the error a write that found the disk full answers: an
// internal failure (HTTP 500, which the AWS SDKs retry with backoff; in
// PutRecords the per-record ErrorCode InternalFailure) that says what
// happened, and that nothing of the request was stored.
func noSpace(err error) *Error {
	return &Error{Kind: KindInternal, Err: err,
		Message: "The server's storage is full (no space left on device); nothing of this request was stored. Writes succeed again once space is freed."}
}
