package bench

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// ingestTestBinary builds the eddy binary (package main, cmd/eddy) for
// tests that run it as a separate process: the test binary itself has no
// serve command, so a bench run from a test is given this one as Server.
func ingestTestBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "eddy")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/eddy-video/eddy/cmd/eddy").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

type ingestTestLog struct{ t *testing.T }

func (l ingestTestLog) Write(b []byte) (int, error) {
	l.t.Logf("%s %s", time.Now().Format("15:04:05.000"), bytes.TrimRight(b, "\n"))
	return len(b), nil
}

type testLog struct{ t *testing.T }

func (l testLog) Write(b []byte) (int, error) {
	l.t.Logf("%s %s", time.Now().Format("15:04:05.000"), bytes.TrimRight(b, "\n"))
	return len(b), nil
}
