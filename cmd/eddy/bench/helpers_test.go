package bench

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// testClip is the repository's test clip (320x240 H.264, 25 fps, GOP 2 s,
// AAC, 20 s).
var testClip = filepath.Join("..", "..", "..", "testdata", "cam-h264-aac.mp4")

// eddyBinary builds the eddy binary (package main, cmd/eddy) for tests
// that run it as a separate process: the test binary itself has no serve
// command, so a bench run from a test is given this one as Server. Such a
// test publishes for a while (busy says how long) and is skipped with
// -short.
func eddyBinary(t *testing.T, busy string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("starts the server binary and publishes for " + busy + "; skipped with -short")
	}
	bin := filepath.Join(t.TempDir(), "eddy")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/eddy-video/eddy/cmd/eddy").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// runTestBench runs a bench for a test within timeout, fails the test on
// an error and logs the report.
func runTestBench[R any, P interface {
	*R
	benchReport
}](t *testing.T, timeout time.Duration, run func(context.Context) (P, error)) P {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	res, err := run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	res.writeText(&out)
	t.Log(out.String())
	return res
}

// testLog writes a bench's log lines to the test's log, with the time.
type testLog struct{ t *testing.T }

func (l testLog) Write(b []byte) (int, error) {
	l.t.Logf("%s %s", time.Now().Format("15:04:05.000"), bytes.TrimRight(b, "\n"))
	return len(b), nil
}
