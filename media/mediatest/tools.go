package mediatest

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// RequireTool ends t unless every named program (ffmpeg, ffprobe, cvlc,
// gst-launch-1.0, ...) is on PATH: see Missing.
func RequireTool(t testing.TB, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			Missing(t, fmt.Sprintf("%s is not installed (%v)", n, err))
		}
	}
}

// Missing ends t for want of what, a tool the test needs, the same way
// everywhere: a failure when the CI environment variable is set (CI
// installs every tool the tests use, so a missing one is a broken set-up),
// a skip that says what is missing otherwise.
func Missing(t testing.TB, what string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("%s (CI is set, so this fails instead of skipping)", what)
	}
	t.Skipf("skipping: %s", what)
}
