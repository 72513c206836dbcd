package cmaf

import (
	"encoding/binary"
	"fmt"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
)

// Demux reads a stored media segment (moof+mdat) into its samples per
// track. The segment's trun boxes are checked first, so damaged bytes
// fail here instead of making the fMP4 reader allocate for them.
func Demux(media []byte) (fmp4.Parts, error) {
	if err := checkTruns(media, 0); err != nil {
		return nil, err
	}
	var parts fmp4.Parts
	if err := parts.Unmarshal(media); err != nil {
		return nil, err
	}
	return parts, nil
}

// StartTime returns a demuxed fragment's media start (seconds) on the
// track that cut it: the video track when there is one, else the first
// track.
func StartTime(parts fmp4.Parts, init *Init) (float64, bool) {
	var best *fmp4.PartTrack
	var bestInit *fmp4.InitTrack
	for _, p := range parts {
		for _, pt := range p.Tracks {
			it := init.Track(pt.ID)
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

// checkTruns walks the boxes of a media segment (ISO/IEC 14496-12 §4.2)
// down to every trun (§8.8.8) and checks its sample count fits its size,
// so a damaged record cannot make the fMP4 reader allocate for billions
// of samples.
func checkTruns(b []byte, depth int) error {
	for x, err := range Boxes(b) {
		if err != nil {
			return err
		}
		body := x.Body()
		switch x.Type() {
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
	}
	return nil
}
