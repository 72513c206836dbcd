package tier

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eddy-video/eddy/datastreams/logstore"
)

// TestRestore: a data directory rebuilt from the bucket alone has the
// mirrored files and logs whose sealed records read back identical (cold).
func TestRestore(t *testing.T) {
	ctx := context.Background()
	root, b, clock := t.TempDir(), newMemBucket(), newFakeClock()
	tr := newTier(t, b, root, clock, nil)
	rels := []string{shard0, "streams/s1/shardId-000000000001", "streams/s2/shardId-000000000000"}
	var want [][]logstore.Record
	for _, rel := range rels {
		l := openLog(t, tr, root, rel, clock, 2048)
		appendN(t, l, clock, 40, 150, time.Second)
		defer l.Close()
		want = append(want, nil)
	}
	writeFile(t, root, "FORMAT", "eddy 2")
	writeFile(t, root, "streams/s1/stream.json", `{"name":"s1"}`)
	writeFile(t, root, "streams/s2/stream.json", `{"name":"s2"}`)
	writeFile(t, root, "streams/s2/init/01", "init bytes")
	if err := startWait(tr, ctx); err != nil {
		t.Fatal(err)
	}
	if err := tr.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	var segs int
	for i, ls := range tr.attached() {
		sealed := ls.l.Sealed()
		segs += len(sealed)
		// What is uploaded: the records of the sealed segments.
		all := readAll(t, ls.l)
		last := sealed[len(sealed)-1].Next
		for _, r := range all {
			if r.Seq < last {
				want[i] = append(want[i], r)
			}
		}
	}
	// Objects from elsewhere are not restored; a segment without its
	// index is restored (its log rebuilds the index).
	b.objs["../escape"] = memObject{data: []byte("x")}
	b.objs["other/file"] = memObject{data: []byte("x")}
	b.objs["streams/s3/shardId-000000000000/00000000000000000001.seg"] = memObject{data: []byte("x"), meta: map[string]string{metaCRC: "00000000"}}

	dst := filepath.Join(t.TempDir(), "restored")
	sum, err := Restore(ctx, b, dst, nil)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Segments != segs+1 || sum.Streams != 3 || sum.Files == 0 {
		t.Fatalf("summary %+v, want %d segments of 3 streams", sum, segs+1)
	}
	for _, f := range []string{"FORMAT", "streams/s1/stream.json", "streams/s2/stream.json", "streams/s2/init/01"} {
		a, _ := os.ReadFile(filepath.Join(root, f))
		c, err := os.ReadFile(filepath.Join(dst, f))
		if err != nil || string(a) != string(c) {
			t.Fatalf("%s restored as %q (%v), want %q", f, c, err, a)
		}
	}
	for _, bad := range []string{"escape", "other"} {
		if _, err := os.Stat(filepath.Join(dst, bad)); !os.IsNotExist(err) {
			t.Fatalf("%s restored", bad)
		}
	}
	if _, err := os.Stat(filepath.Join(dst, "streams/s3/shardId-000000000000/00000000000000000001.up")); err != nil {
		t.Fatalf("upload record of a segment without index: %v", err)
	}

	// The restored node reads every sealed record cold, and mirrors
	// nothing again.
	puts := b.count("Put")
	tr2 := newTier(t, b, dst, clock, nil)
	for i, rel := range rels {
		l := openLog(t, tr2, dst, rel, clock, 2048)
		defer l.Close()
		got := readAll(t, l)
		sameRecords(t, got, want[i])
		for _, s := range l.Sealed() {
			if s.Local || s.Uploaded == nil {
				t.Fatalf("%s: restored segment %d local %v uploaded %v", rel, s.Base, s.Local, s.Uploaded != nil)
			}
		}
	}
	if err := startWait(tr2, ctx); err != nil {
		t.Fatal(err)
	}
	if err := tr2.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got := b.count("Put"); got != puts {
		t.Fatalf("%d Puts by the restored node, want the mirrored files not uploaded again", got-puts)
	}

	if _, err := Restore(ctx, b, dst, nil); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("Restore into a non-empty directory: %v", err)
	}
}

// FuzzKeyPath: keys from a bucket listing become paths inside the
// restored directory or are refused.
func FuzzKeyPath(f *testing.F) {
	for _, k := range []string{"FORMAT", "streams/a/stream.json", "../x", "/abs", `a\b`, "a//b", "a/./b", "a/", "", "C:/x", "a/\x00", "streams/..", "…/x"} {
		f.Add(k)
	}
	f.Fuzz(func(t *testing.T, key string) {
		p, err := keyPath(key)
		if err != nil {
			return
		}
		if !filepath.IsLocal(p) || filepath.IsAbs(p) {
			t.Fatalf("key %q accepted as %q, not local", key, p)
		}
		if filepath.ToSlash(filepath.Clean(p)) != key {
			t.Fatalf("key %q accepted as %q, not clean", key, p)
		}
		if strings.ContainsAny(key, "\\\x00") {
			t.Fatalf("key %q with a backslash or NUL accepted", key)
		}
		root := "/restore"
		if full := filepath.Join(root, p); !strings.HasPrefix(full, root+string(filepath.Separator)) {
			t.Fatalf("key %q leads to %q", key, full)
		}
	})
}
