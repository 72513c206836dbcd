package fragments

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/Eyevinn/mp4ff/avc"
	"github.com/Eyevinn/mp4ff/hevc"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4"

	"github.com/eddy-video/eddy/fragments/mkv"
	"github.com/eddy-video/eddy/media"
)

// parsedInit is a decoded init segment.
type parsedInit struct {
	id     InitID
	tracks []*fmp4.InitTrack
}

func parseInit(id InitID, b []byte) (*parsedInit, error) {
	// VP8 (vp08) is read as the vp09 it was written as: Eddy's init
	// segments have one video track, so every vp09 of such a segment is VP8.
	vp8 := false
	if bytes.Contains(b, []byte("vp08")) {
		b = bytes.Clone(b)
		vp8 = renameSampleEntries(b, "vp08", "vp09") > 0
	}
	var init fmp4.Init
	if err := init.Unmarshal(bytes.NewReader(b)); err != nil {
		return nil, fmt.Errorf("init segment %s: %w", id, err)
	}
	if vp8 {
		for _, t := range init.Tracks {
			if c, ok := t.Codec.(*mp4.CodecVP9); ok {
				t.Codec = &codecVP8{CodecVP9: *c}
			}
		}
	}
	return &parsedInit{id: id, tracks: init.Tracks}, nil
}

func (p *parsedInit) track(id int) *fmp4.InitTrack {
	for _, t := range p.tracks {
		if t.ID == id {
			return t
		}
	}
	return nil
}

// demuxed is a fragment's samples per track.
type demuxed struct {
	frag  *Fragment
	parts fmp4.Parts
}

func demux(f *Fragment) (*demuxed, error) {
	if err := checkTruns(f.Media, 0); err != nil {
		return nil, fmt.Errorf("fragment %s: %w", FragmentNumber(f.Seq), err)
	}
	var parts fmp4.Parts
	if err := parts.Unmarshal(f.Media); err != nil {
		return nil, fmt.Errorf("fragment %s: %w", FragmentNumber(f.Seq), err)
	}
	return &demuxed{frag: f, parts: parts}, nil
}

// startTime returns the fragment's media start (seconds) on the track
// that cut it: the video track when there is one, else the first track.
func (d *demuxed) startTime(init *parsedInit) (float64, bool) {
	var best *fmp4.PartTrack
	var bestInit *fmp4.InitTrack
	for _, p := range d.parts {
		for _, pt := range p.Tracks {
			it := init.track(pt.ID)
			if it == nil || len(pt.Samples) == 0 {
				continue
			}
			if best == nil || (it.Codec.IsVideo() && !bestInit.Codec.IsVideo()) {
				best, bestInit = pt, it
			}
		}
	}
	if best == nil {
		return 0, false
	}
	pts := int64(best.BaseTime) + int64(best.Samples[0].PTSOffset)
	return float64(pts) / float64(bestInit.TimeScale), true
}

// mkvCodec describes a track for Matroska: codec ID and CodecPrivate
// (ISO/IEC 14496-15 records for H.264/H.265, the VP9 feature list, av1C,
// AudioSpecificConfig, OpusHead; none for VP8).
func mkvCodec(t *fmp4.InitTrack) (mkv.Track, error) {
	mt := mkv.Track{Number: uint64(t.ID), UID: uint64(t.ID)}
	switch c := t.Codec.(type) {
	case *mp4.CodecH264:
		rec, err := avc.CreateAVCDecConfRec([][]byte{c.SPS}, [][]byte{c.PPS}, true)
		if err != nil {
			return mt, errf(KindInvalidCodecPrivate, "The codec private data of track %d is invalid: %v.", t.ID, err)
		}
		var b bytes.Buffer
		if err := rec.Encode(&b); err != nil {
			return mt, err
		}
		mt.Type, mt.CodecID, mt.CodecPrivate = mkv.Video, "V_MPEG4/ISO/AVC", b.Bytes()
		if sps, err := avc.ParseSPSNALUnit(c.SPS, false); err == nil {
			mt.Width, mt.Height = int(sps.Width), int(sps.Height)
		}
	case *mp4.CodecH265:
		rec, err := hevc.CreateHEVCDecConfRec([][]byte{c.VPS}, [][]byte{c.SPS}, [][]byte{c.PPS}, true, true, true, true)
		if err != nil {
			return mt, errf(KindInvalidCodecPrivate, "The codec private data of track %d is invalid: %v.", t.ID, err)
		}
		var b bytes.Buffer
		if err := rec.Encode(&b); err != nil {
			return mt, err
		}
		mt.Type, mt.CodecID, mt.CodecPrivate = mkv.Video, "V_MPEGH/ISO/HEVC", b.Bytes()
		if sps, err := hevc.ParseSPSNALUnit(c.SPS); err == nil {
			w, h := sps.ImageSize()
			mt.Width, mt.Height = int(w), int(h)
		}
	case *codecVP8:
		mt.Type, mt.CodecID = mkv.Video, "V_VP8"
		mt.Width, mt.Height = c.Width, c.Height
	case *mp4.CodecVP9:
		mt.Type, mt.CodecID, mt.CodecPrivate = mkv.Video, "V_VP9", vp9CodecPrivate(c)
		mt.Width, mt.Height = c.Width, c.Height
	case *mp4.CodecAV1:
		sh, err := av1Info(c)
		if err != nil {
			return mt, errf(KindInvalidCodecPrivate, "The codec private data of track %d is invalid: %v.", t.ID, err)
		}
		rec, err := av1Config(c, sh)
		if err != nil {
			return mt, errf(KindInvalidCodecPrivate, "The codec private data of track %d is invalid: %v.", t.ID, err)
		}
		mt.Type, mt.CodecID, mt.CodecPrivate = mkv.Video, "V_AV1", rec
		mt.Width, mt.Height = sh.Width(), sh.Height()
	case *mp4.CodecMPEG4Audio:
		asc, err := c.Config.Marshal()
		if err != nil {
			return mt, errf(KindInvalidCodecPrivate, "The codec private data of track %d is invalid: %v.", t.ID, err)
		}
		mt.Type, mt.CodecID, mt.CodecPrivate = mkv.Audio, "A_AAC", asc
		mt.SampleRate, mt.Channels = float64(c.Config.SampleRate), c.Config.ChannelCount
	case *mp4.CodecOpus:
		// RFC 7845 §5.1 identification header; Matroska's A_OPUS carries it.
		head := []byte{'O', 'p', 'u', 's', 'H', 'e', 'a', 'd', 1, byte(c.ChannelCount), 0x38, 0x01, 0x80, 0xbb, 0, 0, 0, 0, 0}
		mt.Type, mt.CodecID, mt.CodecPrivate = mkv.Audio, "A_OPUS", head
		mt.SampleRate, mt.Channels = 48000, c.ChannelCount
		mt.CodecDelay, mt.SeekPreRoll = 6500000, 80000000
	case *mp4.CodecLPCM:
		mt.Type, mt.CodecID = mkv.Audio, "A_PCM/INT/BIG"
		if c.LittleEndian {
			mt.CodecID = "A_PCM/INT/LIT"
		}
		mt.SampleRate, mt.Channels, mt.BitDepth = float64(c.SampleRate), c.ChannelCount, c.BitDepth
	default:
		return mt, errf(KindUnsupportedMedia, "Track %d has a codec Matroska output does not support.", t.ID)
	}
	return mt, nil
}

// checkTruns walks the boxes of a media segment (ISO/IEC 14496-12 §4.2)
// down to every trun (§8.8.8) and checks its sample count fits its size,
// so a damaged record cannot make the fMP4 reader allocate for billions
// of samples.
func checkTruns(b []byte, depth int) error {
	for len(b) > 0 {
		if len(b) < 8 {
			return fmt.Errorf("truncated box header")
		}
		size := int(binary.BigEndian.Uint32(b))
		typ := string(b[4:8])
		hdr := 8
		if size == 1 {
			if len(b) < 16 {
				return fmt.Errorf("truncated box header")
			}
			size64 := binary.BigEndian.Uint64(b[8:])
			if size64 > uint64(len(b)) {
				return fmt.Errorf("box %q larger than its parent", typ)
			}
			size, hdr = int(size64), 16
		}
		if size == 0 {
			size = len(b)
		}
		if size < hdr || size > len(b) {
			return fmt.Errorf("box %q has a bad size", typ)
		}
		body := b[hdr:size]
		switch typ {
		case "moof", "traf":
			if depth > 4 {
				return fmt.Errorf("boxes nested too deep")
			}
			if err := checkTruns(body, depth+1); err != nil {
				return err
			}
		case "trun":
			if len(body) < 8 {
				return fmt.Errorf("truncated trun")
			}
			flags := binary.BigEndian.Uint32(body) & 0xffffff
			count := uint64(binary.BigEndian.Uint32(body[4:]))
			fixed := uint64(8)
			if flags&0x1 != 0 {
				fixed += 4
			}
			if flags&0x4 != 0 {
				fixed += 4
			}
			per := uint64(0)
			for _, bit := range []uint32{0x100, 0x200, 0x400, 0x800} {
				if flags&bit != 0 {
					per += 4
				}
			}
			if count > 1<<20 || fixed > uint64(len(body)) || count*per > uint64(len(body))-fixed {
				return fmt.Errorf("trun declares %d samples in %d bytes", count, len(body))
			}
		}
		b = b[size:]
	}
	return nil
}

// InitTracks describes the tracks of an init segment with the hub's codec
// names (media.CodecH264, ...; "LPCM" for G.711 stored as PCM), so that
// how a recording plays can be decided as for a live publication
// (media.PlaybackOf). Tracks of other codecs are left out.
func InitTracks(init []byte) ([]media.Track, error) {
	p, err := parseInit(InitID{}, init)
	if err != nil {
		return nil, err
	}
	var out []media.Track
	for _, t := range p.tracks {
		mt := media.Track{ID: t.ID, Kind: media.Video, ClockRate: int(t.TimeScale)}
		switch t.Codec.(type) {
		case *mp4.CodecH264:
			mt.Codec = media.CodecH264
		case *mp4.CodecH265:
			mt.Codec = media.CodecH265
		case *codecVP8:
			mt.Codec = media.CodecVP8
		case *mp4.CodecVP9:
			mt.Codec = media.CodecVP9
		case *mp4.CodecAV1:
			mt.Codec = media.CodecAV1
		case *mp4.CodecMPEG4Audio:
			mt.Kind, mt.Codec = media.Audio, media.CodecAAC
		case *mp4.CodecOpus:
			mt.Kind, mt.Codec = media.Audio, media.CodecOpus
		case *mp4.CodecLPCM:
			mt.Kind, mt.Codec = media.Audio, "LPCM"
		default:
			continue
		}
		out = append(out, mt)
	}
	return out, nil
}

// CodecsString returns the RFC 6381 CODECS value of an init segment's
// tracks for an HLS master playlist ("" when it cannot be told).
func CodecsString(init []byte) string {
	p, err := parseInit(InitID{}, init)
	if err != nil {
		return ""
	}
	var out []string
	for _, t := range p.tracks {
		switch c := t.Codec.(type) {
		case *mp4.CodecH264:
			if len(c.SPS) >= 4 {
				out = append(out, fmt.Sprintf("avc1.%02x%02x%02x", c.SPS[1], c.SPS[2], c.SPS[3]))
			}
		case *mp4.CodecH265:
			out = append(out, "hvc1.1.6.L120.90")
		case *mp4.CodecVP9:
			// VP Codec ISO-BMFF binding §5: vp09.PP.LL.DD.
			out = append(out, fmt.Sprintf("vp09.%02d.%02d.%02d", c.Profile, vp9Level(c.Width, c.Height), c.BitDepth))
		case *mp4.CodecAV1:
			if sh, err := av1Info(c); err == nil {
				out = append(out, av1CodecsString(sh))
			}
		case *mp4.CodecMPEG4Audio:
			out = append(out, fmt.Sprintf("mp4a.40.%d", int(c.Config.Type)))
		case *mp4.CodecOpus:
			out = append(out, "opus")
		}
	}
	return strings.Join(out, ",")
}
