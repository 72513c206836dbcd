package rtpcodec

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/av1"
	"github.com/pion/rtp"

	"github.com/eddy-video/eddy/media"
	"github.com/eddy-video/eddy/media/mediatest"
)

// testFileUnits reads one of the ffmpeg-made files of testdata/ (3 s at
// 25 fps, keyframes at frames 0, 25 and 50).
func testFileUnits(t testing.TB, file string) (string, []mediatest.Unit) {
	t.Helper()
	codec, units, err := mediatest.Units(mediatest.Testdata(file))
	if err != nil {
		t.Fatal(err)
	}
	if len(units) != 75 {
		t.Fatalf("%s: %d units, want 75", file, len(units))
	}
	return codec, units
}

func TestRTPRoundTripVPXAV1(t *testing.T) {
	for _, file := range []string{mediatest.FileVP8, mediatest.FileVP9, mediatest.FileAV1} {
		codec, units := testFileUnits(t, file)
		t.Run(codec, func(t *testing.T) {
			track := media.Track{Kind: media.Video, Codec: codec, ClockRate: 90000}
			enc, err := NewEncoder(track, 96)
			if err != nil {
				t.Fatal(err)
			}
			dec, err := newRTPDecoder(0, enc.Media.Formats[0])
			if err != nil {
				t.Fatal(err)
			}
			mediatest.CheckTracks(t, []media.Track{dec.track}, []media.Track{track})
			// Start at frame 3: the units before the keyframe at 25 are dropped.
			var pkts []*rtp.Packet
			for _, u := range units[3:] {
				p, err := enc.Packets(&media.AccessUnit{PTS: u.PTS, Key: false, Payload: u.Payload})
				if err != nil {
					t.Fatal(err)
				}
				pkts = append(pkts, p...)
			}
			if len(pkts) <= len(units)-3 {
				t.Fatalf("%d packets for %d units: no frame was fragmented", len(pkts), len(units)-3)
			}
			aus := decodeAll(t, dec, pkts)
			if len(aus) != 50 {
				t.Fatalf("%d units back, want 50 (from the keyframe at 25)", len(aus))
			}
			for i, au := range aus {
				want := units[25+i]
				if fmt.Sprint(au.Payload) != fmt.Sprint(want.Payload) {
					t.Fatalf("unit %d differs", 25+i)
				}
				if key := i%25 == 0; au.Key != key {
					t.Errorf("unit %d: Key %v, want %v", 25+i, au.Key, key)
				}
				if au.PTS-aus[0].PTS != want.PTS-units[25].PTS || au.DTS != au.PTS {
					t.Errorf("unit %d: PTS +%d DTS %d", 25+i, au.PTS-aus[0].PTS, au.DTS)
				}
			}
		})
	}
}

func TestVPXKeyFrames(t *testing.T) {
	for _, tc := range []struct {
		file  string
		isKey func([]byte) (bool, error)
	}{
		{mediatest.FileVP8, vp8IsKey},
		{mediatest.FileVP9, vp9IsKey},
	} {
		codec, units := testFileUnits(t, tc.file)
		for i, u := range units {
			key, err := tc.isKey(u.Payload[0])
			if err != nil || key != (i%25 == 0) {
				t.Errorf("%s frame %d: key %v, %v", codec, i, key, err)
			}
		}
	}
	_, units := testFileUnits(t, mediatest.FileAV1)
	for i, u := range units {
		if key := av1.IsRandomAccess2(u.Payload); key != (i%25 == 0) {
			t.Errorf("AV1 temporal unit %d: key %v", i, key)
		}
	}

	for _, tc := range []struct {
		name  string
		isKey func([]byte) (bool, error)
		frame []byte
		key   bool
		err   bool
	}{
		// frame_marker 2, profile 0, show_existing_frame 1, index 0.
		{"VP9 show_existing_frame", vp9IsKey, []byte{0x88}, false, false},
		{"VP9 inter frame", vp9IsKey, []byte{0x86, 0x00}, false, false},
		{"VP9 bad marker", vp9IsKey, []byte{0x00, 0x00}, false, true},
		{"VP9 key without sync code", vp9IsKey, []byte{0x82, 0x00, 0x00, 0x00, 0x00}, false, true},
		{"VP8 inter frame", vp8IsKey, []byte{0x31, 0x00, 0x00}, false, false},
		{"VP8 short", vp8IsKey, []byte{0x30}, false, true},
		{"VP8 key without start code", vp8IsKey, []byte{0x30, 0, 0, 1, 2, 3, 0, 0, 0, 0}, false, true},
	} {
		key, err := tc.isKey(tc.frame)
		if key != tc.key || (err != nil) != tc.err {
			t.Errorf("%s: key %v, error %v", tc.name, key, err)
		}
	}
}

func TestRTPDecodeAV1Normalizes(t *testing.T) {
	// A sender that keeps obu_size and temporal delimiters (both allowed
	// by the AV1 RTP payload format): units come out without either.
	_, units := testFileUnits(t, mediatest.FileAV1)
	f := &format.AV1{PayloadTyp: 96}
	d, err := newRTPDecoder(0, f)
	if err != nil {
		t.Fatal(err)
	}
	enc := mediatest.Must(f.CreateEncoder())
	var pkts []*rtp.Packet
	for i, u := range units[:3] {
		tu := [][]byte{{0x12, 0x00}} // temporal delimiter with obu_size 0
		for _, obu := range u.Payload {
			tu = append(tu, mediatest.Must(av1.Bitstream{obu}.Marshal()))
		}
		for _, p := range mediatest.Must(enc.Encode(tu)) {
			p.Timestamp = uint32(i * 3600)
			pkts = append(pkts, p)
		}
	}
	aus := decodeAll(t, d, pkts)
	if len(aus) != 3 {
		t.Fatalf("%d units, want 3", len(aus))
	}
	for i, au := range aus {
		if fmt.Sprint(au.Payload) != fmt.Sprint(units[i].Payload) {
			t.Errorf("unit %d not normalized", i)
		}
	}

	// obu_size larger than the OBU is malformed; an extension header is kept.
	if _, err := av1StripSize([]byte{0x32, 0x05, 0x01}); err == nil {
		t.Error("truncated OBU accepted")
	}
	got, err := av1StripSize([]byte{0x36, 0x08, 0x02, 0xaa, 0xbb, 0xcc})
	if err != nil || !bytes.Equal(got, []byte{0x34, 0x08, 0xaa, 0xbb}) {
		t.Errorf("OBU with extension: % x, %v", got, err)
	}
}

func vpxSeeds(t testing.TB, file string, enc interface {
	Encode([]byte) ([]*rtp.Packet, error)
}) []*rtp.Packet {
	_, units := testFileUnits(t, file)
	var pkts []*rtp.Packet
	for i, u := range units[:2] {
		// Seeds stay short: the head of each frame, cut to a few packets.
		for _, p := range mediatest.Must(enc.Encode(u.Payload[0][:min(len(u.Payload[0]), 250)])) {
			p.Timestamp = uint32(i * 3600)
			pkts = append(pkts, p)
		}
	}
	return pkts
}

func FuzzRTPDecodeVP8(f *testing.F) {
	forma := &format.VP8{PayloadTyp: 96}
	enc := mediatest.Must(forma.CreateEncoder())
	enc.PayloadMaxSize = 100
	fuzzRTPDecode(f, forma, vpxSeeds(f, mediatest.FileVP8, enc))
}

func FuzzRTPDecodeVP9(f *testing.F) {
	forma := &format.VP9{PayloadTyp: 96}
	enc := mediatest.Must(forma.CreateEncoder())
	enc.PayloadMaxSize = 100
	fuzzRTPDecode(f, forma, vpxSeeds(f, mediatest.FileVP9, enc))
}

func FuzzRTPDecodeAV1(f *testing.F) {
	forma := &format.AV1{PayloadTyp: 96}
	enc := mediatest.Must(forma.CreateEncoder())
	enc.PayloadMaxSize = 100
	_, units := testFileUnits(f, mediatest.FileAV1)
	tu := [][]byte{units[0].Payload[0], units[0].Payload[1][:200]}
	fuzzRTPDecode(f, forma, seedPackets(enc, tu, [][]byte{units[1].Payload[0][:min(len(units[1].Payload[0]), 150)]}))
}
