package datastreams

import (
	"bytes"
	"testing"
	"time"
)

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
