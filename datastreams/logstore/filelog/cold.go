package filelog

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"

	"github.com/eddy-video/eddy/datastreams/atomicfile"
	"github.com/eddy-video/eddy/datastreams/logstore"
)

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
	// Attach is called by Open once the log is recovered, Detach by Close
	// (after the log is closed: no call of Trimmed follows it).
	Attach(l *Log)
	Detach(l *Log)
	// OpenSegment returns a reader of the uploaded segment of l that
	// starts at base (size bytes, as recorded by MarkUploaded). Errors of
	// its ReadAt wrap logstore.ErrUnavailable when the store cannot be
	// reached. The log keeps the reader for later reads of the segment
	// and calls it from any goroutine. Open calls it before Attach for a
	// cold segment whose index file is missing or has a damaged trailer,
	// to rebuild the index from the object (damaged entries are found,
	// and rebuilt the same way, when a read loads the index).
	OpenSegment(l *Log, base uint64, size int64) (io.ReaderAt, error)
	// Trimmed is told of the uploaded segments that Trim removed, after
	// their local files are gone: their objects are to be deleted from the
	// bucket. It is called without the log's locks held, from the
	// goroutine of Trim (which waits for it: it should take note, e.g.
	// enqueue, and return; it may read the log but must not Close it),
	// possibly from several at once, never after Detach. DropOldest never removes
	// an uploaded segment (it drops the local copy), and Discard only
	// removes segments never uploaded.
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
func (l *Log) Sealed() []SegmentInfo {
	l.mu.RLock()
	defer l.mu.RUnlock()
	out := make([]SegmentInfo, 0, len(l.segs))
	for _, s := range l.segs[:len(l.segs)-1] {
		out = append(out, s.info(s.local))
	}
	return out
}

// info describes s (l.mu held, or s out of the list).
func (s *segment) info(local bool) SegmentInfo {
	si := SegmentInfo{Base: s.base, Next: s.next, Size: s.size, FirstTime: s.firstTime, LastTime: s.lastTime,
		Local: local, Path: s.path, IndexPath: indexPath(s.path)}
	if s.up != nil {
		u := *s.up
		si.Uploaded = &u
	}
	return si
}

// sealedLocked returns the sealed segment at base (l.mu held).
func (l *Log) sealedLocked(base uint64) (*segment, error) {
	n := len(l.segs) - 1 // the active segment is never sealed
	i := sort.Search(n, func(i int) bool { return l.segs[i].base >= base })
	if i == n || l.segs[i].base != base {
		return nil, fmt.Errorf("filelog %s: no sealed segment at %d", l.dir, base)
	}
	return l.segs[i], nil
}

// MarkUploaded records that the sealed segment at base is uploaded and
// verified (writes <base>.up atomically and durably). The segment stays
// local until DropLocal.
func (l *Log) MarkUploaded(base uint64, u Upload) error {
	l.smu.Lock()
	defer l.smu.Unlock()
	if l.closed {
		return logstore.ErrClosed
	}
	l.mu.RLock()
	s, err := l.sealedLocked(base)
	l.mu.RUnlock()
	if err != nil {
		return err
	}
	// A sealed segment's size never changes.
	if u.Size != s.size {
		return fmt.Errorf("filelog %s: upload of segment %d has %d bytes, the segment %d", l.dir, base, u.Size, s.size)
	}
	b, err := json.Marshal(u)
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(uploadPath(s.path), b, 0o644); err != nil {
		return err
	}
	l.mu.Lock()
	s.up = &u
	l.mu.Unlock()
	return nil
}

// readUpload reads an upload record written by MarkUploaded.
func readUpload(path string) (*Upload, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var u Upload
	if err := json.Unmarshal(b, &u); err != nil {
		return nil, fmt.Errorf("%w: upload record %s: %v", errCorrupt, path, err)
	}
	if u.Size < segmentHeaderSize {
		return nil, fmt.Errorf("%w: upload record %s: size %d", errCorrupt, path, u.Size)
	}
	return &u, nil
}

// DropLocal removes the local file of an uploaded sealed segment; later
// reads of its records go to Cold. Reads in flight finish on the open
// descriptor. It fails for a segment that is not uploaded. A crash in it
// leaves the segment file or not: either is a valid state.
func (l *Log) DropLocal(base uint64) error {
	l.smu.Lock()
	defer l.smu.Unlock()
	if l.closed {
		return logstore.ErrClosed
	}
	if l.opts.Cold == nil {
		return fmt.Errorf("filelog %s: no object storage configured to read segment %d from", l.dir, base)
	}
	_, err := l.dropLocalLocked(base)
	return err
}

// dropLocalLocked is DropLocal with smu held; it returns the bytes freed.
func (l *Log) dropLocalLocked(base uint64) (int64, error) {
	l.mu.Lock()
	s, err := l.sealedLocked(base)
	if err == nil && s.up == nil {
		err = fmt.Errorf("filelog %s: segment %d is not uploaded", l.dir, base)
	}
	if err != nil || !s.local {
		l.mu.Unlock()
		return 0, err
	}
	s.local = false
	l.closeReaderLocked(s)
	l.mu.Unlock()
	return s.size, l.removeLocal(s.path)
}

// removeLocal removes a segment file and makes that durable.
func (l *Log) removeLocal(path string) error {
	if err := removeFile(path); err != nil {
		return err
	}
	return atomicfile.SyncDir(l.dir)
}

// Discard removes a sealed segment that was never uploaded, leaving a
// hole in the log (the upload queue's bound: its records are lost). It
// returns the records and bytes removed.
func (l *Log) Discard(base uint64) (uint64, int64, error) {
	l.smu.Lock()
	defer l.smu.Unlock()
	if l.closed {
		return 0, 0, logstore.ErrClosed
	}
	return l.discardLocked(base)
}

// discardLocked is Discard with smu held.
func (l *Log) discardLocked(base uint64) (uint64, int64, error) {
	l.mu.Lock()
	s, err := l.sealedLocked(base)
	if err == nil && s.up != nil {
		err = fmt.Errorf("filelog %s: segment %d is uploaded, not to be discarded", l.dir, base)
	}
	if err != nil {
		l.mu.Unlock()
		return 0, 0, err
	}
	l.segs = slices.DeleteFunc(l.segs, func(x *segment) bool { return x == s })
	l.goneLocked(s)
	l.mu.Unlock()
	recs, bytes, _, err := l.removeSegments([]*segment{s})
	return recs, bytes, err
}

// LocalSize returns the bytes the log occupies on local disk (Size counts
// cold segments too).
func (l *Log) LocalSize() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	var n int64
	for _, s := range l.segs {
		if s.local {
			n += s.size
		}
	}
	return n
}
