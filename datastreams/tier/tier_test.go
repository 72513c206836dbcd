package tier

import (
	"context"
	"errors"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/eddy-video/eddy/datastreams/logstore"
	"github.com/eddy-video/eddy/datastreams/logstore/filelog"
)

const shard0 = "streams/s1/shardId-000000000000"

// TestUploadVerifyDropRead: sealed segments are uploaded with their
// index and checksum, recorded, dropped locally with a 0 hot time, and
// every record reads back identical from the bucket.
func TestUploadVerifyDropRead(t *testing.T) {
	ctx := context.Background()
	root, b, clock := t.TempDir(), newMemBucket(), newFakeClock()
	reg := prometheus.NewRegistry()
	tr := newTier(t, b, root, clock, func(c *Config) { c.Registerer = reg })
	l := openLog(t, tr, root, shard0, clock, 2048)
	defer l.Close()
	want := appendN(t, l, clock, 60, 200, time.Second)
	if err := startWait(tr, ctx); err != nil {
		t.Fatal(err)
	}
	if err := tr.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	sealed := l.Sealed()
	if len(sealed) < 3 {
		t.Fatalf("%d sealed segments, want several", len(sealed))
	}
	var total int64
	for _, s := range sealed {
		if s.Uploaded == nil || s.Local {
			t.Fatalf("segment %d: uploaded %v local %v, want uploaded and dropped", s.Base, s.Uploaded, s.Local)
		}
		if _, err := os.Stat(s.Path); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("segment file %s still there: %v", s.Path, err)
		}
		o := b.objs[segKey(shard0, s.Base)]
		if int64(len(o.data)) != s.Uploaded.Size || crc32.Checksum(o.data, castagnoli) != s.Uploaded.CRC32C {
			t.Fatalf("segment %d: object of %d bytes does not match its record %+v", s.Base, len(o.data), s.Uploaded)
		}
		if o.meta[metaCRC] != formatCRC(s.Uploaded.CRC32C) {
			t.Fatalf("segment %d: crc32c metadata %q", s.Base, o.meta[metaCRC])
		}
		if !b.has(idxKey(shard0, s.Base)) {
			t.Fatalf("segment %d: no index object", s.Base)
		}
		total += s.Size
	}
	if got := testutil.ToFloat64(tr.m.uploadedBytes); got != float64(total) {
		t.Fatalf("uploaded bytes %v, want %d", got, total)
	}
	if got := testutil.ToFloat64(tr.m.droppedBytes); got != float64(total) {
		t.Fatalf("dropped bytes %v, want %d", got, total)
	}
	if got := testutil.ToFloat64(tr.m.pendingSegments); got != 0 {
		t.Fatalf("pending segments %v", got)
	}
	sameRecords(t, readAll(t, l), want)
	u := tr.Usage(filepath.Join(root, "streams", "s1"))
	if u.BucketBytes != total || u.ColdSegments != len(sealed) || u.PendingBytes != 0 || u.LocalBytes != l.LocalSize() {
		t.Fatalf("usage %+v, bucket %d cold %d", u, total, len(sealed))
	}
}

// TestHotTimeKeepsLocal: with a hot time segments stay local until
// their newest record is that old; HotOf overrides it per log.
func TestHotTimeKeepsLocal(t *testing.T) {
	ctx := context.Background()
	root, b, clock := t.TempDir(), newMemBucket(), newFakeClock()
	other := "streams/s2/shardId-000000000000"
	tr := newTier(t, b, root, clock, func(c *Config) {
		c.Hot = time.Hour
		c.HotOf = func(dir string) (time.Duration, bool) {
			if strings.Contains(dir, "s2") {
				return 0, true
			}
			return 0, false
		}
	})
	l1 := openLog(t, tr, root, shard0, clock, 2048)
	defer l1.Close()
	l2 := openLog(t, tr, root, other, clock, 2048)
	defer l2.Close()
	appendN(t, l1, clock, 30, 200, time.Second)
	appendN(t, l2, clock, 30, 200, time.Second)
	if err := startWait(tr, ctx); err != nil {
		t.Fatal(err)
	}
	if err := tr.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for _, s := range l1.Sealed() {
		if s.Uploaded == nil || !s.Local {
			t.Fatalf("hot segment %d: uploaded %v local %v, want uploaded and local", s.Base, s.Uploaded != nil, s.Local)
		}
	}
	for _, s := range l2.Sealed() {
		if s.Local {
			t.Fatalf("segment %d of the 0s stream is still local", s.Base)
		}
	}
	clock.Add(time.Hour)
	if err := tr.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for _, s := range l1.Sealed() {
		if s.Local {
			t.Fatalf("segment %d still local an hour later", s.Base)
		}
	}
}

// TestExistingObjectAccepted: an object uploaded before a crash lost its
// record is accepted when size and checksum match (no second copy), and
// a different object at the key keeps the segment local.
func TestExistingObjectAccepted(t *testing.T) {
	ctx := context.Background()
	root, b, clock := t.TempDir(), newMemBucket(), newFakeClock()
	tr := newTier(t, b, root, clock, nil)
	l := openLog(t, tr, root, shard0, clock, 2048)
	defer l.Close()
	appendN(t, l, clock, 30, 200, time.Second)
	sealed := l.Sealed()
	// The first segment as a crashed upload left it; the second's key
	// holds something else.
	good, _ := os.ReadFile(sealed[0].Path)
	b.objs[segKey(shard0, sealed[0].Base)] = memObject{data: good, meta: map[string]string{metaCRC: formatCRC(crc32.Checksum(good, castagnoli))}}
	b.objs[segKey(shard0, sealed[1].Base)] = memObject{data: []byte("not it"), meta: map[string]string{metaCRC: "00000000"}}
	if err := startWait(tr, ctx); err != nil {
		t.Fatal(err)
	}
	if err := tr.Flush(ctx); err == nil {
		t.Fatal("Flush: no error for the mismatching object")
	}
	after := l.Sealed()
	if after[0].Uploaded == nil || after[0].Local {
		t.Fatalf("segment %d: the matching object was not accepted", after[0].Base)
	}
	if after[1].Uploaded != nil || !after[1].Local {
		t.Fatalf("segment %d: accepted over a different object", after[1].Base)
	}
	if got := string(b.objs[segKey(shard0, sealed[1].Base)].data); got != "not it" {
		t.Fatalf("the other object was overwritten: %q", got)
	}
	if got := testutil.ToFloat64(tr.m.uploadFailures); got < 1 {
		t.Fatalf("upload failures %v, want the mismatch counted", got)
	}
	for _, s := range after[2:] {
		if s.Uploaded == nil {
			t.Fatalf("segment %d not uploaded", s.Base)
		}
	}
}

// TestQueueBoundDiscardsOldest: while the bucket is down, pending bytes
// past QueueBytes discard the oldest waiting segments, counted as lost.
func TestQueueBoundDiscardsOldest(t *testing.T) {
	ctx := context.Background()
	root, b, clock := t.TempDir(), newMemBucket(), newFakeClock()
	reg := prometheus.NewRegistry()
	tr := newTier(t, b, root, clock, func(c *Config) { c.QueueBytes = 5000; c.Registerer = reg })
	l := openLog(t, tr, root, shard0, clock, 2048)
	defer l.Close()
	appendN(t, l, clock, 60, 200, time.Second)
	before := l.Sealed()
	b.setDown(true)
	if err := tr.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := tr.Flush(ctx); err == nil {
		t.Fatal("Flush with the bucket down: no error")
	}
	after := l.Sealed()
	var kept, lost int64
	for _, s := range after {
		kept += s.Size
	}
	for _, s := range before {
		lost += s.Size
	}
	lost -= kept
	if kept > 5000 || lost == 0 {
		t.Fatalf("%d bytes kept, %d lost; want at most 5000 kept", kept, lost)
	}
	if after[len(after)-1].Base != before[len(before)-1].Base || after[0].Base == before[0].Base {
		t.Fatalf("kept segments %d..%d of %d..%d: want the newest kept", after[0].Base, after[len(after)-1].Base, before[0].Base, before[len(before)-1].Base)
	}
	if got := testutil.ToFloat64(tr.m.lostBytes); got != float64(lost) {
		t.Fatalf("lost bytes %v, want %d", got, lost)
	}
	if got := testutil.ToFloat64(tr.m.pendingBytes); got != float64(kept) {
		t.Fatalf("pending bytes %v, want %d", got, kept)
	}
	if testutil.ToFloat64(tr.m.uploadLag) <= 0 {
		t.Fatal("upload lag 0 while segments wait")
	}
	u := tr.Usage(filepath.Join(root, "streams", "s1"))
	if u.PendingBytes != kept || u.BucketBytes != 0 || u.OldestPending.UnixNano() != after[0].LastTime || u.LocalBytes != l.LocalSize() {
		t.Fatalf("usage %+v during the outage, %d bytes waiting", u, kept)
	}
	if u := tr.Usage(filepath.Join(root, "streams", "other")); u != (Usage{}) {
		t.Fatalf("usage of another stream: %+v", u)
	}
	b.setDown(false)
	if err := tr.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got := testutil.ToFloat64(tr.m.uploadLag); got != 0 {
		t.Fatalf("upload lag %v after catching up", got)
	}
	if b.aborted != 1 {
		t.Fatalf("AbortUploads done %d times, want once", b.aborted)
	}
}

// TestBackoff: a failing segment is retried at 1 s, 2 s, 4 s … (capped
// at 1 min) by the background loop, and uploaded once the store is back.
func TestBackoff(t *testing.T) {
	ctx := context.Background()
	root, b, clock := t.TempDir(), newMemBucket(), newFakeClock()
	tr := newTier(t, b, root, clock, func(c *Config) { c.Interval = 5 * time.Millisecond; c.Uploads = 1 })
	real := newFakeClock()
	tr.setClock(real.Now)
	l := openLog(t, tr, root, shard0, clock, 1<<20)
	defer l.Close()
	appendN(t, l, clock, 2, 100, time.Second)
	clock.Add(2 * time.Hour) // the next append rolls: one sealed segment
	appendN(t, l, clock, 1, 100, time.Second)
	if n := len(l.Sealed()); n != 1 {
		t.Fatalf("%d sealed segments, want 1", n)
	}
	b.setFail("PutIfAbsent", true)
	if err := startWait(tr, ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a first failed attempt", func() bool { return b.count("PutIfAbsent") >= 1 })
	settle := func() int { time.Sleep(60 * time.Millisecond); return b.count("PutIfAbsent") }
	n := settle()
	if settle() != n {
		t.Fatal("retried before its backoff")
	}
	for _, d := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second} {
		real.Add(d - time.Millisecond)
		if got := settle(); got != n {
			t.Fatalf("retried %v early", time.Millisecond)
		}
		real.Add(time.Millisecond)
		waitFor(t, "a retry after "+d.String(), func() bool { return b.count("PutIfAbsent") == n+1 })
		n++
	}
	tr.mu.Lock()
	for range 10 {
		k := segKey(shard0, l.Sealed()[0].Base)
		tr.retry[k] = tr.retry[k].after(real.Now())
	}
	capped := tr.retry[segKey(shard0, l.Sealed()[0].Base)].delay
	tr.mu.Unlock()
	if capped != time.Minute {
		t.Fatalf("backoff grows to %v, want 1m", capped)
	}
	b.setFail("PutIfAbsent", false)
	real.Add(time.Minute)
	waitFor(t, "the upload", func() bool { return l.Sealed()[0].Uploaded != nil })
}

// waitFor polls cond for up to 10 s.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestTrimDeletesObjects: segments trimmed by retention have their
// objects deleted in batches.
func TestTrimDeletesObjects(t *testing.T) {
	ctx := context.Background()
	root, b, clock := t.TempDir(), newMemBucket(), newFakeClock()
	tr := newTier(t, b, root, clock, nil)
	l := openLog(t, tr, root, shard0, clock, 2048)
	defer l.Close()
	all := appendN(t, l, clock, 60, 200, time.Minute)
	if err := startWait(tr, ctx); err != nil {
		t.Fatal(err)
	}
	if err := tr.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	sealed := l.Sealed()
	cut := sealed[len(sealed)/2]
	if _, _, err := l.Trim(cut.FirstTime, 0); err != nil {
		t.Fatal(err)
	}
	if err := tr.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	first, _ := l.Bounds()
	for _, s := range sealed {
		gone := !b.has(segKey(shard0, s.Base)) && !b.has(idxKey(shard0, s.Base))
		if s.Base < first && !gone {
			t.Fatalf("trimmed segment %d still has objects", s.Base)
		}
		if s.Base >= first && gone {
			t.Fatalf("segment %d kept locally lost its objects", s.Base)
		}
	}
	if got := testutil.ToFloat64(tr.m.deletedObjects); got == 0 {
		t.Fatal("no deleted objects counted")
	}
	// What is left reads back (cold) as written.
	sameRecords(t, readAll(t, l), all[first-1:])
}

func mustRead(t testing.TB, l *filelog.Log, seq uint64) logstore.Record {
	t.Helper()
	recs, err := l.Read(seq, 1, 1<<20)
	if err != nil || len(recs) == 0 {
		t.Fatalf("read %d: %v", seq, err)
	}
	return recs[0]
}

// TestScanGap: a log is read again after Interval, a long one less
// often (Sealed is linear in its segments), never more than a minute of
// intervals apart.
func TestScanGap(t *testing.T) {
	tr := newTier(t, newMemBucket(), t.TempDir(), newFakeClock(), func(c *Config) { c.Interval = time.Second })
	for _, c := range []struct {
		segs int
		want time.Duration
	}{{0, time.Second}, {1999, time.Second}, {4000, 2 * time.Second}, {87600, 43 * time.Second}, {1 << 20, time.Minute}} {
		if got := tr.scanGap(c.segs); got != c.want {
			t.Errorf("scanGap(%d) = %v, want %v", c.segs, got, c.want)
		}
	}
}

// TestRelativeRoot: a data directory given relative to the working
// directory (the tier's Root, or the core's Dir) tiers the same.
func TestRelativeRoot(t *testing.T) {
	ctx := context.Background()
	t.Chdir(t.TempDir())
	b, clock := newMemBucket(), newFakeClock()
	tr := newTier(t, b, "data", clock, nil)
	l := openLog(t, tr, "data", shard0, clock, 2048)
	defer l.Close()
	want := appendN(t, l, clock, 30, 200, time.Second)
	if err := startWait(tr, ctx); err != nil {
		t.Fatal(err)
	}
	if err := tr.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if !b.has(segKey(shard0, l.Sealed()[0].Base)) {
		t.Fatalf("objects %q", b.keys())
	}
	sameRecords(t, readAll(t, l), want)
	if u := tr.Usage(filepath.Join("data", "streams", "s1")); u.ColdSegments != len(l.Sealed()) {
		t.Fatalf("usage %+v", u)
	}
}
