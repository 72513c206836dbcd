package tier

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eddy-video/eddy/datastreams/logstore"
	"github.com/eddy-video/eddy/datastreams/objstore"
)

// uploadedLog writes a log of several sealed segments at shard0 under a
// new root and uploads them; it returns the root, the sealed records and
// the sealed segments' bases.
func uploadedLog(t *testing.T, b *memBucket, clock *fakeClock) (string, []logstore.Record, []uint64) {
	t.Helper()
	ctx := context.Background()
	root := t.TempDir()
	tr := newTier(t, b, root, clock, nil)
	l := openLog(t, tr, root, shard0, clock, 2048)
	appendN(t, l, clock, 60, 200, time.Second)
	writeFile(t, root, "streams/s1/stream.json", `{"name":"s1"}`)
	if err := startWait(tr, ctx); err != nil {
		t.Fatal(err)
	}
	if err := tr.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	sealed := l.Sealed()
	var want []logstore.Record
	for _, r := range readAll(t, l) {
		if r.Seq < sealed[len(sealed)-1].Next {
			want = append(want, r)
		}
	}
	var bases []uint64
	for _, s := range sealed {
		bases = append(bases, s.Base)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	return root, want, bases
}

// TestRestoreSegmentWithoutIndex: a segment whose index object is gone
// is restored all the same (its log rebuilds the index from the object),
// and the restored node's reconciliation deletes nothing of it.
func TestRestoreSegmentWithoutIndex(t *testing.T) {
	ctx := context.Background()
	b, clock := newMemBucket(), newFakeClock()
	_, want, bases := uploadedLog(t, b, clock)
	delete(b.objs, idxKey(shard0, bases[0]))

	dst := filepath.Join(t.TempDir(), "restored")
	sum, err := Restore(ctx, b, dst, nil)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Segments != len(bases) {
		t.Fatalf("%d segments restored, want %d", sum.Segments, len(bases))
	}
	tr := newTier(t, b, dst, clock, nil)
	l := openLog(t, tr, dst, shard0, clock, 2048)
	defer l.Close()
	if err := startWait(tr, ctx); err != nil {
		t.Fatal(err)
	}
	if err := tr.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if !b.has(segKey(shard0, bases[0])) {
		t.Fatal("the segment whose index was missing was deleted by the restored node")
	}
	if first, _ := l.Bounds(); first != bases[0] {
		t.Fatalf("restored log starts at %d, want %d", first, bases[0])
	}
	sameRecords(t, readAll(t, l)[:len(want)], want)
}

// TestRestoreBadChecksumNewest: the newest segment object with a damaged
// checksum is restored (checksum unknown), so the restored log appends
// past it instead of reusing its sequences.
func TestRestoreBadChecksumNewest(t *testing.T) {
	ctx := context.Background()
	b, clock := newMemBucket(), newFakeClock()
	_, want, bases := uploadedLog(t, b, clock)
	newest := segKey(shard0, bases[len(bases)-1])
	o := b.objs[newest]
	o.meta = map[string]string{metaCRC: "not-hex!"}
	b.objs[newest] = o

	dst := filepath.Join(t.TempDir(), "restored")
	if _, err := Restore(ctx, b, dst, nil); err != nil {
		t.Fatal(err)
	}
	tr := newTier(t, b, dst, clock, nil)
	l := openLog(t, tr, dst, shard0, clock, 2048)
	defer l.Close()
	_, next := l.Bounds()
	if last := want[len(want)-1].Seq; next <= last {
		t.Fatalf("restored log's next sequence %d, want past %d (the newest object's records)", next, last)
	}
	sameRecords(t, readAll(t, l)[:len(want)], want)
}

// TestRestoreSkippedKept: keys a restore left out are never deleted by
// the restored node's reconciliation, nor the shard prefix that holds
// them though its directory is missing.
func TestRestoreSkippedKept(t *testing.T) {
	ctx := context.Background()
	b := newMemBucket()
	empty := "streams/s1/shardId-000000000009/00000000000000000001.seg"
	b.objs[empty] = memObject{data: nil}
	b.objs["streams/s1/stream.json"] = memObject{data: []byte("{}")}
	dst := filepath.Join(t.TempDir(), "restored")
	if _, err := Restore(ctx, b, dst, nil); err != nil {
		t.Fatal(err)
	}
	tr := newTier(t, b, dst, newFakeClock(), nil)
	if err := startWait(tr, ctx); err != nil {
		t.Fatal(err)
	}
	if !b.has(empty) {
		t.Fatal("an object the restore left out was deleted at Start")
	}
}

// TestIndexNotOverwritten: a different segment object at the key makes
// the upload fail without writing the index either.
func TestIndexNotOverwritten(t *testing.T) {
	ctx := context.Background()
	root, b, clock := t.TempDir(), newMemBucket(), newFakeClock()
	tr := newTier(t, b, root, clock, nil)
	l := openLog(t, tr, root, shard0, clock, 2048)
	defer l.Close()
	appendN(t, l, clock, 30, 200, time.Second)
	base := l.Sealed()[0].Base
	foreignSeg := memObject{data: []byte("another node's segment"), meta: map[string]string{metaCRC: "01234567"}}
	foreignIdx := memObject{data: []byte("another node's index")}
	b.objs[segKey(shard0, base)] = foreignSeg
	b.objs[idxKey(shard0, base)] = foreignIdx
	if err := startWait(tr, ctx); err != nil {
		t.Fatal(err)
	}
	if err := tr.Flush(ctx); err == nil {
		t.Fatal("Flush over a foreign segment object: no error")
	}
	if !bytes.Equal(b.objs[segKey(shard0, base)].data, foreignSeg.data) || !bytes.Equal(b.objs[idxKey(shard0, base)].data, foreignIdx.data) {
		t.Fatal("the foreign segment or its index was overwritten")
	}
	if s, _ := l.SealedSegment(base); s.Uploaded != nil {
		t.Fatal("segment recorded uploaded over a foreign object")
	}
	// The others uploaded, with their indexes.
	for _, s := range l.Sealed()[1:] {
		if s.Uploaded == nil || !b.has(idxKey(shard0, s.Base)) {
			t.Fatalf("segment %d: uploaded %v, index object %v", s.Base, s.Uploaded != nil, b.has(idxKey(shard0, s.Base)))
		}
	}
}

// TestStreamFilesBeforeRecord: a segment is recorded uploaded only once
// its stream directory's small files are in the bucket; while they
// cannot be mirrored, the upload is retried.
func TestStreamFilesBeforeRecord(t *testing.T) {
	ctx := context.Background()
	root, b, clock := t.TempDir(), newMemBucket(), newFakeClock()
	tr := newTier(t, b, root, clock, nil)
	l := openLog(t, tr, root, shard0, clock, 2048)
	defer l.Close()
	appendN(t, l, clock, 30, 200, time.Second)
	writeFile(t, root, "streams/s1/stream.json", `{"name":"s1"}`)
	writeFile(t, root, "streams/s1/init/01", "init")
	b.setFail("Put", true) // the mirror's plain PUTs
	if err := startWait(tr, ctx); err != nil {
		t.Fatal(err)
	}
	if err := tr.pass(ctx, true); err == nil {
		t.Fatal("upload pass with the stream's files not mirrorable: no error")
	}
	for _, s := range l.Sealed() {
		if s.Uploaded != nil {
			t.Fatalf("segment %d recorded uploaded before stream.json was in the bucket", s.Base)
		}
	}
	b.setFail("Put", false)
	if err := tr.pass(ctx, true); err != nil {
		t.Fatal(err)
	}
	for _, s := range l.Sealed() {
		if s.Uploaded == nil {
			t.Fatalf("segment %d not uploaded", s.Base)
		}
	}
	for _, k := range []string{"streams/s1/stream.json", "streams/s1/init/01"} {
		if !b.has(k) {
			t.Fatalf("%s not in the bucket", k)
		}
	}
}

// TestMirrorLargeThrottled: a growing file of 256 KiB or more is
// mirrored at most every MirrorLargeEvery; small files whenever they
// change.
func TestMirrorLargeThrottled(t *testing.T) {
	ctx := context.Background()
	root, b, clock := t.TempDir(), newMemBucket(), newFakeClock()
	real := newFakeClock()
	cb := &putBytes{memBucket: b}
	tr := newTier(t, cb, root, clock, nil)
	tr.setClock(real.Now)
	big := filepath.Join(root, "streams", "s1", "fragments.idx", "0001.fx")
	if err := os.MkdirAll(filepath.Dir(big), 0o755); err != nil {
		t.Fatal(err)
	}
	chunk := bytes.Repeat([]byte{7}, 64<<10)
	var puts int
	count := func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		puts = b.calls["Put"]
	}
	if err := startWait(tr, ctx); err != nil {
		t.Fatal(err)
	}
	const passes = 60 // one a minute for an hour
	for i := range passes {
		f, err := os.OpenFile(big, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write(chunk); err != nil {
			t.Fatal(err)
		}
		f.Close()
		writeFile(t, root, "streams/s1/stream.json", strings.Repeat("x", i+1))
		if err := tr.mirror(ctx, []string{"streams/s1"}, false, false); err != nil {
			t.Fatal(err)
		}
		real.Add(time.Minute)
	}
	count()
	// stream.json each pass; the large file while small (4 passes under
	// 256 KiB), then once every 10 minutes.
	if max := passes + 4 + passes/10 + 1; puts > max {
		t.Fatalf("%d PUTs in %d passes, want at most %d", puts, passes, max)
	}
	// Bytes: the small passes, then one upload of the whole file per 10
	// minutes, not one per pass (which would be 60·61/2 chunks).
	if got, max := cb.n.Load(), int64((4*5/2+passes/10*passes+passes)*len(chunk)); got > max {
		t.Fatalf("%d bytes PUT in %d passes, want at most %d", got, passes, max)
	}
	if got := string(b.objs["streams/s1/stream.json"].data); len(got) != passes {
		t.Fatalf("stream.json mirrored as %d bytes, want every change (%d)", len(got), passes)
	}
	// Flush mirrors the large file whatever its age.
	if err := tr.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got := len(b.objs["streams/s1/fragments.idx/0001.fx"].data); got != passes*len(chunk) {
		t.Fatalf("after Flush the bucket has %d bytes of the large file, want %d", got, passes*len(chunk))
	}
}

// TestDiscardedSegmentObjectsDeleted: the objects a failed attempt may
// have left for a segment that the queue bound discards are deleted, and
// the keys survive a restart until they are.
func TestDiscardedSegmentObjectsDeleted(t *testing.T) {
	ctx := context.Background()
	root, b, clock := t.TempDir(), newMemBucket(), newFakeClock()
	tr := newTier(t, b, root, clock, func(c *Config) { c.QueueBytes = 5000 })
	l := openLog(t, tr, root, shard0, clock, 2048)
	appendN(t, l, clock, 60, 200, time.Second)
	oldest := l.Sealed()[0].Base
	// What an earlier attempt left: the segment and its index.
	b.objs[segKey(shard0, oldest)] = memObject{data: []byte("partial")}
	b.objs[idxKey(shard0, oldest)] = memObject{data: []byte("partial")}
	b.setFail("PutIfAbsent", true)
	b.setFail("Delete", true)
	if err := tr.Start(ctx); err != nil {
		t.Fatal(err)
	}
	_ = tr.Flush(ctx)
	if s, ok := l.SealedSegment(oldest); ok {
		t.Fatalf("oldest segment %+v not discarded", s)
	}
	pd, err := os.ReadFile(filepath.Join(root, "tier", "pending-deletes"))
	if err != nil || !strings.Contains(string(pd), segKey(shard0, oldest)) || !strings.Contains(string(pd), idxKey(shard0, oldest)) {
		t.Fatalf("pending-deletes %q (%v), want the discarded segment's keys", pd, err)
	}
	// Stopped before the deletion: the next start does it, before any upload.
	l.Close()
	tr.Close()
	b.setFail("Delete", false)
	tr2 := newTier(t, b, root, clock, nil)
	l2 := openLog(t, tr2, root, shard0, clock, 2048)
	defer l2.Close()
	if err := startWait(tr2, ctx); err != nil {
		t.Fatal(err)
	}
	if b.has(segKey(shard0, oldest)) || b.has(idxKey(shard0, oldest)) {
		t.Fatal("objects of a discarded segment kept after the restart")
	}
	if _, err := os.Stat(filepath.Join(root, "tier", "pending-deletes")); !os.IsNotExist(err) {
		t.Fatalf("pending-deletes left: %v", err)
	}
}

// putBytes counts the bytes of plain PUTs.
type putBytes struct {
	*memBucket
	n atomic.Int64
}

func (p *putBytes) Put(ctx context.Context, key string, data []byte) error {
	p.n.Add(int64(len(data)))
	return p.memBucket.Put(ctx, key, data)
}

// prefixIgnorer is a bucket whose List ignores the prefix.
type prefixIgnorer struct{ *memBucket }

func (p prefixIgnorer) List(ctx context.Context, _, after string, limit int) ([]objstore.Object, bool, error) {
	return p.memBucket.List(ctx, "", after, limit)
}

// TestListingOutsidePrefix: a store that ignores the listing's prefix
// does not make one stream's deletion empty another's, nor loop.
func TestListingOutsidePrefix(t *testing.T) {
	ctx := context.Background()
	b := newMemBucket()
	for _, k := range []string{"streams/a/stream.json", "streams/a/x", "streams/b/stream.json", "streams/b/shardId-000000000000/00000000000000000001.seg", "zzz"} {
		b.objs[k] = memObject{data: []byte("x")}
	}
	root := t.TempDir()
	tr := newTier(t, prefixIgnorer{b}, root, newFakeClock(), nil)
	done := make(chan error, 1)
	go func() { done <- tr.deletePrefix(ctx, "streams/b/") }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("deletePrefix does not end over a listing that ignores the prefix")
	}
	if got := b.keys(); !slices.Contains(got, "streams/a/stream.json") || !slices.Contains(got, "zzz") {
		t.Fatalf("objects outside the prefix deleted: %q left", got)
	}
	if err := os.MkdirAll(filepath.Join(root, "streams", "a"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := tr.reconcileStreamDir(ctx, "streams/a"); err != nil {
		t.Fatal(err)
	}
	if !b.has("streams/a/x") || !b.has("zzz") {
		t.Fatalf("reconciliation over a listing that ignores the prefix deleted: %q left", b.keys())
	}
}

// TestStartBlackHole: Start returns at once though the store accepts
// connections and never answers; Close does not wait for it either.
func TestStartBlackHole(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		var conns []net.Conn // held open, never answered
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	bk, err := objstore.New(objstore.Config{Endpoint: "http://" + ln.Addr().String(), Bucket: "b", Region: "us-east-1",
		AccessKeyID: "ak", SecretAccessKey: "sk", PathStyle: true, Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	root, clock := t.TempDir(), newFakeClock()
	tr := newTier(t, bk, root, clock, nil)
	l := openLog(t, tr, root, shard0, clock, 2048)
	defer l.Close()
	appendN(t, l, clock, 20, 200, time.Second)
	start := time.Now()
	if err := tr.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("Start took %v with a store that never answers", d)
	}
	time.Sleep(50 * time.Millisecond) // the reconciliation is under way
	start = time.Now()
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Close took %v", d)
	}
}
