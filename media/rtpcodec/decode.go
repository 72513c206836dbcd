package rtpcodec

import (
	"bytes"
	"strings"
	"time"

	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtpvp8"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtpvp9"
	"github.com/pion/rtp"

	"github.com/eddy-video/eddy/media"
)

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
	decode(pkt *rtp.Packet, t packetTime) ([]*media.AccessUnit, error)
}

// rtpDecoder turns the RTP packets of one track into access units. It is
// used by one goroutine at a time.
type rtpDecoder struct {
	track media.Track
	dec   codecDecoder
}

// newRTPDecoder describes forma as a Track with ID id and returns its
// decoder, or an *UnsupportedCodecError.
func newRTPDecoder(id int, forma format.Format) (*rtpDecoder, error) {
	t := media.Track{ID: id}
	var dec codecDecoder
	switch f := forma.(type) {
	case *format.H264:
		if f.PacketizationMode >= 2 {
			return nil, &UnsupportedCodecError{Codec: "H264", Reason: "packetization-mode 2"}
		}
		t.Kind, t.Codec, t.ClockRate = media.Video, media.CodecH264, 90000
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
		t.Kind, t.Codec, t.ClockRate = media.Video, media.CodecH265, 90000
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
		t.Kind, t.Codec, t.ClockRate = media.Video, media.CodecVP8, 90000
		dec = newFrameDecoder[rtpvp8.Decoder](media.CodecVP8, vp8IsKey, rtpvp8.ErrMorePacketsNeeded, rtpvp8.ErrNonStartingPacketAndNoPrevious)

	case *format.VP9:
		t.Kind, t.Codec, t.ClockRate = media.Video, media.CodecVP9, 90000
		dec = newFrameDecoder[rtpvp9.Decoder](media.CodecVP9, vp9IsKey, rtpvp9.ErrMorePacketsNeeded, rtpvp9.ErrNonStartingPacketAndNoPrevious)

	case *format.AV1:
		t.Kind, t.Codec, t.ClockRate = media.Video, media.CodecAV1, 90000
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
		t.Kind, t.Codec, t.ClockRate = media.Audio, media.CodecAAC, f.Config.SampleRate
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
		t.Kind, t.Codec, t.ClockRate = media.Audio, media.CodecAAC, cfg.SampleRate
		t.Config = [][]byte{asc}
		d := &latmDecoder{smc: f.StreamMuxConfig, clockRate: cfg.SampleRate, frameLen: aacFrameLen(cfg)}
		d.reset()
		dec = d

	case *format.Opus:
		ch := f.ChannelCount
		if ch <= 0 {
			ch = 2
		}
		t.Kind, t.Codec, t.ClockRate = media.Audio, media.CodecOpus, 48000
		t.Config = [][]byte{OpusHead(ch)}
		dec = &simpleAudioDecoder{codec: media.CodecOpus}

	case *format.G711:
		if f.ChannelCount <= 0 || f.SampleRate <= 0 {
			return nil, &UnsupportedCodecError{Codec: "G711", Reason: "invalid rate or channels"}
		}
		t.Kind, t.Codec, t.ClockRate = media.Audio, media.CodecG711A, f.SampleRate
		if f.MULaw {
			t.Codec = media.CodecG711U
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
func (d *rtpDecoder) decode(pkt *rtp.Packet, t packetTime) ([]*media.AccessUnit, error) {
	t.ts = pkt.Timestamp
	aus, err := d.dec.decode(pkt, t)
	for _, au := range aus {
		au.Track = d.track.ID
	}
	return aus, err
}

// filterNALUs returns the non-empty units of au, but dropped, in their
// order, without copying their bytes: the returned slice reuses au's
// (rtph264 and rtph265 hand each picture's slice over and start a new one).
//
// Units alias the packets' payloads, and that is safe because every
// packet this package decodes has a payload buffer of its own that no one
// writes after: gortsplib allocates one per interleaved frame (TCP), its
// UDP listeners take a new buffer whenever a packet was accepted, pion's
// TrackRemote.ReadRTP (WHIP) allocates one per packet, and rtph264/rtph265
// join FU-A/FU fragments into a new buffer per NAL unit. (Ingest.Handle
// states this as its contract; TestRTSPPublishH264AAC, over TCP and UDP,
// checks every unit's bytes after all packets arrived.)
// Copying every unit once more cost about 1 GB of allocation per 41 s at
// 100 streams (8% of the server's).
func filterNALUs(au [][]byte, drop func([]byte) bool) [][]byte {
	out := au[:0]
	for _, nalu := range au {
		if len(nalu) == 0 || drop(nalu) {
			continue
		}
		out = append(out, nalu)
	}
	clear(au[len(out):])
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
