package filelog

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/eddy-video/eddy/datastreams/datastreamstest"
	"github.com/eddy-video/eddy/datastreams/logstore"
	"github.com/eddy-video/eddy/datastreams/logstore/logstoretest"
)

// bytesRead returns the bytes this process has read through read(2) and
// pread(2) so far (Linux's /proc/self/io rchar, page cache hits
// included), or false where the kernel does not tell.
func bytesRead() (int64, bool) {
	f, err := os.Open("/proc/self/io")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "rchar: "); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}

// longLogDir makes the directory of a long log: n sealed segments of an
// hour of 2-second fragments each (a ten-year log has 87,600), each with
// an index of points entries, and an empty active segment. The segment
// files are sparse: Open reads no byte of a sealed segment.
func longLogDir(tb testing.TB, n, points int) string {
	tb.Helper()
	dir := tb.TempDir()
	const recs, segSize = 1800, 900 << 20 // 1 h at 2 Mbit/s
	t0 := time.Date(2016, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	hour := int64(time.Hour)
	for i := range n {
		base := uint64(1 + i*recs)
		s := &segment{base: base, next: base + recs, size: segSize,
			firstTime: t0 + int64(i)*hour, lastTime: t0 + int64(i+1)*hour - int64(2*time.Second)}
		s.index = make([]indexEntry, points)
		for j := range s.index {
			s.index[j] = indexEntry{seq: base + uint64(j*recs/points), time: s.firstTime + int64(j)*hour/int64(points),
				pos: segmentHeaderSize + int64(j)*(segSize/int64(points))}
		}
		path := segmentPath(dir, base)
		f, err := os.Create(path)
		if err == nil {
			_, err = f.Write(encodeSegmentHeader(base, s.firstTime))
		}
		if err == nil {
			err = f.Truncate(segSize)
		}
		if err == nil {
			err = f.Close()
		}
		if err == nil {
			err = os.WriteFile(indexPath(path), encodeIndex(s), 0o644)
		}
		if err != nil {
			tb.Fatal(err)
		}
	}
	base := uint64(1 + n*recs)
	if err := os.WriteFile(segmentPath(dir, base), encodeSegmentHeader(base, t0+int64(n)*hour), 0o644); err != nil {
		tb.Fatal(err)
	}
	return dir
}

// BenchmarkOpen10kSegments opens a log of 10,000 sealed one-hour
// segments (over a year of one camera) whose indexes have one point per
// 2-second fragment (43 KB each, 432 MB in all, in the page cache), and
// reports the bytes read per Open.
func BenchmarkOpen10kSegments(b *testing.B) {
	dir := longLogDir(b, 10000, 1800)
	read0, counted := bytesRead()
	b.ResetTimer()
	for b.Loop() {
		l, err := Open(dir, Options{})
		if err != nil {
			b.Fatal(err)
		}
		if first, next := l.Bounds(); first != 1 || next != 1+10000*1800 {
			b.Fatalf("log %d..%d", first, next)
		}
		l.Close()
	}
	if read1, ok := bytesRead(); counted && ok {
		b.ReportMetric(float64(read1-read0)/float64(b.N), "read-B/op")
	}
}

// smallSegments are the options of manySegments' logs: 4 KiB segments,
// an index point every 128 bytes.
var smallSegments = Options{SegmentBytes: 4 << 10, IndexEvery: 128}

// manySegments writes a log of n or more small sealed segments and
// closes it.
func manySegments(t *testing.T, n int, opts Options) (dir string, sealed []SegmentInfo, clk *datastreamstest.Clock) {
	t.Helper()
	clk = logstoretest.NewClock()
	dir = t.TempDir()
	l := openLog(t, dir, clk.Now, opts)
	for len(l.Sealed()) < n {
		logstoretest.AppendN(t, l, clk, 30, 30, 100, time.Second)
	}
	sealed = l.Sealed()
	l.Close()
	return dir, sealed, clk
}

// TestOpenReadsOnlyIndexTrailers: Open of a log of many sealed segments
// reads each index file's trailer, not its entries: with one byte of
// every index's entries damaged, Open succeeds, reading a few dozen bytes
// per segment, and lists the segments as before. The first read of each
// segment checks its whole index, finds the damage, rebuilds the index
// by scanning the segment (the same as written at the seal) and reads
// the records as written.
func TestOpenReadsOnlyIndexTrailers(t *testing.T) {
	opts := smallSegments
	opts.MaxLoadedIndexes = 4
	dir, sealed, clk := manySegments(t, 100, opts)
	var bodies int64
	orig := map[string][]byte{}
	for _, si := range sealed {
		b, err := os.ReadFile(si.IndexPath)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) < indexTrailerSize+10*indexEntrySize {
			t.Fatalf("index of %d bytes: too few entries for the test", len(b))
		}
		orig[si.IndexPath] = b
		bodies += int64(len(b) - indexTrailerSize)
		flip(t, si.IndexPath, 5*indexEntrySize+3) // an entry's time
	}
	active, err := os.Stat(segmentPath(dir, sealed[len(sealed)-1].Next))
	if err != nil {
		t.Fatal(err)
	}
	read0, counted := bytesRead()
	l := openLog(t, dir, clk.Now, opts)
	read1, _ := bytesRead()
	if !counted {
		t.Log("/proc/self/io is not readable: bytes read by Open not checked")
	} else if got, most := read1-read0, int64(len(sealed)*indexTrailerSize)+active.Size()+4096; got > most {
		t.Errorf("Open read %d bytes, want at most %d (index trailers and the active segment; the entries are %d bytes)", got, most, bodies)
	}
	t.Logf("Open read %d bytes for %d sealed segments (their index entries: %d bytes)", read1-read0, len(sealed), bodies)
	if got := l.Sealed(); !reflect.DeepEqual(got, sealed) {
		t.Fatalf("Open lists %d sealed segments differently from the log written", len(got))
	}
	l.mu.RLock()
	for _, s := range l.segs[:len(l.segs)-1] {
		if s.index != nil {
			t.Errorf("segment %d has its index loaded after Open", s.base)
		}
	}
	l.mu.RUnlock()
	recs := readAll(t, l, 7) // batches smaller than a segment: seeks by index
	logstoretest.CheckRecords(t, recs, 1, 100)
	if _, next := l.Bounds(); uint64(len(recs)) != next-1 {
		t.Fatalf("%d records read, want %d", len(recs), next-1)
	}
	for path, want := range orig {
		if got, err := os.ReadFile(path); err != nil || !bytes.Equal(got, want) {
			t.Fatalf("index %s after the first read: not rebuilt as written at the seal (%v)", filepath.Base(path), err)
		}
	}
	// A damaged trailer is found by Open, which rebuilds the index.
	l.Close()
	flip(t, sealed[3].IndexPath, int64(len(orig[sealed[3].IndexPath])-10))
	l = openLog(t, dir, clk.Now, opts)
	if got, err := os.ReadFile(sealed[3].IndexPath); err != nil || !bytes.Equal(got, orig[sealed[3].IndexPath]) {
		t.Fatalf("index with a damaged trailer: not rebuilt by Open (%v)", err)
	}
	logstoretest.CheckRecords(t, readAll(t, l, 1000), 1, 100)
}

// TestOpenColdIndexDamaged: a cold segment's index whose entries are
// damaged does not stop Open (which reads only the trailer, so the store
// is not needed); the first read of the segment finds the damage and
// rebuilds the index through Cold: with the store down that read fails
// with an error wrapping logstore.ErrUnavailable and naming the index,
// with the store back it reads the records as written.
func TestOpenColdIndexDamaged(t *testing.T) {
	l, c, clk := coldLog(t, 300)
	c.uploadFirst(t, l, -1)
	dropFirst(t, l, -1)
	before := readAll(t, l, 1000)
	victim := l.Sealed()[2]
	orig, err := os.ReadFile(victim.IndexPath)
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	flip(t, victim.IndexPath, indexEntrySize+1)
	c.fail.Store(true)
	l2 := openLog(t, l.dir, clk.Now, l.opts)
	if _, err := l2.Read(victim.Base, 1, 1<<20); !errors.Is(err, logstore.ErrUnavailable) || !strings.Contains(err.Error(), "index") {
		t.Fatalf("read of a cold segment with a damaged index, store down: %v", err)
	}
	c.fail.Store(false)
	sameRecords(t, readAll(t, l2, 1000), before)
	if got, err := os.ReadFile(victim.IndexPath); err != nil || !bytes.Equal(got, orig) {
		t.Fatalf("cold segment's index not rebuilt as written at the seal (%v)", err)
	}
}

// encodeIndexV1 writes an index file in the first format (its checksum
// covering the entries).
func encodeIndexV1(s *segment) []byte {
	var b []byte
	for _, e := range s.index {
		b = binary.BigEndian.AppendUint64(b, e.seq)
		b = binary.BigEndian.AppendUint64(b, uint64(e.time))
		b = binary.BigEndian.AppendUint64(b, uint64(e.pos))
	}
	b = binary.BigEndian.AppendUint64(b, s.next)
	b = binary.BigEndian.AppendUint64(b, uint64(s.size))
	b = binary.BigEndian.AppendUint64(b, uint64(s.firstTime))
	b = binary.BigEndian.AppendUint64(b, uint64(s.lastTime))
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, crcTable))
}

// TestOpenIndexVersion1: a log written with the first index format opens
// the same (each index read and checked whole) and its indexes are
// rewritten in the current one; a damaged version 1 index is found at
// Open and rebuilt.
func TestOpenIndexVersion1(t *testing.T) {
	dir, sealed, clk := manySegments(t, 10, smallSegments)
	orig := map[string][]byte{}
	for _, si := range sealed {
		b, err := os.ReadFile(si.IndexPath)
		if err != nil {
			t.Fatal(err)
		}
		orig[si.IndexPath] = b
		idx, sum, _, err := readIndexFile(si.IndexPath, si.Size, true)
		if err != nil {
			t.Fatal(err)
		}
		s := &segment{next: sum.next, size: sum.size, firstTime: sum.firstTime, lastTime: sum.lastTime, index: idx}
		if err := os.WriteFile(si.IndexPath, encodeIndexV1(s), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, _, v1, err := readIndexFile(si.IndexPath, si.Size, false); err != nil || !v1 {
			t.Fatalf("version 1 index read: v1 %v, %v", v1, err)
		}
	}
	flip(t, sealed[1].IndexPath, 2*indexEntrySize)
	opts := smallSegments
	opts.MaxLoadedIndexes = 2
	l := openLog(t, dir, clk.Now, opts)
	if got := l.Sealed(); !reflect.DeepEqual(got, sealed) {
		t.Fatal("Open lists the sealed segments of version 1 indexes differently")
	}
	for path, want := range orig {
		if got, err := os.ReadFile(path); err != nil || !bytes.Equal(got, want) {
			t.Fatalf("index %s: not rewritten in the current format by Open (%v)", filepath.Base(path), err)
		}
	}
	logstoretest.CheckRecords(t, readAll(t, l, 7), 1, 100)
}
