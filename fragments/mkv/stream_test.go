package mkv

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/eddy-video/eddy/media/mediatest"
)

// streamTestClusters turns the test fragments into upload clusters: the
// pre tags become the cluster's Tags (user metadata only, as producers
// send), post tags are dropped.
func streamTestClusters(n int) []*Cluster {
	var cs []*Cluster
	for i, f := range mkvTestFragments(n) {
		c := &Cluster{Timecode: f.Timecode, Frames: f.Frames}
		if i%2 == 0 {
			c.Tags = []Tag{{"camera", "front door"}, {"seq", fmt.Sprint(i)}}
		}
		cs = append(cs, c)
	}
	return cs
}

// TestStreamRoundTrip writes an upload with both cluster sizes and reads
// it back with the reader PutMedia ingest uses, eagerly and not.
func TestStreamRoundTrip(t *testing.T) {
	tracks := mkvTestTracks()
	clusters := streamTestClusters(4)
	for _, unknown := range []bool{false, true} {
		for _, eager := range []bool{false, true} {
			t.Run(fmt.Sprintf("unknown=%v,eager=%v", unknown, eager), func(t *testing.T) {
				var buf bytes.Buffer
				sw, err := NewStreamWriter(&buf, "cam1", tracks)
				if err != nil {
					t.Fatal(err)
				}
				sw.UnknownSizeClusters = unknown
				for _, c := range clusters {
					if err := sw.WriteCluster(c); err != nil {
						t.Fatal(err)
					}
				}
				r := NewReader(&buf)
				r.EmitOnClusterEnd = eager
				got, err := mkvReadAll(t, r)
				if err != io.EOF {
					t.Fatalf("read: %v", err)
				}
				if len(got) != len(clusters) {
					t.Fatalf("read %d fragments, wrote %d clusters", len(got), len(clusters))
				}
				for i, c := range clusters {
					want := &Fragment{Tracks: tracks, Timecode: c.Timecode, Frames: c.Frames, PreTags: c.Tags, Title: "cam1"}
					mkvDiff(t, want, got[i])
				}
			})
		}
	}
}

// TestStreamAppendSplit: the header and clusters appended one by one (as a
// producer keeps them) concatenate to what StreamWriter writes, and an
// upload resent after a reconnection (header again, then some clusters)
// reads back as a second Segment with the same tracks.
func TestStreamAppendSplit(t *testing.T) {
	tracks := mkvTestTracks()[:2]
	clusters := streamTestClusters(3)
	for _, c := range clusters {
		var fs []Frame
		for _, f := range c.Frames {
			if f.Track <= 2 {
				fs = append(fs, f)
			}
		}
		c.Frames = fs
	}
	head, err := AppendStreamHeader(nil, "", tracks)
	if err != nil {
		t.Fatal(err)
	}
	parts := [][]byte{head}
	for _, c := range clusters {
		b, err := AppendCluster(nil, tracks, c, true)
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, b)
	}
	var sw bytes.Buffer
	w, err := NewStreamWriter(&sw, "", tracks)
	if err != nil {
		t.Fatal(err)
	}
	w.UnknownSizeClusters = true
	for _, c := range clusters {
		if err := w.WriteCluster(c); err != nil {
			t.Fatal(err)
		}
	}
	joined := bytes.Join(parts, nil)
	if !bytes.Equal(joined, sw.Bytes()) {
		t.Fatal("appended parts differ from the StreamWriter's output")
	}
	// Reconnection: the header again, then the last two clusters.
	joined = append(joined, head...)
	joined = append(joined, parts[2]...)
	joined = append(joined, parts[3]...)
	r := NewReader(bytes.NewReader(joined))
	r.EmitOnClusterEnd = true
	got, err := mkvReadAll(t, r)
	if err != io.EOF {
		t.Fatalf("read: %v", err)
	}
	if len(got) != 5 {
		t.Fatalf("read %d fragments, want 5", len(got))
	}
	for i, j := range []int{0, 1, 2, 1, 2} {
		c := clusters[j]
		mkvDiff(t, &Fragment{Tracks: tracks, Timecode: c.Timecode, Frames: c.Frames, PreTags: c.Tags}, got[i])
	}
}

func TestStreamValidation(t *testing.T) {
	tracks := mkvTestTracks()
	if _, err := NewStreamWriter(io.Discard, "", nil); !errors.Is(err, ErrInvalidFragment) {
		t.Errorf("no tracks: %v", err)
	}
	if _, err := AppendStreamHeader(nil, "a\x00b", tracks); !errors.Is(err, ErrInvalidFragment) {
		t.Errorf("NUL in title: %v", err)
	}
	var buf bytes.Buffer
	w, err := NewStreamWriter(&buf, "", tracks)
	if err != nil {
		t.Fatal(err)
	}
	ok := &Cluster{Timecode: 10 * time.Second, Frames: []Frame{{Track: 1, Key: true, Data: []byte{1}}}}
	for _, tc := range []struct {
		name string
		c    *Cluster
	}{
		{"nil", nil},
		{"no frames", &Cluster{Timecode: time.Second}},
		{"unknown track", &Cluster{Timecode: time.Second, Frames: []Frame{{Track: 9, Data: []byte{1}}}}},
		{"relative time out of int16", &Cluster{Timecode: time.Second, Frames: []Frame{{Track: 1, Time: 40 * time.Second}}}},
		{"empty tag name", &Cluster{Timecode: time.Second, Frames: ok.Frames, Tags: []Tag{{"", "v"}}}},
	} {
		if err := w.WriteCluster(tc.c); !errors.Is(err, ErrInvalidFragment) {
			t.Errorf("%s: %v, want ErrInvalidFragment", tc.name, err)
		}
		if buf.Len() != 0 {
			t.Fatalf("%s: %d bytes written", tc.name, buf.Len())
		}
	}
	if err := w.WriteCluster(ok); err != nil {
		t.Fatal(err)
	}
	n := buf.Len()
	for _, tc := range []time.Duration{10 * time.Second, 9 * time.Second, 10*time.Second + 400*time.Microsecond} {
		if err := w.WriteCluster(&Cluster{Timecode: tc, Frames: ok.Frames}); !errors.Is(err, ErrInvalidFragment) {
			t.Errorf("timecode %v after 10 s: %v, want ErrInvalidFragment", tc, err)
		}
	}
	if buf.Len() != n {
		t.Fatal("bytes written for a refused cluster")
	}
}

// FuzzStreamRoundTrip: fuzzer-chosen clusters (see mkvFuzzRoundTrip for
// the input's layout) either fail validation with ErrInvalidFragment and
// write nothing, or read back equal from one upload.
func FuzzStreamRoundTrip(f *testing.F) {
	f.Add([]byte{})
	f.Add(streamFuzzSeed)
	f.Add(bytes.Repeat([]byte{0x7f, 0x80, 0x01, 0xff, 0x03}, 40))
	f.Fuzz(func(t *testing.T, data []byte) { streamFuzzRoundTrip(t, data) })
}

// streamFuzzSeed decodes (see streamFuzzRoundTrip) into one valid cluster
// of two tracks: timecode 0x018B9C3A71 ms, two frames and one tag.
var streamFuzzSeed = []byte("\x01\x00" + "\x00\x01\x8b\x9c\x3a\x71" + "\x02" +
	"\x80\x00\x00\x03abc" + "\x01\x00\x14\x02xy" + "\x01\x03KEY\x03val")

func TestStreamRoundTripFuzzSeed(t *testing.T) {
	if n := streamFuzzRoundTrip(t, streamFuzzSeed); n != 1 {
		t.Fatalf("seed round-trips %d clusters, want 1", n)
	}
}

func streamFuzzRoundTrip(t *testing.T, data []byte) int {
	in := mkvFuzzInput(data)
	flags := in.byte()
	tracks := mkvTestTracks()[:1+int(flags%3)]
	var buf bytes.Buffer
	w, err := NewStreamWriter(&buf, "", tracks)
	if err != nil {
		t.Fatal(err)
	}
	w.UnknownSizeClusters = flags&0x80 != 0
	var want []*Fragment
	for range 1 + int(in.byte()%4) {
		c := &Cluster{Timecode: time.Duration(in.uint(6)) * time.Millisecond}
		for range int(in.byte() % 10) {
			b := in.byte()
			c.Frames = append(c.Frames, Frame{
				Track: uint64(1 + int(b&0x07)%(len(tracks)+1)), // sometimes an unknown track
				Time:  time.Duration(int16(in.uint(2))) * time.Millisecond,
				Key:   b&0x80 != 0,
				Data:  in.bytes(int(in.byte() % 40)),
			})
		}
		for range int(in.byte() % 3) {
			c.Tags = append(c.Tags, Tag{Name: string(in.bytes(int(in.byte() % 6))), Value: string(in.bytes(int(in.byte() % 6)))})
		}
		n := buf.Len()
		if err := w.WriteCluster(c); err != nil {
			if !errors.Is(err, ErrInvalidFragment) {
				t.Fatalf("write error %v is not ErrInvalidFragment", err)
			}
			if buf.Len() != n {
				t.Fatal("bytes written before a validation error")
			}
			continue
		}
		// Expected read-back: times rounded to ms on the absolute time.
		fr := &Fragment{Tracks: tracks, Timecode: time.Duration(mkvMillis(c.Timecode)) * time.Millisecond, PreTags: c.Tags,
			Frames: append([]Frame(nil), c.Frames...)}
		for i := range fr.Frames {
			fr.Frames[i].Time = time.Duration(mkvMillis(c.Timecode+c.Frames[i].Time))*time.Millisecond - fr.Timecode
		}
		want = append(want, fr)
	}
	r := NewReader(&buf)
	r.EmitOnClusterEnd = true
	got, err := mkvReadAll(t, r)
	if err != io.EOF {
		t.Fatalf("read back: %v", err)
	}
	if len(got) != len(want) {
		t.Fatalf("read %d fragments, wrote %d clusters", len(got), len(want))
	}
	for i := range want {
		mkvDiff(t, want[i], got[i])
	}
	return len(want)
}

// TestStreamFFprobe: ffprobe reads an upload of real H.264 (from ffmpeg)
// and G.711 mu-law as A_MS/ACM, one cluster per GOP of unknown size, with
// every frame at its time.
func TestStreamFFprobe(t *testing.T) {
	mediatest.RequireTool(t, "ffmpeg", "ffprobe")
	samples, cpd := testH264(t)
	tracks := []Track{
		{Number: 1, UID: 1, Type: Video, CodecID: "V_MPEG4/ISO/AVC", CodecPrivate: cpd, Width: 320, Height: 240},
		{Number: 2, UID: 2, Type: Audio, CodecID: "A_MS/ACM", CodecPrivate: WaveFormatEx(WaveFormatMuLaw, 8000, 1, 8),
			SampleRate: 8000, Channels: 1, BitDepth: 8},
	}
	base := 1_700_000_000_000 * time.Millisecond
	var clusters []*Cluster
	for i, s := range samples {
		key, sample := s.key, s.data
		pts := time.Duration(i) * 40 * time.Millisecond
		if key {
			clusters = append(clusters, &Cluster{Timecode: base + pts, Tags: []Tag{{"gop", fmt.Sprint(len(clusters))}}})
		}
		c := clusters[len(clusters)-1]
		c.Frames = append(c.Frames, Frame{Track: 1, Time: base + pts - c.Timecode, Key: key, Data: sample})
		// 40 ms of mu-law silence (0xFF) per video frame.
		c.Frames = append(c.Frames, Frame{Track: 2, Time: base + pts - c.Timecode, Key: true, Data: bytes.Repeat([]byte{0xFF}, 320)})
	}
	var buf bytes.Buffer
	w, err := NewStreamWriter(&buf, "", tracks)
	if err != nil {
		t.Fatal(err)
	}
	w.UnknownSizeClusters = true
	for _, c := range clusters {
		if err := w.WriteCluster(c); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(t.TempDir(), "upload.mkv")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("ffprobe", "-v", "error", "-show_streams", "-show_frames", "-of", "json", path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	js, err := cmd.Output()
	if err != nil || stderr.Len() > 0 {
		t.Fatalf("ffprobe: %v\n%s", err, stderr.String())
	}
	var p struct {
		Streams []struct {
			CodecName  string `json:"codec_name"`
			Width      int    `json:"width"`
			Height     int    `json:"height"`
			SampleRate string `json:"sample_rate"`
		} `json:"streams"`
		Frames []struct {
			MediaType string `json:"media_type"`
			KeyFrame  int    `json:"key_frame"`
			PtsTime   string `json:"pts_time"`
		} `json:"frames"`
	}
	if err := json.Unmarshal(js, &p); err != nil {
		t.Fatal(err)
	}
	if len(p.Streams) != 2 || p.Streams[0].CodecName != "h264" || p.Streams[0].Width != 320 ||
		p.Streams[1].CodecName != "pcm_mulaw" || p.Streams[1].SampleRate != "8000" {
		t.Fatalf("streams: %+v", p.Streams)
	}
	var video int
	for _, fr := range p.Frames {
		if fr.MediaType != "video" {
			continue
		}
		wantKey := 0
		if video%25 == 0 {
			wantKey = 1
		}
		wantPts := fmt.Sprintf("%.6f", (base + time.Duration(video)*40*time.Millisecond).Seconds())
		if fr.KeyFrame != wantKey || fr.PtsTime != wantPts {
			t.Errorf("video frame %d: key %d pts %s, want key %d pts %s", video, fr.KeyFrame, fr.PtsTime, wantKey, wantPts)
		}
		video++
	}
	if video != 50 || len(p.Frames) != 100 {
		t.Fatalf("ffprobe decoded %d frames (%d video), want 100 (50 video)", len(p.Frames), video)
	}
}
