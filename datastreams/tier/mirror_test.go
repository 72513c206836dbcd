package tier

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// writeFile writes data at rel under root.
func writeFile(t testing.TB, root, rel, data string) {
	t.Helper()
	p := filepath.Join(root, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestMirror: a stream directory's other files and FORMAT are mirrored
// (not MirrorSkip directories, temporary, quarantined, upload records or
// segments), again only when changed, not again after a restart (the
// manifest), and a file removed locally loses its object.
func TestMirror(t *testing.T) {
	ctx := context.Background()
	root, b, clock := t.TempDir(), newMemBucket(), newFakeClock()
	skip := func(c *Config) { c.MirrorSkip = []string{"events.idx"} }
	tr := newTier(t, b, root, clock, skip)
	l := openLog(t, tr, root, shard0, clock, 2048)
	appendN(t, l, clock, 30, 200, time.Second)
	writeFile(t, root, "FORMAT", "eddy 2")
	writeFile(t, root, "streams/s1/stream.json", `{"name":"s1"}`)
	writeFile(t, root, "streams/s1/init/0a.mp4", "init")
	writeFile(t, root, "streams/s1/fragments.idx/00001", "chunk1")
	writeFile(t, root, "streams/s1/events.idx/00001", "derived")
	writeFile(t, root, "streams/s1/stream.json.tmp", "partial")
	writeFile(t, root, "streams/s1/fragments.idx/00002.corrupt", "bad")
	writeFile(t, root, "trash/x/stream.json", "gone")
	if err := startWait(tr, ctx); err != nil {
		t.Fatal(err)
	}
	if err := tr.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, k := range b.keys() {
		if _, isSeg := parseBase(filepath.Base(k)); !isSeg {
			files = append(files, k)
		}
	}
	want := []string{"FORMAT", "streams/s1/fragments.idx/00001", "streams/s1/init/0a.mp4", "streams/s1/stream.json"}
	if !slices.Equal(files, want) {
		t.Fatalf("mirrored %q, want %q", files, want)
	}
	for _, s := range l.Sealed() {
		if !b.has(segKey(shard0, s.Base)) || !b.has(idxKey(shard0, s.Base)) {
			t.Fatalf("segment %d not uploaded", s.Base)
		}
	}
	puts := b.count("Put")
	if err := tr.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got := b.count("Put"); got != puts {
		t.Fatalf("%d more Puts for unchanged files", got-puts)
	}
	writeFile(t, root, "streams/s1/fragments.idx/00001", "chunk1+more")
	if err := tr.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got := string(b.objs["streams/s1/fragments.idx/00001"].data); got != "chunk1+more" {
		t.Fatalf("changed file mirrored as %q", got)
	}
	if got := b.count("Put"); got != puts+1 {
		t.Fatalf("%d Puts for one changed file", got-puts)
	}
	tr.Close()
	l.Close()

	// A restart mirrors nothing that did not change.
	puts = b.count("Put")
	tr2 := newTier(t, b, root, clock, skip)
	l = openLog(t, tr2, root, shard0, clock, 2048)
	defer l.Close()
	if err := startWait(tr2, ctx); err != nil {
		t.Fatal(err)
	}
	if err := tr2.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got := b.count("Put"); got != puts {
		t.Fatalf("%d Puts after a restart with nothing changed", got-puts)
	}
	if err := os.Remove(filepath.Join(root, "streams/s1/init/0a.mp4")); err != nil {
		t.Fatal(err)
	}
	if err := tr2.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if b.has("streams/s1/init/0a.mp4") {
		t.Fatal("object of a removed file kept")
	}
}
