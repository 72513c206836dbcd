package cmaf

// VP8, VP9 and AV1 in the archive. None of them has a configuration out
// of band: the fragmenter takes it from keyframes.
//
//   - VP9 is stored with the vp09 sample entry and its vpcC (VP Codec
//     ISO-BMFF Binding v1.0 §2), from the keyframe's uncompressed header.
//   - AV1 is stored with the av01 sample entry and its av1C holding the
//     sequence header OBU (AV1 Codec ISO Media File Format Binding v1.2.0
//     §2.3); samples are OBUs with obu_size, without temporal delimiters
//     (§2.4).
//   - VP8 uses the vp08 sample entry of the same VP binding, which has the
//     vp09 layout. mediacommon's fMP4 reader and writers know vp09 only, so
//     VP8 init segments and clips are written as vp09 and renamed to vp08,
//     and read back by the reverse renaming; CodecVP8 marks such a track.
//
// Matroska: V_VP8, V_VP9 (CodecPrivate: the VP9 codec feature list),
// V_AV1 (CodecPrivate: av1C), blocks holding the samples as stored.

import (
	"encoding/binary"
	"fmt"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/av1"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/vp9"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4/seekablebuffer"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4"
)

// CodecVP8 is a VP8 track: the parameters of a vpcC, as mediacommon's VP9
// codec holds them.
type CodecVP8 struct {
	mp4.CodecVP9
}

// VP8KeyParams reads the picture size and version (the vpcC profile) of a
// VP8 key frame (RFC 6386 §9.1: 3-byte frame tag, start code 9d 01 2a,
// 14-bit width and height, little-endian, each under 2 bits of scaling).
func VP8KeyParams(frame []byte) (mp4.CodecVP9, bool) {
	if len(frame) < 10 || frame[0]&1 != 0 || frame[3] != 0x9d || frame[4] != 0x01 || frame[5] != 0x2a {
		return mp4.CodecVP9{}, false
	}
	w := int(binary.LittleEndian.Uint16(frame[6:]) & 0x3fff)
	h := int(binary.LittleEndian.Uint16(frame[8:]) & 0x3fff)
	if w == 0 || h == 0 {
		return mp4.CodecVP9{}, false
	}
	return mp4.CodecVP9{Width: w, Height: h, Profile: (frame[0] >> 1) & 0x07, BitDepth: 8, ChromaSubsampling: 1}, true
}

// VP9KeyParams reads the vpcC parameters of a VP9 key frame (VP9
// bitstream spec §6.2: color_config and frame_size of the uncompressed
// header).
func VP9KeyParams(frame []byte) (mp4.CodecVP9, bool) {
	var h vp9.Header
	if err := h.Unmarshal(frame); err != nil || h.ShowExistingFrame || h.NonKeyFrame || h.ColorConfig == nil {
		return mp4.CodecVP9{}, false
	}
	return mp4.CodecVP9{
		Width: h.Width(), Height: h.Height(), Profile: h.Profile, BitDepth: h.ColorConfig.BitDepth,
		ChromaSubsampling: h.ChromaSubsampling(), ColorRange: h.ColorConfig.ColorRange,
	}, true
}

// AV1SequenceHeader returns the sequence header OBU of a temporal unit,
// without obu_size, if it has a valid one.
func AV1SequenceHeader(obus [][]byte) ([]byte, bool) {
	for _, o := range obus {
		if len(o) == 0 || (o[0]>>3)&0x0f != 1 { // OBU_SEQUENCE_HEADER
			continue
		}
		if o[0]&0x02 != 0 {
			var bs av1.Bitstream
			if err := bs.Unmarshal(o); err != nil || len(bs) != 1 {
				return nil, false
			}
			o = bs[0]
		}
		var sh av1.SequenceHeader
		if sh.Unmarshal(o) != nil || sh.Width() <= 0 || sh.Height() <= 0 {
			return nil, false
		}
		return o, true
	}
	return nil, false
}

// AV1Sample writes a temporal unit as an AV1 sample: every OBU with
// obu_size (leb128), temporal delimiters left out.
func AV1Sample(obus [][]byte) ([]byte, error) {
	n := 0
	for _, o := range obus {
		n += len(o) + 8
	}
	out := make([]byte, 0, n)
	for _, o := range obus {
		if len(o) == 0 {
			continue
		}
		if o[0]&0x80 != 0 {
			return nil, fmt.Errorf("AV1 OBU with the forbidden bit set")
		}
		if (o[0]>>3)&0x0f == 2 { // OBU_TEMPORAL_DELIMITER
			continue
		}
		if o[0]&0x02 != 0 {
			out = append(out, o...)
			continue
		}
		hl := 1
		if o[0]&0x04 != 0 {
			hl = 2
		}
		if len(o) < hl {
			return nil, fmt.Errorf("truncated AV1 OBU header")
		}
		size := av1.LEB128(len(o) - hl)
		out = append(out, o[0]|0x02)
		out = append(out, o[1:hl]...)
		var leb [8]byte
		out = append(out, leb[:size.MarshalTo(leb[:])]...)
		out = append(out, o[hl:]...)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("empty AV1 temporal unit")
	}
	return out, nil
}

// RenameSampleEntries renames the sample entries of type from to type to
// in the moov of an ISO-BMFF file (ISO/IEC 14496-12 §8.5.2: moov / trak /
// mdia / minf / stbl / stsd), in place, and returns how many it renamed.
func RenameSampleEntries(b []byte, from, to string) int {
	n := 0
	walkSampleEntries(b, func(x Box) {
		if x.Is(from) {
			copy(x.Bytes()[4:8], to)
			n++
		}
	})
	return n
}

// MarshalInit writes init, with VP8 tracks as vp08 and H.265 tracks as
// hvc1 (H265SampleEntriesToHVC1).
func MarshalInit(init *fmp4.Init, w *seekablebuffer.Buffer) error {
	vp8 := false
	for _, t := range init.Tracks {
		if c, ok := t.Codec.(*CodecVP8); ok {
			vp8 = true
			t.Codec = &c.CodecVP9
		}
	}
	if err := init.Marshal(w); err != nil {
		return err
	}
	if vp8 {
		RenameSampleEntries(w.Bytes(), "vp09", "vp08")
	}
	H265SampleEntriesToHVC1(w.Bytes())
	return nil
}

// vp9Level is the VP9 level (×10) whose maximum picture size holds w×h
// (VP9 bitstream spec Annex A), for CODECS strings.
func vp9Level(w, h int) int {
	size := w * h
	for _, l := range []struct{ level, max int }{
		{10, 36864}, {11, 73728}, {20, 122880}, {21, 245760}, {30, 552960}, {31, 983040},
		{40, 2228224}, {50, 8912896}, {60, 35651584},
	} {
		if size <= l.max {
			return l.level
		}
	}
	return 62
}

// AV1Info parses the sequence header of an AV1 track.
func AV1Info(c *mp4.CodecAV1) (*av1.SequenceHeader, error) {
	var sh av1.SequenceHeader
	if err := sh.Unmarshal(c.SequenceHeader); err != nil {
		return nil, err
	}
	if len(sh.SeqLevelIdx) == 0 || len(sh.SeqTier) == 0 {
		return nil, fmt.Errorf("AV1 sequence header without operating points")
	}
	return &sh, nil
}

// AV1Config returns the AV1CodecConfigurationRecord (av1C, AV1-ISOBMFF
// §2.3.3) of a track: Matroska's V_AV1 CodecPrivate.
func AV1Config(c *mp4.CodecAV1, sh *av1.SequenceHeader) ([]byte, error) {
	b := func(v bool) byte {
		if v {
			return 1
		}
		return 0
	}
	cc := sh.ColorConfig
	rec := []byte{
		0x81, // marker, version 1
		sh.SeqProfile<<5 | sh.SeqLevelIdx[0]&0x1f,
		b(sh.SeqTier[0])<<7 | b(cc.HighBitDepth)<<6 | b(cc.TwelveBit)<<5 | b(cc.MonoChrome)<<4 |
			b(cc.SubsamplingX)<<3 | b(cc.SubsamplingY)<<2 | byte(cc.ChromaSamplePosition)&0x03,
		0, // no initial_presentation_delay
	}
	obu, err := av1.Bitstream{c.SequenceHeader}.Marshal()
	if err != nil {
		return nil, err
	}
	return append(rec, obu...), nil
}

// av1CodecsString is the RFC 6381 CODECS value of an AV1 track
// (AV1-ISOBMFF Annex A: av01.P.LLT.DD).
func av1CodecsString(sh *av1.SequenceHeader) string {
	tier := "M"
	if sh.SeqTier[0] {
		tier = "H"
	}
	depth := 8
	if sh.ColorConfig.HighBitDepth {
		depth = 10
		if sh.ColorConfig.TwelveBit {
			depth = 12
		}
	}
	return fmt.Sprintf("av01.%d.%02d%s.%02d", sh.SeqProfile, sh.SeqLevelIdx[0], tier, depth)
}
