package server_test

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideoarchivedmedia"
	amtypes "github.com/aws/aws-sdk-go-v2/service/kinesisvideoarchivedmedia/types"

	"github.com/eddy-video/eddy/fragments"
	"github.com/eddy-video/eddy/media/mediatest"
	"github.com/eddy-video/eddy/server/servertest"
)

// store720p fills stream name of the server with span of 1280x720 25 fps
// H.264 from producer time t0: 20 s of ffmpeg's testsrc2 (x264 veryfast,
// a keyframe every 2 s, B-frames) encoded once as fragmented MP4, its
// 2 s GOPs appended as fragments again and again with advancing times
// (what the recorder stores; encoding 300 s of 720p would take longer
// than the benchmark).
func store720p(b *testing.B, e *servertest.Env, name string, t0 time.Time, span time.Duration) {
	b.Helper()
	mediatest.RequireTool(b, "ffmpeg")
	out, err := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=s=1280x720:r=25:d=20",
		"-c:v", "libx264", "-preset", "veryfast", "-g", "50", "-keyint_min", "50", "-sc_threshold", "0", "-pix_fmt", "yuv420p",
		"-use_editlist", "0", "-movflags", "+frag_keyframe+empty_moov+default_base_moof+negative_cts_offsets", "-f", "mp4", "pipe:1").Output()
	if err != nil {
		b.Fatal(err)
	}
	var initB []byte
	var gops [][]byte
	for p := out; len(p) >= 8; {
		n := int(binary.BigEndian.Uint32(p))
		switch string(p[4:8]) {
		case "moof":
			gops = append(gops, p[:n])
		case "mdat":
			last := gops[len(gops)-1]
			gops[len(gops)-1] = out[len(out)-len(p)-len(last) : len(out)-len(p)+n]
		default:
			initB = append(initB, p[:n]...)
		}
		p = p[n:]
	}
	ctx := context.Background()
	if _, err := e.KinesisVideo().CreateStream(ctx, &kinesisvideo.CreateStreamInput{StreamName: aws.String(name), DataRetentionInHours: aws.Int32(24)}); err != nil {
		b.Fatal(err)
	}
	st, err := e.Server.Videos().Store(name)
	if err != nil {
		b.Fatal(err)
	}
	sum := sha256.Sum256(initB)
	init := &fragments.InitSegment{ID: fragments.InitID(sum[:16]), Bytes: initB}
	const gop = 2 * time.Second
	for i := 0; time.Duration(i)*gop < span; i++ {
		at := t0.Add(time.Duration(i) * gop).UnixNano()
		f := &fragments.Fragment{ServerTime: at, ProducerTime: at, Duration: int64(gop), Keyframe: true, InitID: init.ID, Media: gops[i%len(gops)]}
		if _, err := st.Append(init, f); err != nil {
			b.Fatal(err)
		}
	}
}

// cpuNow is the CPU time of this process (the server, and the SDK client
// that asks it) and of its waited-for children (the ffmpeg processes).
func cpuNow() time.Duration {
	var self, kids syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &self)
	_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &kids)
	d := func(t syscall.Timeval) time.Duration { return time.Duration(t.Nano()) }
	return d(self.Utime) + d(self.Stime) + d(kids.Utime) + d(kids.Stime)
}

// BenchmarkGetImages measures GetImages over 300 s of stored 720p H.264
// with the Go SDK against the server:
//
//   - 720p-JPEG-1s: every page of the range at 1 s sampling (301 images
//     per op), reporting images per CPU-second of the server process and
//     its ffmpeg children, and images per wall second;
//
//   - first-page-300s: the first page (25 images) of a 300 s range at 1 s
//     sampling, reporting its latency (the time to the first image: a page
//     is answered whole).
//
//     go test ./server/ -run '^$' -bench GetImages -benchtime 3x
func BenchmarkGetImages(b *testing.B) {
	e := servertest.Start(b)
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second)
	store720p(b, e, "cam720", t0, 302*time.Second) // the range ends 300.5 s in, inclusive
	am := e.ArchivedMedia()
	ctx := context.Background()
	in := func() *kinesisvideoarchivedmedia.GetImagesInput {
		return &kinesisvideoarchivedmedia.GetImagesInput{StreamName: aws.String("cam720"),
			ImageSelectorType: amtypes.ImageSelectorTypeProducerTimestamp, StartTimestamp: aws.Time(t0.Add(500 * time.Millisecond)),
			EndTimestamp: aws.Time(t0.Add(300*time.Second + 500*time.Millisecond)), SamplingInterval: aws.Int32(1000),
			Format: amtypes.FormatJpeg, WidthPixels: aws.Int32(1280), MaxResults: aws.Int64(25)}
	}
	b.Run("720p-JPEG-1s", func(b *testing.B) {
		images := 0
		cpu0, wall0 := cpuNow(), time.Now()
		for range b.N {
			p := kinesisvideoarchivedmedia.NewGetImagesPaginator(am, in())
			for p.HasMorePages() {
				page, err := p.NextPage(ctx)
				if err != nil {
					b.Fatal(err)
				}
				for _, img := range page.Images {
					if img.Error != "" {
						b.Fatalf("image at %v: %s", img.TimeStamp, img.Error)
					}
					images++
				}
			}
		}
		cpu, wall := cpuNow()-cpu0, time.Since(wall0)
		b.ReportMetric(float64(images)/cpu.Seconds(), "images/cpu-s")
		b.ReportMetric(float64(images)/wall.Seconds(), "images/s")
		b.ReportMetric(0, "ns/op")
	})
	b.Run("first-page-300s", func(b *testing.B) {
		var total time.Duration
		for range b.N {
			start := time.Now()
			out, err := am.GetImages(ctx, in())
			if err != nil {
				b.Fatal(err)
			}
			total += time.Since(start)
			if len(out.Images) != 25 || out.NextToken == nil {
				b.Fatalf("%d images, NextToken %v", len(out.Images), out.NextToken)
			}
		}
		b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/first-page")
		b.ReportMetric(0, "ns/op")
	})
}
