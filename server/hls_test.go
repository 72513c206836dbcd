package server_test

import (
	"io"
	"math"
	"net/http"
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

func httpGet(t *testing.T, u string) (int, http.Header, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// playlistURIs returns the URI lines of a playlist, resolved against base.
func playlistURIs(base, body string) []string {
	dir := base[:strings.LastIndex(base, "/")+1]
	var out []string
	for _, l := range strings.Split(body, "\n") {
		if l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, dir+l)
		}
	}
	return out
}

func TestHLSSessions(t *testing.T) {
	mediatest.RequireTool(t, "ffmpeg", "ffprobe")
	t.Parallel()
	clk := servertest.NewClock(time.Now())
	e := servertest.StartWithClock(t, servertest.Config(t), clk)
	ctx := servertest.Context(t, time.Minute)
	_, _, done := publish(ctx, e.RTSPURL("cam"), 7*time.Second, "tcp")
	am := e.ArchivedMedia()

	// LIVE while publishing.
	var live *kinesisvideoarchivedmedia.GetHLSStreamingSessionURLOutput
	var err error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if live, err = am.GetHLSStreamingSessionURL(ctx, &kinesisvideoarchivedmedia.GetHLSStreamingSessionURLInput{StreamName: aws.String("cam")}); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("LIVE session: %v", err)
	}
	status, _, master := httpGet(t, *live.HLSStreamingSessionURL)
	if status != 200 || !strings.Contains(master, "#EXT-X-STREAM-INF:BANDWIDTH=") || !strings.Contains(master, `CODECS="avc1.4d`) || !strings.Contains(master, "mp4a.40.2") {
		t.Fatalf("LIVE master (%d):\n%s", status, master)
	}
	mediaURL := playlistURIs(*live.HLSStreamingSessionURL, master)[0]
	_, hdr, media := httpGet(t, mediaURL)
	if hdr.Get("Access-Control-Allow-Origin") != "*" || hdr.Get("Content-Type") != "application/vnd.apple.mpegurl" {
		t.Errorf("media playlist headers: %v", hdr)
	}
	if strings.Contains(media, "#EXT-X-ENDLIST") || !strings.Contains(media, "#EXT-X-MAP:URI=") || !strings.Contains(media, "#EXTINF:") {
		t.Fatalf("LIVE media playlist:\n%s", media)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	// ON_DEMAND over the whole publication.
	frags := waitFragments(ctx, t, am, "cam", types.FragmentSelectorTypeProducerTimestamp, time.Now().Add(-time.Minute), 4, 5*time.Second)
	if len(frags) != 4 {
		t.Fatalf("%d fragments, want 4", len(frags))
	}
	from, to := *frags[0].ProducerTimestamp, *frags[3].ProducerTimestamp
	od, err := am.GetHLSStreamingSessionURL(ctx, &kinesisvideoarchivedmedia.GetHLSStreamingSessionURLInput{StreamName: aws.String("cam"),
		PlaybackMode: types.HLSPlaybackModeOnDemand, DisplayFragmentTimestamp: types.HLSDisplayFragmentTimestampAlways,
		HLSFragmentSelector: &types.HLSFragmentSelector{FragmentSelectorType: types.HLSFragmentSelectorTypeProducerTimestamp,
			TimestampRange: &types.HLSTimestampRange{StartTimestamp: &from, EndTimestamp: &to}}})
	if err != nil {
		t.Fatal(err)
	}
	_, _, master = httpGet(t, *od.HLSStreamingSessionURL)
	mediaURL = playlistURIs(*od.HLSStreamingSessionURL, master)[0]
	_, _, media = httpGet(t, mediaURL)
	t.Logf("ON_DEMAND media playlist:\n%s", media)
	for _, want := range []string{"#EXT-X-PLAYLIST-TYPE:VOD", "#EXT-X-ENDLIST", "#EXT-X-TARGETDURATION:2", "#EXT-X-PROGRAM-DATE-TIME:"} {
		if !strings.Contains(media, want) {
			t.Errorf("ON_DEMAND playlist lacks %s", want)
		}
	}
	// PRODUCER_TIMESTAMP defaults to DiscontinuityMode NEVER: one map, no discontinuity.
	if strings.Count(media, "#EXTINF:") != 4 || strings.Count(media, "#EXT-X-MAP:") != 1 || strings.Contains(media, "#EXT-X-DISCONTINUITY\n") {
		t.Errorf("ON_DEMAND playlist structure")
	}
	var total float64
	for _, l := range strings.Split(media, "\n") {
		if v, ok := strings.CutPrefix(l, "#EXTINF:"); ok {
			f, _ := strconv.ParseFloat(strings.TrimSuffix(v, ","), 64)
			total += f
		}
	}
	if math.Abs(total-7) > 0.2 {
		t.Errorf("EXTINF total %.3f s, want 7", total)
	}
	// ffprobe reads the whole session through the master playlist.
	out := mediatest.FFprobe(ctx, t, *od.HLSStreamingSessionURL, "-show_entries", "format=duration", "-of", "csv=p=0")
	if d, _ := strconv.ParseFloat(strings.TrimSpace(string(out)), 64); math.Abs(d-7) > 0.3 {
		t.Errorf("ffprobe duration %q, want 7 s", out)
	}
	segs := playlistURIs(mediaURL, media)
	status, hdr, seg := httpGet(t, segs[0])
	if status != 200 || hdr.Get("Content-Length") != strconv.Itoa(len(seg)) || !strings.Contains(seg[:64], "moof") {
		t.Errorf("segment: %d, %v", status, hdr)
	}

	t.Run("token scope", func(t *testing.T) {
		// A fragment outside the session's range.
		sess := strings.SplitN(segs[0], "SessionToken=", 2)[1]
		tok := strings.SplitN(sess, "&", 2)[0]
		out := mediaURL[:strings.LastIndex(mediaURL, "/")+1] + "getMP4MediaFragment.mp4?SessionToken=" + tok + "&FragmentNumber=" + *frags[0].FragmentNumber
		if s, _, _ := httpGet(t, out); s != 200 {
			t.Errorf("in-range fragment: %d", s)
		}
		narrow, err := am.GetHLSStreamingSessionURL(ctx, &kinesisvideoarchivedmedia.GetHLSStreamingSessionURLInput{StreamName: aws.String("cam"),
			PlaybackMode: types.HLSPlaybackModeOnDemand,
			HLSFragmentSelector: &types.HLSFragmentSelector{FragmentSelectorType: types.HLSFragmentSelectorTypeProducerTimestamp,
				TimestampRange: &types.HLSTimestampRange{StartTimestamp: frags[2].ProducerTimestamp, EndTimestamp: frags[3].ProducerTimestamp}}})
		if err != nil {
			t.Fatal(err)
		}
		ntok := strings.SplitN(*narrow.HLSStreamingSessionURL, "SessionToken=", 2)[1]
		other := mediaURL[:strings.LastIndex(mediaURL, "/")+1] + "getMP4MediaFragment.mp4?SessionToken=" + ntok + "&FragmentNumber=" + *frags[0].FragmentNumber
		if s, _, _ := httpGet(t, other); s != 404 {
			t.Errorf("fragment outside the token's range: %d, want 404", s)
		}
		forged := strings.Replace(*od.HLSStreamingSessionURL, "SessionToken=", "SessionToken=A", 1)
		if s, h, _ := httpGet(t, forged); s != 403 || h.Get("x-amzn-ErrorType") != "NotAuthorizedException" {
			t.Errorf("forged token: %d", s)
		}
		clk.Advance(301 * time.Second)
		if s, _, _ := httpGet(t, *od.HLSStreamingSessionURL); s != 403 {
			t.Errorf("expired token: %d, want 403", s)
		}
	})

	t.Run("errors", func(t *testing.T) {
		past := time.Now().Add(-48 * time.Hour)
		_, err := am.GetHLSStreamingSessionURL(ctx, &kinesisvideoarchivedmedia.GetHLSStreamingSessionURLInput{StreamName: aws.String("cam"),
			PlaybackMode: types.HLSPlaybackModeOnDemand,
			HLSFragmentSelector: &types.HLSFragmentSelector{FragmentSelectorType: types.HLSFragmentSelectorTypeServerTimestamp,
				TimestampRange: &types.HLSTimestampRange{StartTimestamp: aws.Time(past), EndTimestamp: aws.Time(past.Add(time.Hour))}}})
		if apiCode(err) != "ResourceNotFoundException" {
			t.Errorf("empty range: %v", err)
		}
		_, err = am.GetHLSStreamingSessionURL(ctx, &kinesisvideoarchivedmedia.GetHLSStreamingSessionURLInput{StreamName: aws.String("cam"),
			PlaybackMode: types.HLSPlaybackModeOnDemand})
		if apiCode(err) != "InvalidArgumentException" {
			t.Errorf("ON_DEMAND without a range: %v", err)
		}
		_, err = am.GetHLSStreamingSessionURL(ctx, &kinesisvideoarchivedmedia.GetHLSStreamingSessionURLInput{StreamName: aws.String("nope")})
		if apiCode(err) != "ResourceNotFoundException" {
			t.Errorf("unknown stream: %v", err)
		}
	})
}
