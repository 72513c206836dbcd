package mediatest

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// FFprobeJSON runs ffprobe on data (written to a file) with args and
// -of json, and returns its JSON; an ffprobe error fails t.
func FFprobeJSON(t testing.TB, data []byte, args ...string) map[string]any {
	t.Helper()
	f := filepath.Join(t.TempDir(), "probe")
	if err := os.WriteFile(f, data, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("ffprobe", append(append([]string{"-v", "error", "-of", "json"}, args...), f)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ffprobe: %v: %s", err, stderr.String())
	}
	var v map[string]any
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// FFprobe runs ffprobe -v error with args on input (a file or a URL: an
// HLS session, an RTSP stream) and returns what it prints; an ffprobe
// error fails t.
func FFprobe(ctx context.Context, t testing.TB, input string, args ...string) []byte {
	t.Helper()
	cmd := exec.CommandContext(ctx, "ffprobe", append(append([]string{"-v", "error"}, args...), input)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ffprobe: %v: %s%s", err, out, stderr.String())
	}
	return out
}

// FFmpegDecodes checks that ffmpeg decodes data completely without
// errors. The only message tolerated is the one about concatenated MKV
// documents, which is what GetMedia-style answers are.
func FFmpegDecodes(t testing.TB, data []byte) {
	t.Helper()
	f := filepath.Join(t.TempDir(), "media")
	if err := os.WriteFile(f, data, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("ffmpeg", "-v", "error", "-i", f, "-f", "null", "-")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("ffmpeg decode: %v: %s", err, stderr.String())
	}
	for _, line := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
		if line != "" && !strings.Contains(line, "unknown-length element with ID 0x18538067") {
			t.Fatalf("ffmpeg decode reported: %s", stderr.String())
		}
	}
}
