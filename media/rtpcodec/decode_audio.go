package rtpcodec

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/bluenviron/gortsplib/v4/pkg/format/rtpfragmented"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtplpcm"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtpmpeg4audio"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtpsimpleaudio"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/pion/rtp"

	"github.com/eddy-video/eddy/media"
)

// aacDecoder: RFC 3640 (mpeg4-generic, AAC-hbr) packets → AAC frames.
type aacDecoder struct {
	sizeLength, indexLength, indexDeltaLength int
	clockRate, frameLen                       int
	rtp                                       *rtpmpeg4audio.Decoder
}

func (d *aacDecoder) reset() {
	d.rtp = &rtpmpeg4audio.Decoder{
		SizeLength:       d.sizeLength,
		IndexLength:      d.indexLength,
		IndexDeltaLength: d.indexDeltaLength,
	}
	_ = d.rtp.Init()
}

func (d *aacDecoder) decode(pkt *rtp.Packet, t packetTime) ([]*media.AccessUnit, error) {
	frames, err := d.rtp.Decode(pkt)
	switch {
	case errors.Is(err, rtpmpeg4audio.ErrMorePacketsNeeded):
		return nil, nil
	case err != nil:
		d.reset()
		return nil, fmt.Errorf("AAC RTP: %w", err)
	}
	return audioUnits(frames, t, d.clockRate, d.frameLen), nil
}

// aacFrameLen is the number of samples of an AAC frame: 1024, or 960 with
// frameLengthFlag (ISO/IEC 14496-3 4.5.1.1, GASpecificConfig).
func aacFrameLen(c *mpeg4audio.AudioSpecificConfig) int {
	if c.FrameLengthFlag {
		return 960
	}
	return mpeg4audio.SamplesPerAccessUnit
}

// audioUnits makes one unit per AAC frame, each frameLen samples after the
// previous one.
func audioUnits(frames [][]byte, t packetTime, clockRate, frameLen int) []*media.AccessUnit {
	aus := make([]*media.AccessUnit, 0, len(frames))
	for i, f := range frames {
		if len(f) == 0 {
			continue
		}
		off := int64(i) * int64(frameLen)
		aus = append(aus, &media.AccessUnit{
			PTS: t.pts + off, DTS: t.pts + off, Key: true,
			NTP: ntpAfter(t.ntp, off, clockRate), Arrival: t.arrival,
			Payload: [][]byte{bytes.Clone(f)},
		})
	}
	return aus
}

// latmDecoder: RFC 6416 MP4A-LATM packets with an out-of-band
// StreamMuxConfig (cpresent=0) → AAC frames of program 0, layer 0.
type latmDecoder struct {
	smc                 *mpeg4audio.StreamMuxConfig
	clockRate, frameLen int
	rtp                 *rtpfragmented.Decoder
}

func (d *latmDecoder) reset() {
	d.rtp = &rtpfragmented.Decoder{}
	_ = d.rtp.Init()
}

func (d *latmDecoder) decode(pkt *rtp.Packet, t packetTime) ([]*media.AccessUnit, error) {
	el, err := d.rtp.Decode(pkt)
	switch {
	case errors.Is(err, rtpfragmented.ErrMorePacketsNeeded):
		return nil, nil
	case err != nil:
		d.reset()
		return nil, fmt.Errorf("LATM RTP: %w", err)
	}
	ame := mpeg4audio.AudioMuxElement{StreamMuxConfig: d.smc}
	if err := ame.Unmarshal(el); err != nil {
		return nil, fmt.Errorf("LATM AudioMuxElement: %w", err)
	}
	frames := make([][]byte, 0, len(ame.Payloads))
	for _, sub := range ame.Payloads {
		if len(sub) > 0 && len(sub[0]) > 0 {
			frames = append(frames, sub[0][0])
		}
	}
	return audioUnits(frames, t, d.clockRate, d.frameLen), nil
}

// simpleAudioDecoder: one frame per packet (Opus, RFC 7587; G.711, RFC 3551).
type simpleAudioDecoder struct {
	codec      string
	sampleSize int // bytes per sample frame (G.711: channels); 0: any size
}

func (d *simpleAudioDecoder) decode(pkt *rtp.Packet, t packetTime) ([]*media.AccessUnit, error) {
	var frame []byte
	var err error
	if d.sampleSize > 0 {
		dec := rtplpcm.Decoder{BitDepth: 8, ChannelCount: d.sampleSize}
		_ = dec.Init()
		frame, err = dec.Decode(pkt)
	} else {
		var dec rtpsimpleaudio.Decoder
		frame, err = dec.Decode(pkt)
	}
	if err == nil && len(frame) == 0 {
		err = errors.New("empty payload")
	}
	if err != nil {
		return nil, fmt.Errorf("%s RTP: %w", d.codec, err)
	}
	return []*media.AccessUnit{{
		PTS: t.pts, DTS: t.pts, Key: true, NTP: t.ntp, Arrival: t.arrival,
		Payload: [][]byte{bytes.Clone(frame)},
	}}, nil
}

// opusStreams is the channel mapping of Opus mapping family 1 (RFC 7845
// 5.1.1.2, Vorbis order) for 3 to 8 channels: streams, coupled streams,
// mapping; the same tables gortsplib uses for multiopus.
var opusStreams = map[int]struct {
	streams, coupled byte
	mapping          []byte
}{
	3: {2, 1, []byte{0, 2, 1}},
	4: {2, 2, []byte{0, 1, 2, 3}},
	5: {3, 2, []byte{0, 4, 1, 2, 3}},
	6: {4, 2, []byte{0, 4, 1, 2, 3, 5}},
	7: {4, 3, []byte{0, 4, 1, 2, 3, 5, 6}},
	8: {5, 3, []byte{0, 6, 1, 4, 5, 2, 3, 7}},
}

// OpusHead builds an Opus ID header (RFC 7845 5.1) for channels: version 1,
// pre-skip 0 (RTP does not carry it), input rate 48000, gain 0.
func OpusHead(channels int) []byte {
	h := make([]byte, 19, 19+2+8)
	copy(h, "OpusHead")
	h[8] = 1
	h[9] = byte(channels)
	binary.LittleEndian.PutUint32(h[12:], 48000)
	if m, ok := opusStreams[channels]; ok {
		h[18] = 1
		h = append(h, m.streams, m.coupled)
		h = append(h, m.mapping...)
	}
	return h
}

// opusChannels reads the channel count of an OpusHead config (2 if absent).
// A single byte (another adapter's convention) is read as the count too.
func opusChannels(config [][]byte) int {
	switch {
	case len(config) == 0:
	case len(config[0]) >= 19 && bytes.HasPrefix(config[0], []byte("OpusHead")) && config[0][9] > 0:
		return int(config[0][9])
	case len(config[0]) == 1 && config[0][0] > 0:
		return int(config[0][0])
	}
	return 2
}
