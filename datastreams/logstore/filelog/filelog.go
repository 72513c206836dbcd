package filelog

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/eddy-video/eddy/datastreams/atomicfile"
	"github.com/eddy-video/eddy/datastreams/logstore"
)

// Options tune a Log. Zero values take the defaults.
type Options struct {
	SegmentBytes    int64         // roll the active segment past this size (default 64 MiB)
	SegmentDuration time.Duration // roll when its first record is older than this (default 1 h)
	IndexEvery      int64         // sparse index granularity in bytes (default 32 KiB)
	// MaxLoadedIndexes bounds how many sealed segments keep their sparse
	// index in memory (default 256); others are loaded from disk on demand.
	MaxLoadedIndexes int
	// Now is the clock used for segment rolling and for retiring idle read
	// descriptors (tests use a fake one).
	Now func() time.Time
	// Cold, when set, is the object-storage tier that sealed segments
	// may move to (cold.go); nil: every segment stays local.
	Cold Cold
}

func (o *Options) setDefaults() {
	if o.SegmentBytes <= 0 {
		o.SegmentBytes = 64 << 20
	}
	if o.SegmentDuration <= 0 {
		o.SegmentDuration = time.Hour
	}
	if o.IndexEvery <= 0 {
		o.IndexEvery = 32 << 10
	}
	if o.MaxLoadedIndexes <= 0 {
		o.MaxLoadedIndexes = 256
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Log is a logstore.Log kept as segment files in one directory.
//
// Locking: smu serialises what changes the segment files other than by
// appending (Trim, DropOldest, MarkUploaded, DropLocal, Discard, Close),
// so that an upload record is never written for a segment being removed;
// wmu serialises the write side (Append, Commit, Sync, Trim, DropOldest,
// Close); mu guards the segment list and the committed end, which readers
// snapshot. The order is smu, wmu, mu. closed is set with smu and wmu held.
type Log struct {
	dir  string
	opts Options

	smu     sync.Mutex
	telling sync.WaitGroup // calls of Cold.Trimmed under way (Close waits for them)

	wmu     sync.Mutex
	active  *os.File      // the last segment, open for appending
	pending []byte        // encode buffer for Append, reused between batches
	direct  []directWrite // Append's large records, written without a copy
	wSize   int64         // bytes written to the active segment (>= its committed size)
	wNext   uint64        // next sequence to append
	wFirst  int64         // first/last time of what is written to the active segment
	wLast   int64
	wIndex  []indexEntry // index points written but not yet committed
	lastIdx int64        // position of the last index point in the active segment
	dirty   bool         // committed but not synced
	closed  bool
	// segLimit, when set below opts.SegmentBytes, is the roll size
	// instead (SetSegmentBytes).
	segLimit int64

	mu   sync.RWMutex
	segs []*segment
	// local is the segments with a local file, oldest first (the active
	// segment last): what the tier uploads and drops, and the disk
	// floor reclaims, without a walk over the cold ones before them.
	local []*segment
	// tiering sums the sealed segments (all but the active one) by
	// state, kept up to date by each change (Tiering, Size, LocalSize).
	tiering TieringStats
	loaded  []*segment // sealed segments whose index is in memory, oldest first
	readers []*segment // segments with an open read descriptor, oldest first
	swept   time.Time  // last look for idle read descriptors
	// hints are the positions of recent appends, a ring of hintCap made
	// on the first (SetHints; guarded by mu).
	hints    []indexEntry
	hintCap  int
	hintNext int
}

// defaultHints is how many recent append positions a log keeps.
const defaultHints = 256

// SetHints sets how many recent append positions the log keeps for
// reads near its end (n ≤ 0: the default, 256): a log appended once a
// fragment (a video stream's) needs few, and each is 24 bytes held for
// as long as the log is open.
func (l *Log) SetHints(n int) {
	if n <= 0 {
		n = defaultHints
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if n == l.hintCap {
		return
	}
	// The hints are a cache of positions: start over.
	l.hintCap, l.hints, l.hintNext = n, nil, 0
}

var _ logstore.Log = (*Log)(nil)

// Open opens (creating if needed) the log in dir and recovers it: the
// active segment is scanned, a torn or corrupt tail is truncated. Sealed
// segments kept only in object storage (an index and an upload record,
// no segment file) need Options.Cold; when the newest segment is one of
// them (a restored log), a new active segment starts at its next
// sequence. Options.Cold.Attach is called once the log is recovered.
func Open(dir string, opts Options) (*Log, error) {
	opts.setDefaults()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	l := &Log{dir: dir, opts: opts, hintCap: defaultHints}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	type files struct{ seg, idx, up bool }
	found := map[uint64]*files{}
	at := func(b uint64) *files {
		if found[b] == nil {
			found[b] = &files{}
		}
		return found[b]
	}
	for _, e := range entries {
		name := e.Name()
		if strings.HasSuffix(name, ".tmp") {
			_ = os.Remove(filepath.Join(dir, name))
			continue
		}
		if b, ok := parseSegmentName(name); ok {
			at(b).seg = true
		} else if b, ok := parseName(name, indexExt); ok {
			at(b).idx = true
		} else if b, ok := parseName(name, uploadExt); ok {
			at(b).up = true
		}
	}
	var bases []uint64
	cold := 0
	for b, f := range found {
		switch {
		case f.seg || f.up:
			bases = append(bases, b)
			if !f.seg {
				cold++
			}
		default:
			// An index left by a trim interrupted after its segment's
			// other files went.
			_ = os.Remove(indexPath(segmentPath(dir, b)))
		}
	}
	if cold > 0 && opts.Cold == nil {
		return nil, fmt.Errorf("filelog %s: %d segments in object storage but no object storage configured", dir, cold)
	}
	sort.Slice(bases, func(i, j int) bool { return bases[i] < bases[j] })
	for i, base := range bases {
		path := segmentPath(dir, base)
		f := found[base]
		var up *Upload
		if f.up {
			if up, err = readUpload(uploadPath(path)); err != nil {
				if !f.seg {
					return nil, err
				}
				// Written atomically, so never torn; a damaged one of a
				// local segment only costs a new upload (the conditional
				// PUT finds the object and verifies it).
				_ = os.Remove(uploadPath(path))
				up = nil
			}
		}
		var s *segment
		if f.seg {
			s, err = l.openSegment(path, base, i == len(bases)-1 && up == nil)
			if err == nil && s != nil && up != nil {
				if up.Size != s.size {
					err = fmt.Errorf("%w: segment %s has %d bytes, its upload record says %d", errCorrupt, path, s.size, up.Size)
				}
				s.up = up
			}
		} else {
			s, err = l.openColdSegment(path, base, up)
		}
		if err != nil {
			return nil, err
		}
		if s == nil {
			continue
		}
		if n := len(l.segs); n > 0 && l.segs[n-1].next != s.base {
			// A hole between segments comes from an interrupted roll or
			// trim, or from Discard; reads skip it.
			if l.segs[n-1].next > s.base {
				return nil, fmt.Errorf("segment %s overlaps its predecessor", path)
			}
		}
		l.segs = append(l.segs, s)
	}
	if len(l.segs) == 0 {
		first := uint64(1)
		if len(bases) > 0 {
			first = bases[len(bases)-1]
		}
		if err := l.createSegment(first); err != nil {
			return nil, err
		}
	} else if a := l.segs[len(l.segs)-1]; a.up != nil {
		// The newest segment is uploaded (a restored log, or the active
		// segment after it was lost): it never takes appends again.
		if err := l.createSegment(a.next); err != nil {
			return nil, err
		}
	} else {
		if a.sealed {
			// The segment after it never got its header: this one takes
			// appends again, and its index file no longer describes it.
			if a.index == nil {
				idx, err := l.loadIndex(a)
				if err != nil {
					return nil, err
				}
				a.index = idx
				l.loaded = nil
			}
			a.sealed = false
			_ = os.Remove(indexPath(a.path))
		}
		a.index = nilIfEmpty(a.index) // the active segment's index is never "not loaded"
		f, err := os.OpenFile(a.path, os.O_RDWR, 0o644)
		if err != nil {
			return nil, err
		}
		if fi, err := f.Stat(); err == nil && fi.Size() != a.size {
			// Truncate the torn tail so appends continue from valid data.
			if err := f.Truncate(a.size); err != nil {
				f.Close()
				return nil, err
			}
			if err := f.Sync(); err != nil {
				f.Close()
				return nil, err
			}
		}
		if _, err := f.Seek(a.size, io.SeekStart); err != nil {
			f.Close()
			return nil, err
		}
		l.active = f
		l.wSize, l.wNext, l.wFirst, l.wLast = a.size, a.next, a.firstTime, a.lastTime
		if n := len(a.index); n > 0 {
			l.lastIdx = a.index[n-1].pos
		} else {
			l.lastIdx = -opts.IndexEvery
		}
	}
	l.upgradeIndexes()
	l.recount()
	if opts.Cold != nil {
		opts.Cold.Attach(l)
	}
	return l, nil
}

// openSegment recovers one segment file at start-up. Sealed segments use
// their index file when it is intact; the last segment is always scanned.
func (l *Log) openSegment(path string, base uint64, last bool) (*segment, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if last {
		// The newest segment's header is made durable before any record
		// goes in, so a missing or damaged header means nothing in it was
		// ever acknowledged. Keep the file aside and start over at its base.
		hdr := make([]byte, segmentHeaderSize)
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		_, rerr := io.ReadFull(f, hdr)
		f.Close()
		if b, _, herr := decodeSegmentHeader(hdr); rerr != nil || herr != nil || b != base {
			if err := os.Rename(path, path+".corrupt"); err != nil {
				return nil, err
			}
			return nil, nil
		}
	} else if fi.Size() < segmentHeaderSize {
		return nil, fmt.Errorf("%w: segment %s has no header", errCorrupt, path)
	}
	if !last {
		// Only the summary (the index file's trailer): indexes of sealed
		// segments are read, checked and kept on demand (at most
		// MaxLoadedIndexes), so that a long log's start-up time and
		// memory do not grow with its age.
		_, sum, v1, err := readIndexFile(indexPath(path), fi.Size(), false)
		if err == nil {
			s := &segment{base: base, next: sum.next, size: fi.Size(), firstTime: sum.firstTime, lastTime: sum.lastTime,
				sealed: true, path: path, local: true}
			s.oldIndex = v1
			return s, nil
		}
	}
	s, err := scanSegment(path, l.opts.IndexEvery)
	if err != nil {
		return nil, err
	}
	if s.base != base {
		return nil, fmt.Errorf("%w: segment %s header says base %d", errCorrupt, path, s.base)
	}
	if !last {
		s.sealed = true
		if s.size != fi.Size() {
			return nil, fmt.Errorf("%w: sealed segment %s is damaged at byte %d", errCorrupt, path, s.size)
		}
		if writeIndexFile(indexPath(path), s) == nil {
			s.index = nil // loaded on demand, like the others
		}
	}
	return s, nil
}

// openColdSegment recovers a segment kept only in object storage from its
// index file's trailer, checked against the upload record's size. A
// missing index, or one with a damaged trailer, is rebuilt by reading the object through Options.Cold
// (called before Attach), so Open fails when the store cannot be reached.
func (l *Log) openColdSegment(path string, base uint64, up *Upload) (*segment, error) {
	s := &segment{base: base, size: up.Size, sealed: true, path: path, up: up}
	_, sum, v1, err := readIndexFile(indexPath(path), up.Size, false)
	if err == nil {
		s.next, s.firstTime, s.lastTime, s.oldIndex = sum.next, sum.firstTime, sum.lastTime, v1
		return s, nil
	}
	ra, oerr := l.opts.Cold.OpenSegment(l, base, up.Size)
	if oerr != nil {
		return nil, fmt.Errorf("segment %s in object storage: index %v; rebuilding it: %w", path, err, oerr)
	}
	scanned, serr := scanFrom(io.NewSectionReader(ra, 0, up.Size), path, l.opts.IndexEvery)
	if serr != nil {
		return nil, fmt.Errorf("segment %s in object storage: index %v; rebuilding it: %w", path, err, serr)
	}
	if scanned.base != base || scanned.size != up.Size {
		return nil, fmt.Errorf("%w: segment %s in object storage: index %v, and the object holds %d valid bytes of %d (base %d)",
			errCorrupt, path, err, scanned.size, up.Size, scanned.base)
	}
	s.next, s.firstTime, s.lastTime, s.index, s.cold = scanned.next, scanned.firstTime, scanned.lastTime, nilIfEmpty(scanned.index), ra
	if werr := writeIndexFile(indexPath(path), s); werr != nil {
		return nil, werr
	}
	s.index = nil // loaded on demand, like the others
	return s, nil
}

// upgradeIndexes rewrites the version 1 index files found by Open (each
// read and checked whole) as version 2, so that the next Open reads only
// their trailers: a one-time cost after an upgrade, paid in batches (one
// filesystem sync per batch, not an fsync per file; a batch's temporary
// files bound the extra disk it takes). Each file is replaced atomically
// once durable; a failure (a full disk) stops the upgrade and changes
// nothing more: version 1 stays readable.
func (l *Log) upgradeIndexes() {
	const batchFiles, batchBytes = 4096, 64 << 20
	var todo []*segment
	for _, s := range l.segs {
		if s.oldIndex && s.sealed {
			todo = append(todo, s)
		}
		s.oldIndex = false
	}
	for len(todo) > 0 {
		var tmps, paths []string
		var size int
		var err error
		for len(todo) > 0 && len(tmps) < batchFiles && size < batchBytes && err == nil {
			s := todo[0]
			todo = todo[1:]
			var idx []indexEntry
			var v1 bool
			if idx, _, v1, err = readIndexFile(indexPath(s.path), s.size, true); err != nil || !v1 {
				err = nil // found damaged now: rebuilt when loaded
				continue
			}
			v := segment{next: s.next, size: s.size, firstTime: s.firstTime, lastTime: s.lastTime, index: idx}
			b := encodeIndex(&v)
			tmp := indexPath(s.path) + ".tmp"
			if err = os.WriteFile(tmp, b, 0o644); err == nil {
				tmps, paths, size = append(tmps, tmp), append(paths, indexPath(s.path)), size+len(b)
			}
		}
		if err == nil {
			err = syncFiles(l.dir, tmps)
		}
		for i, tmp := range tmps {
			if err == nil {
				err = os.Rename(tmp, paths[i])
			}
			if err != nil {
				_ = os.Remove(tmp)
			}
		}
		if serr := atomicfile.SyncDir(l.dir); err == nil {
			err = serr
		}
		if err != nil {
			return
		}
	}
}

func nilIfEmpty(idx []indexEntry) []indexEntry {
	if len(idx) == 0 {
		return []indexEntry{}
	}
	return idx
}

func (l *Log) createSegment(base uint64) error {
	f, s, err := l.newSegmentFile(base)
	if err != nil {
		return err
	}
	l.startSegment(f, s)
	return nil
}

// newSegmentFile creates the file of a segment starting at base and makes
// its header durable. On failure (a full disk) nothing is left behind.
func (l *Log) newSegmentFile(base uint64) (*os.File, *segment, error) {
	path := segmentPath(l.dir, base)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, nil, err
	}
	created := l.opts.Now().UnixNano()
	_, err = f.Write(encodeSegmentHeader(base, created))
	if err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = atomicfile.SyncDir(l.dir)
	}
	if err != nil {
		f.Close()
		_ = os.Remove(path)
		return nil, nil, err
	}
	return f, &segment{base: base, next: base, size: segmentHeaderSize, created: created, path: path, local: true, index: []indexEntry{}}, nil
}

// startSegment makes s, open as f, the active segment.
func (l *Log) startSegment(f *os.File, s *segment) {
	l.active = f
	l.wSize, l.wNext, l.wFirst, l.wLast = segmentHeaderSize, s.base, 0, 0
	l.lastIdx = -l.opts.IndexEvery
	l.mu.Lock()
	if n := len(l.segs); n > 0 {
		l.tiering.add(l.segs[n-1], 1) // sealed now
	}
	l.segs = append(l.segs, s)
	l.local = append(l.local, s)
	l.mu.Unlock()
}

// roll seals the active segment and starts a new one. Called with wmu held
// and nothing appended-but-uncommitted. Everything that can fail for want
// of space (the index file, the new segment's file) happens before the
// active segment changes state, so a failed roll leaves the log as it was
// and the next append tries again.
func (l *Log) roll() error { return l.rollIndexed(true) }

// rollIndexed is roll; without index, the sealed segment gets no index
// file (it is about to be deleted; were it not, the next open would
// rebuild it by a scan).
func (l *Log) rollIndexed(index bool) error {
	if err := l.active.Sync(); err != nil {
		return err
	}
	l.dirty = false
	l.mu.RLock()
	a := l.segs[len(l.segs)-1]
	snapshot := *a
	l.mu.RUnlock()
	if index {
		if err := writeIndexFile(indexPath(a.path), &snapshot); err != nil {
			return err
		}
	}
	f, s, err := l.newSegmentFile(l.wNext)
	if err != nil {
		return err
	}
	old := l.active
	l.mu.Lock()
	a.sealed = true
	l.loaded = append(l.loaded, a)
	l.evictIndexesLocked()
	l.mu.Unlock()
	l.startSegment(f, s)
	_ = old.Close() // synced above; the roll has happened either way
	return nil
}

// SetSegmentBytes makes the active segment roll past n bytes when n is
// below Options.SegmentBytes (0 or more: Options.SegmentBytes again). A
// size cap trims whole segments, keeping the active one: segments a few
// times smaller than the cap let trimming keep the log close under it.
func (l *Log) SetSegmentBytes(n int64) {
	l.wmu.Lock()
	l.segLimit = n
	l.wmu.Unlock()
}

func (l *Log) segmentBytesLocked() int64 {
	if l.segLimit > 0 && l.segLimit < l.opts.SegmentBytes {
		return l.segLimit
	}
	return l.opts.SegmentBytes
}

func (l *Log) evictIndexesLocked() {
	for len(l.loaded) > l.opts.MaxLoadedIndexes {
		l.loaded[0].index = nil
		l.loaded = l.loaded[1:]
	}
}

// Append implements logstore.Log.
func (l *Log) Append(recs []logstore.Record) error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if l.closed {
		return logstore.ErrClosed
	}
	if len(recs) == 0 {
		return nil
	}
	if l.wSize > segmentHeaderSize && l.uncommittedLocked() == 0 {
		now := l.opts.Now().UnixNano()
		if l.wSize >= l.segmentBytesLocked() || (l.wFirst != 0 && now-l.wFirst >= int64(l.opts.SegmentDuration)) {
			if err := l.roll(); err != nil {
				return err
			}
		}
	}
	// Frames are encoded into one buffer and written with one write,
	// save the data of a large record (a video fragment): its frame header
	// goes into the buffer and its data is written from the caller's slice,
	// so a record of megabytes is not copied (directData explains the bound).
	size := 0
	for i := range recs {
		if len(recs[i].Data) >= directData {
			size += frameSize(len(recs[i].Key), 0)
		} else {
			size += frameSize(len(recs[i].Key), len(recs[i].Data))
		}
	}
	buf := l.pending[:0]
	if cap(buf) < size {
		buf = make([]byte, 0, size)
	}
	direct := l.direct[:0]
	pos := l.wSize
	for i := range recs {
		r := &recs[i]
		if r.Seq != l.wNext {
			return fmt.Errorf("append: sequence %d, expected %d", r.Seq, l.wNext)
		}
		if pos-l.lastIdx >= l.opts.IndexEvery {
			l.wIndex = append(l.wIndex, indexEntry{seq: r.Seq, time: r.Time, pos: pos})
			l.lastIdx = pos
		}
		if len(r.Data) >= directData {
			buf = appendFrameHeader(buf, r.Seq, r.Time, r.Key, r.Data)
			direct = append(direct, directWrite{at: len(buf), data: r.Data})
		} else {
			buf = appendFrame(buf, r.Seq, r.Time, r.Key, r.Data)
		}
		pos += int64(frameSize(len(r.Key), len(r.Data)))
		if l.wFirst == 0 {
			l.wFirst = r.Time
		}
		l.wLast = r.Time
		l.wNext++
	}
	err := l.writeFrames(buf, direct)
	clear(direct) // keep no reference to the caller's data
	l.direct = direct[:0]
	if err != nil {
		l.rollbackLocked()
		return err
	}
	if cap(buf) <= 4<<20 {
		l.pending = buf[:0] // for the next group commit
	} else {
		l.pending = nil
	}
	l.hintLocked(recs[0].Seq, recs[0].Time, l.wSize)
	l.wSize = pos
	return nil
}

// directData is the size from which Append writes a record's data from
// the caller's slice rather than copying it into its encode buffer: one
// more write(2) per such record (a few microseconds) against a copy of
// its data and an allocation as large (a 500 KB video fragment every
// two seconds per camera made this copy 8% of the server's allocations
// at 100 cameras).
const directData = 64 << 10

// directWrite is data Append writes after buf[:at] (at: the end of its
// frame header in the encode buffer).
type directWrite struct {
	at   int
	data []byte
}

// writeFrames writes buf to the active segment, each direct write's data
// after the part of buf before it.
func (l *Log) writeFrames(buf []byte, direct []directWrite) error {
	from := 0
	for _, d := range direct {
		if _, err := l.active.Write(buf[from:d.at]); err != nil {
			return err
		}
		if _, err := l.active.Write(d.data); err != nil {
			return err
		}
		from = d.at
	}
	if from < len(buf) {
		if _, err := l.active.Write(buf[from:]); err != nil {
			return err
		}
	}
	return nil
}

func (l *Log) hintLocked(seq uint64, t int64, pos int64) {
	l.mu.Lock()
	e := indexEntry{seq: seq, time: t, pos: pos}
	if len(l.hints) < l.hintCap {
		l.hints = append(l.hints, e)
	} else {
		l.hints[l.hintNext%l.hintCap] = e
	}
	l.hintNext++
	l.mu.Unlock()
}

func (l *Log) uncommittedLocked() uint64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.wNext - l.segs[len(l.segs)-1].next
}

// Commit implements logstore.Log.
func (l *Log) Commit(sync bool) error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if l.closed {
		return logstore.ErrClosed
	}
	if sync {
		if err := l.active.Sync(); err != nil {
			l.rollbackLocked()
			return err
		}
		l.dirty = false
	} else {
		l.dirty = true
	}
	l.mu.Lock()
	a := l.segs[len(l.segs)-1]
	a.next, a.size, a.firstTime, a.lastTime = l.wNext, l.wSize, l.wFirst, l.wLast
	a.index = append(a.index, l.wIndex...)
	l.mu.Unlock()
	l.wIndex = l.wIndex[:0]
	return nil
}

// rollbackLocked forgets everything appended but not committed: the file is
// cut back to the committed size so the next append starts on a frame
// boundary (a full disk fails the batch, and ingest resumes when space returns).
func (l *Log) rollbackLocked() {
	l.mu.RLock()
	a := l.segs[len(l.segs)-1]
	size, next, ft, lt := a.size, a.next, a.firstTime, a.lastTime
	l.mu.RUnlock()
	_ = l.active.Truncate(size)
	_, _ = l.active.Seek(size, io.SeekStart)
	l.wSize, l.wNext, l.wFirst, l.wLast = size, next, ft, lt
	l.wIndex = l.wIndex[:0]
	l.lastIdx = -l.opts.IndexEvery
	if n := len(a.index); n > 0 {
		l.lastIdx = a.index[n-1].pos
	}
}

// Sync implements logstore.Log.
func (l *Log) Sync() error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if l.closed || !l.dirty {
		return nil
	}
	l.dirty = false
	return l.active.Sync()
}

// Bounds implements logstore.Log.
func (l *Log) Bounds() (first, next uint64) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.segs[0].base, l.segs[len(l.segs)-1].next
}

// LastTime implements logstore.Log.
func (l *Log) LastTime() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	for i := len(l.segs) - 1; i >= 0; i-- {
		if l.segs[i].count() > 0 {
			return l.segs[i].lastTime
		}
	}
	return 0
}

// Size implements logstore.Log (cold segments included).
func (l *Log) Size() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.sizeLocked()
}

// sizeLocked is Size with l.mu held: every sealed segment is uploaded or
// waiting for upload.
func (l *Log) sizeLocked() int64 {
	return l.tiering.UploadedBytes + l.tiering.PendingBytes + l.segs[len(l.segs)-1].size
}

// segView is a reader's snapshot of one segment.
type segView struct {
	s     *segment
	base  uint64
	next  uint64
	size  int64
	index []indexEntry
	path  string
}

// view snapshots the segments holding from and later, loading the first
// one's index if it was evicted.
func (l *Log) view(from uint64) ([]segView, error) {
	l.mu.RLock()
	i := sort.Search(len(l.segs), func(i int) bool { return l.segs[i].next > from })
	views := make([]segView, 0, len(l.segs)-i)
	for _, s := range l.segs[i:] {
		views = append(views, segView{s: s, base: s.base, next: s.next, size: s.size, index: s.index, path: s.path})
	}
	l.mu.RUnlock()
	if len(views) > 0 && views[0].index == nil {
		idx, err := l.loadIndex(views[0].s)
		if err != nil {
			return nil, l.readFailed(views[0].s, err)
		}
		views[0].index = idx
	}
	return views, nil
}

// loadIndex reads a sealed segment's index entries, checking the whole
// file, and keeps them (at most MaxLoadedIndexes segments keep theirs).
// A missing or damaged index (Open read only its trailer) is rebuilt by
// scanning the segment, local or through Options.Cold, and written again;
// when that fails too, so does the read, saying why.
func (l *Log) loadIndex(s *segment) ([]indexEntry, error) {
	l.mu.RLock()
	local, next, first, last := s.local, s.next, s.firstTime, s.lastTime
	l.mu.RUnlock()
	// The index file stays local when the segment goes cold.
	idx, sum, _, err := readIndexFile(indexPath(s.path), s.size, true)
	if err == nil && (sum.next != next || sum.firstTime != first || sum.lastTime != last) {
		err = fmt.Errorf("%w: index describes records up to %d at %d..%d, the segment holds up to %d at %d..%d",
			errCorrupt, sum.next, sum.firstTime, sum.lastTime, next, first, last)
	}
	if err != nil {
		scanned, serr := l.rescan(s, local)
		if serr == nil && (scanned.base != s.base || scanned.next != next || scanned.size != s.size) {
			serr = fmt.Errorf("%w: the segment holds %d valid bytes of %d, records %d..%d of %d..%d",
				errCorrupt, scanned.size, s.size, scanned.base, scanned.next, s.base, next)
		}
		if serr != nil {
			return nil, fmt.Errorf("segment %s: index %v; rebuilding it: %w", s.path, err, serr)
		}
		idx = scanned.index
		l.rewriteIndex(s, idx)
	}
	idx = nilIfEmpty(idx)
	l.mu.Lock()
	if s.index == nil {
		s.index = idx
		l.loaded = append(l.loaded, s)
		l.evictIndexesLocked()
	}
	l.mu.Unlock()
	return idx, nil
}

// rescan scans a sealed segment's records, from its local file or its
// object.
func (l *Log) rescan(s *segment, local bool) (*segment, error) {
	if local {
		return scanSegment(s.path, l.opts.IndexEvery)
	}
	ra, held, err := l.reader(s)
	if err != nil {
		return nil, err
	}
	if held {
		defer l.release(s)
	}
	return scanFrom(io.NewSectionReader(ra, 0, s.size), s.path, l.opts.IndexEvery)
}

// rewriteIndex writes the index file of a sealed segment again after a
// rebuild, unless the segment left the log meanwhile (smu keeps it from
// leaving during the write, so no index outlives its segment). A failure
// only costs another rebuild.
func (l *Log) rewriteIndex(s *segment, idx []indexEntry) {
	l.smu.Lock()
	defer l.smu.Unlock()
	l.mu.RLock()
	skip := l.closed || s.gone || !s.sealed
	v := segment{next: s.next, size: s.size, firstTime: s.firstTime, lastTime: s.lastTime, index: idx}
	l.mu.RUnlock()
	if !skip {
		_ = writeIndexFile(indexPath(s.path), &v)
	}
}

// startPos finds where to start scanning a segment for seq: the sparse
// index point at or before it, or a closer recent append position.
func (l *Log) startPos(v *segView, seq uint64) int64 {
	pos, at := seekSeq(v.index, seq)
	if at == 0 {
		pos, at = segmentHeaderSize, v.base
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	for _, h := range l.hints {
		// A hint names the position of a record in the segment that held
		// it; sequences map to exactly one segment.
		if h.seq <= seq && h.seq > at && h.seq >= v.base && h.seq < v.next {
			pos, at = h.pos, h.seq
		}
	}
	return pos
}

// maxReaders bounds the idle read descriptors a log keeps open, and
// readerIdle is how long one may stay unused: a segment that readers left
// (sealed, and live readers moved on to the next) does not keep its
// descriptor until enough others are opened, so that the open files of a
// server stay flat as segments roll.
const (
	maxReaders = 4
	readerIdle = 30 * time.Second
)

// reader returns a reader of the segment's bytes. For a local segment it
// is the segment's read descriptor, opened if needed and held (held is
// true) until release: a descriptor is closed (by eviction, trim,
// DropLocal or Close) only once no read uses it. For a cold segment it is
// Options.Cold's reader of the object, kept for later reads. A segment
// taken out of the log answers fs.ErrNotExist (Read retries).
func (l *Log) reader(s *segment) (ra io.ReaderAt, held bool, err error) {
	l.mu.Lock()
	if s.gone {
		l.mu.Unlock()
		return nil, false, fmt.Errorf("segment %s: %w", s.path, fs.ErrNotExist)
	}
	if !s.local {
		ra, up := s.cold, s.up
		l.mu.Unlock()
		if ra != nil {
			return ra, false, nil
		}
		ra, err := l.opts.Cold.OpenSegment(l, s.base, up.Size)
		if err != nil {
			return nil, false, err
		}
		l.mu.Lock()
		if s.cold == nil {
			s.cold = ra
		}
		ra = s.cold
		l.mu.Unlock()
		return ra, false, nil
	}
	defer l.mu.Unlock()
	if s.rf == nil {
		f, err := os.Open(s.path)
		if err != nil {
			return nil, false, err
		}
		s.rf = f
		l.readers = append(l.readers, s)
		for len(l.readers) > maxReaders {
			l.closeReaderLocked(l.readers[0])
		}
	}
	s.rfRefs++
	now := l.opts.Now()
	s.rfUsed = now
	if now.Sub(l.swept) >= time.Second {
		l.swept = now
		l.closeIdleReadersLocked(now)
	}
	return s.rf, true, nil
}

// closeIdleReadersLocked retires the read descriptors no read has taken
// for readerIdle (l.mu held).
func (l *Log) closeIdleReadersLocked(now time.Time) {
	var idle []*segment
	for _, r := range l.readers {
		if r.rfRefs == 0 && now.Sub(r.rfUsed) >= readerIdle {
			idle = append(idle, r)
		}
	}
	for _, r := range idle {
		l.closeReaderLocked(r)
	}
}

func (l *Log) release(s *segment) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s.rfRefs--
	if s.rfRefs == 0 && s.rfDoomed {
		s.rf.Close()
		s.rf, s.rfDoomed = nil, false
	}
}

// closeReaderLocked retires a segment's read descriptor (l.mu held): at
// once when idle, else when its last read releases it.
func (l *Log) closeReaderLocked(s *segment) {
	kept := l.readers[:0]
	for _, r := range l.readers {
		if r != s {
			kept = append(kept, r)
		}
	}
	l.readers = kept
	if s.rf == nil {
		return
	}
	if s.rfRefs > 0 {
		s.rfDoomed = true
		return
	}
	s.rf.Close()
	s.rf = nil
}

const readChunk = 256 << 10

// Read implements logstore.Log.
func (l *Log) Read(from uint64, maxRecords, maxBytes int) ([]logstore.Record, error) {
	for attempt := 0; ; attempt++ {
		recs, err := l.read(from, maxRecords, maxBytes)
		if (errors.Is(err, fs.ErrNotExist) || errors.Is(err, os.ErrClosed)) && attempt < readAttempts {
			// A segment was trimmed under us (its file, descriptor or
			// object gone: readFailed); read from the new horizon.
			continue
		}
		return recs, err
	}
}

// readAttempts bounds Read's retries after a segment was trimmed under it:
// each finds a newer horizon, and only a log trimmed again and again
// during the read (a trimmer in a loop, in the stress test) needs more
// than one or two; a reader that scans from a sparse index point (few
// hints) takes longer and meets more trims.
const readAttempts = 8

func (l *Log) read(from uint64, maxRecords, maxBytes int) ([]logstore.Record, error) {
	if maxRecords <= 0 {
		return nil, nil
	}
	views, err := l.view(from)
	if err != nil {
		return nil, err
	}
	var out []logstore.Record
	total := 0
	full := false
	for vi := 0; vi < len(views) && !full; vi++ {
		v := &views[vi]
		if from < v.base {
			from = v.base
		}
		if from >= v.next {
			continue
		}
		if v.index == nil {
			if v.index, err = l.loadIndex(v.s); err != nil {
				return out, l.readFailed(v.s, err)
			}
		}
		f, held, err := l.reader(v.s)
		if err != nil {
			return out, l.readFailed(v.s, err)
		}
		out, full, err = l.readSegment(f, v, from, out, maxRecords, maxBytes, &total)
		if held {
			l.release(v.s)
		}
		if err != nil {
			return out, l.readFailed(v.s, err)
		}
		if len(out) > 0 {
			from = out[len(out)-1].Seq + 1
		}
	}
	return out, nil
}

// readFailed is the error of a failed read of segment s. When s left the
// log meanwhile (trimmed), it wraps fs.ErrNotExist so that Read retries
// from the new start: a cold segment's object may be deleted by then, and
// the store's "not found" is no error of the log's.
func (l *Log) readFailed(s *segment, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return err
	}
	l.mu.RLock()
	gone := s.gone
	l.mu.RUnlock()
	if gone {
		return fmt.Errorf("segment %s left the log during the read (%w): %w", s.path, fs.ErrNotExist, err)
	}
	return err
}

// readSegment appends records of one segment, starting at sequence from,
// to out; it reports whether out is full (by records or bytes).
func (l *Log) readSegment(f io.ReaderAt, v *segView, from uint64, out []logstore.Record, maxRecords, maxBytes int, total *int) ([]logstore.Record, bool, error) {
	pos := l.startPos(v, from)
	// Read no more than the caller can take, plus the index granularity
	// that may lie between the index point and from.
	want := int64(maxBytes) + l.opts.IndexEvery + int64(maxRecords)*frameHeaderSize
	for pos < v.size {
		buf := make([]byte, min(int64(readChunk), v.size-pos, want))
		if _, err := f.ReadAt(buf, pos); err != nil {
			return out, false, err
		}
		off := 0
		for off < len(buf) {
			rec, sz, err := decodeFrame(buf[off:])
			if errors.Is(err, io.ErrUnexpectedEOF) {
				if off > 0 {
					break // the next chunk starts at this frame
				}
				// One frame larger than the chunk: read exactly it.
				buf = make([]byte, frameHeaderSize+int(be32(buf)))
				if _, err := f.ReadAt(buf, pos); err != nil {
					return out, false, err
				}
				continue
			}
			if err != nil {
				return out, false, fmt.Errorf("segment %s at byte %d: %w", v.path, pos+int64(off), err)
			}
			if rec.Seq >= v.next {
				return out, false, nil
			}
			if rec.Seq >= from {
				if len(out) > 0 && *total+len(rec.Key)+len(rec.Data) > maxBytes {
					return out, true, nil
				}
				out = append(out, rec)
				*total += len(rec.Key) + len(rec.Data)
				if len(out) >= maxRecords {
					return out, true, nil
				}
			}
			off += sz
			if rec.Seq+1 >= v.next {
				return out, false, nil
			}
		}
		pos += int64(off)
	}
	return out, false, nil
}

func be32(b []byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// SeqAtTime implements logstore.Log.
func (l *Log) SeqAtTime(t int64) uint64 {
	l.mu.RLock()
	i := sort.Search(len(l.segs), func(i int) bool { return l.segs[i].count() > 0 && l.segs[i].lastTime >= t })
	if i == len(l.segs) {
		next := l.segs[len(l.segs)-1].next
		l.mu.RUnlock()
		return next
	}
	s := l.segs[i]
	v := segView{s: s, base: s.base, next: s.next, size: s.size, index: s.index, path: s.path}
	l.mu.RUnlock()
	if v.index == nil {
		idx, err := l.loadIndex(s)
		if err != nil {
			return v.base
		}
		v.index = idx
	}
	_, at := seekTime(v.index, t)
	if at == 0 {
		at = v.base
	}
	// Scan forward from the index point; records are time-ordered.
	for at < v.next {
		recs, err := l.Read(at, 512, 1<<20)
		if err != nil || len(recs) == 0 {
			return at
		}
		for _, r := range recs {
			if r.Time >= t {
				return r.Seq
			}
		}
		at = recs[len(recs)-1].Seq + 1
	}
	return at
}

// TimeOf implements logstore.Log.
func (l *Log) TimeOf(seq uint64) (int64, bool) {
	recs, err := l.Read(seq, 1, 1)
	if err != nil || len(recs) == 0 || recs[0].Seq != seq {
		return 0, false
	}
	return recs[0].Time, true
}

// Trim implements logstore.Log. Cold segments go like local ones (Size
// counts them); the uploaded segments removed are then passed to
// Options.Cold.Trimmed, whose objects are to be deleted.
func (l *Log) Trim(olderThan int64, maxBytes int64) (uint64, int64, error) {
	l.smu.Lock()
	recs, bytes, removed, err := l.trim(olderThan, maxBytes)
	tell := len(removed) > 0 && l.opts.Cold != nil
	if tell {
		l.telling.Add(1) // before Close can take smu: its Detach waits for this
	}
	l.smu.Unlock()
	if tell {
		// Without the log's locks, so that Trimmed may take locks of its
		// own that are held around calls into the log.
		l.opts.Cold.Trimmed(l, removed)
		l.telling.Done()
	}
	return recs, bytes, err
}

func (l *Log) trim(olderThan int64, maxBytes int64) (uint64, int64, []SegmentInfo, error) {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if l.closed {
		return 0, 0, nil, logstore.ErrClosed
	}
	l.mu.RLock()
	a := l.segs[len(l.segs)-1]
	activeExpired := olderThan > 0 && a.count() > 0 && a.lastTime < olderThan && l.wNext == a.next
	l.mu.RUnlock()
	if activeExpired {
		// Everything is expired: start an empty segment so the whole
		// data can go while the next sequence number is kept on disk.
		if err := l.roll(); err != nil {
			return 0, 0, nil, err
		}
	}
	var victims []*segment
	l.mu.Lock()
	total := l.sizeLocked()
	for len(l.segs) > 1 {
		s := l.segs[0]
		byAge := olderThan > 0 && (s.count() == 0 || s.lastTime < olderThan)
		bySize := maxBytes > 0 && total > maxBytes
		if !byAge && !bySize {
			break
		}
		victims = append(victims, s)
		total -= s.size
		l.segs = l.segs[1:]
		l.removedLocked(s)
	}
	l.mu.Unlock()
	return l.removeSegments(victims)
}

// removedLocked accounts for sealed segment s taken out of l.segs (l.mu
// held) and marks it gone.
func (l *Log) removedLocked(s *segment) {
	l.tiering.add(s, -1)
	if s.local {
		l.dropFromLocalLocked(s)
	}
	l.goneLocked(s)
}

// dropFromLocalLocked takes s out of l.local (l.mu held): O(1) for the
// oldest (trims, the disk floor), else O(local segments).
func (l *Log) dropFromLocalLocked(s *segment) {
	if len(l.local) > 0 && l.local[0] == s {
		l.local[0] = nil
		l.local = l.local[1:]
		return
	}
	i := sort.Search(len(l.local), func(i int) bool { return l.local[i].base >= s.base })
	if i < len(l.local) && l.local[i] == s {
		l.local = slices.Delete(l.local, i, i+1)
	}
}

// recount rebuilds l.local and l.tiering from l.segs (Open).
func (l *Log) recount() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.local = l.local[:0]
	l.tiering = TieringStats{}
	for i, s := range l.segs {
		if s.local {
			l.local = append(l.local, s)
		}
		if i < len(l.segs)-1 {
			l.tiering.add(s, 1)
		}
	}
}

// goneLocked marks a segment taken out of the list (l.mu held): its read
// descriptor closes once no read uses it, and later reads retry.
func (l *Log) goneLocked(s *segment) {
	s.gone = true
	l.closeReaderLocked(s)
	kept := l.loaded[:0]
	for _, r := range l.loaded {
		if r != s {
			kept = append(kept, r)
		}
	}
	l.loaded = kept
}

// removeSegments deletes the files of segments already taken out of the
// list and returns the records and bytes they held, and the uploaded
// ones among those whose files are gone. The segment file goes first,
// then the upload record, then the index: a crash in between leaves a
// cold segment (removed again by the next trim, its object still there)
// or a lone index (removed by Open; the tier deletes objects below the
// log's first segment).
func (l *Log) removeSegments(victims []*segment) (uint64, int64, []SegmentInfo, error) {
	var recs uint64
	var bytes int64
	var removed []SegmentInfo
	var err error
	for _, s := range victims {
		if err = removeFile(s.path); err != nil {
			break
		}
		if s.up != nil {
			if err = removeFile(uploadPath(s.path)); err != nil {
				break
			}
			removed = append(removed, s.info(false))
		}
		_ = os.Remove(indexPath(s.path))
		recs += s.count()
		bytes += s.size
	}
	if len(victims) > 0 {
		if serr := atomicfile.SyncDir(l.dir); err == nil {
			err = serr
		}
	}
	return recs, bytes, removed, err
}

func removeFile(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// Close implements logstore.Log.
func (l *Log) Close() error {
	l.smu.Lock()
	l.wmu.Lock()
	if l.closed {
		l.wmu.Unlock()
		l.smu.Unlock()
		return nil
	}
	l.closed = true
	l.mu.Lock()
	for len(l.readers) > 0 {
		l.closeReaderLocked(l.readers[0])
	}
	l.mu.Unlock()
	err := l.active.Sync()
	if cerr := l.active.Close(); err == nil {
		err = cerr
	}
	l.wmu.Unlock()
	l.smu.Unlock()
	if l.opts.Cold != nil {
		l.telling.Wait()
		l.opts.Cold.Detach(l)
	}
	return err
}
