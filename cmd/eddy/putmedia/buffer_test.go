package putmedia

import (
	"bytes"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// TestBufferOnDisk: with a directory, a buffered cluster's bytes are in
// its file only (not in memory), read back to be sent, also by the next
// run.
func TestBufferOnDisk(t *testing.T) {
	dir := t.TempDir()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	var dropped atomic.Int64
	b, err := openBuffer(dir, "cam", 0, &dropped, log)
	if err != nil {
		t.Fatal(err)
	}
	s, err := b.newSession([]byte("header"), TimecodeAbsolute, time.UnixMilli(1000))
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("cluster"), 1000)
	if err := b.add(s, 1000, data); err != nil {
		t.Fatal(err)
	}
	c, _ := b.next(s, 0)
	if c == nil || c.data != nil || c.size != len(data) {
		t.Fatalf("pending %+v: want its %d bytes on disk only", c, len(data))
	}
	if got, err := b.load(c); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("load: %d bytes, %v", len(got), err)
	}
	b2, err := openBuffer(dir, "cam", 0, &dropped, log)
	if err != nil {
		t.Fatal(err)
	}
	s2 := b2.first()
	c2, _ := b2.next(s2, 0)
	if c2 == nil || c2.data != nil || b2.bytes != int64(len(data)) {
		t.Fatalf("next run: pending %+v, %d bytes", c2, b2.bytes)
	}
	if got, err := b2.load(c2); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("next run: load: %d bytes, %v", len(got), err)
	}
}

// TestBufferMax: beyond MaxBufferBytes the oldest clusters are dropped
// (their files too) and counted, in memory and on disk, and at the open
// of a buffer an earlier run left too full.
func TestBufferMax(t *testing.T) {
	for _, onDisk := range []bool{false, true} {
		dir := ""
		if onDisk {
			dir = t.TempDir()
		}
		log := slog.New(slog.NewTextHandler(io.Discard, nil))
		var dropped atomic.Int64
		b, err := openBuffer(dir, "cam", 2500, &dropped, log)
		if err != nil {
			t.Fatal(err)
		}
		s, err := b.newSession([]byte("header"), TimecodeAbsolute, time.UnixMilli(1000))
		if err != nil {
			t.Fatal(err)
		}
		for i := range 5 {
			if err := b.add(s, int64(1000+i), make([]byte, 1000)); err != nil {
				t.Fatal(err)
			}
		}
		left := b.snapshot(s)
		if len(left) != 2 || left[0].timecode != 1003 || dropped.Load() != 3 || b.bytes != 2000 {
			t.Fatalf("on disk %v: %d clusters left (first %d), %d dropped, %d bytes; want the newest 2, 3 dropped",
				onDisk, len(left), left[0].timecode, dropped.Load(), b.bytes)
		}
		if !onDisk {
			continue
		}
		files, _ := filepath.Glob(filepath.Join(s.dir, "*_*.mkv"))
		if len(files) != 2 {
			t.Errorf("%d cluster files, want 2: %v", len(files), files)
		}
		b.finish(s)
		if _, err := openBuffer(dir, "cam", 1500, &dropped, log); err != nil {
			t.Fatal(err)
		}
		if files, _ := filepath.Glob(filepath.Join(s.dir, "*_*.mkv")); len(files) != 1 || dropped.Load() != 4 {
			t.Errorf("reopened with 1500 bytes: %d files, %d dropped; want 1 and 4", len(files), dropped.Load())
		}
		if _, err := os.Stat(s.dir); err != nil {
			t.Errorf("session directory: %v", err)
		}
	}
}
