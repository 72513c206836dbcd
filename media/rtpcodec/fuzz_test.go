package rtpcodec

import (
	"testing"

	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/pion/rtp"

	"github.com/eddy-video/eddy/media/mediatest"
)

// fuzzPackets cuts data into RTP packets: each is a 3-byte header (payload
// length, flags: marker, sequence gap, timestamp step) and its payload.
func fuzzPackets(data []byte) []*rtp.Packet {
	var pkts []*rtp.Packet
	var seq uint16
	var ts uint32
	for len(data) >= 3 {
		n := int(data[0])<<8 | int(data[1])
		flags := data[2]
		data = data[3:]
		n = min(n, len(data))
		seq += 1 + uint16(flags>>1&3)
		ts += uint32(flags>>3) * 1000
		pkts = append(pkts, &rtp.Packet{
			Header:  rtp.Header{Version: 2, PayloadType: 96, Marker: flags&1 != 0, SequenceNumber: seq, Timestamp: ts},
			Payload: data[:n],
		})
		data = data[n:]
	}
	return pkts
}

// fuzzEncode is the inverse of fuzzPackets, for seeds.
func fuzzEncode(pkts []*rtp.Packet) []byte {
	var b []byte
	for _, p := range pkts {
		flags := byte(0)
		if p.Marker {
			flags = 1
		}
		b = append(b, byte(len(p.Payload)>>8), byte(len(p.Payload)), flags|1<<3)
		b = append(b, p.Payload...)
	}
	return b
}

func fuzzRTPDecode(f *testing.F, forma format.Format, seeds ...[]*rtp.Packet) {
	for _, s := range seeds {
		f.Add(fuzzEncode(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := newRTPDecoder(0, forma)
		if err != nil {
			t.Fatal(err)
		}
		pkts := fuzzPackets(data)
		if p := new(rtp.Packet); p.Unmarshal(data) == nil {
			pkts = append(pkts, p)
		}
		for _, p := range pkts {
			aus, _ := d.decode(p, packetTime{pts: int64(p.Timestamp)})
			for _, au := range aus {
				if len(au.Payload) == 0 {
					t.Fatal("unit without payload")
				}
				for _, n := range au.Payload {
					if len(n) == 0 {
						t.Fatal("empty NAL unit or frame")
					}
				}
			}
		}
	})
}

// seedUnit is a small synthetic unit: seeds stay short, so the fuzzer
// stays fast, and a 100-byte packet limit still makes fragments.
func seedUnit(head []byte, i int) []byte { return mediatest.Numbered(head, i, 250) }

func seedPackets(enc interface {
	Encode([][]byte) ([]*rtp.Packet, error)
}, units ...[][]byte) []*rtp.Packet {
	var pkts []*rtp.Packet
	for i, u := range units {
		for _, p := range mediatest.Must(enc.Encode(u)) {
			p.Timestamp = uint32(i * 3000)
			pkts = append(pkts, p)
		}
	}
	return pkts
}

func FuzzRTPDecodeH264(f *testing.F) {
	forma := &format.H264{PayloadTyp: 96, PacketizationMode: 1, SPS: mediatest.H264SPS, PPS: mediatest.H264PPS}
	enc := mediatest.Must(forma.CreateEncoder())
	enc.PayloadMaxSize = 100
	fuzzRTPDecode(f, forma, seedPackets(enc,
		[][]byte{{0x09, 0xf0}, mediatest.H264SPS, mediatest.H264PPS, seedUnit([]byte{0x65, 0x88}, 0)},
		[][]byte{seedUnit([]byte{0x41, 0x9a}, 1)},
		[][]byte{{0x06, 0x05, 0x01}, {0x41, 0x9a, 0x02}}))
}

func FuzzRTPDecodeH265(f *testing.F) {
	forma := &format.H265{PayloadTyp: 96, VPS: mediatest.H265VPS, SPS: mediatest.H265SPS, PPS: mediatest.H265PPS}
	enc := mediatest.Must(forma.CreateEncoder())
	enc.PayloadMaxSize = 100
	fuzzRTPDecode(f, forma, seedPackets(enc,
		[][]byte{{0x46, 0x01, 0x50}, mediatest.H265VPS, mediatest.H265SPS, mediatest.H265PPS, seedUnit([]byte{0x26, 0x01}, 0)},
		[][]byte{seedUnit([]byte{0x02, 0x01}, 1)},
		[][]byte{{0x02, 0x01, 0x02}, {0x02, 0x01, 0x03}}))
}

func FuzzRTPDecodeAAC(f *testing.F) {
	forma := &format.MPEG4Audio{PayloadTyp: 96, Config: &mediatest.ASC, SizeLength: 13, IndexLength: 3, IndexDeltaLength: 3}
	enc := mediatest.Must(forma.CreateEncoder())
	enc.PayloadMaxSize = 100
	fuzzRTPDecode(f, forma, seedPackets(enc,
		[][]byte{mediatest.AudioFrame(0)[:20], mediatest.AudioFrame(1)[:20]},
		[][]byte{seedUnit([]byte{0x21}, 2)}))
}

func FuzzRTPDecodeLATM(f *testing.F) {
	forma := testLATMFormat()
	el := mpeg4audio.AudioMuxElement{StreamMuxConfig: forma.StreamMuxConfig, Payloads: [][][][]byte{{{mediatest.AudioFrame(0)}}}}
	enc := mediatest.Must(forma.CreateEncoder())
	fuzzRTPDecode(f, forma, mediatest.Must(enc.Encode(mediatest.Must(el.Marshal()))))
}

func FuzzRTPDecodeOpus(f *testing.F) {
	forma := &format.Opus{PayloadTyp: 96, ChannelCount: 2}
	enc := mediatest.Must(forma.CreateEncoder())
	fuzzRTPDecode(f, forma, []*rtp.Packet{mediatest.Must(enc.Encode(mediatest.AudioFrame(0)[:40]))})
}

func FuzzRTPDecodeG711(f *testing.F) {
	forma := &format.G711{PayloadTyp: 96, MULaw: true, SampleRate: 8000, ChannelCount: 2}
	enc := mediatest.Must(forma.CreateEncoder())
	fuzzRTPDecode(f, forma, mediatest.Must(enc.Encode(mediatest.AudioFrame(0)[:40])))
}
