package filelog

import (
	"encoding/json"
	"errors"
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
	// removes segments never uploaded. Segments removed while their upload
	// ran are not told here: MarkUploaded fails for them with ErrNoSegment,
	// and the uploader deletes what it wrote.
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

// ErrNoSegment is wrapped by MarkUploaded, DropLocal and Discard when no
// sealed segment starts at the base given: Trim, DropOldest or Discard
// removed it meanwhile (or it never was). For MarkUploaded it means the
// object just written belongs to no segment of the log, and Trimmed will
// not be told of it: the caller deletes it.
var ErrNoSegment = errors.New("no such sealed segment")

// Sealed returns the sealed segments, oldest first (the active segment
// is never among them). It costs O(all segments of the log), cold ones
// included: for what is on local disk use LocalSealed, for sums Tiering,
// for one segment SealedSegment.
func (l *Log) Sealed() []SegmentInfo {
	l.mu.RLock()
	defer l.mu.RUnlock()
	out := make([]SegmentInfo, 0, len(l.segs))
	for _, s := range l.segs[:len(l.segs)-1] {
		out = append(out, s.info(s.local))
	}
	return out
}

// LocalSealed returns the sealed segments whose file is on local disk,
// oldest first: those waiting for upload and those uploaded but still
// hot (what the tier uploads and drops). Its cost is O(local segments),
// whatever the number of cold ones.
func (l *Log) LocalSealed() []SegmentInfo {
	l.mu.RLock()
	defer l.mu.RUnlock()
	local := l.local[:len(l.local)-1] // the active segment is the last
	out := make([]SegmentInfo, 0, len(local))
	for _, s := range local {
		out = append(out, s.info(true))
	}
	return out
}

// SealedSegment returns the sealed segment at base, if the log holds one
// (O(log segments)).
func (l *Log) SealedSegment(base uint64) (SegmentInfo, bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	s, err := l.sealedLocked(base)
	if err != nil {
		return SegmentInfo{}, false
	}
	return s.info(s.local), true
}

// TieringStats sums a log's sealed segments (never the active one) by
// their state. Every sealed segment is uploaded or pending.
type TieringStats struct {
	UploadedBytes    int64 // segments uploaded (hot or cold): the log's bytes in the bucket
	UploadedSegments int
	ColdSegments     int   // uploaded segments without a local file
	LocalSealedBytes int64 // sealed segments with a local file (uploaded or not)
	PendingBytes     int64 // sealed segments waiting for upload (always local)
	PendingSegments  int
}

// add adds (sign 1) or subtracts (-1) sealed segment s (l.mu held).
func (t *TieringStats) add(s *segment, sign int) {
	n := int64(sign) * s.size
	if s.up != nil {
		t.UploadedBytes += n
		t.UploadedSegments += sign
		if !s.local {
			t.ColdSegments += sign
		}
	}
	if s.local {
		t.LocalSealedBytes += n
		if s.up == nil {
			t.PendingBytes += n
			t.PendingSegments += sign
		}
	}
}

// Tiering returns the sums of the log's sealed segments by state, kept
// up to date by every change of a segment (O(1)).
func (l *Log) Tiering() TieringStats {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.tiering
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

// sealedLocked returns the sealed segment at base (l.mu held); its error
// wraps ErrNoSegment when the log holds none there.
func (l *Log) sealedLocked(base uint64) (*segment, error) {
	n := len(l.segs) - 1 // the active segment is never sealed
	if l.segs[n].base == base {
		return nil, fmt.Errorf("filelog %s: segment %d is the active one, not sealed", l.dir, base)
	}
	i := sort.Search(n, func(i int) bool { return l.segs[i].base >= base })
	if i == n || l.segs[i].base != base {
		return nil, fmt.Errorf("filelog %s: segment %d: %w", l.dir, base, ErrNoSegment)
	}
	return l.segs[i], nil
}

// MarkUploaded records that the sealed segment at base is uploaded and
// verified (writes <base>.up atomically and durably). The segment stays
// local until DropLocal. Its error wraps ErrNoSegment when the segment was
// removed during the upload (Trim, DropOldest, Discard): Trimmed is not
// told of an upload it never saw, so the caller deletes the object.
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
	l.tiering.add(s, -1) // in the list still: smu keeps removals out
	s.up = &u
	l.tiering.add(s, 1)
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
	l.tiering.add(s, -1)
	s.local = false
	l.tiering.add(s, 1)
	l.dropFromLocalLocked(s)
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
	i := sort.Search(len(l.segs), func(i int) bool { return l.segs[i].base >= base })
	l.segs = slices.Delete(l.segs, i, i+1) // sealedLocked found it there
	l.removedLocked(s)
	l.mu.Unlock()
	recs, bytes, _, err := l.removeSegments([]*segment{s})
	return recs, bytes, err
}

// LocalSize returns the bytes the log's segments occupy on local disk
// (Size counts cold segments too); O(1).
func (l *Log) LocalSize() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.tiering.LocalSealedBytes + l.segs[len(l.segs)-1].size
}
