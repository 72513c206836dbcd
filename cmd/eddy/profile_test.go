package main

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestProfiles: startProfiles writes a CPU profile over its run, the live
// heap on each SIGUSR1 and the allocation and heap profiles when stopped;
// each is a gzip-compressed pprof file that go tool pprof reads.
func TestProfiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "prof")
	stop, err := startProfiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	heap1 := filepath.Join(dir, "heap-1.pprof")
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if fi, err := os.Stat(heap1); err == nil && fi.Size() > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no heap-1.pprof 10 s after SIGUSR1")
		}
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"cpu", "allocs", "heap", "heap-1"} {
		b, err := os.ReadFile(filepath.Join(dir, name+".pprof"))
		if err != nil {
			t.Fatal(err)
		}
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%s.pprof: %v", name, err)
		}
		if raw, err := io.ReadAll(zr); err != nil || len(raw) == 0 {
			t.Fatalf("%s.pprof: %d bytes of profile, %v", name, len(raw), err)
		}
	}
	if _, err := startProfiles(""); err != nil {
		t.Fatal(err)
	}
}
