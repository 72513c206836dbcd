package datastreams

// Record is one entry of a shard log.
type Record struct {
	Seq  uint64 // position in the shard log; the first record of a shard is 1
	Time int64  // arrival time, Unix nanoseconds; non-decreasing within a log
	Key  []byte // partition key (opaque to the log)
	Data []byte
}

// Log is the storage behind one shard: an append-only, sequence-addressed
// log with retention. FileLog is the local-disk implementation; an object
// storage tier is meant to be a second implementation of this interface.
//
// Append, Commit, Sync and Trim are called by one writer at a time; Read,
// SeqAtTime, Bounds and Size may be called concurrently with them and see
// only committed records.
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
	// Trim deletes whole segments holding only records older than
	// olderThan (Unix nanoseconds; 0 = no age limit) and, oldest first,
	// segments beyond maxBytes (0 = no size limit). It returns the number
	// of records and bytes removed.
	Trim(olderThan int64, maxBytes int64) (records uint64, bytes int64, err error)
	// Size returns the bytes the log occupies.
	Size() int64
	Close() error
}
