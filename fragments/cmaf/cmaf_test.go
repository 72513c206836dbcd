package cmaf_test

import (
	"bytes"
	"testing"

	"github.com/eddy-video/eddy/fragments/cmaf"
	"github.com/eddy-video/eddy/fragments/fragmenter"
	"github.com/eddy-video/eddy/fragments/fragmentstest"
	"github.com/eddy-video/eddy/media"
	"github.com/eddy-video/eddy/media/mediatest"
)

func TestAV1Sample(t *testing.T) {
	// obu_size is added (after an extension header too), temporal
	// delimiters are left out, OBUs that have obu_size are kept.
	got, err := cmaf.AV1Sample([][]byte{{0x10}, {0x08, 1, 2}, {0x34, 0x08, 0xaa}, {0x32, 0x01, 0xbb}})
	want := []byte{0x0a, 2, 1, 2, 0x36, 0x08, 1, 0xaa, 0x32, 0x01, 0xbb}
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("av1Sample = % x, %v; want % x", got, err, want)
	}
	if _, err := cmaf.AV1Sample([][]byte{{0x12, 0}}); err == nil {
		t.Error("a temporal unit of only a temporal delimiter was accepted")
	}
}

func TestRenameSampleEntries(t *testing.T) {
	track, aus := fragmentstest.VPXUnits(t, mediatest.FileVP8)
	out := fragmentstest.RunFragmenter(t, &fragmenter.Fragmenter{Tracks: []media.Track{track}}, aus[:30])
	b := out[0].Init.Bytes
	if !bytes.Contains(b, []byte("vp08")) || bytes.Contains(b, []byte("vp09")) {
		t.Fatal("VP8 init segment has no vp08 sample entry")
	}
	c := bytes.Clone(b)
	if n := cmaf.RenameSampleEntries(c, "vp08", "vp09"); n != 1 || !bytes.Contains(c, []byte("vp09")) {
		t.Fatalf("renamed %d", n)
	}
	// Damaged boxes are left alone, without panicking.
	for i := range 64 {
		cmaf.RenameSampleEntries(c[:len(c)-i], "vp09", "vp08")
	}
	if cmaf.RenameSampleEntries([]byte{0, 0, 0, 1, 'm', 'o', 'o', 'v'}, "vp09", "vp08") != 0 {
		t.Error("renamed in a broken box")
	}
}
