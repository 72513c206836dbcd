package images

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// decodeTimeout bounds one ffmpeg run, per GOP it decodes: a stuck
// decoder is killed and its images are MEDIA_ERROR.
const decodeTimeout = 30 * time.Second

// prepare finds the frames of a job's wanted times; on failure it sets
// their results and returns false.
func (j *job) prepare(res []Result) bool {
	err := j.err
	if err == nil {
		j.frames, err = j.videoFrames(j.clock)
	}
	if err != nil {
		for _, w := range j.want {
			res[w.res].Err = err
		}
		return false
	}
	j.ranks, j.rankOf = j.selection(j.frames)
	return true
}

// follows reports whether j can be decoded in the same ffmpeg run right
// after prev: the same init segment, and every frame presented after
// prev's (so that presentation ranks add up across the GOPs).
func (j *job) follows(prev *job) bool {
	if j.frags[0].InitID != prev.frags[0].InitID {
		return false
	}
	var last int64 = math.MinInt64
	for _, f := range prev.frames {
		last = max(last, f.pts)
	}
	for _, f := range j.frames {
		if f.pts <= last {
			return false
		}
	}
	return true
}

// batches groups the decodable jobs into runs of one ffmpeg process each:
// consecutive GOPs share a process (its start-up, about as costly as
// decoding a GOP, is paid once per run), in as many runs as there are
// workers so that they decode in parallel.
func (s *Service) batches(jobs []*job, res []Result) [][]*job {
	var ready []*job
	for _, j := range jobs {
		if j.prepare(res) {
			ready = append(ready, j)
		}
	}
	if len(ready) == 0 {
		return nil
	}
	size := (len(ready) + cap(s.slots) - 1) / cap(s.slots)
	var out [][]*job
	for i, j := range ready {
		if i == 0 || len(out[len(out)-1]) >= size || !j.follows(ready[i-1]) {
			out = append(out, nil)
		}
		out[len(out)-1] = append(out[len(out)-1], j)
	}
	return out
}

// run decodes a batch of jobs in one ffmpeg process. When that fails for
// the media, each GOP is decoded alone, so that one bad GOP does not cost
// the others their images.
func (s *Service) run(ctx context.Context, batch []*job, spec Spec, res []Result) {
	images, err := s.decode(ctx, batch, spec)
	if err != nil && len(batch) > 1 && errors.Is(err, ErrMediaError) && ctx.Err() == nil {
		for _, j := range batch {
			s.run(ctx, []*job{j}, spec, res)
		}
		return
	}
	for _, j := range batch {
		for wi, w := range j.want {
			if err != nil {
				res[w.res].Err = err
				continue
			}
			res[w.res].Image = images[0][indexOf(j.ranks, j.rankOf[wi])]
		}
		if err == nil {
			images = images[1:]
		}
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

// decode runs ffmpeg on the batch's GOPs (the init segment, then every
// job's fragments, as one fragmented MP4 on stdin) and returns each job's
// images, in the order of its ranks.
func (s *Service) decode(ctx context.Context, batch []*job, spec Spec) ([][][]byte, error) {
	if err := s.acquire(ctx); err != nil {
		return nil, err
	}
	defer s.release()
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, decodeTimeout*time.Duration(len(batch)))
	defer cancel()

	in := append([]byte(nil), batch[0].init...)
	var pts []int64 // of the wanted frames, ascending (jobs follow each other)
	shift := ptsShift(batch)
	for _, j := range batch {
		m, err := j.media(shift)
		if err != nil {
			return nil, err
		}
		in = append(in, m...)
		for _, r := range j.ranks {
			pts = append(pts, j.ptsOfRank[r]+int64(shift))
		}
	}
	var out bytes.Buffer
	errBuf := &tailBuffer{max: 600}
	cmd := exec.CommandContext(ctx, s.ffmpeg, ffmpegArgs(pts, spec)...)
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
		s.log.Warn("ffmpeg could not decode", "fragment", batch[0].frags[0].Seq, "gops", len(batch), "err", err, "ffmpeg", errBuf.String())
		return nil, fmt.Errorf("%w: ffmpeg: %v: %s", ErrMediaError, err, strings.TrimSpace(errBuf.String()))
	}
	split := splitJPEG
	if spec.Format == "PNG" {
		split = splitPNG
	}
	images, err := split(out.Bytes())
	if err != nil || len(images) != len(pts) {
		return nil, fmt.Errorf("%w: ffmpeg made %d of %d images (%v): %s", ErrMediaError, len(images), len(pts), err, strings.TrimSpace(errBuf.String()))
	}
	per := make([][][]byte, len(batch))
	for i, j := range batch {
		per[i], images = images[:len(j.ranks)], images[len(j.ranks):]
	}
	return per, nil
}

// ffmpegArgs is the command line: read fragmented MP4 from stdin with
// its timestamps as stored (-copyts), decode the first video track on one
// thread (the pool runs processes in parallel), keep the frames whose PTS
// (in the track's timescale) is one of pts, scale them, and write them as
// one image after another to stdout, stopping after the last.
func ffmpegArgs(pts []int64, spec Spec) []string {
	var sel strings.Builder
	sel.WriteString("select='")
	for i, p := range pts {
		if i > 0 {
			sel.WriteByte('+')
		}
		fmt.Fprintf(&sel, "eq(pts,%d)", p)
	}
	sel.WriteString("'")
	if sc := scaleFilter(spec); sc != "" {
		sel.WriteString("," + sc)
	}
	args := []string{
		"-hide_banner", "-nostats", "-loglevel", "error",
		"-threads", "1", "-f", "mp4", "-i", "pipe:0", "-copyts",
		"-map", "0:v:0", "-an", "-sn", "-dn",
		"-vf", sel.String(),
		"-fps_mode", "passthrough",
		// The encoder keeps the stream's timescale: frames of GOPs fed
		// with gaps between them must not collide on a coarser one.
		"-enc_time_base:v", "-1",
		"-frames:v", strconv.Itoa(len(pts)),
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
