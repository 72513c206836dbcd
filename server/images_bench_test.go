package server_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
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
	initB, gops := mediatest.TestsrcGOPs(b, 1280, 720, 20)
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

// BenchmarkGetImages measures GetImages over 300 s of stored 720p H.264
// with the Go SDK against the server:
//
//   - 720p-JPEG-1s: every page of the range at 1 s sampling (301 images
//     per op), reporting images per CPU-second of the server alone (this
//     process and its ffmpeg children, less the client: the SDK client
//     runs in a child process, TestGetImagesBenchClient, whose CPU time is
//     taken off), and images per wall second;
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
	in := func() *kinesisvideoarchivedmedia.GetImagesInput { return benchImagesInput(t0) }
	b.Run("720p-JPEG-1s", func(b *testing.B) {
		images := 0
		var client time.Duration
		self0, kids0, wall0 := mediatest.SelfCPU(), mediatest.ChildrenCPU(), time.Now()
		for range b.N {
			cmd := exec.Command(os.Args[0], "-test.run=^TestGetImagesBenchClient$", "-test.count=1")
			cmd.Env = append(os.Environ(), benchClientEnv+"="+e.URL+" "+strconv.FormatInt(t0.UnixNano(), 10))
			out, err := cmd.CombinedOutput()
			m := regexp.MustCompile(`(?m)^images (\d+)$`).FindSubmatch(out)
			if err != nil || m == nil {
				b.Fatalf("the client: %v\n%s", err, out)
			}
			n, _ := strconv.Atoi(string(m[1]))
			images += n
			client += cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
		}
		server := mediatest.SelfCPU() - self0 + mediatest.ChildrenCPU() - kids0 - client
		wall := time.Since(wall0)
		b.ReportMetric(float64(images)/server.Seconds(), "images/cpu-s")
		b.ReportMetric(float64(images)/wall.Seconds(), "images/s")
		b.ReportMetric(float64(client.Milliseconds())/float64(b.N), "client-cpu-ms/op")
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

// benchImagesInput is the benchmark's GetImages request: 300 s of
// cam720 at 1 s sampling, 720p JPEG, pages of 25.
func benchImagesInput(t0 time.Time) *kinesisvideoarchivedmedia.GetImagesInput {
	return &kinesisvideoarchivedmedia.GetImagesInput{StreamName: aws.String("cam720"),
		ImageSelectorType: amtypes.ImageSelectorTypeProducerTimestamp, StartTimestamp: aws.Time(t0.Add(500 * time.Millisecond)),
		EndTimestamp: aws.Time(t0.Add(300*time.Second + 500*time.Millisecond)), SamplingInterval: aws.Int32(1000),
		Format: amtypes.FormatJpeg, WidthPixels: aws.Int32(1280), MaxResults: aws.Int64(25)}
}

// benchClientEnv carries "URL T0" (T0 in Unix ns) to the benchmark's
// client process.
const benchClientEnv = "EDDY_BENCH_GETIMAGES_CLIENT"

// TestGetImagesBenchClient is BenchmarkGetImages's client, run by it as a
// child process so that the server's CPU is measured without the
// client's: it reads every page of the benchmark's request with the Go SDK
// and prints how many images it got. Without benchClientEnv it skips.
func TestGetImagesBenchClient(t *testing.T) {
	arg := os.Getenv(benchClientEnv)
	if arg == "" {
		t.Skip("run by BenchmarkGetImages")
	}
	url, ns, _ := strings.Cut(arg, " ")
	t0, err := strconv.ParseInt(ns, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	am := kinesisvideoarchivedmedia.New(kinesisvideoarchivedmedia.Options{Region: "us-east-1", Credentials: servertest.Credentials,
		BaseEndpoint: aws.String(url), RetryMaxAttempts: 1})
	images := 0
	p := kinesisvideoarchivedmedia.NewGetImagesPaginator(am, benchImagesInput(time.Unix(0, t0)))
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, img := range page.Images {
			if img.Error != "" {
				t.Fatalf("image at %v: %s", img.TimeStamp, img.Error)
			}
			images++
		}
	}
	fmt.Printf("images %d\n", images)
}
