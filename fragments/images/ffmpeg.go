package images

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// decodeTimeout bounds one ffmpeg run (one GOP): a stuck decoder is
// killed and its images are MEDIA_ERROR.
const decodeTimeout = 30 * time.Second

// run decodes one job's images into res.
func (s *Service) run(ctx context.Context, j *job, spec Spec, res []Result) {
	setAll := func(err error) {
		for _, w := range j.want {
			res[w.res].Err = err
		}
	}
	if j.err != nil {
		setAll(j.err)
		return
	}
	frames, err := j.videoFrames(j.clock)
	if err != nil {
		setAll(err)
		return
	}
	ranks, rankOf := j.selection(frames)
	images, err := s.decode(ctx, j, ranks, spec)
	if err != nil {
		setAll(err)
		return
	}
	for wi, w := range j.want {
		res[w.res].Image = images[indexOf(ranks, rankOf[wi])]
	}
}

func indexOf(xs []int, x int) int {
	for i, v := range xs {
		if v == x {
			return i
		}
	}
	return -1
}

// decode runs ffmpeg on the job's GOP (its init segment and fragments as
// one fragmented MP4 on stdin) and returns the images of the frames of
// presentation ranks ranks (sorted, distinct), in that order.
func (s *Service) decode(ctx context.Context, j *job, ranks []int, spec Spec) ([][]byte, error) {
	if err := s.acquire(ctx); err != nil {
		return nil, err
	}
	defer s.release()
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, decodeTimeout)
	defer cancel()

	size := len(j.init)
	for _, f := range j.frags {
		size += len(f.Media)
	}
	in := make([]byte, 0, size)
	in = append(in, j.init...)
	for _, f := range j.frags {
		in = append(in, f.Media...)
	}
	var out bytes.Buffer
	errBuf := &tailBuffer{max: 600}
	cmd := exec.CommandContext(ctx, s.ffmpeg, ffmpegArgs(ranks, spec)...)
	cmd.Stdin = bytes.NewReader(in)
	cmd.Stdout = &out
	cmd.Stderr = errBuf
	// The pipes' copying goroutines end at most this long after a kill.
	cmd.WaitDelay = time.Second
	begin := time.Now()
	s.m.decodes.Inc()
	err := cmd.Run()
	s.m.seconds.Observe(time.Since(begin).Seconds())
	if parent.Err() != nil {
		return nil, parent.Err()
	}
	if ctx.Err() != nil {
		return nil, fmt.Errorf("%w: decoding took longer than %s", ErrMediaError, decodeTimeout)
	}
	if err != nil {
		s.log.Warn("ffmpeg could not decode a GOP", "fragment", j.frags[0].Seq, "err", err, "ffmpeg", errBuf.String())
		return nil, fmt.Errorf("%w: ffmpeg: %v: %s", ErrMediaError, err, strings.TrimSpace(errBuf.String()))
	}
	split := splitJPEG
	if spec.Format == "PNG" {
		split = splitPNG
	}
	images, err := split(out.Bytes())
	if err != nil || len(images) != len(ranks) {
		return nil, fmt.Errorf("%w: ffmpeg made %d of %d images (%v): %s", ErrMediaError, len(images), len(ranks), err, strings.TrimSpace(errBuf.String()))
	}
	return images, nil
}

// ffmpegArgs is the command line: read fragmented MP4 from stdin, keep
// every frame of the first video track (no frame-rate conversion), select
// the frames of the given presentation ranks, scale, and write them as
// one image after another to stdout.
func ffmpegArgs(ranks []int, spec Spec) []string {
	var sel strings.Builder
	sel.WriteString("select='")
	for i, r := range ranks {
		if i > 0 {
			sel.WriteByte('+')
		}
		fmt.Fprintf(&sel, "eq(n,%d)", r)
	}
	sel.WriteString("'")
	if sc := scaleFilter(spec); sc != "" {
		sel.WriteString("," + sc)
	}
	args := []string{
		"-hide_banner", "-nostats", "-loglevel", "error",
		"-f", "mp4", "-i", "pipe:0",
		"-map", "0:v:0", "-an", "-sn", "-dn",
		"-vf", sel.String(),
		"-fps_mode", "passthrough",
		"-f", "image2pipe",
	}
	if spec.Format == "PNG" {
		return append(args, "-c:v", "png", "pipe:1")
	}
	return append(args, "-c:v", "mjpeg", "-pix_fmt", "yuvj420p",
		"-qmin", "1", "-q:v", strconv.Itoa(qscale(spec.Quality)), "pipe:1")
}

// scaleFilter applies the Kinesis Video size rules: both sides stretch,
// one side keeps the source's aspect ratio, none keeps the source size.
func scaleFilter(spec Spec) string {
	switch {
	case spec.Width > 0 && spec.Height > 0:
		return fmt.Sprintf("scale=%d:%d", spec.Width, spec.Height)
	case spec.Width > 0:
		return fmt.Sprintf("scale=%d:-1", spec.Width)
	case spec.Height > 0:
		return fmt.Sprintf("scale=-1:%d", spec.Height)
	}
	return ""
}

// qscale maps a JPEG quality (1–100, 0 = 80) onto ffmpeg's MJPEG
// quantizer scale (31 worst … 1 best), linearly.
func qscale(quality int) int {
	if quality <= 0 {
		quality = 80
	}
	quality = min(quality, 100)
	return 1 + ((100-quality)*30+49)/99
}

// tailBuffer keeps the last max bytes written (ffmpeg's last messages).
type tailBuffer struct {
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string { return string(t.b) }
