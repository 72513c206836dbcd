// Package filelog is the local-disk implementation of logstore.Log: one
// directory per log, holding segment files and their sparse indexes.
//
// On disk, a log is a series of segment files named by the sequence of
// their first record (00000000000000000001.seg, ...), each a 32-byte
// header then length-prefixed, CRC-checked record frames (segment.go has
// the byte layout). Only the newest segment takes appends; when it passes
// Options.SegmentBytes or Options.SegmentDuration it is sealed and gets an
// index file (.idx: sparse sequence/time/position points and a summary,
// index.go) written atomically. Retention removes whole sealed segments,
// oldest first.
//
// Crash behaviour: a segment's header is made durable before any record
// goes in, and Commit(true) fsyncs the segment before it returns, so a
// record committed with sync survives a crash. On open, the
// newest segment is scanned from its header and a torn or corrupt tail is
// truncated (everything after the last frame whose length, CRC and
// sequence check out); a newest segment with a missing or damaged header
// held nothing acknowledged and is set aside as .corrupt. A missing or
// damaged index file is rebuilt by scanning its segment, and leftover
// .tmp files of interrupted atomic writes are removed.
//
// A full disk: a write, fsync or roll that fails (ENOSPC) leaves nothing
// of itself. The active segment is truncated back to its committed size,
// a segment that could not get its header is removed, and a roll changes
// the log only once the index file and the new segment exist; the error
// goes to the caller, and the next append tries again, so ingest resumes
// by itself when space returns. The free-space floor above gives space
// back through logstore.Reclaimer (Oldest, DropOldest: whole segments,
// the oldest first; the active one is sealed before it goes).
//
// It knows records, sequences and arrival times, never streams, shards,
// partition keys or the Kinesis API.
package filelog
