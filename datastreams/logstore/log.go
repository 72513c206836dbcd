package logstore

import "errors"

// ErrClosed is returned by a log (and by the writers layered on one) after Close.
var ErrClosed = errors.New("logstore: closed")

// ErrUnavailable is wrapped by the errors of reads that need a record kept
// only in object storage while the object store cannot be reached (or
// answers with an error). The layers above answer it as a service error
// of their protocol (a 5xx with a message), never as "not found".
var ErrUnavailable = errors.New("logstore: object storage unavailable")

// Record is one entry of a log.
type Record struct {
	Seq  uint64 // position in the log; the first record of a log is 1
	Time int64  // arrival time, Unix nanoseconds; non-decreasing within a log
	Key  []byte // partition key (opaque to the log)
	Data []byte
}

// Log is the storage behind one shard: an append-only, sequence-addressed
// log with retention. filelog is the local-disk implementation and memlog
// an in-memory one; an object storage tier is meant to be another
// implementation of this interface. logstoretest.Run checks any of them.
//
// One writer appends and commits (it numbers records from Bounds); Sync
// and Trim may be called from other goroutines at the same time, and
// Read, SeqAtTime, Bounds, LastTime, TimeOf and Size from any goroutine.
// Readers see only committed records. A log keeps no reference to the
// slices given to Append, and the records Read returns are the caller's.
type Log interface {
	// Append writes records (Seq and Time already assigned, Seq consecutive
	// from Bounds' next) without publishing them.
	Append(recs []Record) error
	// Commit publishes everything appended so far to readers, after making
	// it durable when sync is true.
	Commit(sync bool) error
	// Sync makes every committed record durable.
	Sync() error
	// Read returns committed records starting at the first retained record
	// with Seq >= from, at most maxRecords and (beyond the first record)
	// maxBytes of key+data.
	Read(from uint64, maxRecords, maxBytes int) ([]Record, error)
	// SeqAtTime returns the sequence of the first record that arrived at or
	// after t (Unix nanoseconds), or next when there is none.
	SeqAtTime(t int64) uint64
	// Bounds returns the first retained sequence and one past the last
	// committed one; first == next means the log is empty.
	Bounds() (first, next uint64)
	// LastTime returns the arrival time of the last committed record, or 0.
	LastTime() int64
	// TimeOf returns the arrival time of the record with sequence seq.
	TimeOf(seq uint64) (int64, bool)
	// Trim removes, oldest first, records older than olderThan (Unix
	// nanoseconds; 0 = no age limit) and records beyond maxBytes of Size
	// (0 = no size limit). It removes a prefix of the log, whole records
	// only, and never a record at or after olderThan unless maxBytes asks
	// for it; next stays where it is, so appends continue the sequence
	// even when everything went. An implementation may remove in units of
	// its own (filelog: whole segments, keeping the newest one unless all
	// of it expired), so some records the limits allow to go may stay. It
	// returns the number of records and bytes removed.
	Trim(olderThan int64, maxBytes int64) (records uint64, bytes int64, err error)
	// Size returns the bytes the log occupies.
	Size() int64
	Close() error
}

// SegmentSizer is implemented by logs that hold records in units whose
// size they can be told (filelog: the size past which a segment rolls).
// The core sets it for a stream with a size cap of its own, so that
// trimming whole units keeps the stream near its cap.
type SegmentSizer interface {
	// SetSegmentBytes sets the unit size (0: the log's default); a log
	// may keep a smaller default.
	SetSegmentBytes(n int64)
}

// Reclaimer is implemented by logs that hold disk space in whole units
// they can give back oldest first (filelog: segment files). The core's
// free-space floor uses it to delete the oldest data across all logs
// before the disk is full; a log without it (memlog) holds no disk space.
// Both methods may be called from any goroutine.
type Reclaimer interface {
	// Oldest describes the unit DropOldest would remove: the arrival time
	// of its newest record, its size on disk, and whether it is the unit
	// being written. ok is false when the log holds no record.
	Oldest() (newest int64, bytes int64, active bool, ok bool)
	// DropOldest removes the oldest unit and returns the records and bytes
	// removed. The unit being written is first sealed (the next record
	// starts a new one), so a log whose data is all in that unit can still
	// give it back; it removes nothing (0, 0, nil) while an append is
	// between Append and Commit. Like Trim, it keeps next where it is.
	DropOldest() (records uint64, bytes int64, err error)
}
