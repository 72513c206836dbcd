package datastreams

import (
	"bytes"
	"os"
	"testing"
	"time"
)

// FuzzDecodeRequest feeds arbitrary bodies to every operation's decoder in
// both wire formats: decoding may fail, but never panic, and what decodes
// as JSON re-encodes.
func FuzzDecodeRequest(f *testing.F) {
	f.Add([]byte(`{"StreamName":"s1","Records":[{"Data":"aGVsbG8=","PartitionKey":"k"}]}`), false)
	f.Add([]byte(`{"StreamName":"s","ShardId":"shardId-000000000000","ShardIteratorType":"AT_TIMESTAMP","Timestamp":1.7e9}`), false)
	f.Add([]byte(`{"ShardFilter":{"Type":"AT_TIMESTAMP","Timestamp":"2024-01-01T00:00:00Z"}}`), false)
	if b, err := cborEnc.Marshal(map[string]any{"StreamName": "s", "Data": []byte{1, 2}, "PartitionKey": "p"}); err == nil {
		f.Add(b, true)
	}
	f.Add([]byte{0xa1, 0x69, 'T', 'i', 'm', 'e', 's', 't', 'a', 'm', 'p', 0xc1, 0x1b, 0, 0, 1, 0x8b, 0xcf, 0xe5, 0x68, 0}, true)
	f.Fuzz(func(t *testing.T, body []byte, useCBOR bool) {
		cd := codecJSON
		if useCBOR {
			cd = codecCBOR
		}
		targets := []any{&createStreamIn{}, &putRecordsIn{}, &putRecordIn{}, &getShardIteratorIn{}, &getRecordsIn{},
			&listShardsIn{}, &subscribeIn{}, &listStreamsIn{}, &addTagsIn{}, &consumerIn{}}
		for _, v := range targets {
			if err := cd.decode(body, v); err == nil {
				if _, err := cd.encode(v); err != nil {
					t.Fatalf("%T decoded but does not encode: %v", v, err)
				}
			}
		}
	})
}

// FuzzIteratorToken checks that no string but one the core issued opens as
// an iterator or page token, and that issued ones round-trip.
func FuzzIteratorToken(f *testing.F) {
	c := &Core{key: bytes.Repeat([]byte{7}, 32), Now: time.Now}
	good := c.IteratorToken(Iterator{Stream: "s", Created: 1, Shard: 2, Seq: 3, Issued: time.Now()})
	f.Add(good, "s", 2, uint64(3))
	f.Add("AAAA", "x", 0, uint64(0))
	f.Add(good[:len(good)-1]+"A", "s", 1, uint64(1))
	f.Fuzz(func(t *testing.T, tok string, stream string, shard int, seq uint64) {
		if it, err := c.ParseIterator(tok); err == nil {
			// Only a genuine token opens; re-issuing it yields the same fields.
			again := c.IteratorToken(it)
			it2, err := c.ParseIterator(again)
			if err != nil || it2 != it {
				t.Fatalf("re-issued token differs: %+v vs %+v (%v)", it, it2, err)
			}
		}
		if len(stream) > 255 || shard < 0 || shard > 1<<31-1 {
			return
		}
		it := Iterator{Stream: stream, Created: 5, Shard: shard, Seq: seq, Issued: time.UnixMilli(time.Now().UnixMilli())}
		got, err := c.ParseIterator(c.IteratorToken(it))
		if err != nil || got != it {
			t.Fatalf("round trip %+v -> %+v (%v)", it, got, err)
		}
		if _, _, err := c.ParsePageToken(tok); err == nil && tok != c.PageToken("", "") {
			// A page token must carry a valid MAC; random strings must not open.
			if _, err := c.open(tokenPage, tok); err != nil {
				t.Fatal("page token parsed without a valid MAC")
			}
		}
	})
}

// FuzzSegmentRecovery appends records, then replaces the tail of the
// segment file with fuzzed bytes: recovery must keep exactly a valid
// prefix of what was written, read it intact, and accept new appends.
func FuzzSegmentRecovery(f *testing.F) {
	f.Add(uint8(10), uint16(3), []byte{0, 0, 0, 9, 1, 2, 3})
	f.Add(uint8(50), uint16(100), []byte{})
	f.Add(uint8(1), uint16(0), bytes.Repeat([]byte{0xff}, 64))
	f.Fuzz(func(t *testing.T, n uint8, cut uint16, tail []byte) {
		dir := t.TempDir()
		clk := newClock()
		l, err := OpenFileLog(dir, FileLogOptions{Now: clk.Now})
		if err != nil {
			t.Fatal(err)
		}
		count := int(n%60) + 1
		for i := 0; i < count; i++ {
			s := uint64(i + 1)
			if err := l.Append([]Record{{Seq: s, Time: clk.Now().UnixNano(), Key: []byte("k"), Data: payload(s, 1+i%17)}}); err != nil {
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
		l2, err := OpenFileLog(dir, FileLogOptions{Now: clk.Now})
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
			if r.Seq != s || !bytes.Equal(r.Data, payload(s, 1+i%17)) {
				t.Fatalf("record %d damaged after recovery", s)
			}
		}
		if err := l2.Append([]Record{{Seq: next, Time: clk.Now().UnixNano(), Data: []byte("after")}}); err != nil {
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
