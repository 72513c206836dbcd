package server_test

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideoarchivedmedia"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideoarchivedmedia/types"

	"github.com/eddy-video/eddy/media/mediatest"
	"github.com/eddy-video/eddy/server/servertest"
)

// codecTags returns ffprobe's codec_name/codec_tag_string of each stream of data.
func codecTags(t *testing.T, data []byte) []string {
	t.Helper()
	v := mediatest.FFprobeJSON(t, data, "-show_entries", "stream=codec_name,codec_tag_string")
	var out []string
	streams, _ := v["streams"].([]any)
	for _, s := range streams {
		m, _ := s.(map[string]any)
		out = append(out, m["codec_name"].(string)+"/"+m["codec_tag_string"].(string))
	}
	return out
}

// TestH265HVC1 publishes H.265 with ffmpeg: the GetClip MP4 and the HLS
// init segment carry an hvc1 sample entry (what the master playlist's
// CODECS says, and what Apple's players need), and both decode.
func TestH265HVC1(t *testing.T) {
	mediatest.RequireTool(t, "ffmpeg", "ffprobe")
	t.Parallel()
	e := servertest.Start(t)
	ctx := servertest.Context(t, time.Minute)
	out, err := exec.CommandContext(ctx, "ffmpeg", "-v", "error", "-re", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25",
		"-c:v", "libx265", "-x265-params", "log-level=error:keyint=25:min-keyint=25:bframes=0",
		"-t", "3.5", "-f", "rtsp", "-rtsp_transport", "tcp", e.RTSPURL("h265")).CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg: %v: %s", err, out)
	}
	am := e.ArchivedMedia()
	frags := waitFragments(ctx, t, am, "h265", types.FragmentSelectorTypeServerTimestamp, time.Now().Add(-time.Minute), 3, 5*time.Second)
	if len(frags) < 3 {
		t.Fatalf("%d fragments, want 3", len(frags))
	}
	first, last := *frags[0].ServerTimestamp, *frags[len(frags)-1].ServerTimestamp

	t.Run("GetClip", func(t *testing.T) {
		clip := getClip(ctx, t, am, "h265", first, last)
		if got := codecTags(t, clip); len(got) != 1 || got[0] != "hevc/hvc1" {
			t.Errorf("clip streams %v, want [hevc/hvc1]", got)
		}
		mediatest.FFmpegDecodes(t, clip)
	})

	t.Run("HLS", func(t *testing.T) {
		s, err := am.GetHLSStreamingSessionURL(ctx, &kinesisvideoarchivedmedia.GetHLSStreamingSessionURLInput{StreamName: aws.String("h265"),
			PlaybackMode: types.HLSPlaybackModeOnDemand, ContainerFormat: types.ContainerFormatFragmentedMp4,
			HLSFragmentSelector: &types.HLSFragmentSelector{FragmentSelectorType: types.HLSFragmentSelectorTypeServerTimestamp,
				TimestampRange: &types.HLSTimestampRange{StartTimestamp: &first, EndTimestamp: &last}}})
		if err != nil {
			t.Fatal(err)
		}
		_, _, master := httpGet(t, *s.HLSStreamingSessionURL)
		_, codecs, ok := strings.Cut(master, `CODECS="`)
		if !ok || !strings.HasPrefix(codecs, "hvc1.") {
			t.Fatalf("master playlist does not advertise hvc1:\n%s", master)
		}
		mediaURL := playlistURIs(*s.HLSStreamingSessionURL, master)[0]
		_, _, playlist := httpGet(t, mediaURL)
		_, mapURI, ok := strings.Cut(playlist, `#EXT-X-MAP:URI="`)
		if !ok {
			t.Fatalf("no EXT-X-MAP:\n%s", playlist)
		}
		mapURI, _, _ = strings.Cut(mapURI, `"`)
		dir := mediaURL[:strings.LastIndex(mediaURL, "/")+1]
		status, _, init := httpGet(t, dir+mapURI)
		if status != 200 {
			t.Fatalf("init segment: %d", status)
		}
		// The sample entry is what CODECS names.
		if !strings.Contains(init, "hvc1") || strings.Contains(init, "hev1") {
			t.Errorf("init segment sample entry is not hvc1")
		}
		var whole bytes.Buffer
		whole.WriteString(init)
		for _, u := range playlistURIs(mediaURL, playlist) {
			status, _, seg := httpGet(t, u)
			if status != 200 {
				t.Fatalf("segment %s: %d", u, status)
			}
			whole.WriteString(seg)
		}
		if got := codecTags(t, whole.Bytes()); len(got) != 1 || got[0] != "hevc/hvc1" {
			t.Errorf("HLS init+segments streams %v, want [hevc/hvc1]", got)
		}
		mediatest.FFmpegDecodes(t, whole.Bytes())
	})
}
