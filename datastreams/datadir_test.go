package datastreams

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func openCore(t *testing.T, dir string) *Core {
	t.Helper()
	c := &Core{Dir: dir, WrittenBy: "eddy test"}
	if err := c.Initialize(); err != nil {
		t.Fatal(err)
	}
	return c
}

func readMarker(t *testing.T, dir string) formatMarker {
	t.Helper()
	m, err := readFormat(dir)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// tree returns every path under dir with a checksum of each file.
func tree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			out[p] = "dir"
			return err
		}
		b, err := os.ReadFile(p)
		out[p] = fmt.Sprintf("%x", sha256.Sum256(b))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestFormatMarker(t *testing.T) {
	t.Run("new directory", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "data")
		openCore(t, dir).Close()
		if m := readMarker(t, dir); m.Format != FormatVersion || m.WrittenBy != "eddy test" {
			t.Fatalf("marker %+v", m)
		}
	})
	t.Run("format 1 upgraded", func(t *testing.T) {
		// A format-1 directory: streams named by their names, no marker.
		dir := t.TempDir()
		c := openCore(t, dir)
		s, err := c.CreateStream("orders", CreateOptions{ShardCount: 2})
		if err != nil {
			t.Fatal(err)
		}
		putOne(t, s, "kept")
		c.Close()
		if err := os.Rename(s.dir, filepath.Join(dir, streamsDir, "orders")); err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(filepath.Join(dir, formatFile)); err != nil {
			t.Fatal(err)
		}
		c = openCore(t, dir)
		defer c.Close()
		if m := readMarker(t, dir); m.Format != FormatVersion {
			t.Fatalf("marker after the upgrade: %+v", m)
		}
		s, err = c.Stream("orders")
		if err != nil || readAll(t, s) != "kept" {
			t.Fatalf("format-1 stream after the upgrade: %v", err)
		}
	})
	t.Run("a damaged marker is refused", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, formatFile), []byte("{\"format\": 2}\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := (&Core{Dir: dir}).Initialize(); err == nil || !strings.Contains(err.Error(), "not a format marker") {
			t.Fatalf("Initialize: %v", err)
		}
	})
}

// TestNewerFormatRefused: a data directory written by a newer Eddy is
// refused with a message that says so, and nothing in it changes.
func TestNewerFormatRefused(t *testing.T) {
	dir := t.TempDir()
	c := openCore(t, dir)
	if _, err := c.CreateStream("orders", CreateOptions{ShardCount: 1}); err != nil {
		t.Fatal(err)
	}
	c.Close()
	b := formatMarker{Format: FormatVersion + 1, WrittenBy: "eddy v99"}.encode()
	if err := os.WriteFile(filepath.Join(dir, formatFile), b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, lockFile)); err != nil {
		t.Fatal(err)
	}
	before := tree(t, dir)
	err := (&Core{Dir: dir}).Initialize()
	want := fmt.Sprintf("data directory %s is format %d, this eddy reads up to %d; use a newer eddy (FORMAT: written by eddy v99)", dir, FormatVersion+1, FormatVersion)
	if !errors.Is(err, ErrNewerFormat) || !strings.Contains(err.Error(), want) {
		t.Fatalf("Initialize: %v, want %q", err, want)
	}
	after := tree(t, dir)
	if len(after) != len(before) {
		t.Fatalf("the refused directory changed: %d entries, then %d", len(before), len(after))
	}
	for p, sum := range before {
		if after[p] != sum {
			t.Fatalf("the refused directory changed: %s", p)
		}
	}
}

// TestDataDirectoryLock: a second core on a data directory is refused,
// naming the holder, until the first closes.
func TestDataDirectoryLock(t *testing.T) {
	dir := t.TempDir()
	first := openCore(t, dir)
	err := (&Core{Dir: dir}).Initialize()
	want := fmt.Sprintf("data directory %s is in use by another eddy, pid %d (%s is locked)", dir, os.Getpid(), filepath.Join(dir, lockFile))
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), want) {
		t.Fatalf("second core: %v, want %q", err, want)
	}
	first.Close()
	openCore(t, dir).Close()
}
