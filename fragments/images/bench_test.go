package images

import (
	"context"
	"encoding/binary"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/eddy-video/eddy/fragments"
	"github.com/eddy-video/eddy/fragments/cmaf"
	"github.com/eddy-video/eddy/media/mediatest"
)

// benchGOP is one 2 s GOP of 1280x720 25 fps H.264 (ffmpeg's testsrc2,
// x264 veryfast with its B-frames) as a job, and the presentation rank of
// its middle frame.
func benchGOP(b *testing.B) (*job, int) {
	b.Helper()
	mediatest.RequireTool(b, "ffmpeg")
	out, err := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=s=1280x720:r=25:d=2",
		"-c:v", "libx264", "-preset", "veryfast", "-g", "50", "-pix_fmt", "yuv420p", "-use_editlist", "0",
		"-movflags", "+frag_keyframe+empty_moov+default_base_moof", "-f", "mp4", "pipe:1").Output()
	if err != nil {
		b.Fatal(err)
	}
	j := &job{clock: fragments.IndexProducerTime}
	for p := out; len(p) >= 8; {
		n := int(binary.BigEndian.Uint32(p))
		switch string(p[4:8]) {
		case "moof":
			j.frags = append(j.frags, &fragments.Fragment{Media: p[:n]})
		case "mdat":
			f := j.frags[len(j.frags)-1]
			f.Media = out[len(out)-len(p)-len(f.Media) : len(out)-len(p)+n]
		default:
			j.init = append(j.init, p[:n]...)
		}
		p = p[n:]
	}
	if j.src, err = cmaf.ParseInit(j.init); err != nil {
		b.Fatal(err)
	}
	j.frags = j.frags[:1]
	if j.frames, err = j.videoFrames(j.clock); err != nil {
		b.Fatal(err)
	}
	j.ranks = []int{25}
	return j, 25
}

// runCPU runs fn b.N times and reports the CPU time of this process and
// of its children (the ffmpeg processes) per op.
func runCPU(b *testing.B, fn func()) {
	cpu := func() time.Duration {
		var self, kids syscall.Rusage
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &self)
		_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &kids)
		d := func(t syscall.Timeval) time.Duration { return time.Duration(t.Nano()) }
		return d(self.Utime) + d(self.Stime) + d(kids.Utime) + d(kids.Stime)
	}
	b.ResetTimer()
	before := cpu()
	for range b.N {
		fn()
	}
	b.StopTimer()
	b.ReportMetric(float64(cpu()-before)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
}

// BenchmarkDecodeGOP decodes one 720p GOP with an ffmpeg process, as
// Frames does, up to its middle frame, into one JPEG of it per op; with
// BenchmarkDecodeGOPCgo (-tags ffmpegcgo) it measures processes against
// libavcodec in the server process on the same input.
func BenchmarkDecodeGOP(b *testing.B) {
	j, _ := benchGOP(b)
	s := New(Options{Workers: 1})
	if err := s.Available(); err != nil {
		b.Fatal(err)
	}
	runCPU(b, func() {
		imgs, err := s.decode(context.Background(), []*job{j}, Spec{Format: "JPEG"})
		if err != nil || len(imgs) != 1 || len(imgs[0]) != 1 {
			b.Fatal(err)
		}
	})
}
