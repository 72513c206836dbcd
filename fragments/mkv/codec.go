package mkv

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/Eyevinn/mp4ff/avc"
	"github.com/Eyevinn/mp4ff/hevc"
)

// Matroska codec IDs (RFC 9559 and the Matroska codec mappings). KVS
// producers send H.264 and H.265 with ISO/IEC 14496-15 records, AAC with
// its AudioSpecificConfig, Opus with its OpusHead and G.711 as A_MS/ACM
// with a WAVEFORMATEX.
const (
	CodecH264      = "V_MPEG4/ISO/AVC"
	CodecH265      = "V_MPEGH/ISO/HEVC"
	CodecVP8       = "V_VP8"
	CodecVP9       = "V_VP9"
	CodecAV1       = "V_AV1"
	CodecAAC       = "A_AAC"
	CodecOpus      = "A_OPUS"
	CodecACM       = "A_MS/ACM"
	CodecPCMBig    = "A_PCM/INT/BIG"
	CodecPCMLittle = "A_PCM/INT/LIT"
)

// OpusSeekPreRoll is the SeekPreRoll of an Opus track: 80 ms of pre-roll
// after a seek (RFC 7845 §4.6 recommends at least 80 ms).
const OpusSeekPreRoll = 80_000_000

// H264Track sets t up as an H.264 video track of these parameter sets:
// codec ID, AVCDecoderConfigurationRecord and, when the first SPS parses,
// the picture size (0 × 0 when it does not).
func H264Track(t *Track, sps, pps [][]byte) error {
	if len(sps) == 0 || len(pps) == 0 {
		return errors.New("H.264 without SPS and PPS")
	}
	rec, err := avc.CreateAVCDecConfRec(sps, pps, true)
	if err != nil {
		return fmt.Errorf("H.264 parameter sets: %w", err)
	}
	var b bytes.Buffer
	if err := rec.Encode(&b); err != nil {
		return err
	}
	t.Type, t.CodecID, t.CodecPrivate = Video, CodecH264, b.Bytes()
	t.Width, t.Height = 0, 0
	if s, err := avc.ParseSPSNALUnit(sps[0], false); err == nil {
		t.Width, t.Height = int(s.Width), int(s.Height)
	}
	return nil
}

// H265Track sets t up as an H.265 video track of these parameter sets:
// codec ID, HEVCDecoderConfigurationRecord and, when the first SPS
// parses, the picture size (0 × 0 when it does not).
func H265Track(t *Track, vps, sps, pps [][]byte) error {
	if len(vps) == 0 || len(sps) == 0 || len(pps) == 0 {
		return errors.New("H.265 without VPS, SPS and PPS")
	}
	rec, err := hevc.CreateHEVCDecConfRec(vps, sps, pps, true, true, true, true)
	if err != nil {
		return fmt.Errorf("H.265 parameter sets: %w", err)
	}
	var b bytes.Buffer
	if err := rec.Encode(&b); err != nil {
		return err
	}
	t.Type, t.CodecID, t.CodecPrivate = Video, CodecH265, b.Bytes()
	t.Width, t.Height = 0, 0
	if s, err := hevc.ParseSPSNALUnit(sps[0]); err == nil {
		w, h := s.ImageSize()
		t.Width, t.Height = int(w), int(h)
	}
	return nil
}

// OpusTrack sets t up as an Opus audio track of this identification
// header (RFC 7845 §5.1, at least 19 bytes): 48 kHz, its channel count,
// CodecDelay from its pre-skip, OpusSeekPreRoll.
func OpusTrack(t *Track, head []byte) error {
	if len(head) < 19 || !bytes.HasPrefix(head, []byte("OpusHead")) {
		return errors.New("not an OpusHead")
	}
	t.Type, t.CodecID, t.CodecPrivate = Audio, CodecOpus, head
	t.SampleRate, t.Channels = 48000, int(head[9])
	t.CodecDelay = uint64(binary.LittleEndian.Uint16(head[10:])) * 1_000_000_000 / 48000
	t.SeekPreRoll = OpusSeekPreRoll
	return nil
}

// WaveFormat is what a WAVEFORMATEX (the CodecPrivate of A_MS/ACM) says.
type WaveFormat struct {
	FormatTag     uint16 // WaveFormatALaw, WaveFormatMuLaw, …
	Channels      int
	SampleRate    int
	BitsPerSample int
}

// ParseWaveFormatEx reads the CodecPrivate of an A_MS/ACM track, as
// WaveFormatEx writes it (18 bytes; a bare 16-byte WAVEFORMAT too).
func ParseWaveFormatEx(b []byte) (WaveFormat, error) {
	if len(b) < 16 {
		return WaveFormat{}, fmt.Errorf("WAVEFORMATEX of %d bytes, want at least 16", len(b))
	}
	return WaveFormat{
		FormatTag:     binary.LittleEndian.Uint16(b[0:]),
		Channels:      int(binary.LittleEndian.Uint16(b[2:])),
		SampleRate:    int(binary.LittleEndian.Uint32(b[4:])),
		BitsPerSample: int(binary.LittleEndian.Uint16(b[14:])),
	}, nil
}
