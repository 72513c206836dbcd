package webrtc

import (
	"strings"
	"testing"

	"github.com/pion/sdp/v3"

	"github.com/eddy-video/eddy/media"
)

const chromeLikeOffer = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\n" +
	"m=video 9 UDP/TLS/RTP/SAVPF 96 102\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=recvonly\r\na=ice-ufrag:abcd\r\na=ice-pwd:0123456789012345678901\r\n" +
	"a=rtpmap:96 VP8/90000\r\na=rtpmap:102 H264/90000\r\na=fmtp:102 packetization-mode=1;profile-level-id=42e01f\r\n" +
	"m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:1\r\na=recvonly\r\na=rtpmap:111 opus/48000/2\r\n"

func TestParseFragment(t *testing.T) {
	f, err := parseFragment("a=ice-ufrag:abcd\r\na=ice-pwd:xyz\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:0\r\n" +
		"a=candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host\r\nm=video 9 UDP/TLS/RTP/SAVPF 0\r\n" +
		"a=candidate:2 1 tcp 1 127.0.0.1 5001 typ host tcptype active\r\na=end-of-candidates\r\n")
	if err != nil {
		t.Fatal(err)
	}
	if f.ufrag != "abcd" || len(f.candidates) != 2 {
		t.Fatalf("%+v", f)
	}
	if c := f.candidates[0]; c.SDPMid == nil || *c.SDPMid != "0" || !strings.HasPrefix(c.Candidate, "candidate:1 ") {
		t.Errorf("first candidate %+v", c)
	}
	if c := f.candidates[1]; c.SDPMid != nil || c.SDPMLineIndex == nil || *c.SDPMLineIndex != 1 {
		t.Errorf("second candidate (no mid: by m-line index) %+v", c)
	}
	for _, bad := range []string{"hello", "a=candidate:1 1 udp 1 1.2.3.4 5 typ host\r\n"} {
		if _, err := parseFragment(bad); err == nil {
			t.Errorf("parseFragment(%q) accepted", bad)
		}
	}
}

func TestPlanWHEP(t *testing.T) {
	var desc sdp.SessionDescription
	if err := desc.UnmarshalString(chromeLikeOffer); err != nil {
		t.Fatal(err)
	}
	offered, mids, err := offeredCodecs(&desc)
	if err != nil {
		t.Fatal(err)
	}
	if len(offered["video"]["H264"]) != 1 || len(offered["audio"]["OPUS"]) != 1 || mids["audio"][0] != "1" {
		t.Fatalf("offered %v, mids %v", offered, mids)
	}
	h264 := media.Track{ID: 0, Kind: media.Video, Codec: media.CodecH264, ClockRate: 90000}
	aac := media.Track{ID: 1, Kind: media.Audio, Codec: media.CodecAAC, ClockRate: 44100}
	opus := media.Track{ID: 1, Kind: media.Audio, Codec: media.CodecOpus, ClockRate: 48000}
	h265 := media.Track{ID: 0, Kind: media.Video, Codec: media.CodecH265, ClockRate: 90000}

	outs, notes, err := planWHEP([]media.Track{h264, aac}, offered)
	if err != nil || len(outs) != 1 || !strings.Contains(notes["audio"], "AAC") {
		t.Errorf("H264+AAC: %d tracks, notes %v, %v", len(outs), notes, err)
	}
	outs, notes, err = planWHEP([]media.Track{h264, opus}, offered)
	if err != nil || len(outs) != 2 || len(notes) != 0 {
		t.Errorf("H264+Opus: %d tracks, notes %v, %v", len(outs), notes, err)
	}
	outs, notes, err = planWHEP([]media.Track{h265, opus}, offered)
	if err != nil || len(outs) != 1 || !strings.Contains(notes["video"], "H265, which the offer does not accept") {
		t.Errorf("H265+Opus to an offer without H265: %d tracks, notes %v, %v", len(outs), notes, err)
	}
	if _, _, err := planWHEP([]media.Track{h265, aac}, offered); err == nil || !strings.Contains(err.Error(), "nothing to send") {
		t.Errorf("H265+AAC: %v", err)
	}
}

func TestH264Fmtp(t *testing.T) {
	offer := []string{"level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f",
		"level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=4d001f",
		"level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
		"level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=4d001f",
		"level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=640c1f"}
	for want, got := range map[string]string{"4d401f": offer[3], "640028": offer[4], "42c01e": offer[0], "f4001f": offer[2]} {
		if f := h264Fmtp(offer, want); f != got {
			t.Errorf("stream %s: answered with %q, want %q", want, f, got)
		}
	}
	if f := h264Fmtp(offer[1:2], "4d401f"); f != "" {
		t.Errorf("an offer in packetization mode 0 only: %q", f)
	}
}

func TestWithNotes(t *testing.T) {
	ans := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\nc=IN IP4 0.0.0.0\r\na=mid:1\r\na=inactive\r\n"
	got := withNotes(ans, map[string]string{"1": "audio not sent"})
	want := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\ni=audio not sent\r\nc=IN IP4 0.0.0.0\r\na=mid:1\r\na=inactive\r\n"
	if got != want {
		t.Errorf("withNotes:\n%q\nwant\n%q", got, want)
	}
	var desc sdp.SessionDescription
	if err := desc.UnmarshalString(got); err != nil {
		t.Errorf("the noted answer does not parse: %v", err)
	}
}

// FuzzTrickleFragment feeds PATCH bodies to the trickle ICE parser.
func FuzzTrickleFragment(f *testing.F) {
	f.Add("a=ice-ufrag:abcd\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:0\r\na=candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host\r\n")
	f.Add("m=video 9 X 0\r\na=candidate:\r\na=end-of-candidates")
	f.Add("\n\n=\r\nx")
	f.Fuzz(func(t *testing.T, body string) {
		fr, err := parseFragment(body)
		if err != nil {
			return
		}
		for _, c := range fr.candidates {
			if !strings.HasPrefix(c.Candidate, "candidate:") || (c.SDPMid == nil && c.SDPMLineIndex == nil) {
				t.Fatalf("candidate %+v", c)
			}
		}
	})
}

// FuzzOffer feeds POST bodies through the offer checks of WHEP: parse,
// the codecs it receives, the plan for an H.264 + AAC stream, and the
// notes in the answer.
func FuzzOffer(f *testing.F) {
	f.Add(chromeLikeOffer)
	f.Add("v=0\r\nthis is not SDP\r\n")
	f.Add("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=rtpmap:0\r\na=sendonly\r\n")
	tracks := []media.Track{{ID: 0, Kind: media.Video, Codec: media.CodecH264, ClockRate: 90000},
		{ID: 1, Kind: media.Audio, Codec: media.CodecAAC, ClockRate: 44100}}
	f.Fuzz(func(t *testing.T, offer string) {
		var desc sdp.SessionDescription
		if err := desc.UnmarshalString(offer); err != nil {
			return
		}
		offered, mids, err := offeredCodecs(&desc)
		if err != nil {
			return
		}
		outs, notes, err := planWHEP(tracks, offered)
		if err != nil {
			return
		}
		if len(outs) == 0 {
			t.Fatal("a plan with nothing to send")
		}
		byMid := map[string]string{}
		for kind, n := range notes {
			for _, m := range mids[kind] {
				byMid[m] = n
			}
		}
		_ = withNotes(offer, byMid)
	})
}
