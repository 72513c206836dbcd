package kvsapi

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/eddy-video/eddy/fragments/mkv"
)

// The uploads of testdata/putmedia, made with
//
//	ffmpeg -f lavfi -i testsrc=size=32x24:rate=5 -f lavfi -i sine=frequency=440:sample_rate=8000 -t 2 \
//	  -c:v libx264 -g 5 -bf 2 -x264-params b-adapt=0 -c:a aac -b:a 8k -cluster_time_limit 900 -fflags +bitexact -map_metadata -1 -f matroska pipe:1
//	(the same with -c:v libx265 -x265-params keyint=5, -c:a libopus and a 48 kHz sine)
//	gst-launch-1.0 filesrc location=small.mp4 ! qtdemux ! h264parse ! matroskamux name=m streamable=true ! filesink ... \
//	  audiotestsrc num-buffers=20 samplesperbuffer=800 ! audio/x-raw,rate=8000,channels=1 ! alawenc ! m.
//
// (small.mp4: ffmpeg's testsrc, 32x24, H.264 with a keyframe every 5 frames).
var pmUploads = []string{"ffmpeg-h264-aac.mkv", "ffmpeg-hevc-opus.mkv", "gst-h264-alaw.mkv"}

func readUpload(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "putmedia", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// uploadFragments reads an upload's clusters.
func uploadFragments(t testing.TB, data []byte) []*mkv.Fragment {
	t.Helper()
	r := mkv.NewReader(bytes.NewReader(data))
	r.EmitOnClusterEnd = true
	var out []*mkv.Fragment
	for {
		f, err := r.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(f.Frames) > 0 {
			out = append(out, f)
		}
	}
}

// TestConvertTracks: real producers' tracks become the publication tracks
// of media's conventions, their codec configuration taken from
// CodecPrivate.
func TestConvertTracks(t *testing.T) {
	want := map[string][]string{
		"ffmpeg-h264-aac.mkv":  {"H264/90000/2", "AAC/8000/1"},
		"ffmpeg-hevc-opus.mkv": {"H265/90000/3", "Opus/48000/1"},
		"gst-h264-alaw.mkv":    {"H264/90000/2", "G711A/8000/1"},
	}
	for _, name := range pmUploads {
		fs := uploadFragments(t, readUpload(t, name))
		pts, err := convertTracks(fs[0].Tracks)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var got []string
		for i, pt := range pts {
			if pt.track.ID != i {
				t.Errorf("%s: track %d has ID %d", name, i, pt.track.ID)
			}
			got = append(got, pt.track.Codec+"/"+strconv.Itoa(pt.track.ClockRate)+"/"+strconv.Itoa(len(pt.track.Config)))
		}
		if !slices.Equal(got, want[name]) {
			t.Errorf("%s: tracks %v, want %v", name, got, want[name])
		}
	}
	if _, err := convertTracks([]mkv.Track{{Number: 1, CodecID: "V_MPEG4/ISO/AVC", CodecPrivate: []byte{1, 2}}}); err == nil {
		t.Error("a truncated avcC was accepted")
	}
	if _, err := convertTracks([]mkv.Track{{Number: 1, CodecID: "S_TEXT/UTF8"}}); err == nil {
		t.Error("a subtitle track was accepted")
	}
}

// TestConvertFramesReorder: Matroska keeps presentation times only; with
// B-frames (ffmpeg -bf 2) the units get decode times that are the
// cluster's sorted presentation times less one constant delay: increasing,
// never after their presentation time. Keyframes carry their parameter
// sets.
func TestConvertFramesReorder(t *testing.T) {
	fs := uploadFragments(t, readUpload(t, "ffmpeg-h264-aac.mkv"))
	pts, err := convertTracks(fs[0].Tracks)
	if err != nil {
		t.Fatal(err)
	}
	byNum := map[uint64]*pmTrack{}
	for _, pt := range pts {
		byNum[pt.number] = pt
	}
	reordered := false
	var lastDTS int64 = -1 << 62
	for _, f := range fs {
		aus, err := convertFrames(f, byNum, fs[0].Timecode, time.Unix(1_700_000_000, 0), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		var ptsList, dtsList []int64
		for _, au := range aus {
			if au.Track != 0 {
				continue
			}
			if au.DTS > au.PTS || au.DTS <= lastDTS {
				t.Fatalf("unit PTS %d DTS %d after DTS %d", au.PTS, au.DTS, lastDTS)
			}
			lastDTS = au.DTS
			reordered = reordered || len(ptsList) > 0 && au.PTS < ptsList[len(ptsList)-1]
			ptsList, dtsList = append(ptsList, au.PTS), append(dtsList, au.DTS)
			if au.Key && (len(au.Payload) < 3 || au.Payload[0][0]&0x1f != 7 || au.Payload[1][0]&0x1f != 8) {
				t.Errorf("keyframe without SPS and PPS first: %d NAL units", len(au.Payload))
			}
		}
		slices.Sort(ptsList)
		delay := ptsList[0] - dtsList[0]
		for i := range ptsList {
			if ptsList[i]-dtsList[i] != delay {
				t.Fatalf("DTS %v are not the sorted PTS %v less one delay", dtsList, ptsList)
			}
		}
	}
	if !reordered {
		t.Fatal("the upload has no B-frames to reorder")
	}
}

// TestParseProducerStart: x-amzn-producer-start-timestamp is Unix seconds
// with an optional decimal fraction.
func TestParseProducerStart(t *testing.T) {
	for v, want := range map[string]time.Time{
		"1700000000.123": time.Unix(1_700_000_000, 123_000_000),
		"1234.5":         time.Unix(1234, 500_000_000),
		"0":              time.Unix(0, 0),
		"1700000000":     time.Unix(1_700_000_000, 0),
		"1.000000001":    time.Unix(1, 1),
	} {
		if got, ok := parseProducerStart(v); !ok || !got.Equal(want) {
			t.Errorf("%q: %v %v, want %v", v, got, ok, want)
		}
	}
	for _, v := range []string{"", "-1", "1.2.3", "1e9", " 1", "1.", ".5", "1.0000000001", "99999999999999"} {
		if _, ok := parseProducerStart(v); ok {
			t.Errorf("%q accepted", v)
		}
	}
}

// FuzzPutMediaConvert: any bytes through the Matroska reader and the
// conversion of its tracks and frames never panic, and what is published
// keeps media's conventions: one unit per frame, NAL units never empty,
// video decode times increasing and not after presentation times.
func FuzzPutMediaConvert(f *testing.F) {
	for _, name := range pmUploads {
		f.Add(readUpload(f, name)[:4096]) // the tracks and a cluster or two: small inputs fuzz faster
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := mkv.NewReader(bytes.NewReader(data))
		r.EmitOnClusterEnd = true
		r.MaxFrameSize, r.MaxFragmentSize = 1<<16, 1<<20
		var byNum map[uint64]*pmTrack
		var tracks []mkv.Track
		var origin time.Duration
		for n := 0; n <= len(data); n++ {
			fr, err := r.Next()
			if err != nil {
				return
			}
			if len(fr.Frames) == 0 {
				continue
			}
			if byNum == nil || !sameTracks(fr.Tracks, tracks) {
				pts, err := convertTracks(fr.Tracks)
				if err != nil {
					byNum = nil
					continue
				}
				byNum, tracks, origin = map[uint64]*pmTrack{}, fr.Tracks, fr.Timecode
				for _, pt := range pts {
					byNum[pt.number] = pt
				}
			}
			aus, err := convertFrames(fr, byNum, origin, time.Unix(0, 0), time.Unix(0, 0))
			if err != nil {
				continue
			}
			if len(aus) != len(fr.Frames) {
				t.Fatalf("%d units from %d frames", len(aus), len(fr.Frames))
			}
			last := map[int]int64{} // within one cluster
			for i, au := range aus {
				if len(au.Payload) == 0 {
					t.Fatal("unit without payload")
				}
				if byNum[fr.Frames[i].Track].lenSize == 0 {
					continue
				}
				for _, n := range au.Payload {
					if len(n) == 0 {
						t.Fatal("empty NAL unit")
					}
				}
				if prev, ok := last[au.Track]; au.DTS > au.PTS || ok && au.DTS < prev {
					t.Fatalf("DTS %d (previous %d), PTS %d", au.DTS, prev, au.PTS)
				}
				last[au.Track] = au.DTS
			}
		}
	})
}

// FuzzPutMediaCodecPrivate: the codec private parsers never panic and
// return parameter sets only when they found all of them.
func FuzzPutMediaCodecPrivate(f *testing.F) {
	for _, name := range pmUploads {
		for _, tr := range uploadFragments(f, readUpload(f, name))[0].Tracks {
			f.Add(tr.CodecPrivate)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if n, ps, err := parseAVCC(b); err == nil && (len(ps) != 2 || len(ps[0]) == 0 || len(ps[1]) == 0 || (n != 1 && n != 2 && n != 4)) {
			t.Fatalf("avcC: length size %d, %d parameter sets", n, len(ps))
		}
		if n, ps, err := parseHVCC(b); err == nil && (len(ps) != 3 || len(ps[0]) == 0 || len(ps[1]) == 0 || len(ps[2]) == 0 || (n != 1 && n != 2 && n != 4)) {
			t.Fatalf("hvcC: length size %d, %d parameter sets", n, len(ps))
		}
		if codec, rate, ch, err := parseWaveFormat(b); err == nil && (codec == "" || rate <= 0 || ch <= 0) {
			t.Fatalf("WAVEFORMATEX: %s %d %d", codec, rate, ch)
		}
		for _, size := range []int{1, 2, 4} {
			if nalus, err := splitNALUs(b, size, false); err == nil {
				total := 0
				for _, n := range nalus {
					total += len(n) + size
				}
				if total > len(b) {
					t.Fatalf("%d bytes of NAL units from %d", total, len(b))
				}
			}
		}
	})
}

// TestClassify: the reader's errors that end an upload map to their
// ErrorIds.
func TestClassify(t *testing.T) {
	for _, c := range []struct {
		err  error
		want int
	}{
		{&mkv.Error{Err: mkv.ErrUnknownTrack}, 4010},
		{&mkv.Error{Err: mkv.ErrTooLarge}, 4001},
		{&mkv.Error{Err: mkv.ErrMalformed}, 4006},
		{&mkv.Error{Err: mkv.ErrUnsupported}, 4006},
		{&mkv.Error{Err: io.ErrUnexpectedEOF}, 4000},
		{io.ErrClosedPipe, 4000},
		{&pmFatal{pmTooManyTracks, io.EOF}, 4005},
	} {
		if got := classify(c.err); got.ID != c.want {
			t.Errorf("%v: ErrorId %d, want %d", c.err, got.ID, c.want)
		}
	}
}

// TestConvertParamsNotShared: a keyframe's in-band parameter sets replace
// the upload's own copy, never the publication track's Config (the hub's,
// read by its readers meanwhile) nor point into the cluster's buffer.
func TestConvertParamsNotShared(t *testing.T) {
	fs := uploadFragments(t, readUpload(t, "ffmpeg-h264-aac.mkv"))
	pts, err := convertTracks(fs[0].Tracks)
	if err != nil {
		t.Fatal(err)
	}
	pt := pts[0]
	cfg := [][]byte{bytes.Clone(pt.track.Config[0]), bytes.Clone(pt.track.Config[1])}
	sps := []byte{0x67, 0x42, 0xc0, 0x1e, 0xd9}
	idr := []byte{0x65, 0x88, 0x84}
	var frame []byte
	for _, n := range [][]byte{sps, idr} {
		frame = append(frame, 0, 0, 0, byte(len(n)))
		frame = append(frame, n...)
	}
	if pt.lenSize != 4 {
		t.Fatalf("NAL unit length size %d, the test writes 4", pt.lenSize)
	}
	f := &mkv.Fragment{Tracks: fs[0].Tracks, Frames: []mkv.Frame{{Track: pt.number, Key: true, Data: frame}}}
	aus, err := convertFrames(f, map[uint64]*pmTrack{pt.number: pt}, 0, time.Unix(0, 0), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(aus) != 1 || len(aus[0].Payload) != 3 || !bytes.Equal(aus[0].Payload[0], cfg[1]) || !bytes.Equal(aus[0].Payload[1], sps) {
		t.Fatalf("keyframe payload %x, want the PPS of the track, the in-band SPS and the IDR", aus[0].Payload)
	}
	for i := range cfg {
		if !bytes.Equal(pt.track.Config[i], cfg[i]) {
			t.Errorf("track Config[%d] %x changed, want %x", i, pt.track.Config[i], cfg[i])
		}
	}
	clear(frame)
	if !bytes.Equal(pt.params[0], sps) {
		t.Errorf("the SPS kept is %x after the cluster's buffer was reused, want %x", pt.params[0], sps)
	}
}

// BenchmarkPutMediaConvert measures the conversion of one upload's
// clusters into access units.
func BenchmarkPutMediaConvert(b *testing.B) {
	fs := uploadFragments(b, readUpload(b, "ffmpeg-h264-aac.mkv"))
	pts, err := convertTracks(fs[0].Tracks)
	if err != nil {
		b.Fatal(err)
	}
	byNum := map[uint64]*pmTrack{}
	for _, pt := range pts {
		byNum[pt.number] = pt
	}
	frames := 0
	for _, f := range fs {
		frames += len(f.Frames)
	}
	arrival := time.Now()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		for _, f := range fs {
			if _, err := convertFrames(f, byNum, fs[0].Timecode, time.Unix(0, 0), arrival); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*frames), "ns/frame")
}
