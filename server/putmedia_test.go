package server_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideoarchivedmedia"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideoarchivedmedia/types"

	"github.com/eddy-video/eddy/fragments"
	"github.com/eddy-video/eddy/media/mediatest"
	"github.com/eddy-video/eddy/server"
	"github.com/eddy-video/eddy/server/servertest"
)

// checkPersisted checks a PutMedia session that went well: every
// uploaded cluster acked BUFFERING, RECEIVED, PERSISTED in that order with
// its timecode; ListFragments lists exactly the PERSISTED fragment
// numbers, each with the producer timestamp base + the cluster's first
// video frame; and GetClip of them decodes as H.264 and AAC.
func checkPersisted(ctx context.Context, t *testing.T, am *kinesisvideoarchivedmedia.Client, stream string, acks []pmAck, clusters []clusterInfo, base time.Time) {
	t.Helper()
	if len(clusters) < 2 {
		t.Fatalf("only %d clusters uploaded", len(clusters))
	}
	byTC := map[int64][]string{}
	numbers := map[string]clusterInfo{}
	clusterOf := map[int64]clusterInfo{}
	for _, c := range clusters {
		clusterOf[c.TimecodeMs] = c
	}
	for _, a := range acks {
		if a.EventType == "IDLE" {
			continue
		}
		if a.FragmentTimecode == nil {
			t.Fatalf("ack %+v without FragmentTimecode", a)
		}
		c, ok := clusterOf[*a.FragmentTimecode]
		if !ok {
			t.Fatalf("ack %+v for no uploaded cluster", a)
		}
		byTC[c.TimecodeMs] = append(byTC[c.TimecodeMs], a.short())
		if a.EventType == "PERSISTED" {
			if _, dup := numbers[a.FragmentNumber]; dup || a.FragmentNumber == "" {
				t.Errorf("PERSISTED fragment number %q empty or repeated", a.FragmentNumber)
			}
			numbers[a.FragmentNumber] = c
		}
	}
	for _, c := range clusters {
		if got := byTC[c.TimecodeMs]; !slices.Equal(got, []string{"BUFFERING", "RECEIVED", "PERSISTED"}) {
			t.Errorf("cluster %d ms: acks %v, want BUFFERING, RECEIVED, PERSISTED", c.TimecodeMs, got)
		}
	}
	frags := waitFragments(ctx, t, am, stream, types.FragmentSelectorTypeServerTimestamp, time.Now().Add(-time.Hour), len(numbers), 5*time.Second)
	if len(frags) != len(numbers) {
		t.Fatalf("ListFragments: %d fragments, %d acked PERSISTED", len(frags), len(numbers))
	}
	var first, last time.Time
	for _, f := range frags {
		c, ok := numbers[*f.FragmentNumber]
		if !ok {
			t.Errorf("ListFragments lists %s, never acked", *f.FragmentNumber)
			continue
		}
		wantTS := base.Add(c.Timecode + c.VideoStart)
		if d := f.ProducerTimestamp.Sub(wantTS); d < -time.Millisecond || d > time.Millisecond {
			t.Errorf("fragment %s (cluster %d ms): producer timestamp %v, want %v", *f.FragmentNumber, c.TimecodeMs, f.ProducerTimestamp.UTC(), wantTS.UTC())
		}
		if first.IsZero() || f.ServerTimestamp.Before(first) {
			first = *f.ServerTimestamp
		}
		if f.ServerTimestamp.After(last) {
			last = *f.ServerTimestamp
		}
	}
	clip := getClip(ctx, t, am, stream, first, last)
	if codecs := streamCodecs(t, clip); !slices.Equal(codecs, []string{"h264", "aac"}) {
		t.Errorf("GetClip streams %v, want h264 and aac", codecs)
	}
	mediatest.FFmpegDecodes(t, clip)
}

// TestPutMediaFFmpeg: ffmpeg's Matroska (H.264 + AAC copied from the test
// clip, one cluster per GOP) piped into a chunked POST /putMedia, over
// HTTP/1.1 in real time with an RTSP viewer watching the stream live, and
// over HTTP/2 (cleartext, prior knowledge) as fast as the server takes it:
// every fragment acked PERSISTED, listed one for one, at the producer
// timestamps of RELATIVE timecodes from the producer start timestamp.
func TestPutMediaFFmpeg(t *testing.T) {
	mediatest.RequireTool(t, "ffmpeg", "ffprobe")
	e := servertest.Start(t)
	for _, c := range []struct {
		name string
		h2c  bool
		re   bool
	}{{"http1-live", false, true}, {"h2c", true, false}} {
		t.Run(c.name, func(t *testing.T) {
			ctx := servertest.Context(t, 60*time.Second)
			stream := "pm-ffmpeg-" + c.name
			createVideoStream(ctx, t, e.KinesisVideo(), stream)
			base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
			body, sent := ffmpegMKV(ctx, t, 8, c.re)
			s, err := putMedia(ctx, t, e.URL, pmRequest{stream: stream, timecode: "RELATIVE", h2c: c.h2c,
				start: unixSeconds(base)}, body)
			if err != nil {
				t.Fatal(err)
			}
			if s.Resp.StatusCode != 200 {
				t.Fatalf("status %d", s.Resp.StatusCode)
			}
			if wantProto := map[bool]int{false: 1, true: 2}[c.h2c]; s.Resp.ProtoMajor != wantProto {
				t.Fatalf("answered over HTTP/%d, want HTTP/%d", s.Resp.ProtoMajor, wantProto)
			}
			if c.re {
				mediatest.WaitFor(t, "the first PERSISTED ack", func() bool { return slices.Contains(ackSummary(s.Acks()), "PERSISTED") })
				n, err := gortsplibPlay(e.RTSPURL(stream), nil)
				if err != nil || n == 0 {
					t.Fatalf("RTSP viewer during PutMedia: %d packets, %v", n, err)
				}
			}
			acks := s.Wait(t, 40*time.Second)
			checkPersisted(ctx, t, e.ArchivedMedia(), stream, acks, uploadedClusters(t, sent.Bytes()), base)
		})
	}
}

// unixSeconds formats t as x-amzn-producer-start-timestamp: Unix seconds
// with a millisecond fraction.
func unixSeconds(t time.Time) string {
	ms := t.UnixMilli()
	return fmt.Sprintf("%d.%03d", ms/1000, ms%1000)
}

// TestPutMediaGStreamerAuth: GStreamer's matroskamux piped into a POST
// /putMedia signed with SigV4 (the AWS SDK's v4 signer, payload signed as
// the empty payload, as producers do) on a server with credentials, with
// ABSOLUTE timecodes (the cluster timecodes are producer time): every
// fragment acked PERSISTED and listed at its producer time. An unsigned
// request and an identity without kinesisvideo:PutMedia are refused
// before anything is read, in the Kinesis Video error shape.
func TestPutMediaGStreamerAuth(t *testing.T) {
	mediatest.RequireTool(t, "gst-launch-1.0", "ffmpeg", "ffprobe")
	e := startKVSAuthServer(t)
	ctx := servertest.Context(t, 90*time.Second)
	const stream = "cam-pm-gst"
	createVideoStream(ctx, t, e.KinesisVideo(kvAs(kvsAdmin)), stream)

	for _, c := range []struct {
		name  string
		creds *aws.Credentials
		code  string
	}{{"unsigned", nil, "MissingAuthenticationTokenException"}, {"not allowed", &kvsReader, "AccessDeniedException"}} {
		s, err := putMedia(ctx, t, e.URL, pmRequest{stream: stream, timecode: "ABSOLUTE", creds: c.creds}, strings.NewReader("never read"))
		if err != nil {
			t.Fatal(err)
		}
		if got := s.Resp.Header.Get("x-amzn-ErrorType"); s.Resp.StatusCode != http.StatusForbidden || got != c.code {
			t.Errorf("%s: %d %s, want 403 %s", c.name, s.Resp.StatusCode, got, c.code)
		}
	}

	base := time.Now().Add(-10 * time.Minute).Truncate(time.Second)
	body, sent := gstMKV(ctx, t, time.Duration(base.UnixNano()))
	s, err := putMedia(ctx, t, e.URL, pmRequest{stream: stream, timecode: "ABSOLUTE", creds: &kvsAdmin}, body)
	if err != nil {
		t.Fatal(err)
	}
	if s.Resp.StatusCode != 200 {
		t.Fatalf("status %d", s.Resp.StatusCode)
	}
	acks := s.Wait(t, 60*time.Second)
	clusters := uploadedClusters(t, sent.Bytes())
	if len(clusters) != 10 || clusters[0].Timecode != time.Duration(base.UnixNano()) {
		t.Fatalf("GStreamer uploaded %d clusters from %v, want 10 from %v", len(clusters), clusters[0].Timecode, time.Duration(base.UnixNano()))
	}
	checkPersisted(ctx, t, e.ArchivedMedia(amAs(kvsAdmin)), stream, acks, clusters, time.Unix(0, 0))
}

// TestPutMediaTLS: PutMedia over HTTPS, HTTP/2 negotiated by ALPN: the
// acks stream back on the same stream while the upload goes on, every
// cluster PERSISTED.
func TestPutMediaTLS(t *testing.T) {
	mediatest.RequireTool(t, "ffmpeg")
	certFile, keyFile, roots := servertest.SelfSignedCert(t)
	e := servertest.Start(t, func(c *server.Config) { c.TLSCert, c.TLSKey = certFile, keyFile })
	ctx := servertest.Context(t, 60*time.Second)
	const stream = "pm-tls"
	if _, err := e.Server.Videos().CreateStream(stream, fragments.CreateOptions{RetentionHours: 24}); err != nil {
		t.Fatal(err)
	}
	body, sent := ffmpegMKV(ctx, t, 8, false)
	s, err := putMedia(ctx, t, e.URL, pmRequest{stream: stream, timecode: "RELATIVE", roots: roots}, body)
	if err != nil {
		t.Fatal(err)
	}
	if s.Resp.StatusCode != 200 || s.Resp.ProtoMajor != 2 || s.Resp.TLS == nil {
		t.Fatalf("status %d over HTTP/%d (TLS %v), want 200 over HTTP/2 with TLS", s.Resp.StatusCode, s.Resp.ProtoMajor, s.Resp.TLS != nil)
	}
	acks := s.Wait(t, 30*time.Second)
	clusters := uploadedClusters(t, sent.Bytes())
	if got := ackSummary(acks); len(clusters) < 4 || !slices.Equal(got, slices.Repeat([]string{"PERSISTED"}, len(clusters))) {
		t.Fatalf("acks %v for %d clusters, want each PERSISTED", got, len(clusters))
	}
}
