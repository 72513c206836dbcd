package filelog

import (
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eddy-video/eddy/datastreams/datastreamstest"
	"github.com/eddy-video/eddy/datastreams/logstore"
	"github.com/eddy-video/eddy/datastreams/logstore/logstoretest"
)

// testCold is a Cold that keeps uploaded segments as files in a copy
// directory of its own, and can be switched to fail like an unreachable
// store (errors wrapping logstore.ErrUnavailable).
type testCold struct {
	dir  string
	fail atomic.Bool
	// deleteTrimmed: Trimmed deletes the objects, as the tier does.
	deleteTrimmed bool
	// beforeRead, when set, is taken and called by the next ReadAt.
	beforeRead atomic.Pointer[func()]

	mu       sync.Mutex
	attached map[*Log]bool
	trimmed  []SegmentInfo
}

func newTestCold(t *testing.T) *testCold {
	return &testCold{dir: t.TempDir(), attached: map[*Log]bool{}}
}

func (c *testCold) Attach(l *Log) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.attached[l] = true
}

func (c *testCold) Detach(l *Log) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.attached, l)
}

func (c *testCold) isAttached(l *Log) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.attached[l]
}

func (c *testCold) object(base uint64) string {
	return filepath.Join(c.dir, fmt.Sprintf("%020d.seg", base))
}

func (c *testCold) OpenSegment(l *Log, base uint64, size int64) (io.ReaderAt, error) {
	if c.fail.Load() {
		return nil, fmt.Errorf("test store: open %d: %w", base, logstore.ErrUnavailable)
	}
	fi, err := os.Stat(c.object(base))
	if err != nil {
		return nil, err
	}
	if fi.Size() != size {
		return nil, fmt.Errorf("test store: object %d has %d bytes, want %d", base, fi.Size(), size)
	}
	return coldReader{c: c, path: c.object(base)}, nil
}

// Trimmed checks that the segments are out of the log and their files
// gone (it may read the log: no lock of it is held).
func (c *testCold) Trimmed(l *Log, segs []SegmentInfo) {
	first, _ := l.Bounds()
	for _, s := range segs {
		if s.Next > first || exists(s.Path) || exists(s.IndexPath) || exists(uploadPath(s.Path)) {
			panic(fmt.Sprintf("Trimmed told of segment %d while it is still in the log (first %d) or has files", s.Base, first))
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.attached[l] {
		panic("Trimmed called for a log not attached")
	}
	c.trimmed = append(c.trimmed, segs...)
	if c.deleteTrimmed {
		for _, s := range segs {
			_ = os.Remove(c.object(s.Base))
		}
	}
}

// errObjectGone is the test store's answer for a deleted object: like the
// tier's, it does not wrap fs.ErrNotExist.
var errObjectGone = errors.New("test store: no such object")

func (c *testCold) trimmedBases() []uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []uint64
	for _, s := range c.trimmed {
		out = append(out, s.Base)
	}
	return out
}

type coldReader struct {
	c    *testCold
	path string
}

func (r coldReader) ReadAt(p []byte, off int64) (int, error) {
	if r.c.fail.Load() {
		return 0, fmt.Errorf("test store: read %s: %w", filepath.Base(r.path), logstore.ErrUnavailable)
	}
	if f := r.c.beforeRead.Swap(nil); f != nil {
		(*f)()
	}
	f, err := os.Open(r.path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, fmt.Errorf("read %s: %w", filepath.Base(r.path), errObjectGone)
	}
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return f.ReadAt(p, off)
}

// upload copies a sealed segment into the store and records it.
func (c *testCold) upload(t *testing.T, l *Log, si SegmentInfo) {
	t.Helper()
	b, err := os.ReadFile(si.Path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(c.object(si.Base), b, 0o644); err != nil {
		t.Fatal(err)
	}
	u := Upload{Size: int64(len(b)), CRC32C: crc32.Checksum(b, crcTable), At: 1}
	if err := l.MarkUploaded(si.Base, u); err != nil {
		t.Fatal(err)
	}
}

// uploadFirst uploads the first n sealed segments not uploaded yet (n < 0: all).
func (c *testCold) uploadFirst(t *testing.T, l *Log, n int) {
	t.Helper()
	for _, si := range l.Sealed() {
		if n == 0 {
			return
		}
		if si.Uploaded == nil {
			c.upload(t, l, si)
			n--
		}
	}
}

// dropFirst drops the local copies of the first n sealed segments (n < 0: all).
func dropFirst(t *testing.T, l *Log, n int) {
	t.Helper()
	for i, si := range l.Sealed() {
		if i == n {
			return
		}
		if err := l.DropLocal(si.Base); err != nil {
			t.Fatal(err)
		}
	}
}

// readAll reads the whole log in batches of batch records.
func readAll(t *testing.T, l *Log, batch int) []logstore.Record {
	t.Helper()
	recs, err := readAllErr(l, batch)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func readAllErr(l *Log, batch int) ([]logstore.Record, error) {
	first, next := l.Bounds()
	var out []logstore.Record
	for from := first; from < next; {
		recs, err := l.Read(from, batch, 1<<30)
		if err != nil {
			return out, err
		}
		if len(recs) == 0 {
			break
		}
		out = append(out, recs...)
		from = recs[len(recs)-1].Seq + 1
	}
	return out, nil
}

func sameRecords(t *testing.T, got, want []logstore.Record) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d records, want %d", len(got), len(want))
	}
	for i := range want {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Fatalf("record %d: seq %d differs from seq %d written", i, got[i].Seq, want[i].Seq)
		}
	}
}

// coldLog writes n records of 100 bytes, 3 to a commit, a second apart,
// into a log of small segments and sparse indexes (one loaded at a time).
func coldLog(t *testing.T, n int) (*Log, *testCold, *datastreamstest.Clock) {
	t.Helper()
	clk := logstoretest.NewClock()
	c := newTestCold(t)
	l := openLog(t, t.TempDir(), clk.Now, Options{SegmentBytes: 4 << 10, IndexEvery: 512, MaxLoadedIndexes: 1, Cold: c})
	logstoretest.AppendN(t, l, clk, n, 3, 100, time.Second)
	if len(l.Sealed()) < 5 {
		t.Fatalf("%d sealed segments, want several", len(l.Sealed()))
	}
	return l, c, clk
}

func reopen(t *testing.T, l *Log, opts Options) *Log {
	t.Helper()
	l.Close()
	return openLog(t, l.dir, l.opts.Now, opts)
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// TestColdReadsIdenticalAfterDropLocal: every record, time lookup and
// sequence lookup answers the same after every sealed segment left the
// local disk, Size stays and LocalSize is the active segment's.
func TestColdReadsIdenticalAfterDropLocal(t *testing.T) {
	l, c, clk := coldLog(t, 300)
	before := readAll(t, l, 1000)
	if len(before) != 300 {
		t.Fatalf("%d records before tiering", len(before))
	}
	size := l.Size()
	if l.LocalSize() != size {
		t.Fatalf("LocalSize %d, Size %d before tiering", l.LocalSize(), size)
	}
	c.uploadFirst(t, l, -1)
	for _, si := range l.Sealed() {
		if si.Uploaded == nil || !si.Local || si.Uploaded.Size != si.Size {
			t.Fatalf("segment %d after upload: %+v", si.Base, si)
		}
	}
	dropFirst(t, l, -1)
	active := size
	for _, si := range l.Sealed() {
		if si.Local || exists(si.Path) || !exists(si.IndexPath) || !exists(uploadPath(si.Path)) {
			t.Fatalf("segment %d after DropLocal: local %v, files: seg %v idx %v up %v", si.Base, si.Local,
				exists(si.Path), exists(si.IndexPath), exists(uploadPath(si.Path)))
		}
		active -= si.Size
	}
	if l.Size() != size || l.LocalSize() != active {
		t.Fatalf("Size %d LocalSize %d after DropLocal; want %d and %d", l.Size(), l.LocalSize(), size, active)
	}
	sameRecords(t, readAll(t, l, 1000), before)
	sameRecords(t, readAll(t, l, 7), before)
	for _, r := range before {
		got, err := l.Read(r.Seq, 1, 1)
		if err != nil || len(got) != 1 || !reflect.DeepEqual(got[0], r) {
			t.Fatalf("Read(%d) = %d records, %v", r.Seq, len(got), err)
		}
		if tm, ok := l.TimeOf(r.Seq); !ok || tm != r.Time {
			t.Fatalf("TimeOf(%d) = %d, %v; want %d", r.Seq, tm, ok, r.Time)
		}
		// Three records share a time: the first of them is the answer.
		if seq := l.SeqAtTime(r.Time); seq != (r.Seq-1)/3*3+1 {
			t.Fatalf("SeqAtTime(time of %d) = %d", r.Seq, seq)
		}
	}
	logstoretest.AppendN(t, l, clk, 30, 3, 100, time.Second)
	all := readAll(t, l, 100)
	sameRecords(t, all[:300], before)
	logstoretest.CheckRecords(t, all, 1, 100)
}

// TestColdOpen: a log with cold, hot-uploaded and waiting segments opens
// with every state kept, reads the same, appends continue the numbering;
// without object storage configured it does not open.
func TestColdOpen(t *testing.T) {
	l, c, clk := coldLog(t, 300)
	before := readAll(t, l, 1000)
	n := len(l.Sealed())
	c.uploadFirst(t, l, n-1) // the newest sealed one waits
	dropFirst(t, l, n/2)
	states := l.Sealed()
	_, next := l.Bounds()

	l2 := reopen(t, l, l.opts)
	if !c.isAttached(l2) || c.isAttached(l) {
		t.Fatal("Open did not attach the log to Cold, or Close did not detach it")
	}
	if got := l2.Sealed(); !reflect.DeepEqual(got, states) {
		t.Fatalf("segments after reopen:\n%+v\nwant\n%+v", got, states)
	}
	if _, n2 := l2.Bounds(); n2 != next {
		t.Fatalf("next %d after reopen, want %d", n2, next)
	}
	sameRecords(t, readAll(t, l2, 50), before)
	logstoretest.AppendN(t, l2, clk, 10, 1, 100, time.Second)
	logstoretest.CheckRecords(t, readAll(t, l2, 1000), 1, 100)
	l2.Close()

	opts := l.opts
	opts.Cold = nil
	_, err := Open(l.dir, opts)
	if err == nil || !strings.Contains(err.Error(), "no object storage configured") {
		t.Fatalf("Open of a log with cold segments and no Cold: %v", err)
	}
}

// TestColdRestoredLog: a log of nothing but cold segments (what restore
// leaves: indexes and upload records) opens with a new active segment at
// the last one's next sequence, reads everything, and takes appends.
func TestColdRestoredLog(t *testing.T) {
	l, c, clk := coldLog(t, 300)
	c.uploadFirst(t, l, -1)
	sealed := l.Sealed()
	last := sealed[len(sealed)-1]
	before := readAll(t, l, 1000)[:last.Next-1]
	dir := l.dir
	l.Close()
	// Restore brings back neither segment files nor the active segment.
	segs, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	for _, p := range segs {
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
	}
	l2 := openLog(t, dir, clk.Now, l.opts)
	if first, next := l2.Bounds(); first != 1 || next != last.Next {
		t.Fatalf("restored bounds %d..%d, want 1..%d", first, next, last.Next)
	}
	if got := l2.Sealed(); len(got) != len(sealed) || got[len(got)-1].Local {
		t.Fatalf("restored segments %+v", got)
	}
	sameRecords(t, readAll(t, l2, 1000), before)
	logstoretest.AppendN(t, l2, clk, 10, 1, 100, time.Second)
	l3 := reopen(t, l2, l2.opts)
	all := readAll(t, l3, 1000)
	if len(all) != len(before)+10 {
		t.Fatalf("%d records after appends to the restored log, want %d", len(all), len(before)+10)
	}
	logstoretest.CheckRecords(t, all, 1, 100)
}

// TestColdMissingIndex: a cold segment whose index file is gone gets it
// back by a scan of the object; when the store cannot be reached, Open
// fails with an error that says so.
func TestColdMissingIndex(t *testing.T) {
	l, c, _ := coldLog(t, 300)
	c.uploadFirst(t, l, -1)
	dropFirst(t, l, -1)
	before := readAll(t, l, 1000)
	victim := l.Sealed()[2]
	idx, err := os.ReadFile(victim.IndexPath)
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	if err := os.Remove(victim.IndexPath); err != nil {
		t.Fatal(err)
	}
	c.fail.Store(true)
	if _, err := Open(l.dir, l.opts); !errors.Is(err, logstore.ErrUnavailable) {
		t.Fatalf("Open with a cold segment's index missing and the store down: %v", err)
	}
	c.fail.Store(false)
	l2 := openLog(t, l.dir, l.opts.Now, l.opts)
	sameRecords(t, readAll(t, l2, 1000), before)
	if got, err := os.ReadFile(victim.IndexPath); err != nil || string(got) != string(idx) {
		t.Fatalf("rebuilt index differs from the one written at the seal (%v)", err)
	}
	// A damaged upload record: of a cold segment, Open fails; of a local
	// one, the segment waits for upload again.
	l2.Close()
	if err := os.WriteFile(uploadPath(victim.Path), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(l.dir, l.opts); err == nil || !strings.Contains(err.Error(), "upload record") {
		t.Fatalf("Open with a damaged upload record of a cold segment: %v", err)
	}
}

// lazyCold opens readers without a request (as the tier's block cache
// does): during an outage only their ReadAt fails.
type lazyCold struct{ *testCold }

func (c lazyCold) OpenSegment(l *Log, base uint64, size int64) (io.ReaderAt, error) {
	return coldReader{c: c.testCold, path: c.object(base)}, nil
}

// TestColdScanUnavailable: rebuilding a cold segment's index while the
// store is unreachable fails with logstore.ErrUnavailable, not as a
// corrupt segment, when the store fails only in ReadAt (the header read):
// at Open (index file missing) and at a read (index file lost after Open).
// Once the store is back both work.
func TestColdScanUnavailable(t *testing.T) {
	l, tc, _ := coldLog(t, 300)
	tc.uploadFirst(t, l, -1)
	dropFirst(t, l, -1)
	before := readAll(t, l, 1000)
	victim := l.Sealed()[2]
	opts := l.opts
	opts.Cold = lazyCold{tc}
	l.Close()
	if err := os.Remove(victim.IndexPath); err != nil {
		t.Fatal(err)
	}
	tc.fail.Store(true)
	_, err := Open(l.dir, opts)
	if !errors.Is(err, logstore.ErrUnavailable) || errors.Is(err, errCorrupt) {
		t.Fatalf("Open during an outage (an index missing): %v; want logstore.ErrUnavailable, not corrupt", err)
	}
	tc.fail.Store(false)
	l2 := openLog(t, l.dir, l.opts.Now, opts)
	sameRecords(t, readAll(t, l2, 1000), before)

	l2 = reopen(t, l2, opts) // no index loaded
	if err := os.Remove(victim.IndexPath); err != nil {
		t.Fatal(err)
	}
	tc.fail.Store(true)
	_, err = l2.Read(victim.Base, 1, 1<<20)
	if !errors.Is(err, logstore.ErrUnavailable) || errors.Is(err, errCorrupt) {
		t.Fatalf("Read during an outage (the index lost): %v; want logstore.ErrUnavailable, not corrupt", err)
	}
	tc.fail.Store(false)
	sameRecords(t, readAll(t, l2, 1000), before)
}

// TestScanShortHeader: a segment shorter than its header is corrupt,
// whether the file or the object.
func TestScanShortHeader(t *testing.T) {
	for _, n := range []int{0, 5} {
		_, err := scanFrom(strings.NewReader(segmentMagic[:n%len(segmentMagic)]), "x.seg", 512)
		if !errors.Is(err, errCorrupt) {
			t.Errorf("scan of %d bytes: %v; want errCorrupt", n, err)
		}
	}
}

// TestColdTrim: retention removes cold, hot and waiting segments alike
// (Size counts cold bytes), with all their files, and tells Cold of the
// uploaded ones.
func TestColdTrim(t *testing.T) {
	l, c, clk := coldLog(t, 300)
	sealed := l.Sealed()
	n := len(sealed)
	c.uploadFirst(t, l, n-2)
	dropFirst(t, l, n/2)
	// By age: everything before the last two sealed segments.
	keep := sealed[n-2]
	recs, _, err := l.Trim(keep.FirstTime, 0)
	if err != nil || recs != keep.Base-1 {
		t.Fatalf("Trim = %d records, %v; want %d", recs, err, keep.Base-1)
	}
	var want []uint64
	for _, si := range sealed[:n-2] {
		want = append(want, si.Base)
		for _, p := range []string{si.Path, si.IndexPath, uploadPath(si.Path)} {
			if exists(p) {
				t.Errorf("%s left after Trim", filepath.Base(p))
			}
		}
	}
	if got := c.trimmedBases(); !slices.Equal(got, want) {
		t.Fatalf("Trimmed told of %v, want %v", got, want)
	}
	for _, si := range c.trimmed {
		if si.Uploaded == nil || si.Size != si.Uploaded.Size {
			t.Fatalf("Trimmed got %+v", si)
		}
	}
	// By bytes: the cold segment counts against the size.
	c.uploadFirst(t, l, 1)
	dropFirst(t, l, 1)
	logstoretest.AppendN(t, l, clk, 3, 3, 100, time.Second)
	cold := l.Sealed()[0]
	if recs, bytes, err := l.Trim(0, l.Size()-1); err != nil || recs != cold.Next-cold.Base || bytes != cold.Size {
		t.Fatalf("Trim by size = %d, %d, %v; want the cold segment %+v", recs, bytes, err, cold)
	}
	if got := c.trimmedBases(); got[len(got)-1] != cold.Base {
		t.Fatalf("Trimmed told of %v, want %d last", got, cold.Base)
	}
	if first, _ := l.Bounds(); first != cold.Next {
		t.Fatalf("first %d after trimming the cold segment, want %d", first, cold.Next)
	}
}

// TestColdReadAfterTrimDeletedObject: a read that took a cold segment's
// reader before a trim removed the segment, and whose object the tier
// deleted meanwhile (the store answers "not found", no fs error), starts
// again from the log's new first record. The same error for a segment
// still in the log fails the read.
func TestColdReadAfterTrimDeletedObject(t *testing.T) {
	l, c, _ := coldLog(t, 300)
	c.deleteTrimmed = true
	c.uploadFirst(t, l, -1)
	dropFirst(t, l, -1)
	before := readAll(t, l, 1000)
	sealed := l.Sealed()
	first, _ := l.Bounds()
	if recs, err := l.Read(first, 1, 1<<30); err != nil || len(recs) != 1 {
		t.Fatalf("Read(%d) = %d records, %v", first, len(recs), err) // the segment's reader is now kept
	}
	keep := sealed[2]
	trimmed := false
	trim := func() {
		if _, _, err := l.Trim(keep.FirstTime, 0); err != nil {
			t.Error(err)
		}
		trimmed = true
	}
	c.beforeRead.Store(&trim)
	recs, err := l.Read(first, 10, 1<<30)
	if err != nil {
		t.Fatalf("Read across a trim that deleted the object: %v", err)
	}
	if !trimmed || exists(c.object(sealed[0].Base)) {
		t.Fatal("the trim did not happen during the read, or left the object")
	}
	if f, _ := l.Bounds(); f != keep.Base || len(recs) != 10 || recs[0].Seq != keep.Base {
		t.Fatalf("Read after the trim: %d records from %d, log starts at %d; want 10 from %d", len(recs), recs[0].Seq, f, keep.Base)
	}
	sameRecords(t, recs, before[keep.Base-first:keep.Base-first+10])

	// An object missing for a segment still in the log is an error.
	if err := os.Remove(c.object(keep.Base)); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Read(keep.Base, 10, 1<<30); !errors.Is(err, errObjectGone) {
		t.Fatalf("Read of a cold segment whose object is missing: %v, want the store's error", err)
	}
}

// TestColdIndexRebuildAcrossTrim: a read that rebuilds a cold segment's
// damaged index through Cold, while a trim removes the segment and the
// tier deletes its object, starts again from the log's new first record.
func TestColdIndexRebuildAcrossTrim(t *testing.T) {
	l, c, clk := coldLog(t, 300)
	c.deleteTrimmed = true
	c.uploadFirst(t, l, -1)
	dropFirst(t, l, -1)
	before := readAll(t, l, 1000)
	sealed := l.Sealed()
	l.Close()
	flip(t, sealed[0].IndexPath, 3) // an entry: found when the index is loaded
	l = openLog(t, l.dir, clk.Now, l.opts)
	keep := sealed[2]
	trim := func() {
		if _, _, err := l.Trim(keep.FirstTime, 0); err != nil {
			t.Error(err)
		}
	}
	c.beforeRead.Store(&trim)
	recs, err := l.Read(sealed[0].Base, 10, 1<<30)
	if err != nil {
		t.Fatalf("Read rebuilding an index across a trim that deleted the object: %v", err)
	}
	if c.beforeRead.Load() != nil || len(recs) != 10 || recs[0].Seq != keep.Base {
		t.Fatalf("Read after the trim: %d records from %d; want 10 from %d (trimmed during the rebuild)", len(recs), recs[0].Seq, keep.Base)
	}
	sameRecords(t, recs, before[keep.Base-sealed[0].Base:keep.Base-sealed[0].Base+10])
}

// TestColdDropOldest: the disk floor frees the oldest local segment;
// uploaded, only its local copy goes (no record lost); not uploaded after
// cold segments, it is discarded (a hole reads skip).
func TestColdDropOldest(t *testing.T) {
	l, c, _ := coldLog(t, 300)
	before := readAll(t, l, 1000)
	c.uploadFirst(t, l, 3)
	dropFirst(t, l, 2)
	s := l.Sealed()
	newest, bytes, active, ok := l.Oldest()
	if !ok || active || newest != s[2].LastTime || bytes != s[2].Size {
		t.Fatalf("Oldest = %d, %d, %v, %v; want the hot uploaded segment %+v", newest, bytes, active, ok, s[2])
	}
	recs, n, err := l.DropOldest()
	if err != nil || recs != 0 || n != s[2].Size {
		t.Fatalf("DropOldest of an uploaded segment = %d, %d, %v; want 0 records, %d bytes", recs, n, err, s[2].Size)
	}
	if l.Sealed()[2].Local || exists(s[2].Path) {
		t.Fatal("the uploaded segment's local copy is still there")
	}
	sameRecords(t, readAll(t, l, 1000), before)
	if newest, bytes, _, _ := l.Oldest(); newest != s[3].LastTime || bytes != s[3].Size {
		t.Fatalf("Oldest = %d, %d; want the first waiting segment", newest, bytes)
	}
	recs, n, err = l.DropOldest()
	if err != nil || recs != s[3].Next-s[3].Base || n != s[3].Size {
		t.Fatalf("DropOldest of a waiting segment after cold ones = %d, %d, %v", recs, n, err)
	}
	hole := func(got []logstore.Record) {
		t.Helper()
		var want []logstore.Record
		for _, r := range before {
			if r.Seq < s[3].Base || r.Seq >= s[3].Next {
				want = append(want, r)
			}
		}
		sameRecords(t, got, want)
	}
	hole(readAll(t, l, 1000))
	if first, _ := l.Bounds(); first != 1 {
		t.Fatalf("first %d after a hole, want 1", first)
	}
	if len(c.trimmedBases()) != 0 {
		t.Fatalf("DropOldest reported %v to Trimmed", c.trimmedBases())
	}
	hole(readAll(t, reopen(t, l, l.opts), 1000))
}

// TestColdDiscard: Discard removes a waiting segment anywhere in the log
// and leaves a hole that Read, SeqAtTime and reopen handle; the states
// each operation needs are checked.
func TestColdDiscard(t *testing.T) {
	l, c, _ := coldLog(t, 300)
	before := readAll(t, l, 1000)
	c.uploadFirst(t, l, 2)
	s := l.Sealed()
	if _, _, err := l.Discard(s[0].Base); err == nil {
		t.Fatal("Discard of an uploaded segment succeeded")
	}
	if err := l.DropLocal(s[3].Base); err == nil {
		t.Fatal("DropLocal of a segment not uploaded succeeded")
	}
	if err := l.MarkUploaded(s[3].Base, Upload{Size: s[3].Size + 1}); err == nil {
		t.Fatal("MarkUploaded with the wrong size succeeded")
	}
	_, next := l.Bounds()
	a := l.segs[len(l.segs)-1].base
	if _, _, err := l.Discard(a); err == nil {
		t.Fatal("Discard of the active segment succeeded")
	}
	if err := l.MarkUploaded(a, Upload{Size: l.Size()}); err == nil {
		t.Fatal("MarkUploaded of the active segment succeeded")
	}
	if _, _, err := l.Discard(next + 100); err == nil {
		t.Fatal("Discard of no segment succeeded")
	}
	d := s[3]
	recs, bytes, err := l.Discard(d.Base)
	if err != nil || recs != d.Next-d.Base || bytes != d.Size {
		t.Fatalf("Discard = %d, %d, %v", recs, bytes, err)
	}
	if exists(d.Path) || exists(d.IndexPath) {
		t.Fatal("files of the discarded segment are left")
	}
	check := func(l *Log) {
		t.Helper()
		var want []logstore.Record
		for _, r := range before {
			if r.Seq < d.Base || r.Seq >= d.Next {
				want = append(want, r)
			}
		}
		sameRecords(t, readAll(t, l, 13), want)
		if got, err := l.Read(d.Base, 1, 1); err != nil || len(got) != 1 || got[0].Seq != d.Next {
			t.Fatalf("Read in the hole: %v, %v; want record %d", got, err, d.Next)
		}
		if seq := l.SeqAtTime(d.FirstTime); seq != d.Next {
			t.Fatalf("SeqAtTime in the hole = %d, want %d", seq, d.Next)
		}
		if _, ok := l.TimeOf(d.Base); ok {
			t.Fatal("TimeOf a discarded record answered")
		}
		if first, n := l.Bounds(); first != 1 || n != next {
			t.Fatalf("bounds %d..%d, want 1..%d", first, n, next)
		}
	}
	check(l)
	check(reopen(t, l, l.opts))
}

// TestColdUnavailable: while the store cannot be reached, reads of cold
// records fail at once with an error wrapping logstore.ErrUnavailable,
// time lookups answer without hanging, and local records read as usual.
func TestColdUnavailable(t *testing.T) {
	l, c, _ := coldLog(t, 300)
	before := readAll(t, l, 1000)
	c.uploadFirst(t, l, -1)
	// One cold segment read before the outage (its reader is kept), the
	// others never.
	dropFirst(t, l, -1)
	if _, err := l.Read(1, 1, 1); err != nil {
		t.Fatal(err)
	}
	c.fail.Store(true)
	activeBase := l.segs[len(l.segs)-1].base
	done := make(chan struct{})
	go func() {
		defer close(done)
		for _, from := range []uint64{1, 40, activeBase - 1} {
			if _, err := l.Read(from, 10, 1<<20); !errors.Is(err, logstore.ErrUnavailable) {
				t.Errorf("Read(%d) during the outage: %v; want logstore.ErrUnavailable", from, err)
			}
		}
		if _, ok := l.TimeOf(5); ok {
			t.Error("TimeOf of a cold record answered during the outage")
		}
		l.SeqAtTime(before[50].Time)
		got, err := l.Read(activeBase, 1000, 1<<30)
		if err != nil || len(got) == 0 || !reflect.DeepEqual(got, before[activeBase-1:]) {
			t.Errorf("Read of the active segment during the outage: %d records, %v", len(got), err)
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("reads during the outage hang")
	}
	c.fail.Store(false)
	sameRecords(t, readAll(t, l, 1000), before)
}

// TestColdConcurrentReadsDuringDropLocal: reads running while every
// sealed segment loses its local copy (and more records come in) see
// every record intact.
func TestColdConcurrentReadsDuringDropLocal(t *testing.T) {
	l, c, clk := coldLog(t, 600)
	before := readAll(t, l, 1000)
	c.uploadFirst(t, l, -1)
	var stop atomic.Bool
	var wg sync.WaitGroup
	var reads atomic.Int64
	for i := range 4 {
		wg.Go(func() {
			batch := []int{1, 7, 50, 1000}[i]
			for !stop.Load() {
				got, err := readAllErr(l, batch)
				if err != nil {
					t.Error(err)
					return
				}
				if len(got) < len(before) {
					t.Errorf("%d records read, want at least %d", len(got), len(before))
					return
				}
				for j := range before {
					if !reflect.DeepEqual(got[j], before[j]) {
						t.Errorf("record %d differs during DropLocal", before[j].Seq)
						return
					}
				}
				reads.Add(1)
			}
		})
	}
	for _, si := range l.Sealed() {
		for start := reads.Load(); reads.Load() == start && !t.Failed(); {
			time.Sleep(time.Millisecond)
		}
		if err := l.DropLocal(si.Base); err != nil {
			t.Error(err)
		}
		logstoretest.AppendN(t, l, clk, 3, 3, 100, time.Second)
	}
	for start := reads.Load(); reads.Load() < start+4 && !t.Failed(); {
		time.Sleep(time.Millisecond)
	}
	stop.Store(true)
	wg.Wait()
	logstoretest.CheckRecords(t, readAll(t, l, 1000), 1, 100)
}

// TestColdMarkUploadedCrash: a crash inside MarkUploaded leaves its temp
// file and no record: Open removes the temp file and the segment waits
// for upload again; a crash inside DropLocal leaves the segment file or
// not, and both open.
func TestColdMarkUploadedCrash(t *testing.T) {
	l, c, _ := coldLog(t, 300)
	before := readAll(t, l, 1000)
	si := l.Sealed()[0]
	if err := os.WriteFile(uploadPath(si.Path)+".tmp", []byte(`{"size":`), 0o644); err != nil {
		t.Fatal(err)
	}
	l2 := reopen(t, l, l.opts)
	if exists(uploadPath(si.Path)+".tmp") || exists(uploadPath(si.Path)) {
		t.Fatal("the temp file of an interrupted MarkUploaded is left, or became a record")
	}
	if got := l2.Sealed()[0]; got.Uploaded != nil || !got.Local {
		t.Fatalf("segment after an interrupted MarkUploaded: %+v", got)
	}
	// The tier uploads again (its conditional PUT finds the object).
	c.upload(t, l2, si)
	c.upload(t, l2, l2.Sealed()[1])
	want := l2.Sealed()
	// DropLocal interrupted after the file went: the segment is cold.
	if err := os.Remove(want[1].Path); err != nil {
		t.Fatal(err)
	}
	want[1].Local = false
	l3 := reopen(t, l2, l2.opts)
	if got := l3.Sealed(); !reflect.DeepEqual(got, want) {
		t.Fatalf("segments after reopen:\n%+v\nwant\n%+v", got, want)
	}
	sameRecords(t, readAll(t, l3, 1000), before)
}

// TestFileLogCold runs the conformance suite with every sealed segment
// moved to (test) object storage at each reopen.
func TestFileLogCold(t *testing.T) {
	colds := map[*Log]*testCold{}
	var mu sync.Mutex
	logstoretest.Run(t, logstoretest.Harness{
		Open: func(t *testing.T, o logstoretest.Options) logstore.Log {
			c := newTestCold(t)
			l := openLog(t, t.TempDir(), o.Now, Options{SegmentBytes: o.SegmentBytes, SegmentDuration: o.SegmentDuration,
				IndexEvery: o.IndexEvery, MaxLoadedIndexes: o.MaxLoadedIndexes, Cold: c})
			mu.Lock()
			colds[l] = c
			mu.Unlock()
			return l
		},
		Reopen: func(t *testing.T, l logstore.Log) logstore.Log {
			fl := l.(*Log)
			mu.Lock()
			c := colds[fl]
			mu.Unlock()
			c.uploadFirst(t, fl, -1)
			for _, si := range fl.Sealed() {
				if si.Local {
					if err := fl.DropLocal(si.Base); err != nil {
						t.Fatal(err)
					}
				}
			}
			fl.Close()
			l2 := openLog(t, fl.dir, fl.opts.Now, fl.opts)
			mu.Lock()
			colds[l2] = c
			mu.Unlock()
			return l2
		},
		Units: func(l logstore.Log) int {
			fl := l.(*Log)
			fl.mu.RLock()
			defer fl.mu.RUnlock()
			return len(fl.segs)
		},
	})
}

// TestColdConcurrentTierAndTrim runs the tier's side (upload, record,
// drop the local copy) while records are appended, read and trimmed:
// reads see records intact, a segment trimmed under the uploader only
// makes its MarkUploaded or DropLocal fail, and afterwards the files on
// disk are exactly those of the segments in the log, which reopens the
// same.
func TestColdConcurrentTierAndTrim(t *testing.T) {
	clk := logstoretest.NewClock()
	c := newTestCold(t)
	l := openLog(t, t.TempDir(), clk.Now, Options{SegmentBytes: 4 << 10, IndexEvery: 512, MaxLoadedIndexes: 2, Cold: c})
	const total = 3000
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Go(func() { // writer; the clock is only touched here
		defer stop.Store(true)
		for s := uint64(1); s <= total; s += 10 {
			var recs []logstore.Record
			for i := range uint64(10) {
				recs = append(recs, logstore.Record{Seq: s + i, Time: int64(s + i), Key: []byte(fmt.Sprint("k", s+i)), Data: logstoretest.Payload(s+i, 60)})
			}
			if err := l.Append(recs); err != nil {
				t.Error(err)
				return
			}
			if err := l.Commit(false); err != nil {
				t.Error(err)
				return
			}
		}
	})
	wg.Go(func() { // the tier
		for ; !stop.Load(); time.Sleep(time.Millisecond) {
			for _, si := range l.Sealed() {
				if si.Uploaded == nil {
					b, err := os.ReadFile(si.Path)
					if err != nil {
						continue // trimmed meanwhile
					}
					if err := os.WriteFile(c.object(si.Base), b, 0o644); err != nil {
						t.Error(err)
						return
					}
					if err := l.MarkUploaded(si.Base, Upload{Size: int64(len(b)), CRC32C: crc32.Checksum(b, crcTable)}); err != nil &&
						!errors.Is(err, ErrNoSegment) {
						t.Error(err)
						return
					}
				} else if si.Local {
					if err := l.DropLocal(si.Base); err != nil && !errors.Is(err, ErrNoSegment) {
						t.Error(err)
						return
					}
				}
			}
		}
	})
	wg.Go(func() { // retention: keep about the newest 1000 records
		for ; !stop.Load(); time.Sleep(time.Millisecond) {
			if _, next := l.Bounds(); next > 1000 {
				if _, _, err := l.Trim(int64(next-1000), 0); err != nil {
					t.Error(err)
					return
				}
			}
		}
	})
	for r := range 3 {
		wg.Go(func() {
			rng := uint64(r*7919 + 1)
			for !stop.Load() {
				first, next := l.Bounds()
				rng = rng*6364136223846793005 + 1442695040888963407
				from := first + rng%(next-first+1)
				recs, err := l.Read(from, 100, 1<<20)
				if err != nil {
					t.Error(err)
					return
				}
				for i, rec := range recs {
					want := recs[0].Seq + uint64(i)
					if rec.Seq != want || !reflect.DeepEqual(rec.Data, logstoretest.Payload(want, 60)) {
						t.Errorf("read from %d: record %d is seq %d, damaged or out of order", from, i, rec.Seq)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	first, next := l.Bounds()
	if next != total+1 || first == 1 {
		t.Fatalf("bounds %d..%d after the run", first, next)
	}
	if len(c.trimmedBases()) == 0 {
		t.Fatal("no uploaded segment was trimmed during the run")
	}
	want := map[string]bool{}
	sealed := l.Sealed()
	for _, si := range sealed {
		want[filepath.Base(si.IndexPath)] = true
		if si.Local {
			want[filepath.Base(si.Path)] = true
		}
		if si.Uploaded != nil {
			want[filepath.Base(uploadPath(si.Path))] = true
		}
	}
	l.mu.RLock()
	want[filepath.Base(l.segs[len(l.segs)-1].path)] = true
	l.mu.RUnlock()
	des, err := os.ReadDir(l.dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, de := range des {
		got = append(got, de.Name())
		if !want[de.Name()] {
			t.Errorf("stray file %s", de.Name())
		}
	}
	if len(got) != len(want) {
		t.Errorf("files %v, want %v", got, want)
	}
	checkTiering(t, l, "after the run") // the counts kept through concurrent changes
	recs := readAll(t, l, 1000)
	l2 := reopen(t, l, l.opts)
	if f2, n2 := l2.Bounds(); f2 != first || n2 != next || !reflect.DeepEqual(l2.Sealed(), sealed) {
		t.Fatalf("after reopen bounds %d..%d (want %d..%d) or segments differ", f2, n2, first, next)
	}
	sameRecords(t, readAll(t, l2, 1000), recs)
}
