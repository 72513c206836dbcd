package archive_test

import (
	"bytes"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4"

	"github.com/eddy-video/eddy/datastreams/datastreamstest"
	"github.com/eddy-video/eddy/fragments"
	"github.com/eddy-video/eddy/fragments/archive"
	"github.com/eddy-video/eddy/fragments/cmaf"
	"github.com/eddy-video/eddy/fragments/fragmenter"
	"github.com/eddy-video/eddy/fragments/fragmentstest"
	"github.com/eddy-video/eddy/media"
	"github.com/eddy-video/eddy/media/mediatest"
)

// probeFile runs ffprobe on data and returns its JSON streams and the
// number of frames ffmpeg decoded, failing on any decoding error.
func probeFile(t *testing.T, data []byte) (streams []map[string]any, frames int) {
	t.Helper()
	mediatest.RequireTool(t, "ffmpeg", "ffprobe")
	for _, s := range mediatest.FFprobeJSON(t, data, "-count_frames", "-show_streams")["streams"].([]any) {
		streams = append(streams, s.(map[string]any))
	}
	if len(streams) == 0 {
		t.Fatal("ffprobe found no stream")
	}
	mediatest.FFmpegDecodes(t, data)
	n, _ := strconv.Atoi(fmt.Sprint(streams[0]["nb_read_frames"]))
	return streams, n
}

func TestFragmenterVPXAV1(t *testing.T) {
	for _, tc := range []struct {
		file, probeName string
		codecs          string // CODECS of the init segment
	}{
		{mediatest.FileVP8, "vp8", ""},
		{mediatest.FileVP9, "vp9", "vp09.00.20.08"},
		{mediatest.FileAV1, "av1", "av01.0.00M.08"},
	} {
		track, aus := fragmentstest.VPXUnits(t, tc.file)
		t.Run(track.Codec, func(t *testing.T) {
			t.Parallel()
			// The units before the first keyframe are skipped.
			pre := &media.AccessUnit{Track: 0, PTS: -3600, DTS: -3600, Payload: aus[1].Payload}
			out := fragmentstest.RunFragmenter(t, &fragmenter.Fragmenter{Tracks: []media.Track{track}}, append([]*media.AccessUnit{pre}, aus...))
			if len(out) != 3 {
				t.Fatalf("%d fragments, want 3 (one per GOP)", len(out))
			}
			init := out[0].Init
			for _, e := range out {
				if e.Init != init || !e.F.Keyframe || e.F.Duration != int64(time.Second) {
					t.Errorf("fragment: init %v, keyframe %v, duration %v", e.Init.ID, e.F.Keyframe, time.Duration(e.F.Duration))
				}
			}
			p, err := cmaf.ParseInit(init.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			var w, h int
			switch c := p.Tracks[0].Codec.(type) {
			case *cmaf.CodecVP8:
				w, h = c.Width, c.Height
			case *mp4.CodecVP9:
				w, h = c.Width, c.Height
				if c.Profile != 0 || c.BitDepth != 8 || c.ChromaSubsampling != 1 {
					t.Errorf("vpcC %+v", c)
				}
			case *mp4.CodecAV1:
				sh, err := cmaf.AV1Info(c)
				if err != nil {
					t.Fatal(err)
				}
				w, h = sh.Width(), sh.Height()
			}
			if w != 320 || h != 240 {
				t.Errorf("init track %T: %dx%d", p.Tracks[0].Codec, w, h)
			}
			if got := cmaf.CodecsString(init.Bytes); got != tc.codecs {
				t.Errorf("CODECS %q, want %q", got, tc.codecs)
			}

			// fMP4: the init segment and the fragments, as HLS serves them.
			fmp4 := bytes.Clone(init.Bytes)
			for _, e := range out {
				fmp4 = append(fmp4, e.F.Media...)
			}
			checkProbe(t, "fMP4", fmp4, tc.probeName, 75)

			// The archive: MKV (GetMediaForFragmentList) and MP4 (GetClip).
			clk := datastreamstest.NewClock(time.Unix(1_700_000_000, 0))
			_, m := fragmentstest.NewManager(t, t.TempDir(), clk, 1<<20)
			if _, err := m.CreateStream("cam", fragments.CreateOptions{RetentionHours: 1}); err != nil {
				t.Fatal(err)
			}
			st, err := m.Store("cam")
			if err != nil {
				t.Fatal(err)
			}
			var seqs []uint64
			for _, e := range out {
				seq, err := st.Append(e.Init, e.F)
				if err != nil {
					t.Fatal(err)
				}
				seqs = append(seqs, seq)
			}
			var mkv bytes.Buffer
			if err := archive.WriteMKV(st, &mkv, seqs); err != nil {
				t.Fatal(err)
			}
			checkProbe(t, "MKV", mkv.Bytes(), tc.probeName, 75)
			var entries []fragments.IndexEntry
			for _, s := range seqs {
				e, _ := st.Lookup(s)
				entries = append(entries, e)
			}
			clip, err := archive.BuildClip(st, entries)
			if err != nil {
				t.Fatal(err)
			}
			checkProbe(t, "clip", clip.Bytes, tc.probeName, 75)
		})
	}
}

func checkProbe(t *testing.T, what string, data []byte, codec string, frames int) {
	t.Helper()
	streams, n := probeFile(t, data)
	s := streams[0]
	if len(streams) != 1 || s["codec_name"] != codec || s["width"] != float64(320) || s["height"] != float64(240) || n != frames {
		t.Errorf("%s: ffprobe %s %vx%v, %d frames (%d streams); want %s 320x240, %d frames",
			what, s["codec_name"], s["width"], s["height"], n, len(streams), codec, frames)
	}
}

// FuzzParseInit feeds arbitrary bytes to the init segment reader (with
// its vp08 renaming) and what archive reads derive from an init segment:
// they must fail cleanly, never panic.
func FuzzParseInit(f *testing.F) {
	for _, file := range []string{mediatest.FileVP8, mediatest.FileVP9, mediatest.FileAV1} {
		codec, units, err := mediatest.Units(mediatest.Testdata(file))
		if err != nil {
			f.Fatal(err)
		}
		var init []byte
		fr := &fragmenter.Fragmenter{Tracks: []media.Track{{Kind: media.Video, Codec: codec, ClockRate: 90000}, fragmentstest.Tracks()[1]},
			Emit: func(i *fragments.InitSegment, _ *fragments.Fragment) error { init = i.Bytes; return nil }}
		if err := fr.Initialize(); err != nil {
			f.Fatal(err)
		}
		_ = fr.Push(&media.AccessUnit{Key: true, Payload: units[0].Payload})
		_ = fr.Push(&media.AccessUnit{Track: 1, Key: true, Payload: [][]byte{{0x21, 0}}})
		_ = fr.Flush()
		f.Add(init)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 1<<16 {
			return
		}
		_ = cmaf.CodecsString(b)
		_, _ = cmaf.InitTracks(b)
		p, err := cmaf.ParseInit(b)
		if err != nil {
			return
		}
		for _, tr := range p.Tracks {
			_, _ = archive.MKVCodec(tr)
		}
	})
}
