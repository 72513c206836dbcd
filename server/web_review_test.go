package server_test

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo"

	"github.com/eddy-video/eddy/media/mediatest"
	"github.com/eddy-video/eddy/media/rtspclient"
	"github.com/eddy-video/eddy/server/servertest"
)

// TestWebUIReview drives the stream view in headless Chromium
// (web/test/review.mjs) at desktop and phone sizes: a stream whose camera
// went offline opens on its last recorded minute (its last frame as the
// poster, "Offline — last recorded …") and goes live when the camera
// comes back (or offers to, while the user reviews the archive), and says
// it is offline (offering its last minute) when the camera stops while
// watched live; a second offline stream opened from the wall plays its own
// last minute, even with a producer clock hours off; leaving the view while
// the archive loads plays nothing; a stream
// never published says how to publish to it, and plays once it is; the
// review controls (thumbnails and event markers, speed, previous and next
// event, the day picker, keyboard and playhead scrubbing, the selection
// and its buttons); and an H.265 stream in a browser that cannot decode
// it gets a sentence saying so instead of a player error.
func TestWebUIReview(t *testing.T) {
	node, chromium := needBrowser(t)
	mediatest.RequireTool(t, "ffmpeg")
	e := servertest.Start(t)
	ctx := servertest.Context(t, 4*time.Minute)

	// 40 s of the test clip on "cam", an H.265 recording on "h265" (when
	// ffmpeg has libx265), and "empty", created and never published.
	camDone := make(chan error, 1)
	go func() {
		p := &rtspclient.FilePublisher{URL: e.RTSPURL("cam"), File: testClip, Loop: true, Duration: 40 * time.Second}
		camDone <- p.Run(ctx)
	}()
	h265 := "h265"
	h265Skip := ""
	if out, err := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-encoders").Output(); err != nil || !strings.Contains(string(out), "libx265") {
		h265, h265Skip = "", "this ffmpeg has no libx265 encoder"
		if err != nil {
			h265Skip = "ffmpeg -encoders: " + err.Error()
		}
	} else {
		args := []string{"-v", "error", "-re", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-c:v", "libx265",
			"-x265-params", "log-level=error:keyint=25:min-keyint=25:bframes=0", "-t", "5",
			"-f", "rtsp", "-rtsp_transport", "tcp", e.RTSPURL(h265)}
		if out, err := exec.CommandContext(ctx, "ffmpeg", args...).CombinedOutput(); err != nil {
			t.Fatalf("ffmpeg H.265: %v: %s", err, out)
		}
	}
	if h265Skip != "" {
		t.Logf("the H.265 part is skipped: %s", h265Skip)
	}
	if _, err := e.KinesisVideo().CreateStream(ctx, &kinesisvideo.CreateStreamInput{StreamName: aws.String("empty"), DataRetentionInHours: aws.Int32(24)}); err != nil {
		t.Fatal(err)
	}
	if err := <-camDone; err != nil {
		t.Fatalf("publisher: %v", err)
	}
	// "old": a minute recorded by a producer whose clock is five hours
	// behind the server's (PutMedia with its own timecodes): its media is
	// addressed by that clock, its last activity shown by the server's.
	longArchive(ctx, t, e, "old", time.Now().Add(-5*time.Hour).Truncate(time.Millisecond), 1)

	// Events at 8, 18 and 28 s into the recording (producer time).
	frags := listAllFragments(ctx, t, e, "cam")
	if len(frags) < 10 {
		t.Fatalf("%d fragments of 40 s", len(frags))
	}
	t0 := *frags[0].ProducerTimestamp
	evs := []uiEvent{
		{Type: "detection", Label: "car", Score: 0.9, Duration: 1},
		{Type: "detection", Label: "person", Score: 0.8, Duration: 1},
		{Type: "detection", Label: "car", Score: 0.7, Duration: 1},
	}
	for i := range evs {
		evs[i].Time = t0.Add(time.Duration(8+10*i) * time.Second).UTC().Format(time.RFC3339Nano)
	}
	if err := putUIEvents(ctx, e.Kinesis(), "cam", evs); err != nil {
		t.Fatal(err)
	}
	want, err := json.Marshal(evs)
	if err != nil {
		t.Fatal(err)
	}
	clip, err := filepath.Abs(testClip)
	if err != nil {
		t.Fatal(err)
	}
	rtspBase := strings.TrimSuffix(e.RTSPURL("x"), "/x")
	runBrowserTest(ctx, t, node, chromium, "test/review.mjs", "EDDY_URL="+e.URL, "EDDY_STREAM=cam", "EDDY_OLD=old", "EDDY_EMPTY=empty",
		"EDDY_H265="+h265, "EDDY_H265_SKIP="+h265Skip, "EDDY_EVENTS="+string(want), "EDDY_RTSP="+rtspBase, "EDDY_CLIP="+clip)
}
