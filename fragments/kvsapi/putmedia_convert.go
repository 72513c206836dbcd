package kvsapi

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"

	"github.com/eddy-video/eddy/fragments/mkv"
	"github.com/eddy-video/eddy/media"
)

// The conversion of a PutMedia upload's Matroska tracks and frames into a
// publication's tracks and access units (media's track conventions).

// pmTrack is one Matroska track of an upload and the publication track
// it became.
type pmTrack struct {
	number  uint64
	track   media.Track
	lenSize int // AVCC/HVCC NAL unit length size (1, 2 or 4); 0: not NAL units
	params  [][]byte
	// lastDelay is the largest reorder delay seen (ticks): the DTS of a
	// video frame is the delay before its place among the cluster's PTS.
	lastDelay int64
}

// errCodec is a track Eddy cannot publish (its codec, or its codec
// private data): INVALID_MKV_DATA.
var errCodec = errors.New("putmedia: unsupported track")

// convertTracks maps the Matroska tracks of an upload to publication
// tracks, in order, each with the ID of its index.
func convertTracks(ts []mkv.Track) ([]*pmTrack, error) {
	out := make([]*pmTrack, 0, len(ts))
	for i, t := range ts {
		pt, err := convertTrack(t)
		if err != nil {
			return nil, fmt.Errorf("%w: track %d (%s): %v", errCodec, t.Number, t.CodecID, err)
		}
		pt.track.ID = i
		out = append(out, pt)
	}
	return out, nil
}

func convertTrack(t mkv.Track) (*pmTrack, error) {
	pt := &pmTrack{number: t.Number}
	switch t.CodecID {
	case mkv.CodecH264:
		n, ps, err := parseAVCC(t.CodecPrivate)
		if err != nil {
			return nil, err
		}
		pt.track = media.Track{Kind: media.Video, Codec: media.CodecH264, ClockRate: 90000, Config: ps}
		// Its own copy: the track's Config is the hub's, read by its
		// readers, while params follows the parameter sets in band.
		pt.lenSize, pt.params = n, slices.Clone(ps)
	case mkv.CodecH265:
		n, ps, err := parseHVCC(t.CodecPrivate)
		if err != nil {
			return nil, err
		}
		pt.track = media.Track{Kind: media.Video, Codec: media.CodecH265, ClockRate: 90000, Config: ps}
		pt.lenSize, pt.params = n, slices.Clone(ps)
	case mkv.CodecVP8:
		pt.track = media.Track{Kind: media.Video, Codec: media.CodecVP8, ClockRate: 90000}
	case mkv.CodecVP9:
		pt.track = media.Track{Kind: media.Video, Codec: media.CodecVP9, ClockRate: 90000}
	case mkv.CodecAAC, "A_AAC/MPEG4/LC", "A_AAC/MPEG2/LC":
		var asc mpeg4audio.AudioSpecificConfig
		if err := asc.Unmarshal(t.CodecPrivate); err != nil {
			return nil, fmt.Errorf("AudioSpecificConfig: %v", err)
		}
		if asc.SampleRate <= 0 {
			return nil, errors.New("AudioSpecificConfig without a sample rate")
		}
		pt.track = media.Track{Kind: media.Audio, Codec: media.CodecAAC, ClockRate: asc.SampleRate, Config: [][]byte{bytes.Clone(t.CodecPrivate)}}
	case mkv.CodecOpus:
		cfg := [][]byte{{2}}
		if p := t.CodecPrivate; len(p) >= 19 && string(p[:8]) == "OpusHead" && p[9] > 0 {
			cfg = [][]byte{bytes.Clone(p)}
		} else if t.Channels > 0 && t.Channels < 256 {
			cfg = [][]byte{{byte(t.Channels)}}
		}
		pt.track = media.Track{Kind: media.Audio, Codec: media.CodecOpus, ClockRate: 48000, Config: cfg}
	case mkv.CodecACM:
		codec, rate, ch, err := parseWaveFormat(t.CodecPrivate)
		if err != nil {
			return nil, err
		}
		pt.track = media.Track{Kind: media.Audio, Codec: codec, ClockRate: rate, Config: [][]byte{{byte(ch)}}}
	default:
		return nil, errors.New("codec not supported (H.264, H.265, VP8, VP9, AAC, Opus, G.711 are)")
	}
	return pt, nil
}

// parseAVCC reads an AVCDecoderConfigurationRecord (ISO/IEC 14496-15
// 5.3.3.1): the NAL unit length size and the SPS and PPS, first of each.
func parseAVCC(b []byte) (int, [][]byte, error) {
	if len(b) < 7 || b[0] != 1 {
		return 0, nil, errors.New("invalid AVCDecoderConfigurationRecord")
	}
	lenSize := int(b[4]&3) + 1
	if lenSize == 3 {
		return 0, nil, errors.New("invalid NAL unit length size 3")
	}
	p := b[5:]
	var sets [2][]byte
	for k := range 2 {
		if len(p) < 1 {
			return 0, nil, errors.New("truncated AVCDecoderConfigurationRecord")
		}
		n := int(p[0])
		if k == 0 {
			n &= 0x1f
		}
		p = p[1:]
		for range n {
			if len(p) < 2 || len(p) < 2+int(binary.BigEndian.Uint16(p)) {
				return 0, nil, errors.New("truncated parameter set in AVCDecoderConfigurationRecord")
			}
			l := int(binary.BigEndian.Uint16(p))
			if sets[k] == nil && l > 0 {
				sets[k] = bytes.Clone(p[2 : 2+l])
			}
			p = p[2+l:]
		}
	}
	if sets[0] == nil || sets[1] == nil {
		return 0, nil, errors.New("AVCDecoderConfigurationRecord without SPS and PPS")
	}
	return lenSize, [][]byte{sets[0], sets[1]}, nil
}

// parseHVCC reads an HEVCDecoderConfigurationRecord (ISO/IEC 14496-15
// 8.3.3.1): the NAL unit length size and the VPS, SPS and PPS, first of
// each.
func parseHVCC(b []byte) (int, [][]byte, error) {
	if len(b) < 23 || b[0] != 1 {
		return 0, nil, errors.New("invalid HEVCDecoderConfigurationRecord")
	}
	lenSize := int(b[21]&3) + 1
	if lenSize == 3 {
		return 0, nil, errors.New("invalid NAL unit length size 3")
	}
	arrays := int(b[22])
	p := b[23:]
	var vps, sps, pps []byte
	for range arrays {
		if len(p) < 3 {
			return 0, nil, errors.New("truncated HEVCDecoderConfigurationRecord")
		}
		typ := p[0] & 0x3f
		n := int(binary.BigEndian.Uint16(p[1:]))
		p = p[3:]
		for range n {
			if len(p) < 2 || len(p) < 2+int(binary.BigEndian.Uint16(p)) {
				return 0, nil, errors.New("truncated parameter set in HEVCDecoderConfigurationRecord")
			}
			l := int(binary.BigEndian.Uint16(p))
			nalu := p[2 : 2+l]
			p = p[2+l:]
			var dst *[]byte
			switch typ {
			case 32:
				dst = &vps
			case 33:
				dst = &sps
			case 34:
				dst = &pps
			default:
				continue
			}
			if *dst == nil && l > 0 {
				*dst = bytes.Clone(nalu)
			}
		}
	}
	if vps == nil || sps == nil || pps == nil {
		return 0, nil, errors.New("HEVCDecoderConfigurationRecord without VPS, SPS and PPS")
	}
	return lenSize, [][]byte{vps, sps, pps}, nil
}

// parseWaveFormat reads the WAVEFORMATEX of an A_MS/ACM track: G.711
// A-law or mu-law, as the Kinesis Video producer SDKs write G.711.
func parseWaveFormat(b []byte) (string, int, int, error) {
	w, err := mkv.ParseWaveFormatEx(b)
	if err != nil {
		return "", 0, 0, err
	}
	if w.Channels < 1 || w.Channels > 8 || w.SampleRate < 1000 || w.SampleRate > 192000 {
		return "", 0, 0, fmt.Errorf("WAVEFORMATEX with %d channels at %d Hz", w.Channels, w.SampleRate)
	}
	switch w.FormatTag {
	case mkv.WaveFormatALaw:
		return media.CodecG711A, w.SampleRate, w.Channels, nil
	case mkv.WaveFormatMuLaw:
		return media.CodecG711U, w.SampleRate, w.Channels, nil
	}
	return "", 0, 0, fmt.Errorf("WAVEFORMATEX format tag %d (G.711 is %d or %d)", w.FormatTag, mkv.WaveFormatALaw, mkv.WaveFormatMuLaw)
}

// splitNALUs splits a length-prefixed (AVCC) frame into its NAL units,
// leaving out access unit delimiters.
func splitNALUs(b []byte, lenSize int, h265 bool) ([][]byte, error) {
	out, err := appendNALUs(nil, b, lenSize, h265)
	return out, err
}

// appendNALUs is splitNALUs appending to dst: the frame's NAL units are
// dst[len(dst):] of the result (a cluster's frames share one slice).
func appendNALUs(dst [][]byte, b []byte, lenSize int, h265 bool) ([][]byte, error) {
	n0 := len(dst)
	for len(b) > 0 {
		if len(b) < lenSize {
			return dst, errors.New("truncated NAL unit length")
		}
		var n uint64
		for _, c := range b[:lenSize] {
			n = n<<8 | uint64(c)
		}
		b = b[lenSize:]
		if n == 0 || n > uint64(len(b)) {
			return dst, fmt.Errorf("NAL unit length %d with %d bytes left", n, len(b))
		}
		nalu := b[:n:n]
		b = b[n:]
		if isAUD(nalu, h265) {
			continue
		}
		dst = append(dst, nalu)
	}
	if len(dst) == n0 {
		return dst, errors.New("frame without NAL units")
	}
	return dst, nil
}

func isAUD(n []byte, h265 bool) bool {
	if h265 {
		return len(n) >= 2 && (n[0]>>1)&0x3f == 35
	}
	return len(n) >= 1 && n[0]&0x1f == 9
}

// nalType is the NAL unit type of n.
func nalType(n []byte, h265 bool) int {
	if h265 {
		return int(n[0]>>1) & 0x3f
	}
	return int(n[0] & 0x1f)
}

// withParams returns a keyframe's NAL units with the parameter sets it
// lacks put first (media's convention: a keyframe carries them), and
// remembers the ones it carries.
func (pt *pmTrack) withParams(nalus [][]byte) [][]byte {
	h265 := pt.track.Codec == media.CodecH265
	types := [3]int{7, 8, -1}
	if h265 {
		types = [3]int{32, 33, 34}
	}
	var missing [3][]byte
	nm := 0
	for i := range pt.params {
		found := false
		for _, n := range nalus {
			if nalType(n, h265) == types[i] {
				found = true
				if !bytes.Equal(pt.params[i], n) {
					// A copy: n is in the cluster's buffer.
					pt.params[i] = bytes.Clone(n)
				}
				break
			}
		}
		if !found {
			missing[nm] = pt.params[i]
			nm++
		}
	}
	if nm == 0 {
		return nalus
	}
	out := make([][]byte, 0, nm+len(nalus))
	return append(append(out, missing[:nm]...), nalus...)
}

// ticks converts a duration to a track clock, without overflow.
func ticks(d time.Duration, rate int) int64 {
	r := int64(rate)
	s, ns := int64(d/time.Second), int64(d%time.Second)
	return s*r + ns*r/int64(time.Second)
}

// units converts one cluster's frames into access units: media times from
// origin (the session's first cluster timecode) in each track's clock,
// NTP the frame's producer time (base + cluster timecode + frame time),
// video DTS derived from the order of the frames (Matroska stores PTS
// only: a frame's DTS is the delay before its place among the cluster's
// sorted PTS).
func convertFrames(f *mkv.Fragment, tracks map[uint64]*pmTrack, origin time.Duration, base time.Time, arrival time.Time) ([]*media.AccessUnit, error) {
	// One allocation each for the units, their pointers and their
	// payloads' slices.
	units := make([]media.AccessUnit, len(f.Frames))
	out := make([]*media.AccessUnit, len(f.Frames))
	slab := make([][]byte, 0, len(f.Frames)+len(f.Frames)/2)
	// The PTS of each video track's frames, in upload order (at most
	// pmMaxTracks tracks).
	type videoPTS struct {
		pt  *pmTrack
		pts []int64
	}
	var videos [pmMaxTracks]videoPTS
	nv := 0
	for i := range f.Frames {
		fr := &f.Frames[i]
		pt := tracks[fr.Track]
		if pt == nil {
			return nil, fmt.Errorf("frame of undeclared track %d", fr.Track)
		}
		rel := f.Timecode + fr.Time - origin
		pts := ticks(rel, pt.track.ClockRate)
		au := &units[i]
		*au = media.AccessUnit{Track: pt.track.ID, PTS: pts, DTS: pts, Key: fr.Key || pt.track.Kind == media.Audio,
			NTP: base.Add(f.Timecode + fr.Time), Arrival: arrival}
		switch {
		case pt.lenSize > 0:
			n0 := len(slab)
			var err error
			if slab, err = appendNALUs(slab, fr.Data, pt.lenSize, pt.track.Codec == media.CodecH265); err != nil {
				return nil, fmt.Errorf("track %d: %v", fr.Track, err)
			}
			nalus := slab[n0:len(slab):len(slab)]
			if au.Key {
				nalus = pt.withParams(nalus)
			}
			au.Payload = nalus
			v := 0
			for v < nv && videos[v].pt != pt {
				v++
			}
			if v == nv {
				if nv == len(videos) {
					return nil, errors.New("more video tracks than allowed")
				}
				videos[v] = videoPTS{pt: pt, pts: make([]int64, 0, len(f.Frames))}
				nv++
			}
			videos[v].pts = append(videos[v].pts, pts)
		default:
			slab = append(slab, fr.Data)
			au.Payload = slab[len(slab)-1 : len(slab) : len(slab)]
		}
		out[i] = au
	}
	for _, v := range videos[:nv] {
		pt, ptsList := v.pt, v.pts
		sorted := ptsList
		if !slices.IsSorted(ptsList) {
			sorted = slices.Clone(ptsList)
			slices.Sort(sorted)
		}
		delay := pt.lastDelay
		for i, p := range ptsList {
			delay = max(delay, sorted[i]-p)
		}
		pt.lastDelay = delay
		i := 0
		for _, au := range out {
			if au.Track == pt.track.ID {
				au.DTS = sorted[i] - delay
				i++
			}
		}
	}
	return out, nil
}
