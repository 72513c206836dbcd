package fragments_test

import (
	"bytes"
	"crypto/sha256"
	"testing"
	"time"

	"github.com/eddy-video/eddy/datastreams/datastreamstest"
	"github.com/eddy-video/eddy/fragments"
	"github.com/eddy-video/eddy/fragments/cmaf"
	"github.com/eddy-video/eddy/fragments/fragmenter"
	"github.com/eddy-video/eddy/fragments/fragmentstest"
	"github.com/eddy-video/eddy/media"
	"github.com/eddy-video/eddy/media/mediatest"
)

// TestStoredHev1InitServedAsHVC1: an H.265 init segment stored by an
// earlier Eddy (hev1) is served as hvc1 after a restart, under its
// stored id, and stays as it was on disk.
func TestStoredHev1InitServedAsHVC1(t *testing.T) {
	track := media.Track{ID: 0, Kind: media.Video, Codec: media.CodecH265, ClockRate: 90000,
		Config: [][]byte{mediatest.H265VPS, mediatest.H265SPS, mediatest.H265PPS}}
	var aus []*media.AccessUnit
	for i := range 2 * mediatest.GOP {
		at := mediatest.NTP0.Add(time.Duration(i) * 40 * time.Millisecond)
		ts := int64(i) * mediatest.VideoTicks
		aus = append(aus, &media.AccessUnit{PTS: ts, DTS: ts, Key: i%mediatest.GOP == 0, Payload: mediatest.H265AU(i), NTP: at, Arrival: at})
	}
	out := fragmentstest.RunFragmenter(t, &fragmenter.Fragmenter{Tracks: []media.Track{track}}, aus)
	want := out[0].Init.Bytes
	old := bytes.Clone(want)
	if cmaf.RenameSampleEntries(old, "hvc1", "hev1") != 1 {
		t.Fatal("no sample entry to rename")
	}
	sum := sha256.Sum256(old)
	init := &fragments.InitSegment{ID: fragments.InitID(sum[:16]), Bytes: old}

	dir := t.TempDir()
	clk := datastreamstest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	st, stop := openCam(t, dir, clk)
	f := out[0].F
	f.InitID = init.ID
	if _, err := st.Append(init, f); err != nil {
		t.Fatal(err)
	}
	stop()

	_, m := fragmentstest.NewManager(t, dir, clk, 0)
	st, err := m.Store("cam")
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // read from disk, then from the cache
		got, err := st.Init(init.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(got, []byte("hvc1")) || bytes.Contains(got, []byte("hev1")) {
			t.Fatal("stored hev1 init segment served as it was")
		}
		if c := cmaf.CodecsString(got); c == "" || c[:5] != "hvc1." {
			t.Errorf("CODECS %q", c)
		}
	}
}
