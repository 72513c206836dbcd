package filelog

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/eddy-video/eddy/datastreams/logstore"
	"github.com/eddy-video/eddy/datastreams/logstore/logstoretest"
)

// TestFileLog runs the logstore conformance suite against the file log:
// the suite's options shape its segments and index, Reopen recovers the
// directory, and units are segments.
func TestFileLog(t *testing.T) { logstoretest.Run(t, harness(0)) }

// TestFileLogFewHints: the same with a log that keeps 3 recent append
// positions (SetHints, as a video stream's does), a ring that wraps.
func TestFileLogFewHints(t *testing.T) { logstoretest.Run(t, harness(3)) }

// harness opens filelogs for the conformance suite, keeping hints recent
// append positions (0: the default).
func harness(hints int) logstoretest.Harness {
	open := func(t *testing.T, dir string, now func() time.Time, opts Options) *Log {
		l := openLog(t, dir, now, opts)
		if hints > 0 {
			l.SetHints(hints)
		}
		return l
	}
	return logstoretest.Harness{
		Open: func(t *testing.T, o logstoretest.Options) logstore.Log {
			return open(t, t.TempDir(), o.Now, Options{SegmentBytes: o.SegmentBytes, SegmentDuration: o.SegmentDuration,
				IndexEvery: o.IndexEvery, MaxLoadedIndexes: o.MaxLoadedIndexes})
		},
		Reopen: func(t *testing.T, l logstore.Log) logstore.Log {
			fl := l.(*Log)
			fl.Close()
			return open(t, fl.dir, fl.opts.Now, fl.opts)
		},
		Units: func(l logstore.Log) int {
			fl := l.(*Log)
			fl.mu.RLock()
			defer fl.mu.RUnlock()
			return len(fl.segs)
		},
	}
}

func openLog(t *testing.T, dir string, now func() time.Time, opts Options) *Log {
	t.Helper()
	opts.Now = now
	l, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func TestFileLogRecoversTornTail(t *testing.T) {
	cases := []struct {
		name   string
		damage func(t *testing.T, path string, size int64)
		keep   uint64 // records expected to survive
	}{
		{"partial frame", func(t *testing.T, path string, size int64) { truncate(t, path, size-7) }, 99},
		{"zero-filled tail", func(t *testing.T, path string, size int64) {
			appendBytes(t, path, make([]byte, 4096))
		}, 100},
		{"flipped byte in last record", func(t *testing.T, path string, size int64) { flip(t, path, size-3) }, 99},
		{"garbage after valid data", func(t *testing.T, path string, size int64) {
			appendBytes(t, path, []byte("\x00\x00\x00\x40garbage that is not a frame at all, really not"))
		}, 100},
		{"header only", func(t *testing.T, path string, size int64) { truncate(t, path, segmentHeaderSize) }, 0},
		{"torn header", func(t *testing.T, path string, size int64) { truncate(t, path, 5) }, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clk := logstoretest.NewClock()
			dir := t.TempDir()
			l := openLog(t, dir, clk.Now, Options{})
			logstoretest.AppendN(t, l, clk, 100, 1, 40, time.Millisecond)
			l.Close()
			path := segmentPath(dir, 1)
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			tc.damage(t, path, fi.Size())
			l2 := openLog(t, dir, clk.Now, Options{})
			_, next := l2.Bounds()
			if next != tc.keep+1 {
				t.Fatalf("after recovery next = %d, want %d", next, tc.keep+1)
			}
			recs, err := l2.Read(1, 1000, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			if uint64(len(recs)) != tc.keep {
				t.Fatalf("read %d records, want %d", len(recs), tc.keep)
			}
			logstoretest.CheckRecords(t, recs, 1, 40)
			// Appends continue right after the valid prefix.
			logstoretest.AppendN(t, l2, clk, 5, 5, 40, time.Millisecond)
			recs, err = l2.Read(1, 1000, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			logstoretest.CheckRecords(t, recs, 1, 40)
			if uint64(len(recs)) != tc.keep+5 {
				t.Fatalf("read %d records after append, want %d", len(recs), tc.keep+5)
			}
		})
	}
}

func TestFileLogDamagedIndexIsRebuilt(t *testing.T) {
	clk := logstoretest.NewClock()
	dir := t.TempDir()
	opts := Options{SegmentBytes: 16 << 10, IndexEvery: 256}
	l := openLog(t, dir, clk.Now, opts)
	logstoretest.AppendN(t, l, clk, 2000, 20, 30, time.Millisecond)
	l.Close()
	idx, _ := filepath.Glob(filepath.Join(dir, "*"+indexExt))
	if len(idx) < 2 {
		t.Fatalf("want several index files, have %d", len(idx))
	}
	sort.Strings(idx)
	flip(t, idx[0], 10)
	if err := os.Remove(idx[1]); err != nil {
		t.Fatal(err)
	}
	l2 := openLog(t, dir, clk.Now, opts)
	recs, err := l2.Read(1, 5000, 10<<20)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2000 {
		t.Fatalf("read %d, want 2000", len(recs))
	}
	logstoretest.CheckRecords(t, recs, 1, 30)
}

func TestFileLogRollbackOnWriteFailure(t *testing.T) {
	clk := logstoretest.NewClock()
	dir := t.TempDir()
	l := openLog(t, dir, clk.Now, Options{})
	logstoretest.AppendN(t, l, clk, 10, 10, 20, time.Millisecond)
	// Make the next write fail by closing the file under the log.
	l.active.Close()
	err := l.Append([]logstore.Record{{Seq: 11, Time: clk.Now().UnixNano(), Data: []byte("x")}})
	if err == nil {
		t.Fatal("append on a closed file succeeded")
	}
	if _, next := l.Bounds(); next != 11 {
		t.Fatalf("next = %d after failed append, want 11", next)
	}
	f, err := os.OpenFile(segmentPath(dir, 1), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Seek(0, 2); err != nil {
		t.Fatal(err)
	}
	l.active = f
	// The failed batch is forgotten: the same sequence is taken again.
	logstoretest.AppendN(t, l, clk, 5, 5, 20, time.Millisecond)
	recs, _ := l.Read(1, 100, 1<<20)
	if len(recs) != 15 {
		t.Fatalf("read %d, want 15", len(recs))
	}
	logstoretest.CheckRecords(t, recs, 1, 20)
}

func truncate(t *testing.T, path string, n int64) {
	t.Helper()
	if err := os.Truncate(path, n); err != nil {
		t.Fatal(err)
	}
}

func appendBytes(t *testing.T, path string, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
}

func flip(t *testing.T, path string, at int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, at); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff
	if _, err := f.WriteAt(b, at); err != nil {
		t.Fatal(err)
	}
}

// TestFileLogIdleReadersClosed: a sealed segment that reads left does not
// keep its read descriptor: once unused for readerIdle, the next read
// (of the active segment, as live readers do) retires it, so the open
// files of a log stay flat as segments roll.
func TestFileLogIdleReadersClosed(t *testing.T) {
	clk := logstoretest.NewClock()
	l := openLog(t, t.TempDir(), clk.Now, Options{SegmentBytes: 4 << 10})
	logstoretest.AppendN(t, l, clk, 200, 10, 100, time.Millisecond)
	open := func() int {
		l.mu.RLock()
		defer l.mu.RUnlock()
		n := 0
		for _, s := range l.segs {
			if s.rf != nil {
				n++
			}
		}
		return n
	}
	if len(l.segs) < 3 {
		t.Fatalf("%d segments, want several", len(l.segs))
	}
	if _, err := l.Read(1, 1000, 1<<20); err != nil { // every segment
		t.Fatal(err)
	}
	if n := open(); n != maxReaders {
		t.Fatalf("%d read descriptors after reading every segment, want %d (the bound)", n, maxReaders)
	}
	_, next := l.Bounds()
	clk.Advance(readerIdle)
	if _, err := l.Read(next-1, 1, 1<<20); err != nil { // the newest record only
		t.Fatal(err)
	}
	if n := open(); n != 1 {
		t.Fatalf("%d read descriptors after the others were idle for %v, want 1 (the newest segment's)", n, readerIdle)
	}
}

// BenchmarkReadLocal reads 50 records of 1 KiB at a time from spread
// positions of a log of local segments: the hot path of a read.
func BenchmarkReadLocal(b *testing.B) {
	clk := logstoretest.NewClock()
	l, err := Open(b.TempDir(), Options{Now: clk.Now, SegmentBytes: 1 << 20})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	const n = 20000
	for s := uint64(1); s <= n; s += 100 {
		recs := make([]logstore.Record, 100)
		for i := range recs {
			recs[i] = logstore.Record{Seq: s + uint64(i), Time: clk.Now().UnixNano(), Data: logstoretest.Payload(s+uint64(i), 1024)}
		}
		if err := l.Append(recs); err != nil {
			b.Fatal(err)
		}
		if err := l.Commit(false); err != nil {
			b.Fatal(err)
		}
		clk.Advance(time.Second)
	}
	b.ReportAllocs()
	b.ResetTimer()
	from := uint64(1)
	for b.Loop() {
		recs, err := l.Read(from, 50, 1<<20)
		if err != nil || len(recs) != 50 {
			b.Fatalf("read %d: %d records, %v", from, len(recs), err)
		}
		from = (from+7919)%(n-100) + 1
	}
}

// TestFileLogNewestHeaderDamaged: a newest segment whose header is
// damaged held nothing acknowledged: it is set aside, the segment before
// it takes appends again with its whole sparse index (loaded from its
// index file, which Open otherwise leaves on disk), and its next index
// file describes it exactly.
func TestFileLogNewestHeaderDamaged(t *testing.T) {
	clk := logstoretest.NewClock()
	dir := t.TempDir()
	l := openLog(t, dir, clk.Now, Options{SegmentBytes: 4 << 10, IndexEvery: 256})
	logstoretest.AppendN(t, l, clk, 120, 2, 100, time.Second)
	l.mu.RLock()
	n := len(l.segs)
	prev, newest := l.segs[n-2], l.segs[n-1]
	l.mu.RUnlock()
	if newest.count() == 0 {
		t.Fatal("the newest segment is empty")
	}
	l.Close()
	flip(t, newest.path, 0)
	l2 := openLog(t, dir, clk.Now, l.opts)
	if !exists(newest.path + ".corrupt") {
		t.Fatal("the damaged segment was not set aside")
	}
	if _, next := l2.Bounds(); next != prev.next {
		t.Fatalf("next %d, want %d", next, prev.next)
	}
	want, err := scanSegment(prev.path, 256)
	if err != nil {
		t.Fatal(err)
	}
	l2.mu.RLock()
	a := l2.segs[len(l2.segs)-1]
	got := slices.Clone(a.index)
	l2.mu.RUnlock()
	if a.base != prev.base || a.sealed || !reflect.DeepEqual(got, want.index) {
		t.Fatalf("active segment %d (sealed %v) has %d index points, want %d of segment %d", a.base, a.sealed, len(got), len(want.index), prev.base)
	}
	logstoretest.AppendN(t, l2, clk, 80, 2, 100, time.Second)
	logstoretest.CheckRecords(t, readAll(t, l2, 1000), 1, 100)
	sealed, err := scanSegment(prev.path, 256)
	if err != nil {
		t.Fatal(err)
	}
	idx, sum, _, err := readIndexFile(indexPath(prev.path), sealed.size, true)
	if next := sum.next; err != nil || next != sealed.next || !reflect.DeepEqual(idx, sealed.index) {
		t.Fatalf("index file of the segment sealed again: %d points, next %d, %v; want %d, %d", len(idx), next, err, len(sealed.index), sealed.next)
	}
}

// TestFileLogIndexesLoadedOnDemand: a reopened log holds no sealed
// segment's sparse index in memory until a read needs it, and then at
// most MaxLoadedIndexes of them, so that memory does not grow with the
// age of the log (years of segments, most of them cold).
func TestFileLogIndexesLoadedOnDemand(t *testing.T) {
	clk := logstoretest.NewClock()
	l := openLog(t, t.TempDir(), clk.Now, Options{SegmentBytes: 2 << 10, IndexEvery: 256, MaxLoadedIndexes: 2})
	logstoretest.AppendN(t, l, clk, 200, 2, 100, time.Second)
	l2 := reopen(t, l, l.opts)
	inMemory := func() (n, sealed int) {
		l2.mu.RLock()
		defer l2.mu.RUnlock()
		for _, s := range l2.segs[:len(l2.segs)-1] {
			if s.index != nil {
				n++
			}
		}
		return n, len(l2.segs) - 1
	}
	if n, sealed := inMemory(); n != 0 || sealed < 10 {
		t.Fatalf("%d of %d sealed segments' indexes in memory after open, want none of many", n, sealed)
	}
	logstoretest.CheckRecords(t, readAll(t, l2, 7), 1, 100)
	for seq := uint64(1); seq <= 200; seq += 5 {
		if tm, ok := l2.TimeOf(seq); !ok || l2.SeqAtTime(tm) > seq {
			t.Fatalf("TimeOf/SeqAtTime of %d: %d, %v", seq, tm, ok)
		}
	}
	if n, _ := inMemory(); n > 2 {
		t.Fatalf("%d sealed segments' indexes in memory, MaxLoadedIndexes is 2", n)
	}
}

// TestAppendLargeRecordsUncopied appends batches that mix small records
// with records of directData bytes and more (written from the caller's
// slice rather than the encode buffer): they read back whole, in order,
// after a reopen too (every frame's checksum holds), the log keeps no
// reference to the slices it was given, and a torn large record is cut
// at open as a copied one would be.
func TestAppendLargeRecordsUncopied(t *testing.T) {
	clk := logstoretest.NewClock()
	dir := t.TempDir()
	l := openLog(t, dir, clk.Now, Options{})
	sizes := [][]int{{10, directData, 3, directData - 1, 3 * directData, 0}, {2 * directData}, {5, 7}, {directData + 1, directData + 2}}
	var want []logstore.Record
	seq := uint64(1)
	for b, batch := range sizes {
		var recs []logstore.Record
		for i, n := range batch {
			data := make([]byte, n)
			for j := range data {
				data[j] = byte(j*7 + i + b)
			}
			recs = append(recs, logstore.Record{Seq: seq, Time: clk.Now().UnixNano(), Key: []byte{byte(i), byte(b)}, Data: data})
			want = append(want, logstore.Record{Seq: seq, Time: recs[i].Time, Key: slices.Clone(recs[i].Key), Data: slices.Clone(data)})
			seq++
		}
		if err := l.Append(recs); err != nil {
			t.Fatal(err)
		}
		if err := l.Commit(true); err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			clear(r.Data) // the caller reuses its buffers
		}
		clk.Advance(time.Millisecond)
	}
	check := func(l *Log) {
		t.Helper()
		got, err := l.Read(1, 1000, 1<<30)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("read %d records, want %d", len(got), len(want))
		}
		for i := range want {
			if got[i].Seq != want[i].Seq || got[i].Time != want[i].Time || !slices.Equal(got[i].Key, want[i].Key) || !slices.Equal(got[i].Data, want[i].Data) {
				t.Fatalf("record %d (%d bytes) reads back differently", want[i].Seq, len(want[i].Data))
			}
		}
	}
	check(l)
	l.Close()
	l = openLog(t, dir, clk.Now, Options{})
	check(l)
	l.Close()

	// The last record (directData+2 bytes) torn: the others survive.
	path := segmentPath(dir, 1)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	truncate(t, path, fi.Size()-directData/2)
	want = want[:len(want)-1]
	l = openLog(t, dir, clk.Now, Options{})
	check(l)
}
