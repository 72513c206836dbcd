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
