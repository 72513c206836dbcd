package fragments

import (
	"bytes"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4"

	"github.com/eddy-video/eddy/media"
)

// A real H.264 SPS (1920x1080 baseline, from mediacommon's tests) and PPS.
var (
	testSPS = []byte{0x67, 0x42, 0xc0, 0x28, 0xd9, 0x00, 0x78, 0x02, 0x27, 0xe5, 0x84, 0x00, 0x00, 0x03, 0x00, 0x04,
		0x00, 0x00, 0x03, 0x00, 0xf0, 0x3c, 0x60, 0xc9, 0x20}
	testPPS = []byte{0x68, 0xce, 0x3c, 0x80}
	testASC = []byte{0x12, 0x10} // AAC-LC, 44.1 kHz... (0x1210 = LC, 44100, stereo)
)

func testTracks() []media.Track {
	return []media.Track{
		{ID: 0, Kind: media.Video, Codec: "H264", ClockRate: 90000, Config: [][]byte{testSPS, testPPS}},
		{ID: 1, Kind: media.Audio, Codec: "AAC", ClockRate: 44100, Config: [][]byte{testASC}},
	}
}

// synth produces seconds of 25 fps video with a keyframe every gop
// frames, and AAC frames, interleaved by time, with an NTP clock.
func synth(seconds float64, gop int, ntp0 time.Time) []*media.AccessUnit {
	var out []*media.AccessUnit
	frames := int(seconds * 25)
	audio := int(seconds * 44100 / 1024)
	ai := 0
	for i := 0; i < frames; i++ {
		vt := int64(i) * 3600
		for ai < audio && int64(ai)*1024*90000/44100 <= vt {
			pts := int64(ai) * 1024
			out = append(out, &media.AccessUnit{Track: 1, PTS: pts, DTS: pts, Payload: [][]byte{{0x21, byte(ai)}},
				NTP: ntp0.Add(time.Duration(pts) * time.Second / 44100), Arrival: ntp0.Add(time.Duration(pts) * time.Second / 44100)})
			ai++
		}
		key := i%gop == 0
		nalus := [][]byte{{0x41, byte(i), 1, 2, 3}}
		if key {
			nalus = [][]byte{testSPS, testPPS, {0x65, byte(i), 4, 5, 6}}
		}
		at := ntp0.Add(time.Duration(vt) * time.Second / 90000)
		out = append(out, &media.AccessUnit{Track: 0, PTS: vt, DTS: vt, Key: key, Payload: nalus, NTP: at, Arrival: at})
	}
	return out
}

type emitted struct {
	init *InitSegment
	f    *Fragment
}

func runFragmenter(t *testing.T, fr *Fragmenter, aus []*media.AccessUnit) []emitted {
	t.Helper()
	var out []emitted
	fr.Emit = func(init *InitSegment, f *Fragment) error {
		out = append(out, emitted{init, f})
		return nil
	}
	if err := fr.Initialize(); err != nil {
		t.Fatal(err)
	}
	for _, au := range aus {
		if err := fr.Push(au); err != nil {
			t.Fatal(err)
		}
	}
	if err := fr.Flush(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestFragmenterGOPs(t *testing.T) {
	ntp0 := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	out := runFragmenter(t, &Fragmenter{Tracks: testTracks()}, synth(10, 50, ntp0)) // 2 s GOPs
	if len(out) != 5 {
		t.Fatalf("fragments = %d, want 5", len(out))
	}
	var total time.Duration
	var videoNext uint64
	for i, e := range out {
		f := e.f
		if !f.Keyframe {
			t.Errorf("fragment %d: not marked as starting on a keyframe", i)
		}
		if want := 2 * time.Second; time.Duration(f.Duration) != want {
			t.Errorf("fragment %d: duration %v, want %v", i, time.Duration(f.Duration), want)
		}
		if want := ntp0.Add(time.Duration(i) * 2 * time.Second).UnixNano(); f.ProducerTime != want {
			t.Errorf("fragment %d: producer time %v, want %v", i, time.Unix(0, f.ProducerTime).UTC(), time.Unix(0, want).UTC())
		}
		total += time.Duration(f.Duration)
		var parts fmp4.Parts
		if err := parts.Unmarshal(f.Media); err != nil {
			t.Fatalf("fragment %d: %v", i, err)
		}
		for _, pt := range parts[0].Tracks {
			if pt.ID != 1 {
				continue
			}
			if pt.BaseTime != videoNext {
				t.Errorf("fragment %d: video starts at %d, previous ended at %d (gap or overlap)", i, pt.BaseTime, videoNext)
			}
			if pt.Samples[0].IsNonSyncSample {
				t.Errorf("fragment %d: first video sample is not a sync sample", i)
			}
			for _, s := range pt.Samples {
				videoNext = pt.BaseTime + uint64(s.Duration)
				pt.BaseTime += uint64(s.Duration)
			}
		}
	}
	if total != 10*time.Second {
		t.Errorf("durations add up to %v, want 10s", total)
	}
	var init fmp4.Init
	if err := init.Unmarshal(bytes.NewReader(out[0].init.Bytes)); err != nil {
		t.Fatal(err)
	}
	if len(init.Tracks) != 2 {
		t.Fatalf("init tracks = %d", len(init.Tracks))
	}
	if _, ok := init.Tracks[0].Codec.(*mp4.CodecH264); !ok {
		t.Errorf("track 1 codec %T", init.Tracks[0].Codec)
	}
	if _, ok := init.Tracks[1].Codec.(*mp4.CodecMPEG4Audio); !ok {
		t.Errorf("track 2 codec %T", init.Tracks[1].Codec)
	}
	for _, e := range out[1:] {
		if e.init != out[0].init {
			t.Error("init segment changed without a codec change")
		}
	}
}

func TestFragmenterLongGOPCut(t *testing.T) {
	ntp0 := time.Unix(1_800_000_000, 0)
	// One 12 s GOP with a 5 s maximum: cut at 5 s and 10 s, the pieces
	// after a cut marked as not starting on a keyframe.
	out := runFragmenter(t, &Fragmenter{Tracks: testTracks(), MaxDuration: 5 * time.Second}, synth(12, 1000, ntp0))
	if len(out) != 3 {
		t.Fatalf("fragments = %d, want 3", len(out))
	}
	want := []struct {
		key bool
		dur time.Duration
	}{{true, 5 * time.Second}, {false, 5 * time.Second}, {false, 2 * time.Second}}
	for i, w := range want {
		if out[i].f.Keyframe != w.key || time.Duration(out[i].f.Duration) != w.dur {
			t.Errorf("fragment %d: keyframe %v duration %v, want %v %v", i, out[i].f.Keyframe, time.Duration(out[i].f.Duration), w.key, w.dur)
		}
	}
}

func TestFragmenterAudioOnly(t *testing.T) {
	ntp0 := time.Unix(1_800_000_000, 0)
	var aus []*media.AccessUnit
	for _, au := range synth(7, 50, ntp0) {
		if au.Track == 1 {
			aus = append(aus, au)
		}
	}
	out := runFragmenter(t, &Fragmenter{Tracks: testTracks()[1:]}, aus)
	if len(out) != 4 { // 2 s + 2 s + 2 s + the rest
		t.Fatalf("fragments = %d, want 4", len(out))
	}
	var total time.Duration
	for _, e := range out {
		total += time.Duration(e.f.Duration)
		if !e.f.Keyframe {
			t.Error("audio fragments always start at a decodable unit")
		}
	}
	if d := total - 7*time.Second; d < -50*time.Millisecond || d > 50*time.Millisecond {
		t.Errorf("audio durations add up to %v, want 7s within one frame", total)
	}
}

func TestFragmenterWaitsForKeyframeAndConfig(t *testing.T) {
	tracks := testTracks()
	tracks[0].Config = nil // parameter sets only in band
	ntp0 := time.Unix(1_800_000_000, 0)
	aus := synth(6, 50, ntp0)
	// Drop everything before the second keyframe's predecessor: the
	// stream starts mid-GOP.
	var cut []*media.AccessUnit
	for _, au := range aus {
		if au.Track == 0 && au.PTS < 10*3600 {
			continue
		}
		cut = append(cut, au)
	}
	out := runFragmenter(t, &Fragmenter{Tracks: tracks}, cut)
	if len(out) != 2 {
		t.Fatalf("fragments = %d, want 2 (the partial first GOP is skipped)", len(out))
	}
	if out[0].f.ProducerTime != ntp0.Add(2*time.Second).UnixNano() {
		t.Errorf("first fragment starts at %v, want the keyframe at 2 s", time.Unix(0, out[0].f.ProducerTime))
	}
}

func TestFragmenterNoSupportedTracks(t *testing.T) {
	fr := &Fragmenter{Tracks: []media.Track{{ID: 0, Codec: "MJPEG", ClockRate: 90000}}, Emit: func(*InitSegment, *Fragment) error { return nil }}
	if err := fr.Initialize(); err != ErrNoTracks {
		t.Fatalf("err = %v, want ErrNoTracks", err)
	}
}

func TestRecordRoundTrip(t *testing.T) {
	f := &Fragment{ServerTime: 1, ProducerTime: -5, Duration: 2e9, Keyframe: true, InitID: InitID{1, 2, 3}, Media: []byte("moofmdat")}
	b := appendRecord(nil, f)
	g, err := parseRecord(7, b)
	if err != nil {
		t.Fatal(err)
	}
	if g.Seq != 7 || g.ServerTime != 1 || g.ProducerTime != -5 || g.Duration != 2e9 || !g.Keyframe || g.InitID != f.InitID || string(g.Media) != "moofmdat" {
		t.Fatalf("round trip: %+v", g)
	}
	if _, err := parseRecord(1, []byte("EFR1short")); err == nil {
		t.Fatal("short record accepted")
	}
}

func TestFragTrackCodecs(t *testing.T) {
	opusHead := []byte{'O', 'p', 'u', 's', 'H', 'e', 'a', 'd', 1, 1, 0, 0, 0x80, 0xbb, 0, 0, 0, 0, 0}
	cases := []struct {
		name  string
		track media.Track
		check func(mp4.Codec) bool
	}{
		{"opus mono from OpusHead", media.Track{Codec: "Opus", ClockRate: 48000, Config: [][]byte{opusHead}},
			func(c mp4.Codec) bool { return c.(*mp4.CodecOpus).ChannelCount == 1 }},
		{"opus default stereo", media.Track{Codec: "Opus", ClockRate: 48000},
			func(c mp4.Codec) bool { return c.(*mp4.CodecOpus).ChannelCount == 2 }},
		{"G.711 a-law to 16-bit PCM", media.Track{Codec: "G711A", ClockRate: 8000, Config: [][]byte{{1}}},
			func(c mp4.Codec) bool {
				l := c.(*mp4.CodecLPCM)
				return l.BitDepth == 16 && l.SampleRate == 8000 && l.ChannelCount == 1 && !l.LittleEndian
			}},
		{"AAC", media.Track{Codec: "AAC", ClockRate: 44100, Config: [][]byte{testASC}},
			func(c mp4.Codec) bool { return c.(*mp4.CodecMPEG4Audio).Config.SampleRate == 44100 }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ft, err := newFragTrack(c.track)
			if err != nil || ft == nil {
				t.Fatalf("newFragTrack: %v", err)
			}
			if !c.check(ft.codec) {
				t.Fatalf("codec %+v", ft.codec)
			}
		})
	}
}

// TestFragmenterParameterChange: new in-band SPS at a keyframe gives the
// fragments from there a new init segment; earlier ones keep theirs.
func TestFragmenterParameterChange(t *testing.T) {
	ntp0 := time.Unix(1_800_000_000, 0)
	aus := synth(6, 50, ntp0)
	sps2 := append(append([]byte(nil), testSPS...), 0x00) // a different SPS (trailing zero byte)
	for _, au := range aus {
		if au.Track == 0 && au.Key && au.PTS >= 100*3600 { // the keyframe at 4 s
			au.Payload = [][]byte{sps2, testPPS, au.Payload[2]}
		}
	}
	out := runFragmenter(t, &Fragmenter{Tracks: testTracks()}, aus)
	if len(out) != 3 {
		t.Fatalf("fragments = %d", len(out))
	}
	if out[0].init != out[1].init || out[2].init == out[1].init || out[2].init.ID == out[1].init.ID {
		t.Fatal("init segments do not follow the parameter change at the third fragment")
	}
	var init fmp4.Init
	if err := init.Unmarshal(bytes.NewReader(out[2].init.Bytes)); err != nil {
		t.Fatal(err)
	}
	if got := init.Tracks[0].Codec.(*mp4.CodecH264).SPS; !bytes.Equal(got, sps2) {
		t.Fatalf("new init SPS = %x", got)
	}
}
