package media

import (
	"bytes"
	"testing"
)

func TestPlaybackOf(t *testing.T) {
	v := func(c string) Track { return Track{Kind: Video, Codec: c, ClockRate: 90000} }
	a := func(c string) Track { return Track{Kind: Audio, Codec: c, ClockRate: 48000} }
	for _, tc := range []struct {
		name            string
		tracks          []Track
		hls, rtc, audio bool
		reason          string // substring
	}{
		{"H264+AAC", []Track{v(CodecH264), a(CodecAAC)}, true, true, false, "video only"},
		{"H265", []Track{v(CodecH265)}, true, true, false, ""},
		{"VP8+Opus", []Track{v(CodecVP8), a(CodecOpus)}, false, true, true, "WHEP"},
		{"VP9+Opus", []Track{v(CodecVP9), a(CodecOpus)}, true, true, true, ""},
		{"AV1+G711", []Track{v(CodecAV1), a(CodecG711U)}, true, true, false, "G711U"},
		{"Opus only", []Track{a(CodecOpus)}, true, true, true, ""},
		{"AAC only", []Track{a(CodecAAC)}, true, false, false, "use HLS"},
		{"G711 only", []Track{a(CodecG711A)}, false, false, false, "neither"},
		{"H264+G711 8 kHz", []Track{v(CodecH264), {Kind: Audio, Codec: CodecG711U, ClockRate: 8000, Config: [][]byte{{1}}}}, true, true, true, ""},
		{"G711 8 kHz only", []Track{{Kind: Audio, Codec: CodecG711A, ClockRate: 8000}}, false, true, true, "HLS cannot carry"},
		{"none", nil, false, false, false, "no playable track"},
	} {
		p := PlaybackOf(tc.tracks)
		if p.HLS != tc.hls || p.WebRTC != tc.rtc || p.WebRTCAudio != tc.audio || !bytes.Contains([]byte(p.Reason), []byte(tc.reason)) ||
			(tc.reason == "" && p.Reason != "") {
			t.Errorf("%s: %+v", tc.name, p)
		}
	}
}

func TestWebRTCTrack(t *testing.T) {
	for _, tc := range []struct {
		track Track
		ok    bool
		why   string
	}{
		{Track{Kind: Video, Codec: CodecAV1, ClockRate: 90000}, true, ""},
		{Track{Kind: Audio, Codec: CodecOpus, ClockRate: 48000}, true, ""},
		{Track{Kind: Audio, Codec: CodecG711U, ClockRate: 8000}, true, ""},
		{Track{Kind: Audio, Codec: CodecG711A, ClockRate: 8000, Config: [][]byte{{1}}}, true, ""},
		{Track{Kind: Audio, Codec: CodecG711A, ClockRate: 16000, Config: [][]byte{{2}}}, false,
			"G711A at 16000 Hz with 2 channels (WebRTC carries G.711 at 8000 Hz mono only)"},
		{Track{Kind: Audio, Codec: CodecAAC, ClockRate: 48000}, false,
			"AAC, which WebRTC cannot carry (browsers decode Opus or G.711 in WebRTC)"},
		{Track{Kind: Video, Codec: "MJPEG", ClockRate: 90000}, false, "MJPEG, which WebRTC cannot carry"},
	} {
		if ok, why := WebRTCTrack(tc.track); ok != tc.ok || why != tc.why {
			t.Errorf("%s %d Hz %v: %v %q", tc.track.Codec, tc.track.ClockRate, tc.track.Config, ok, why)
		}
	}
	for codec, ts := range map[string]bool{CodecH264: true, CodecH265: true, CodecVP9: false, CodecAV1: false, CodecVP8: false} {
		if TSVideo(codec) != ts || NativeHLSVideo(codec) != ts {
			t.Errorf("%s: TSVideo %v NativeHLSVideo %v", codec, TSVideo(codec), NativeHLSVideo(codec))
		}
	}
}
