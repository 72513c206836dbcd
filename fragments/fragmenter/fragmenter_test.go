package fragmenter_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4"

	"github.com/eddy-video/eddy/fragments"
	"github.com/eddy-video/eddy/fragments/fragmenter"
	"github.com/eddy-video/eddy/fragments/fragmentstest"
	"github.com/eddy-video/eddy/media"
)

func TestFragmenterGOPs(t *testing.T) {
	ntp0 := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	out := fragmentstest.RunFragmenter(t, &fragmenter.Fragmenter{Tracks: fragmentstest.Tracks()}, fragmentstest.Synth(10, 50, ntp0)) // 2 s GOPs
	if len(out) != 5 {
		t.Fatalf("fragments = %d, want 5", len(out))
	}
	var total time.Duration
	var videoNext uint64
	for i, e := range out {
		f := e.F
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
	if err := init.Unmarshal(bytes.NewReader(out[0].Init.Bytes)); err != nil {
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
		if e.Init != out[0].Init {
			t.Error("init segment changed without a codec change")
		}
	}
}

func TestFragmenterLongGOPCut(t *testing.T) {
	ntp0 := time.Unix(1_800_000_000, 0)
	// One 12 s GOP with a 5 s maximum: cut at 5 s and 10 s, the pieces
	// after a cut marked as not starting on a keyframe.
	out := fragmentstest.RunFragmenter(t, &fragmenter.Fragmenter{Tracks: fragmentstest.Tracks(), MaxDuration: 5 * time.Second}, fragmentstest.Synth(12, 1000, ntp0))
	if len(out) != 3 {
		t.Fatalf("fragments = %d, want 3", len(out))
	}
	want := []struct {
		key bool
		dur time.Duration
	}{{true, 5 * time.Second}, {false, 5 * time.Second}, {false, 2 * time.Second}}
	for i, w := range want {
		if out[i].F.Keyframe != w.key || time.Duration(out[i].F.Duration) != w.dur {
			t.Errorf("fragment %d: keyframe %v duration %v, want %v %v", i, out[i].F.Keyframe, time.Duration(out[i].F.Duration), w.key, w.dur)
		}
	}
}

func TestFragmenterAudioOnly(t *testing.T) {
	ntp0 := time.Unix(1_800_000_000, 0)
	var aus []*media.AccessUnit
	for _, au := range fragmentstest.Synth(7, 50, ntp0) {
		if au.Track == 1 {
			aus = append(aus, au)
		}
	}
	out := fragmentstest.RunFragmenter(t, &fragmenter.Fragmenter{Tracks: fragmentstest.Tracks()[1:]}, aus)
	if len(out) != 4 { // 2 s + 2 s + 2 s + the rest
		t.Fatalf("fragments = %d, want 4", len(out))
	}
	var total time.Duration
	for _, e := range out {
		total += time.Duration(e.F.Duration)
		if !e.F.Keyframe {
			t.Error("audio fragments always start at a decodable unit")
		}
	}
	if d := total - 7*time.Second; d < -50*time.Millisecond || d > 50*time.Millisecond {
		t.Errorf("audio durations add up to %v, want 7s within one frame", total)
	}
}

func TestFragmenterWaitsForKeyframeAndConfig(t *testing.T) {
	tracks := fragmentstest.Tracks()
	tracks[0].Config = nil // parameter sets only in band
	ntp0 := time.Unix(1_800_000_000, 0)
	aus := fragmentstest.Synth(6, 50, ntp0)
	// Drop everything before the second keyframe's predecessor: the
	// stream starts mid-GOP.
	var cut []*media.AccessUnit
	for _, au := range aus {
		if au.Track == 0 && au.PTS < 10*3600 {
			continue
		}
		cut = append(cut, au)
	}
	out := fragmentstest.RunFragmenter(t, &fragmenter.Fragmenter{Tracks: tracks}, cut)
	if len(out) != 2 {
		t.Fatalf("fragments = %d, want 2 (the partial first GOP is skipped)", len(out))
	}
	if out[0].F.ProducerTime != ntp0.Add(2*time.Second).UnixNano() {
		t.Errorf("first fragment starts at %v, want the keyframe at 2 s", time.Unix(0, out[0].F.ProducerTime))
	}
}

func TestFragmenterNoSupportedTracks(t *testing.T) {
	fr := &fragmenter.Fragmenter{Tracks: []media.Track{{ID: 0, Codec: "MJPEG", ClockRate: 90000}}, Emit: func(*fragments.InitSegment, *fragments.Fragment) error { return nil }}
	if err := fr.Initialize(); err != fragmenter.ErrNoTracks {
		t.Fatalf("err = %v, want ErrNoTracks", err)
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
		{"AAC", media.Track{Codec: "AAC", ClockRate: 44100, Config: [][]byte{fragmentstest.ASC}},
			func(c mp4.Codec) bool { return c.(*mp4.CodecMPEG4Audio).Config.SampleRate == 44100 }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			codec, err := fragmenter.TrackCodec(c.track)
			if err != nil || codec == nil {
				t.Fatalf("newFragTrack: %v", err)
			}
			if !c.check(codec) {
				t.Fatalf("codec %+v", codec)
			}
		})
	}
}

// TestFragmenterParameterChange: new in-band SPS at a keyframe gives the
// fragments from there a new init segment; earlier ones keep theirs.
func TestFragmenterParameterChange(t *testing.T) {
	ntp0 := time.Unix(1_800_000_000, 0)
	aus := fragmentstest.Synth(6, 50, ntp0)
	sps2 := append(append([]byte(nil), fragmentstest.SPS...), 0x00) // a different SPS (trailing zero byte)
	for _, au := range aus {
		if au.Track == 0 && au.Key && au.PTS >= 100*3600 { // the keyframe at 4 s
			au.Payload = [][]byte{sps2, fragmentstest.PPS, au.Payload[2]}
		}
	}
	out := fragmentstest.RunFragmenter(t, &fragmenter.Fragmenter{Tracks: fragmentstest.Tracks()}, aus)
	if len(out) != 3 {
		t.Fatalf("fragments = %d", len(out))
	}
	if out[0].Init != out[1].Init || out[2].Init == out[1].Init || out[2].Init.ID == out[1].Init.ID {
		t.Fatal("init segments do not follow the parameter change at the third fragment")
	}
	var init fmp4.Init
	if err := init.Unmarshal(bytes.NewReader(out[2].Init.Bytes)); err != nil {
		t.Fatal(err)
	}
	if got := init.Tracks[0].Codec.(*mp4.CodecH264).SPS; !bytes.Equal(got, sps2) {
		t.Fatalf("new init SPS = %x", got)
	}
}
