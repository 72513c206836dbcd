package tier

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/eddy-video/eddy/datastreams/objstore"
)

// TestStartDeletesTrimmedObjects: objects of segments below a log's
// first segment (a stop between a trim and the deletion) are deleted at
// Start; a log attached after Start is reconciled when it attaches.
func TestStartDeletesTrimmedObjects(t *testing.T) {
	ctx := context.Background()
	root, b, clock := t.TempDir(), newMemBucket(), newFakeClock()
	tr := newTier(t, b, root, clock, nil)
	l := openLog(t, tr, root, shard0, clock, 2048)
	appendN(t, l, clock, 60, 200, time.Minute)
	if err := startWait(tr, ctx); err != nil {
		t.Fatal(err)
	}
	if err := tr.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	// The trim's deletions never happen: the tier is closed first.
	tr.Close()
	sealed := l.Sealed()
	if _, _, err := l.Trim(sealed[3].FirstTime, 0); err != nil {
		t.Fatal(err)
	}
	l.Close()
	for _, s := range sealed[:3] {
		if !b.has(segKey(shard0, s.Base)) {
			t.Fatalf("segment %d's object went with the closed tier", s.Base)
		}
	}

	tr2 := newTier(t, b, root, clock, nil)
	l = openLog(t, tr2, root, shard0, clock, 2048)
	defer l.Close()
	if err := startWait(tr2, ctx); err != nil {
		t.Fatal(err)
	}
	for _, s := range sealed {
		has := b.has(segKey(shard0, s.Base)) || b.has(idxKey(shard0, s.Base))
		if has != (s.Base >= sealed[3].Base) {
			t.Fatalf("segment %d: objects there %v after Start", s.Base, has)
		}
	}
	if b.aborted != 2 {
		t.Fatalf("AbortUploads %d times, want once per Start", b.aborted)
	}

	// A log attached later: objects left below its first base go when
	// it attaches.
	late := "streams/s1/shardId-000000000001"
	b.objs[segKey(late, 1)] = memObject{data: []byte("x")}
	b.objs[idxKey(late, 1)] = memObject{data: []byte("x")}
	lg := openLog(t, tr2, root, late, clock, 2048)
	defer lg.Close()
	appendN(t, lg, clock, 1, 10, time.Second)
	// Its first base is 1: nothing below it, the objects stay.
	if err := tr2.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if !b.has(segKey(late, 1)) {
		t.Fatal("an object at the log's first base was deleted")
	}
}

// TestStartDeletesRemovedShardDirs: a shard directory gone from an
// existing stream directory loses its objects at Start; a stream
// directory missing locally keeps all of its objects.
func TestStartDeletesRemovedShardDirs(t *testing.T) {
	testStartDeletesRemovedShardDirs(t, newMemBucket())
}

func testStartDeletesRemovedShardDirs(t *testing.T, b objstore.Bucket) {
	ctx := context.Background()
	root, clock := t.TempDir(), newFakeClock()
	for _, k := range []string{
		"streams/s1/stream.json",
		"streams/s1/fragments.idx/0001",
		"streams/s1/shardId-000000000000/00000000000000000001.seg",
		"streams/s1/shardId-000000000000/00000000000000000001.idx",
		"streams/s1/shardId-000000000001/00000000000000000001.seg",
		"streams/s1/shardId-000000000001/00000000000000000001.idx",
		"streams/s1/shardId-000000000002/00000000000000000001.seg",
		"streams/gone/stream.json",
		"streams/gone/shardId-000000000000/00000000000000000001.seg",
		"FORMAT",
	} {
		if err := b.Put(ctx, k, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"streams/s1/shardId-000000000000", "streams/s1/fragments.idx"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	tr := newTier(t, b, root, clock, nil)
	if err := startWait(tr, ctx); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"FORMAT",
		"streams/gone/shardId-000000000000/00000000000000000001.seg",
		"streams/gone/stream.json",
		"streams/s1/fragments.idx/0001",
		"streams/s1/shardId-000000000000/00000000000000000001.idx",
		"streams/s1/shardId-000000000000/00000000000000000001.seg",
		"streams/s1/stream.json",
	}
	if got := listAll(t, b); !slices.Equal(got, want) {
		t.Fatalf("objects after Start:\n%q\nwant\n%q", got, want)
	}
}

// TestStreamDeletionJournal: DeletingDir journals durably, a failed
// delete removes the entry and keeps the objects, a done one deletes
// them; a stop before that is finished at the next Start, unless the
// directory is there again.
func TestStreamDeletionJournal(t *testing.T) {
	ctx := context.Background()
	root, b, clock := t.TempDir(), newMemBucket(), newFakeClock()
	put := func(rel string) {
		b.objs[rel+"/stream.json"] = memObject{data: []byte("{}")}
		b.objs[rel+"/shardId-000000000000/00000000000000000001.seg"] = memObject{data: []byte("x")}
	}
	mk := func(rel string) string {
		d := filepath.Join(root, filepath.FromSlash(rel))
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	for _, s := range []string{"a", "b", "c"} {
		put("streams/" + s)
		mk("streams/" + s + "/shardId-000000000000")
	}
	tr := newTier(t, b, root, clock, nil)
	if err := startWait(tr, ctx); err != nil {
		t.Fatal(err)
	}
	journal := filepath.Join(root, "tier", "deleting")

	// A failed delete: the entry goes, the objects stay.
	if err := tr.DeletingDir(filepath.Join(root, "streams", "a")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(journal, "a")); err != nil {
		t.Fatalf("no journal entry: %v", err)
	}
	tr.DeletedDir(filepath.Join(root, "streams", "a"), false)
	if _, err := os.Stat(filepath.Join(journal, "a")); !os.IsNotExist(err) {
		t.Fatalf("journal entry kept after a failed delete: %v", err)
	}

	// A done delete: the objects go, then the entry.
	if err := tr.DeletingDir(filepath.Join(root, "streams", "b")); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(root, "streams", "b")); err != nil {
		t.Fatal(err)
	}
	tr.DeletedDir(filepath.Join(root, "streams", "b"), true)
	if err := tr.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if b.has("streams/b/stream.json") {
		t.Fatal("objects of the deleted stream b kept")
	}
	if _, err := os.Stat(filepath.Join(journal, "b")); !os.IsNotExist(err) {
		t.Fatalf("journal entry kept: %v", err)
	}

	// Stops between the journal and the deletion: c's directory is gone
	// (the deletion committed), a's is there (it did not).
	if err := tr.DeletingDir(filepath.Join(root, "streams", "c")); err != nil {
		t.Fatal(err)
	}
	if err := tr.DeletingDir(filepath.Join(root, "streams", "a")); err != nil {
		t.Fatal(err)
	}
	tr.Close()
	if err := os.RemoveAll(filepath.Join(root, "streams", "c")); err != nil {
		t.Fatal(err)
	}
	tr2 := newTier(t, b, root, clock, nil)
	if err := startWait(tr2, ctx); err != nil {
		t.Fatal(err)
	}
	if b.has("streams/c/stream.json") || b.has("streams/c/shardId-000000000000/00000000000000000001.seg") {
		t.Fatal("objects of c kept after the journaled deletion")
	}
	if !b.has("streams/a/stream.json") || !b.has("streams/a/shardId-000000000000/00000000000000000001.seg") {
		t.Fatal("objects of a, whose directory exists, deleted")
	}
	if ents, _ := os.ReadDir(journal); len(ents) != 0 {
		t.Fatalf("journal entries left: %v", ents)
	}
	if err := tr2.DeletingDir(filepath.Join(root, "elsewhere")); err == nil {
		t.Fatal("DeletingDir of a directory outside streams/: no error")
	}
}

// TestBucketDownAtStart: Start does not fail when the bucket cannot be
// reached; the reconciliation and uploads happen once it can.
func TestBucketDownAtStart(t *testing.T) {
	ctx := context.Background()
	root, b, clock := t.TempDir(), newMemBucket(), newFakeClock()
	tr := newTier(t, b, root, clock, func(c *Config) { c.Interval = 5 * time.Millisecond })
	tr.setClock(func() time.Time { return time.Now().Add(time.Hour) }) // no backoff wait
	l := openLog(t, tr, root, shard0, clock, 2048)
	defer l.Close()
	appendN(t, l, clock, 30, 200, time.Second)
	b.setDown(true)
	if err := tr.Start(ctx); err != nil {
		t.Fatalf("Start with the bucket down: %v", err)
	}
	time.Sleep(50 * time.Millisecond)
	if b.count("PutIfAbsent") != 0 {
		t.Fatal("uploads began before unfinished uploads were aborted")
	}
	b.setDown(false)
	waitFor(t, "the uploads", func() bool {
		for _, s := range l.Sealed() {
			if s.Uploaded == nil {
				return false
			}
		}
		return true
	})
	if b.aborted != 1 {
		t.Fatalf("AbortUploads %d", b.aborted)
	}
}

// TestRemovedShardDirWhileRunning: a log closed and its directory
// removed (a shard past retention) loses its objects at the next mirror
// pass, not only at the next start; one closed and kept keeps them.
func TestRemovedShardDirWhileRunning(t *testing.T) {
	ctx := context.Background()
	root, b, clock := t.TempDir(), newMemBucket(), newFakeClock()
	tr := newTier(t, b, root, clock, nil)
	other := "streams/s1/shardId-000000000001"
	l0 := openLog(t, tr, root, shard0, clock, 2048)
	l1 := openLog(t, tr, root, other, clock, 2048)
	appendN(t, l0, clock, 30, 200, time.Second)
	appendN(t, l1, clock, 30, 200, time.Second)
	if err := startWait(tr, ctx); err != nil {
		t.Fatal(err)
	}
	if err := tr.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := l0.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l1.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(root, filepath.FromSlash(other))); err != nil {
		t.Fatal(err)
	}
	if err := tr.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for _, k := range b.keys() {
		if strings.HasPrefix(k, other+"/") {
			t.Fatalf("object %s of the removed log kept", k)
		}
	}
	if n := len(b.keys()); n == 0 {
		t.Fatal("objects of the kept log deleted")
	}
	for _, k := range b.keys() {
		if !strings.HasPrefix(k, shard0+"/") {
			t.Fatalf("unexpected object %s", k)
		}
	}
}

// TestJournalRetriedAfterDownStart: a journaled deletion that Start could
// not do (the bucket down) is done in the background once it is back.
func TestJournalRetriedAfterDownStart(t *testing.T) {
	ctx := context.Background()
	root, b, clock := t.TempDir(), newMemBucket(), newFakeClock()
	b.objs["streams/x/stream.json"] = memObject{data: []byte("{}")}
	if err := os.MkdirAll(filepath.Join(root, "tier", "deleting"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "tier", "deleting", "x"), []byte("streams/x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	b.setDown(true)
	tr := newTier(t, b, root, clock, nil)
	if err := tr.Start(ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	b.setDown(false)
	waitFor(t, "the journaled deletion", func() bool { return !b.has("streams/x/stream.json") })
	waitFor(t, "the journal entry to go", func() bool {
		_, err := os.Stat(filepath.Join(root, "tier", "deleting", "x"))
		return os.IsNotExist(err)
	})
}

// TestDeleteDirPages: a deleted stream with more objects than a listing
// page and a batch delete holds loses them all, 1000 keys per request.
func TestDeleteDirPages(t *testing.T) {
	ctx := context.Background()
	root, b, clock := t.TempDir(), newMemBucket(), newFakeClock()
	for i := range 2500 {
		b.objs[segKey("streams/big/shardId-000000000000", uint64(i+1))] = memObject{data: []byte("x")}
	}
	b.objs["streams/bigger/stream.json"] = memObject{data: []byte("{}")}
	dir := filepath.Join(root, "streams", "big")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	tr := newTier(t, b, root, clock, nil)
	if err := startWait(tr, ctx); err != nil {
		t.Fatal(err)
	}
	if err := tr.DeletingDir(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(dir); err != nil {
		t.Fatal(err)
	}
	tr.DeletedDir(dir, true)
	if err := tr.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got := b.keys(); !slices.Equal(got, []string{"streams/bigger/stream.json"}) {
		t.Fatalf("%d objects left, first %q", len(got), got[0])
	}
	if n := b.count("Delete"); n != 3 {
		t.Fatalf("%d Delete requests for 2500 objects", n)
	}
}
