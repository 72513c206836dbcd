package filelog

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/eddy-video/eddy/datastreams/logstore"
	"github.com/eddy-video/eddy/datastreams/logstore/logstoretest"
)

// FuzzSegmentRecovery appends records, then replaces the tail of the
// segment file with fuzzed bytes: recovery must keep exactly a valid
// prefix of what was written, read it intact, and accept new appends.
func FuzzSegmentRecovery(f *testing.F) {
	f.Add(uint8(10), uint16(3), []byte{0, 0, 0, 9, 1, 2, 3})
	f.Add(uint8(50), uint16(100), []byte{})
	f.Add(uint8(1), uint16(0), bytes.Repeat([]byte{0xff}, 64))
	f.Fuzz(func(t *testing.T, n uint8, cut uint16, tail []byte) {
		dir := t.TempDir()
		clk := logstoretest.NewClock()
		l, err := Open(dir, Options{Now: clk.Now})
		if err != nil {
			t.Fatal(err)
		}
		count := int(n%60) + 1
		for i := 0; i < count; i++ {
			s := uint64(i + 1)
			if err := l.Append([]logstore.Record{{Seq: s, Time: clk.Now().UnixNano(), Key: []byte("k"), Data: logstoretest.Payload(s, 1+i%17)}}); err != nil {
				t.Fatal(err)
			}
			if err := l.Commit(false); err != nil {
				t.Fatal(err)
			}
			clk.Advance(time.Millisecond)
		}
		l.Close()
		path := segmentPath(dir, 1)
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		newSize := fi.Size() - int64(cut)%fi.Size()
		if err := os.Truncate(path, newSize); err != nil {
			t.Fatal(err)
		}
		if len(tail) > 0 {
			fh, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := fh.Write(tail); err != nil {
				t.Fatal(err)
			}
			fh.Close()
		}
		l2, err := Open(dir, Options{Now: clk.Now})
		if err != nil {
			t.Fatal(err)
		}
		defer l2.Close()
		_, next := l2.Bounds()
		kept := int(next - 1)
		if kept > count {
			t.Fatalf("recovered %d records, only %d were written", kept, count)
		}
		recs, err := l2.Read(1, 1000, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != kept {
			t.Fatalf("read %d, bounds say %d", len(recs), kept)
		}
		for i, r := range recs {
			s := uint64(i + 1)
			if r.Seq != s || !bytes.Equal(r.Data, logstoretest.Payload(s, 1+i%17)) {
				t.Fatalf("record %d damaged after recovery", s)
			}
		}
		if err := l2.Append([]logstore.Record{{Seq: next, Time: clk.Now().UnixNano(), Data: []byte("after")}}); err != nil {
			t.Fatal(err)
		}
		if err := l2.Commit(true); err != nil {
			t.Fatal(err)
		}
		if got, _ := l2.Read(next, 1, 100); len(got) != 1 || string(got[0].Data) != "after" {
			t.Fatalf("append after recovery: %+v", got)
		}
	})
}

// FuzzColdSegment damages the object of a cold segment (what the store
// answers: cut, bytes overwritten, garbage appended, its upload record
// agreeing on the size), with the local index kept or lost: Open either
// fails or opens, and reads either fail or return records exactly as
// written, never anything else.
func FuzzColdSegment(f *testing.F) {
	f.Add(uint16(0), uint16(0), []byte{}, false)
	f.Add(uint16(7), uint16(100), []byte{0xff}, true)
	f.Add(uint16(0), uint16(40), []byte("\x00\x00\x00\x40garbage"), false)
	f.Add(uint16(300), uint16(0), []byte{}, true)
	f.Fuzz(func(t *testing.T, cut, at uint16, patch []byte, keepIndex bool) {
		clk := logstoretest.NewClock()
		c := newTestCold(t)
		dir := t.TempDir()
		l, err := Open(dir, Options{Now: clk.Now, SegmentBytes: 2 << 10, IndexEvery: 256, Cold: c})
		if err != nil {
			t.Fatal(err)
		}
		logstoretest.AppendN(t, l, clk, 60, 2, 50, time.Second)
		sealed := l.Sealed()
		c.uploadFirst(t, l, -1)
		dropFirst(t, l, -1)
		l.Close()
		victim := sealed[0]
		obj, err := os.ReadFile(c.object(victim.Base))
		if err != nil {
			t.Fatal(err)
		}
		obj = obj[:len(obj)-int(cut)%len(obj)]
		if p := int(at) % (len(obj) + 1); len(patch) > 0 {
			obj = append(obj[:p:p], append(patch, obj[min(p+len(patch), len(obj)):]...)...)
		}
		if err := os.WriteFile(c.object(victim.Base), obj, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(uploadPath(victim.Path), []byte(fmt.Sprintf(`{"size":%d}`, len(obj))), 0o644); err != nil {
			t.Fatal(err)
		}
		if !keepIndex {
			if err := os.Remove(victim.IndexPath); err != nil {
				t.Fatal(err)
			}
		}
		l2, err := Open(dir, Options{Now: clk.Now, SegmentBytes: 2 << 10, IndexEvery: 256, Cold: c})
		if err != nil {
			return // refused: the damage is seen
		}
		defer l2.Close()
		first, next := l2.Bounds()
		for from := first; from < next; from++ {
			recs, err := l2.Read(from, 5, 1<<20)
			if err != nil {
				continue
			}
			for _, r := range recs {
				if r.Seq < 1 || r.Seq > 60 || !bytes.Equal(r.Data, logstoretest.Payload(r.Seq, 50)) || string(r.Key) != fmt.Sprint("k", r.Seq) {
					t.Fatalf("read from %d: record %d is not what was written", from, r.Seq)
				}
			}
		}
	})
}

// FuzzIndexFile: any bytes as an index file (index files come back from
// the bucket at a restore) read without panic; a file whose entries
// check out has a summary that checks out too and says the same, and
// one written by encodeIndex reads back as written.
func FuzzIndexFile(f *testing.F) {
	s := &segment{next: 40, size: 4000, firstTime: 5, lastTime: 9,
		index: []indexEntry{{seq: 1, time: 5, pos: 32}, {seq: 20, time: 7, pos: 2000}}}
	f.Add(encodeIndex(s), int64(4000))
	f.Add(encodeIndexV1(s), int64(4000))
	f.Add([]byte{}, int64(0))
	f.Fuzz(func(t *testing.T, b []byte, segSize int64) {
		path := filepath.Join(t.TempDir(), "1.idx")
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		idx, sum, v1, err := readIndexFile(path, segSize, true)
		_, sum2, v1b, err2 := readIndexFile(path, segSize, false)
		if err == nil && (err2 != nil || sum2 != sum || v1b != v1) {
			t.Fatalf("whole file reads (%+v, v1 %v) but its summary %+v, v1 %v, %v", sum, v1, sum2, v1b, err2)
		}
		if err != nil {
			return
		}
		w := &segment{next: sum.next, size: sum.size, firstTime: sum.firstTime, lastTime: sum.lastTime, index: idx}
		if err := os.WriteFile(path, encodeIndex(w), 0o644); err != nil {
			t.Fatal(err)
		}
		idx2, sum3, v1c, err := readIndexFile(path, segSize, true)
		if err != nil || v1c || sum3 != sum || !reflect.DeepEqual(nilIfEmpty(idx2), nilIfEmpty(idx)) {
			t.Fatalf("rewritten index reads %+v %d entries v1 %v (%v), want %+v %d entries", sum3, len(idx2), v1c, err, sum, len(idx))
		}
	})
}
