package server_test

import (
	"encoding/json"
	"math"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideoarchivedmedia"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideoarchivedmedia/types"

	"github.com/eddy-video/eddy/media/mediatest"
	"github.com/eddy-video/eddy/server/servertest"
)

// TestHLSMPEGTS plays an ON_DEMAND session with ContainerFormat MPEG_TS
// through ffprobe and ffmpeg.
func TestHLSMPEGTS(t *testing.T) {
	mediatest.RequireTool(t, "ffmpeg", "ffprobe")
	t.Parallel()
	e := servertest.Start(t)
	ctx := servertest.Context(t, time.Minute)
	_, _, done := publish(ctx, e.RTSPURL("cam"), 7*time.Second, "tcp")
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	am := e.ArchivedMedia()
	frags := waitFragments(ctx, t, am, "cam", types.FragmentSelectorTypeProducerTimestamp, time.Now().Add(-time.Minute), 4, 5*time.Second)
	if len(frags) != 4 {
		t.Fatalf("%d fragments, want 4", len(frags))
	}
	from, to := *frags[0].ProducerTimestamp, *frags[3].ProducerTimestamp
	od, err := am.GetHLSStreamingSessionURL(ctx, &kinesisvideoarchivedmedia.GetHLSStreamingSessionURLInput{StreamName: aws.String("cam"),
		PlaybackMode: types.HLSPlaybackModeOnDemand, ContainerFormat: types.ContainerFormatMpegTs,
		HLSFragmentSelector: &types.HLSFragmentSelector{FragmentSelectorType: types.HLSFragmentSelectorTypeProducerTimestamp,
			TimestampRange: &types.HLSTimestampRange{StartTimestamp: &from, EndTimestamp: &to}}})
	if err != nil {
		t.Fatal(err)
	}
	_, _, master := httpGet(t, *od.HLSStreamingSessionURL)
	mediaURL := playlistURIs(*od.HLSStreamingSessionURL, master)[0]
	_, _, media := httpGet(t, mediaURL)
	t.Logf("MPEG_TS media playlist:\n%s", media)
	if !strings.Contains(media, "#EXT-X-VERSION:3\n") || strings.Contains(media, "#EXT-X-MAP") ||
		strings.Count(media, "getTSFragment.ts?SessionToken=") != 4 || !strings.Contains(media, "#EXT-X-ENDLIST") {
		t.Errorf("MPEG_TS media playlist structure")
	}
	segs := playlistURIs(mediaURL, media)
	status, hdr, seg := httpGet(t, segs[0])
	if status != 200 || hdr.Get("Content-Type") != "video/mp2t" || hdr.Get("Content-Length") != strconv.Itoa(len(seg)) ||
		hdr.Get("Access-Control-Allow-Origin") != "*" || len(seg)%188 != 0 || seg[0] != 0x47 {
		t.Errorf("TS segment: %d, %v", status, hdr)
	}
	// An fMP4 session's token does not open TS segments.
	fm, err := am.GetHLSStreamingSessionURL(ctx, &kinesisvideoarchivedmedia.GetHLSStreamingSessionURLInput{StreamName: aws.String("cam"),
		PlaybackMode: types.HLSPlaybackModeOnDemand,
		HLSFragmentSelector: &types.HLSFragmentSelector{FragmentSelectorType: types.HLSFragmentSelectorTypeProducerTimestamp,
			TimestampRange: &types.HLSTimestampRange{StartTimestamp: &from, EndTimestamp: &to}}})
	if err != nil {
		t.Fatal(err)
	}
	ftok := strings.SplitN(*fm.HLSStreamingSessionURL, "SessionToken=", 2)[1]
	if s, _, _ := httpGet(t, mediaURL[:strings.LastIndex(mediaURL, "/")+1]+"getTSFragment.ts?SessionToken="+ftok+"&FragmentNumber="+*frags[0].FragmentNumber); s != 400 {
		t.Errorf("TS segment with an fMP4 token: %d, want 400", s)
	}

	out := mediatest.FFprobe(ctx, t, *od.HLSStreamingSessionURL, "-show_entries", "format=duration:stream=codec_name", "-of", "json")
	var probe struct {
		Streams []struct {
			CodecName string `json:"codec_name"`
		} `json:"streams"`
		Format struct {
			Duration string `json:"duration"`
		} `json:"format"`
	}
	if err := json.Unmarshal(out, &probe); err != nil {
		t.Fatalf("ffprobe: %v: %s", err, out)
	}
	var codecs []string
	for _, st := range probe.Streams {
		codecs = append(codecs, st.CodecName)
	}
	dur, _ := strconv.ParseFloat(probe.Format.Duration, 64)
	if strings.Join(codecs, ",") != "h264,aac" {
		t.Errorf("ffprobe codecs %v, want h264,aac", codecs)
	}
	if math.Abs(dur-7) > 0.3 {
		t.Errorf("ffprobe duration %.3f, want 7 s", dur)
	}
	if out, err := exec.CommandContext(ctx, "ffmpeg", "-v", "error", "-i", *od.HLSStreamingSessionURL, "-f", "null", "-").CombinedOutput(); err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("ffmpeg decode: %v:\n%s", err, out)
	}
}
