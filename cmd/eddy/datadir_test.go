package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// serveRefused runs `eddy serve` on dir and returns its output, failing
// the test unless it exits with status 1.
func serveRefused(t *testing.T, bin, dir string) string {
	t.Helper()
	cmd := exec.Command(bin, "serve", "--data", dir, "--http", "127.0.0.1:0", "--rtsp", "127.0.0.1:0",
		"--rtsp-udp-rtp=", "--rtsp-udp-rtcp=", "--webrtc", "127.0.0.1:0")
	cmd.Env = crashEnv()
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("eddy serve: %v, want exit status 1\n%s", err, out)
	}
	return string(out)
}

// TestServeDataDirectoryRefusals: a second `eddy serve` on a data
// directory in use is refused, naming the first one's pid; once the first
// has stopped, a directory of a newer format is refused with what to do
// (a downgrade), and nothing in it changes.
func TestServeDataDirectoryRefusals(t *testing.T) {
	bin := crashBuildBinary(t)
	dir := t.TempDir()
	first := crashStart(t, bin, dir)
	out := serveRefused(t, bin, dir)
	want := fmt.Sprintf("data directory %s is in use by another eddy, pid %d (%s is locked)", dir, first.cmd.Process.Pid, filepath.Join(dir, "LOCK"))
	if !strings.Contains(out, want) {
		t.Fatalf("second eddy serve said:\n%s\nwant %q", out, want)
	}
	if err := first.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-first.done
	if first.err != nil {
		t.Fatalf("first eddy serve: %v\n%s", first.err, first.log())
	}

	format := filepath.Join(dir, "FORMAT")
	b, err := os.ReadFile(format)
	if err != nil || !strings.HasPrefix(string(b), "2\nwritten by ") {
		t.Fatalf("FORMAT: %q, %v", b, err)
	}
	newer := []byte("3\nwritten by eddy v9.0.0\n")
	if err := os.WriteFile(format, newer, 0o644); err != nil {
		t.Fatal(err)
	}
	out = serveRefused(t, bin, dir)
	want = fmt.Sprintf("data directory %s is format 3, this eddy reads up to 2; use a newer eddy (FORMAT: written by eddy v9.0.0)", dir)
	if !strings.Contains(out, want) {
		t.Fatalf("eddy serve on a newer format said:\n%s\nwant %q", out, want)
	}
	if b, _ := os.ReadFile(format); string(b) != string(newer) {
		t.Fatalf("FORMAT changed to %q", b)
	}
}
