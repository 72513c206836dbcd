package media

// The codec boundary of RTSP: RTP packets of each supported format become
// codec-neutral access units (ingest: RTSP RECORD and pulled sources), and
// access units become RTP packets again (RTSP PLAY). Codec specifics live in
// the two type switches here: newRTPDecoder (format → Track + decoder) and
// newPacketizer (Track → format + packetizer, used by RTSP PLAY and WHEP).
//
// Track conventions (what every adapter and reader of a Hub can rely on):
//
//	Codec  Kind   ClockRate          Config                          Payload of a unit
//	H264   Video  90000              {SPS, PPS} from the SDP         the NAL units of one picture (no
//	                                 (sprop-parameter-sets), or nil  Annex-B start codes, no AUD)
//	H265   Video  90000              {VPS, SPS, PPS} from the SDP    as H264
//	                                 (sprop-vps/sps/pps), or nil
//	AAC    Audio  sample rate        {AudioSpecificConfig}           one raw AAC frame (no ADTS, no LATM);
//	                                 (ISO/IEC 14496-3 1.6.2.1)       PTS steps by 1024 per frame
//	Opus   Audio  48000              {OpusHead} (RFC 7845 5.1: 19+   one Opus packet (RFC 6716)
//	                                 bytes, channel count at [9],
//	                                 pre-skip 0)
//	G711U  Audio  sample rate (8000) {{channel count}}               mu-law samples of one RTP packet
//	G711A  Audio  sample rate (8000) {{channel count}}               A-law samples of one RTP packet
//	VP8    Video  90000              nil                             one frame (RFC 6386), as one []byte
//	VP9    Video  90000              nil                             one frame or superframe (VP9
//	                                                                 bitstream spec, Annex B), as one []byte
//	AV1    Video  90000              nil                             the OBUs of one temporal unit, one
//	                                                                 []byte each, with obu_has_size_field
//	                                                                 0 (as the AOM RTP payload format
//	                                                                 for AV1 recommends) and no temporal
//	                                                                 delimiter
//
// Video units are Key on an H264 IDR picture or an H265 IRAP picture (BLA,
// IDR, CRA); a keyframe always carries its parameter sets (VPS,) SPS and
// PPS: those it lacks are added, first, from the SDP or the last in-band
// ones. Units before the first keyframe are dropped. Audio units are all
// Key. DTS equals PTS but for video with B-frames. Parameter sets that
// change in-band are not reflected in Track.Config (immutable once
// published): they travel in the keyframes.
//
// VP8, VP9 and AV1 have no configuration out of band (their SDP carries
// none), so their Track.Config is nil and whoever needs one (the
// fragmenter: picture size, profile, bit depth, the AV1 sequence header)
// takes it from the keyframes, which carry it in-band. A VP8 unit is Key
// when its frame tag says key frame (RFC 6386 9.1); a VP9 unit when its
// first frame is a key frame that is not a show_existing_frame (VP9
// bitstream spec 6.2); an AV1 unit when it holds a sequence header OBU
// (AV1 spec 7.5: a random access point starts with one).

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtpav1"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtpfragmented"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtph264"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtph265"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtplpcm"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtpmpeg4audio"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtpsimpleaudio"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtpvp8"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtpvp9"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/eddy-video/eddy/media/internal/loglimit"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

// Codec names of Track.Codec.
const (
	CodecH264  = "H264"
	CodecH265  = "H265"
	CodecAAC   = "AAC"
	CodecOpus  = "Opus"
	CodecG711U = "G711U" // G.711 mu-law (PCMU)
	CodecG711A = "G711A" // G.711 A-law (PCMA)
	CodecVP8   = "VP8"
	CodecVP9   = "VP9"
	CodecAV1   = "AV1"
)

// Limits on the tracks of one publication.
const (
	maxVideoTracks = 1
	maxAudioTracks = 4
)

// ErrUnsupportedCodec is wrapped by UnsupportedCodecError.
var ErrUnsupportedCodec = errors.New("media: unsupported codec")

// ErrTooManyTracks refuses a publication with more than one video track or
// more than four audio tracks.
var ErrTooManyTracks = errors.New("media: too many tracks (at most 1 video and 4 audio)")

// UnsupportedCodecError names a codec Eddy does not ingest.
type UnsupportedCodecError struct {
	Codec  string
	Reason string // optional detail
}

func (e *UnsupportedCodecError) Error() string {
	msg := "unsupported codec " + e.Codec
	if e.Reason != "" {
		msg += " (" + e.Reason + ")"
	}
	return msg + "; supported: H264, H265, VP8, VP9, AV1, AAC, Opus, G711"
}

// Unwrap makes errors.Is(err, ErrUnsupportedCodec) true.
func (e *UnsupportedCodecError) Unwrap() error { return ErrUnsupportedCodec }

// formatName names a format for humans: its RTP encoding name when gortsplib
// does not know it.
func formatName(f format.Format) string {
	if _, ok := f.(*format.Generic); ok {
		if rm := f.RTPMap(); rm != "" {
			return strings.SplitN(rm, "/", 2)[0]
		}
	}
	return f.Codec()
}

// packetTime is when one RTP packet was sent (PTS in the track's clock
// rate, producer NTP) and received.
type packetTime struct {
	ts      uint32 // RTP timestamp
	pts     int64
	ntp     time.Time
	arrival time.Time
}

// ntpAfter returns ntp advanced by samples at clockRate (zero stays zero).
func ntpAfter(ntp time.Time, samples int64, clockRate int) time.Time {
	if ntp.IsZero() || clockRate <= 0 {
		return ntp
	}
	return ntp.Add(time.Duration(samples) * time.Second / time.Duration(clockRate))
}

// codecDecoder is the codec-specific part of an rtpDecoder.
type codecDecoder interface {
	decode(pkt *rtp.Packet, t packetTime) ([]*AccessUnit, error)
}

// rtpDecoder turns the RTP packets of one track into access units. It is
// used by one goroutine at a time.
type rtpDecoder struct {
	track Track
	dec   codecDecoder
}

// newRTPDecoder describes forma as a Track with ID id and returns its
// decoder, or an *UnsupportedCodecError.
func newRTPDecoder(id int, forma format.Format) (*rtpDecoder, error) {
	t := Track{ID: id}
	var dec codecDecoder
	switch f := forma.(type) {
	case *format.H264:
		if f.PacketizationMode >= 2 {
			return nil, &UnsupportedCodecError{Codec: "H264", Reason: "packetization-mode 2"}
		}
		t.Kind, t.Codec, t.ClockRate = Video, CodecH264, 90000
		sps, pps := f.SafeParams()
		d := &h264Decoder{pm: f.PacketizationMode}
		if len(sps) > 0 && len(pps) > 0 {
			d.sps, d.pps = bytes.Clone(sps), bytes.Clone(pps)
			t.Config = [][]byte{d.sps, d.pps}
		}
		d.reset()
		d.dts.Initialize()
		dec = d

	case *format.H265:
		if f.MaxDONDiff != 0 {
			return nil, &UnsupportedCodecError{Codec: "H265", Reason: "sprop-max-don-diff"}
		}
		t.Kind, t.Codec, t.ClockRate = Video, CodecH265, 90000
		vps, sps, pps := f.SafeParams()
		d := &h265Decoder{}
		if len(vps) > 0 && len(sps) > 0 && len(pps) > 0 {
			d.vps, d.sps, d.pps = bytes.Clone(vps), bytes.Clone(sps), bytes.Clone(pps)
			t.Config = [][]byte{d.vps, d.sps, d.pps}
		}
		d.reset()
		d.dts.Initialize()
		dec = d

	case *format.VP8:
		t.Kind, t.Codec, t.ClockRate = Video, CodecVP8, 90000
		d := &frameDecoder{codec: CodecVP8, key: vp8IsKey}
		d.reset = func() {
			r := &rtpvp8.Decoder{}
			_ = r.Init()
			d.rtp = r.Decode
		}
		d.more, d.midway = rtpvp8.ErrMorePacketsNeeded, rtpvp8.ErrNonStartingPacketAndNoPrevious
		d.reset()
		dec = d

	case *format.VP9:
		t.Kind, t.Codec, t.ClockRate = Video, CodecVP9, 90000
		d := &frameDecoder{codec: CodecVP9, key: vp9IsKey}
		d.reset = func() {
			r := &rtpvp9.Decoder{}
			_ = r.Init()
			d.rtp = r.Decode
		}
		d.more, d.midway = rtpvp9.ErrMorePacketsNeeded, rtpvp9.ErrNonStartingPacketAndNoPrevious
		d.reset()
		dec = d

	case *format.AV1:
		t.Kind, t.Codec, t.ClockRate = Video, CodecAV1, 90000
		d := &av1Decoder{}
		d.reset()
		dec = d

	case *format.MPEG4Audio:
		if f.Config == nil {
			return nil, &UnsupportedCodecError{Codec: "MPEG-4 Audio", Reason: "no config"}
		}
		asc, err := f.Config.Marshal()
		if err != nil || f.Config.SampleRate <= 0 {
			return nil, &UnsupportedCodecError{Codec: "MPEG-4 Audio", Reason: "invalid config"}
		}
		t.Kind, t.Codec, t.ClockRate = Audio, CodecAAC, f.Config.SampleRate
		t.Config = [][]byte{asc}
		d := &aacDecoder{
			sizeLength: f.SizeLength, indexLength: f.IndexLength, indexDeltaLength: f.IndexDeltaLength,
			clockRate: f.Config.SampleRate, frameLen: aacFrameLen(f.Config),
		}
		d.reset()
		dec = d

	case *format.MPEG4AudioLATM:
		if f.CPresent || f.StreamMuxConfig == nil || len(f.StreamMuxConfig.Programs) == 0 ||
			f.StreamMuxConfig.Programs[0] == nil || len(f.StreamMuxConfig.Programs[0].Layers) == 0 ||
			f.StreamMuxConfig.Programs[0].Layers[0] == nil {
			return nil, &UnsupportedCodecError{Codec: "MPEG-4 Audio LATM", Reason: "in-band config (cpresent=1)"}
		}
		cfg := f.StreamMuxConfig.Programs[0].Layers[0].AudioSpecificConfig
		if cfg == nil || cfg.SampleRate <= 0 {
			return nil, &UnsupportedCodecError{Codec: "MPEG-4 Audio LATM", Reason: "no AudioSpecificConfig"}
		}
		asc, err := cfg.Marshal()
		if err != nil {
			return nil, &UnsupportedCodecError{Codec: "MPEG-4 Audio LATM", Reason: "invalid config"}
		}
		t.Kind, t.Codec, t.ClockRate = Audio, CodecAAC, cfg.SampleRate
		t.Config = [][]byte{asc}
		d := &latmDecoder{smc: f.StreamMuxConfig, clockRate: cfg.SampleRate, frameLen: aacFrameLen(cfg)}
		d.reset()
		dec = d

	case *format.Opus:
		ch := f.ChannelCount
		if ch <= 0 {
			ch = 2
		}
		t.Kind, t.Codec, t.ClockRate = Audio, CodecOpus, 48000
		t.Config = [][]byte{OpusHead(ch)}
		dec = &simpleAudioDecoder{codec: CodecOpus}

	case *format.G711:
		if f.ChannelCount <= 0 || f.SampleRate <= 0 {
			return nil, &UnsupportedCodecError{Codec: "G711", Reason: "invalid rate or channels"}
		}
		t.Kind, t.Codec, t.ClockRate = Audio, CodecG711A, f.SampleRate
		if f.MULaw {
			t.Codec = CodecG711U
		}
		t.Config = [][]byte{{byte(f.ChannelCount)}}
		dec = &simpleAudioDecoder{codec: t.Codec, sampleSize: f.ChannelCount}

	default:
		return nil, &UnsupportedCodecError{Codec: formatName(forma)}
	}
	return &rtpDecoder{track: t, dec: dec}, nil
}

// decode consumes one RTP packet and returns the units it completes. An
// error means the packet (or the unit it belonged to) was malformed and
// skipped; decoding goes on with the next packet.
func (d *rtpDecoder) decode(pkt *rtp.Packet, t packetTime) ([]*AccessUnit, error) {
	t.ts = pkt.Timestamp
	aus, err := d.dec.decode(pkt, t)
	for _, au := range aus {
		au.Track = d.track.ID
	}
	return aus, err
}

// cloneNALUs copies the non-empty units of au, but dropped, into one
// allocation, so that units never alias network buffers.
func cloneNALUs(au [][]byte, drop func([]byte) bool) [][]byte {
	n := 0
	for _, nalu := range au {
		n += len(nalu)
	}
	buf := make([]byte, 0, n)
	out := make([][]byte, 0, len(au))
	for _, nalu := range au {
		if len(nalu) == 0 || drop(nalu) {
			continue
		}
		start := len(buf)
		buf = append(buf, nalu...)
		out = append(out, buf[start:len(buf):len(buf)])
	}
	return out
}

// withParams returns the keyframe au with the parameter sets it lacks
// (has[k] false) taken from params. Then the parameter sets come first, in
// the order of params (VPS, SPS, PPS), and the other NAL units follow in
// their order; rank gives the index in params of a parameter set NAL
// unit, -1 for others.
func withParams(au [][]byte, params [][]byte, has []bool, rank func([]byte) int) [][]byte {
	missing := false
	for k, p := range params {
		missing = missing || (!has[k] && len(p) > 0)
	}
	if !missing {
		return au
	}
	out := make([][]byte, 0, len(au)+len(params))
	for k, p := range params {
		if !has[k] {
			if len(p) > 0 {
				out = append(out, p)
			}
			continue
		}
		for _, n := range au {
			if rank(n) == k {
				out = append(out, n)
			}
		}
	}
	for _, n := range au {
		if rank(n) < 0 {
			out = append(out, n)
		}
	}
	return out
}

func h264ParamRank(n []byte) int {
	switch h264.NALUType(n[0] & 0x1f) {
	case h264.NALUTypeSPS:
		return 0
	case h264.NALUTypePPS:
		return 1
	}
	return -1
}

func h265ParamRank(n []byte) int {
	switch h265.NALUType((n[0] >> 1) & 0x3f) {
	case h265.NALUType_VPS_NUT:
		return 0
	case h265.NALUType_SPS_NUT:
		return 1
	case h265.NALUType_PPS_NUT:
		return 2
	}
	return -1
}

// h264Decoder: RFC 6184 packets → pictures (ITU-T H.264).
type h264Decoder struct {
	pm       int
	rtp      *rtph264.Decoder
	dts      h264.DTSExtractor
	sps, pps []byte      // latest parameter sets (SDP or in-band)
	synced   bool        // a keyframe went through: units flow
	pending  *packetTime // time of the first packet buffered in rtp
}

func (d *h264Decoder) reset() {
	d.rtp = &rtph264.Decoder{PacketizationMode: d.pm}
	_ = d.rtp.Init() // PacketizationMode < 2 was checked
	d.pending = nil
}

func (d *h264Decoder) decode(pkt *rtp.Packet, t packetTime) ([]*AccessUnit, error) {
	nalus, err := d.rtp.Decode(pkt)
	switch {
	case errors.Is(err, rtph264.ErrMorePacketsNeeded):
		if d.pending == nil {
			d.pending = &t
		}
		return nil, nil
	case errors.Is(err, rtph264.ErrNonStartingPacketAndNoPrevious):
		return nil, nil // joined in the middle of a fragmented NALU
	case err != nil:
		// rtph264 drops the broken fragment or picture and stays usable.
		return nil, fmt.Errorf("H264 RTP: %w", err)
	}
	// rtph264 also ends a picture when the timestamp changes (cameras that
	// do not set the marker): then the returned picture is the buffered
	// one, and this packet starts the next.
	at := t
	if d.pending != nil && d.pending.ts != t.ts {
		at = *d.pending
		d.pending = &t
	} else {
		d.pending = nil
	}

	var hasSPS, hasPPS, key bool
	au := cloneNALUs(nalus, func(n []byte) bool {
		if n[0]&0x80 != 0 { // forbidden_zero_bit (H.264 7.4.1)
			return true
		}
		switch h264.NALUType(n[0] & 0x1f) {
		case h264.NALUTypeAccessUnitDelimiter:
			return true
		case h264.NALUTypeSPS:
			hasSPS = true
			if !bytes.Equal(d.sps, n) {
				d.sps = bytes.Clone(n)
			}
		case h264.NALUTypePPS:
			hasPPS = true
			if !bytes.Equal(d.pps, n) {
				d.pps = bytes.Clone(n)
			}
		case h264.NALUTypeIDR:
			key = true
		}
		return false
	})
	if len(au) == 0 {
		return nil, nil
	}
	if key {
		au = withParams(au, [][]byte{d.sps, d.pps}, []bool{hasSPS, hasPPS}, h264ParamRank)
	} else if !d.synced {
		return nil, nil // wait for a keyframe
	}
	dts, err := d.dts.Extract(au, at.pts)
	if err != nil {
		d.synced = false
		d.dts = h264.DTSExtractor{}
		d.dts.Initialize()
		return nil, fmt.Errorf("H264 DTS: %w", err)
	}
	d.synced = true
	return []*AccessUnit{{PTS: at.pts, DTS: dts, Key: key, NTP: at.ntp, Arrival: at.arrival, Payload: au}}, nil
}

// h265Decoder: RFC 7798 packets → pictures (ITU-T H.265).
type h265Decoder struct {
	rtp           *rtph265.Decoder
	dts           h265.DTSExtractor
	vps, sps, pps []byte
	synced        bool
	pending       *packetTime
}

func (d *h265Decoder) reset() {
	d.rtp = &rtph265.Decoder{}
	_ = d.rtp.Init()
	d.pending = nil
}

// h265IsIRAP reports an intra random access point picture (BLA, IDR, CRA:
// H.265 7.4.2.2, NAL unit types 16 to 21).
func h265IsIRAP(typ h265.NALUType) bool {
	return typ >= h265.NALUType_BLA_W_LP && typ <= h265.NALUType_CRA_NUT
}

func (d *h265Decoder) decode(pkt *rtp.Packet, t packetTime) ([]*AccessUnit, error) {
	nalus, err := d.rtp.Decode(pkt)
	switch {
	case errors.Is(err, rtph265.ErrMorePacketsNeeded):
		if d.pending == nil {
			d.pending = &t
		}
		return nil, nil
	case errors.Is(err, rtph265.ErrNonStartingPacketAndNoPrevious):
		return nil, nil
	case err != nil:
		// rtph265 drops the broken fragment or picture and stays usable.
		return nil, fmt.Errorf("H265 RTP: %w", err)
	}
	at := t // rtph265 ends pictures on the marker only
	if d.pending != nil {
		at = *d.pending
		d.pending = nil
	}

	var hasVPS, hasSPS, hasPPS, key bool
	au := cloneNALUs(nalus, func(n []byte) bool {
		if n[0]&0x80 != 0 || len(n) < 2 { // forbidden_zero_bit, 2-byte header (H.265 7.3.1.2)
			return true
		}
		typ := h265.NALUType((n[0] >> 1) & 0x3f)
		switch {
		case typ == h265.NALUType_AUD_NUT:
			return true
		case typ == h265.NALUType_VPS_NUT:
			hasVPS = true
			if !bytes.Equal(d.vps, n) {
				d.vps = bytes.Clone(n)
			}
		case typ == h265.NALUType_SPS_NUT:
			hasSPS = true
			if !bytes.Equal(d.sps, n) {
				d.sps = bytes.Clone(n)
			}
		case typ == h265.NALUType_PPS_NUT:
			hasPPS = true
			if !bytes.Equal(d.pps, n) {
				d.pps = bytes.Clone(n)
			}
		case h265IsIRAP(typ):
			key = true
		}
		return false
	})
	if len(au) == 0 {
		return nil, nil
	}
	if key {
		au = withParams(au, [][]byte{d.vps, d.sps, d.pps}, []bool{hasVPS, hasSPS, hasPPS}, h265ParamRank)
	} else if !d.synced {
		return nil, nil
	}
	dts, err := d.dts.Extract(au, at.pts)
	if err != nil {
		d.synced = false
		d.dts = h265.DTSExtractor{}
		d.dts.Initialize()
		return nil, fmt.Errorf("H265 DTS: %w", err)
	}
	d.synced = true
	return []*AccessUnit{{PTS: at.pts, DTS: dts, Key: key, NTP: at.ntp, Arrival: at.arrival, Payload: au}}, nil
}

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

func (d *aacDecoder) decode(pkt *rtp.Packet, t packetTime) ([]*AccessUnit, error) {
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
func audioUnits(frames [][]byte, t packetTime, clockRate, frameLen int) []*AccessUnit {
	aus := make([]*AccessUnit, 0, len(frames))
	for i, f := range frames {
		if len(f) == 0 {
			continue
		}
		off := int64(i) * int64(frameLen)
		aus = append(aus, &AccessUnit{
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

func (d *latmDecoder) decode(pkt *rtp.Packet, t packetTime) ([]*AccessUnit, error) {
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

func (d *simpleAudioDecoder) decode(pkt *rtp.Packet, t packetTime) ([]*AccessUnit, error) {
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
	return []*AccessUnit{{
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

// Encoder packetizes the access units of one track for RTSP readers.
type Encoder struct {
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
func (e *Encoder) Packets(au *AccessUnit) ([]*rtp.Packet, error) {
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
func NewEncoder(t Track, pt uint8) (*Encoder, error) {
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
	if t.Kind == Video {
		mediaType = description.MediaTypeVideo
	}
	e.Media = &description.Media{Type: mediaType, Formats: []format.Format{forma}}
	e.encode = pack
	return e, nil
}

// Packetizer turns the access units of one track into RTP packets, with
// timestamps relative to the unit (the caller adds the unit's time) and
// sequence numbers from a random start.
type Packetizer func(au *AccessUnit) ([]*rtp.Packet, error)

// NewPacketizer returns the packetizer of track t, payload type pt, with
// payloads of at most maxPayload bytes (0: 1450, for a 1500-byte MTU;
// WebRTC uses less). It is RTSP PLAY's packetizer, for other protocol
// adapters (WHEP).
func NewPacketizer(t Track, pt uint8, maxPayload int) (Packetizer, error) {
	_, pack, err := newPacketizer(t, pt, maxPayload)
	return pack, err
}

// newPacketizer returns the RTP format of t (payload type pt unless the
// codec has a static one) and its packetizer.
func newPacketizer(t Track, pt uint8, maxPayload int) (format.Format, Packetizer, error) {
	// init starts an encoder; errors are wrapped once here.
	type initer interface{ Init() error }
	start := func(enc initer) error {
		if err := enc.Init(); err != nil {
			return fmt.Errorf("%s packetizer: %w", t.Codec, err)
		}
		return nil
	}
	switch t.Codec {
	case CodecH264:
		f := &format.H264{PayloadTyp: pt, PacketizationMode: 1}
		if len(t.Config) >= 2 {
			f.SPS, f.PPS = t.Config[0], t.Config[1]
		}
		enc := &rtph264.Encoder{PayloadType: pt, PacketizationMode: 1, PayloadMaxSize: maxPayload}
		return f, func(au *AccessUnit) ([]*rtp.Packet, error) { return enc.Encode(au.Payload) }, start(enc)
	case CodecH265:
		f := &format.H265{PayloadTyp: pt}
		if len(t.Config) >= 3 {
			f.VPS, f.SPS, f.PPS = t.Config[0], t.Config[1], t.Config[2]
		}
		enc := &rtph265.Encoder{PayloadType: pt, PayloadMaxSize: maxPayload}
		return f, func(au *AccessUnit) ([]*rtp.Packet, error) { return enc.Encode(au.Payload) }, start(enc)
	case CodecVP8:
		enc := &rtpvp8.Encoder{PayloadType: pt, PayloadMaxSize: maxPayload}
		return &format.VP8{PayloadTyp: pt}, func(au *AccessUnit) ([]*rtp.Packet, error) { return enc.Encode(joinPayload(au.Payload)) }, start(enc)
	case CodecVP9:
		enc := &rtpvp9.Encoder{PayloadType: pt, PayloadMaxSize: maxPayload}
		return &format.VP9{PayloadTyp: pt}, func(au *AccessUnit) ([]*rtp.Packet, error) { return enc.Encode(joinPayload(au.Payload)) }, start(enc)
	case CodecAV1:
		enc := &rtpav1.Encoder{PayloadType: pt, PayloadMaxSize: maxPayload}
		return &format.AV1{PayloadTyp: pt}, func(au *AccessUnit) ([]*rtp.Packet, error) { return enc.Encode(au.Payload) }, start(enc)
	case CodecAAC:
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
		return f, func(au *AccessUnit) ([]*rtp.Packet, error) { return enc.Encode(au.Payload) }, nil
	case CodecOpus:
		enc := &rtpsimpleaudio.Encoder{PayloadType: pt, PayloadMaxSize: maxPayload}
		pack := func(au *AccessUnit) ([]*rtp.Packet, error) {
			p, err := enc.Encode(joinPayload(au.Payload))
			if err != nil {
				return nil, err
			}
			return []*rtp.Packet{p}, nil
		}
		return &format.Opus{PayloadTyp: pt, ChannelCount: opusChannels(t.Config)}, pack, start(enc)
	case CodecG711U, CodecG711A:
		ch := 1
		if len(t.Config) > 0 && len(t.Config[0]) > 0 && t.Config[0][0] > 0 {
			ch = int(t.Config[0][0])
		}
		mulaw := t.Codec == CodecG711U
		if t.ClockRate == 8000 && ch == 1 { // static payload types (RFC 3551 6)
			pt = 8
			if mulaw {
				pt = 0
			}
		}
		f := &format.G711{PayloadTyp: pt, MULaw: mulaw, SampleRate: t.ClockRate, ChannelCount: ch}
		enc := &rtplpcm.Encoder{PayloadType: pt, BitDepth: 8, ChannelCount: ch, PayloadMaxSize: maxPayload}
		return f, func(au *AccessUnit) ([]*rtp.Packet, error) { return enc.Encode(joinPayload(au.Payload)) }, start(enc)
	}
	return nil, nil, &UnsupportedCodecError{Codec: t.Codec}
}

// PacketTimer gives the presentation time of received RTP packets: both
// *gortsplib.ServerSession (RECORD) and *gortsplib.Client (PLAY) are.
type PacketTimer interface {
	PacketPTS2(*description.Media, *rtp.Packet) (int64, bool)
}

// NTP timestamps of RTCP sender reports (RFC 3550 4: seconds since 1900 in
// the high 32 bits, fraction of a second in units of 2^-32 in the low 32).
// gortsplib v4.16.2 reads and writes the fraction as nanoseconds
// (gortsplib#869), so Eddy converts sender reports itself.
const ntpEpochOffset = 2208988800 // seconds from 1900 to 1970

// NTPFromRTCP reads the NTP timestamp of a sender report.
func NTPFromRTCP(v uint64) time.Time {
	frac := (v & 0xffffffff) * 1e9 >> 32
	return time.Unix(int64(v>>32)-ntpEpochOffset, int64(frac))
}

// NTPToRTCP writes t as the NTP timestamp of a sender report.
func NTPToRTCP(t time.Time) uint64 {
	frac := uint64(t.Nanosecond()) << 32 / 1e9
	return uint64(t.Unix()+ntpEpochOffset)<<32 | frac
}

// srClock maps the RTP timestamps of one sender to its wall clock, from its
// last RTCP sender report.
type srClock struct {
	mu   sync.Mutex
	ok   bool
	ssrc uint32
	ntp  time.Time
	rtp  uint32
}

func (c *srClock) update(sr *rtcp.SenderReport) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ok, c.ssrc, c.ntp, c.rtp = true, sr.SSRC, NTPFromRTCP(sr.NTPTime), sr.RTPTime
}

// at returns the wall clock of RTP timestamp ts of sender ssrc, zero when
// no sender report of it arrived yet.
func (c *srClock) at(ssrc, ts uint32, clockRate int) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.ok || c.ssrc != ssrc || clockRate <= 0 {
		return time.Time{}
	}
	d := int64(int32(ts - c.rtp))
	return c.ntp.Add(time.Duration(d * int64(time.Second) / int64(clockRate)))
}

// IngestTrack is one track of an RTP ingest: the media and format it
// comes from and its decoder.
type IngestTrack struct {
	Media   *description.Media
	Format  format.Format
	dec     *rtpDecoder
	clock   srClock
	skipped atomic.Int64 // malformed packets or units skipped
	limiter loglimit.Limiter
}

// SelectTracks picks one supported format per media. With strict (a
// publisher's ANNOUNCE), an unsupported media or too many tracks is an
// error; otherwise (a pulled camera) such medias are skipped and logged.
func SelectTracks(medias []*description.Media, strict bool, log *slog.Logger) ([]*IngestTrack, error) {
	var tracks []*IngestTrack
	video, audio := 0, 0
	for _, m := range medias {
		if m.IsBackChannel {
			continue
		}
		var it *IngestTrack
		var lastErr error
		for _, f := range m.Formats {
			d, err := newRTPDecoder(len(tracks), f)
			if err != nil {
				lastErr = err
				continue
			}
			it = &IngestTrack{Media: m, Format: f, dec: d}
			break
		}
		if it == nil {
			if lastErr == nil {
				lastErr = &UnsupportedCodecError{Codec: string(m.Type) + " media without formats"}
			}
			if strict {
				return nil, lastErr
			}
			log.Warn("skipping media", "media", m.Type, "error", lastErr)
			continue
		}
		over := false
		if it.dec.track.Kind == Video {
			video++
			over = video > maxVideoTracks
		} else {
			audio++
			over = audio > maxAudioTracks
		}
		if over {
			if strict {
				return nil, ErrTooManyTracks
			}
			log.Warn("skipping media", "media", m.Type, "error", ErrTooManyTracks)
			continue
		}
		tracks = append(tracks, it)
	}
	if len(tracks) == 0 {
		return nil, &UnsupportedCodecError{Codec: "(none)", Reason: "no supported track"}
	}
	return tracks, nil
}

// Ingest decodes the RTP of one publication (an RTSP publisher or a
// pulled Source) into access units published on its hub.
type Ingest struct {
	Hub    *Hub
	Timer  PacketTimer
	Log    *slog.Logger
	Tracks []*IngestTrack
}

// TracksOf returns the tracks of an ingest, to publish.
func TracksOf(tracks []*IngestTrack) []Track {
	out := make([]Track, len(tracks))
	for i, it := range tracks {
		out[i] = it.dec.track
	}
	return out
}

// Handle decodes one packet of it and publishes the units it completes.
// It is called by one goroutine at a time per track.
func (in *Ingest) Handle(it *IngestTrack, pkt *rtp.Packet) {
	arrival := time.Now()
	pts, ok := in.Timer.PacketPTS2(it.Media, pkt)
	if !ok {
		return // the track has not reached a point where time can start
	}
	ntp := it.clock.at(pkt.SSRC, pkt.Timestamp, it.dec.track.ClockRate)
	aus, err := it.dec.decode(pkt, packetTime{pts: pts, ntp: ntp, arrival: arrival})
	if err != nil {
		n := it.skipped.Add(1)
		if ok, held := it.limiter.Allow(); ok {
			in.Log.Warn("skipping malformed RTP", "track", it.dec.track.ID, "codec", it.dec.track.Codec,
				"error", err, "skipped_total", n, "not_logged", held)
		}
	}
	for _, au := range aus {
		in.Hub.Publish(au)
	}
}

// HandleRTCP takes the sender reports of it's media.
func (in *Ingest) HandleRTCP(it *IngestTrack, pkt rtcp.Packet) {
	if sr, ok := pkt.(*rtcp.SenderReport); ok {
		it.clock.update(sr)
	}
}
