package images

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/eddy-video/eddy/fragments"
	"github.com/eddy-video/eddy/fragments/cmaf"
	"github.com/eddy-video/eddy/media/mediatest"
)

// benchGOPs are n 2 s GOPs of 1280x720 25 fps H.264 (ffmpeg's testsrc2,
// x264 veryfast with its B-frames), one job each, each wanting the frame
// of presentation rank 25 (the middle one).
func benchGOPs(b *testing.B, n int) []*job {
	b.Helper()
	initB, gops := mediatest.TestsrcGOPs(b, 1280, 720, 2*n)
	var frags []*fragments.Fragment
	for _, g := range gops {
		frags = append(frags, &fragments.Fragment{Media: g})
	}
	src, err := cmaf.ParseInit(initB)
	if err != nil {
		b.Fatal(err)
	}
	var jobs []*job
	for _, f := range frags[:n] {
		j := &job{clock: fragments.IndexProducerTime, init: initB, src: src, frags: []*fragments.Fragment{f}}
		if j.frames, err = j.videoFrames(j.clock); err != nil {
			b.Fatal(err)
		}
		// The frame of presentation rank 25: the 26th smallest time.
		ts := make([]int64, len(j.frames))
		for i, fr := range j.frames {
			ts[i] = fr.t
		}
		slices.Sort(ts)
		j.want = []want{{t: ts[25]}}
		if j.ranks, j.rankOf = j.selection(j.frames); j.ranks[0] != 25 {
			b.Fatalf("rank %d", j.ranks[0])
		}
		jobs = append(jobs, j)
	}
	return jobs
}

// runCPU runs fn, which decodes gops GOPs, b.N times and reports the CPU
// time of this process and of its children (the ffmpeg processes) per GOP.
func runCPU(b *testing.B, gops int, fn func()) {
	cpu := mediatest.CPUTime
	b.ResetTimer()
	before := cpu()
	for range b.N {
		fn()
	}
	b.StopTimer()
	b.ReportMetric(float64(cpu()-before)/float64(time.Millisecond)/float64(b.N*gops), "cpu-ms/GOP")
}

// BenchmarkDecodeGOP decodes 720p GOPs with ffmpeg processes, as Frames
// does, each up to its middle frame and into one JPEG of it: one GOP per
// process, and 8 consecutive GOPs in one process (cpu-ms/op is per GOP).
// With BenchmarkDecodeGOPCgo (-tags ffmpegcgo) it measures processes
// against libavcodec in the server process on the same input.
func BenchmarkDecodeGOP(b *testing.B) {
	s := New(Options{Workers: 1})
	if err := s.Available(); err != nil {
		b.Fatal(err)
	}
	for _, n := range []int{1, 8} {
		b.Run(fmt.Sprintf("gops-per-process=%d", n), func(b *testing.B) {
			jobs := benchGOPs(b, n)
			runCPU(b, n, func() {
				imgs, err := s.decode(context.Background(), jobs, Spec{Format: "JPEG"})
				if err != nil || len(imgs) != n {
					b.Fatal(err)
				}
			})
			b.ReportMetric(b.Elapsed().Seconds()*1000/float64(b.N*n), "ms/GOP")
		})
	}
}
