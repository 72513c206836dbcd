package mediatest

import (
	"bytes"
	"time"

	"github.com/eddy-video/eddy/media"
)

// Synth shapes a synthetic publication as access units: 25 fps H.264
// (track 0) with a keyframe every GOP frames, and one audio track (track
// 1), interleaved by time as a hub delivers them. The NAL units are short
// stand-ins (an IDR or non-IDR slice header and the frame number), but for
// the SPS and PPS, which are real: a fragmenter parses them.
type Synth struct {
	Video   bool
	Audio   string // media.CodecAAC (44.1 kHz stereo), CodecG711U (8 kHz), CodecOpus or ""
	InBand  bool   // keyframes carry SPS and PPS
	BFrames bool   // composition offsets: PTS = DTS + one frame on non-key frames
	Seconds float64
	GOP     int // frames per GOP
}

// aac44100 is the AudioSpecificConfig of Synth's AAC: AAC-LC, 44.1 kHz,
// stereo.
var aac44100 = []byte{0x12, 0x10}

// Tracks returns the tracks of the publication.
func (o Synth) Tracks() []media.Track {
	var out []media.Track
	if o.Video {
		out = append(out, media.Track{ID: 0, Kind: media.Video, Codec: media.CodecH264, ClockRate: 90000, Config: [][]byte{H264SPS, H264PPS}})
	}
	switch o.Audio {
	case media.CodecAAC:
		out = append(out, media.Track{ID: 1, Kind: media.Audio, Codec: media.CodecAAC, ClockRate: 44100, Config: [][]byte{aac44100}})
	case media.CodecG711U:
		out = append(out, media.Track{ID: 1, Kind: media.Audio, Codec: media.CodecG711U, ClockRate: 8000})
	case media.CodecOpus:
		out = append(out, media.Track{ID: 1, Kind: media.Audio, Codec: media.CodecOpus, ClockRate: 48000, Config: [][]byte{{2}}})
	}
	return out
}

// AudioFrame returns the audio codec's frame length (in its clock) and
// clock rate.
func (o Synth) AudioFrame() (int64, int64) {
	switch o.Audio {
	case media.CodecG711U:
		return 160, 8000
	case media.CodecOpus:
		return 960, 48000
	}
	return 1024, 44100
}

// Units returns the access units of the publication, the first captured
// at ntp0 (NTP and Arrival follow the media time).
func (o Synth) Units(ntp0 time.Time) []*media.AccessUnit {
	var out []*media.AccessUnit
	frames := int(o.Seconds * 25)
	frameLen, rate := o.AudioFrame()
	audio := 0
	if o.Audio != "" {
		audio = int(o.Seconds * float64(rate) / float64(frameLen))
	}
	ai := 0
	addAudio := func(upTo int64) {
		for ai < audio && int64(ai)*frameLen*90000/rate <= upTo {
			pts := int64(ai) * frameLen
			payload := []byte{0x21, byte(ai)}
			if o.Audio == media.CodecG711U {
				payload = bytes.Repeat([]byte{0xff}, int(frameLen))
			}
			at := ntp0.Add(time.Duration(pts) * time.Second / time.Duration(rate))
			out = append(out, &media.AccessUnit{Track: 1, PTS: pts, DTS: pts, Payload: [][]byte{payload}, NTP: at, Arrival: at})
			ai++
		}
	}
	if !o.Video {
		addAudio(int64(o.Seconds * 90000))
		return out
	}
	for i := 0; i < frames; i++ {
		vt := int64(i) * 3600
		addAudio(vt)
		key := i%o.GOP == 0
		nalus := [][]byte{{0x41, byte(i), 1, 2, 3}}
		if key {
			nalus = [][]byte{{0x65, byte(i), 4, 5, 6}}
			if o.InBand {
				nalus = [][]byte{H264SPS, H264PPS, {0x65, byte(i), 4, 5, 6}}
			}
		}
		pts := vt
		if o.BFrames && !key {
			pts += 3600
		}
		at := ntp0.Add(time.Duration(vt) * time.Second / 90000)
		out = append(out, &media.AccessUnit{Track: 0, PTS: pts, DTS: vt, Key: key, Payload: nalus, NTP: at, Arrival: at})
	}
	return out
}
