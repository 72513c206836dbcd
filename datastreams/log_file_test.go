package datastreams

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"
)

// fakeClock is a settable clock for rolling and retention.
type fakeClock struct{ t time.Time }

func (c *fakeClock) Now() time.Time          { return c.t }
func (c *fakeClock) Advance(d time.Duration) { c.t = c.t.Add(d) }

func newClock() *fakeClock { return &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func payload(seq uint64, n int) []byte {
	b := bytes.Repeat([]byte{byte(seq)}, n)
	copy(b, fmt.Sprintf("rec-%d|", seq))
	return b
}

// appendN appends n records with consecutive sequences, one commit per
// batch of size batch, each at the clock's time; the clock advances by step
// per batch.
func appendN(t *testing.T, l *FileLog, clk *fakeClock, n, batch, size int, step time.Duration) {
	t.Helper()
	_, next := l.Bounds()
	for done := 0; done < n; done += batch {
		var recs []Record
		for i := 0; i < batch && done+i < n; i++ {
			s := next + uint64(done+i)
			recs = append(recs, Record{Seq: s, Time: clk.Now().UnixNano(), Key: []byte(fmt.Sprint("k", s)), Data: payload(s, size)})
		}
		if err := l.Append(recs); err != nil {
			t.Fatal(err)
		}
		if err := l.Commit(true); err != nil {
			t.Fatal(err)
		}
		clk.Advance(step)
	}
}

func checkRecords(t *testing.T, recs []Record, from uint64, size int) {
	t.Helper()
	for i, r := range recs {
		want := from + uint64(i)
		if r.Seq != want {
			t.Fatalf("record %d: seq %d, want %d", i, r.Seq, want)
		}
		if !bytes.Equal(r.Data, payload(want, size)) || string(r.Key) != fmt.Sprint("k", want) {
			t.Fatalf("record %d (seq %d): wrong contents", i, r.Seq)
		}
	}
}

func openLog(t *testing.T, dir string, clk *fakeClock, opts FileLogOptions) *FileLog {
	t.Helper()
	opts.Now = clk.Now
	l, err := OpenFileLog(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func TestFileLogAppendReadAcrossSegments(t *testing.T) {
	clk := newClock()
	dir := t.TempDir()
	// Small segments and index granularity so a few thousand records span
	// many segments and index points.
	opts := FileLogOptions{SegmentBytes: 64 << 10, IndexEvery: 1 << 10}
	l := openLog(t, dir, clk, opts)
	appendN(t, l, clk, 5000, 37, 100, time.Millisecond)
	first, next := l.Bounds()
	if first != 1 || next != 5001 {
		t.Fatalf("bounds %d..%d, want 1..5001", first, next)
	}
	if n := len(l.segs); n < 5 {
		t.Fatalf("%d segments, want several", n)
	}
	tests := []struct {
		name       string
		from       uint64
		max, bytes int
		wantFirst  uint64
		wantCount  int
	}{
		{"from start", 0, 100, 1 << 20, 1, 100},
		{"mid segment", 2345, 10, 1 << 20, 2345, 10},
		{"across segments", 600, 3000, 10 << 20, 600, 3000},
		{"tail", 4990, 100, 1 << 20, 4990, 11},
		{"past end", 5001, 10, 1 << 20, 0, 0},
		{"bytes bound", 1, 1000, 1000, 1, 9},
		{"always one record", 7, 10, 1, 7, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			recs, err := l.Read(tc.from, tc.max, tc.bytes)
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) != tc.wantCount {
				t.Fatalf("read %d records, want %d", len(recs), tc.wantCount)
			}
			if tc.wantCount > 0 {
				checkRecords(t, recs, tc.wantFirst, 100)
			}
		})
	}
	// Reopen: sealed segments come back from their index files, the active
	// one from a scan; everything reads the same.
	l.Close()
	l2 := openLog(t, dir, clk, opts)
	recs, err := l2.Read(1, 10000, 100<<20)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 5000 {
		t.Fatalf("after reopen read %d records, want 5000", len(recs))
	}
	checkRecords(t, recs, 1, 100)
}

func TestFileLogSeqAtTime(t *testing.T) {
	clk := newClock()
	start := clk.Now()
	l := openLog(t, t.TempDir(), clk, FileLogOptions{SegmentBytes: 32 << 10, IndexEvery: 512})
	// 1000 records, 10 per batch, batches 1 s apart: record s arrived at
	// start + ((s-1)/10) s.
	appendN(t, l, clk, 1000, 10, 50, time.Second)
	for _, tc := range []struct {
		at   time.Duration
		want uint64
	}{
		{-time.Hour, 1},
		{0, 1},
		{500 * time.Millisecond, 11},
		{37 * time.Second, 371},
		{99 * time.Second, 991},
		{100 * time.Second, 1001},
	} {
		if got := l.SeqAtTime(start.Add(tc.at).UnixNano()); got != tc.want {
			t.Errorf("SeqAtTime(start+%v) = %d, want %d", tc.at, got, tc.want)
		}
	}
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
			clk := newClock()
			dir := t.TempDir()
			l := openLog(t, dir, clk, FileLogOptions{})
			appendN(t, l, clk, 100, 1, 40, time.Millisecond)
			l.Close()
			path := segmentPath(dir, 1)
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			tc.damage(t, path, fi.Size())
			l2 := openLog(t, dir, clk, FileLogOptions{})
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
			checkRecords(t, recs, 1, 40)
			// Appends continue right after the valid prefix.
			appendN(t, l2, clk, 5, 5, 40, time.Millisecond)
			recs, err = l2.Read(1, 1000, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			checkRecords(t, recs, 1, 40)
			if uint64(len(recs)) != tc.keep+5 {
				t.Fatalf("read %d records after append, want %d", len(recs), tc.keep+5)
			}
		})
	}
}

func TestFileLogDamagedIndexIsRebuilt(t *testing.T) {
	clk := newClock()
	dir := t.TempDir()
	opts := FileLogOptions{SegmentBytes: 16 << 10, IndexEvery: 256}
	l := openLog(t, dir, clk, opts)
	appendN(t, l, clk, 2000, 20, 30, time.Millisecond)
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
	l2 := openLog(t, dir, clk, opts)
	recs, err := l2.Read(1, 5000, 10<<20)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2000 {
		t.Fatalf("read %d, want 2000", len(recs))
	}
	checkRecords(t, recs, 1, 30)
}

func TestFileLogTrim(t *testing.T) {
	clk := newClock()
	start := clk.Now()
	l := openLog(t, t.TempDir(), clk, FileLogOptions{SegmentBytes: 1 << 40, SegmentDuration: time.Hour})
	// Ten hours of records, one batch a minute: segments roll hourly.
	appendN(t, l, clk, 600, 1, 1000, time.Minute)
	if n := len(l.segs); n != 10 {
		t.Fatalf("%d segments, want 10 hourly ones", n)
	}
	size := l.Size()
	// Age: keep the last 3 hours.
	recs, bytes, err := l.Trim(start.Add(7*time.Hour).UnixNano(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if recs != 420 || bytes <= 0 {
		t.Fatalf("trimmed %d records (%d bytes), want 420", recs, bytes)
	}
	first, next := l.Bounds()
	if first != 421 || next != 601 {
		t.Fatalf("bounds after trim %d..%d, want 421..601", first, next)
	}
	// A read from before the horizon starts at the horizon.
	got, err := l.Read(1, 5, 1<<20)
	if err != nil || len(got) != 5 || got[0].Seq != 421 {
		t.Fatalf("read from trimmed range: %v %v", got, err)
	}
	// Size: keep at most ~1.5 segments of bytes.
	segBytes := size / 10
	if _, _, err := l.Trim(0, segBytes*3/2); err != nil {
		t.Fatal(err)
	}
	if l.Size() > segBytes*3/2 {
		t.Fatalf("size %d over cap %d", l.Size(), segBytes*3/2)
	}
	// Everything expired: the log empties but keeps its sequence.
	if _, _, err := l.Trim(clk.Now().Add(time.Hour).UnixNano(), 0); err != nil {
		t.Fatal(err)
	}
	first, next = l.Bounds()
	if first != 601 || next != 601 {
		t.Fatalf("bounds after full trim %d..%d, want 601..601", first, next)
	}
	appendN(t, l, clk, 3, 3, 10, time.Second)
	if got, _ := l.Read(0, 10, 1<<20); len(got) != 3 || got[0].Seq != 601 {
		t.Fatalf("after full trim, appends continue at 601: %+v", got)
	}
}

func TestFileLogRollbackOnWriteFailure(t *testing.T) {
	clk := newClock()
	dir := t.TempDir()
	l := openLog(t, dir, clk, FileLogOptions{})
	appendN(t, l, clk, 10, 10, 20, time.Millisecond)
	// Make the next write fail by closing the file under the log.
	l.active.Close()
	err := l.Append([]Record{{Seq: 11, Time: clk.Now().UnixNano(), Data: []byte("x")}})
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
	appendN(t, l, clk, 5, 5, 20, time.Millisecond)
	recs, _ := l.Read(1, 100, 1<<20)
	if len(recs) != 15 {
		t.Fatalf("read %d, want 15", len(recs))
	}
	checkRecords(t, recs, 1, 20)
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

// TestFileLogConcurrentReadWriteTrim runs a writer, readers at random
// positions and a trimmer at once over small segments (so segments roll,
// index entries and read descriptors come and go); every read must return
// intact, consecutive records.
func TestFileLogConcurrentReadWriteTrim(t *testing.T) {
	clk := newClock()
	l := openLog(t, t.TempDir(), clk, FileLogOptions{SegmentBytes: 8 << 10, IndexEvery: 512, MaxLoadedIndexes: 3})
	const total = 6000
	stop := make(chan struct{})
	errs := make(chan error, 8)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // writer; the clock is only touched here
		defer wg.Done()
		defer close(stop)
		for s := uint64(1); s <= total; s += 10 {
			if s == total/2+1 {
				// Make sure the trimmer ran while writes go on, even on a
				// machine too busy to schedule it in time by itself.
				for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
					if first, _ := l.Bounds(); first > 1 {
						break
					}
				}
			}
			var recs []Record
			for i := uint64(0); i < 10; i++ {
				recs = append(recs, Record{Seq: s + i, Time: int64(s + i), Key: []byte(fmt.Sprint("k", s+i)), Data: payload(s+i, 30)})
			}
			if err := l.Append(recs); err != nil {
				errs <- err
				return
			}
			if err := l.Commit(false); err != nil {
				errs <- err
				return
			}
		}
	}()
	for r := 0; r < 4; r++ {
		wg.Add(1)
		go func(seed int) {
			defer wg.Done()
			rng := uint64(seed*7919 + 1)
			for {
				select {
				case <-stop:
					return
				default:
				}
				first, next := l.Bounds()
				rng = rng*6364136223846793005 + 1442695040888963407
				from := first + rng%(next-first+1)
				recs, err := l.Read(from, 200, 1<<20)
				if err != nil {
					errs <- err
					return
				}
				for i, rec := range recs {
					want := recs[0].Seq + uint64(i)
					if rec.Seq != want || !bytes.Equal(rec.Data, payload(want, 30)) {
						errs <- fmt.Errorf("read from %d: record %d is seq %d, damaged or out of order", from, i, rec.Seq)
						return
					}
				}
			}
		}(r)
	}
	wg.Add(1)
	go func() { // trimmer: keep roughly the newest 2000 records
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			_, next := l.Bounds()
			if next > 2000 {
				if _, _, err := l.Trim(int64(next-2000), 0); err != nil {
					errs <- err
					return
				}
			}
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if first, next := l.Bounds(); next != total+1 || first == 1 {
		t.Fatalf("bounds %d..%d after the run", first, next)
	}
}
