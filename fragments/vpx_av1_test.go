package fragments

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4"

	"github.com/eddy-video/eddy/datastreams/datastreamstest"
	"github.com/eddy-video/eddy/media"
	"github.com/eddy-video/eddy/media/mediatest"
)

// vpxUnits reads a testdata file as the hub would carry it: 3 s of
// 320x240 at 25 fps, keyframes at frames 0, 25 and 50.
func vpxUnits(t *testing.T, file string) (media.Track, []*media.AccessUnit) {
	t.Helper()
	codec, units, err := mediatest.Units(mediatest.Testdata(file))
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Unix(1_700_000_000, 0)
	var aus []*media.AccessUnit
	for i, u := range units {
		at := t0.Add(time.Duration(u.PTS) * time.Second / 90000)
		aus = append(aus, &media.AccessUnit{Track: 0, PTS: u.PTS, DTS: u.PTS, Key: i%25 == 0, NTP: at, Arrival: at, Payload: u.Payload})
	}
	return media.Track{ID: 0, Kind: media.Video, Codec: codec, ClockRate: 90000}, aus
}

// probeFile runs ffprobe on data and returns its JSON streams and the
// number of frames ffmpeg decoded, failing on any decoding error.
func probeFile(t *testing.T, data []byte) (streams []map[string]any, frames int) {
	t.Helper()
	for _, b := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(b); err != nil {
			t.Skipf("%s not on PATH", b)
		}
	}
	f := filepath.Join(t.TempDir(), "media")
	if err := os.WriteFile(f, data, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("ffprobe", "-v", "error", "-of", "json", "-count_frames", "-show_streams", f).Output()
	if err != nil {
		t.Fatalf("ffprobe: %v", err)
	}
	var v struct{ Streams []map[string]any }
	if err := json.Unmarshal(out, &v); err != nil || len(v.Streams) == 0 {
		t.Fatalf("ffprobe: %v: %s", err, out)
	}
	cmd := exec.Command("ffmpeg", "-v", "error", "-i", f, "-f", "null", "-")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("ffmpeg decode: %v: %s", err, stderr.String())
	}
	for _, line := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
		if line != "" && !strings.Contains(line, "unknown-length element with ID 0x18538067") {
			t.Fatalf("ffmpeg decode reported: %s", stderr.String())
		}
	}
	n, _ := strconv.Atoi(fmt.Sprint(v.Streams[0]["nb_read_frames"]))
	return v.Streams, n
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
		track, aus := vpxUnits(t, tc.file)
		t.Run(track.Codec, func(t *testing.T) {
			t.Parallel()
			// The units before the first keyframe are skipped.
			pre := &media.AccessUnit{Track: 0, PTS: -3600, DTS: -3600, Payload: aus[1].Payload}
			out := runFragmenter(t, &Fragmenter{Tracks: []media.Track{track}}, append([]*media.AccessUnit{pre}, aus...))
			if len(out) != 3 {
				t.Fatalf("%d fragments, want 3 (one per GOP)", len(out))
			}
			init := out[0].init
			for _, e := range out {
				if e.init != init || !e.f.Keyframe || e.f.Duration != int64(time.Second) {
					t.Errorf("fragment: init %v, keyframe %v, duration %v", e.init.ID, e.f.Keyframe, time.Duration(e.f.Duration))
				}
			}
			p, err := parseInit(init.ID, init.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			var w, h int
			switch c := p.tracks[0].Codec.(type) {
			case *codecVP8:
				w, h = c.Width, c.Height
			case *mp4.CodecVP9:
				w, h = c.Width, c.Height
				if c.Profile != 0 || c.BitDepth != 8 || c.ChromaSubsampling != 1 {
					t.Errorf("vpcC %+v", c)
				}
			case *mp4.CodecAV1:
				sh, err := av1Info(c)
				if err != nil {
					t.Fatal(err)
				}
				w, h = sh.Width(), sh.Height()
			}
			if w != 320 || h != 240 {
				t.Errorf("init track %T: %dx%d", p.tracks[0].Codec, w, h)
			}
			if got := CodecsString(init.Bytes); got != tc.codecs {
				t.Errorf("CODECS %q, want %q", got, tc.codecs)
			}

			// fMP4: the init segment and the fragments, as HLS serves them.
			fmp4 := bytes.Clone(init.Bytes)
			for _, e := range out {
				fmp4 = append(fmp4, e.f.Media...)
			}
			checkProbe(t, "fMP4", fmp4, tc.probeName, 75)

			// The archive: MKV (GetMediaForFragmentList) and MP4 (GetClip).
			clk := datastreamstest.NewClock(time.Unix(1_700_000_000, 0))
			_, m := newTestManager(t, t.TempDir(), clk, 1<<20)
			if _, err := m.CreateStream("cam", CreateOptions{RetentionHours: 1}); err != nil {
				t.Fatal(err)
			}
			st, err := m.Store("cam")
			if err != nil {
				t.Fatal(err)
			}
			var seqs []uint64
			for _, e := range out {
				seq, err := st.Append(e.init, e.f)
				if err != nil {
					t.Fatal(err)
				}
				seqs = append(seqs, seq)
			}
			var mkv bytes.Buffer
			if err := st.WriteMKV(&mkv, seqs); err != nil {
				t.Fatal(err)
			}
			checkProbe(t, "MKV", mkv.Bytes(), tc.probeName, 75)
			var entries []IndexEntry
			for _, s := range seqs {
				e, _ := st.Lookup(s)
				entries = append(entries, e)
			}
			clip, err := st.BuildClip(entries)
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

func TestFragmenterVP9SizeChange(t *testing.T) {
	// A keyframe with another picture size starts a new init segment.
	track, aus := vpxUnits(t, mediatest.FileVP9)
	_, other := vpxUnits(t, mediatest.FileVP9)
	big := bytes.Clone(other[25].Payload[0])
	hdr, ok := vp9KeyParams(big)
	if !ok || hdr.Width != 320 {
		t.Fatalf("key frame header: %+v", hdr)
	}
	setVP9Width(big, 640)
	if p, ok := vp9KeyParams(big); !ok || p.Width != 640 {
		t.Fatalf("rewritten header: %+v", p)
	}
	aus[25] = &media.AccessUnit{Track: 0, PTS: aus[25].PTS, DTS: aus[25].DTS, Key: true, Payload: [][]byte{big}}
	out := runFragmenter(t, &Fragmenter{Tracks: []media.Track{track}}, aus)
	if len(out) != 3 || out[0].init.ID == out[1].init.ID {
		t.Fatalf("%d fragments; the size change did not make a new init segment", len(out))
	}
	p, err := parseInit(out[1].init.ID, out[1].init.Bytes)
	if err != nil || p.tracks[0].Codec.(*mp4.CodecVP9).Width != 640 {
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

func TestAV1Sample(t *testing.T) {
	// obu_size is added (after an extension header too), temporal
	// delimiters are left out, OBUs that have obu_size are kept.
	got, err := av1Sample([][]byte{{0x10}, {0x08, 1, 2}, {0x34, 0x08, 0xaa}, {0x32, 0x01, 0xbb}})
	want := []byte{0x0a, 2, 1, 2, 0x36, 0x08, 1, 0xaa, 0x32, 0x01, 0xbb}
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("av1Sample = % x, %v; want % x", got, err, want)
	}
	if _, err := av1Sample([][]byte{{0x12, 0}}); err == nil {
		t.Error("a temporal unit of only a temporal delimiter was accepted")
	}
}

func TestRenameSampleEntries(t *testing.T) {
	track, aus := vpxUnits(t, mediatest.FileVP8)
	out := runFragmenter(t, &Fragmenter{Tracks: []media.Track{track}}, aus[:30])
	b := out[0].init.Bytes
	if !bytes.Contains(b, []byte("vp08")) || bytes.Contains(b, []byte("vp09")) {
		t.Fatal("VP8 init segment has no vp08 sample entry")
	}
	c := bytes.Clone(b)
	if n := renameSampleEntries(c, "vp08", "vp09"); n != 1 || !bytes.Contains(c, []byte("vp09")) {
		t.Fatalf("renamed %d", n)
	}
	// Damaged boxes are left alone, without panicking.
	for i := range 64 {
		renameSampleEntries(c[:len(c)-i], "vp09", "vp08")
	}
	if renameSampleEntries([]byte{0, 0, 0, 1, 'm', 'o', 'o', 'v'}, "vp09", "vp08") != 0 {
		t.Error("renamed in a broken box")
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
		fr := &Fragmenter{Tracks: []media.Track{{Kind: media.Video, Codec: codec, ClockRate: 90000}, testTracks()[1]},
			Emit: func(i *InitSegment, _ *Fragment) error { init = i.Bytes; return nil }}
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
		_ = CodecsString(b)
		_, _ = InitTracks(b)
		p, err := parseInit(InitID{}, b)
		if err != nil {
			return
		}
		for _, tr := range p.tracks {
			_, _ = mkvCodec(tr)
		}
	})
}
