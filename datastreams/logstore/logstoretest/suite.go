package logstoretest

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/eddy-video/eddy/datastreams/logstore"
)

// Options are the storage shape a test asks for. An implementation that
// stores records in units (the file log's segments and sparse index)
// maps them onto its own options so that a test spans many units; one
// without units ignores them. Zero values take the implementation's
// defaults.
type Options struct {
	Now             func() time.Time // the clock for rolling units by age
	SegmentBytes    int64            // start a new unit past this size
	SegmentDuration time.Duration    // start a new unit when its first record is this old
	IndexEvery      int64            // seek granularity in bytes
	// MaxLoadedIndexes bounds how many units keep their seek index in memory.
	MaxLoadedIndexes int
}

// Harness is how the suite opens the implementation under test.
type Harness struct {
	// Open returns a new, empty log shaped by o, closed when t ends.
	Open func(t *testing.T, o Options) logstore.Log
	// Reopen closes l and opens it again from what it kept (closed when t
	// ends). nil for an implementation that keeps nothing past Close: the
	// suite skips its reopen steps.
	Reopen func(t *testing.T, l logstore.Log) logstore.Log
	// Units returns how many storage units l spans; nil for an
	// implementation without units. Tests meant to span several check it.
	Units func(l logstore.Log) int
}

// Run runs the conformance suite: every test of what logstore.Log
// promises, against logs that h opens.
func Run(t *testing.T, h Harness) {
	t.Run("AppendReadAcrossSegments", func(t *testing.T) { testAppendReadAcrossSegments(t, h) })
	t.Run("SeqAtTime", func(t *testing.T) { testSeqAtTime(t, h) })
	t.Run("Trim", func(t *testing.T) { testTrim(t, h) })
	t.Run("ConcurrentReadWriteTrim", func(t *testing.T) { testConcurrentReadWriteTrim(t, h) })
	t.Run("ReadsSeeOnlyCommitted", func(t *testing.T) { testReadsSeeOnlyCommitted(t, h) })
	t.Run("TimeOfAndLastTime", func(t *testing.T) { testTimeOfAndLastTime(t, h) })
	t.Run("Close", func(t *testing.T) { testClose(t, h) })
}

func testAppendReadAcrossSegments(t *testing.T, h Harness) {
	clk := NewClock()
	// Small segments and index granularity so a few thousand records span
	// many segments and index points.
	l := h.Open(t, Options{Now: clk.Now, SegmentBytes: 64 << 10, IndexEvery: 1 << 10})
	AppendN(t, l, clk, 5000, 37, 100, time.Millisecond)
	first, next := l.Bounds()
	if first != 1 || next != 5001 {
		t.Fatalf("bounds %d..%d, want 1..5001", first, next)
	}
	if h.Units != nil {
		if n := h.Units(l); n < 5 {
			t.Fatalf("%d segments, want several", n)
		}
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
				CheckRecords(t, recs, tc.wantFirst, 100)
			}
		})
	}
	if h.Reopen == nil {
		return
	}
	// Reopen: sealed segments come back from their index files, the active
	// one from a scan; everything reads the same.
	l2 := h.Reopen(t, l)
	recs, err := l2.Read(1, 10000, 100<<20)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 5000 {
		t.Fatalf("after reopen read %d records, want 5000", len(recs))
	}
	CheckRecords(t, recs, 1, 100)
}

func testSeqAtTime(t *testing.T, h Harness) {
	clk := NewClock()
	start := clk.Now()
	l := h.Open(t, Options{Now: clk.Now, SegmentBytes: 32 << 10, IndexEvery: 512})
	// 1000 records, 10 per batch, batches 1 s apart: record s arrived at
	// start + ((s-1)/10) s.
	AppendN(t, l, clk, 1000, 10, 50, time.Second)
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

// testTrim trims by age, by size and then everything. The cut by age falls
// on a segment boundary of the file log (segments roll hourly), so a log
// that trims per record and one that trims whole segments remove the same
// records; the size cap is checked as the interface promises it.
func testTrim(t *testing.T, h Harness) {
	clk := NewClock()
	start := clk.Now()
	l := h.Open(t, Options{Now: clk.Now, SegmentBytes: 1 << 40, SegmentDuration: time.Hour})
	// Ten hours of records, one batch a minute: segments roll hourly.
	AppendN(t, l, clk, 600, 1, 1000, time.Minute)
	if h.Units != nil {
		if n := h.Units(l); n != 10 {
			t.Fatalf("%d segments, want 10 hourly ones", n)
		}
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
	AppendN(t, l, clk, 3, 3, 10, time.Second)
	if got, _ := l.Read(0, 10, 1<<20); len(got) != 3 || got[0].Seq != 601 {
		t.Fatalf("after full trim, appends continue at 601: %+v", got)
	}
}

// testConcurrentReadWriteTrim runs a writer, readers at random positions
// and a trimmer at once over small segments (so segments roll, index
// entries and read descriptors come and go); every read must return
// intact, consecutive records.
func testConcurrentReadWriteTrim(t *testing.T, h Harness) {
	clk := NewClock()
	l := h.Open(t, Options{Now: clk.Now, SegmentBytes: 8 << 10, IndexEvery: 512, MaxLoadedIndexes: 3})
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
			var recs []logstore.Record
			for i := uint64(0); i < 10; i++ {
				recs = append(recs, logstore.Record{Seq: s + i, Time: int64(s + i), Key: []byte(fmt.Sprint("k", s+i)), Data: Payload(s+i, 30)})
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
					if rec.Seq != want || !bytes.Equal(rec.Data, Payload(want, 30)) {
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

// testReadsSeeOnlyCommitted appends without committing: readers see
// nothing of it until Commit.
func testReadsSeeOnlyCommitted(t *testing.T, h Harness) {
	clk := NewClock()
	l := h.Open(t, Options{Now: clk.Now})
	AppendN(t, l, clk, 5, 5, 20, time.Second)
	var recs []logstore.Record
	for s := uint64(6); s <= 8; s++ {
		recs = append(recs, logstore.Record{Seq: s, Time: clk.Now().UnixNano(), Key: []byte(fmt.Sprint("k", s)), Data: Payload(s, 20)})
	}
	if err := l.Append(recs); err != nil {
		t.Fatal(err)
	}
	// The log keeps no reference to what Append was given.
	for i := range recs {
		recs[i].Data[0] ^= 0xff
	}
	if first, next := l.Bounds(); first != 1 || next != 6 {
		t.Fatalf("bounds %d..%d before commit, want 1..6", first, next)
	}
	if got, err := l.Read(1, 100, 1<<20); err != nil || len(got) != 5 {
		t.Fatalf("read %d records (%v) before commit, want the 5 committed", len(got), err)
	}
	if _, ok := l.TimeOf(6); ok {
		t.Fatal("TimeOf sees an uncommitted record")
	}
	if got := l.SeqAtTime(clk.Now().UnixNano()); got != 6 {
		t.Fatalf("SeqAtTime(now) = %d before commit, want 6", got)
	}
	if err := l.Commit(false); err != nil {
		t.Fatal(err)
	}
	if _, next := l.Bounds(); next != 9 {
		t.Fatalf("next %d after commit, want 9", next)
	}
	got, err := l.Read(1, 100, 1<<20)
	if err != nil || len(got) != 8 {
		t.Fatalf("read %d records (%v) after commit, want 8", len(got), err)
	}
	CheckRecords(t, got, 1, 20)
	// The records Read returns are the caller's.
	got[0].Data[0] ^= 0xff
	again, err := l.Read(1, 1, 1<<20)
	if err != nil || len(again) != 1 {
		t.Fatalf("read again: %d records, %v", len(again), err)
	}
	CheckRecords(t, again, 1, 20)
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
}

// testTimeOfAndLastTime checks the arrival times the log reports.
func testTimeOfAndLastTime(t *testing.T, h Harness) {
	clk := NewClock()
	start := clk.Now()
	l := h.Open(t, Options{Now: clk.Now})
	if lt := l.LastTime(); lt != 0 {
		t.Fatalf("LastTime of an empty log = %d, want 0", lt)
	}
	if _, ok := l.TimeOf(1); ok {
		t.Fatal("TimeOf(1) of an empty log found a record")
	}
	// Record s arrived at start + (s-1) s.
	AppendN(t, l, clk, 10, 1, 20, time.Second)
	for _, s := range []uint64{1, 5, 10} {
		got, ok := l.TimeOf(s)
		if want := start.Add(time.Duration(s-1) * time.Second).UnixNano(); !ok || got != want {
			t.Errorf("TimeOf(%d) = %d, %v; want %d", s, got, ok, want)
		}
	}
	if _, ok := l.TimeOf(11); ok {
		t.Error("TimeOf(11) found a record past the end")
	}
	if got, want := l.LastTime(), start.Add(9*time.Second).UnixNano(); got != want {
		t.Errorf("LastTime = %d, want %d", got, want)
	}
	if _, _, err := l.Trim(start.Add(3*time.Second).UnixNano(), 0); err != nil {
		t.Fatal(err)
	}
	if first, _ := l.Bounds(); first > 1 {
		if _, ok := l.TimeOf(first - 1); ok {
			t.Errorf("TimeOf(%d) found a trimmed record", first-1)
		}
	}
}

// testClose checks that a closed log refuses writes and closes once.
func testClose(t *testing.T, h Harness) {
	clk := NewClock()
	l := h.Open(t, Options{Now: clk.Now})
	AppendN(t, l, clk, 3, 3, 10, time.Second)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	err := l.Append([]logstore.Record{{Seq: 4, Time: clk.Now().UnixNano(), Data: []byte("x")}})
	if !errors.Is(err, logstore.ErrClosed) {
		t.Fatalf("Append after Close: %v, want ErrClosed", err)
	}
	if err := l.Commit(true); !errors.Is(err, logstore.ErrClosed) {
		t.Fatalf("Commit after Close: %v, want ErrClosed", err)
	}
	if _, _, err := l.Trim(0, 1); !errors.Is(err, logstore.ErrClosed) {
		t.Fatalf("Trim after Close: %v, want ErrClosed", err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}
