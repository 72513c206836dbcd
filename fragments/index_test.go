package fragments

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"
)

// fxSmall keeps test indexes to a few entries per block and chunk, so that
// every test crosses block and chunk boundaries.
var fxSmall = fxOptions{chunkEntries: 16, blockEntries: 4, maxFiles: 3}

func openTestIndex(t *testing.T, dir string) *Index {
	t.Helper()
	x, err := openIndex(dir, fxSmall)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func mustAppend(t *testing.T, x *Index, es ...IndexEntry) {
	t.Helper()
	if err := x.Append(es...); err != nil {
		t.Fatal(err)
	}
}

// testEntry derives every field from seq, so readers can check what they get.
func testEntry(seq uint64) IndexEntry {
	return IndexEntry{
		Seq:          seq,
		ServerTime:   int64(seq) * 1000,
		ProducerTime: 5_000_000 - int64(seq)*100,
		Duration:     2000,
		Size:         int64(seq%1000) * 7,
		Flags:        uint32(seq % 2),
		InitID:       InitID{byte(seq / 100), 0xe0, 15: byte(seq)},
	}
}

func testEntries(seqs ...uint64) []IndexEntry {
	es := make([]IndexEntry, len(seqs))
	for i, s := range seqs {
		es[i] = testEntry(s)
	}
	return es
}

func seqRange(from, to uint64) []uint64 {
	var s []uint64
	for q := from; q <= to; q++ {
		s = append(s, q)
	}
	return s
}

// refRange is Range by brute force over the entries that should be visible.
func refRange(all []IndexEntry, floor uint64, t IndexTime, start, end int64, from uint64, limit int) ([]IndexEntry, uint64) {
	var out []IndexEntry
	for _, e := range all {
		v := e.ServerTime
		if t == IndexProducerTime {
			v = e.ProducerTime
		}
		if e.Seq < max(from, floor) || v < start || v > end {
			continue
		}
		if limit > 0 && len(out) == limit {
			return out, e.Seq
		}
		out = append(out, e)
	}
	return out, 0
}

func allEntries(t *testing.T, x *Index) []IndexEntry {
	t.Helper()
	es, next, err := x.Range(IndexServerTime, math.MinInt64, math.MaxInt64, 0, 0)
	if err != nil || next != 0 {
		t.Fatalf("Range all: next %d, %v", next, err)
	}
	return es
}

func checkAll(t *testing.T, x *Index, want []IndexEntry) {
	t.Helper()
	got := allEntries(t, x)
	if len(got) != len(want) || len(got) > 0 && !reflect.DeepEqual(got, want) {
		t.Fatalf("index holds %d entries, want %d\n got %v\nwant %v", len(got), len(want), got, want)
	}
}

func TestIndexAppendLookup(t *testing.T) {
	x := openTestIndex(t, t.TempDir())
	defer x.Close()
	if f, n := x.Bounds(); f != 0 || n != 0 {
		t.Fatalf("empty Bounds = %d, %d", f, n)
	}
	if _, ok := x.Last(); ok {
		t.Fatal("empty Last found")
	}
	// Gaps inside blocks, between blocks and between chunks.
	seqs := append(seqRange(1, 10), 12, 13, 20, 21, 22, 100, 101, 1000)
	seqs = append(seqs, seqRange(1001, 1040)...)
	es := testEntries(seqs...)
	mustAppend(t, x, es[:5]...)
	for _, e := range es[5:] {
		mustAppend(t, x, e)
	}
	for _, tc := range []struct {
		name string
		seq  uint64
		ok   bool
	}{
		{"first", 1, true},
		{"zero", 0, false},
		{"in first block", 3, true},
		{"gap", 11, false},
		{"after gap", 12, true},
		{"wide gap", 50, false},
		{"after wide gap", 100, true},
		{"big gap end", 1000, true},
		{"last", 1040, true},
		{"past last", 1041, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, ok := x.Lookup(tc.seq)
			if ok != tc.ok {
				t.Fatalf("Lookup(%d) found %v, want %v", tc.seq, ok, tc.ok)
			}
			if ok && e != testEntry(tc.seq) {
				t.Fatalf("Lookup(%d) = %+v", tc.seq, e)
			}
		})
	}
	if f, n := x.Bounds(); f != 1 || n != 1041 {
		t.Fatalf("Bounds = %d, %d", f, n)
	}
	if e, ok := x.Last(); !ok || e != testEntry(1040) {
		t.Fatalf("Last = %+v, %v", e, ok)
	}
	checkAll(t, x, es)
}

func TestIndexAppendErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		batch []IndexEntry
	}{
		{"seq zero", []IndexEntry{{Seq: 0}}},
		{"not after last", []IndexEntry{{Seq: 5}}},
		{"equal in batch", []IndexEntry{{Seq: 7}, {Seq: 7}}},
		{"decreasing in batch", []IndexEntry{{Seq: 8}, {Seq: 9}, {Seq: 8}}},
		{"negative size", []IndexEntry{{Seq: 9, Size: -1}}},
		{"size too large", []IndexEntry{{Seq: 9, Size: math.MaxUint32 + 1}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := openTestIndex(t, t.TempDir())
			defer x.Close()
			mustAppend(t, x, testEntries(seqRange(1, 5)...)...)
			if err := x.Append(tc.batch...); err == nil {
				t.Fatal("Append succeeded")
			}
			if _, n := x.Bounds(); n != 6 {
				t.Fatalf("next = %d after a rejected Append", n)
			}
			checkAll(t, x, testEntries(seqRange(1, 5)...))
		})
	}
}

func TestIndexRangeBoundaries(t *testing.T) {
	x := openTestIndex(t, t.TempDir())
	defer x.Close()
	// Server time 1000*seq rises; producer time 5e6-100*seq falls.
	es := testEntries(seqRange(1, 40)...)
	mustAppend(t, x, es...)
	for _, tc := range []struct {
		name       string
		kind       IndexTime
		start, end int64
		from       uint64
		want       []uint64
	}{
		{"server inclusive", IndexServerTime, 1000, 3000, 0, seqRange(1, 3)},
		{"server exclusive edges", IndexServerTime, 1001, 2999, 0, []uint64{2}},
		{"server single instant", IndexServerTime, 3000, 3000, 0, []uint64{3}},
		{"server between entries", IndexServerTime, 3001, 3999, 0, nil},
		{"server start after end", IndexServerTime, 3000, 1000, 0, nil},
		{"server last", IndexServerTime, 40000, math.MaxInt64, 0, []uint64{40}},
		{"server past end", IndexServerTime, 40001, math.MaxInt64, 0, nil},
		{"server before start", IndexServerTime, math.MinInt64, 999, 0, nil},
		{"server from seq", IndexServerTime, 1000, 10000, 7, seqRange(7, 10)},
		{"server from past end", IndexServerTime, 0, math.MaxInt64, 41, nil},
		{"server across chunks", IndexServerTime, 15000, 18000, 0, seqRange(15, 18)},
		{"producer inclusive", IndexProducerTime, 5_000_000 - 300, 5_000_000 - 100, 0, seqRange(1, 3)},
		{"producer exclusive edges", IndexProducerTime, 5_000_000 - 299, 5_000_000 - 101, 0, []uint64{2}},
		{"producer single", IndexProducerTime, 5_000_000 - 4000, 5_000_000 - 4000, 0, []uint64{40}},
		{"producer from seq", IndexProducerTime, 0, math.MaxInt64, 38, seqRange(38, 40)},
		{"producer none", IndexProducerTime, 0, 1000, 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, next, err := x.Range(tc.kind, tc.start, tc.end, tc.from, 0)
			if err != nil {
				t.Fatal(err)
			}
			if next != 0 {
				t.Fatalf("next = %d without a limit", next)
			}
			if want := testEntries(tc.want...); len(got) != len(want) || len(got) > 0 && !reflect.DeepEqual(got, want) {
				t.Fatalf("got %v, want %v", got, want)
			}
		})
	}
	if _, _, err := x.Range(IndexTime(7), 0, 1, 0, 0); err == nil {
		t.Fatal("Range with an unknown time kind succeeded")
	}
}

func TestIndexRangePaging(t *testing.T) {
	x := openTestIndex(t, t.TempDir())
	defer x.Close()
	es := testEntries(append(seqRange(1, 50), seqRange(60, 110)...)...)
	mustAppend(t, x, es...)
	for _, tc := range []struct {
		name       string
		kind       IndexTime
		start, end int64
		limit      int
	}{
		{"server limit 7", IndexServerTime, 3000, 90000, 7},
		{"server limit 1", IndexServerTime, 3000, 20000, 1},
		{"server exact fit", IndexServerTime, 1000, 10000, 10},
		{"producer limit 9", IndexProducerTime, 5_000_000 - 9000, 5_000_000 - 400, 9},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want, _ := refRange(es, 0, tc.kind, tc.start, tc.end, 0, 0)
			var got []IndexEntry
			from, pages := uint64(0), 0
			for {
				page, next, err := x.Range(tc.kind, tc.start, tc.end, from, tc.limit)
				if err != nil {
					t.Fatal(err)
				}
				pages++
				if len(page) > tc.limit {
					t.Fatalf("page of %d entries, limit %d", len(page), tc.limit)
				}
				got = append(got, page...)
				if next == 0 {
					break
				}
				if next <= page[len(page)-1].Seq {
					t.Fatalf("next %d not after the page's last seq %d", next, page[len(page)-1].Seq)
				}
				from = next
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("paged result %v, want %v", got, want)
			}
			if wantPages := max(1, (len(want)+tc.limit-1)/tc.limit); pages != wantPages {
				t.Fatalf("%d pages, want %d (next must be 0 exactly when nothing is left)", pages, wantPages)
			}
		})
	}
}

// randomEntries makes n entries with seq gaps, a rising server clock and a
// producer clock that jitters, jumps back to 1970 for bursts, jumps forward
// to 2099, and sometimes returns garbage.
func randomEntries(rng *rand.Rand, n int) []IndexEntry {
	es := make([]IndexEntry, n)
	seq := uint64(1)
	server := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	burst := 0
	for i := range es {
		seq += uint64(1 + rng.IntN(3)/2) // mostly +1, sometimes +2
		server += int64(rng.IntN(3)) * int64(time.Second)
		producer := server - 150*int64(time.Millisecond) + rng.Int64N(3*int64(time.Second))
		switch r := rng.IntN(1000); {
		case burst > 0:
			burst--
			producer = int64(i) * int64(time.Second) // 1970
		case r < 8:
			burst = rng.IntN(6)
			producer = int64(i) * int64(time.Second)
		case r < 12:
			producer = time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano() + int64(i)
		case r < 14:
			producer = rng.Int64() - rng.Int64()
		}
		es[i] = IndexEntry{Seq: seq, ServerTime: server, ProducerTime: producer,
			Duration: int64(time.Second), Size: rng.Int64N(1 << 20), Flags: uint32(rng.IntN(2))}
	}
	return es
}

func TestIndexRangeRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	dir := t.TempDir()
	o := fxOptions{chunkEntries: 64, blockEntries: 8, maxFiles: 4}
	x, err := openIndex(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	es := randomEntries(rng, 3000)
	for i := 0; i < len(es); {
		k := min(1+rng.IntN(100), len(es)-i)
		mustAppend(t, x, es[i:i+k]...)
		i += k
	}
	t0, t1 := es[0].ServerTime, es[len(es)-1].ServerTime
	check := func(t *testing.T, x *Index) {
		for q := range 400 {
			kind := IndexTime(q % 2)
			var start, end int64
			switch rng.IntN(4) {
			case 0: // a short window of normal time
				start = t0 + rng.Int64N(t1-t0)
				end = start + rng.Int64N(120)*int64(time.Second)
			case 1: // around 1970
				start = rng.Int64N(int64(time.Hour))
				end = start + rng.Int64N(int64(time.Hour))
			case 2: // everything from somewhere
				start, end = t0+rng.Int64N(t1-t0), math.MaxInt64
			case 3: // anything
				start, end = rng.Int64()-rng.Int64(), rng.Int64()-rng.Int64()
			}
			from := uint64(0)
			if rng.IntN(2) == 0 {
				from = es[rng.IntN(len(es))].Seq
			}
			limit := 0
			if rng.IntN(2) == 0 {
				limit = 1 + rng.IntN(40)
			}
			got, next, err := x.Range(kind, start, end, from, limit)
			if err != nil {
				t.Fatal(err)
			}
			want, wantNext := refRange(es, 0, kind, start, end, from, limit)
			if len(got) != len(want) || len(got) > 0 && !reflect.DeepEqual(got, want) || next != wantNext {
				t.Fatalf("Range(%v, %d, %d, %d, %d): got %d entries next %d, want %d next %d",
					kind, start, end, from, limit, len(got), next, len(want), wantNext)
			}
		}
		for range 200 {
			e := es[rng.IntN(len(es))]
			if got, ok := x.Lookup(e.Seq); !ok || got != e {
				t.Fatalf("Lookup(%d) = %+v, %v", e.Seq, got, ok)
			}
			if _, ok := x.Lookup(e.Seq + 1); ok != (e.Seq+1 <= es[len(es)-1].Seq && isSeq(es, e.Seq+1)) {
				t.Fatalf("Lookup(%d) = %v", e.Seq+1, ok)
			}
		}
	}
	t.Run("appended", func(t *testing.T) { check(t, x) })
	x.Close()
	t.Run("reopened from summaries", func(t *testing.T) {
		x, err := openIndex(dir, o)
		if err != nil {
			t.Fatal(err)
		}
		defer x.Close()
		for i, c := range x.chunks[:len(x.chunks)-1] {
			if !c.sealed {
				t.Fatalf("chunk %d (%d) not loaded from its summary", i, c.first)
			}
		}
		check(t, x)
	})
	t.Run("reopened by scanning", func(t *testing.T) {
		sums, _ := filepath.Glob(filepath.Join(dir, "*"+fxSummaryExt))
		if len(sums) == 0 {
			t.Fatal("no summary files")
		}
		for _, s := range sums {
			os.Remove(s)
		}
		x, err := openIndex(dir, o)
		if err != nil {
			t.Fatal(err)
		}
		defer x.Close()
		check(t, x)
	})
}

func isSeq(es []IndexEntry, seq uint64) bool {
	for _, e := range es {
		if e.Seq == seq {
			return true
		}
	}
	return false
}

func TestIndexReopen(t *testing.T) {
	dir := t.TempDir()
	x := openTestIndex(t, dir)
	es := testEntries(append(seqRange(1, 70), 1<<40, 1<<40+1)...) // and a gap beyond 32 bits
	mustAppend(t, x, es...)
	if err := x.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	if err := x.Append(testEntry(1 << 41)); !errors.Is(err, ErrIndexClosed) {
		t.Fatalf("Append after Close: %v", err)
	}
	x = openTestIndex(t, dir)
	defer x.Close()
	checkAll(t, x, es)
	if f, n := x.Bounds(); f != 1 || n != 1<<40+2 {
		t.Fatalf("Bounds = %d, %d", f, n)
	}
	if e, ok := x.Last(); !ok || e != testEntry(1<<40+1) {
		t.Fatalf("Last = %+v", e)
	}
	if e, ok := x.Lookup(1 << 40); !ok || e != testEntry(1<<40) {
		t.Fatalf("Lookup(1<<40) = %+v, %v", e, ok)
	}
	more := testEntries(1<<40+5, 1<<40+6)
	mustAppend(t, x, more...)
	checkAll(t, x, append(es, more...))
	fxs, _ := filepath.Glob(filepath.Join(dir, "*"+fxChunkExt))
	if len(fxs) != 6 { // 16+16+16+16+6 entries, then a chunk after the 2^40 gap
		t.Fatalf("%d chunk files, want 6", len(fxs))
	}
}

// lastChunk returns the path of dir's newest chunk file.
func lastChunk(t *testing.T, dir string) string {
	t.Helper()
	fxs, _ := filepath.Glob(filepath.Join(dir, "*"+fxChunkExt))
	if len(fxs) == 0 {
		t.Fatal("no chunk files")
	}
	return fxs[len(fxs)-1]
}

func TestIndexTornTail(t *testing.T) {
	for _, tc := range []struct {
		name     string
		damage   func(t *testing.T, dir string)
		wantNext uint64 // one past the last entry that survives
	}{
		{"truncated mid-entry", func(t *testing.T, dir string) {
			p := lastChunk(t, dir)
			st, _ := os.Stat(p)
			if err := os.Truncate(p, st.Size()-17); err != nil {
				t.Fatal(err)
			}
		}, 40},
		{"flipped byte in last entry", func(t *testing.T, dir string) {
			flipByte(t, lastChunk(t, dir), -5)
		}, 40},
		{"flipped byte in a middle entry", func(t *testing.T, dir string) {
			flipByte(t, lastChunk(t, dir), fxHeaderSize+3*fxEntrySize+9) // 4th entry of the chunk
		}, 36},
		{"zeroed tail", func(t *testing.T, dir string) {
			f, err := os.OpenFile(lastChunk(t, dir), os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.Write(make([]byte, 2*fxEntrySize)); err != nil {
				t.Fatal(err)
			}
			f.Close()
		}, 41},
		{"torn header of a new chunk", func(t *testing.T, dir string) {
			if err := os.WriteFile(filepath.Join(dir, "00000000000000000041.fx"), []byte("EDDY"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, 41},
		{"zero header of a new chunk", func(t *testing.T, dir string) {
			if err := os.WriteFile(filepath.Join(dir, "00000000000000000041.fx"), make([]byte, 56), 0o644); err != nil {
				t.Fatal(err)
			}
		}, 41},
		{"only entry of last chunk torn", func(t *testing.T, dir string) {
			// Chunks hold 16 entries: 33..40 is the last; cut it to its header.
			if err := os.Truncate(lastChunk(t, dir), fxHeaderSize+5); err != nil {
				t.Fatal(err)
			}
		}, 33},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			x := openTestIndex(t, dir)
			mustAppend(t, x, testEntries(seqRange(1, 40)...)...)
			x.Close()
			tc.damage(t, dir)
			x = openTestIndex(t, dir)
			defer x.Close()
			if _, n := x.Bounds(); n != tc.wantNext {
				t.Fatalf("next = %d, want %d", n, tc.wantNext)
			}
			checkAll(t, x, testEntries(seqRange(1, tc.wantNext-1)...))
			// The owner re-appends from the log.
			mustAppend(t, x, testEntries(seqRange(tc.wantNext, 45)...)...)
			x.Close()
			x = openTestIndex(t, dir)
			defer x.Close()
			checkAll(t, x, testEntries(seqRange(1, 45)...))
		})
	}
}

func flipByte(t *testing.T, path string, off int64) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if off < 0 {
		off += int64(len(b))
	}
	b[off] ^= 0x40
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestIndexCorruptOlderChunk(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, chunk string)
		// openErr: OpenIndex fails; else Range over the chunk fails.
		openErr bool
	}{
		{"flipped byte, no summary", func(t *testing.T, chunk string) {
			flipByte(t, chunk, fxHeaderSize+5*fxEntrySize+12)
			os.Remove(chunk + "s")
		}, true},
		{"flipped byte, summary intact", func(t *testing.T, chunk string) {
			flipByte(t, chunk, fxHeaderSize+5*fxEntrySize+12)
		}, false},
		{"partial entry", func(t *testing.T, chunk string) {
			st, _ := os.Stat(chunk)
			if err := os.Truncate(chunk, st.Size()-3); err != nil {
				t.Fatal(err)
			}
		}, true},
		{"bad magic", func(t *testing.T, chunk string) {
			flipByte(t, chunk, 2)
		}, true},
		{"header seq differs from name", func(t *testing.T, chunk string) {
			flipByte(t, chunk, 9)
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			x := openTestIndex(t, dir)
			mustAppend(t, x, testEntries(seqRange(1, 40)...)...)
			x.Close()
			chunk := filepath.Join(dir, "00000000000000000001.fx")
			tc.damage(t, chunk)
			x, err := openIndex(dir, fxSmall)
			var ce *IndexCorruptError
			if tc.openErr {
				if !errors.Is(err, ErrIndexCorrupt) || !errors.As(err, &ce) || ce.File != chunk {
					t.Fatalf("OpenIndex: %v, want a corruption error naming %s", err, chunk)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer x.Close()
			_, _, err = x.Range(IndexServerTime, 0, math.MaxInt64, 0, 0)
			if !errors.As(err, &ce) || ce.File != chunk {
				t.Fatalf("Range: %v, want a corruption error naming %s", err, chunk)
			}
			if _, ok := x.Lookup(6); ok {
				t.Fatal("Lookup of a damaged entry succeeded")
			}
			if _, ok := x.Lookup(7); !ok {
				t.Fatal("Lookup of an intact entry failed")
			}
		})
	}
}

func TestIndexTruncate(t *testing.T) {
	// Chunks of 16: 1..16, 17..32, 33..48, 49..51 then 60..72 (gap).
	seqs := append(seqRange(1, 51), seqRange(60, 72)...)
	for _, tc := range []struct {
		name string
		next uint64
	}{
		{"no-op past end", 73},
		{"last entry", 72},
		{"mid block", 30},
		{"block boundary", 25},
		{"chunk boundary", 33},
		{"first block of chunk", 35},
		{"second entry of chunk", 18},
		{"in gap", 55},
		{"at first", 1},
		{"zero", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			x := openTestIndex(t, dir)
			defer func() { x.Close() }()
			es := testEntries(seqs...)
			mustAppend(t, x, es...)
			if err := x.Truncate(tc.next); err != nil {
				t.Fatal(err)
			}
			var want []IndexEntry
			for _, e := range es {
				if e.Seq < tc.next {
					want = append(want, e)
				}
			}
			checkAll(t, x, want)
			wantNext := uint64(0)
			if len(want) > 0 {
				wantNext = want[len(want)-1].Seq + 1
			}
			if _, n := x.Bounds(); n != wantNext {
				t.Fatalf("next = %d, want %d", n, wantNext)
			}
			more := testEntries(seqRange(100, 130)...)
			mustAppend(t, x, more...)
			want = append(want, more...)
			checkAll(t, x, want)
			x.Close()
			x = openTestIndex(t, dir)
			checkAll(t, x, want)
			got, _, err := x.Range(IndexProducerTime, 0, math.MaxInt64, 0, 0)
			if err != nil || !reflect.DeepEqual(got, want) {
				t.Fatalf("producer Range after reopen: %v", err)
			}
		})
	}
}

func TestIndexTrimBefore(t *testing.T) {
	// Chunks of 16 entries: 1..16, ..., 97..100 (7 files).
	es := testEntries(seqRange(1, 100)...)
	for _, tc := range []struct {
		name        string
		seq         uint64
		wantRemoved int64
		wantFiles   int
		wantFirst   uint64
	}{
		{"nothing", 1, 0, 7, 1},
		{"inside first chunk", 10, 0, 7, 10},
		{"inside second chunk", 20, 16, 6, 20},
		{"chunk boundary", 33, 32, 5, 33},
		{"last chunk", 98, 96, 1, 98},
		{"everything", 1000, 96, 1, 101},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			x := openTestIndex(t, dir)
			defer x.Close()
			mustAppend(t, x, es...)
			removed, err := x.TrimBefore(tc.seq)
			if err != nil {
				t.Fatal(err)
			}
			if removed != tc.wantRemoved {
				t.Fatalf("removed %d, want %d", removed, tc.wantRemoved)
			}
			if fxs, _ := filepath.Glob(filepath.Join(dir, "*"+fxChunkExt)); len(fxs) != tc.wantFiles {
				t.Fatalf("%d chunk files, want %d", len(fxs), tc.wantFiles)
			}
			if f, n := x.Bounds(); f != tc.wantFirst || n != 101 {
				t.Fatalf("Bounds = %d, %d, want %d, 101", f, n, tc.wantFirst)
			}
			want, _ := refRange(es, tc.seq, IndexServerTime, math.MinInt64, math.MaxInt64, 0, 0)
			checkAll(t, x, want)
			for _, kind := range []IndexTime{IndexServerTime, IndexProducerTime} {
				got, _, err := x.Range(kind, math.MinInt64, math.MaxInt64, 0, 3)
				if err != nil {
					t.Fatal(err)
				}
				if len(got) > 0 && got[0].Seq < tc.seq {
					t.Fatalf("%v Range returned trimmed seq %d", kind, got[0].Seq)
				}
			}
			for s := uint64(1); s < min(tc.seq, 101); s++ {
				if _, ok := x.Lookup(s); ok {
					t.Fatalf("Lookup(%d) found a trimmed entry", s)
				}
			}
			if e, ok := x.Last(); ok != (tc.seq <= 100) || ok && e.Seq != 100 {
				t.Fatalf("Last = %+v, %v", e, ok)
			}
			// Trimming never moves back.
			if _, err := x.TrimBefore(1); err != nil {
				t.Fatal(err)
			}
			checkAll(t, x, want)
		})
	}
}

func TestIndexReset(t *testing.T) {
	dir := t.TempDir()
	x := openTestIndex(t, dir)
	defer func() { x.Close() }()
	mustAppend(t, x, testEntries(seqRange(1, 50)...)...)
	if _, err := x.TrimBefore(10); err != nil {
		t.Fatal(err)
	}
	if err := x.Reset(); err != nil {
		t.Fatal(err)
	}
	if f, n := x.Bounds(); f != 0 || n != 0 {
		t.Fatalf("Bounds after Reset = %d, %d", f, n)
	}
	if files, _ := os.ReadDir(dir); len(files) != 0 {
		t.Fatalf("%d files left after Reset", len(files))
	}
	checkAll(t, x, nil)
	es := testEntries(seqRange(1, 20)...)
	mustAppend(t, x, es...)
	checkAll(t, x, es)
	x.Close()
	x = openTestIndex(t, dir)
	checkAll(t, x, es)
}

func TestIndexFileCache(t *testing.T) {
	x := openTestIndex(t, t.TempDir()) // 3 cached files
	defer x.Close()
	es := testEntries(seqRange(1, 400)...) // 25 chunks
	mustAppend(t, x, es...)
	rng := rand.New(rand.NewPCG(3, 4))
	for range 200 {
		s := es[rng.IntN(len(es))]
		if got, ok := x.Lookup(s.Seq); !ok || got != s {
			t.Fatalf("Lookup(%d) = %+v, %v", s.Seq, got, ok)
		}
	}
	checkAll(t, x, es)
	if n := len(x.files.m); n > fxSmall.maxFiles {
		t.Fatalf("%d open chunk files, limit %d", n, fxSmall.maxFiles)
	}
}

func TestIndexConcurrent(t *testing.T) {
	x := openTestIndex(t, t.TempDir())
	defer x.Close()
	const n = 2000
	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Go(func() {
		defer close(done)
		for s := uint64(1); s <= n; {
			k := uint64(1 + s%7)
			if err := x.Append(testEntries(seqRange(s, min(s+k-1, n))...)...); err != nil {
				t.Error(err)
				return
			}
			s += k
			if s%300 < 7 {
				if _, err := x.TrimBefore(s / 4); err != nil {
					t.Error(err)
					return
				}
			}
		}
	})
	for r := range 3 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(r), 9))
			for {
				select {
				case <-done:
					return
				default:
				}
				_, next := x.Bounds()
				kind := IndexTime(rng.IntN(2))
				s := 1 + rng.Uint64N(n)
				start, end := int64(s)*1000, int64(s+50)*1000
				if kind == IndexProducerTime {
					start, end = 5_000_000-int64(s+50)*100, 5_000_000-int64(s)*100
				}
				got, _, err := x.Range(kind, start, end, 0, 20)
				if err != nil {
					t.Error(err)
					return
				}
				for i, e := range got {
					if e != testEntry(e.Seq) || i > 0 && e.Seq <= got[i-1].Seq {
						t.Errorf("Range returned %+v", e)
						return
					}
				}
				if next > 1 {
					if e, ok := x.Lookup(next - 1); ok && e != testEntry(next-1) {
						t.Errorf("Lookup(%d) = %+v", next-1, e)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	if _, next := x.Bounds(); next != n+1 {
		t.Fatalf("next = %d", next)
	}
}

func TestIndexCover(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	gens := map[string]func(i int) int64{
		"rising":   func(i int) int64 { return int64(i) * 1000 },
		"falling":  func(i int) int64 { return -int64(i) * 1000 },
		"random":   func(int) int64 { return rng.Int64() - rng.Int64() },
		"extremes": func(i int) int64 { return []int64{math.MinInt64, math.MaxInt64, 0}[i%3] },
		"excursion": func(i int) int64 {
			if i%50 > 45 {
				return int64(i)
			}
			return 1e18 + int64(i)
		},
	}
	for name, gen := range gens {
		t.Run(name, func(t *testing.T) {
			var vals []int64
			var c fxCover
			for i := range 500 {
				v := gen(i)
				if i == 0 {
					c = fxPoint(v)
				} else {
					c.add(v)
				}
				vals = append(vals, v)
				if !c.valid() {
					t.Fatalf("invalid cover %+v", c)
				}
			}
			for _, v := range vals {
				if !c.overlaps(v, v) {
					t.Fatalf("cover %+v misses %d", c, v)
				}
			}
			u := fxPoint(42)
			u.union(c)
			if !u.valid() || !u.overlaps(42, 42) {
				t.Fatalf("union %+v", u)
			}
			for _, v := range vals {
				if !u.overlaps(v, v) {
					t.Fatalf("union %+v misses %d", u, v)
				}
			}
		})
	}
	// A block of normal times with one 1970 burst does not match the years between.
	c := fxPoint(1.7e18)
	for i := range 1000 {
		if i%100 == 50 {
			c.add(int64(i))
		} else {
			c.add(1.7e18 + int64(i)*2e9)
		}
	}
	if c.overlaps(1e18, 1.6e18) {
		t.Fatalf("cover %+v overlaps the gap", c)
	}
}

func TestIndexMemoryBytes(t *testing.T) {
	x := openTestIndex(t, t.TempDir())
	defer x.Close()
	m0 := x.MemoryBytes()
	mustAppend(t, x, testEntries(seqRange(1, 400)...)...)
	if m := x.MemoryBytes(); m <= m0 || m > m0+1<<20 {
		t.Fatalf("MemoryBytes %d after 400 entries (empty: %d)", m, m0)
	}
}

// A write that fails after a new chunk was started leaves it empty; the next
// Append, whose seq may be lower, must not build on it.
func TestIndexEmptyChunkAfterFailedWrite(t *testing.T) {
	for _, tc := range []struct {
		name    string
		have    []uint64
		started uint64 // seq of the chunk started by the failed write
		next    uint64
	}{
		{"previous chunk full", seqRange(1, 16), 100, 17},
		{"previous chunk has room", seqRange(1, 5), 1 << 40, 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			x := openTestIndex(t, dir)
			defer func() { x.Close() }()
			mustAppend(t, x, testEntries(tc.have...)...)
			x.mu.Lock()
			err := x.prepareChunk(tc.started)
			x.mu.Unlock()
			if err != nil {
				t.Fatal(err)
			}
			mustAppend(t, x, testEntry(tc.next))
			want := testEntries(append(tc.have, tc.next)...)
			checkAll(t, x, want)
			x.Close()
			x = openTestIndex(t, dir)
			checkAll(t, x, want)
		})
	}
}

// writeV1Chunk writes entries as a chunk of index format version 1
// (magic EDDYFX01, 40-byte entries without the init segment id), as
// Eddy wrote them before the id was added.
func writeV1Chunk(t *testing.T, dir string, es []IndexEntry) {
	t.Helper()
	first := es[0].Seq
	b := append([]byte("EDDYFX01"), binary.LittleEndian.AppendUint64(nil, first)...)
	for _, e := range es {
		var p [40]byte
		binary.LittleEndian.PutUint32(p[0:], uint32(e.Seq-first))
		binary.LittleEndian.PutUint32(p[4:], e.Flags)
		binary.LittleEndian.PutUint64(p[8:], uint64(e.ServerTime))
		binary.LittleEndian.PutUint64(p[16:], uint64(e.ProducerTime))
		binary.LittleEndian.PutUint64(p[24:], uint64(e.Duration))
		binary.LittleEndian.PutUint32(p[32:], uint32(e.Size))
		binary.LittleEndian.PutUint32(p[36:], crc32.Checksum(p[:36], fxCRC))
		b = append(b, p[:]...)
	}
	if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%020d%s", first, fxChunkExt)), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestIndexOldVersion: an index of another format version is refused with
// ErrIndexVersion (its owner rebuilds it), not read as damage or data.
func TestIndexOldVersion(t *testing.T) {
	dir := t.TempDir()
	writeV1Chunk(t, dir, testEntries(seqRange(1, 10)...))
	x, err := OpenIndex(dir)
	if err == nil {
		x.Close()
		t.Fatal("a version 1 index opened")
	}
	if !errors.Is(err, ErrIndexVersion) || errors.Is(err, ErrIndexCorrupt) {
		t.Fatalf("OpenIndex = %v, want ErrIndexVersion", err)
	}
}
