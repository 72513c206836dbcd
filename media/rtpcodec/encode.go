package rtpcodec

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtpav1"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtph264"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtph265"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtplpcm"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtpsimpleaudio"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtpvp8"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtpvp9"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"

	"github.com/eddy-video/eddy/media"
)

// Encoder packetizes the access units of one track for RTSP readers.
type Encoder struct {
	// Media describes the track to readers: one format, as SDP.
	Media  *description.Media
	encode Packetizer
	base   uint32 // random initial RTP timestamp (RFC 3550 5.1)

	// sender report state (RFC 3550 6.4.1)
	sentPackets, sentOctets uint32
	lastSR                  time.Time
	lastSRReal              bool // the last report carried a producer clock
}

// SenderReport counts pkts (just sent, stamped with ntp: the producer's
// clock when real, else the server's) and returns a sender report for them
// when one is due: forced, periodic, or the first with a producer clock.
func (e *Encoder) SenderReport(pkts []*rtp.Packet, ntp time.Time, real, force bool) *rtcp.SenderReport {
	for _, p := range pkts {
		e.sentPackets++
		e.sentOctets += uint32(len(p.Payload))
	}
	due := force || time.Since(e.lastSR) >= senderReportPeriod || (real && !e.lastSRReal)
	if len(pkts) == 0 || !due {
		return nil
	}
	e.lastSR, e.lastSRReal = time.Now(), real
	return &rtcp.SenderReport{
		SSRC:        pkts[0].SSRC,
		NTPTime:     NTPToRTCP(ntp),
		RTPTime:     pkts[0].Timestamp,
		PacketCount: e.sentPackets,
		OctetCount:  e.sentOctets,
	}
}

// senderReportPeriod is how often RTSP readers get a sender report per
// track (besides one when a reader starts playing).
const senderReportPeriod = 5 * time.Second

// Packets returns the RTP packets of au, timestamped.
func (e *Encoder) Packets(au *media.AccessUnit) ([]*rtp.Packet, error) {
	pkts, err := e.encode(au)
	if err != nil {
		return nil, err
	}
	for _, p := range pkts {
		p.Timestamp += e.base + uint32(au.PTS)
	}
	return pkts, nil
}

// NewEncoder returns the RTSP media of t (one format, payload type pt
// unless the codec has a static one) and its encoder.
func NewEncoder(t media.Track, pt uint8) (*Encoder, error) {
	e := &Encoder{}
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, err
	}
	e.base = binary.BigEndian.Uint32(b[:])
	forma, pack, err := newPacketizer(t, pt, 0)
	if err != nil {
		return nil, err
	}
	mediaType := description.MediaTypeAudio
	if t.Kind == media.Video {
		mediaType = description.MediaTypeVideo
	}
	e.Media = &description.Media{Type: mediaType, Formats: []format.Format{forma}}
	e.encode = pack
	return e, nil
}

// Packetizer turns the access units of one track into RTP packets, with
// timestamps relative to the unit (the caller adds the unit's time) and
// sequence numbers from a random start.
type Packetizer func(au *media.AccessUnit) ([]*rtp.Packet, error)

// NewPacketizer returns the packetizer of track t, payload type pt, with
// payloads of at most maxPayload bytes (0: 1450, for a 1500-byte MTU;
// WebRTC uses less). It is RTSP PLAY's packetizer, for other protocol
// adapters (WHEP).
func NewPacketizer(t media.Track, pt uint8, maxPayload int) (Packetizer, error) {
	_, pack, err := newPacketizer(t, pt, maxPayload)
	return pack, err
}

// newPacketizer returns the RTP format of t (payload type pt unless the
// codec has a static one) and its packetizer.
func newPacketizer(t media.Track, pt uint8, maxPayload int) (format.Format, Packetizer, error) {
	// init starts an encoder; errors are wrapped once here.
	type initer interface{ Init() error }
	start := func(enc initer) error {
		if err := enc.Init(); err != nil {
			return fmt.Errorf("%s packetizer: %w", t.Codec, err)
		}
		return nil
	}
	switch t.Codec {
	case media.CodecH264:
		f := &format.H264{PayloadTyp: pt, PacketizationMode: 1}
		if len(t.Config) >= 2 {
			f.SPS, f.PPS = t.Config[0], t.Config[1]
		}
		enc := &rtph264.Encoder{PayloadType: pt, PacketizationMode: 1, PayloadMaxSize: maxPayload}
		return f, func(au *media.AccessUnit) ([]*rtp.Packet, error) { return enc.Encode(au.Payload) }, start(enc)
	case media.CodecH265:
		f := &format.H265{PayloadTyp: pt}
		if len(t.Config) >= 3 {
			f.VPS, f.SPS, f.PPS = t.Config[0], t.Config[1], t.Config[2]
		}
		enc := &rtph265.Encoder{PayloadType: pt, PayloadMaxSize: maxPayload}
		return f, func(au *media.AccessUnit) ([]*rtp.Packet, error) { return enc.Encode(au.Payload) }, start(enc)
	case media.CodecVP8:
		enc := &rtpvp8.Encoder{PayloadType: pt, PayloadMaxSize: maxPayload}
		return &format.VP8{PayloadTyp: pt}, func(au *media.AccessUnit) ([]*rtp.Packet, error) { return enc.Encode(joinPayload(au.Payload)) }, start(enc)
	case media.CodecVP9:
		enc := &rtpvp9.Encoder{PayloadType: pt, PayloadMaxSize: maxPayload}
		return &format.VP9{PayloadTyp: pt}, func(au *media.AccessUnit) ([]*rtp.Packet, error) { return enc.Encode(joinPayload(au.Payload)) }, start(enc)
	case media.CodecAV1:
		enc := &rtpav1.Encoder{PayloadType: pt, PayloadMaxSize: maxPayload}
		return &format.AV1{PayloadTyp: pt}, func(au *media.AccessUnit) ([]*rtp.Packet, error) { return enc.Encode(au.Payload) }, start(enc)
	case media.CodecAAC:
		if len(t.Config) == 0 {
			return nil, nil, errors.New("AAC track without AudioSpecificConfig")
		}
		var asc mpeg4audio.AudioSpecificConfig
		if err := asc.Unmarshal(t.Config[0]); err != nil {
			return nil, nil, fmt.Errorf("AAC track config: %w", err)
		}
		f := &format.MPEG4Audio{PayloadTyp: pt, Config: &asc, SizeLength: 13, IndexLength: 3, IndexDeltaLength: 3}
		enc, err := f.CreateEncoder() // the AU-header layout follows the format
		if err != nil {
			return nil, nil, err
		}
		return f, func(au *media.AccessUnit) ([]*rtp.Packet, error) { return enc.Encode(au.Payload) }, nil
	case media.CodecOpus:
		enc := &rtpsimpleaudio.Encoder{PayloadType: pt, PayloadMaxSize: maxPayload}
		pack := func(au *media.AccessUnit) ([]*rtp.Packet, error) {
			p, err := enc.Encode(joinPayload(au.Payload))
			if err != nil {
				return nil, err
			}
			return []*rtp.Packet{p}, nil
		}
		return &format.Opus{PayloadTyp: pt, ChannelCount: opusChannels(t.Config)}, pack, start(enc)
	case media.CodecG711U, media.CodecG711A:
		ch := media.G711Channels(t)
		mulaw := t.Codec == media.CodecG711U
		if t.ClockRate == 8000 && ch == 1 { // static payload types (RFC 3551 6)
			pt = 8
			if mulaw {
				pt = 0
			}
		}
		f := &format.G711{PayloadTyp: pt, MULaw: mulaw, SampleRate: t.ClockRate, ChannelCount: ch}
		enc := &rtplpcm.Encoder{PayloadType: pt, BitDepth: 8, ChannelCount: ch, PayloadMaxSize: maxPayload}
		return f, func(au *media.AccessUnit) ([]*rtp.Packet, error) { return enc.Encode(joinPayload(au.Payload)) }, start(enc)
	}
	return nil, nil, &UnsupportedCodecError{Codec: t.Codec}
}

// joinPayload returns a unit's payload as one slice (no copy when it is
// one already).
func joinPayload(p [][]byte) []byte {
	if len(p) == 1 {
		return p[0]
	}
	return bytes.Join(p, nil)
}
