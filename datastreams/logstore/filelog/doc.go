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
// Start-up reads of a long log: Open lists a sealed segment from its
// index file's trailer alone (its summary under a checksum of its own, at
// the end of the file), so a ten-year log's tens of thousands of indexes
// cost a few dozen bytes each; the entries are read, and their checksum
// checked, when a read needs the index (at most Options.MaxLoadedIndexes
// kept). Index files of the first format, whose only checksum covers the
// entries, are read whole by Open and rewritten in the current one, in
// batches with one filesystem sync each.
//
// Crash behaviour: a segment's header is made durable before any record
// goes in, and Commit(true) fsyncs the segment before it returns, so a
// record committed with sync survives a crash. On open, the
// newest segment is scanned from its header and a torn or corrupt tail is
// truncated (everything after the last frame whose length, CRC and
// sequence check out); a newest segment with a missing or damaged header
// held nothing acknowledged and is set aside as .corrupt. A missing or
// damaged index file is rebuilt by scanning its segment (found by Open
// when the trailer is damaged, else when the index is loaded: then the
// rebuilt index is written again), and leftover .tmp files of
// interrupted atomic writes are removed.
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
// Tiering (Options.Cold, cold.go): a sealed segment is in one of three
// states, told by its files: waiting (.seg .idx), uploaded and still
// local (.seg .idx .up) or cold (.idx .up: the object store holds it).
// The tier uploads a waiting segment, verifies the object and calls
// MarkUploaded, which writes the upload record (.up: size, CRC32C, when)
// atomically; only then may DropLocal remove the segment file. The index
// always stays local, so seeking by sequence or time never needs the
// store; reads of a cold segment's records go through Cold.OpenSegment,
// and while the store cannot be reached they fail at once with an error
// wrapping logstore.ErrUnavailable. A read whose segment a trim removed
// meanwhile (its file, descriptor or object gone, whatever the error)
// starts again from the log's new first record. Retention (Trim) removes whole
// segments, oldest first, cold or not (Size counts both; LocalSize only
// the local files), and tells Cold.Trimmed of the uploaded ones so their
// objects go too. The free-space floor frees the oldest local segment:
// an uploaded one loses only its local file (no record lost); one never
// uploaded is deleted, at the start of the log as Trim would, after cold
// segments by Discard, which leaves a hole that reads skip (the upload
// queue's bound uses Discard too). The active segment is never uploaded;
// when the newest segment is uploaded (a log restored from the bucket
// holds only indexes and upload records), Open starts a new active
// segment at its next sequence. Open refuses a log with cold segments
// when no object storage is configured.
//
// Tiering across crashes: a crash between the upload and MarkUploaded
// leaves the segment waiting, and the tier uploads it again (the
// conditional PUT finds the object, which is verified by size and
// checksum instead: idempotent); an interrupted MarkUploaded leaves only
// a .tmp file, removed by Open. A crash in DropLocal leaves the segment
// file or not: uploaded-and-local and cold are both valid. Trim removes
// a segment's file, then its upload record, then its index: a crash in
// between leaves a cold segment (trimmed again, its object still there)
// or a lone index file (removed by Open; the tier deletes the objects
// below a log's first segment). A cold segment whose index is missing or
// has a damaged trailer gets it back by a scan of the object at Open
// (which then needs the store); one whose entries are damaged, when a
// read loads the index (that read fails with logstore.ErrUnavailable
// while the store cannot be reached).
//
// It knows records, sequences and arrival times, never streams, shards,
// partition keys or the Kinesis API.
package filelog
