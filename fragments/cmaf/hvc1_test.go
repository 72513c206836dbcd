package cmaf_test

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"
	"time"

	"github.com/eddy-video/eddy/fragments/cmaf"
	"github.com/eddy-video/eddy/fragments/fragmenter"
	"github.com/eddy-video/eddy/fragments/fragmentstest"
	"github.com/eddy-video/eddy/media"
	"github.com/eddy-video/eddy/media/mediatest"
)

// h265Init is the init segment the fragmenter writes for synthetic H.265.
func h265Init(t *testing.T) []byte {
	t.Helper()
	track := media.Track{ID: 0, Kind: media.Video, Codec: media.CodecH265, ClockRate: 90000,
		Config: [][]byte{mediatest.H265VPS, mediatest.H265SPS, mediatest.H265PPS}}
	var aus []*media.AccessUnit
	for i := range 3 * mediatest.GOP {
		at := mediatest.NTP0.Add(time.Duration(i) * 40 * time.Millisecond)
		ts := int64(i) * mediatest.VideoTicks
		aus = append(aus, &media.AccessUnit{PTS: ts, DTS: ts, Key: i%mediatest.GOP == 0, Payload: mediatest.H265AU(i), NTP: at, Arrival: at})
	}
	out := fragmentstest.RunFragmenter(t, &fragmenter.Fragmenter{Tracks: []media.Track{track}}, aus)
	if len(out) == 0 {
		t.Fatal("no fragment")
	}
	return out[0].Init.Bytes
}

// hvcCArrays returns the first byte (completeness, NAL unit type) of each
// NAL unit array of the init segment's hvcC.
func hvcCArrays(t *testing.T, b []byte) []byte {
	t.Helper()
	i := bytes.Index(b, []byte("hvcC"))
	if i < 4 {
		t.Fatal("no hvcC box")
	}
	rec := b[i+4 : i-4+int(binary.BigEndian.Uint32(b[i-4:]))]
	var heads []byte
	p := 23
	for range int(rec[22]) {
		heads = append(heads, rec[p])
		n := int(binary.BigEndian.Uint16(rec[p+1:]))
		p += 3
		for range n {
			p += 2 + int(binary.BigEndian.Uint16(rec[p:]))
		}
	}
	return heads
}

// TestH265InitIsHVC1: the H.265 sample entry is hvc1 with its parameter
// sets complete in hvcC, matching the CODECS string HLS advertises; a
// hev1 one (as Eddy stored before) becomes the same bytes.
func TestH265InitIsHVC1(t *testing.T) {
	b := h265Init(t)
	if !bytes.Contains(b, []byte("hvc1")) || bytes.Contains(b, []byte("hev1")) {
		t.Fatal("H.265 init segment has no hvc1 sample entry")
	}
	heads := hvcCArrays(t, b)
	if len(heads) != 3 {
		t.Fatalf("hvcC has %d arrays, want VPS, SPS, PPS", len(heads))
	}
	for i, h := range heads {
		if want := byte(0x80 | (32 + i)); h != want {
			t.Errorf("array %d starts %#x, want %#x (complete, NAL unit type %d)", i, h, want, 32+i)
		}
	}
	if c := cmaf.CodecsString(b); !strings.HasPrefix(c, "hvc1.") {
		t.Errorf("CODECS %q does not name the hvc1 sample entry", c)
	}
	tracks, err := cmaf.InitTracks(b)
	if err != nil || len(tracks) != 1 || tracks[0].Codec != media.CodecH265 {
		t.Fatalf("InitTracks = %v, %v", tracks, err)
	}

	old := bytes.Clone(b)
	if cmaf.RenameSampleEntries(old, "hvc1", "hev1") != 1 {
		t.Fatal("no sample entry renamed")
	}
	i := bytes.Index(old, []byte("hvcC")) + 4 + 23
	old[i] &^= 0x80 // VPS array: as the fMP4 writer leaves it
	if n := cmaf.H265SampleEntriesToHVC1(old); n != 1 || !bytes.Equal(old, b) {
		t.Errorf("hev1 init turned into hvc1: %d entries, equal %v", n, bytes.Equal(old, b))
	}
	if n := cmaf.H265SampleEntriesToHVC1(b); n != 0 {
		t.Errorf("an hvc1 init segment changed: %d", n)
	}
	// Damaged boxes are left alone, without panicking.
	for cut := range 200 {
		c := bytes.Clone(old[:len(old)-cut])
		cmaf.RenameSampleEntries(c, "hvc1", "hev1")
		cmaf.H265SampleEntriesToHVC1(c)
	}
}
