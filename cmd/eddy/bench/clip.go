package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// clipSpec is a clip a bench makes once with ffmpeg and caches: its
// file name in the cache and the ffmpeg arguments before the output file.
type clipSpec struct {
	name string
	args []string
}

// ingestClip is the default clip of bench ingest, hls and webrtc: a
// camera's main stream (720p25 H.264 2 Mbit/s, GOP 2 s, AAC 64 kbit/s).
var ingestClip = clipSpec{"bench-ingest-720p25-h264-2M-gop50-aac64k-20s.mp4", clipArgs("1280x720", "2M", "1M", "64k")}

// clipArgs are the ffmpeg arguments of a 20 s 25 fps clip of size at
// bitrate (VBV buffer bufsize), GOP 2 s without B-frames, AAC at abr.
func clipArgs(size, bitrate, bufsize, abr string) []string {
	return []string{
		"-hide_banner", "-loglevel", "error", "-y",
		"-f", "lavfi", "-i", "testsrc2=size=" + size + ":rate=25",
		"-f", "lavfi", "-i", "sine=frequency=440",
		"-t", "20",
		"-c:v", "libx264", "-preset", "veryfast", "-b:v", bitrate, "-maxrate", bitrate, "-bufsize", bufsize,
		"-g", "50", "-keyint_min", "50", "-sc_threshold", "0", "-bf", "0", "-pix_fmt", "yuv420p",
		"-c:a", "aac", "-b:a", abr,
	}
}

// path is where the clip is cached: the user cache directory
// ($XDG_CACHE_HOME or ~/.cache on Linux) under eddy/.
func (c clipSpec) path() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	return filepath.Join(dir, "eddy", c.name)
}

// defaultClipPath is where bench ingest's default clip is cached.
func defaultClipPath() string { return ingestClip.path() }

// make returns the cached clip, making it first if needed.
func (c clipSpec) make(ctx context.Context, log func(string, ...any)) (string, error) {
	p := c.path()
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
	out, err := exec.CommandContext(ctx, ffmpeg, append(append([]string(nil), c.args...), tmp)...).CombinedOutput()
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
	return ingestClip.make(ctx, log)
}

// cameraAbout is the -h text of a bench that publishes one camera to a
// server it starts: what it measures, then where the default clip is.
func cameraAbout(measures string) string {
	return "Publishes one camera over RTSP to a server it starts (`eddy serve` on loopback)\n" + measures +
		"\n\nThe default clip is bench ingest's (720p25 H.264 2 Mbit/s, GOP 2 s, AAC), cached\nat " + defaultClipPath() + "."
}
