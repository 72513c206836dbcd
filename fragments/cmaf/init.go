package cmaf

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4"

	"github.com/eddy-video/eddy/media"
)

// Init is a decoded init segment (ftyp+moov).
type Init struct {
	Tracks []*fmp4.InitTrack
}

// ParseInit decodes an init segment as Eddy stores it; VP8 tracks come
// back as *CodecVP8.
func ParseInit(b []byte) (*Init, error) {
	// VP8 (vp08) is read as the vp09 it was written as: Eddy's init
	// segments have one video track, so every vp09 of such a segment is VP8.
	vp8 := false
	if bytes.Contains(b, []byte("vp08")) {
		b = bytes.Clone(b)
		vp8 = RenameSampleEntries(b, "vp08", "vp09") > 0
	}
	var init fmp4.Init
	if err := init.Unmarshal(bytes.NewReader(b)); err != nil {
		return nil, fmt.Errorf("init segment: %w", err)
	}
	if vp8 {
		for _, t := range init.Tracks {
			if c, ok := t.Codec.(*mp4.CodecVP9); ok {
				t.Codec = &CodecVP8{CodecVP9: *c}
			}
		}
	}
	return &Init{Tracks: init.Tracks}, nil
}

// Track returns the track with fMP4 track ID id, or nil.
func (p *Init) Track(id int) *fmp4.InitTrack {
	for _, t := range p.Tracks {
		if t.ID == id {
			return t
		}
	}
	return nil
}

// InitTracks describes the tracks of an init segment with the hub's codec
// names (media.CodecH264, ...; "LPCM" for G.711 stored as PCM), so that
// how a recording plays can be decided as for a live publication
// (media.PlaybackOf). Tracks of other codecs are left out.
func InitTracks(init []byte) ([]media.Track, error) {
	p, err := ParseInit(init)
	if err != nil {
		return nil, err
	}
	var out []media.Track
	for _, t := range p.Tracks {
		mt := media.Track{ID: t.ID, Kind: media.Video, ClockRate: int(t.TimeScale)}
		switch t.Codec.(type) {
		case *mp4.CodecH264:
			mt.Codec = media.CodecH264
		case *mp4.CodecH265:
			mt.Codec = media.CodecH265
		case *CodecVP8:
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
	p, err := ParseInit(init)
	if err != nil {
		return ""
	}
	var out []string
	for _, t := range p.Tracks {
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
			if sh, err := AV1Info(c); err == nil {
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
