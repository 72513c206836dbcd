package putmedia

import (
	"bytes"
	"fmt"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"

	"github.com/eddy-video/eddy/fragments/mkv"
	"github.com/eddy-video/eddy/media"
	"github.com/eddy-video/eddy/media/rtpcodec"
)

// mkvTrack describes a codec-neutral track (media's Track conventions) as
// a Matroska TrackEntry numbered number. key is a keyframe of a video
// track, whose parameter sets serve when the track has no Config (an RTSP
// camera that sends them in-band only).
func mkvTrack(t media.Track, number uint64, key [][]byte) (mkv.Track, error) {
	mt := mkv.Track{Number: number, UID: number}
	switch t.Codec {
	case media.CodecH264:
		sps, pps := paramsOf(t.Config, key, func(n []byte) int { return int(n[0] & 0x1F) }, 7, 8)
		if err := mkv.H264Track(&mt, sps, pps); err != nil {
			return mt, fmt.Errorf("putmedia: %w", err)
		}
		if mt.Width == 0 {
			return mt, fmt.Errorf("putmedia: H.264 SPS without a picture size")
		}
	case media.CodecH265:
		typ := func(n []byte) int { return int(n[0]>>1) & 0x3F }
		vps, _ := paramsOf(t.Config, key, typ, 32, -1)
		sps, pps := paramsOf(t.Config, key, typ, 33, 34)
		if err := mkv.H265Track(&mt, vps, sps, pps); err != nil {
			return mt, fmt.Errorf("putmedia: %w", err)
		}
		if mt.Width == 0 {
			return mt, fmt.Errorf("putmedia: H.265 SPS without a picture size")
		}
	case media.CodecAAC:
		if len(t.Config) == 0 {
			return mt, fmt.Errorf("putmedia: AAC track without AudioSpecificConfig")
		}
		var c mpeg4audio.AudioSpecificConfig
		if err := c.Unmarshal(t.Config[0]); err != nil {
			return mt, fmt.Errorf("putmedia: AAC AudioSpecificConfig: %w", err)
		}
		mt.Type, mt.CodecID, mt.CodecPrivate = mkv.Audio, mkv.CodecAAC, t.Config[0]
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
		if err := mkv.OpusTrack(&mt, head); err != nil {
			return mt, fmt.Errorf("putmedia: %w", err)
		}
	case media.CodecG711U, media.CodecG711A:
		tag := uint16(mkv.WaveFormatMuLaw)
		if t.Codec == media.CodecG711A {
			tag = mkv.WaveFormatALaw
		}
		ch := media.G711Channels(t)
		mt.Type, mt.CodecID, mt.CodecPrivate = mkv.Audio, mkv.CodecACM, mkv.WaveFormatEx(tag, t.ClockRate, ch, 8)
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
// NAL units with 4-byte big-endian lengths (AVCC, as the codec records
// say), an audio frame as is.
func blockData(video bool, payload [][]byte) []byte {
	if !video {
		if len(payload) == 1 {
			return payload[0]
		}
		return bytes.Join(payload, nil)
	}
	b, _ := h264.AVCC(payload).Marshal() // fails never (mediacommon v2.4)
	return b
}
