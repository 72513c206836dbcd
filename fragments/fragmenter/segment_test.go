package fragmenter_test

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4/seekablebuffer"

	"github.com/eddy-video/eddy/fragments"
	"github.com/eddy-video/eddy/fragments/fragmenter"
	"github.com/eddy-video/eddy/fragments/fragmentstest"
	"github.com/eddy-video/eddy/media"
	"github.com/eddy-video/eddy/media/mediatest"
)

// segCase is a publication every payload kind of the fragmenter is cut from.
type segCase struct {
	name   string
	tracks []media.Track
	aus    []*media.AccessUnit
}

func segCases(t testing.TB) []segCase {
	t0 := time.Unix(1_800_000_000, 0)
	var cases []segCase
	for _, s := range []mediatest.Synth{
		{Video: true, Audio: media.CodecAAC, InBand: true, BFrames: true, Seconds: 5, GOP: 50},
		{Video: true, Audio: media.CodecG711U, Seconds: 3, GOP: 25},
		{Audio: media.CodecOpus, Seconds: 5},
	} {
		cases = append(cases, segCase{fmt.Sprintf("synth-%s-video=%v", s.Audio, s.Video), s.Tracks(), s.Units(t0)})
	}
	for _, file := range []string{mediatest.FileVP8, mediatest.FileVP9, mediatest.FileAV1} {
		track, aus := fragmentstest.VPXUnits(t, file)
		cases = append(cases, segCase{file, []media.Track{track}, aus})
	}
	h265 := media.Track{ID: 0, Kind: media.Video, Codec: media.CodecH265, ClockRate: 90000,
		Config: [][]byte{mediatest.H265VPS, mediatest.H265SPS, mediatest.H265PPS}}
	var aus []*media.AccessUnit
	for i := range 3 * mediatest.GOP {
		ts := int64(i) * 3600
		at := t0.Add(time.Duration(ts) * time.Second / 90000)
		aus = append(aus, &media.AccessUnit{PTS: ts, DTS: ts, Key: i%mediatest.GOP == 0, Payload: mediatest.H265AU(i), NTP: at, Arrival: at})
	}
	return append(cases, segCase{"h265", []media.Track{h265}, aus})
}

// segOutputs cuts c into fragments, with parts of partTarget (0: none),
// and returns every part's and fragment's media in emission order.
func segOutputs(t testing.TB, c segCase, partTarget time.Duration) [][]byte {
	t.Helper()
	var out [][]byte
	fr := &fragmenter.Fragmenter{
		Tracks:     c.tracks,
		PartTarget: partTarget,
		EmitPart: func(_ *fragments.InitSegment, p *fragmenter.PartCut) {
			if p.Media != nil {
				out = append(out, p.Media)
			}
		},
	}
	for _, e := range fragmentstest.RunFragmenter(t, fr, c.aus) {
		out = append(out, e.F.Media)
	}
	return out
}

// TestSegmentsMatchMediacommon: every fragment and part the fragmenter
// writes, for every payload kind, is what mediacommon's fmp4.Part.Marshal
// writes for the samples it holds.
func TestSegmentsMatchMediacommon(t *testing.T) {
	for _, c := range segCases(t) {
		for _, target := range []time.Duration{0, 200 * time.Millisecond} {
			out := segOutputs(t, c, target)
			if len(out) < 3 {
				t.Fatalf("%s: %d segments", c.name, len(out))
			}
			for i, b := range out {
				var parts fmp4.Parts
				if err := parts.Unmarshal(b); err != nil || len(parts) != 1 {
					t.Fatalf("%s/%v segment %d: %d parts, %v", c.name, target, i, len(parts), err)
				}
				var buf seekablebuffer.Buffer
				if err := parts[0].Marshal(&buf); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(buf.Bytes(), b) {
					t.Fatalf("%s/%v segment %d differs from mediacommon's marshalling of its samples", c.name, target, i)
				}
			}
		}
	}
}
