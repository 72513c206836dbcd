package mkv_test

import (
	"bytes"
	"testing"

	"github.com/eddy-video/eddy/fragments/mkv"
	"github.com/eddy-video/eddy/media/mediatest"
	"github.com/eddy-video/eddy/media/rtpcodec"
)

// TestCodecTracks: the H.264, H.265 and Opus track set-ups write the
// codec records and sizes a reader finds again after a round trip
// through the stream muxer.
func TestCodecTracks(t *testing.T) {
	var h264, h265, opus mkv.Track
	if err := mkv.H264Track(&h264, [][]byte{mediatest.H264SPS}, [][]byte{mediatest.H264PPS}); err != nil {
		t.Fatal(err)
	}
	if err := mkv.H265Track(&h265, [][]byte{mediatest.H265VPS}, [][]byte{mediatest.H265SPS}, [][]byte{mediatest.H265PPS}); err != nil {
		t.Fatal(err)
	}
	if err := mkv.OpusTrack(&opus, rtpcodec.OpusHead(2)); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		tr        mkv.Track
		codec     string
		recFirst  byte // configurationVersion
		wantSized bool
	}{{h264, mkv.CodecH264, 1, true}, {h265, mkv.CodecH265, 1, true}, {opus, mkv.CodecOpus, 'O', false}} {
		if c.tr.CodecID != c.codec || len(c.tr.CodecPrivate) == 0 || c.tr.CodecPrivate[0] != c.recFirst {
			t.Errorf("%s: codec %s, private % x", c.codec, c.tr.CodecID, c.tr.CodecPrivate)
		}
		if c.wantSized && (c.tr.Width == 0 || c.tr.Height == 0) {
			t.Errorf("%s: size %dx%d from the SPS", c.codec, c.tr.Width, c.tr.Height)
		}
	}
	if opus.Channels != 2 || opus.SampleRate != 48000 || opus.CodecDelay != 0 || opus.SeekPreRoll != mkv.OpusSeekPreRoll {
		t.Errorf("Opus track %+v", opus)
	}
	if err := mkv.H264Track(&h264, nil, [][]byte{mediatest.H264PPS}); err == nil {
		t.Error("H.264 without SPS was taken")
	}
	if err := mkv.OpusTrack(&opus, []byte("OpusHead")); err == nil {
		t.Error("a short OpusHead was taken")
	}

	h264.Number, h264.UID = 1, 1
	opus.Number, opus.UID = 2, 2
	doc, err := mkv.AppendStreamHeader(nil, "", []mkv.Track{h264, opus})
	if err != nil {
		t.Fatal(err)
	}
	doc, err = mkv.AppendCluster(doc, []mkv.Track{h264, opus}, &mkv.Cluster{Frames: []mkv.Frame{{Track: 1, Key: true, Data: []byte{0, 0, 0, 1, 0x65}}}}, false)
	if err != nil {
		t.Fatal(err)
	}
	f, err := mkv.NewReader(bytes.NewReader(doc)).Next()
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Tracks) != 2 || !bytes.Equal(f.Tracks[0].CodecPrivate, h264.CodecPrivate) || f.Tracks[0].Width != h264.Width ||
		f.Tracks[1].CodecDelay != opus.CodecDelay || f.Tracks[1].CodecID != mkv.CodecOpus {
		t.Errorf("read back %+v", f.Tracks)
	}
}

// TestCodecWaveFormatEx: ParseWaveFormatEx reads what WaveFormatEx
// writes, and refuses a short one.
func TestCodecWaveFormatEx(t *testing.T) {
	b := mkv.WaveFormatEx(mkv.WaveFormatALaw, 8000, 2, 8)
	w, err := mkv.ParseWaveFormatEx(b)
	if err != nil || w != (mkv.WaveFormat{FormatTag: mkv.WaveFormatALaw, Channels: 2, SampleRate: 8000, BitsPerSample: 8}) {
		t.Fatalf("%+v %v", w, err)
	}
	if _, err := mkv.ParseWaveFormatEx(b[:15]); err == nil {
		t.Error("15 bytes taken")
	}
}
