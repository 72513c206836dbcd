package rtpcodec

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/pion/rtp"

	"github.com/eddy-video/eddy/media"
	"github.com/eddy-video/eddy/media/mediatest"
)

// decodeAll feeds pkts to d, each at the PTS of its RTP timestamp.
func decodeAll(t *testing.T, d *rtpDecoder, pkts []*rtp.Packet) []*media.AccessUnit {
	t.Helper()
	var out []*media.AccessUnit
	for _, p := range pkts {
		aus, err := d.decode(p, packetTime{pts: int64(p.Timestamp), ntp: mediatest.NTP0, arrival: time.Now()})
		if err != nil {
			t.Fatalf("decode: %v", err)
		}
		out = append(out, aus...)
	}
	return out
}

func TestRTPCodecRoundTrip(t *testing.T) {
	h264 := func(i int) [][]byte { return mediatest.H264AU(i) }
	h265 := func(i int) [][]byte { return mediatest.H265AU(i) }
	audio := func(i int) [][]byte { return [][]byte{mediatest.AudioFrame(i)} }
	for _, tc := range []struct {
		track media.Track
		unit  func(i int) [][]byte
		step  int64
	}{
		{media.Track{Kind: media.Video, Codec: media.CodecH264, ClockRate: 90000, Config: [][]byte{mediatest.H264SPS, mediatest.H264PPS}}, h264, 3600},
		{media.Track{Kind: media.Video, Codec: media.CodecH265, ClockRate: 90000, Config: [][]byte{mediatest.H265VPS, mediatest.H265SPS, mediatest.H265PPS}}, h265, 3600},
		{media.Track{Kind: media.Audio, Codec: media.CodecAAC, ClockRate: 48000, Config: [][]byte{mediatest.Must(mediatest.ASC.Marshal())}}, audio, 1024},
		{media.Track{Kind: media.Audio, Codec: media.CodecOpus, ClockRate: 48000, Config: [][]byte{OpusHead(2)}}, audio, 960},
		{media.Track{Kind: media.Audio, Codec: media.CodecOpus, ClockRate: 48000, Config: [][]byte{OpusHead(6)}}, audio, 960},
		{media.Track{Kind: media.Audio, Codec: media.CodecG711U, ClockRate: 8000, Config: [][]byte{{1}}}, audio, 120},
		{media.Track{Kind: media.Audio, Codec: media.CodecG711A, ClockRate: 16000, Config: [][]byte{{2}}}, audio, 60},
	} {
		t.Run(fmt.Sprintf("%s/%d", tc.track.Codec, len(tc.track.Config[0])), func(t *testing.T) {
			enc, err := NewEncoder(tc.track, 96)
			if err != nil {
				t.Fatal(err)
			}
			// The format readers get describes the same track.
			dec, err := newRTPDecoder(0, enc.Media.Formats[0])
			if err != nil {
				t.Fatal(err)
			}
			mediatest.CheckTracks(t, []media.Track{dec.track}, []media.Track{tc.track})
			var pkts []*rtp.Packet
			for i := range 12 {
				p, err := enc.Packets(&media.AccessUnit{PTS: int64(i) * tc.step, Payload: tc.unit(i)})
				if err != nil {
					t.Fatal(err)
				}
				pkts = append(pkts, p...)
			}
			aus := decodeAll(t, dec, pkts)
			if len(aus) != 12 {
				t.Fatalf("%d units back, want 12", len(aus))
			}
			for i, au := range aus {
				if fmt.Sprint(au.Payload) != fmt.Sprint(tc.unit(i)) {
					t.Fatalf("unit %d differs", i)
				}
				if au.PTS-aus[0].PTS != int64(i)*tc.step || au.DTS != au.PTS {
					t.Errorf("unit %d: PTS +%d DTS %d", i, au.PTS-aus[0].PTS, au.DTS)
				}
			}
		})
	}
}

func newTestH264Decoder(t *testing.T, sps, pps []byte) (*rtpDecoder, func(au [][]byte, ts uint32) []*rtp.Packet) {
	t.Helper()
	f := &format.H264{PayloadTyp: 96, PacketizationMode: 1, SPS: sps, PPS: pps}
	d, err := newRTPDecoder(3, f)
	if err != nil {
		t.Fatal(err)
	}
	enc := mediatest.Must(f.CreateEncoder())
	return d, func(au [][]byte, ts uint32) []*rtp.Packet {
		pkts := mediatest.Must(enc.Encode(au))
		for _, p := range pkts {
			p.Timestamp = ts
		}
		return pkts
	}
}

func TestRTPDecodeH264WithoutMarker(t *testing.T) {
	// Some cameras never set the marker bit: a picture ends when the
	// timestamp changes, and keeps its own time.
	d, packetize := newTestH264Decoder(t, mediatest.H264SPS, mediatest.H264PPS)
	var pkts []*rtp.Packet
	for i := range 6 {
		for _, p := range packetize(mediatest.H264AU(i), uint32(1000+i*3600)) {
			p.Marker = false
			pkts = append(pkts, p)
		}
	}
	aus := decodeAll(t, d, pkts)
	if len(aus) != 5 { // the last one waits for the next timestamp
		t.Fatalf("%d units, want 5", len(aus))
	}
	for i, au := range aus {
		if mediatest.VideoIndex(au.Payload) != i || au.PTS != int64(1000+i*3600) || au.Track != 3 {
			t.Errorf("unit %d: frame %d PTS %d track %d", i, mediatest.VideoIndex(au.Payload), au.PTS, au.Track)
		}
	}
}

func TestRTPDecodeH264Params(t *testing.T) {
	aud := []byte{0x09, 0xf0}
	idr := func(i int) []byte { return mediatest.Numbered([]byte{0x65, 0x88}, i, 50) }
	slice := func(i int) []byte { return mediatest.Numbered([]byte{0x41, 0x9a}, i, 50) }
	newSPS := append(bytes.Clone(mediatest.H264SPS[:len(mediatest.H264SPS)-1]), 0x21) // different bytes, same parameters

	// No sprop in the SDP: units before the first keyframe are dropped,
	// in-band parameter sets are kept and later keyframes get them.
	d, packetize := newTestH264Decoder(t, nil, nil)
	if d.track.Config != nil {
		t.Errorf("Config without sprop: %v", d.track.Config)
	}
	var pkts []*rtp.Packet
	pkts = append(pkts, packetize([][]byte{slice(0)}, 0)...)
	pkts = append(pkts, packetize([][]byte{aud, mediatest.H264SPS, mediatest.H264PPS, idr(1)}, 3600)...)
	pkts = append(pkts, packetize([][]byte{aud, slice(2)}, 7200)...)
	pkts = append(pkts, packetize([][]byte{idr(3)}, 10800)...)
	pkts = append(pkts, packetize([][]byte{newSPS, idr(4)}, 14400)...)
	pkts = append(pkts, packetize([][]byte{idr(5)}, 18000)...)
	aus := decodeAll(t, d, pkts)
	want := [][][]byte{
		{mediatest.H264SPS, mediatest.H264PPS, idr(1)},
		{slice(2)},
		{mediatest.H264SPS, mediatest.H264PPS, idr(3)},
		{newSPS, mediatest.H264PPS, idr(4)},
		{newSPS, mediatest.H264PPS, idr(5)},
	}
	if len(aus) != len(want) {
		t.Fatalf("%d units, want %d", len(aus), len(want))
	}
	for i, au := range aus {
		if fmt.Sprint(au.Payload) != fmt.Sprint(want[i]) || au.Key != (i != 1) {
			t.Errorf("unit %d: %x key %v", i, au.Payload, au.Key)
		}
	}

	// With sprop: Config is set and a first IDR without parameters gets them.
	d, packetize = newTestH264Decoder(t, mediatest.H264SPS, mediatest.H264PPS)
	if fmt.Sprint(d.track.Config) != fmt.Sprint([][]byte{mediatest.H264SPS, mediatest.H264PPS}) {
		t.Errorf("Config = %x", d.track.Config)
	}
	aus = decodeAll(t, d, packetize([][]byte{idr(0)}, 0))
	if len(aus) != 1 || fmt.Sprint(aus[0].Payload) != fmt.Sprint([][]byte{mediatest.H264SPS, mediatest.H264PPS, idr(0)}) {
		t.Errorf("IDR without in-band parameters: %d units", len(aus))
	}
}

func TestRTPDecodeAACFramesInOnePacket(t *testing.T) {
	for _, frameLen := range []int64{1024, 960} {
		asc := mediatest.ASC
		asc.FrameLengthFlag = frameLen == 960
		f := &format.MPEG4Audio{PayloadTyp: 97, Config: &asc, SizeLength: 13, IndexLength: 3, IndexDeltaLength: 3}
		d, err := newRTPDecoder(1, f)
		if err != nil {
			t.Fatal(err)
		}
		pkts := mediatest.Must(mediatest.Must(f.CreateEncoder()).Encode([][]byte{mediatest.AudioFrame(0), mediatest.AudioFrame(1), mediatest.AudioFrame(2)}))
		if len(pkts) != 1 {
			t.Fatalf("%d packets", len(pkts))
		}
		aus, err := d.decode(pkts[0], packetTime{pts: 5000, ntp: mediatest.NTP0})
		if err != nil || len(aus) != 3 {
			t.Fatalf("%d units, %v", len(aus), err)
		}
		for i, au := range aus {
			ntp := mediatest.NTP0.Add(time.Duration(int64(i)*frameLen) * time.Second / 48000)
			if au.PTS != 5000+int64(i)*frameLen || !au.NTP.Equal(ntp) || !bytes.Equal(au.Payload[0], mediatest.AudioFrame(i)) {
				t.Errorf("%d-sample frame %d: PTS %d NTP %v", frameLen, i, au.PTS, au.NTP)
			}
		}
	}
}

func testLATMFormat() *format.MPEG4AudioLATM {
	asc := mediatest.ASC
	return &format.MPEG4AudioLATM{PayloadTyp: 96, ProfileLevelID: 30, StreamMuxConfig: &mpeg4audio.StreamMuxConfig{
		Programs: []*mpeg4audio.StreamMuxConfigProgram{{Layers: []*mpeg4audio.StreamMuxConfigLayer{
			{AudioSpecificConfig: &asc, LatmBufferFullness: 255},
		}}},
	}}
}

func TestRTPDecodeLATM(t *testing.T) {
	f := testLATMFormat()
	d, err := newRTPDecoder(0, f)
	if err != nil {
		t.Fatal(err)
	}
	mediatest.CheckTracks(t, []media.Track{d.track}, []media.Track{{Kind: media.Audio, Codec: media.CodecAAC, ClockRate: 48000, Config: [][]byte{mediatest.Must(mediatest.ASC.Marshal())}}})
	enc := mediatest.Must(f.CreateEncoder())
	var pkts []*rtp.Packet
	for i := range 4 {
		el := mpeg4audio.AudioMuxElement{StreamMuxConfig: f.StreamMuxConfig, Payloads: [][][][]byte{{{mediatest.AudioFrame(i)}}}}
		for _, p := range mediatest.Must(enc.Encode(mediatest.Must(el.Marshal()))) {
			p.Timestamp = uint32(i * 1024)
			pkts = append(pkts, p)
		}
	}
	aus := decodeAll(t, d, pkts)
	if len(aus) != 4 {
		t.Fatalf("%d units", len(aus))
	}
	for i, au := range aus {
		if au.PTS != int64(i)*1024 || !bytes.Equal(au.Payload[0], mediatest.AudioFrame(i)) {
			t.Errorf("frame %d: PTS %d", i, au.PTS)
		}
	}

	f.CPresent = true
	if _, err := newRTPDecoder(0, f); !errors.Is(err, ErrUnsupportedCodec) {
		t.Errorf("LATM with cpresent=1: %v", err)
	}
}

func TestRTPDecodeUnsupported(t *testing.T) {
	for _, f := range []format.Format{
		&format.MJPEG{},
		&format.MPEG4Video{PayloadTyp: 96},
		&format.MPEG1Audio{},
		&format.LPCM{PayloadTyp: 96, BitDepth: 16, SampleRate: 44100, ChannelCount: 2},
		&format.H264{PayloadTyp: 96, PacketizationMode: 2},
		&format.MPEG4Audio{PayloadTyp: 96},
		&format.G711{PayloadTyp: 96, SampleRate: 8000},
	} {
		var uerr *UnsupportedCodecError
		if _, err := newRTPDecoder(0, f); !errors.As(err, &uerr) || !errors.Is(err, ErrUnsupportedCodec) {
			t.Errorf("%s: %v", f.Codec(), err)
		}
	}
	if _, err := NewEncoder(media.Track{Codec: "MJPEG"}, 96); !errors.Is(err, ErrUnsupportedCodec) {
		t.Errorf("encoder for MJPEG: %v", err)
	}
}
