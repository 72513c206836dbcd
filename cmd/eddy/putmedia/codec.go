package putmedia

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/Eyevinn/mp4ff/avc"
	"github.com/Eyevinn/mp4ff/hevc"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"

	"github.com/eddy-video/eddy/fragments/mkv"
	"github.com/eddy-video/eddy/media"
	"github.com/eddy-video/eddy/media/rtpcodec"
)

// Matroska codec IDs of the tracks KVS takes (the Kinesis Video producer
// SDK writes the same: H.264 and H.265 with ISO/IEC 14496-15 records, AAC
// with its AudioSpecificConfig, Opus with its OpusHead, G.711 as A_MS/ACM
// with a WAVEFORMATEX).
const (
	codecH264 = "V_MPEG4/ISO/AVC"
	codecH265 = "V_MPEGH/ISO/HEVC"
	codecAAC  = "A_AAC"
	codecOpus = "A_OPUS"
	codecACM  = "A_MS/ACM"
)

// Opus in Matroska: 80 ms of pre-roll after a seek (RFC 7845 §4.6
// recommends at least 80 ms), the codec delay is the OpusHead's pre-skip.
const opusSeekPreRoll = 80_000_000

// mkvTrack describes a codec-neutral track (media's Track conventions) as
// a Matroska TrackEntry numbered number. key is a keyframe of a video
// track, whose parameter sets serve when the track has no Config (an RTSP
// camera that sends them in-band only).
func mkvTrack(t media.Track, number uint64, key [][]byte) (mkv.Track, error) {
	mt := mkv.Track{Number: number, UID: number}
	switch t.Codec {
	case media.CodecH264:
		sps, pps := paramsOf(t.Config, key, func(n []byte) int { return int(n[0] & 0x1F) }, 7, 8)
		if len(sps) == 0 || len(pps) == 0 {
			return mt, fmt.Errorf("putmedia: H.264 track without SPS and PPS")
		}
		rec, err := avc.CreateAVCDecConfRec(sps, pps, true)
		if err != nil {
			return mt, fmt.Errorf("putmedia: H.264 parameter sets: %w", err)
		}
		var b bytes.Buffer
		if err := rec.Encode(&b); err != nil {
			return mt, err
		}
		s, err := avc.ParseSPSNALUnit(sps[0], false)
		if err != nil {
			return mt, fmt.Errorf("putmedia: H.264 SPS: %w", err)
		}
		mt.Type, mt.CodecID, mt.CodecPrivate = mkv.Video, codecH264, b.Bytes()
		mt.Width, mt.Height = int(s.Width), int(s.Height)
	case media.CodecH265:
		typ := func(n []byte) int { return int(n[0]>>1) & 0x3F }
		vps, _ := paramsOf(t.Config, key, typ, 32, -1)
		sps, pps := paramsOf(t.Config, key, typ, 33, 34)
		if len(vps) == 0 || len(sps) == 0 || len(pps) == 0 {
			return mt, fmt.Errorf("putmedia: H.265 track without VPS, SPS and PPS")
		}
		rec, err := hevc.CreateHEVCDecConfRec(vps, sps, pps, true, true, true, true)
		if err != nil {
			return mt, fmt.Errorf("putmedia: H.265 parameter sets: %w", err)
		}
		var b bytes.Buffer
		if err := rec.Encode(&b); err != nil {
			return mt, err
		}
		s, err := hevc.ParseSPSNALUnit(sps[0])
		if err != nil {
			return mt, fmt.Errorf("putmedia: H.265 SPS: %w", err)
		}
		w, h := s.ImageSize()
		mt.Type, mt.CodecID, mt.CodecPrivate = mkv.Video, codecH265, b.Bytes()
		mt.Width, mt.Height = int(w), int(h)
	case media.CodecAAC:
		if len(t.Config) == 0 {
			return mt, fmt.Errorf("putmedia: AAC track without AudioSpecificConfig")
		}
		var c mpeg4audio.AudioSpecificConfig
		if err := c.Unmarshal(t.Config[0]); err != nil {
			return mt, fmt.Errorf("putmedia: AAC AudioSpecificConfig: %w", err)
		}
		mt.Type, mt.CodecID, mt.CodecPrivate = mkv.Audio, codecAAC, t.Config[0]
		mt.SampleRate, mt.Channels = float64(c.SampleRate), c.ChannelCount
	case media.CodecOpus:
		head := rtpcodec.OpusHead(2)
		switch {
		case len(t.Config) == 0:
		case len(t.Config[0]) >= 19 && bytes.HasPrefix(t.Config[0], []byte("OpusHead")):
			head = t.Config[0]
		case len(t.Config[0]) == 1 && t.Config[0][0] > 0: // a channel count (media's other convention)
			head = rtpcodec.OpusHead(int(t.Config[0][0]))
		}
		mt.Type, mt.CodecID, mt.CodecPrivate = mkv.Audio, codecOpus, head
		mt.SampleRate, mt.Channels = 48000, int(head[9])
		mt.CodecDelay = uint64(binary.LittleEndian.Uint16(head[10:])) * 1_000_000_000 / 48000
		mt.SeekPreRoll = opusSeekPreRoll
	case media.CodecG711U, media.CodecG711A:
		tag := uint16(mkv.WaveFormatMuLaw)
		if t.Codec == media.CodecG711A {
			tag = mkv.WaveFormatALaw
		}
		ch := media.G711Channels(t)
		mt.Type, mt.CodecID, mt.CodecPrivate = mkv.Audio, codecACM, mkv.WaveFormatEx(tag, t.ClockRate, ch, 8)
		mt.SampleRate, mt.Channels, mt.BitDepth = float64(t.ClockRate), ch, 8
	default:
		return mt, fmt.Errorf("putmedia: codec %s: KVS takes H.264, H.265, AAC, Opus and G.711", t.Codec)
	}
	return mt, nil
}

// paramsOf returns the NAL units of types a and b from config, or, when
// config has none of type a, from the keyframe's NAL units.
func paramsOf(config, key [][]byte, typ func([]byte) int, a, b int) (as, bs [][]byte) {
	for _, src := range [][][]byte{config, key} {
		as, bs = nil, nil
		for _, n := range src {
			if len(n) == 0 {
				continue
			}
			switch typ(n) {
			case a:
				as = append(as, n)
			case b:
				bs = append(bs, n)
			}
		}
		if len(as) > 0 {
			return as, bs
		}
	}
	return as, bs
}

// blockData is a unit's payload as a Matroska block carries it: video
// NAL units with 4-byte big-endian lengths (the records above say so),
// an audio frame as is.
func blockData(video bool, payload [][]byte) []byte {
	if !video {
		if len(payload) == 1 {
			return payload[0]
		}
		return bytes.Join(payload, nil)
	}
	n := 0
	for _, p := range payload {
		n += 4 + len(p)
	}
	b := make([]byte, 0, n)
	for _, p := range payload {
		b = binary.BigEndian.AppendUint32(b, uint32(len(p)))
		b = append(b, p...)
	}
	return b
}
