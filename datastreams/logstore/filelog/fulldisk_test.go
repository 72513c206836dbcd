package filelog

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/eddy-video/eddy/datastreams/datastreamstest"
	"github.com/eddy-video/eddy/datastreams/logstore"
	"github.com/eddy-video/eddy/datastreams/logstore/logstoretest"
)

// appendOne appends and commits record seq (data size bytes) and returns
// the error of whichever step failed.
func appendOne(l *Log, clk *datastreamstest.Clock, seq uint64, size int) error {
	rec := logstore.Record{Seq: seq, Time: clk.Now().UnixNano(), Key: []byte(fmt.Sprint("k", seq)), Data: logstoretest.Payload(seq, size)}
	clk.Advance(time.Millisecond)
	if err := l.Append([]logstore.Record{rec}); err != nil {
		return err
	}
	return l.Commit(true)
}

// checkNoTornState fails t unless every segment file holds exactly its
// valid records (no half-written frame), no stray segment, index or temp
// file exists, and the log reads back records 1..next-1 intact.
func checkNoTornState(t *testing.T, l *Log, size int) {
	t.Helper()
	first, next := l.Bounds()
	l.mu.RLock()
	segs := map[string]bool{} // segment names without extension
	for _, s := range l.segs {
		segs[strings.TrimSuffix(filepath.Base(s.path), segmentExt)] = true
	}
	l.mu.RUnlock()
	des, err := os.ReadDir(l.dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, de := range des {
		name := de.Name()
		// An index file may outlive a failed roll of its (active) segment:
		// it is rewritten at the next roll, and an open scans that segment.
		base, ext := strings.TrimSuffix(name, filepath.Ext(name)), filepath.Ext(name)
		if !segs[base] || (ext != segmentExt && ext != indexExt) {
			t.Errorf("stray file %s after a failed write", name)
		}
		if !strings.HasSuffix(name, segmentExt) {
			continue
		}
		s, err := scanSegment(filepath.Join(l.dir, name), 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		if fi, _ := de.Info(); fi.Size() != s.size {
			t.Errorf("%s: %d bytes on disk, %d of them valid records", name, fi.Size(), s.size)
		}
	}
	recs, err := l.Read(first, int(next-first)+1, 1<<30)
	if err != nil || len(recs) != int(next-first) {
		t.Fatalf("read %d records (%v), want %d", len(recs), err, next-first)
	}
	logstoretest.CheckRecords(t, recs, first, size)
}

// TestFileLogFullDisk fills a real filesystem under the log: the write that
// finds no space fails with ENOSPC and leaves nothing of itself (no torn
// frame, no new segment, no index or temp file), what was committed reads
// back intact, and appends continue the sequence once space returns, also
// after a reopen.
func TestFileLogFullDisk(t *testing.T) {
	cases := []struct {
		name     string
		segBytes int64
		size     int
		fill     func(t *testing.T, l *Log, clk *datastreamstest.Clock, filler string) uint64
	}{
		{"a record's write", 64 << 20, 10 << 10, func(t *testing.T, l *Log, clk *datastreamstest.Clock, filler string) uint64 {
			// Leave less room than the records take: one fails part-way.
			datastreamstest.Fill(t, filler, 100<<10)
			seq := uint64(1)
			for ; appendOne(l, clk, seq, 10<<10) == nil; seq++ {
			}
			return seq
		}},
		{"a large record's uncopied write", 64 << 20, 2 * directData, func(t *testing.T, l *Log, clk *datastreamstest.Clock, filler string) uint64 {
			// Records of directData and more: the frame header and the
			// data are two writes, the data's fails part-way.
			datastreamstest.Fill(t, filler, 5*directData)
			seq := uint64(1)
			for ; appendOne(l, clk, seq, 2*directData) == nil; seq++ {
			}
			return seq
		}},
		{"a segment roll's index file", 16 << 10, 1000, func(t *testing.T, l *Log, clk *datastreamstest.Clock, filler string) uint64 {
			return fillAtRoll(t, l, clk, filler, 0)
		}},
		{"a segment roll's new segment", 16 << 10, 1000, func(t *testing.T, l *Log, clk *datastreamstest.Clock, filler string) uint64 {
			// One page left: the index file fits, the new segment does not.
			return fillAtRoll(t, l, clk, filler, int64(os.Getpagesize()))
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := datastreamstest.Tmpfs(t, 4<<20)
			clk := logstoretest.NewClock()
			l := openLog(t, filepath.Join(dir, "log"), clk.Now, Options{SegmentBytes: tc.segBytes, IndexEvery: 4 << 10})
			filler := filepath.Join(dir, "filler")
			failed := tc.fill(t, l, clk, filler)
			err := appendOne(l, clk, failed, tc.size)
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("append %d on a full disk: %v, want ENOSPC", failed, err)
			}
			if _, next := l.Bounds(); next != failed {
				t.Fatalf("next = %d after the failed append, want %d", next, failed)
			}
			checkNoTornState(t, l, tc.size)
			if err := os.Remove(filler); err != nil {
				t.Fatal(err)
			}
			for seq := failed; seq < failed+20; seq++ {
				if err := appendOne(l, clk, seq, tc.size); err != nil {
					t.Fatalf("append %d after space returned: %v", seq, err)
				}
			}
			checkNoTornState(t, l, tc.size)
			l.Close()
			l2 := openLog(t, l.dir, clk.Now, l.opts)
			if _, next := l2.Bounds(); next != failed+20 {
				t.Fatalf("after reopen next = %d, want %d", next, failed+20)
			}
			checkNoTornState(t, l2, tc.size)
		})
	}
}

// fillAtRoll fills the active segment to its roll size, then the disk
// (leaving leave bytes): the next append must roll first, and cannot.
func fillAtRoll(t *testing.T, l *Log, clk *datastreamstest.Clock, filler string, leave int64) uint64 {
	seq := uint64(1)
	for ; l.wSize < l.opts.SegmentBytes; seq++ {
		if err := appendOne(l, clk, seq, 1000); err != nil {
			t.Fatal(err)
		}
	}
	datastreamstest.Fill(t, filler, leave)
	return seq
}

// TestFileLogDropOldest: the free-space floor's unit of deletion is the
// oldest segment, the active one included (sealed first, the sequence
// kept), and never a segment with an append in flight.
func TestFileLogDropOldest(t *testing.T) {
	clk := logstoretest.NewClock()
	dir := t.TempDir()
	l := openLog(t, dir, clk.Now, Options{SegmentBytes: 8 << 10})
	if _, _, _, ok := l.Oldest(); ok {
		t.Fatal("an empty log has an oldest unit")
	}
	logstoretest.AppendN(t, l, clk, 100, 1, 200, time.Second)
	l.mu.RLock()
	segs := len(l.segs)
	want := l.segs[0].lastTime
	l.mu.RUnlock()
	if segs < 3 {
		t.Fatalf("%d segments, want several", segs)
	}
	for i := segs; i > 1; i-- {
		newest, bytes, active, ok := l.Oldest()
		if !ok || active || newest != want || bytes <= 0 {
			t.Fatalf("Oldest = %d, %d, %v, %v; want the first sealed segment (newest record %d)", newest, bytes, active, ok, want)
		}
		recs, n, err := l.DropOldest()
		if err != nil || recs == 0 || n != bytes {
			t.Fatalf("DropOldest = %d, %d, %v", recs, n, err)
		}
		l.mu.RLock()
		want = l.segs[0].lastTime
		l.mu.RUnlock()
	}
	if _, _, active, ok := l.Oldest(); !ok || !active {
		t.Fatal("the last segment left is not reported as the active one")
	}
	// An append between Append and Commit holds the active segment.
	if err := l.Append([]logstore.Record{{Seq: 101, Time: clk.Now().UnixNano(), Data: []byte("x")}}); err != nil {
		t.Fatal(err)
	}
	if recs, _, err := l.DropOldest(); recs != 0 || err != nil {
		t.Fatalf("DropOldest during an append = %d, %v; want nothing removed", recs, err)
	}
	if err := l.Commit(true); err != nil {
		t.Fatal(err)
	}
	if recs, _, err := l.DropOldest(); recs == 0 || err != nil {
		t.Fatalf("DropOldest of the active segment = %d, %v", recs, err)
	}
	first, next := l.Bounds()
	if first != 102 || next != 102 {
		t.Fatalf("bounds %d..%d after dropping everything, want 102..102", first, next)
	}
	logstoretest.AppendN(t, l, clk, 5, 1, 200, time.Second)
	l.Close()
	l2 := openLog(t, dir, clk.Now, l.opts)
	if first, next := l2.Bounds(); first != 102 || next != 107 {
		t.Fatalf("after reopen bounds %d..%d, want 102..107", first, next)
	}
}
