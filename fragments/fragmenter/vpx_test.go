package fragmenter_test

import (
	"bytes"
	"testing"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4"

	"github.com/eddy-video/eddy/fragments/cmaf"
	"github.com/eddy-video/eddy/fragments/fragmenter"
	"github.com/eddy-video/eddy/fragments/fragmentstest"
	"github.com/eddy-video/eddy/media"
	"github.com/eddy-video/eddy/media/mediatest"
)

func TestFragmenterVP9SizeChange(t *testing.T) {
	// A keyframe with another picture size starts a new init segment.
	track, aus := fragmentstest.VPXUnits(t, mediatest.FileVP9)
	_, other := fragmentstest.VPXUnits(t, mediatest.FileVP9)
	big := bytes.Clone(other[25].Payload[0])
	hdr, ok := cmaf.VP9KeyParams(big)
	if !ok || hdr.Width != 320 {
		t.Fatalf("key frame header: %+v", hdr)
	}
	setVP9Width(big, 640)
	if p, ok := cmaf.VP9KeyParams(big); !ok || p.Width != 640 {
		t.Fatalf("rewritten header: %+v", p)
	}
	aus[25] = &media.AccessUnit{Track: 0, PTS: aus[25].PTS, DTS: aus[25].DTS, Key: true, Payload: [][]byte{big}}
	out := fragmentstest.RunFragmenter(t, &fragmenter.Fragmenter{Tracks: []media.Track{track}}, aus)
	if len(out) != 3 || out[0].Init.ID == out[1].Init.ID {
		t.Fatalf("%d fragments; the size change did not make a new init segment", len(out))
	}
	p, err := cmaf.ParseInit(out[1].Init.Bytes)
	if err != nil || p.Tracks[0].Codec.(*mp4.CodecVP9).Width != 640 {
		t.Fatalf("second init: %v", err)
	}
}

// setVP9Width rewrites frame_width_minus_1 of a profile-0 VP9 key frame
// (VP9 spec §6.2: 2+1+1 bits marker and profile, show_existing_frame,
// frame_type, show_frame, error_resilient_mode, 24 bits sync code,
// 3 bits color_space, 1 bit color_range, then 16 bits width - 1).
func setVP9Width(b []byte, w int) {
	pos := 4 + 1 + 3 + 24 + 4
	v := uint(w - 1)
	for i := 0; i < 16; i++ {
		bit := (v >> (15 - i)) & 1
		byteIdx, shift := (pos+i)/8, 7-uint((pos+i)%8)
		b[byteIdx] = b[byteIdx]&^(1<<shift) | byte(bit<<shift)
	}
}
