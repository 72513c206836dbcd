package fragments

import (
	"errors"
	"fmt"
	"time"
)

// The bounds of a stored fragment: the one rule the recorder checks before
// it appends a fragment and the reader checks when it parses one (a read,
// an index rebuild), so that nothing is stored, listed or announced that a
// read would then refuse.
const (
	// MaxFragmentDuration is the longest fragment: the ceiling of the
	// recorder's cut rule (video.max_fragment_duration is 1 s to 30 s),
	// so that a fragment fits one Matroska cluster (blocks within
	// ±32.767 s of its timecode) for GetMediaForFragmentList.
	MaxFragmentDuration = 30 * time.Second
	// MaxFragmentBytes is the largest fragment (its CMAF media segment),
	// as Kinesis Video's PutMedia limit (MAX_FRAGMENT_SIZE_REACHED above
	// 50 MB); the log itself refuses to read records above 64 MiB.
	MaxFragmentBytes = 50_000_000
	// maxTimestamp bounds server and producer timestamps (Unix ns, about
	// the year 2116), so that a timestamp plus a duration never
	// overflows; they are not before 1970 either (Matroska cluster
	// timecodes are unsigned).
	maxTimestamp = 1 << 62
	// maxStoredDuration is the longest fragment a read accepts: earlier
	// releases let video.max_fragment_duration reach 60 s, and what they
	// stored stays readable (a Matroska answer refuses such a fragment
	// before its first byte, as the cluster cannot hold it).
	maxStoredDuration = 60 * time.Second
)

// ErrInvalidFragment matches every error of Fragment.Validate.
var ErrInvalidFragment = errors.New("fragments: invalid fragment")

// Validate reports whether f is a fragment the store keeps: a duration of
// 0 to MaxFragmentDuration, 1 to MaxFragmentBytes of media, and
// timestamps from 1970 to 2^62 ns after it. The error matches ErrInvalidFragment and
// is an *Error of KindInvalidArgument.
func (f *Fragment) Validate() error { return f.check(MaxFragmentDuration) }

// readable is the rule of a read: Validate's, with the longer fragments of
// earlier releases.
func (f *Fragment) readable() error { return f.check(maxStoredDuration) }

func (f *Fragment) check(maxDuration time.Duration) error {
	var reason string
	switch {
	case f.Duration < 0:
		reason = fmt.Sprintf("negative duration %v", time.Duration(f.Duration))
	case f.Duration > int64(maxDuration):
		reason = fmt.Sprintf("duration %v is over %v", time.Duration(f.Duration), maxDuration)
	case len(f.Media) == 0:
		reason = "no media"
	case len(f.Media) > MaxFragmentBytes:
		reason = fmt.Sprintf("%d bytes of media is over %d", len(f.Media), MaxFragmentBytes)
	case f.ServerTime < 0 || f.ServerTime >= maxTimestamp:
		reason = "server timestamp out of range"
	case f.ProducerTime < 0 || f.ProducerTime >= maxTimestamp:
		reason = "producer timestamp out of range"
	default:
		return nil
	}
	return &invalidFragment{e: &Error{Kind: KindInvalidArgument, Message: "The fragment is invalid: " + reason + "."}}
}

// validEntry applies a read's rule to an index entry (entries written
// before the rule existed may break it, as the negative durations of a
// backward timestamp jump did; they are not listed).
func validEntry(e *IndexEntry) bool {
	return e.Duration >= 0 && e.Duration <= int64(maxStoredDuration) && e.Size > RecordHeaderSize &&
		e.Size <= MaxFragmentBytes+RecordHeaderSize &&
		e.ServerTime >= 0 && e.ServerTime < maxTimestamp &&
		e.ProducerTime >= 0 && e.ProducerTime < maxTimestamp
}

// invalidFragment is Validate's error: an *Error (for the API edge's error
// table) that also matches ErrInvalidFragment.
type invalidFragment struct{ e *Error }

func (e *invalidFragment) Error() string { return e.e.Message }

func (e *invalidFragment) Is(target error) bool { return target == ErrInvalidFragment }

func (e *invalidFragment) As(target any) bool {
	if p, ok := target.(**Error); ok {
		*p = e.e
		return true
	}
	return false
}
