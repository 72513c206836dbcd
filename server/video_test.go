package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideoarchivedmedia"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideoarchivedmedia/types"

	"github.com/eddy-video/eddy/media/mediatest"
	"github.com/eddy-video/eddy/media/rtspclient"
	"github.com/eddy-video/eddy/server"
	"github.com/eddy-video/eddy/server/servertest"
)

// testClip is 20 s of 320x240 25 fps H.264 (a keyframe every 2 s, no
// B-frames) and 44.1 kHz mono AAC, made once with ffmpeg (see testdata/README.md).
var testClip = filepath.Join("..", "testdata", "cam-h264-aac.mp4")

const frame = 40 * time.Millisecond // one video frame of testClip

// listAll pages through ListFragments.
func listAll(ctx context.Context, t *testing.T, am *kinesisvideoarchivedmedia.Client, stream string, kind types.FragmentSelectorType, from, to time.Time) []types.Fragment {
	t.Helper()
	var out []types.Fragment
	p := kinesisvideoarchivedmedia.NewListFragmentsPaginator(am, &kinesisvideoarchivedmedia.ListFragmentsInput{
		StreamName: aws.String(stream), MaxResults: aws.Int64(3),
		FragmentSelector: &types.FragmentSelector{FragmentSelectorType: kind, TimestampRange: &types.TimestampRange{StartTimestamp: &from, EndTimestamp: &to}},
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, page.Fragments...)
	}
	return out
}

// waitFragments lists stream's fragments from from to now until there
// are at least n (the last fragment of a publication is durable a moment
// after the publisher leaves) or within has passed, and returns them.
func waitFragments(ctx context.Context, t *testing.T, am *kinesisvideoarchivedmedia.Client, stream string, kind types.FragmentSelectorType, from time.Time, n int, within time.Duration) []types.Fragment {
	t.Helper()
	var frags []types.Fragment
	for deadline := time.Now().Add(within); time.Now().Before(deadline) && len(frags) < n; time.Sleep(100 * time.Millisecond) {
		frags = listAll(ctx, t, am, stream, kind, from, time.Now())
	}
	return frags
}

// getClip returns GetClip's MP4 of stream over [from, to] (server
// timestamps).
func getClip(ctx context.Context, t *testing.T, am *kinesisvideoarchivedmedia.Client, stream string, from, to time.Time) []byte {
	t.Helper()
	out, err := am.GetClip(ctx, &kinesisvideoarchivedmedia.GetClipInput{StreamName: aws.String(stream),
		ClipFragmentSelector: &types.ClipFragmentSelector{FragmentSelectorType: types.ClipFragmentSelectorTypeServerTimestamp,
			TimestampRange: &types.ClipTimestampRange{StartTimestamp: &from, EndTimestamp: &to}}})
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(out.Payload)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// streamCodecs returns the codec names of data's streams, as ffprobe reads them.
func streamCodecs(t *testing.T, data []byte) []string {
	t.Helper()
	var codecs []string
	for _, s := range mediatest.FFprobeJSON(t, data, "-show_streams")["streams"].([]any) {
		codecs = append(codecs, s.(map[string]any)["codec_name"].(string))
	}
	return codecs
}

// publish runs a FilePublisher and records the NTP time of every keyframe sent.
func publish(ctx context.Context, url string, d time.Duration, transport string) (*rtspclient.FilePublisher, *[]time.Time, chan error) {
	var mu sync.Mutex
	keys := &[]time.Time{}
	p := &rtspclient.FilePublisher{URL: url, File: testClip, Duration: d, Transport: transport,
		OnUnit: func(_ time.Duration, key bool, ntp time.Time) {
			if key {
				mu.Lock()
				*keys = append(*keys, ntp)
				mu.Unlock()
			}
		}}
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	return p, keys, done
}

// stopped waits for a publisher that was told to stop: it ends with nil
// or context.Canceled.
func stopped(t *testing.T, done <-chan error) {
	t.Helper()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("publisher: %v", err)
	}
}

func TestRTSPIngestArchive(t *testing.T) {
	mediatest.RequireTool(t, "ffmpeg", "ffprobe")
	t.Parallel()
	e := servertest.Start(t)
	ctx := servertest.Context(t, 2*time.Minute)
	start := time.Now()
	_, keys, done := publish(ctx, e.RTSPURL("cam"), 0, "tcp")
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	am := e.ArchivedMedia()
	end := time.Now().Add(time.Second)
	// The last fragment is cut when the publisher leaves; give it a moment.
	var frags []types.Fragment
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if frags = listAll(ctx, t, am, "cam", types.FragmentSelectorTypeServerTimestamp, start, end); len(frags) == 10 {
			break
		}
	}
	if len(frags) != 10 {
		t.Fatalf("fragments = %d, want 10 (20 s, 2 s GOPs)", len(frags))
	}

	t.Run("timestamps", func(t *testing.T) {
		var total time.Duration
		for i, f := range frags {
			d := time.Duration(f.FragmentLengthInMilliseconds) * time.Millisecond
			total += d
			if i > 0 {
				prev := frags[i-1]
				gap := f.ProducerTimestamp.Sub(*prev.ProducerTimestamp) - time.Duration(prev.FragmentLengthInMilliseconds)*time.Millisecond
				if gap < -frame || gap > frame {
					t.Errorf("fragment %d: gap/overlap of %v after the previous fragment", i, gap)
				}
				if n1, n0 := *f.FragmentNumber, *prev.FragmentNumber; len(n1) < len(n0) || (len(n1) == len(n0) && n1 <= n0) {
					t.Errorf("fragment numbers not increasing: %s after %s", n1, n0)
				}
			}
			// Producer time: within 50 ms of the NTP time the publisher
			// sent with the fragment's keyframe.
			best := time.Duration(math.MaxInt64)
			for _, k := range *keys {
				if d := f.ProducerTimestamp.Sub(k); d.Abs() < best {
					best = d.Abs()
				}
			}
			if best > 50*time.Millisecond {
				t.Errorf("fragment %d: producer timestamp %v is %v from any keyframe's NTP time", i, f.ProducerTimestamp, best)
			}
			if f.ServerTimestamp.Before(start) || f.ServerTimestamp.After(end) {
				t.Errorf("fragment %d: server timestamp %v outside the publication", i, f.ServerTimestamp)
			}
		}
		if diff := (total - 20*time.Second).Abs(); diff > time.Duration(len(frags))*frame {
			t.Errorf("durations add up to %v, want 20s within one frame per fragment", total)
		}
		byProducer := listAll(ctx, t, am, "cam", types.FragmentSelectorTypeProducerTimestamp, *frags[2].ProducerTimestamp, *frags[5].ProducerTimestamp)
		if len(byProducer) != 4 || *byProducer[0].FragmentNumber != *frags[2].FragmentNumber {
			t.Errorf("producer-time range [2,5] listed %d fragments", len(byProducer))
		}
	})

	t.Run("GetMediaForFragmentList", func(t *testing.T) {
		var nums []string
		for _, f := range frags[:3] {
			nums = append(nums, *f.FragmentNumber)
		}
		out, err := am.GetMediaForFragmentList(ctx, &kinesisvideoarchivedmedia.GetMediaForFragmentListInput{StreamName: aws.String("cam"), Fragments: nums})
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(out.Payload)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range nums {
			if !bytes.Contains(body, []byte(n)) {
				t.Errorf("MKV lacks the AWS_KINESISVIDEO_FRAGMENT_NUMBER tag %s", n)
			}
		}
		if !bytes.Contains(body, []byte("AWS_KINESISVIDEO_PRODUCER_TIMESTAMP")) || !bytes.Contains(body, []byte("AWS_KINESISVIDEO_SERVER_TIMESTAMP")) {
			t.Error("MKV lacks the timestamp tags")
		}
		mediatest.FFmpegDecodes(t, body)
		probe := mediatest.FFprobeJSON(t, body, "-show_streams")
		streams := probe["streams"].([]any)
		if len(streams) != 2 || streams[0].(map[string]any)["codec_name"] != "h264" || streams[1].(map[string]any)["codec_name"] != "aac" {
			t.Errorf("MKV streams: %v", streams)
		}
		_, err = am.GetMediaForFragmentList(ctx, &kinesisvideoarchivedmedia.GetMediaForFragmentListInput{StreamName: aws.String("cam"), Fragments: []string{"12345"}})
		if apiCode(err) != "InvalidArgumentException" {
			t.Errorf("unknown fragment number: %v", err)
		}
	})

	t.Run("GetClip", func(t *testing.T) {
		from := frags[1].ProducerTimestamp.Add(-10 * time.Millisecond) // just before the second fragment
		to := from.Add(10 * time.Second)
		out, err := am.GetClip(ctx, &kinesisvideoarchivedmedia.GetClipInput{StreamName: aws.String("cam"),
			ClipFragmentSelector: &types.ClipFragmentSelector{FragmentSelectorType: types.ClipFragmentSelectorTypeProducerTimestamp,
				TimestampRange: &types.ClipTimestampRange{StartTimestamp: &from, EndTimestamp: &to}}})
		if err != nil {
			t.Fatal(err)
		}
		if *out.ContentType != "video/mp4" {
			t.Errorf("content type %q", *out.ContentType)
		}
		clip, _ := io.ReadAll(out.Payload)
		mediatest.FFmpegDecodes(t, clip)
		probe := mediatest.FFprobeJSON(t, clip, "-show_format", "-show_frames", "-select_streams", "v", "-show_entries", "frame=key_frame,pts_time:format=duration,format_name")
		dur, _ := strconv.ParseFloat(probe["format"].(map[string]any)["duration"].(string), 64)
		if math.Abs(dur-10) > 2 { // ± one GOP
			t.Errorf("clip of 10 s lasts %.3f s", dur)
		}
		vframes := probe["frames"].([]any)
		if len(vframes) == 0 || vframes[0].(map[string]any)["key_frame"].(float64) != 1 {
			t.Errorf("clip does not start on a keyframe")
		}
		if !strings.Contains(probe["format"].(map[string]any)["format_name"].(string), "mp4") {
			t.Errorf("clip format %v", probe["format"])
		}

		// The same clip for browsers, with Content-Length and Range.
		u := fmt.Sprintf("%s/api/v1/streams/cam/clip.mp4?start=%s&end=%s", e.URL, from.UTC().Format(time.RFC3339Nano), to.UTC().Format(time.RFC3339Nano))
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		whole, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Content-Length") != strconv.Itoa(len(whole)) {
			t.Fatalf("clip.mp4: %d, Content-Length %s, %d bytes", resp.StatusCode, resp.Header.Get("Content-Length"), len(whole))
		}
		// The same media as GetClip's (a fragmented MP4 of the same
		// fragments): as long, as many frames.
		xprobe := mediatest.FFprobeJSON(t, whole, "-show_format", "-show_frames", "-select_streams", "v", "-show_entries", "frame=key_frame:format=duration")
		xdur, _ := strconv.ParseFloat(xprobe["format"].(map[string]any)["duration"].(string), 64)
		if xf := xprobe["frames"].([]any); math.Abs(xdur-dur) > 0.1 || len(xf) != len(vframes) || xf[0].(map[string]any)["key_frame"].(float64) != 1 {
			t.Errorf("clip.mp4: %.3f s, %d frames; GetClip: %.3f s, %d frames", xdur, len(xf), dur, len(vframes))
		}
		req, _ := http.NewRequest("GET", u, nil)
		req.Header.Set("Range", "bytes=100-199")
		resp, err = http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		part, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(part, whole[100:200]) {
			t.Fatalf("Range: status %d, %d bytes", resp.StatusCode, len(part))
		}
		resp, err = http.Get(e.URL + "/api/v1/streams/cam/clip.mp4?start=yesterday&end=now")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 400 || resp.Header.Get("x-amzn-ErrorType") != "InvalidArgumentException" {
			t.Fatalf("bad times: %d %s", resp.StatusCode, resp.Header.Get("x-amzn-ErrorType"))
		}
	})

	t.Run("events", func(t *testing.T) {
		k := e.Kinesis()
		it, err := k.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String("cam.events"), ShardId: aws.String("shardId-000000000000"), ShardIteratorType: ktypes.ShardIteratorTypeTrimHorizon})
		if err != nil {
			t.Fatal(err)
		}
		recs, err := k.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it.ShardIterator})
		if err != nil {
			t.Fatal(err)
		}
		if len(recs.Records) != len(frags) {
			t.Fatalf("event stream has %d records, want %d", len(recs.Records), len(frags))
		}
		for i, r := range recs.Records {
			var ev struct {
				Type           string `json:"type"`
				FragmentNumber string `json:"fragmentNumber"`
				Producer       int64  `json:"producerTimestamp"`
				Length         int64  `json:"fragmentLengthInMilliseconds"`
				Size           int64  `json:"fragmentSizeInBytes"`
			}
			if err := json.Unmarshal(r.Data, &ev); err != nil {
				t.Fatal(err)
			}
			f := frags[i]
			if ev.Type != "fragment" || ev.FragmentNumber != *f.FragmentNumber || ev.Producer != f.ProducerTimestamp.UnixMilli() ||
				ev.Length != f.FragmentLengthInMilliseconds || ev.Size != f.FragmentSizeInBytes {
				t.Errorf("event %d = %+v, fragment %+v", i, ev, f)
			}
		}
	})
}

// freeUDPPair finds an even UDP port whose successor is free too.
func freeUDPPair(t *testing.T) (string, string) {
	t.Helper()
	for i := 0; i < 100; i++ {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := c.LocalAddr().(*net.UDPAddr).Port
		c.Close()
		if port%2 == 1 {
			port--
		}
		a, err1 := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		b, err2 := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port+1))
		if a != nil {
			a.Close()
		}
		if b != nil {
			b.Close()
		}
		if err1 == nil && err2 == nil {
			return fmt.Sprintf("127.0.0.1:%d", port), fmt.Sprintf("127.0.0.1:%d", port+1)
		}
	}
	t.Fatal("no free UDP port pair")
	return "", ""
}

func TestFFmpegPublish(t *testing.T) {
	mediatest.RequireTool(t, "ffmpeg", "ffprobe")
	t.Parallel()
	rtp, rtcp := freeUDPPair(t)
	e := servertest.Start(t, func(c *server.Config) { c.RTSPUDPRTP, c.RTSPUDPRTCP = rtp, rtcp })
	ctx := servertest.Context(t, time.Minute)
	var wg sync.WaitGroup
	for _, transport := range []string{"tcp", "udp"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.CommandContext(ctx, "ffmpeg", "-v", "error", "-re", "-i", testClip, "-t", "6.5", "-c", "copy",
				"-f", "rtsp", "-rtsp_transport", transport, e.RTSPURL("ff-"+transport))
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("ffmpeg publish over %s: %v: %s", transport, err, out)
			}
		}()
	}
	wg.Wait()
	am := e.ArchivedMedia()
	for _, transport := range []string{"tcp", "udp"} {
		name := "ff-" + transport
		frags := waitFragments(ctx, t, am, name, types.FragmentSelectorTypeServerTimestamp, time.Now().Add(-time.Minute), 3, 5*time.Second)
		if len(frags) < 3 {
			t.Fatalf("%s: %d fragments, want 3 (6.5 s of 2 s GOPs)", name, len(frags))
		}
		from, to := *frags[0].ServerTimestamp, *frags[len(frags)-1].ServerTimestamp
		out, err := am.GetClip(ctx, &kinesisvideoarchivedmedia.GetClipInput{StreamName: aws.String(name),
			ClipFragmentSelector: &types.ClipFragmentSelector{FragmentSelectorType: types.ClipFragmentSelectorTypeServerTimestamp,
				TimestampRange: &types.ClipTimestampRange{StartTimestamp: &from, EndTimestamp: &to}}})
		if err != nil {
			t.Fatal(err)
		}
		clip, _ := io.ReadAll(out.Payload)
		mediatest.FFmpegDecodes(t, clip)
	}
}

// TestRTSPBadInput sends bad publications while a good one runs: each gets
// an RTSP error and the good stream records without a gap.
func TestRTSPBadInput(t *testing.T) {
	mediatest.RequireTool(t, "ffmpeg", "ffprobe")
	t.Parallel()
	e := servertest.Start(t, func(c *server.Config) { c.Video.AutoCreate = true })
	ctx := servertest.Context(t, time.Minute)
	start := time.Now()
	_, _, good := publish(ctx, e.RTSPURL("good"), 8*time.Second, "tcp")
	time.Sleep(500 * time.Millisecond)

	t.Run("second publisher", func(t *testing.T) {
		p := &rtspclient.FilePublisher{URL: e.RTSPURL("good"), File: testClip, Duration: time.Second}
		err := p.Run(ctx)
		if err == nil || !strings.Contains(err.Error(), "40") {
			t.Fatalf("second publisher: %v, want a 4xx RTSP error", err)
		}
	})
	for _, path := range []string{"a/b", "..", "a%2Fb", "x.events"} {
		t.Run("name "+path, func(t *testing.T) {
			p := &rtspclient.FilePublisher{URL: "rtsp://" + e.Server.RTSPAddr() + "/" + path, File: testClip, Duration: time.Second}
			if err := p.Run(ctx); err == nil || !strings.Contains(err.Error(), "40") {
				t.Fatalf("publish to %q: %v, want a 4xx RTSP error", path, err)
			}
		})
	}
	t.Run("unsupported codec", func(t *testing.T) {
		cmd := exec.CommandContext(ctx, "ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=5", "-t", "1",
			"-c:v", "mjpeg", "-f", "rtsp", "-rtsp_transport", "tcp", e.RTSPURL("mjpeg"))
		out, err := cmd.CombinedOutput()
		if err == nil {
			t.Fatalf("MJPEG publication accepted: %s", out)
		}
		t.Logf("ffmpeg said: %s", bytes.TrimSpace(out))
	})
	if err := <-good; err != nil {
		t.Fatalf("good publisher: %v", err)
	}
	am := e.ArchivedMedia()
	frags := waitFragments(ctx, t, am, "good", types.FragmentSelectorTypeServerTimestamp, start, 4, 5*time.Second)
	if len(frags) != 4 {
		t.Fatalf("good stream: %d fragments, want 4", len(frags))
	}
	var total int64
	for _, f := range frags {
		total += f.FragmentLengthInMilliseconds
	}
	if total < 8000-4*40 || total > 8000+4*40 {
		t.Fatalf("good stream recorded %d ms of 8000", total)
	}
}

// TestRTSPPlayAndPull reads a live publication over RTSP PLAY (ffprobe and
// ffmpeg as viewers), and has a second server pull it as a camera source
// and record it.
func TestRTSPPlayAndPull(t *testing.T) {
	mediatest.RequireTool(t, "ffmpeg", "ffprobe")
	t.Parallel()
	a := servertest.Start(t)
	ctx := servertest.Context(t, time.Minute)
	_, _, done := publish(ctx, a.RTSPURL("cam"), 12*time.Second, "tcp")
	time.Sleep(time.Second)

	b := servertest.Start(t, func(c *server.Config) {
		c.Video.Sources = []server.SourceConfig{{Stream: "pulled", URL: a.RTSPURL("cam"), RetentionBytes: 64 << 20}}
	})
	if d, err := b.Server.Videos().Describe("pulled"); err != nil || d.RetentionBytes != 64<<20 {
		t.Fatalf("pulled stream: %+v, %v", d, err)
	}

	// Two live viewers at once.
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.CommandContext(ctx, "ffmpeg", "-v", "error", "-rtsp_transport", "tcp", "-i", a.RTSPURL("cam"), "-t", "3", "-f", "null", "-")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("live viewer: %v: %s", err, out)
			}
		}()
	}
	out, err := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-rtsp_transport", "tcp", "-show_entries", "stream=codec_name", "-of", "csv=p=0", a.RTSPURL("cam")).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "h264") || !strings.Contains(string(out), "aac") {
		t.Errorf("ffprobe of the live stream: %v: %s", err, out)
	}
	wg.Wait()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	am := b.ArchivedMedia()
	frags := waitFragments(ctx, t, am, "pulled", types.FragmentSelectorTypeServerTimestamp, time.Now().Add(-time.Minute), 3, 10*time.Second)
	if len(frags) < 3 {
		t.Fatalf("pulled stream recorded %d fragments, want at least 3", len(frags))
	}
	nums := []string{*frags[0].FragmentNumber, *frags[1].FragmentNumber}
	mkv, err := am.GetMediaForFragmentList(ctx, &kinesisvideoarchivedmedia.GetMediaForFragmentListInput{StreamName: aws.String("pulled"), Fragments: nums})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(mkv.Payload)
	mediatest.FFmpegDecodes(t, body)
}

// TestCodecs publishes H.265+Opus and H.264+G.711 with ffmpeg: both are
// stored, and their clips and MKV decode with the codecs they went in with
// (G.711 is kept as 16-bit PCM).
func TestCodecs(t *testing.T) {
	mediatest.RequireTool(t, "ffmpeg", "ffprobe")
	t.Parallel()
	e := servertest.Start(t)
	ctx := servertest.Context(t, time.Minute)
	cases := []struct {
		stream     string
		args       []string
		video, aud string
	}{
		{"h265-opus", []string{"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-c:v", "libx265",
			"-x265-params", "log-level=error:keyint=50:min-keyint=50:bframes=0", "-c:a", "libopus"}, "hevc", "opus"},
		{"h264-g711", []string{"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=8000", "-c:v", "libx264", "-g", "50", "-bf", "0",
			"-c:a", "pcm_mulaw", "-ar", "8000", "-ac", "1"}, "h264", "pcm_s16be"},
	}
	var wg sync.WaitGroup
	for _, c := range cases {
		wg.Add(1)
		go func() {
			defer wg.Done()
			args := append([]string{"-v", "error", "-re", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25"}, c.args...)
			args = append(args, "-t", "4.5", "-f", "rtsp", "-rtsp_transport", "tcp", e.RTSPURL(c.stream))
			if out, err := exec.CommandContext(ctx, "ffmpeg", args...).CombinedOutput(); err != nil {
				t.Errorf("%s: ffmpeg: %v: %s", c.stream, err, out)
			}
		}()
	}
	wg.Wait()
	am := e.ArchivedMedia()
	for _, c := range cases {
		t.Run(c.stream, func(t *testing.T) {
			frags := waitFragments(ctx, t, am, c.stream, types.FragmentSelectorTypeServerTimestamp, time.Now().Add(-time.Minute), 3, 5*time.Second)
			if len(frags) != 3 {
				t.Fatalf("%d fragments, want 3 (4.5 s of 2 s GOPs)", len(frags))
			}
			from, to := *frags[0].ServerTimestamp, *frags[2].ServerTimestamp
			out, err := am.GetClip(ctx, &kinesisvideoarchivedmedia.GetClipInput{StreamName: aws.String(c.stream),
				ClipFragmentSelector: &types.ClipFragmentSelector{FragmentSelectorType: types.ClipFragmentSelectorTypeServerTimestamp,
					TimestampRange: &types.ClipTimestampRange{StartTimestamp: &from, EndTimestamp: &to}}})
			if err != nil {
				t.Fatal(err)
			}
			clip, _ := io.ReadAll(out.Payload)
			mkvOut, err := am.GetMediaForFragmentList(ctx, &kinesisvideoarchivedmedia.GetMediaForFragmentListInput{StreamName: aws.String(c.stream),
				Fragments: []string{*frags[0].FragmentNumber, *frags[1].FragmentNumber}})
			if err != nil {
				t.Fatal(err)
			}
			mkv, _ := io.ReadAll(mkvOut.Payload)
			for name, data := range map[string][]byte{"clip": clip, "mkv": mkv} {
				mediatest.FFmpegDecodes(t, data)
				codecs := streamCodecs(t, data)
				if len(codecs) != 2 || codecs[0] != c.video || codecs[1] != c.aud {
					t.Errorf("%s codecs %v, want [%s %s]", name, codecs, c.video, c.aud)
				}
			}
		})
	}
}

// TestAutoCreateOff: with video.auto_create off, publishing to an unknown
// stream is refused with 404 and works once the stream exists.
func TestAutoCreateOff(t *testing.T) {
	t.Parallel()
	e := servertest.Start(t, func(c *server.Config) { c.Video.AutoCreate = false })
	ctx := servertest.Context(t, time.Minute)
	p := &rtspclient.FilePublisher{URL: e.RTSPURL("cam"), File: testClip, Duration: 2500 * time.Millisecond}
	if err := p.Run(ctx); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("publish to an unknown stream: %v, want 404", err)
	}
	if _, err := e.KinesisVideo().CreateStream(ctx, &kinesisvideo.CreateStreamInput{StreamName: aws.String("cam"), DataRetentionInHours: aws.Int32(1)}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := p.Run(ctx); err != nil {
		t.Fatalf("publish to a created stream: %v", err)
	}
	am := e.ArchivedMedia()
	frags := waitFragments(ctx, t, am, "cam", types.FragmentSelectorTypeServerTimestamp, start, 2, 5*time.Second)
	if len(frags) != 2 {
		t.Fatalf("%d fragments, want 2", len(frags))
	}
}
