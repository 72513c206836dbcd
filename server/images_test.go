package server_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"math"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideoarchivedmedia"
	amtypes "github.com/aws/aws-sdk-go-v2/service/kinesisvideoarchivedmedia/types"

	"github.com/eddy-video/eddy/media/mediatest"
	"github.com/eddy-video/eddy/media/rtspclient"
	"github.com/eddy-video/eddy/server/servertest"
)

// colourFPS is the frame rate of the colour clips the GetImages tests
// publish (mediatest.ColourSource); colourGOP their keyframe interval.
const (
	colourFPS   = 25
	colourGOP   = 12
	colourFrame = time.Second / colourFPS
)

// colourMP4 encodes mediatest's colour clip as an H.264 MP4 file with
// B-frames (decode and presentation order differ) and a keyframe every
// colourGOP frames.
func colourMP4(t testing.TB, w, h int, seconds float64) string {
	t.Helper()
	mediatest.RequireTool(t, "ffmpeg")
	out := filepath.Join(t.TempDir(), "colour.mp4")
	cmd := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", mediatest.ColourSource(w, h, colourFPS, seconds),
		"-c:v", "libx264", "-preset", "ultrafast", "-bf", "2", "-qp", "10", "-g", fmt.Sprint(colourGOP), "-keyint_min", fmt.Sprint(colourGOP),
		"-sc_threshold", "0", "-pix_fmt", "yuv420p", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v: %s", err, b)
	}
	return out
}

// sentFrames are the producer (NTP) times at which a publisher sent each
// frame of a clip, by frame index in presentation order.
type sentFrames struct {
	mu  sync.Mutex
	ntp map[int]time.Time // by PTS in frames (the file's first PTS is not 0 with B-frames)
}

func (s *sentFrames) at(k int) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	first := math.MaxInt
	for i := range s.ntp {
		first = min(first, i)
	}
	return s.ntp[first+k]
}

func (s *sentFrames) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.ntp)
}

// publishColour publishes file to url in real time and returns, once done,
// when each frame was sent.
func publishColour(ctx context.Context, t *testing.T, url, file string) *sentFrames {
	t.Helper()
	s := &sentFrames{ntp: map[int]time.Time{}}
	p := &rtspclient.FilePublisher{URL: url, File: file, OnUnit: func(pts time.Duration, _ bool, ntp time.Time) {
		s.mu.Lock()
		s.ntp[int(math.Round(float64(pts)/float64(colourFrame)))] = ntp
		s.mu.Unlock()
	}}
	if err := p.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("publish %s: %v", file, err)
	}
	return s
}

func decodeAs(t *testing.T, format amtypes.Format, b []byte) image.Image {
	t.Helper()
	var img image.Image
	var err error
	if format == amtypes.FormatPng {
		img, err = png.Decode(bytes.NewReader(b))
	} else {
		img, err = jpeg.Decode(bytes.NewReader(b))
	}
	if err != nil {
		t.Fatalf("%s image does not decode: %v", format, err)
	}
	return img
}

// getAllImages pages through GetImages with the SDK's paginator and
// returns every image and the size of each page.
func getAllImages(ctx context.Context, t *testing.T, am *kinesisvideoarchivedmedia.Client, in *kinesisvideoarchivedmedia.GetImagesInput) ([]amtypes.Image, []int) {
	t.Helper()
	var all []amtypes.Image
	var pages []int
	p := kinesisvideoarchivedmedia.NewGetImagesPaginator(am, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, page.Images...)
		pages = append(pages, len(page.Images))
	}
	return all, pages
}

// TestGetImages publishes a clip whose every frame has its own colour
// (twice, with a gap), then asks GetImages with the SDK for images at
// times inside GOPs and checks each is the frame sent at its time, the
// counts for ranges and intervals, the sizes, NO_MEDIA in the gap, paging,
// and the errors of bad parameters.
func TestGetImages(t *testing.T) {
	mediatest.RequireTool(t, "ffmpeg")
	t.Parallel()
	e := servertest.Start(t)
	ctx := servertest.Context(t, 2*time.Minute)
	first := publishColour(ctx, t, e.RTSPURL("colour"), colourMP4(t, 320, 240, 4))
	time.Sleep(1500 * time.Millisecond)
	second := publishColour(ctx, t, e.RTSPURL("colour"), colourMP4(t, 320, 240, 2))
	am := e.ArchivedMedia()
	if n, m := first.count(), second.count(); n != 4*colourFPS || m != 2*colourFPS {
		t.Fatalf("sent %d and %d frames, want %d and %d", n, m, 4*colourFPS, 2*colourFPS)
	}
	// The last fragment is listed a moment after its publication ends.
	waitFragments(ctx, t, am, "colour", amtypes.FragmentSelectorTypeProducerTimestamp, first.at(0), 2*(4*colourFPS/colourGOP), 10*time.Second)

	get := func(start, end time.Time, interval int32, format amtypes.Format, mod func(*kinesisvideoarchivedmedia.GetImagesInput)) ([]amtypes.Image, []int) {
		in := &kinesisvideoarchivedmedia.GetImagesInput{StreamName: aws.String("colour"),
			ImageSelectorType: amtypes.ImageSelectorTypeProducerTimestamp, StartTimestamp: aws.Time(start), EndTimestamp: aws.Time(end),
			SamplingInterval: aws.Int32(interval), Format: format}
		if mod != nil {
			mod(in)
		}
		return getAllImages(ctx, t, am, in)
	}
	checkColour := func(t *testing.T, format amtypes.Format, img amtypes.Image, k int) image.Image {
		t.Helper()
		if img.Error != "" || img.ImageContent == nil {
			t.Fatalf("image at %v (frame %d): error %q", img.TimeStamp, k, img.Error)
		}
		raw, err := base64.StdEncoding.DecodeString(*img.ImageContent)
		if err != nil {
			t.Fatal(err)
		}
		pic := decodeAs(t, format, raw)
		if got, want := mediatest.AverageColour(pic), mediatest.FrameColour(k); !mediatest.ColourNear(got, want, mediatest.ColourTolerance) {
			t.Errorf("%s image at %v: colour %v, want %v (frame %d)", format, img.TimeStamp, got, want, k)
		}
		return pic
	}

	t.Run("content", func(t *testing.T) {
		// From 7 ms after frame 3 (inside the first GOP, not a keyframe),
		// every 200 ms (5 frames): frames 3, 8, 13, … 63.
		start := first.at(3).Add(7 * time.Millisecond)
		for _, format := range []amtypes.Format{amtypes.FormatJpeg, amtypes.FormatPng} {
			imgs, _ := get(start, start.Add(2400*time.Millisecond), 200, format, func(in *kinesisvideoarchivedmedia.GetImagesInput) {
				in.WidthPixels = aws.Int32(160)
			})
			if len(imgs) != 13 {
				t.Fatalf("%s: %d images, want 13 (2.4 s at 200 ms, both ends)", format, len(imgs))
			}
			for i, img := range imgs {
				pic := checkColour(t, format, img, 3+5*i)
				if b := pic.Bounds(); b.Dx() != 160 || b.Dy() != 120 {
					t.Errorf("WidthPixels 160 of 320x240: %v, want 160x120", b)
				}
			}
		}
	})

	t.Run("range and interval", func(t *testing.T) {
		// 5 ms into frame 0: the producer times the recorder derives from
		// RTP (90 kHz) and RTCP may differ from those sent by a little, and
		// every instant is then at least 5 ms from the midpoint between
		// two frames.
		start := first.at(0).Add(5 * time.Millisecond)
		for _, tc := range []struct {
			span     time.Duration
			interval int32
			want     int
		}{
			{3 * time.Second, 1000, 4},
			{3 * time.Second, 500, 7},
			{time.Second, 5000, 1}, // span shorter than the interval: Start alone
			{0, 200, 1},
		} {
			imgs, _ := get(start, start.Add(tc.span), tc.interval, amtypes.FormatJpeg, nil)
			if len(imgs) != tc.want {
				t.Errorf("%v at %d ms: %d images, want %d", tc.span, tc.interval, len(imgs), tc.want)
			}
			for i, img := range imgs {
				if want := start.Truncate(time.Millisecond).Add(time.Duration(i) * time.Duration(tc.interval) * time.Millisecond); !img.TimeStamp.Equal(want) {
					t.Errorf("image %d at %v, want %v", i, img.TimeStamp, want)
				}
				at := 5*time.Millisecond + time.Duration(i)*time.Duration(tc.interval)*time.Millisecond
				checkColour(t, amtypes.FormatJpeg, img, int(math.Round(float64(at)/float64(colourFrame))))
			}
		}
	})

	t.Run("sizes", func(t *testing.T) {
		at := first.at(30).Add(5 * time.Millisecond)
		for _, tc := range []struct {
			w, h         *int32
			wantW, wantH int
		}{
			{nil, nil, 320, 240},
			{aws.Int32(200), aws.Int32(50), 200, 50}, // both: stretched
			{nil, aws.Int32(60), 80, 60},             // one: the other from the aspect ratio
			{aws.Int32(64), nil, 64, 48},
		} {
			imgs, _ := get(at, at, 200, amtypes.FormatPng, func(in *kinesisvideoarchivedmedia.GetImagesInput) {
				in.WidthPixels, in.HeightPixels = tc.w, tc.h
			})
			if len(imgs) != 1 {
				t.Fatalf("%d images", len(imgs))
			}
			b := checkColour(t, amtypes.FormatPng, imgs[0], 30).Bounds()
			if b.Dx() != tc.wantW || b.Dy() != tc.wantH {
				t.Errorf("WidthPixels %v HeightPixels %v: %dx%d, want %dx%d", aws.ToInt32(tc.w), aws.ToInt32(tc.h), b.Dx(), b.Dy(), tc.wantW, tc.wantH)
			}
		}
		// JPEGQuality is taken (its effect on size is checked by the images
		// package's tests: a solid colour compresses alike at any quality).
		for _, q := range []string{"1", "100"} {
			imgs, _ := get(at, at, 200, amtypes.FormatJpeg, func(in *kinesisvideoarchivedmedia.GetImagesInput) {
				in.FormatConfig = map[string]string{"JPEGQuality": q}
			})
			checkColour(t, amtypes.FormatJpeg, imgs[0], 30)
		}
	})

	t.Run("NO_MEDIA in the gap", func(t *testing.T) {
		// From 1 s before the first publication to 1 s into the second.
		start := first.at(0).Add(-time.Second)
		end := second.at(0).Add(time.Second)
		lastFirst := first.at(4*colourFPS - 1)
		imgs, _ := get(start, end, 200, amtypes.FormatJpeg, nil)
		var gap, inside int
		for _, img := range imgs {
			ts := *img.TimeStamp
			switch {
			case ts.Before(first.at(0).Truncate(time.Millisecond)) || (ts.After(lastFirst.Add(2*colourFrame)) && ts.Before(second.at(0).Truncate(time.Millisecond))):
				gap++
				if img.Error != amtypes.ImageErrorNoMedia || img.ImageContent != nil {
					t.Errorf("image at %v, outside the publications: error %q, %d bytes; want NO_MEDIA", ts, img.Error, len(aws.ToString(img.ImageContent)))
				}
			case ts.After(second.at(0).Add(colourFrame)) && ts.Before(second.at(2*colourFPS-3)):
				inside++
				if img.Error != "" || img.ImageContent == nil {
					t.Errorf("image at %v, in the second publication: error %q", ts, img.Error)
				}
			}
		}
		if gap < 8 || inside < 4 {
			t.Errorf("%d images checked in gaps, %d after them; want at least 8 and 4", gap, inside)
		}
		// The second publication's frames, from 7 ms after its frame 3.
		start = second.at(3).Add(7 * time.Millisecond)
		imgs, _ = get(start, start.Add(1200*time.Millisecond), 200, amtypes.FormatJpeg, nil)
		if len(imgs) != 7 {
			t.Fatalf("%d images, want 7", len(imgs))
		}
		for i, img := range imgs {
			checkColour(t, amtypes.FormatJpeg, img, 3+5*i)
		}
	})

	t.Run("paging", func(t *testing.T) {
		start := first.at(0)
		end := start.Add(6 * time.Second) // 31 instants
		whole, pages := get(start, end, 200, amtypes.FormatJpeg, func(in *kinesisvideoarchivedmedia.GetImagesInput) { in.MaxResults = aws.Int64(100) })
		if fmt.Sprint(pages) != "[25 6]" {
			t.Errorf("MaxResults 100: pages of %v, want [25 6] (a page holds at most 25)", pages)
		}
		paged, pages := get(start, end, 200, amtypes.FormatJpeg, func(in *kinesisvideoarchivedmedia.GetImagesInput) { in.MaxResults = aws.Int64(10) })
		if fmt.Sprint(pages) != "[10 10 10 1]" {
			t.Errorf("MaxResults 10: pages of %v, want [10 10 10 1]", pages)
		}
		if len(paged) != len(whole) {
			t.Fatalf("%d images paged by 10, %d by 25", len(paged), len(whole))
		}
		for i := range paged {
			if want := start.Truncate(time.Millisecond).Add(time.Duration(i) * 200 * time.Millisecond); !paged[i].TimeStamp.Equal(want) || paged[i].Error != whole[i].Error {
				t.Errorf("image %d: %v %q, want %v %q", i, paged[i].TimeStamp, paged[i].Error, want, whole[i].Error)
			}
		}
	})

	t.Run("server timestamps", func(t *testing.T) {
		frags := listAll(ctx, t, am, "colour", amtypes.FragmentSelectorTypeProducerTimestamp, first.at(0), first.at(0).Add(time.Second))
		if len(frags) == 0 {
			t.Fatal("no fragments")
		}
		start := frags[0].ServerTimestamp.Add(100 * time.Millisecond)
		imgs, _ := get(start, start.Add(time.Second), 500, amtypes.FormatJpeg, func(in *kinesisvideoarchivedmedia.GetImagesInput) {
			in.ImageSelectorType = amtypes.ImageSelectorTypeServerTimestamp
		})
		if len(imgs) != 3 {
			t.Fatalf("%d images, want 3", len(imgs))
		}
		for _, img := range imgs {
			if img.Error != "" || img.ImageContent == nil {
				t.Errorf("image at server time %v: %q", img.TimeStamp, img.Error)
			}
		}
	})

	// The series, after the requests of the subtests above.
	t.Run("metrics", func(t *testing.T) {
		fams := scrape(t, e)
		want(t, fams, "eddy_images_decodes_total", nil, positive, "> 0")
		want(t, fams, "eddy_images_images_total", nil, positive, "> 0")
		want(t, fams, "eddy_images_errors_total", map[string]string{"error": "NO_MEDIA"}, positive, "> 0 (the gap)")
		want(t, fams, "eddy_images_decode_seconds", nil, positive, "observed")
		want(t, fams, "eddy_kvs_requests_total", map[string]string{"operation": "GetImages", "stream": "colour", "code": "200"}, positive, "> 0")
	})

	t.Run("bad parameters", func(t *testing.T) {
		if _, err := e.KinesisVideo().CreateStream(ctx, &kinesisvideo.CreateStreamInput{StreamName: aws.String("other"), DataRetentionInHours: aws.Int32(1)}); err != nil {
			t.Fatal(err)
		}
		start := first.at(0)
		_, err := am.GetImages(ctx, &kinesisvideoarchivedmedia.GetImagesInput{StreamName: aws.String("colour"),
			ImageSelectorType: amtypes.ImageSelectorTypeProducerTimestamp, StartTimestamp: aws.Time(start), EndTimestamp: aws.Time(start.Add(6 * time.Second)),
			SamplingInterval: aws.Int32(200), Format: amtypes.FormatJpeg, MaxResults: aws.Int64(5)})
		if err != nil {
			t.Fatal(err)
		}
		page, _ := am.GetImages(ctx, &kinesisvideoarchivedmedia.GetImagesInput{StreamName: aws.String("colour"),
			ImageSelectorType: amtypes.ImageSelectorTypeProducerTimestamp, StartTimestamp: aws.Time(start), EndTimestamp: aws.Time(start.Add(6 * time.Second)),
			SamplingInterval: aws.Int32(200), Format: amtypes.FormatJpeg, MaxResults: aws.Int64(5)})
		tok := aws.ToString(page.NextToken)
		for _, tc := range []struct {
			name   string
			mod    func(*kinesisvideoarchivedmedia.GetImagesInput)
			code   string
			detail string
		}{
			{"span over 300 s", func(in *kinesisvideoarchivedmedia.GetImagesInput) {
				in.EndTimestamp = aws.Time(start.Add(301 * time.Second))
			},
				"InvalidArgumentException", "must not be more than 300 seconds"},
			{"end before start", func(in *kinesisvideoarchivedmedia.GetImagesInput) {
				in.EndTimestamp = aws.Time(start.Add(-time.Second))
			},
				"InvalidArgumentException", "EndTimestamp must not be before StartTimestamp"},
			{"interval under 200 ms", func(in *kinesisvideoarchivedmedia.GetImagesInput) { in.SamplingInterval = aws.Int32(199) },
				"InvalidArgumentException", "SamplingInterval must be between 200"},
			{"format", func(in *kinesisvideoarchivedmedia.GetImagesInput) { in.Format = "GIF" },
				"InvalidArgumentException", "Format must be JPEG or PNG"},
			{"selector", func(in *kinesisvideoarchivedmedia.GetImagesInput) { in.ImageSelectorType = "NOW" },
				"InvalidArgumentException", "ImageSelectorType must be"},
			{"JPEG quality 0", func(in *kinesisvideoarchivedmedia.GetImagesInput) {
				in.FormatConfig = map[string]string{"JPEGQuality": "0"}
			},
				"InvalidArgumentException", "JPEGQuality must be an integer from 1 to 100"},
			{"format config key", func(in *kinesisvideoarchivedmedia.GetImagesInput) {
				in.FormatConfig = map[string]string{"PNGLevel": "1"}
			},
				"InvalidArgumentException", "the only key is JPEGQuality"},
			{"width 3841", func(in *kinesisvideoarchivedmedia.GetImagesInput) { in.WidthPixels = aws.Int32(3841) },
				"InvalidArgumentException", "WidthPixels must be between 1 and 3840"},
			{"height 0", func(in *kinesisvideoarchivedmedia.GetImagesInput) { in.HeightPixels = aws.Int32(0) },
				"InvalidArgumentException", "HeightPixels must be between 1 and 2160"},
			{"MaxResults 101", func(in *kinesisvideoarchivedmedia.GetImagesInput) { in.MaxResults = aws.Int64(101) },
				"InvalidArgumentException", "MaxResults must be between 1 and 100"},
			{"garbage NextToken", func(in *kinesisvideoarchivedmedia.GetImagesInput) { in.NextToken = aws.String("bm90IGEgdG9rZW4=") },
				"InvalidArgumentException", "NextToken is invalid"},
			{"tampered NextToken", func(in *kinesisvideoarchivedmedia.GetImagesInput) { in.NextToken = aws.String(flipMiddle(tok)) },
				"InvalidArgumentException", "NextToken is invalid"},
			{"NextToken of another stream", func(in *kinesisvideoarchivedmedia.GetImagesInput) {
				in.StreamName, in.NextToken = aws.String("other"), aws.String(tok)
			}, "InvalidArgumentException", "another stream"},
			{"unknown stream", func(in *kinesisvideoarchivedmedia.GetImagesInput) { in.StreamName = aws.String("nope") },
				"ResourceNotFoundException", "nope"},
		} {
			in := &kinesisvideoarchivedmedia.GetImagesInput{StreamName: aws.String("colour"),
				ImageSelectorType: amtypes.ImageSelectorTypeProducerTimestamp, StartTimestamp: aws.Time(start), EndTimestamp: aws.Time(start.Add(time.Second)),
				SamplingInterval: aws.Int32(500), Format: amtypes.FormatJpeg}
			tc.mod(in)
			_, err := am.GetImages(ctx, in)
			if apiCode(err) != tc.code || !strings.Contains(fmt.Sprint(err), tc.detail) {
				t.Errorf("%s: %v, want %s (%q)", tc.name, err, tc.code, tc.detail)
			}
		}
	})
}

// flipMiddle changes a base64 token's middle character.
func flipMiddle(tok string) string {
	b := []byte(tok)
	i := len(b) / 2
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}

// TestGetImagesWithoutFFmpeg: a server without ffmpeg runs, and GetImages
// answers a typed error saying what to install.
func TestGetImagesWithoutFFmpeg(t *testing.T) {
	t.Setenv("PATH", t.TempDir()) // no ffmpeg there
	e := servertest.Start(t)
	ctx := servertest.Context(t, time.Minute)
	if _, err := e.KinesisVideo().CreateStream(ctx, &kinesisvideo.CreateStreamInput{StreamName: aws.String("cam"), DataRetentionInHours: aws.Int32(1)}); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	_, err := e.ArchivedMedia().GetImages(ctx, &kinesisvideoarchivedmedia.GetImagesInput{StreamName: aws.String("cam"),
		ImageSelectorType: amtypes.ImageSelectorTypeServerTimestamp, StartTimestamp: aws.Time(now.Add(-time.Minute)),
		EndTimestamp: aws.Time(now), Format: amtypes.FormatJpeg, SamplingInterval: aws.Int32(3000)})
	if apiCode(err) != "UnknownOperationException" || !strings.Contains(fmt.Sprint(err), "apt-get install ffmpeg") {
		t.Errorf("GetImages without ffmpeg: %v, want UnknownOperationException saying what to install", err)
	}
}
