package fragments

// The fragment index answers Kinesis Video Streams ListFragments
// (https://docs.aws.amazon.com/kinesisvideostreams/latest/dg/API_reader_ListFragments.html):
// fragments whose server or producer start timestamp lies in [start, end],
// in sequence order, with paging. It is a secondary index derived from the
// stream's log (the source of truth): it is written after the log commit,
// is not synced per append, and the owner reconciles it against the log on
// open (Bounds, Truncate, TrimBefore; or it removes the index directory and
// rebuilds it when it is damaged or of another format version).
//
// On disk (all integers little-endian):
//
//	dir/<first seq, 20 digits>.fx   chunk file, append-only
//	  header  16 bytes: magic "EDDYFX02" | first seq u64
//	  entries 56 bytes each, entry i at offset 16 + 56*i:
//	    seq - first seq u32 | flags u32 | server time i64 | producer time i64 |
//	    duration i64 | size u32 | init segment id [16] |
//	    crc32c u32 of the 52 bytes before
//	dir/<first seq, 20 digits>.fxs  summary of a sealed (full) chunk
//	  magic "EDDYFXS2" | first seq u64 | entries u32 | crc of last entry u32 |
//	  blocks u32 | 0 u32 | chunk cover (server, producer: 4 i64 each) |
//	  per block: first seq u64 | last seq u64 | pos u32 | n u32 | cover server | cover producer |
//	  crc32c u32 of everything before
//
// Each entry carries its fragment's init segment id, so a playlist (which
// needs it for EXT-X-MAP and discontinuities) is rendered from the index
// alone, without reading any fragment. The format is versioned by the
// magic: a chunk of another version (EDDYFX01 had 40-byte entries without
// the id) fails OpenIndex with ErrIndexVersion, and the owner rebuilds the
// index from the log, as after damage.
//
// A chunk holds up to 65536 entries (a new chunk also starts when a sequence
// gap would overflow the 32-bit delta), so retention deletes whole files.
// In memory the index keeps one summary per block of 1024 entries (sequence
// span, position, and per time kind a two-interval cover plus a running
// maximum) and one per chunk: about 112 bytes per 1024 entries, so 158
// million entries (10 years of 2 s fragments) take about 17 MB.
//
// A cover is two closed intervals that together contain every timestamp of
// the block. Server time is non-decreasing, so a cover is tight. Producer
// clocks jump (cameras boot in 1970, NTP steps them back and forth); with
// two intervals a block that mixes normal timestamps with one excursion
// (a burst of 1970 dates) still only matches queries near either cluster,
// instead of every query between 1970 and now as a min/max pair would.
//
// Range cost: two binary searches (first block at or after fromSeq; first
// block whose running maximum reaches start), then a walk over chunk and
// block summaries in memory that reads from disk only blocks whose cover
// overlaps [start, end]. With monotonic or mostly monotonic timestamps
// (at most one excursion cluster per block) the blocks read are those that
// hold matches plus at most one at each edge, and the in-memory walk to the
// end of the index is one comparison per chunk (about 2400 at 10 years).
// Worst case: producer timestamps spread over three or more distant values
// within every block (e.g. several cameras with unrelated clocks muxed into
// one stream) make every block a candidate, and a query reads every block
// from the first candidate to the end of the index. A forward jump (a
// clock set to 2099) only costs in-memory summary comparisons for queries
// after it, not reads.
//
// Crash behaviour: sealing a full chunk syncs it before its summary file is
// written; the last chunk is not synced per append. OpenIndex verifies every
// entry's checksum in a chunk without a valid summary file (always the last
// one) and truncates the last chunk at the first damaged or torn entry; a
// damaged older chunk fails OpenIndex with an *IndexCorruptError naming the
// file. Chunks with a valid summary are checked by size, header and last
// entry only; every entry's checksum is verified again whenever it is read,
// so later damage surfaces as an *IndexCorruptError from Range.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// IndexEntry is the index record of one fragment.
type IndexEntry struct {
	Seq          uint64 // log sequence of the fragment record
	ServerTime   int64  // Unix ns: arrival of the fragment's first byte
	ProducerTime int64  // Unix ns: producer clock
	Duration     int64  // ns
	Size         int64  // bytes of the stored fragment, at most math.MaxUint32
	Flags        uint32 // IndexKeyframe, IndexDiscontinuity; other bits reserved
	InitID       InitID // the fragment's init segment
}

// Index entry flags.
const (
	// IndexKeyframe marks a fragment that starts on a keyframe.
	IndexKeyframe uint32 = 1
	// IndexDiscontinuity marks the first fragment after a jump of the
	// producer's timestamps (Fragment.Discontinuity).
	IndexDiscontinuity uint32 = 2
)

// IndexTime selects the timestamp a Range query filters on, as the
// FragmentSelectorType of ListFragments does.
type IndexTime int

// Time kinds.
const (
	IndexServerTime   IndexTime = iota // SERVER_TIMESTAMP
	IndexProducerTime                  // PRODUCER_TIMESTAMP
)

func (t IndexTime) String() string {
	switch t {
	case IndexServerTime:
		return "server"
	case IndexProducerTime:
		return "producer"
	}
	return "IndexTime(" + strconv.Itoa(int(t)) + ")"
}

// Index errors.
var (
	// ErrIndexCorrupt matches every *IndexCorruptError.
	ErrIndexCorrupt = errors.New("fragments: index corrupt")
	// ErrIndexClosed is returned by every method after Close.
	ErrIndexClosed = errors.New("fragments: index closed")
	// ErrIndexOrder is returned by Append for a sequence that does not
	// increase.
	ErrIndexOrder = errors.New("fragments: index sequence out of order")
	// ErrIndexVersion is returned by OpenIndex for an index written in
	// another format version; the owner rebuilds it from the log.
	ErrIndexVersion = errors.New("fragments: index format version differs")
)

// IndexCorruptError reports a damaged index file. The owner rebuilds the
// index from the log (removes it, then appends every record again).
type IndexCorruptError struct {
	File   string
	Reason string
}

func (e *IndexCorruptError) Error() string {
	return "fragments: index file " + e.File + ": " + e.Reason
}

// Is makes errors.Is(err, ErrIndexCorrupt) true.
func (e *IndexCorruptError) Is(target error) bool { return target == ErrIndexCorrupt }

const (
	fxMagic        = "EDDYFX02"
	fxMagicPrefix  = "EDDYFX0" // any version's
	fxSummaryMagic = "EDDYFXS2"
	fxHeaderSize   = 16
	fxEntrySize    = 56
	fxEntryCRC     = fxEntrySize - 4 // offset of an entry's checksum
	fxChunkExt     = ".fx"
	fxSummaryExt   = ".fxs"
	fxNameDigits   = 20

	fxSummaryHeaderSize = 8 + 24 + 2*fxCoverSize
	fxSummaryBlockSize  = 24 + 2*fxCoverSize
	fxCoverSize         = 32

	// fxMaxWrite bounds one write (and the write buffer) in entries.
	fxMaxWrite = 16384
)

var fxCRC = crc32.MakeTable(crc32.Castagnoli)

// fxOptions are the sizing knobs; tests shrink them.
type fxOptions struct {
	chunkEntries int // entries per chunk file
	blockEntries int // entries per in-memory summary
	maxFiles     int // open read-only chunk files, besides the last chunk
}

var fxDefaults = fxOptions{chunkEntries: 65536, blockEntries: 1024, maxFiles: 16}

// Index is the on-disk fragment index of one stream. It is safe for one
// appender and any number of concurrent readers.
//
// mu guards all state: Append, Truncate, TrimBefore, Sync and Close
// hold it exclusively (including their file writes); Range, Lookup, Last,
// Bounds hold it shared, including their reads. The cache of
// read-only file descriptors has its own leaf lock (fxFiles.mu), taken only
// by readers while holding mu.
type Index struct {
	dir  string
	opts fxOptions

	mu     sync.RWMutex
	blocks []fxBlock // summaries of all retained entries, in seq order
	blk0   int       // absolute number of blocks[0]
	chunks []fxChunk // chunk files in seq order; the last one is active
	ord0   uint32    // ordinal of chunks[0]
	active *os.File  // last chunk, read-write; nil when there are no chunks
	last   IndexEntry
	floor  uint64   // entries below floor are trimmed
	wbuf   []byte   // encoded entries of one write
	crcs   []uint32 // their checksums
	dirty  bool     // files were created or removed since the last Sync
	closed bool

	files fxFiles
	bufs  sync.Pool // *[]byte block read buffers
}

// fxCover is two closed intervals [lo[0], hi[0]] and [lo[1], hi[1]], with
// lo[0] <= hi[0] <= lo[1] <= hi[1], that contain every timestamp of a
// block or chunk.
type fxCover struct {
	lo, hi [2]int64
}

// fxBlock summarizes up to opts.blockEntries consecutive entries of one chunk.
type fxBlock struct {
	first, last uint64     // seqs of the first and last entry
	cover       [2]fxCover // by IndexTime
	preMax      [2]int64   // by IndexTime: maximum over this and all earlier blocks
	pos, n      uint32     // entries [pos, pos+n) of the chunk
	chunk       uint32     // chunk ordinal
}

// fxChunk is one chunk file.
type fxChunk struct {
	first      uint64
	ord        uint32
	n          uint32     // entries
	blk0, blk1 int        // absolute block numbers [blk0, blk1)
	cover      [2]fxCover // by IndexTime
	lastCRC    uint32     // checksum of the last entry
	sealed     bool       // its summary file is valid
}

// OpenIndex opens the index in dir, creating the directory if needed.
func OpenIndex(dir string) (*Index, error) {
	return openIndex(dir, fxDefaults)
}

func openIndex(dir string, o fxOptions) (*Index, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	x := &Index{dir: dir, opts: o}
	x.files.max = o.maxFiles
	x.files.m = make(map[uint32]*fxFile)

	var firsts []uint64
	chunkSet := map[uint64]bool{}
	var summaries []uint64
	var size int64
	for _, de := range des {
		name := de.Name()
		if first, ok := fxParseName(name, fxChunkExt); ok {
			firsts = append(firsts, first)
			chunkSet[first] = true
			if info, err := de.Info(); err == nil {
				size += info.Size()
			}
		} else if first, ok := fxParseName(name, fxSummaryExt); ok {
			summaries = append(summaries, first)
		}
	}
	for _, first := range summaries {
		if !chunkSet[first] {
			os.Remove(x.summaryPath(first))
		}
	}
	sort.Slice(firsts, func(i, j int) bool { return firsts[i] < firsts[j] })
	if n := size / fxEntrySize; n > 0 {
		x.blocks = make([]fxBlock, 0, n/int64(o.blockEntries)+int64(len(firsts))+16)
	}
	x.chunks = make([]fxChunk, 0, len(firsts)+16)

	for i, first := range firsts {
		if err := x.loadChunk(first, i == len(firsts)-1); err != nil {
			x.files.closeAll()
			return nil, err
		}
	}
	if len(x.chunks) > 0 {
		c := &x.chunks[len(x.chunks)-1]
		if x.active, err = os.OpenFile(x.chunkPath(c.first), os.O_RDWR, 0); err != nil {
			return nil, err
		}
	}
	return x, nil
}

// fxParseName parses "<20 digits><ext>".
func fxParseName(name, ext string) (uint64, bool) {
	digits, ok := strings.CutSuffix(name, ext)
	if !ok || len(digits) != fxNameDigits {
		return 0, false
	}
	v, err := strconv.ParseUint(digits, 10, 64)
	return v, err == nil
}

func (x *Index) chunkPath(first uint64) string {
	return filepath.Join(x.dir, fmt.Sprintf("%020d%s", first, fxChunkExt))
}

func (x *Index) summaryPath(first uint64) string {
	return filepath.Join(x.dir, fmt.Sprintf("%020d%s", first, fxSummaryExt))
}

func (x *Index) corrupt(first uint64, format string, args ...any) error {
	return &IndexCorruptError{File: x.chunkPath(first), Reason: fmt.Sprintf(format, args...)}
}

// loadChunk adds the chunk file starting at first to the summaries. The last
// chunk is repaired (torn tail truncated, removed when left empty); damage
// in any other chunk is an error.
func (x *Index) loadChunk(first uint64, isLast bool) error {
	path := x.chunkPath(first)
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	size := st.Size()
	var hdr [fxHeaderSize]byte
	if size >= fxHeaderSize {
		if _, err := f.ReadAt(hdr[:], 0); err != nil {
			return err
		}
	}
	if size < fxHeaderSize || hdr == [fxHeaderSize]byte{} {
		// A chunk whose header never reached the disk holds nothing.
		if isLast {
			x.dirty = true
			return os.Remove(path)
		}
		return x.corrupt(first, "missing header")
	}
	if string(hdr[:8]) != fxMagic {
		if string(hdr[:7]) == fxMagicPrefix {
			return fmt.Errorf("%w: %s is %q, this version reads %q", ErrIndexVersion, path, hdr[:8], fxMagic)
		}
		return x.corrupt(first, "bad magic %q", hdr[:8])
	}
	if s := binary.LittleEndian.Uint64(hdr[8:]); s != first {
		return x.corrupt(first, "header says first seq %d", s)
	}
	if len(x.chunks) > 0 && first <= x.last.Seq {
		return x.corrupt(first, "first seq %d not after previous chunk's last seq %d", first, x.last.Seq)
	}
	n := (size - fxHeaderSize) / fxEntrySize
	whole := (size-fxHeaderSize)%fxEntrySize == 0
	if n > math.MaxUint32 {
		return x.corrupt(first, "%d entries", n)
	}
	if whole && n > 0 && x.loadSummary(f, first, uint32(n)) {
		return nil
	}
	if !isLast {
		if !whole {
			return x.corrupt(first, "size %d is not a whole number of entries", size)
		}
		if n == 0 {
			return x.corrupt(first, "no entries")
		}
	}

	x.chunks = append(x.chunks, fxChunk{first: first, ord: x.ord0 + uint32(len(x.chunks)), blk0: x.blk0 + len(x.blocks)})
	c := &x.chunks[len(x.chunks)-1]
	c.blk1 = c.blk0
	good, reason, err := x.scanChunk(f, c, uint32(n))
	if err != nil {
		return err
	}
	if !isLast {
		if reason != "" {
			return x.corrupt(first, "%s", reason)
		}
		_ = x.writeSummary(c) // best effort: without it the next open scans again
		return nil
	}
	if good == uint32(n) && whole && good > 0 {
		return nil
	}
	x.dirty = true
	if good == 0 {
		x.chunks = x.chunks[:len(x.chunks)-1]
		return os.Remove(path)
	}
	return os.Truncate(path, fxHeaderSize+int64(good)*fxEntrySize)
}

// scanChunk verifies and summarizes the first n entries of c's file. It
// stops at the first damaged or out-of-order entry and says why.
func (x *Index) scanChunk(f *os.File, c *fxChunk, n uint32) (good uint32, reason string, err error) {
	const slab = 1024
	buf := make([]byte, slab*fxEntrySize)
	for good < n {
		k := min(n-good, slab)
		b := buf[:k*fxEntrySize]
		if _, err := f.ReadAt(b, fxHeaderSize+int64(good)*fxEntrySize); err != nil {
			return good, "", err
		}
		for i := range k {
			e, crc, ok := fxDecode(b[i*fxEntrySize:], c.first)
			switch {
			case !ok:
				return good, fmt.Sprintf("entry %d: checksum mismatch", good), nil
			case good == 0 && e.Seq != c.first:
				return good, fmt.Sprintf("entry 0: seq %d", e.Seq), nil
			case good > 0 && e.Seq <= x.last.Seq:
				return good, fmt.Sprintf("entry %d: seq %d not after %d", good, e.Seq, x.last.Seq), nil
			}
			x.addSummary(c, &e, crc)
			x.last = e
			good++
		}
	}
	return good, "", nil
}

// fxEncode writes e at b[:fxEntrySize] and returns its checksum.
func fxEncode(b []byte, e *IndexEntry, base uint64) uint32 {
	b = b[:fxEntrySize]
	binary.LittleEndian.PutUint32(b[0:], uint32(e.Seq-base))
	binary.LittleEndian.PutUint32(b[4:], e.Flags)
	binary.LittleEndian.PutUint64(b[8:], uint64(e.ServerTime))
	binary.LittleEndian.PutUint64(b[16:], uint64(e.ProducerTime))
	binary.LittleEndian.PutUint64(b[24:], uint64(e.Duration))
	binary.LittleEndian.PutUint32(b[32:], uint32(e.Size))
	copy(b[36:52], e.InitID[:])
	crc := crc32.Checksum(b[:fxEntryCRC], fxCRC)
	binary.LittleEndian.PutUint32(b[fxEntryCRC:], crc)
	return crc
}

// fxDecode reads the entry at b[:fxEntrySize] and verifies its checksum.
func fxDecode(b []byte, base uint64) (IndexEntry, uint32, bool) {
	b = b[:fxEntrySize]
	crc := binary.LittleEndian.Uint32(b[fxEntryCRC:])
	if crc32.Checksum(b[:fxEntryCRC], fxCRC) != crc {
		return IndexEntry{}, crc, false
	}
	e := IndexEntry{
		Seq:          base + uint64(binary.LittleEndian.Uint32(b[0:])),
		Flags:        binary.LittleEndian.Uint32(b[4:]),
		ServerTime:   int64(binary.LittleEndian.Uint64(b[8:])),
		ProducerTime: int64(binary.LittleEndian.Uint64(b[16:])),
		Duration:     int64(binary.LittleEndian.Uint64(b[24:])),
		Size:         int64(binary.LittleEndian.Uint32(b[32:])),
	}
	copy(e.InitID[:], b[36:52])
	return e, crc, true
}

// addSummary accounts for e, just written (or read) as entry c.n of chunk c,
// the last chunk.
func (x *Index) addSummary(c *fxChunk, e *IndexEntry, crc uint32) {
	ts := [2]int64{e.ServerTime, e.ProducerTime}
	if nb := len(x.blocks); nb > 0 && x.blk0+nb > c.blk0 && int(x.blocks[nb-1].n) < x.opts.blockEntries {
		b := &x.blocks[nb-1]
		b.last = e.Seq
		b.n++
		for t, v := range ts {
			b.cover[t].add(v)
			b.preMax[t] = max(b.preMax[t], v)
		}
	} else {
		b := fxBlock{first: e.Seq, last: e.Seq, pos: c.n, n: 1, chunk: c.ord, preMax: ts}
		for t, v := range ts {
			b.cover[t] = fxPoint(v)
			if nb > 0 {
				b.preMax[t] = max(b.preMax[t], x.blocks[nb-1].preMax[t])
			}
		}
		x.blocks = append(x.blocks, b)
		c.blk1 = x.blk0 + len(x.blocks)
	}
	for t, v := range ts {
		if c.n == 0 {
			c.cover[t] = fxPoint(v)
		} else {
			c.cover[t].add(v)
		}
	}
	c.n++
	c.lastCRC = crc
}

func fxPoint(v int64) fxCover { return fxCover{lo: [2]int64{v, v}, hi: [2]int64{v, v}} }

// fxGap is b - a for a <= b, without overflow.
func fxGap(a, b int64) uint64 { return uint64(b) - uint64(a) }

// add extends the cover to contain v, merging across the smallest gap.
func (c *fxCover) add(v int64) {
	switch {
	case v >= c.lo[1]:
		if v <= c.hi[1] {
			return
		}
		if fxGap(c.hi[1], v) <= fxGap(c.hi[0], c.lo[1]) {
			c.hi[1] = v
		} else { // [lo0, hi1] [v, v]
			c.hi[0], c.lo[1], c.hi[1] = c.hi[1], v, v
		}
	case v <= c.hi[0]:
		if v >= c.lo[0] {
			return
		}
		if fxGap(v, c.lo[0]) <= fxGap(c.hi[0], c.lo[1]) {
			c.lo[0] = v
		} else { // [v, v] [lo0, hi1]
			c.lo[1], c.lo[0], c.hi[0] = c.lo[0], v, v
		}
	default: // hi0 < v < lo1
		if fxGap(c.hi[0], v) <= fxGap(v, c.lo[1]) {
			c.hi[0] = v
		} else {
			c.lo[1] = v
		}
	}
}

// union extends the cover to contain o.
func (c *fxCover) union(o fxCover) {
	iv := [4][2]int64{{c.lo[0], c.hi[0]}, {c.lo[1], c.hi[1]}, {o.lo[0], o.hi[0]}, {o.lo[1], o.hi[1]}}
	sort.Slice(iv[:], func(i, j int) bool { return iv[i][0] < iv[j][0] })
	m := iv[:1]
	for _, v := range iv[1:] {
		if l := &m[len(m)-1]; v[0] <= l[1] {
			l[1] = max(l[1], v[1])
		} else {
			m = append(m, v)
		}
	}
	for len(m) > 2 {
		best := 0
		for i := 1; i < len(m)-1; i++ {
			if fxGap(m[i][1], m[i+1][0]) < fxGap(m[best][1], m[best+1][0]) {
				best = i
			}
		}
		m[best][1] = m[best+1][1]
		m = append(m[:best+1], m[best+2:]...)
	}
	if len(m) == 1 {
		m = append(m, m[0])
	}
	*c = fxCover{lo: [2]int64{m[0][0], m[1][0]}, hi: [2]int64{m[0][1], m[1][1]}}
}

func (c *fxCover) overlaps(start, end int64) bool {
	return c.lo[0] <= end && c.hi[0] >= start || c.lo[1] <= end && c.hi[1] >= start
}

func (c *fxCover) valid() bool {
	return c.lo[0] <= c.hi[0] && c.hi[0] <= c.lo[1] && c.lo[1] <= c.hi[1]
}

func fxPutCover(b []byte, c *fxCover) []byte {
	for i := range 2 {
		b = binary.LittleEndian.AppendUint64(b, uint64(c.lo[i]))
		b = binary.LittleEndian.AppendUint64(b, uint64(c.hi[i]))
	}
	return b
}

func fxGetCover(b []byte) fxCover {
	var c fxCover
	for i := range 2 {
		c.lo[i] = int64(binary.LittleEndian.Uint64(b[16*i:]))
		c.hi[i] = int64(binary.LittleEndian.Uint64(b[16*i+8:]))
	}
	return c
}

// writeSummary writes c's summary file and marks c sealed. It does not sync:
// a torn summary fails its checksum and the chunk is scanned instead.
func (x *Index) writeSummary(c *fxChunk) error {
	blocks := x.blocks[c.blk0-x.blk0 : c.blk1-x.blk0]
	b := make([]byte, 0, fxSummaryHeaderSize+len(blocks)*fxSummaryBlockSize+4)
	b = append(b, fxSummaryMagic...)
	b = binary.LittleEndian.AppendUint64(b, c.first)
	b = binary.LittleEndian.AppendUint32(b, c.n)
	b = binary.LittleEndian.AppendUint32(b, c.lastCRC)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(blocks)))
	b = binary.LittleEndian.AppendUint32(b, 0)
	b = fxPutCover(b, &c.cover[IndexServerTime])
	b = fxPutCover(b, &c.cover[IndexProducerTime])
	for i := range blocks {
		bl := &blocks[i]
		b = binary.LittleEndian.AppendUint64(b, bl.first)
		b = binary.LittleEndian.AppendUint64(b, bl.last)
		b = binary.LittleEndian.AppendUint32(b, bl.pos)
		b = binary.LittleEndian.AppendUint32(b, bl.n)
		b = fxPutCover(b, &bl.cover[IndexServerTime])
		b = fxPutCover(b, &bl.cover[IndexProducerTime])
	}
	b = binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, fxCRC))
	if err := os.WriteFile(x.summaryPath(c.first), b, 0o644); err != nil {
		return err
	}
	c.sealed = true
	x.dirty = true
	return nil
}

// loadSummary adds the chunk starting at first, holding n entries, from its
// summary file. It reports false when the summary is missing, damaged or
// does not describe the chunk file f.
func (x *Index) loadSummary(f *os.File, first uint64, n uint32) bool {
	b, err := os.ReadFile(x.summaryPath(first))
	if err != nil || len(b) < fxSummaryHeaderSize+4 {
		return false
	}
	body := b[:len(b)-4]
	if crc32.Checksum(body, fxCRC) != binary.LittleEndian.Uint32(b[len(b)-4:]) || string(b[:8]) != fxSummaryMagic {
		return false
	}
	nb := int(binary.LittleEndian.Uint32(b[24:]))
	if binary.LittleEndian.Uint64(b[8:]) != first || binary.LittleEndian.Uint32(b[16:]) != n ||
		nb == 0 || len(body) != fxSummaryHeaderSize+nb*fxSummaryBlockSize {
		return false
	}
	c := fxChunk{
		first:   first,
		ord:     x.ord0 + uint32(len(x.chunks)),
		n:       n,
		lastCRC: binary.LittleEndian.Uint32(b[20:]),
		blk0:    x.blk0 + len(x.blocks),
		blk1:    x.blk0 + len(x.blocks) + nb,
		sealed:  true,
	}
	c.cover[IndexServerTime] = fxGetCover(b[32:])
	c.cover[IndexProducerTime] = fxGetCover(b[32+fxCoverSize:])
	blocks := make([]fxBlock, nb)
	var pos uint32
	prev := first - 1
	for i := range blocks {
		p := b[fxSummaryHeaderSize+i*fxSummaryBlockSize:]
		bl := fxBlock{
			first: binary.LittleEndian.Uint64(p),
			last:  binary.LittleEndian.Uint64(p[8:]),
			pos:   binary.LittleEndian.Uint32(p[16:]),
			n:     binary.LittleEndian.Uint32(p[20:]),
			chunk: c.ord,
		}
		bl.cover[IndexServerTime] = fxGetCover(p[24:])
		bl.cover[IndexProducerTime] = fxGetCover(p[24+fxCoverSize:])
		if bl.pos != pos || bl.n == 0 || bl.first <= prev || bl.last < bl.first ||
			bl.last-bl.first < uint64(bl.n-1) || bl.last-first > math.MaxUint32 ||
			!bl.cover[0].valid() || !bl.cover[1].valid() {
			return false
		}
		pos += bl.n
		prev = bl.last
		blocks[i] = bl
	}
	if pos != n || blocks[0].first != first || !c.cover[0].valid() || !c.cover[1].valid() {
		return false
	}
	var eb [fxEntrySize]byte
	if _, err := f.ReadAt(eb[:], fxHeaderSize+int64(n-1)*fxEntrySize); err != nil {
		return false
	}
	e, crc, ok := fxDecode(eb[:], first)
	if !ok || crc != c.lastCRC || e.Seq != prev {
		return false
	}

	for i := range blocks {
		bl := &blocks[i]
		bl.preMax = [2]int64{bl.cover[0].hi[1], bl.cover[1].hi[1]}
		if len(x.blocks) > 0 {
			p := &x.blocks[len(x.blocks)-1]
			bl.preMax = [2]int64{max(bl.preMax[0], p.preMax[0]), max(bl.preMax[1], p.preMax[1])}
		}
		x.blocks = append(x.blocks, *bl)
	}
	x.chunks = append(x.chunks, c)
	x.last = e
	return true
}

// Append adds entries, whose seqs must increase strictly and exceed the
// last appended seq (gaps are allowed; seq 0 is not). Either all entries are
// validated or none is written. Entries that fit the current chunk go out in
// one write (up to 16384 entries); a full chunk is synced and sealed before
// the next one starts.
func (x *Index) Append(entries ...IndexEntry) error {
	if len(entries) == 0 {
		return nil
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.closed {
		return ErrIndexClosed
	}
	prev, has := x.last.Seq, len(x.blocks) > 0
	for i := range entries {
		e := &entries[i]
		if e.Seq == 0 || has && e.Seq <= prev {
			return fmt.Errorf("%w: seq %d after %d", ErrIndexOrder, e.Seq, prev)
		}
		if e.Size < 0 || e.Size > math.MaxUint32 {
			return fmt.Errorf("fragments: index entry %d: size %d out of range", e.Seq, e.Size)
		}
		prev, has = e.Seq, true
	}
	for len(entries) > 0 {
		if err := x.prepareChunk(entries[0].Seq); err != nil {
			return err
		}
		c := &x.chunks[len(x.chunks)-1]
		k := 0
		for k < len(entries) && k < fxMaxWrite && int(c.n)+k < x.opts.chunkEntries && entries[k].Seq-c.first <= math.MaxUint32 {
			k++
		}
		if cap(x.wbuf) < k*fxEntrySize {
			x.wbuf = make([]byte, k*fxEntrySize)
			x.crcs = make([]uint32, k)
		}
		b, crcs := x.wbuf[:k*fxEntrySize], x.crcs[:k]
		for i := range k {
			crcs[i] = fxEncode(b[i*fxEntrySize:], &entries[i], c.first)
		}
		off := fxHeaderSize + int64(c.n)*fxEntrySize
		if _, err := x.active.WriteAt(b, off); err != nil {
			_ = x.active.Truncate(off) // best effort: OpenIndex cuts a torn tail anyway
			return err
		}
		for i := range k {
			x.addSummary(c, &entries[i], crcs[i])
		}
		x.last = entries[k-1]
		entries = entries[k:]
	}
	return nil
}

// prepareChunk makes the last chunk ready to take seq: it starts a new chunk
// when there is none, the last one is full, or seq is beyond its 32-bit
// delta, and it invalidates the summary of a sealed chunk that grows.
func (x *Index) prepareChunk(seq uint64) error {
	if n := len(x.chunks); n > 0 && x.chunks[n-1].n == 0 && x.chunks[n-1].first != seq {
		// Left empty by a failed write: start it again at seq.
		c := x.chunks[n-1]
		if err := x.removeChunk(&c); err != nil {
			return err
		}
		x.chunks = x.chunks[:n-1]
		if err := x.openActive(); err != nil {
			return err
		}
	}
	if n := len(x.chunks); n > 0 {
		c := &x.chunks[n-1]
		if int(c.n) < x.opts.chunkEntries && seq-c.first <= math.MaxUint32 {
			if c.sealed {
				if err := os.Remove(x.summaryPath(c.first)); err != nil && !errors.Is(err, os.ErrNotExist) {
					return err
				}
				c.sealed = false
				x.dirty = true
			}
			return nil
		}
	}
	// Seal first: every chunk but the last is then synced, and a crash
	// never leaves an older chunk with a torn tail.
	if n := len(x.chunks); n > 0 {
		if err := x.seal(&x.chunks[n-1]); err != nil {
			return err
		}
	}
	path := x.chunkPath(seq)
	os.Remove(x.summaryPath(seq))
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	var hdr [fxHeaderSize]byte
	copy(hdr[:], fxMagic)
	binary.LittleEndian.PutUint64(hdr[8:], seq)
	if _, err := f.WriteAt(hdr[:], 0); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	if x.active != nil {
		x.active.Close()
	}
	x.active = f
	x.dirty = true
	nb := x.blk0 + len(x.blocks)
	x.chunks = append(x.chunks, fxChunk{first: seq, ord: x.ord0 + uint32(len(x.chunks)), blk0: nb, blk1: nb})
	return nil
}

// seal syncs the active chunk c and writes its summary.
func (x *Index) seal(c *fxChunk) error {
	if c.sealed {
		return nil
	}
	if err := x.active.Sync(); err != nil {
		return err
	}
	return x.writeSummary(c)
}

// Bounds returns the retained sequence range [first, next): next is one
// past the last appended entry and first is the larger of the trim point
// (TrimBefore) and the first entry. first == next means no entry is
// visible; (0, 0) means the index holds no entries at all (new, reset by the tests, or
// everything truncated). The trim point is not persisted: after OpenIndex,
// first is the first entry of the oldest chunk until the owner calls
// TrimBefore again.
func (x *Index) Bounds() (first, next uint64) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if len(x.blocks) == 0 {
		return 0, 0
	}
	next = x.last.Seq + 1
	first = max(x.blocks[0].first, x.floor)
	return min(first, next), next
}

// Last returns the last appended entry, unless there is none or it is
// trimmed.
func (x *Index) Last() (IndexEntry, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if x.closed || len(x.blocks) == 0 || x.last.Seq < x.floor {
		return IndexEntry{}, false
	}
	return x.last, true
}

// Lookup returns the entry with sequence seq. It reports false when there is
// none, it is trimmed, or its record cannot be read or fails its checksum
// (Range reports such errors).
func (x *Index) Lookup(seq uint64) (IndexEntry, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if x.closed || seq < x.floor || len(x.blocks) == 0 {
		return IndexEntry{}, false
	}
	i := sort.Search(len(x.blocks), func(i int) bool { return x.blocks[i].last >= seq })
	if i == len(x.blocks) || x.blocks[i].first > seq {
		return IndexEntry{}, false
	}
	b := &x.blocks[i]
	c := &x.chunks[b.chunk-x.ord0]
	pos, n := b.pos, b.n
	if b.last-b.first == uint64(b.n-1) { // no gaps: seq is at a known position
		pos, n = b.pos+uint32(seq-b.first), 1
	}
	bufp := x.getBuf(n)
	defer x.bufs.Put(bufp)
	raw, err := x.read(c, pos, n, *bufp)
	if err != nil {
		return IndexEntry{}, false
	}
	j := sort.Search(int(n), func(j int) bool {
		return c.first+uint64(binary.LittleEndian.Uint32(raw[j*fxEntrySize:])) >= seq
	})
	if j == int(n) {
		return IndexEntry{}, false
	}
	e, _, ok := fxDecode(raw[j*fxEntrySize:], c.first)
	if !ok || e.Seq != seq {
		return IndexEntry{}, false
	}
	return e, true
}

// Range returns, in sequence order, up to limit entries (all when limit <= 0)
// with Seq >= fromSeq whose time of kind t lies in [start, end], both
// inclusive. next is the Seq of the next matching entry, to pass as fromSeq
// for the following page, or 0 when there is none.
func (x *Index) Range(t IndexTime, start, end int64, fromSeq uint64, limit int) (entries []IndexEntry, next uint64, err error) {
	if t != IndexServerTime && t != IndexProducerTime {
		return nil, 0, fmt.Errorf("fragments: index: unknown time kind %v", t)
	}
	x.mu.RLock()
	defer x.mu.RUnlock()
	if x.closed {
		return nil, 0, ErrIndexClosed
	}
	if start > end || len(x.blocks) == 0 {
		return nil, 0, nil
	}
	from := max(fromSeq, x.floor)
	blocks := x.blocks
	i := max(
		sort.Search(len(blocks), func(i int) bool { return blocks[i].last >= from }),
		sort.Search(len(blocks), func(i int) bool { return blocks[i].preMax[t] >= start }),
	)
	off := 8 + 8*int(t) // of the time field in an entry
	var bufp *[]byte
	defer func() {
		if bufp != nil {
			x.bufs.Put(bufp)
		}
	}()
	if i == len(blocks) {
		return nil, 0, nil
	}
	// Walk chunk summaries (sequential in memory), and the block summaries
	// of chunks whose cover overlaps.
	ci := int(blocks[i].chunk - x.ord0)
	var c *fxChunk
	for i < len(blocks) {
		if c == nil || i == c.blk1-x.blk0 {
			if c != nil {
				ci++
			}
			c = &x.chunks[ci]
			if !c.cover[t].overlaps(start, end) {
				i = c.blk1 - x.blk0
				continue
			}
		}
		b := &blocks[i]
		i++
		if !b.cover[t].overlaps(start, end) {
			continue
		}
		pos, n := b.pos, b.n
		if from > b.first && b.last-b.first == uint64(b.n-1) { // no gaps: skip to from
			skip := uint32(min(from-b.first, uint64(b.n)))
			pos, n = pos+skip, n-skip
		}
		if bufp == nil {
			bufp = x.getBuf(uint32(x.opts.blockEntries))
		}
		raw, err := x.read(c, pos, n, *bufp)
		if err != nil {
			return nil, 0, err
		}
		for j := range int(n) {
			p := raw[j*fxEntrySize : (j+1)*fxEntrySize]
			if crc32.Checksum(p[:fxEntryCRC], fxCRC) != binary.LittleEndian.Uint32(p[fxEntryCRC:]) {
				return nil, 0, x.corrupt(c.first, "entry %d: checksum mismatch", pos+uint32(j))
			}
			seq := c.first + uint64(binary.LittleEndian.Uint32(p))
			v := int64(binary.LittleEndian.Uint64(p[off:]))
			if seq < from || v < start || v > end {
				continue
			}
			if limit > 0 && len(entries) == limit {
				return entries, seq, nil
			}
			if entries == nil {
				entries = make([]IndexEntry, 0, min(max(limit, 16), 1024))
			}
			e, _, _ := fxDecode(p, c.first)
			entries = append(entries, e)
		}
	}
	return entries, 0, nil
}

func (x *Index) getBuf(n uint32) *[]byte {
	need := int(n) * fxEntrySize
	if p, ok := x.bufs.Get().(*[]byte); ok && cap(*p) >= need {
		return p
	}
	b := make([]byte, max(need, x.opts.blockEntries*fxEntrySize))
	return &b
}

// read reads entries [pos, pos+n) of chunk c into buf. The caller holds mu.
func (x *Index) read(c *fxChunk, pos, n uint32, buf []byte) ([]byte, error) {
	if cap(buf) < int(n)*fxEntrySize {
		buf = make([]byte, int(n)*fxEntrySize)
	}
	b := buf[:int(n)*fxEntrySize]
	off := fxHeaderSize + int64(pos)*fxEntrySize
	var err error
	if c.ord == x.chunks[len(x.chunks)-1].ord {
		_, err = x.active.ReadAt(b, off)
	} else {
		var fl *fxFile
		if fl, err = x.files.acquire(c.ord, x.chunkPath(c.first)); err == nil {
			_, err = fl.f.ReadAt(b, off)
			x.files.release(fl)
		}
	}
	if errors.Is(err, io.EOF) {
		return nil, x.corrupt(c.first, "shorter than its %d entries", c.n)
	}
	return b, err
}

// Truncate drops the entries with Seq >= next, to reconcile the index with
// the log after a crash.
func (x *Index) Truncate(next uint64) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.closed {
		return ErrIndexClosed
	}
	if len(x.chunks) == 0 || next > x.last.Seq {
		return nil
	}
	for len(x.chunks) > 0 && x.chunks[len(x.chunks)-1].first >= next {
		c := x.chunks[len(x.chunks)-1]
		if err := x.removeChunk(&c); err != nil {
			return err
		}
		x.blocks = x.blocks[:c.blk0-x.blk0]
		x.chunks = x.chunks[:len(x.chunks)-1]
	}
	if len(x.chunks) == 0 {
		x.last = IndexEntry{}
		return nil
	}
	if err := x.openActive(); err != nil {
		return err
	}
	c := &x.chunks[len(x.chunks)-1]
	if c.sealed && x.blocks[len(x.blocks)-1].last >= next {
		if err := os.Remove(x.summaryPath(c.first)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		c.sealed = false
		x.dirty = true
	}
	lo := c.blk0 - x.blk0
	bi := lo + sort.Search(len(x.blocks)-lo, func(i int) bool { return x.blocks[lo+i].last >= next })
	if bi < len(x.blocks) {
		b := x.blocks[bi]
		raw, err := x.read(c, b.pos, b.n, nil)
		if err != nil {
			return err
		}
		var keep []IndexEntry
		var crcs []uint32
		for j := range int(b.n) {
			e, crc, ok := fxDecode(raw[j*fxEntrySize:], c.first)
			if !ok {
				return x.corrupt(c.first, "entry %d: checksum mismatch", b.pos+uint32(j))
			}
			if e.Seq >= next {
				break
			}
			keep, crcs = append(keep, e), append(crcs, crc)
		}
		if err := x.active.Truncate(fxHeaderSize + int64(b.pos+uint32(len(keep)))*fxEntrySize); err != nil {
			return err
		}
		x.blocks = x.blocks[:bi]
		c.n = b.pos
		c.blk1 = x.blk0 + bi
		if bi > lo { // else addSummary starts the cover afresh
			c.cover = x.blocks[lo].cover
			for _, bl := range x.blocks[lo+1:] {
				c.cover[0].union(bl.cover[0])
				c.cover[1].union(bl.cover[1])
			}
		}
		for j := range keep {
			x.addSummary(c, &keep[j], crcs[j])
		}
	}
	var eb [fxEntrySize]byte
	if _, err := x.active.ReadAt(eb[:], fxHeaderSize+int64(c.n-1)*fxEntrySize); err != nil {
		return err
	}
	e, crc, ok := fxDecode(eb[:], c.first)
	if !ok {
		return x.corrupt(c.first, "entry %d: checksum mismatch", c.n-1)
	}
	x.last, c.lastCRC = e, crc
	return nil
}

// openActive opens the last chunk read-write when the chunk that followed
// it has been removed.
func (x *Index) openActive() error {
	if x.active != nil || len(x.chunks) == 0 {
		return nil
	}
	c := &x.chunks[len(x.chunks)-1]
	x.files.drop(c.ord)
	f, err := os.OpenFile(x.chunkPath(c.first), os.O_RDWR, 0)
	if err != nil {
		return err
	}
	x.active = f
	return nil
}

// removeChunk closes and deletes c's files.
func (x *Index) removeChunk(c *fxChunk) error {
	if x.active != nil && c.ord == x.chunks[len(x.chunks)-1].ord {
		x.active.Close()
		x.active = nil
	}
	x.files.drop(c.ord)
	x.dirty = true
	if err := os.Remove(x.summaryPath(c.first)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := os.Remove(x.chunkPath(c.first)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// TrimBefore applies retention: entries with Seq < seq are no longer
// returned, and chunk files whose entries all precede seq are deleted.
// removed is the number of entries in the deleted files. The last chunk is
// never deleted (it holds the position for Append), only hidden. The trim
// point is kept in memory only; the owner applies it again after OpenIndex.
func (x *Index) TrimBefore(seq uint64) (removed int64, err error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.closed {
		return 0, ErrIndexClosed
	}
	x.floor = max(x.floor, seq)
	k := 0
	for k+1 < len(x.chunks) && x.chunks[k+1].first <= seq {
		c := &x.chunks[k]
		if err = x.removeChunk(c); err != nil {
			break
		}
		removed += int64(c.n)
		k++
	}
	if k == 0 {
		return removed, err
	}
	nb := x.chunks[k].blk0 - x.blk0
	x.blocks = x.blocks[:copy(x.blocks, x.blocks[nb:])]
	x.blk0 += nb
	x.chunks = x.chunks[:copy(x.chunks, x.chunks[k:])]
	x.ord0 += uint32(k)
	for i := range x.blocks {
		b := &x.blocks[i]
		b.preMax = [2]int64{b.cover[0].hi[1], b.cover[1].hi[1]}
		if i > 0 {
			p := &x.blocks[i-1]
			b.preMax = [2]int64{max(b.preMax[0], p.preMax[0]), max(b.preMax[1], p.preMax[1])}
		}
	}
	return removed, err
}

// Sync makes the appended entries and the directory durable.
func (x *Index) Sync() error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.closed {
		return ErrIndexClosed
	}
	if x.active != nil {
		if err := x.active.Sync(); err != nil {
			return err
		}
	}
	if x.dirty {
		d, err := os.Open(x.dir)
		if err != nil {
			return err
		}
		defer d.Close()
		if err := d.Sync(); err != nil {
			return err
		}
		x.dirty = false
	}
	return nil
}

// Close releases the files. It does not sync (see Sync).
func (x *Index) Close() error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.closed {
		return ErrIndexClosed
	}
	x.closed = true
	x.files.closeAll()
	if x.active != nil {
		return x.active.Close()
	}
	return nil
}

// fxFiles caches read-only descriptors of chunk files other than the last,
// evicting the least recently used one that no reader holds beyond max.
type fxFiles struct {
	mu   sync.Mutex
	max  int
	tick uint64
	m    map[uint32]*fxFile // by chunk ordinal
}

type fxFile struct {
	f    *os.File
	refs int
	used uint64
}

func (fs *fxFiles) acquire(ord uint32, path string) (*fxFile, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.tick++
	if fl := fs.m[ord]; fl != nil {
		fl.refs++
		fl.used = fs.tick
		return fl, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	fl := &fxFile{f: f, refs: 1, used: fs.tick}
	fs.m[ord] = fl
	fs.evictLocked()
	return fl, nil
}

func (fs *fxFiles) release(fl *fxFile) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fl.refs--
	fs.evictLocked()
}

func (fs *fxFiles) evictLocked() {
	for len(fs.m) > fs.max {
		var victim uint32
		var lru *fxFile
		for ord, fl := range fs.m {
			if fl.refs == 0 && (lru == nil || fl.used < lru.used) {
				victim, lru = ord, fl
			}
		}
		if lru == nil {
			return // all in use; evicted on release
		}
		lru.f.Close()
		delete(fs.m, victim)
	}
}

// drop closes the descriptor of chunk ord; no reader may hold it.
func (fs *fxFiles) drop(ord uint32) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fl := fs.m[ord]; fl != nil {
		fl.f.Close()
		delete(fs.m, ord)
	}
}

func (fs *fxFiles) closeAll() {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for ord, fl := range fs.m {
		fl.f.Close()
		delete(fs.m, ord)
	}
}
