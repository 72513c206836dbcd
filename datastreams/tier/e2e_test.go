package tier

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/eddy-video/eddy/datastreams/logstore"
	"github.com/eddy-video/eddy/datastreams/logstore/filelog"
	"github.com/eddy-video/eddy/datastreams/objstore"
	"github.com/eddy-video/eddy/datastreams/objstore/objstoretest"
	"github.com/eddy-video/eddy/datastreams/tier/blockcache"
)

// The end-to-end tests run the tier over versitygw (objstoretest), with
// real filelog logs and the block cache.

// e2eTier returns a tier over the server's bucket reading through a
// block cache, not started.
func e2eTier(t testing.TB, b objstore.Bucket, root string, clock *fakeClock, mod func(*Config)) *Tier {
	t.Helper()
	cache, err := blockcache.New(blockcache.Config{
		Dir: t.TempDir(), MaxBytes: 1 << 20, BlockSize: 4096, Fetch: b.GetRange,
		Timeout: 5 * time.Second, Backoff: 20 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cache.Close() })
	return newTier(t, b, root, clock, func(c *Config) {
		c.Cache = cache
		if mod != nil {
			mod(c)
		}
	})
}

// listAll returns every key in the bucket.
func listAll(t testing.TB, b objstore.Bucket) []string {
	t.Helper()
	var keys []string
	after := ""
	for {
		objs, more, err := b.List(context.Background(), "", after, 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range objs {
			keys = append(keys, o.Key)
		}
		if !more || len(objs) == 0 {
			return keys
		}
		after = objs[len(objs)-1].Key
	}
}

// copyDir copies a directory tree (a snapshot of a data directory, as a
// kill -9 would leave it: every file here is written durably first).
func copyDir(t testing.TB, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		r, _ := filepath.Rel(src, p)
		to := filepath.Join(dst, r)
		if d.IsDir() {
			return os.MkdirAll(to, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(to, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestE2EZeroHotReadsBack: with a 0 hot time every sealed segment leaves
// the local disk once uploaded, and every record reads back identical
// through the cache; the bucket holds a .seg and an .idx per segment.
func TestE2EZeroHotReadsBack(t *testing.T) {
	srv := objstoretest.Start(t)
	b := srv.Bucket()
	ctx := context.Background()
	root, clock := t.TempDir(), newFakeClock()
	tr := e2eTier(t, b, root, clock, nil)
	l := openLog(t, tr, root, shard0, clock, 8192)
	defer l.Close()
	want := appendN(t, l, clock, 200, 700, 100*time.Millisecond)
	writeFile(t, root, "streams/s1/stream.json", `{"name":"s1"}`)
	if err := startWait(tr, ctx); err != nil {
		t.Fatal(err)
	}
	if err := tr.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	sealed := l.Sealed()
	for _, s := range sealed {
		if s.Local || s.Uploaded == nil {
			t.Fatalf("segment %d local %v uploaded %v", s.Base, s.Local, s.Uploaded != nil)
		}
	}
	if n := len(listAll(t, b)); n != 2*len(sealed)+1 {
		t.Fatalf("%d objects, want %d (.seg and .idx per segment, stream.json)", n, 2*len(sealed)+1)
	}
	sameRecords(t, readAll(t, l), want)
	o, err := b.Head(ctx, segKey(shard0, sealed[0].Base))
	if err != nil || o.Meta[metaCRC] != formatCRC(sealed[0].Uploaded.CRC32C) {
		t.Fatalf("head: %+v %v", o, err)
	}
}

// TestE2ECrashRecovery: a stop after the upload but before its record
// (the data directory as it was before the upload, the bucket after) is
// accepted at the next start without a second object; objects of
// segments trimmed before their deletion went are deleted at start.
func TestE2ECrashRecovery(t *testing.T) {
	srv := objstoretest.Start(t)
	b := srv.Bucket()
	ctx := context.Background()
	root, clock := t.TempDir(), newFakeClock()
	tr := e2eTier(t, b, root, clock, func(c *Config) { c.Hot = time.Hour })
	l := openLog(t, tr, root, shard0, clock, 4096)
	want := appendN(t, l, clock, 120, 300, time.Minute)
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	snap := t.TempDir()
	copyDir(t, root, snap) // kill -9 here: uploads done below, records never written
	if err := startWait(tr, ctx); err != nil {
		t.Fatal(err)
	}
	if err := tr.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	objects := listAll(t, b)
	l.Close()
	tr.Close()

	reg := newRegistry()
	tr2 := e2eTier(t, b, snap, clock, func(c *Config) { c.Hot = time.Hour; c.Registerer = reg })
	l2 := openLog(t, tr2, snap, shard0, clock, 4096)
	defer l2.Close()
	for _, s := range l2.Sealed() {
		if s.Uploaded != nil {
			t.Fatalf("segment %d has a record in the snapshot", s.Base)
		}
	}
	if err := startWait(tr2, ctx); err != nil {
		t.Fatal(err)
	}
	if err := tr2.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for _, s := range l2.Sealed() {
		if s.Uploaded == nil {
			t.Fatalf("segment %d not accepted", s.Base)
		}
	}
	if got := listAll(t, b); strings.Join(got, ",") != strings.Join(objects, ",") {
		t.Fatalf("objects after the restart:\n%v\nbefore:\n%v", got, objects)
	}
	if f := testutil.ToFloat64(tr2.m.uploadFailures); f != 0 {
		t.Fatalf("%v upload failures", f)
	}
	if n := testutil.ToFloat64(tr2.m.uploadedSegments); int(n) != len(l2.Sealed()) {
		t.Fatalf("%v segments recorded, want %d", n, len(l2.Sealed()))
	}

	// Trimmed, then stopped before the objects went.
	sealed := l2.Sealed()
	cut := sealed[len(sealed)/2]
	tr2.Close() // the deleter is gone: Trimmed's queue dies with it
	if _, _, err := l2.Trim(cut.FirstTime, 0); err != nil {
		t.Fatal(err)
	}
	l2.Close()
	for _, s := range sealed[:len(sealed)/2] {
		if _, err := b.Head(ctx, segKey(shard0, s.Base)); err != nil {
			t.Fatalf("segment %d: object gone before the restart: %v", s.Base, err)
		}
	}
	tr3 := e2eTier(t, b, snap, clock, nil)
	l3 := openLog(t, tr3, snap, shard0, clock, 4096)
	defer l3.Close()
	if err := startWait(tr3, ctx); err != nil {
		t.Fatal(err)
	}
	for _, s := range sealed {
		_, err := b.Head(ctx, segKey(shard0, s.Base))
		_, ierr := b.Head(ctx, idxKey(shard0, s.Base))
		if s.Base < cut.Base && (!errors.Is(err, objstore.ErrNotFound) || !errors.Is(ierr, objstore.ErrNotFound)) {
			t.Fatalf("trimmed segment %d: objects left (%v, %v)", s.Base, err, ierr)
		}
		if s.Base >= cut.Base && (err != nil || ierr != nil) {
			t.Fatalf("kept segment %d: %v %v", s.Base, err, ierr)
		}
	}
	var kept []logstore.Record
	for _, r := range want {
		if r.Seq >= cut.Base {
			kept = append(kept, r)
		}
	}
	sameRecords(t, readAll(t, l3), kept)
}

// TestE2EOutage: with the store stopped ingest goes on, uploads wait and
// are retried, reads of cold records fail at once with ErrUnavailable;
// once it is back everything catches up and reads work again.
func TestE2EOutage(t *testing.T) {
	srv := objstoretest.Start(t)
	b := srv.Bucket()
	ctx := context.Background()
	root, clock := t.TempDir(), newFakeClock()
	tr := e2eTier(t, b, root, clock, func(c *Config) { c.Interval = 10 * time.Millisecond })
	l := openLog(t, tr, root, shard0, clock, 4096)
	defer l.Close()
	want := appendN(t, l, clock, 60, 300, time.Second)
	if err := startWait(tr, ctx); err != nil {
		t.Fatal(err)
	}
	if err := tr.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	cold := len(l.Sealed())

	srv.Stop()
	want = append(want, appendN(t, l, clock, 60, 300, time.Second)...)
	if err := tr.Flush(ctx); err == nil {
		t.Fatal("Flush with the store stopped: no error")
	}
	waitFor(t, "a failed background upload", func() bool { return testutil.ToFloat64(tr.m.uploadFailures) > 0 })
	if testutil.ToFloat64(tr.m.pendingSegments) == 0 {
		t.Fatal("no pending segments during the outage")
	}
	start := time.Now()
	_, err := l.Read(1, 10, 1<<20)
	if !errors.Is(err, logstore.ErrUnavailable) {
		t.Fatalf("cold read during the outage: %v, want ErrUnavailable", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("cold read took %v to fail", d)
	}
	// Local records still read.
	last := want[len(want)-1]
	if r := mustRead(t, l, last.Seq); r.Seq != last.Seq {
		t.Fatalf("read %d", r.Seq)
	}

	srv.Start()
	tr.setClock(func() time.Time { return time.Now().Add(2 * time.Minute) }) // backoffs over
	waitFor(t, "the uploads to catch up", func() bool {
		for _, s := range l.Sealed() {
			if s.Uploaded == nil || s.Local {
				return false
			}
		}
		return len(l.Sealed()) > cold
	})
	waitFor(t, "the lag gauge to recover", func() bool { return testutil.ToFloat64(tr.m.uploadLag) == 0 })
	time.Sleep(50 * time.Millisecond) // the cache's breaker
	sameRecords(t, readAll(t, l), want)
}

// TestE2ERestore: a wiped data directory restored from the bucket opens
// with the same records (cold) and files.
func TestE2ERestore(t *testing.T) {
	srv := objstoretest.Start(t)
	b := srv.Bucket()
	ctx := context.Background()
	root, clock := t.TempDir(), newFakeClock()
	tr := e2eTier(t, b, root, clock, func(c *Config) { c.Hot = 24 * time.Hour })
	rels := []string{shard0, "streams/s1/shardId-000000000001", "streams/s2/shardId-000000000000"}
	var logs []*filelog.Log
	for _, rel := range rels {
		l := openLog(t, tr, root, rel, clock, 4096)
		appendN(t, l, clock, 80, 250, time.Second)
		logs = append(logs, l)
	}
	writeFile(t, root, "FORMAT", "eddy 2\n")
	writeFile(t, root, "streams/s1/stream.json", `{"name":"s1"}`)
	writeFile(t, root, "streams/s2/stream.json", `{"name":"s2"}`)
	writeFile(t, root, "streams/s2/fragments.idx/000001", "index chunk")
	if err := startWait(tr, ctx); err != nil {
		t.Fatal(err)
	}
	if err := tr.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	var want [][]logstore.Record
	for _, l := range logs {
		sealed := l.Sealed()
		var w []logstore.Record
		for _, r := range readAll(t, l) {
			if r.Seq < sealed[len(sealed)-1].Next {
				w = append(w, r)
			}
		}
		want = append(want, w)
		l.Close()
	}
	tr.Close()
	if err := os.RemoveAll(root); err != nil {
		t.Fatal(err)
	}

	sum, err := Restore(ctx, b, root, nil)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Streams != 2 || sum.Segments == 0 {
		t.Fatalf("summary %+v", sum)
	}
	for f, c := range map[string]string{"FORMAT": "eddy 2\n", "streams/s2/fragments.idx/000001": "index chunk"} {
		if got, err := os.ReadFile(filepath.Join(root, f)); err != nil || string(got) != c {
			t.Fatalf("%s: %q %v", f, got, err)
		}
	}
	tr2 := e2eTier(t, b, root, clock, nil)
	for i, rel := range rels {
		l := openLog(t, tr2, root, rel, clock, 4096)
		defer l.Close()
		sameRecords(t, readAll(t, l), want[i])
	}
	if err := startWait(tr2, ctx); err != nil {
		t.Fatal(err)
	}
	if err := tr2.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestE2EStartDeletesRemovedShardDirs: the listing that hops over a
// stream directory's entries works against a real server.
func TestE2EStartDeletesRemovedShardDirs(t *testing.T) {
	testStartDeletesRemovedShardDirs(t, objstoretest.Start(t).Bucket())
}

// TestE2EMultipartSegment: a segment larger than the part size goes up
// in parts (conditional too: a second upload after a lost record finds
// it and accepts it) and reads back identical.
func TestE2EMultipartSegment(t *testing.T) {
	srv := objstoretest.Start(t)
	cfg := srv.Config()
	cfg.PartSize = 5 << 20
	b, err := objstore.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	root, clock := t.TempDir(), newFakeClock()
	tr := e2eTier(t, b, root, clock, func(c *Config) { c.Hot = time.Hour })
	l := openLog(t, tr, root, shard0, clock, 12<<20)
	want := appendN(t, l, clock, 14, 1<<20, time.Second) // the 13th rolls: one 12 MiB segment
	if n := len(l.Sealed()); n != 1 {
		t.Fatalf("%d sealed segments", n)
	}
	snap := t.TempDir()
	copyDir(t, root, snap)
	if err := startWait(tr, ctx); err != nil {
		t.Fatal(err)
	}
	if err := tr.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	seg := l.Sealed()[0]
	o, err := b.Head(ctx, segKey(shard0, seg.Base))
	if err != nil || o.Size != seg.Size || seg.Size <= cfg.PartSize {
		t.Fatalf("object %+v %v, segment %d bytes", o, err, seg.Size)
	}
	if err := l.DropLocal(seg.Base); err != nil {
		t.Fatal(err)
	}
	sameRecords(t, readAll(t, l), want)
	l.Close()
	tr.Close()

	tr2 := e2eTier(t, b, snap, clock, nil)
	l2 := openLog(t, tr2, snap, shard0, clock, 12<<20)
	defer l2.Close()
	if err := startWait(tr2, ctx); err != nil {
		t.Fatal(err)
	}
	if err := tr2.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if s := l2.Sealed()[0]; s.Uploaded == nil || s.Uploaded.CRC32C != seg.Uploaded.CRC32C {
		t.Fatalf("after the lost record: %+v", s.Uploaded)
	}
	if f := testutil.ToFloat64(tr2.m.uploadFailures); f != 0 {
		t.Fatalf("%v failures", f)
	}
}
