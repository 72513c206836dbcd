package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideoarchivedmedia"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideoarchivedmedia/types"
	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtpvp9"
	"github.com/pion/rtp"

	"github.com/eddy-video/eddy/media"
	"github.com/eddy-video/eddy/media/mediatest"
	"github.com/eddy-video/eddy/server/servertest"
)

// publishFile publishes a testdata IVF file (VP8, VP9 or AV1) over RTSP
// with gortsplib, in real time, as a WebRTC gateway or camera would.
func publishFile(ctx context.Context, url, file string) error {
	codec, units, err := mediatest.Units(mediatest.Testdata(file))
	if err != nil {
		return err
	}
	var forma format.Format
	var encode func([][]byte) ([]*rtp.Packet, error)
	switch codec {
	case media.CodecVP8:
		f := &format.VP8{PayloadTyp: 96}
		enc, err := f.CreateEncoder()
		if err != nil {
			return err
		}
		forma, encode = f, func(p [][]byte) ([]*rtp.Packet, error) { return enc.Encode(p[0]) }
	case media.CodecVP9:
		f := &format.VP9{PayloadTyp: 96}
		enc, err := f.CreateEncoder()
		if err != nil {
			return err
		}
		forma, encode = f, func(p [][]byte) ([]*rtp.Packet, error) { return enc.Encode(p[0]) }
	case media.CodecAV1:
		f := &format.AV1{PayloadTyp: 96}
		enc, err := f.CreateEncoder()
		if err != nil {
			return err
		}
		forma, encode = f, enc.Encode
	}
	m := &description.Media{Type: description.MediaTypeVideo, Formats: []format.Format{forma}}
	tcp := gortsplib.TransportTCP
	c := &gortsplib.Client{Transport: &tcp}
	if err := c.StartRecording(url, &description.Session{Medias: []*description.Media{m}}); err != nil {
		return err
	}
	defer c.Close()
	start := time.Now()
	for _, u := range units {
		at := start.Add(time.Duration(u.PTS) * time.Second / 90000)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Until(at)):
		}
		pkts, err := encode(u.Payload)
		if err != nil {
			return err
		}
		for _, p := range pkts {
			p.Timestamp += uint32(u.PTS)
			if err := c.WritePacketRTPWithNTP(m, p, at); err != nil {
				return err
			}
		}
	}
	// Let the last packets leave before TEARDOWN.
	time.Sleep(100 * time.Millisecond)
	return nil
}

// readVP9 plays a live stream with gortsplib and counts the VP9 frames it
// receives, until ctx ends.
func readVP9(ctx context.Context, url string) (frames int, firstKey bool, err error) {
	u, err := base.ParseURL(url)
	if err != nil {
		return 0, false, err
	}
	tcp := gortsplib.TransportTCP
	c := &gortsplib.Client{Scheme: u.Scheme, Host: u.Host, Transport: &tcp}
	if err := c.Start2(); err != nil {
		return 0, false, err
	}
	defer c.Close()
	desc, _, err := c.Describe(u)
	if err != nil {
		return 0, false, err
	}
	var f *format.VP9
	m := desc.FindFormat(&f)
	if m == nil {
		return 0, false, errors.New("the stream has no VP9 track")
	}
	if _, err := c.Setup(desc.BaseURL, m, 0, 0); err != nil {
		return 0, false, err
	}
	dec, err := f.CreateDecoder()
	if err != nil {
		return 0, false, err
	}
	var n atomic.Int64
	var first atomic.Int32 // 1: the first frame was a keyframe, 2: it was not
	c.OnPacketRTP(m, f, func(pkt *rtp.Packet) {
		frame, err := dec.Decode(pkt)
		if err != nil {
			if !errors.Is(err, rtpvp9.ErrMorePacketsNeeded) {
				first.CompareAndSwap(0, 2)
			}
			return
		}
		if n.Add(1) == 1 {
			// VP9 key frame: frame_marker 2, profile 0, show_existing_frame 0, frame_type 0.
			if frame[0]&0xf4 == 0x80 {
				first.Store(1)
			} else {
				first.Store(2)
			}
		}
	})
	if _, err := c.Play(nil); err != nil {
		return 0, false, err
	}
	<-ctx.Done()
	return int(n.Load()), first.Load() == 1, nil
}

// streamPlayback reads one stream's playback from the web UI's stream list.
func streamPlayback(t *testing.T, base, name string) (codecs []string, p media.Playback) {
	t.Helper()
	resp, err := http.Get(base + "/api/v1/streams")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var list []struct {
		Name     string
		Codecs   []string
		Playback media.Playback
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		t.Fatal(err)
	}
	for _, s := range list {
		if s.Name == name {
			return s.Codecs, s.Playback
		}
	}
	t.Fatalf("stream %s not listed", name)
	return nil, media.Playback{}
}

// TestVPXAV1 publishes VP8, VP9 and AV1 over RTSP: each is live for RTSP
// readers, recorded, listed, and its GetMediaForFragmentList MKV and
// GetClip MP4 decode with the codec it went in with. HLS refuses VP8
// (and MPEG-TS refuses all three) with UnsupportedStreamMediaTypeException.
func TestVPXAV1(t *testing.T) {
	mediatest.RequireTool(t, "ffmpeg", "ffprobe")
	t.Parallel()
	e := servertest.Start(t)
	ctx := servertest.Context(t, time.Minute)
	cases := []struct {
		file, stream, probe string
		hls                 bool
	}{
		{mediatest.FileVP8, "vp8", "vp8", false},
		{mediatest.FileVP9, "vp9", "vp9", true},
		{mediatest.FileAV1, "av1", "av1", true},
	}
	start := time.Now()
	var wg sync.WaitGroup
	for _, c := range cases {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := publishFile(ctx, e.RTSPURL(c.stream), c.file); err != nil {
				t.Errorf("publish %s: %v", c.file, err)
			}
		}()
	}

	// Live: an RTSP reader gets VP9, starting at a keyframe; the stream
	// list says how each stream plays.
	time.Sleep(700 * time.Millisecond)
	rctx, cancel := context.WithTimeout(ctx, 1500*time.Millisecond)
	frames, firstKey, err := readVP9(rctx, e.RTSPURL("vp9"))
	cancel()
	t.Logf("RTSP reader: %d VP9 frames, first a keyframe: %v", frames, firstKey)
	if err != nil || frames < 30 || !firstKey {
		t.Errorf("RTSP reader: %d VP9 frames, first a keyframe: %v, error %v", frames, firstKey, err)
	}
	for _, c := range cases {
		codecs, p := streamPlayback(t, e.URL, c.stream)
		if len(codecs) != 1 || !strings.EqualFold(codecs[0], c.probe) || p.HLS != c.hls || !p.WebRTC {
			t.Errorf("%s live: codecs %v, playback %+v", c.stream, codecs, p)
		}
	}
	wg.Wait()

	am := e.ArchivedMedia()
	for _, c := range cases {
		t.Run(c.stream, func(t *testing.T) {
			frags := waitFragments(ctx, t, am, c.stream, types.FragmentSelectorTypeServerTimestamp, start, 3, 5*time.Second)
			if len(frags) != 3 {
				t.Fatalf("%d fragments, want 3 (3 s of 1 s GOPs)", len(frags))
			}
			mkvOut, err := am.GetMediaForFragmentList(ctx, &kinesisvideoarchivedmedia.GetMediaForFragmentListInput{StreamName: aws.String(c.stream),
				Fragments: []string{*frags[0].FragmentNumber, *frags[1].FragmentNumber}})
			if err != nil {
				t.Fatal(err)
			}
			mkv, _ := io.ReadAll(mkvOut.Payload)
			from, to := *frags[0].ServerTimestamp, *frags[2].ServerTimestamp
			clipOut, err := am.GetClip(ctx, &kinesisvideoarchivedmedia.GetClipInput{StreamName: aws.String(c.stream),
				ClipFragmentSelector: &types.ClipFragmentSelector{FragmentSelectorType: types.ClipFragmentSelectorTypeServerTimestamp,
					TimestampRange: &types.ClipTimestampRange{StartTimestamp: &from, EndTimestamp: &to}}})
			if err != nil {
				t.Fatal(err)
			}
			clip, _ := io.ReadAll(clipOut.Payload)
			for name, data := range map[string][]byte{"mkv": mkv, "clip": clip} {
				mediatest.FFmpegDecodes(t, data)
				probe := mediatest.FFprobeJSON(t, data, "-show_streams")
				streams := probe["streams"].([]any)
				s := streams[0].(map[string]any)
				if len(streams) != 1 || s["codec_name"] != c.probe || s["width"] != float64(320) || s["height"] != float64(240) {
					t.Errorf("%s: streams %v, want one %s 320x240", name, streams, c.probe)
				}
			}

			// Offline, the stream list still says how it plays (from the recording).
			if codecs, p := streamPlayback(t, e.URL, c.stream); len(codecs) != 1 || p.HLS != c.hls || !p.WebRTC {
				t.Errorf("offline: codecs %v, playback %+v", codecs, p)
			}

			for _, container := range []types.ContainerFormat{types.ContainerFormatFragmentedMp4, types.ContainerFormatMpegTs} {
				_, err := am.GetHLSStreamingSessionURL(ctx, &kinesisvideoarchivedmedia.GetHLSStreamingSessionURLInput{
					StreamName: aws.String(c.stream), PlaybackMode: types.HLSPlaybackModeOnDemand, ContainerFormat: container,
					HLSFragmentSelector: &types.HLSFragmentSelector{FragmentSelectorType: types.HLSFragmentSelectorTypeServerTimestamp,
						TimestampRange: &types.HLSTimestampRange{StartTimestamp: &from, EndTimestamp: &to}}})
				ok := c.hls && container == types.ContainerFormatFragmentedMp4
				if (err == nil) != ok || (!ok && (apiCode(err) != "UnsupportedStreamMediaTypeException" || !strings.Contains(err.Error(), "WebRTC"))) {
					t.Errorf("HLS %s session: %v", container, err)
				}
			}
		})
	}
}
