package datastreams

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func putOne(t *testing.T, s *Stream, data string) {
	t.Helper()
	res, err := s.Put([]PutEntry{{Key: []byte("k"), Data: []byte(data)}})
	if err != nil || res[0].Err != nil {
		t.Fatalf("put to %s: %v %v", s.Name(), err, res)
	}
}

// readAll returns the data of every record of s, joined by commas.
func readAll(t *testing.T, s *Stream) string {
	t.Helper()
	var out []string
	for _, si := range s.Info().Shards {
		sh, err := s.Shard(si.Index)
		if err != nil {
			t.Fatal(err)
		}
		res, err := s.Read(sh, 0, 1000, 1<<20, false)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res.Records {
			out = append(out, string(r.Data))
		}
	}
	return strings.Join(out, ",")
}

// streamDirs lists the directories under streams/.
func streamDirs(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(dir, streamsDir))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

// TestNameLengths: every name the core takes works end to end (create,
// put, read, delete, create again, and across a restart), whatever the
// file system's limit on a path component.
func TestNameLengths(t *testing.T) {
	dir := t.TempDir()
	c := openCore(t, dir)
	defer func() { c.Close() }()
	for _, n := range []int{1, 128, 229, 256, 263, MaxNameLength} {
		name := strings.Repeat("n", n)
		for round := 0; round < 2; round++ {
			s, err := c.CreateStream(name, CreateOptions{ShardCount: 2})
			if err != nil {
				t.Fatalf("%d characters, round %d: %v", n, round, err)
			}
			putOne(t, s, "r")
			if got := readAll(t, s); got != "r" {
				t.Fatalf("%d characters, round %d: read %q", n, round, got)
			}
			if err := c.DeleteStream(name, false); err != nil {
				t.Fatalf("%d characters, round %d: delete: %v", n, round, err)
			}
		}
	}
	long := strings.Repeat("x", MaxNameLength)
	s, err := c.CreateStream(long, CreateOptions{ShardCount: 1})
	if err != nil {
		t.Fatal(err)
	}
	putOne(t, s, "kept")
	c.Close()
	c = openCore(t, dir)
	if s, err = c.Stream(long); err != nil || readAll(t, s) != "kept" {
		t.Fatalf("after a restart: %v", err)
	}
	if _, err := c.CreateStream(long+"x", CreateOptions{ShardCount: 1}); KindOf(err) != KindValidation {
		t.Fatalf("a name over %d characters: %v", MaxNameLength, err)
	}
}

// longName is a name of the longest length the Kinesis APIs allow.
var longName = strings.Repeat("L", 256)

// TestFailedCreateLeavesNothing: a create that fails at any step leaves
// no directory and no stream, and the name can be created again.
func TestFailedCreateLeavesNothing(t *testing.T) {
	for _, step := range []string{"create.meta", "create.rename", "create.open"} {
		t.Run(step, func(t *testing.T) {
			dir := t.TempDir()
			c := openCore(t, dir)
			defer c.Close()
			c.failpoint = func(s string) error {
				if s == step {
					return errors.New("injected")
				}
				return nil
			}
			if _, err := c.CreateStream(longName, CreateOptions{ShardCount: 2}); err == nil || !strings.Contains(err.Error(), "injected") {
				t.Fatalf("create: %v", err)
			}
			if _, err := c.Stream(longName); err == nil || len(c.Streams()) != 0 {
				t.Fatal("a failed create left a stream")
			}
			if d := streamDirs(t, dir); len(d) != 0 {
				t.Fatalf("a failed create left %v", d)
			}
			if e, _ := os.ReadDir(filepath.Join(dir, stagingDir)); len(e) != 0 {
				t.Fatalf("a failed create left %d entries in %s/", len(e), stagingDir)
			}
			c.failpoint = nil
			s, err := c.CreateStream(longName, CreateOptions{ShardCount: 2})
			if err != nil {
				t.Fatal(err)
			}
			putOne(t, s, "r")
		})
	}
}

// TestFailedDeleteChangesNothing: a delete that fails leaves the stream
// as it was, usable, and a later delete removes it.
func TestFailedDeleteChangesNothing(t *testing.T) {
	dir := t.TempDir()
	c := openCore(t, dir)
	defer c.Close()
	s, err := c.CreateStream(longName, CreateOptions{ShardCount: 2})
	if err != nil {
		t.Fatal(err)
	}
	putOne(t, s, "a")
	c.failpoint = func(step string) error {
		if step == "delete.rename" {
			return errors.New("injected")
		}
		return nil
	}
	if err := c.DeleteStream(longName, false); err == nil || KindOf(err) != KindInternal {
		t.Fatalf("delete: %v", err)
	}
	if got, err := c.Stream(longName); err != nil || got != s {
		t.Fatalf("after a failed delete: %v", err)
	}
	putOne(t, s, "b")
	if got := readAll(t, s); got != "a,b" && got != "b,a" {
		t.Fatalf("after a failed delete: read %q", got)
	}
	c.failpoint = nil
	if err := c.DeleteStream(longName, false); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Stream(longName); err == nil {
		t.Fatal("deleted stream still there")
	}
}

// TestCrashLeftovers: what a crash leaves mid-create (a directory without
// stream.json) or mid-delete (trash/) is cleaned at the next start; two
// directories claiming one name are refused with both paths.
func TestCrashLeftovers(t *testing.T) {
	dir := t.TempDir()
	c := openCore(t, dir)
	s, err := c.CreateStream("kept", CreateOptions{ShardCount: 1})
	if err != nil {
		t.Fatal(err)
	}
	keptDir := filepath.Base(s.dir)
	c.Close()
	for _, p := range []string{filepath.Join(streamsDir, "half-made", "shardId-000000000000"),
		filepath.Join(stagingDir, "stream-123", "shardId-000000000000"), filepath.Join(trashDir, "0123456789abcdef", "shardId-000000000000")} {
		if err := os.MkdirAll(filepath.Join(dir, p), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	c = openCore(t, dir)
	if d := streamDirs(t, dir); len(d) != 1 || d[0] != keptDir {
		t.Fatalf("streams/ after the restart: %v, want [%s]", d, keptDir)
	}
	for _, d := range []string{trashDir, stagingDir} {
		if e, _ := os.ReadDir(filepath.Join(dir, d)); len(e) != 0 {
			t.Fatalf("%s/ not emptied: %d entries", d, len(e))
		}
	}
	c.Close()
	copyDir(t, filepath.Join(dir, streamsDir, keptDir), filepath.Join(dir, streamsDir, "copy"))
	err = (&Core{Dir: dir}).Initialize()
	if err == nil || !strings.Contains(err.Error(), "stream kept is in two directories") {
		t.Fatalf("two directories of one name: %v", err)
	}
}

func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if fi.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestConcurrentLifecycle: creates, deletes, reshards and shard counts of
// several streams at once neither deadlock (the lock order is stream,
// then core) nor leave a directory behind.
func TestConcurrentLifecycle(t *testing.T) {
	dir := t.TempDir()
	c := openCore(t, dir)
	done := make(chan error, 4)
	for g := 0; g < 4; g++ {
		go func() {
			name := strings.Repeat("g", 200+g)
			for i := 0; i < 20; i++ {
				s, err := c.CreateStream(name, CreateOptions{ShardCount: 2})
				if err != nil {
					done <- err
					return
				}
				go func() { _, _ = s.UpdateShardCount(4) }() // races the delete
				_ = s.Split(0, s.Info().Shards[0].End.Sub(HashKey{0, 1000}))
				_ = c.OpenShardCount()
				if err := c.DeleteStream(name, true); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}
	for g := 0; g < 4; g++ {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	c.Close()
	c = openCore(t, dir)
	defer c.Close()
	if n := len(c.Streams()); n != 0 {
		t.Fatalf("%d streams after deleting them all", n)
	}
	if d := streamDirs(t, dir); len(d) != 0 {
		t.Fatalf("directories left: %v", d)
	}
}
