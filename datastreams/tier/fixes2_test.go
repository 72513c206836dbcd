package tier

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eddy-video/eddy/datastreams/logstore/filelog"
)

// A bucket that refuses deletes (object lock, a PUT-only policy) and a
// stream file gone locally since it was mirrored (a trimmed index chunk):
// the segments must still be uploaded and recorded; the mirror's cleanup
// is not what makes a segment safe.
func TestUploadRecordedWhenBucketRefusesDeletes(t *testing.T) {
	ctx := context.Background()
	root, b, clock := t.TempDir(), newMemBucket(), newFakeClock()
	tr := newTier(t, b, root, clock, nil)
	l := openLog(t, tr, root, shard0, clock, 2048)
	defer l.Close()
	writeFile(t, root, "streams/s1/stream.json", `{"name":"s1"}`)
	writeFile(t, root, "streams/s1/fragments.idx/00000000000000000001.fx", "chunk")
	if err := startWait(tr, ctx); err != nil {
		t.Fatal(err)
	}
	if err := tr.mirrorAll(ctx, true); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(root, "streams/s1/fragments.idx/00000000000000000001.fx")); err != nil {
		t.Fatal(err)
	}
	b.setFail("Delete", true)
	appendN(t, l, clock, 30, 200, time.Second)
	perr := tr.pass(ctx, true)
	t.Logf("pass: %v; seg object in bucket: %v", perr, b.has(segKey(shard0, l.Sealed()[0].Base)))
	if len(l.Sealed()) == 0 {
		t.Fatal("no sealed segment")
	}
	for _, s := range l.Sealed() {
		if s.Uploaded == nil {
			t.Fatalf("segment %d in the bucket but not recorded uploaded: a failed delete of a gone stream file holds every upload", s.Base)
		}
	}
}

// A restored node whose bucket lacked a segment's index opens its log
// while the object store is down (the server must start at once): the
// segment is restored local, and its index rebuilt from the local file.
func TestRestoreWithoutIndexOpensWithStoreDown(t *testing.T) {
	for _, which := range []string{"oldest", "newest"} {
		t.Run(which, func(t *testing.T) {
			ctx := context.Background()
			b, clock := newMemBucket(), newFakeClock()
			_, _, bases := uploadedLog(t, b, clock)
			base := bases[0]
			if which == "newest" {
				base = bases[len(bases)-1]
			}
			delete(b.objs, idxKey(shard0, base))
			dst := filepath.Join(t.TempDir(), "restored")
			if _, err := Restore(ctx, b, dst, nil); err != nil {
				t.Fatal(err)
			}
			b.setDown(true)
			tr := newTier(t, b, dst, clock, nil)
			l, err := filelog.Open(filepath.Join(dst, filepath.FromSlash(shard0)), filelog.Options{SegmentBytes: 2048, Now: clock.Now, Cold: tr})
			if err != nil {
				t.Fatalf("open with the store down: %v", err)
			}
			defer l.Close()
			if _, err := os.Stat(filepath.Join(dst, filepath.FromSlash(segKey(shard0, base)))); err != nil {
				t.Fatalf("the segment without an index is not restored local: %v", err)
			}
			first, next := l.Bounds()
			t.Logf("bounds %d..%d, bases %v", first, next, bases)
			if next <= bases[len(bases)-1] {
				t.Fatalf("next %d not past the newest segment %d", next, bases[len(bases)-1])
			}
		})
	}
}

// slowDeleteBucket is a memBucket whose Delete takes delay once slow is
// set, and tells started when such a Delete begins.
type slowDeleteBucket struct {
	*memBucket
	delay   time.Duration
	slow    atomic.Bool
	started chan struct{}
}

func (b *slowDeleteBucket) Delete(ctx context.Context, keys []string) error {
	if b.slow.Load() {
		select {
		case b.started <- struct{}{}:
		default:
		}
		time.Sleep(b.delay)
	}
	return b.memBucket.Delete(ctx, keys)
}

// A stream's deletion whose object deletes are slow (a long stream: 175k
// objects take minutes) holds neither the uploads nor the mirror of the
// other streams.
func TestStreamDeletionDoesNotStallOtherUploads(t *testing.T) {
	ctx := context.Background()
	root, clock := t.TempDir(), newFakeClock()
	b := &slowDeleteBucket{memBucket: newMemBucket(), delay: 2 * time.Second, started: make(chan struct{}, 1)}
	tr := newTier(t, b, root, clock, nil)
	l := openLog(t, tr, root, shard0, clock, 2048)
	defer l.Close()
	writeFile(t, root, "streams/s1/stream.json", `{"name":"s1"}`)
	writeFile(t, root, "streams/s2/stream.json", `{"name":"s2"}`)
	if err := startWait(tr, ctx); err != nil {
		t.Fatal(err)
	}
	if err := tr.mirrorAll(ctx, true); err != nil {
		t.Fatal(err)
	}
	s2 := filepath.Join(root, "streams", "s2")
	if err := tr.DeletingDir(s2); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(s2); err != nil {
		t.Fatal(err)
	}
	b.slow.Store(true)
	tr.DeletedDir(s2, true)
	select {
	case <-b.started:
	case <-time.After(10 * time.Second):
		t.Fatal("the stream's object deletion did not start")
	}
	appendN(t, l, clock, 30, 200, time.Second)
	writeFile(t, root, "streams/s1/init/00000000000000000001.mp4", "init")
	start := time.Now()
	if err := tr.pass(ctx, true); err != nil {
		t.Fatal(err)
	}
	if err := tr.mirrorAll(ctx, false); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	if took > 500*time.Millisecond {
		t.Fatalf("uploads and mirror of another stream took %v while a stream's objects were being deleted", took)
	}
	segs := l.Sealed()
	if len(segs) == 0 {
		t.Fatal("no sealed segment")
	}
	for _, s := range segs {
		if s.Uploaded == nil {
			t.Fatalf("segment %d not recorded uploaded", s.Base)
		}
	}
	if !b.has("streams/s1/init/00000000000000000001.mp4") {
		t.Fatal("the stream's new init segment is not in the bucket before its segments are recorded")
	}
}

// A crash during an append to tier/pending-deletes leaves a torn last
// line: the loader drops it, and the next append starts on a fresh line
// instead of joining it.
func TestPendingDeletesTornLastLine(t *testing.T) {
	root, clock := t.TempDir(), newFakeClock()
	k1, k2 := segKey(shard0, 1), segKey(shard0, 50)
	torn := segKey(shard0, 20)[:30]
	writeFile(t, root, "tier/pending-deletes", k1+"\n"+torn)
	tr := newTier(t, newMemBucket(), root, clock, nil)
	if err := tr.loadPendingDeletes(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(tr.replay, []string{k1}) {
		t.Fatalf("replay %q, want only %q", tr.replay, k1)
	}
	if err := tr.addPendingDeletes([]string{k2}); err != nil {
		t.Fatal(err)
	}
	tr2 := newTier(t, newMemBucket(), root, clock, nil)
	if err := tr2.loadPendingDeletes(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(tr2.replay, []string{k1, k2}) {
		b, _ := os.ReadFile(filepath.Join(root, "tier", "pending-deletes"))
		t.Fatalf("replay after an append %q, want %q; file %q", tr2.replay, []string{k1, k2}, b)
	}
}

// The queue bound's view of a segment can be stale: one uploaded and
// recorded since the scan is neither discarded nor listed for deletion.
func TestQueueBoundSparesSegmentUploadedSinceScan(t *testing.T) {
	ctx := context.Background()
	root, b, clock := t.TempDir(), newMemBucket(), newFakeClock()
	tr := newTier(t, b, root, clock, func(c *Config) { c.QueueBytes = 1 })
	l := openLog(t, tr, root, shard0, clock, 2048)
	defer l.Close()
	appendN(t, l, clock, 30, 200, time.Second)
	tr.mu.Lock()
	ls := tr.logs[l]
	tr.mu.Unlock()
	var queue []pending
	var queued int64
	for _, s := range l.LocalSealed() {
		queue = append(queue, pending{ls, s, 0})
		queued += s.Size
	}
	if len(queue) < 2 {
		t.Fatalf("%d sealed segments, want 2 or more", len(queue))
	}
	first := queue[0].seg
	if err := tr.upload(ctx, ls, first); err != nil {
		t.Fatal(err)
	}
	tr.bound(queue, queued)
	cur, ok := l.SealedSegment(first.Base)
	if !ok || cur.Uploaded == nil || !cur.Local {
		t.Fatalf("the segment uploaded since the scan: %+v (present %v), want it uploaded and local", cur, ok)
	}
	if cur2, ok := l.SealedSegment(queue[1].seg.Base); ok && cur2.Local {
		t.Fatalf("the next waiting segment %d was not discarded", cur2.Base)
	}
	pd, _ := os.ReadFile(filepath.Join(root, "tier", "pending-deletes"))
	if strings.Contains(string(pd), segKey(shard0, first.Base)) {
		t.Fatalf("the uploaded segment's key is listed for deletion: %q", pd)
	}
}

// A pending deletion of a segment that has an upload record (its upload
// won against the discard, then a crash) is not replayed at the next
// start; one of a discarded segment is.
func TestPendingDeletesReplaySkipsUploadedSegment(t *testing.T) {
	ctx := context.Background()
	b, clock := newMemBucket(), newFakeClock()
	root, _, bases := uploadedLog(t, b, clock)
	gone := segKey(shard0, 1_000_000)
	if err := b.Put(ctx, gone, []byte("orphan")); err != nil {
		t.Fatal(err)
	}
	kept := []string{segKey(shard0, bases[0]), idxKey(shard0, bases[0])}
	writeFile(t, root, "tier/pending-deletes", strings.Join(append(kept, gone), "\n")+"\n")
	tr := newTier(t, b, root, clock, nil)
	l := openLog(t, tr, root, shard0, clock, 2048)
	defer l.Close()
	if err := startWait(tr, ctx); err != nil {
		t.Fatal(err)
	}
	for _, k := range kept {
		if !b.has(k) {
			t.Fatalf("%s of an uploaded segment was deleted by the replay", k)
		}
	}
	if b.has(gone) {
		t.Fatalf("%s of a discarded segment was not deleted", gone)
	}
	if _, err := os.Stat(filepath.Join(root, "tier", "pending-deletes")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("pending-deletes left after the replay: %v", err)
	}
}

// A file that grows while it is read is recorded with the stamp of what
// was read and uploaded (its length), and a large one counts as mirrored
// now for the MirrorLargeEvery throttle.
func TestMirrorStampOfFileGrownDuringRead(t *testing.T) {
	ctx := context.Background()
	root, b, clock := t.TempDir(), newMemBucket(), newFakeClock()
	tr := newTier(t, b, root, clock, nil)
	for _, size := range []int{100, largeFile + 100} {
		key := fmt.Sprintf("streams/s1/fragments.idx/%020d.fx", size)
		writeFile(t, root, key, strings.Repeat("x", size))
		p := filepath.Join(root, filepath.FromSlash(key))
		readMirrored = func(name string) ([]byte, error) {
			if name == p {
				f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
				if err != nil {
					return nil, err
				}
				_, err = f.WriteString("grown")
				if cerr := f.Close(); err == nil {
					err = cerr
				}
				if err != nil {
					return nil, err
				}
			}
			return os.ReadFile(name)
		}
		c, err := tr.mirrorOne(ctx, key, false)
		readMirrored = os.ReadFile
		if err != nil || !c {
			t.Fatalf("mirror %s: uploaded %v, %v", key, c, err)
		}
		obj, err := b.Get(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		tr.manMu.Lock()
		st, at := tr.mirrored[key], tr.largeAt[key]
		tr.manMu.Unlock()
		if st.Size != int64(len(obj)) || len(obj) != size+len("grown") {
			t.Fatalf("%s: stamp size %d, object %d bytes, file %d+%d", key, st.Size, len(obj), size, len("grown"))
		}
		if size >= largeFile && at.IsZero() {
			t.Fatalf("%s: a large file's upload is not counted by the throttle", key)
		}
	}
}
