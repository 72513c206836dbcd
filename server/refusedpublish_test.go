package server_test

import (
	"bytes"
	"context"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideoarchivedmedia/types"
	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	pion "github.com/pion/webrtc/v4"

	"github.com/eddy-video/eddy/fragments/mkv"
	"github.com/eddy-video/eddy/media/mediatest"
	"github.com/eddy-video/eddy/media/rtspclient"
	"github.com/eddy-video/eddy/server/servertest"
)

// videoStreams returns the names ListStreams gives, through the AWS SDK.
func videoStreams(ctx context.Context, t *testing.T, e *servertest.Env) []string {
	t.Helper()
	out, err := e.KinesisVideo().ListStreams(ctx, &kinesisvideo.ListStreamsInput{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range out.StreamInfoList {
		names = append(names, *s.StreamName)
	}
	return names
}

// TestRefusedPublishLeavesNoStream: with video.auto_create on, a publish
// that is refused or abandoned after its stream was created (ffmpeg 5.1
// giving up on VP9 at SETUP, an RTSP ANNOUNCE without RECORD, a WHIP
// session deleted before any media, a PutMedia upload whose only cluster
// is refused) leaves no stream behind, nor does one refused before (a WHIP
// offer without a codec Eddy takes); an accepted publish still creates
// its stream, and keeps it. It also checks what the README says of ffmpeg
// 5.1 (Debian 12's) over RTSP: VP9 needs -strict experimental, AV1 cannot
// be sent.
func TestRefusedPublishLeavesNoStream(t *testing.T) {
	mediatest.RequireTool(t, "ffmpeg")
	t.Parallel()
	e := servertest.Start(t)
	ctx := servertest.Context(t, 2*time.Minute)
	gone := func(t *testing.T, name string) {
		t.Helper()
		var names []string
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			if names = videoStreams(ctx, t, e); !slices.Contains(names, name) {
				return
			}
		}
		t.Errorf("stream %s still listed after its publish was refused: %v", name, names)
	}

	t.Run("ffmpeg VP9 without -strict experimental", func(t *testing.T) {
		// ffmpeg 5.1 sends its ANNOUNCE (the stream is created) and only
		// then refuses to packetize VP9.
		out, err := exec.CommandContext(ctx, "ffmpeg", "-v", "error", "-re", "-i", mediatest.Testdata(mediatest.FileVP9), "-c", "copy",
			"-f", "rtsp", "-rtsp_transport", "tcp", e.RTSPURL("vp9-refused")).CombinedOutput()
		if err == nil {
			t.Skipf("this ffmpeg publishes VP9 without -strict experimental: %s", out)
		}
		gone(t, "vp9-refused")
	})

	t.Run("ffmpeg AV1", func(t *testing.T) {
		// ffmpeg 5.1 has no AV1 RTP packetizer: its SDP names no AV1
		// clock rate, and the ANNOUNCE is refused (400) before any stream
		// is created, with -strict experimental too.
		out, err := exec.CommandContext(ctx, "ffmpeg", "-v", "error", "-re", "-i", mediatest.Testdata(mediatest.FileAV1), "-c", "copy",
			"-strict", "experimental", "-f", "rtsp", "-rtsp_transport", "tcp", e.RTSPURL("av1-refused")).CombinedOutput()
		if err == nil {
			t.Skipf("this ffmpeg publishes AV1 over RTSP: %s", out)
		}
		if !strings.Contains(string(out), "400 Bad Request") {
			t.Errorf("ffmpeg AV1: %v: %s, want the ANNOUNCE refused with 400", err, out)
		}
		gone(t, "av1-refused")
	})

	t.Run("ffmpeg VP9 with -strict experimental", func(t *testing.T) {
		start := time.Now()
		out, err := exec.CommandContext(ctx, "ffmpeg", "-v", "error", "-re", "-i", mediatest.Testdata(mediatest.FileVP9), "-c", "copy",
			"-strict", "experimental", "-f", "rtsp", "-rtsp_transport", "tcp", e.RTSPURL("vp9-strict")).CombinedOutput()
		if err != nil {
			t.Fatalf("ffmpeg VP9 with -strict experimental: %v: %s", err, out)
		}
		if frags := waitFragments(ctx, t, e.ArchivedMedia(), "vp9-strict", types.FragmentSelectorTypeServerTimestamp, start, 1, 5*time.Second); len(frags) == 0 {
			t.Error("VP9 published with -strict experimental recorded nothing")
		}
	})

	t.Run("RTSP ANNOUNCE without RECORD", func(t *testing.T) {
		f := &format.H264{PayloadTyp: 96, SPS: mediatest.H264SPS, PPS: mediatest.H264PPS, PacketizationMode: 1}
		desc := &description.Session{Medias: []*description.Media{{Type: description.MediaTypeVideo, Formats: []format.Format{f}}}}
		u, err := base.ParseURL(e.RTSPURL("announce-only"))
		if err != nil {
			t.Fatal(err)
		}
		tcp := gortsplib.TransportTCP
		c := &gortsplib.Client{Scheme: u.Scheme, Host: u.Host, Transport: &tcp}
		if err := c.Start2(); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Announce(u, desc); err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(videoStreams(ctx, t, e), "announce-only") {
			t.Error("ANNOUNCE did not create the stream (auto_create)")
		}
		c.Close()
		gone(t, "announce-only")
	})

	t.Run("WHIP offer without a codec Eddy takes", func(t *testing.T) {
		g722 := offerSDP(t, []pion.RTPCodecParameters{{RTPCodecCapability: pion.RTPCodecCapability{MimeType: pion.MimeTypeG722, ClockRate: 8000}, PayloadType: 9}},
			pion.RTPTransceiverDirectionSendonly)
		if status, _, body := post(t, e.URL+"/webrtc/whip-nocodec/whip", "application/sdp", g722); status != 400 {
			t.Fatalf("WHIP: %d %s, want 400", status, body)
		}
		gone(t, "whip-nocodec")
	})

	t.Run("WHIP session deleted before any media", func(t *testing.T) {
		h264 := offerSDP(t, []pion.RTPCodecParameters{{RTPCodecCapability: pion.RTPCodecCapability{MimeType: pion.MimeTypeH264, ClockRate: 90000,
			SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"}, PayloadType: 102}}, pion.RTPTransceiverDirectionSendonly)
		status, hdr, body := post(t, e.URL+"/webrtc/whip-abandoned/whip", "application/sdp", h264)
		if status != 201 {
			t.Fatalf("WHIP: %d %s, want 201", status, body)
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodDelete, e.URL+hdr.Get("Location"), nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		gone(t, "whip-abandoned")
	})

	t.Run("PutMedia whose only cluster is refused", func(t *testing.T) {
		src := clipFragments(t, 2)
		f := cloneFragment(src[0])
		var video uint64
		for _, tr := range f.Tracks {
			if tr.Type == mkv.Video {
				video = tr.Number
			}
		}
		for i := range f.Frames { // the keyframe goes: the cluster does not start on one
			if f.Frames[i].Track == video {
				f.Frames = slices.Delete(f.Frames, i, i+1)
				break
			}
		}
		s, err := putMedia(ctx, t, e.URL, pmRequest{stream: "pm-refused", timecode: "RELATIVE"}, bytes.NewReader(writeDocs(t, []*mkv.Fragment{f})))
		if err != nil {
			t.Fatal(err)
		}
		if acks := ackSummary(s.Wait(t, 30*time.Second)); !slices.Contains(acks, "ERROR 4006") {
			t.Errorf("acks %v, want ERROR 4006", acks)
		}
		gone(t, "pm-refused")
	})

	t.Run("accepted publish", func(t *testing.T) {
		start := time.Now()
		p := &rtspclient.FilePublisher{URL: e.RTSPURL("accepted"), File: testClip, Duration: 2500 * time.Millisecond}
		if err := p.Run(ctx); err != nil {
			t.Fatal(err)
		}
		frags := waitFragments(ctx, t, e.ArchivedMedia(), "accepted", types.FragmentSelectorTypeServerTimestamp, start, 2, 5*time.Second)
		if len(frags) < 1 {
			t.Fatal("the accepted publish recorded nothing")
		}
		time.Sleep(500 * time.Millisecond)
		if names := videoStreams(ctx, t, e); !slices.Contains(names, "accepted") {
			t.Errorf("the accepted publish's stream went: %v", names)
		}
	})
}
