package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// defaultClipArgs makes the default clip (ffmpeg arguments before the
// output file).
var defaultClipArgs = []string{
	"-hide_banner", "-loglevel", "error", "-y",
	"-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=25",
	"-f", "lavfi", "-i", "sine=frequency=440",
	"-t", "20",
	"-c:v", "libx264", "-preset", "veryfast", "-b:v", "2M", "-maxrate", "2M", "-bufsize", "1M",
	"-g", "50", "-keyint_min", "50", "-sc_threshold", "0", "-bf", "0", "-pix_fmt", "yuv420p",
	"-c:a", "aac", "-b:a", "64k",
}

// defaultClipPath is where the default clip is cached: the user cache
// directory ($XDG_CACHE_HOME or ~/.cache on Linux) under eddy/.
func defaultClipPath() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	return filepath.Join(dir, "eddy", "bench-ingest-720p25-h264-2M-gop50-aac64k-20s.mp4")
}

// defaultClip returns the cached default clip, making it first if
// needed.
func defaultClip(ctx context.Context, log func(string, ...any)) (string, error) {
	p := defaultClipPath()
	if st, err := os.Stat(p); err == nil && st.Size() > 0 {
		return p, nil
	}
	ffmpeg, err := exec.LookPath("ffmpeg")
	if err != nil {
		return "", fmt.Errorf("making the default clip needs ffmpeg (or pass --clip FILE.mp4): %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return "", err
	}
	tmp := p + ".tmp.mp4"
	log("making the default clip with ffmpeg (once): %s", p)
	out, err := exec.CommandContext(ctx, ffmpeg, append(append([]string(nil), defaultClipArgs...), tmp)...).CombinedOutput()
	if err != nil {
		_ = os.Remove(tmp)
		return "", fmt.Errorf("ffmpeg: %v\n%s", err, out)
	}
	if err := os.Rename(tmp, p); err != nil {
		return "", err
	}
	return p, nil
}

// clipOrDefault is clip, or the default clip when clip is "".
func clipOrDefault(ctx context.Context, clip string, log func(string, ...any)) (string, error) {
	if clip != "" {
		return clip, nil
	}
	return defaultClip(ctx, log)
}

// cameraAbout is the -h text of a bench that publishes one camera to a
// server it starts: what it measures, then where the default clip is.
func cameraAbout(measures string) string {
	return "Publishes one camera over RTSP to a server it starts (`eddy serve` on loopback)\n" + measures +
		"\n\nThe default clip is bench ingest's (720p25 H.264 2 Mbit/s, GOP 2 s, AAC), cached\nat " + defaultClipPath() + "."
}
