package filelog

import "io"

// Cold is the object-storage tier under a log (package tier implements
// it). With Options.Cold set, a sealed segment can leave the local disk
// once it is uploaded: its sparse index (.idx) and upload record (.up)
// stay, and reads of its records go to Cold.OpenSegment.
//
// Segment states on disk (base = the segment's first sequence, 20 digits):
//
//	<base>.seg <base>.idx            sealed, waiting for upload
//	<base>.seg <base>.idx <base>.up  uploaded and still local ("hot")
//	           <base>.idx <base>.up  in object storage only ("cold")
//
// The newest segment is always local and takes appends; when every
// segment of a log is cold (a restored log), Open starts a new one at the
// last segment's next sequence.
type Cold interface {
	// Attach is called by Open once the log is recovered, Detach by Close.
	Attach(l *Log)
	Detach(l *Log)
	// OpenSegment returns a reader of the uploaded segment of l that
	// starts at base (size bytes, as recorded by MarkUploaded). Errors of
	// its ReadAt wrap logstore.ErrUnavailable when the store cannot be
	// reached.
	OpenSegment(l *Log, base uint64, size int64) (io.ReaderAt, error)
	// Trimmed is told of the uploaded segments that Trim or DropOldest
	// removed, after their local files are gone: their objects are to be
	// deleted from the bucket.
	Trimmed(l *Log, segs []SegmentInfo)
}

// Upload is the record of a verified upload, kept beside the segment as
// <base>.up (JSON) and written atomically by MarkUploaded.
type Upload struct {
	Size   int64  `json:"size"`   // bytes of the object (the whole segment file)
	CRC32C uint32 `json:"crc32c"` // Castagnoli CRC of the whole segment file
	At     int64  `json:"at"`     // when it was verified, Unix nanoseconds
}

// SegmentInfo describes one sealed segment (Log.Sealed).
type SegmentInfo struct {
	Base, Next          uint64 // sequences [Base, Next)
	Size                int64  // bytes of the segment file
	FirstTime, LastTime int64  // arrival times of its first and last records
	Local               bool   // the segment file is on local disk (Path)
	Uploaded            *Upload
	Path                string // the segment file (whether or not it exists now)
	IndexPath           string // its sparse index file
}

// Dir returns the log's directory.
func (l *Log) Dir() string { return l.dir }

// Sealed returns the sealed segments, oldest first (the active segment
// is never among them).
func (l *Log) Sealed() []SegmentInfo { panic("filelog: Sealed not built yet") }

// MarkUploaded records that the sealed segment at base is uploaded and
// verified (writes <base>.up atomically and durably). The segment stays
// local until DropLocal.
func (l *Log) MarkUploaded(base uint64, u Upload) error {
	panic("filelog: MarkUploaded not built yet")
}

// DropLocal removes the local file of an uploaded sealed segment; later
// reads of its records go to Cold. Reads in flight finish on the open
// descriptor. It fails for a segment that is not uploaded.
func (l *Log) DropLocal(base uint64) error { panic("filelog: DropLocal not built yet") }

// Discard removes a sealed segment that was never uploaded, leaving a
// hole in the log (the upload queue's bound: its records are lost). It
// returns the records and bytes removed.
func (l *Log) Discard(base uint64) (uint64, int64, error) { panic("filelog: Discard not built yet") }

// LocalSize returns the bytes the log occupies on local disk (Size counts
// cold segments too).
func (l *Log) LocalSize() int64 { panic("filelog: LocalSize not built yet") }
