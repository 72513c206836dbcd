package datastreams

import (
	"bytes"
	"testing"
)

// TestShardAppend writes through the store-level shard API: sequences
// are consecutive from the log's end, the acknowledged records are on
// disk (a reopened core reads them), and the stream's throughput limits,
// which refuse Put, do not apply.
func TestShardAppend(t *testing.T) {
	dir := t.TempDir()
	limits := Limits{Enabled: true, WriteRecordsPerS: 2, WriteBytesPerS: 1 << 20, ReadCallsPerS: 5, ReadBytesPerS: 2 << 20}
	c := &Core{Dir: dir, Limits: limits}
	if err := c.Initialize(); err != nil {
		t.Fatal(err)
	}
	s, err := c.CreateStream("video", CreateOptions{ShardCount: 1, Mode: ModeProvisioned})
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.Put(make([]PutEntry, 10))
	if err != nil {
		t.Fatal(err)
	}
	throttled := 0
	for _, r := range res {
		if KindOf(r.Err) == KindThroughput {
			throttled++
		}
	}
	if throttled == 0 {
		t.Fatal("Put was not throttled: the limits are not on")
	}
	sh, err := s.Shard(0)
	if err != nil {
		t.Fatal(err)
	}
	entries := make([]Entry, 100)
	for i := range entries {
		entries[i] = Entry{Key: []byte("fragment"), Data: bytes.Repeat([]byte{byte(i)}, 1<<10)}
	}
	var lastT int64
	for round := 0; round < 3; round++ {
		_, next := sh.Log().Bounds()
		first, at, err := sh.Append(entries)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if first != next || at <= lastT {
			t.Fatalf("round %d: first %d at %d, want %d after %d", round, first, at, next, lastT)
		}
		lastT = at
		if _, n := sh.Log().Bounds(); n != first+100 {
			t.Fatalf("round %d: log ends at %d, want %d", round, n, first+100)
		}
	}
	c.Close()

	c2 := &Core{Dir: dir}
	if err := c2.Initialize(); err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	s2, err := c2.Stream("video")
	if err != nil {
		t.Fatal(err)
	}
	sh2, _ := s2.Shard(0)
	recs, err := sh2.Log().Read(0, 1000, 10<<20)
	if err != nil {
		t.Fatal(err)
	}
	if want := 10 - throttled + 300; len(recs) != want {
		t.Fatalf("after reopen read %d records, want %d", len(recs), want)
	}
	for i, r := range recs[10-throttled:] {
		if r.Seq != recs[0].Seq+uint64(10-throttled+i) || !bytes.Equal(r.Data, entries[i%100].Data) {
			t.Fatalf("record %d after reopen: seq %d, data %q...", i, r.Seq, r.Data[:4])
		}
	}
}

// TestShardAppendRefuses checks that a sealed shard and a deleted stream
// refuse appends, the latter with Put's error.
func TestShardAppendRefuses(t *testing.T) {
	c := &Core{Dir: t.TempDir()}
	if err := c.Initialize(); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := c.CreateStream("s", CreateOptions{ShardCount: 1})
	if err != nil {
		t.Fatal(err)
	}
	parent, _ := s.Shard(0)
	if err := s.Split(0, HashKey{Hi: 1 << 63}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := parent.Append([]Entry{{Data: []byte("x")}}); KindOf(err) != KindInUse {
		t.Fatalf("append to a sealed shard: %v, want an in-use error", err)
	}
	child, _ := s.Shard(1)
	if _, _, err := child.Append([]Entry{{Data: []byte("x")}}); err != nil {
		t.Fatalf("append to an open child: %v", err)
	}
	if err := c.DeleteStream("s", false); err != nil {
		t.Fatal(err)
	}
	_, putErr := s.Put([]PutEntry{{Key: []byte("k"), Data: []byte("x")}})
	_, _, err = child.Append([]Entry{{Data: []byte("x")}})
	if err == nil || putErr == nil || err.Error() != putErr.Error() || KindOf(err) != KindOf(putErr) {
		t.Fatalf("append to a deleted stream: %v; Put says %v", err, putErr)
	}
}
