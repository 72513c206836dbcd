package events

import (
	"cmp"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eddy-video/eddy/datastreams"
	"github.com/eddy-video/eddy/datastreams/atomicfile"
	"github.com/eddy-video/eddy/datastreams/logstore"
)

// The index on disk, in the event stream's directory:
//
//	timeline/FORMAT               "eddy-timeline 1"; another content rebuilds the index
//	timeline/indexed              8 bytes: the sequence below which every record is indexed
//	timeline/YYYY/MM/DD/HHMM.ev   the events that overlap that UTC quarter-hour (HHMM: 0000, 0015, …)
//
// A quarter-bucket file is a sequence of entries, each
//
//	crc32c(payload) u32 | len(payload) u32 | payload
//	payload: start i64 | end i64 | seq u64 | len(type) u8 | len(label) u16 | type | label | event JSON
//
// in arrival order; a reader sorts them by (start, seq) and drops repeats
// of one sequence (a record indexed again after a crash). An event is
// written to every quarter-hour it overlaps (at most 97, as its duration
// is at most 24 hours), so a range read opens only the files of its range.
// TimelineDir is the directory, inside an events stream's directory, of
// its timeline index: derived data, rebuilt from the events log (the
// object-storage tier does not copy it).
const TimelineDir = "timeline"

const (
	dirName    = TimelineDir
	formatName = "FORMAT"
	formatText = "eddy-timeline 1\n"
	watermark  = "indexed"
	// bucketNs is the span of one file: a quarter of an hour, so a page
	// of a busy stream reads a small file and a long event few of them.
	bucketNs     = int64(15 * time.Minute)
	entryHeader  = 8
	payloadFixed = 8 + 8 + 8 + 1 + 2
	// catchUpMargin is how many records before the watermark are indexed
	// again on open: the watermark and the index files are not fsynced (the
	// log is; the index is derived from it), so after a power loss the
	// watermark may have reached the disk and index pages before it not.
	catchUpMargin = 4096
	// cacheBytes bounds the memory of the buckets kept decoded (their files'
	// bytes and entryOverhead per entry).
	cacheBytes    = 256 << 20
	entryOverhead = 40
	openFiles     = 8
	// trimReads bounds the bucket files one Trim reads to learn their
	// highest sequence.
	trimReads = 64
	// flushEvery is how often the index files written are synced and the
	// watermark written after them (and at Close); and how long the
	// watermark may stand still below the log's end before the records
	// from it are indexed again (an index write failed, or a Put raced
	// the timeline's open).
	flushEvery = time.Second
	// syncCatchUp is the most records Open indexes before it returns (a
	// restart's margin and the records since the last flush); the rest of
	// a longer catch-up (a timeline rebuilt from a long log, as after a
	// restore) goes on in the background.
	syncCatchUp = 2 * catchUpMargin
	// bgRecords and bgBytes bound a batch of the background catch-up:
	// Close waits for the batch being read (a cold read is not
	// cancellable).
	bgRecords = 200
	bgBytes   = 2 << 20
	// retryFirst and retryMax bound the wait between tries of a
	// background catch-up that failed (doubling from the first).
	retryFirst = time.Second
	retryMax   = time.Minute
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Query is a range read of a timeline.
type Query struct {
	// From and To bound the range in producer time, Unix ns: the events
	// that overlap [From, To) (see Event.Overlaps).
	From, To int64
	// Types and Labels keep the events whose type (label) is one of them;
	// empty keeps all.
	Types, Labels []string
	// Limit is the most events returned (0: DefaultLimit; at most MaxLimit).
	Limit int
	// After is a page token from an earlier Page.Next of the same range.
	After string
	// Raw returns the events as their JSON (Page.Raw), not decoded: what
	// a reader that only passes them on (the REST API) wants.
	Raw bool
}

// Page limits. A page ends at Limit events or after the event that
// brings its events' JSON to MaxPageBytes, whichever comes first (a page
// may hold fewer than Limit events and still have a Next).
const (
	DefaultLimit = 1000
	MaxLimit     = 10000
	MaxPageBytes = 4 << 20
)

// Page is one page of a range read, in time order (start, then ID).
type Page struct {
	Events []Event
	// Raw holds the events' JSON (the form of Event) instead of Events
	// when the query asked for it.
	Raw []json.RawMessage
	// Next is the token of the next page; empty when this is the last.
	Next string
}

// entry is one event of a decoded bucket: its times and sequence, and where
// its type, label and JSON lie in the bucket's data. It holds no pointers,
// so the garbage collector does not scan a bucket's entries.
type entry struct {
	start, end int64
	seq        uint64
	off        uint64 // of the type in the data; the label follows, then the JSON
	bl         uint32
	ll         uint16
	tl         uint8
}

func (e *entry) typ(d []byte) []byte { return d[e.off : e.off+uint64(e.tl)] }

func (e *entry) label(d []byte) []byte {
	o := e.off + uint64(e.tl)
	return d[o : o+uint64(e.ll)]
}

// body is capped at its end, so an append to it never writes into the
// bucket's data.
func (e *entry) body(d []byte) []byte {
	o := e.off + uint64(e.tl) + uint64(e.ll)
	return d[o : o+uint64(e.bl) : o+uint64(e.bl)]
}

func (e *entry) after(start int64, seq uint64) bool {
	return e.start > start || (e.start == start && e.seq > seq)
}

type bucket struct {
	data    []byte  // the bucket file as read, then the payloads inserted since
	entries []entry // sorted by (start, seq), one per seq
	bytes   int     // memory held, for the cache's budget
	used    uint64
}

// Timeline is the event index of one event stream. Open it with Open; it
// installs itself as the stream's PutHook, so records written by any
// client are checked against the schema and indexed before the write is
// acknowledged.
type Timeline struct {
	stream *datastreams.Stream
	shard  *datastreams.Shard
	dir    string
	log    *slog.Logger

	mu      sync.Mutex
	buckets []int64 // quarter-hours (bucketOf) with a file, sorted
	cache   map[int64]*bucket
	cached  int // bytes held by cache
	tick    uint64
	files   map[int64]*os.File
	fileUse map[int64]uint64
	wgen    map[int64]uint64 // writes per bucket, so a load outside the lock sees one it raced with
	maxSeq  map[int64]uint64 // the highest sequence in a bucket's file, where known (Trim)
	// dirty holds the files written since the last flush, and the
	// directories made for new ones, to be synced before the watermark.
	dirty     map[int64]*os.File
	dirtyDirs map[string]bool
	stop      chan struct{}
	flusher   sync.WaitGroup
	// catching is set while a background catch-up runs (catcher waits
	// for it at Close).
	catching atomic.Bool
	catcher  sync.WaitGroup
	subs     map[*Subscription]struct{}
	changed  chan struct{}
	closed   bool

	// The watermark: every record below low has been through the index
	// (Puts finish in any order, so done holds the finished ranges above
	// low, sorted and merged); the file holds what the last flush wrote.
	wmu  sync.Mutex
	wm   *os.File
	low  uint64
	done [][2]uint64
	// wmLast is what the last flush wrote (wmSet once one has): a flush
	// with the watermark where it was writes nothing.
	wmLast uint64
	wmSet  bool

	indexed atomic.Uint64
	refused atomic.Uint64
	dropped atomic.Uint64
}

// Open opens (or builds) the timeline of the event stream s and installs
// it as the stream's PutHook.
//
// Open indexes again the records after the saved watermark (less a
// margin), at most syncCatchUp of them and only from local segments; a
// longer catch-up (a rebuild from the whole log), one that starts in a cold
// segment (LocalFrom), and one whose reads fail for want of the object
// store (logstore.ErrUnavailable) go on in the background, retried with a backoff of 1 s doubling to 1 min, until done
// or Close. Open never fails for want of the object store.
//
// While it runs (CatchingUp), the events Put after Open are indexed, told
// to live readers and returned by Query as always; older events that the
// catch-up has not reached yet are missing from Query and Count. The
// watermark stays below them, so a restart indexes them again.
func Open(s *datastreams.Stream, log *slog.Logger) (*Timeline, error) {
	if log == nil {
		log = slog.Default()
	}
	sh, err := s.Shard(0)
	if err != nil {
		return nil, err
	}
	t := &Timeline{stream: s, shard: sh, dir: filepath.Join(s.Dir(), dirName), log: log,
		cache: map[int64]*bucket{}, files: map[int64]*os.File{}, fileUse: map[int64]uint64{}, wgen: map[int64]uint64{},
		maxSeq: map[int64]uint64{}, dirty: map[int64]*os.File{}, dirtyDirs: map[string]bool{}, stop: make(chan struct{}),
		subs: map[*Subscription]struct{}{}, changed: make(chan struct{})}
	from, err := t.openDir()
	if err != nil {
		return nil, err
	}
	// Records before the log's first are gone: nothing to index there.
	first, _ := sh.Log().Bounds()
	t.low = max(from, first)
	s.SetPutHook(t)
	if from < LocalFrom(sh.Log()) {
		// Records in cold segments: read in the background (a restored
		// log's, all of them), not before the server listens.
		t.log.Info("event index: indexing the event log's cold segments in the background", "stream", t.stream.Name(), "from", from)
		t.startCatchUp(from, false, true)
		t.flusher.Add(1)
		go t.run()
		return t, nil
	}
	next, done, err := t.catchUp(from, syncCatchUp)
	switch {
	case errors.Is(err, logstore.ErrUnavailable):
		t.log.Warn("event index: waiting for object storage to index the event log; events put now are indexed at once, older ones once it answers",
			"stream", t.stream.Name(), "from", next, "err", err)
		t.startCatchUp(next, true, true)
	case err != nil:
		t.Close()
		return nil, err
	case !done:
		t.log.Info("event index: indexing the rest of the event log in the background", "stream", t.stream.Name(), "from", next)
		t.startCatchUp(next, false, true)
	}
	t.flusher.Add(1)
	go t.run()
	return t, nil
}

// CatchingUp reports whether a background catch-up runs: events from
// before Open (or from before a failed index write) may still be missing
// from Query.
func (t *Timeline) CatchingUp() bool { return t.catching.Load() }

// startCatchUp indexes the log from sequence from in the background,
// retrying with backoff, until it reaches the log's end or Close. warned
// tells that the wait for object storage was logged already; announce
// logs its end.
func (t *Timeline) startCatchUp(from uint64, warned, announce bool) {
	t.catching.Store(true)
	t.catcher.Add(1)
	go func() {
		defer t.catcher.Done()
		defer t.catching.Store(false)
		wait := retryFirst
		for {
			next, _, err := t.catchUp(from, 0)
			if next > from {
				wait = retryFirst // progress: the next failure waits from the start
			}
			from = next
			if err == nil {
				if t.stopped() {
					return
				}
				if warned || announce {
					t.log.Info("event index caught up with the event log", "stream", t.stream.Name(), "next", from)
				}
				return
			}
			if errors.Is(err, logstore.ErrUnavailable) {
				if !warned {
					t.log.Warn("event index: waiting for object storage to index the event log; events put now are indexed at once, older ones once it answers",
						"stream", t.stream.Name(), "from", from, "err", err)
					warned = true
				}
			} else {
				t.log.Error("event index: indexing from the log failed; tried again later", "stream", t.stream.Name(), "from", from, "retry", wait, "err", err)
			}
			select {
			case <-t.stop:
				return
			case <-time.After(wait):
			}
			wait = min(2*wait, retryMax)
		}
	}()
}

func (t *Timeline) stopped() bool {
	select {
	case <-t.stop:
		return true
	default:
		return false
	}
}

// openDir opens the index directory and returns the sequence to index
// from; a missing or foreign index is started over (from the log's start).
func (t *Timeline) openDir() (uint64, error) {
	b, err := os.ReadFile(filepath.Join(t.dir, formatName))
	fresh := err != nil || string(b) != formatText
	var from uint64
	if !fresh {
		w, err := os.ReadFile(filepath.Join(t.dir, watermark))
		_, next := t.shard.Log().Bounds()
		switch {
		case err != nil || len(w) != 8:
			fresh = true
		case binary.LittleEndian.Uint64(w) > next:
			// The index is ahead of the log: the log lost records it
			// had not synced yet (storage.sync: interval) and will give
			// their sequence numbers to new ones. Built again from it.
			fresh = true
			t.log.Warn("event index ahead of the log (records lost by a power loss?): rebuilding it", "stream", t.stream.Name())
		case binary.LittleEndian.Uint64(w) > catchUpMargin:
			from = binary.LittleEndian.Uint64(w) - catchUpMargin
		}
	}
	if fresh {
		if err := os.RemoveAll(t.dir); err != nil {
			return 0, err
		}
		if err := os.MkdirAll(t.dir, 0o755); err != nil {
			return 0, err
		}
		if err := os.WriteFile(filepath.Join(t.dir, formatName), []byte(formatText), 0o644); err != nil {
			return 0, err
		}
	}
	wm, err := os.OpenFile(filepath.Join(t.dir, watermark), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return 0, err
	}
	t.wm = wm
	if fresh {
		// A watermark from the start, at once: the events Put from now
		// on are in the index files before they are acknowledged, and a
		// kill before the first flush must find an index to keep, not
		// one without a watermark, rebuilt from the log in the background
		// while its events are missing from Query.
		if _, err := wm.WriteAt(make([]byte, 8), 0); err != nil {
			return 0, err
		}
	}
	// A trim's trash that a crash left behind.
	if old, _ := filepath.Glob(filepath.Join(t.dir, "trash-*")); len(old) > 0 {
		for _, d := range old {
			_ = os.RemoveAll(d)
		}
	}
	err = filepath.WalkDir(t.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Ext(p) != ".ev" {
			return err
		}
		rel, _ := filepath.Rel(t.dir, p)
		if h, ok := parseBucketPath(rel); ok {
			t.buckets = append(t.buckets, h)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	slices.Sort(t.buckets)
	return from, nil
}

// catchUp indexes the log's records from sequence from (again: what it
// finds indexed already is not duplicated, and live readers are not told),
// reading at most limit records (0: to the log's end) or until Close. It
// returns where it stopped and whether that is the log's end.
func (t *Timeline) catchUp(from uint64, limit int) (next uint64, done bool, err error) {
	read := 0
	for {
		if t.stopped() {
			return from, false, nil
		}
		if limit > 0 && read >= limit {
			if _, end := t.shard.Log().Bounds(); from < end {
				return from, false, nil
			}
		}
		n, size := 1000, 8<<20
		if limit == 0 { // in the background
			n, size = bgRecords, bgBytes
		}
		res, err := t.stream.Read(t.shard, from, n, size, false)
		if err != nil {
			return from, false, err
		}
		if len(res.Records) == 0 {
			return from, true, nil
		}
		read += len(res.Records)
		recs := make([]datastreams.CommittedRecord, len(res.Records))
		for i, r := range res.Records {
			recs[i] = datastreams.CommittedRecord{Seq: r.Seq, Time: r.Time, Data: r.Data}
		}
		if err := t.add(recs, false); err != nil {
			return from, false, err
		}
		// Records before the first read (trimmed away) count as done.
		t.mark(from, res.Next)
		from = res.Next
	}
}

// CheckRecord implements datastreams.PutHook: it refuses an event that
// breaks the schema.
func (t *Timeline) CheckRecord(data []byte, now time.Time) error {
	_, err := parse(data, now, true)
	var e *Error
	if errors.As(err, &e) {
		t.refused.Add(1)
		return &datastreams.Error{Kind: datastreams.KindInvalidArgument, Message: e.Message}
	}
	return nil
}

// Committed implements datastreams.PutHook: it indexes the events among
// durable records and tells the live readers.
func (t *Timeline) Committed(recs []datastreams.CommittedRecord) {
	if err := t.add(recs, true); err != nil {
		t.log.Error("event index write failed; the events are indexed again from the log after the next write that works", "stream", t.stream.Name(), "err", err)
	}
}

// add indexes the events among recs (records of shard 0); live tells the
// live readers of them (a record indexed again after a failure or at open
// is not news).
func (t *Timeline) add(recs []datastreams.CommittedRecord, live bool) error {
	var evs []Event
	for _, r := range recs {
		if r.Shard != 0 {
			continue
		}
		ev, err := parse(r.Data, time.Unix(0, r.Time), false)
		if err != nil {
			continue
		}
		ev.Seq = r.Seq
		ev.ID = datastreams.EncodeSeq(0, r.Seq)
		evs = append(evs, ev)
	}
	if len(evs) > 0 {
		t.mu.Lock()
		if t.closed {
			t.mu.Unlock()
			return nil
		}
		err := t.writeLocked(evs)
		if live {
			t.indexed.Add(uint64(len(evs)))
			t.notifyLocked(evs)
		}
		t.mu.Unlock()
		if err != nil {
			// Not marked: the watermark stays below these records, and
			// the flusher indexes them again from the log.
			return err
		}
	}
	// What failed above is not marked: the watermark stays below it.
	for i := 0; i < len(recs); {
		j := i + 1
		for j < len(recs) && recs[j].Seq == recs[j-1].Seq+1 {
			j++
		}
		t.mark(recs[i].Seq, recs[j-1].Seq+1)
		i = j
	}
	return nil
}

// mark records that the records [a, b) went through the index, and moves
// the watermark over every contiguous range done.
func (t *Timeline) mark(a, b uint64) {
	t.wmu.Lock()
	defer t.wmu.Unlock()
	if b <= t.low {
		return
	}
	// Insert [a, b) into done, merged with the ranges it touches.
	i, _ := slices.BinarySearchFunc(t.done, a, func(r [2]uint64, a uint64) int { return cmp.Compare(r[0], a) })
	if i > 0 && t.done[i-1][1] >= a {
		i--
		a = min(a, t.done[i][0])
	}
	j := i
	for j < len(t.done) && t.done[j][0] <= b {
		b = max(b, t.done[j][1])
		j++
	}
	t.done = slices.Replace(t.done, i, j, [2]uint64{a, b})
	for len(t.done) > 0 && t.done[0][0] <= t.low {
		t.low = max(t.low, t.done[0][1])
		t.done = t.done[1:]
	}
}

// flush syncs the index files written since the last flush (and the
// directories of new ones), then writes the watermark as it was before
// the sync: every record below it is in a file on disk.
func (t *Timeline) flush() {
	t.wmu.Lock()
	low := t.low
	t.wmu.Unlock()
	t.mu.Lock()
	files, dirs := t.dirty, t.dirtyDirs
	t.dirty, t.dirtyDirs = map[int64]*os.File{}, map[string]bool{}
	var err error
	for _, f := range files {
		if e := f.Sync(); e != nil && !errors.Is(e, os.ErrClosed) {
			err = e
		}
	}
	t.mu.Unlock()
	for d := range dirs {
		if e := atomicfile.SyncDir(d); e != nil {
			err = e
		}
	}
	if err != nil {
		t.log.Warn("event index sync", "stream", t.stream.Name(), "err", err)
		return
	}
	t.wmu.Lock()
	defer t.wmu.Unlock()
	t.writeWatermarkLocked(low)
}

// run flushes every flushEvery, and has the log indexed again from the
// watermark (in the background, startCatchUp) when it stood still below
// the log's end for a whole period and no catch-up runs (an index write
// failed; or a Put raced the timeline's open and went unchecked):
// indexing is idempotent, so this only fills holes.
func (t *Timeline) run() {
	defer t.flusher.Done()
	tick := time.NewTicker(flushEvery)
	defer tick.Stop()
	var last uint64
	for {
		select {
		case <-t.stop:
			return
		case <-tick.C:
		}
		t.flush()
		t.wmu.Lock()
		low := t.low
		t.wmu.Unlock()
		_, next := t.shard.Log().Bounds()
		if low == last && low < next && !t.catching.Load() {
			t.startCatchUp(low, false, false)
		}
		last = low
	}
}

func (t *Timeline) writeWatermarkLocked(low uint64) {
	if t.wm == nil || (t.wmSet && t.wmLast == low) {
		return
	}
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], low)
	if _, err := t.wm.WriteAt(b[:], 0); err != nil {
		t.log.Warn("event index watermark", "stream", t.stream.Name(), "err", err)
		return
	}
	t.wmLast, t.wmSet = low, true
}

func (t *Timeline) writeLocked(evs []Event) error {
	byHour := map[int64][]byte{}
	var order []int64
	for i := range evs {
		ev := &evs[i]
		body, err := json.Marshal(ev)
		if err != nil {
			return err
		}
		e := entry{start: ev.Start(), end: ev.End(), seq: ev.Seq}
		enc := encodeEntry(e.start, e.end, e.seq, ev.Type, ev.Label, body)
		for h := bucketOf(e.start); h <= bucketOf(max(e.start, e.end-1)); h++ {
			if _, ok := byHour[h]; !ok {
				order = append(order, h)
			}
			byHour[h] = append(byHour[h], enc...)
			if b := t.cache[h]; b != nil && b.insert(e, enc[entryHeader:]) {
				n := len(enc) + entryOverhead
				b.bytes += n
				t.cached += n
			}
			if m, known := t.maxSeq[h]; known {
				t.maxSeq[h] = max(m, e.seq)
			}
		}
	}
	for _, h := range order {
		f, err := t.fileLocked(h)
		if err != nil {
			return err
		}
		t.wgen[h]++
		t.dirty[h] = f
		if _, err := f.Write(byHour[h]); err != nil {
			return err
		}
	}
	t.evictLocked(-1)
	return nil
}

// insert adds the entry e with its payload (as encodeEntry frames it)
// unless the bucket holds it already, and reports which.
func (b *bucket) insert(e entry, payload []byte) bool {
	i, found := slices.BinarySearchFunc(b.entries, e, cmpEntry)
	if found {
		return false
	}
	e.tl, e.ll = payload[24], binary.LittleEndian.Uint16(payload[25:])
	e.off = uint64(len(b.data)) + payloadFixed
	e.bl = uint32(len(payload) - payloadFixed - int(e.tl) - int(e.ll))
	// Appending never moves bytes a page handed out still points to.
	b.data = append(b.data, payload...)
	b.entries = slices.Insert(b.entries, i, e)
	return true
}

func cmpEntry(a, b entry) int {
	switch {
	case a.start < b.start:
		return -1
	case a.start > b.start:
		return 1
	case a.seq < b.seq:
		return -1
	case a.seq > b.seq:
		return 1
	}
	return 0
}

func encodeEntry(start, end int64, seq uint64, typ, label string, body []byte) []byte {
	n := payloadFixed + len(typ) + len(label) + len(body)
	b := make([]byte, entryHeader, entryHeader+n)
	b = binary.LittleEndian.AppendUint64(b, uint64(start))
	b = binary.LittleEndian.AppendUint64(b, uint64(end))
	b = binary.LittleEndian.AppendUint64(b, seq)
	b = append(b, byte(len(typ)))
	b = binary.LittleEndian.AppendUint16(b, uint16(len(label)))
	b = append(b, typ...)
	b = append(b, label...)
	b = append(b, body...)
	binary.LittleEndian.PutUint32(b[0:], crc32.Checksum(b[entryHeader:], castagnoli))
	binary.LittleEndian.PutUint32(b[4:], uint32(n))
	return b
}

// decodeEntries reads the entries of an bucket file. A torn or damaged
// entry (a crash mid-write; the records are indexed again from the log at
// the next open, after it) is skipped: decoding resumes at the next offset
// where a whole entry's checksum holds. It returns the bytes skipped.
func decodeEntries(b []byte) ([]entry, int) {
	out := make([]entry, 0, len(b)/160)
	off, skipped := 0, 0
	for len(b)-off >= entryHeader {
		e, n, ok := decodeEntry(b, off)
		if !ok {
			off++
			skipped++
			continue
		}
		out = append(out, e)
		off += n
	}
	return out, skipped + len(b) - off
}

// decodeEntry reads the entry at b[off:].
func decodeEntry(b []byte, off int) (entry, int, bool) {
	sum := binary.LittleEndian.Uint32(b[off:])
	n := int(binary.LittleEndian.Uint32(b[off+4:]))
	if n < payloadFixed || n > len(b)-off-entryHeader {
		return entry{}, 0, false
	}
	p := b[off+entryHeader : off+entryHeader+n]
	if crc32.Checksum(p, castagnoli) != sum {
		return entry{}, 0, false
	}
	tl, ll := int(p[24]), int(binary.LittleEndian.Uint16(p[25:]))
	if payloadFixed+tl+ll > n {
		return entry{}, 0, false
	}
	return entry{
		start: int64(binary.LittleEndian.Uint64(p)),
		end:   int64(binary.LittleEndian.Uint64(p[8:])),
		seq:   binary.LittleEndian.Uint64(p[16:]),
		off:   uint64(off + entryHeader + payloadFixed),
		tl:    uint8(tl),
		ll:    uint16(ll),
		bl:    uint32(n - payloadFixed - tl - ll),
	}, entryHeader + n, true
}

func bucketOf(ns int64) int64 {
	h := ns / bucketNs
	if ns < 0 && ns%bucketNs != 0 {
		h--
	}
	return h
}

func bucketPath(h int64) string {
	t := time.Unix(0, h*bucketNs).UTC()
	return filepath.Join(fmt.Sprintf("%04d", t.Year()), fmt.Sprintf("%02d", int(t.Month())), fmt.Sprintf("%02d", t.Day()), fmt.Sprintf("%02d%02d.ev", t.Hour(), t.Minute()))
}

func parseBucketPath(rel string) (int64, bool) {
	t, err := time.Parse("2006/01/02/1504.ev", filepath.ToSlash(rel))
	if err != nil || t.UnixNano()%bucketNs != 0 {
		return 0, false
	}
	return t.UnixNano() / bucketNs, true
}

func (t *Timeline) fileLocked(h int64) (*os.File, error) {
	t.tick++
	if f := t.files[h]; f != nil {
		t.fileUse[h] = t.tick
		return f, nil
	}
	if len(t.files) >= openFiles {
		oldest, first := int64(0), true
		for k := range t.files {
			if first || t.fileUse[k] < t.fileUse[oldest] {
				oldest, first = k, false
			}
		}
		if t.dirty[oldest] != nil {
			// Synced before it closes: the next flush's watermark covers it.
			_ = t.files[oldest].Sync()
			delete(t.dirty, oldest)
		}
		_ = t.files[oldest].Close()
		delete(t.files, oldest)
		delete(t.fileUse, oldest)
	}
	p := filepath.Join(t.dir, bucketPath(h))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return nil, err
	}
	// The file's directory entry (and those of directories just made)
	// are synced with the next flush.
	for d := filepath.Dir(p); d != t.dir && len(d) > len(t.dir); d = filepath.Dir(d) {
		t.dirtyDirs[d] = true
	}
	t.dirtyDirs[t.dir] = true
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if i, found := slices.BinarySearch(t.buckets, h); !found {
		t.buckets = slices.Insert(t.buckets, i, h)
	}
	t.files[h] = f
	t.fileUse[h] = t.tick
	return f, nil
}

// bucketLocked returns bucket h's entries, loading them when not cached.
// It reads the file without the lock (so writers are not held up by a
// cold read) and installs it only if no write reached the bucket meanwhile.
func (t *Timeline) bucketLocked(h int64) (*bucket, error) {
	for attempt := 0; ; attempt++ {
		t.tick++
		if b := t.cache[h]; b != nil {
			b.used = t.tick
			return b, nil
		}
		gen := t.wgen[h]
		p := filepath.Join(t.dir, bucketPath(h))
		var data []byte
		var err error
		if attempt == 0 {
			t.mu.Unlock()
			data, err = os.ReadFile(p)
			t.mu.Lock()
		} else {
			// Written to while read: read it under the lock, so a busy
			// bucket cannot keep its reader going round.
			data, err = os.ReadFile(p)
		}
		if errors.Is(err, fs.ErrNotExist) {
			return &bucket{}, nil
		}
		if err != nil {
			return nil, err
		}
		if t.wgen[h] != gen || t.cache[h] != nil {
			continue // written (or loaded) meanwhile: read it again
		}
		es, skipped := decodeEntries(data)
		if skipped > 0 {
			t.log.Warn("event index: skipped damaged bytes of an bucket file (a torn write; its records are indexed again from the log)", "stream", t.stream.Name(), "file", p, "bytes", skipped)
		}
		// Written in arrival order, a bucket is usually sorted already and
		// without repeats: one pass tells, and only then sort or compact.
		sorted, repeats := true, false
		for i := 1; i < len(es) && sorted; i++ {
			switch c := cmpEntry(es[i-1], es[i]); {
			case c > 0:
				sorted = false
			case c == 0:
				repeats = true
			}
		}
		if !sorted {
			slices.SortFunc(es, cmpEntry)
		}
		if !sorted || repeats {
			es = slices.CompactFunc(es, func(a, b entry) bool { return a.seq == b.seq && a.start == b.start })
		}
		b := &bucket{data: data, entries: es, used: t.tick, bytes: len(data) + len(es)*entryOverhead}
		t.cache[h] = b
		t.cached += b.bytes
		var top uint64
		for i := range es {
			top = max(top, es[i].seq)
		}
		t.maxSeq[h] = top
		t.evictLocked(h)
		return b, nil
	}
}

// evictLocked drops the least recently used buckets from memory while the
// cache is over budget, never keep.
func (t *Timeline) evictLocked(keep int64) {
	for t.cached > cacheBytes && len(t.cache) > 1 {
		var victim int64
		var vb *bucket
		for h, b := range t.cache {
			if h != keep && (vb == nil || b.used < vb.used) {
				victim, vb = h, b
			}
		}
		if vb == nil {
			return
		}
		t.cached -= vb.bytes
		delete(t.cache, victim)
	}
}

// Query reads the events overlapping a producer-time range, in time order.
func (t *Timeline) Query(q Query) (Page, error) {
	if q.To <= q.From {
		return Page{}, &Error{Message: "The end of the range must be after its start."}
	}
	limit := q.Limit
	if limit == 0 {
		limit = DefaultLimit
	}
	if limit < 0 || limit > MaxLimit {
		return Page{}, &Error{Message: fmt.Sprintf("The limit %d is outside 1 to %d.", q.Limit, MaxLimit)}
	}
	cs, cq := int64(-1<<63), uint64(0)
	hasCursor := q.After != ""
	if hasCursor {
		var ok bool
		if cs, cq, ok = ParseToken(q.After); !ok {
			return Page{}, &Error{Message: "The page token is not one this range returned."}
		}
	}
	first, _ := t.shard.Log().Bounds()
	keep := func(e *entry, d []byte) bool {
		if e.seq < first || !e.overlaps(q.From, q.To) {
			return false
		}
		if len(q.Types) > 0 && !slices.Contains(q.Types, string(e.typ(d))) {
			return false
		}
		return len(q.Labels) == 0 || slices.Contains(q.Labels, string(e.label(d)))
	}
	hFrom, hTo := bucketOf(q.From), bucketOf(q.To-1)
	startH := hFrom
	if hasCursor && bucketOf(cs) > hFrom {
		startH = bucketOf(cs)
	}
	type pick struct {
		start int64
		seq   uint64
		body  []byte
	}
	var picked []pick
	more, bytes := false, 0
	t.mu.Lock()
	i, _ := slices.BinarySearch(t.buckets, startH)
	j, _ := slices.BinarySearch(t.buckets, hTo+1)
	// A copy: loading a bucket drops the lock, and writers insert buckets.
	hours := slices.Clone(t.buckets[i:max(i, j)])
	firstBucket := int64(0)
	if len(hours) > 0 {
		firstBucket = hours[0]
	}
scan:
	for _, h := range hours {
		if h > hTo {
			break
		}
		b, err := t.bucketLocked(h)
		if err != nil {
			t.mu.Unlock()
			return Page{}, err
		}
		es := b.entries
		j := 0
		if hasCursor {
			j, _ = slices.BinarySearchFunc(es, entry{start: cs, seq: cq}, cmpEntry)
		}
		for ; j < len(es); j++ {
			e := &es[j]
			if e.start >= q.To {
				break
			}
			if hasCursor && !e.after(cs, cq) {
				continue
			}
			if h != firstBucket && e.start < h*bucketNs {
				// Spilled over from an earlier bucket: an event is in every
				// bucket it overlaps, so it was in the first one read.
				continue
			}
			if !keep(e, b.data) {
				continue
			}
			body := e.body(b.data)
			if len(picked) == limit || (len(picked) > 0 && bytes+len(body) > MaxPageBytes) {
				more = true
				break scan
			}
			picked = append(picked, pick{e.start, e.seq, body})
			bytes += len(body)
		}
	}
	t.mu.Unlock()
	var page Page
	if q.Raw {
		page.Raw = make([]json.RawMessage, len(picked))
		for k := range picked {
			page.Raw[k] = picked[k].body
		}
	} else {
		page.Events = make([]Event, len(picked))
	}
	for k := range page.Events {
		if err := json.Unmarshal(picked[k].body, &page.Events[k]); err != nil {
			return Page{}, fmt.Errorf("event index: entry %d: %w", picked[k].seq, err)
		}
		page.Events[k].Seq = picked[k].seq
	}
	if more {
		last := picked[len(picked)-1]
		page.Next = Token(last.start, last.seq)
	}
	return page, nil
}

func (e *entry) overlaps(from, to int64) bool { return overlaps(e.start, e.end, from, to) }

// Token is the page token after the event at start (Unix ns) with
// sequence seq.
func Token(start int64, seq uint64) string {
	return strconv.FormatInt(start, 10) + "." + strconv.FormatUint(seq, 10)
}

// ParseToken reads a page token.
func ParseToken(s string) (start int64, seq uint64, ok bool) {
	a, b, found := cutLast(s, '.')
	if !found || a == "" || b == "" || len(s) > 41 {
		return 0, 0, false
	}
	start, err := strconv.ParseInt(a, 10, 64)
	if err != nil {
		return 0, 0, false
	}
	seq, err = strconv.ParseUint(b, 10, 64)
	if err != nil {
		return 0, 0, false
	}
	return start, seq, true
}

func cutLast(s string, c byte) (string, string, bool) {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == c {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// Trim removes the bucket files whose every event's record is gone from
// the event stream's log (retention, a size cap or the free-space floor
// removed them), so the index lives exactly as long as the records, which
// live as long as the video. The highest sequence of a bucket is known for
// the buckets read or written since open; Trim reads at most trimReads
// others a call to learn theirs (the oldest).
func (t *Timeline) Trim() {
	first, _ := t.shard.Log().Bounds()
	t.mu.Lock()
	var unknown []int64
	gens := map[int64]uint64{}
	for _, h := range t.buckets {
		if _, ok := t.maxSeq[h]; !ok && len(unknown) < trimReads {
			unknown = append(unknown, h)
			gens[h] = t.wgen[h]
		}
	}
	t.mu.Unlock()
	found := map[int64]uint64{}
	for _, h := range unknown {
		data, err := os.ReadFile(filepath.Join(t.dir, bucketPath(h)))
		if err != nil {
			continue
		}
		es, _ := decodeEntries(data)
		var top uint64
		for i := range es {
			top = max(top, es[i].seq)
		}
		found[h] = top
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return
	}
	for h, top := range found {
		if _, ok := t.maxSeq[h]; !ok && t.wgen[h] == gens[h] { // not written while read
			t.maxSeq[h] = top
		}
	}
	// Victims leave the maps and are renamed into a trash directory
	// under the lock (a write for the same quarter-hour then makes a new
	// file); they are unlinked after it, so writers never wait for that.
	trash := filepath.Join(t.dir, fmt.Sprintf("trash-%d", time.Now().UnixNano()))
	var victims []string
	kept := t.buckets[:0]
	for _, h := range t.buckets {
		top, ok := t.maxSeq[h]
		if !ok || top >= first {
			kept = append(kept, h)
			continue
		}
		if f := t.files[h]; f != nil {
			_ = f.Close()
			delete(t.files, h)
			delete(t.fileUse, h)
		}
		delete(t.dirty, h)
		if b := t.cache[h]; b != nil {
			t.cached -= b.bytes
			delete(t.cache, h)
		}
		delete(t.maxSeq, h)
		t.wgen[h]++ // a load racing this delete does not install it
		if len(victims) == 0 {
			if err := os.MkdirAll(trash, 0o755); err != nil {
				t.log.Warn("event index trim", "stream", t.stream.Name(), "err", err)
				kept = append(kept, h)
				continue
			}
		}
		p := filepath.Join(t.dir, bucketPath(h))
		to := filepath.Join(trash, strconv.FormatInt(h, 10)+".ev")
		if err := os.Rename(p, to); err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.log.Warn("event index trim", "stream", t.stream.Name(), "err", err)
			kept = append(kept, h)
			continue
		}
		victims = append(victims, p)
	}
	t.buckets = kept
	if len(victims) == 0 {
		return
	}
	t.mu.Unlock()
	_ = os.RemoveAll(trash)
	// Empty day, month and year directories go with their last file.
	for _, p := range victims {
		for d := filepath.Dir(p); d != t.dir && len(d) > len(t.dir); d = filepath.Dir(d) {
			if os.Remove(d) != nil {
				break
			}
		}
	}
	t.mu.Lock()
}

// Indexed, Refused and Dropped count events indexed, refused by the
// schema, and dropped for live readers that did not keep up.
func (t *Timeline) Indexed() uint64 { return t.indexed.Load() }

// Refused counts records refused by the schema.
func (t *Timeline) Refused() uint64 { return t.refused.Load() }

// Dropped counts events not delivered to a slow live reader.
func (t *Timeline) Dropped() uint64 { return t.dropped.Load() }

// Close closes the files and ends every live subscription.
func (t *Timeline) Close() {
	t.stream.ClearPutHook(t)
	select {
	case <-t.stop:
		return // closed already
	default:
		close(t.stop)
	}
	t.flusher.Wait()
	t.catcher.Wait()
	t.flush()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closed = true
	for _, f := range t.files {
		_ = f.Close()
	}
	t.wmu.Lock()
	if t.wm != nil {
		_ = t.wm.Close()
		t.wm = nil
	}
	t.wmu.Unlock()
	for s := range t.subs {
		close(s.c)
	}
	t.subs = nil
	close(t.changed)
}

// Count returns how many events overlap [from, to) (producer time, Unix
// ns), counting at most limit: it walks the index entries of the range's
// quarter-hour buckets without decoding any event, so its work is bounded
// by the buckets of the range and limit.
func (t *Timeline) Count(from, to int64, limit int) (int, error) {
	if to <= from || limit <= 0 {
		return 0, nil
	}
	first, _ := t.shard.Log().Bounds()
	hFrom, hTo := bucketOf(from), bucketOf(to-1)
	t.mu.Lock()
	defer t.mu.Unlock()
	i, _ := slices.BinarySearch(t.buckets, hFrom)
	j, _ := slices.BinarySearch(t.buckets, hTo+1)
	hours := slices.Clone(t.buckets[i:max(i, j)])
	n := 0
	for k, h := range hours {
		b, err := t.bucketLocked(h)
		if err != nil {
			return n, err
		}
		for e := range b.entries {
			en := &b.entries[e]
			if en.start >= to {
				break
			}
			// An event is in every bucket it overlaps: count it in the
			// first one read.
			if k > 0 && en.start < h*bucketNs {
				continue
			}
			if en.seq < first || !en.overlaps(from, to) {
				continue
			}
			if n++; n >= limit {
				return n, nil
			}
		}
	}
	return n, nil
}
