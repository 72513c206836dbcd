package fragmentstest

import (
	"testing"
	"time"

	"github.com/eddy-video/eddy/datastreams"
	"github.com/eddy-video/eddy/datastreams/datastreamstest"
	"github.com/eddy-video/eddy/fragments"
	"github.com/eddy-video/eddy/fragments/fragmenter"
	"github.com/eddy-video/eddy/media"
	"github.com/eddy-video/eddy/media/mediatest"
)

// A real H.264 SPS (1920x1080 baseline, from mediacommon's tests) and PPS,
// and an AAC AudioSpecificConfig.
var (
	SPS = []byte{0x67, 0x42, 0xc0, 0x28, 0xd9, 0x00, 0x78, 0x02, 0x27, 0xe5, 0x84, 0x00, 0x00, 0x03, 0x00, 0x04,
		0x00, 0x00, 0x03, 0x00, 0xf0, 0x3c, 0x60, 0xc9, 0x20}
	PPS = []byte{0x68, 0xce, 0x3c, 0x80}
	ASC = []byte{0x12, 0x10} // AAC-LC, 44.1 kHz... (0x1210 = LC, 44100, stereo)
)

// Tracks are the tracks of Synth's publication: H.264 video (track 0) and
// AAC audio (track 1).
func Tracks() []media.Track {
	return []media.Track{
		{ID: 0, Kind: media.Video, Codec: "H264", ClockRate: 90000, Config: [][]byte{SPS, PPS}},
		{ID: 1, Kind: media.Audio, Codec: "AAC", ClockRate: 44100, Config: [][]byte{ASC}},
	}
}

// Synth produces seconds of 25 fps video with a keyframe every gop
// frames, and AAC frames, interleaved by time, with an NTP clock.
func Synth(seconds float64, gop int, ntp0 time.Time) []*media.AccessUnit {
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
			nalus = [][]byte{SPS, PPS, {0x65, byte(i), 4, 5, 6}}
		}
		at := ntp0.Add(time.Duration(vt) * time.Second / 90000)
		out = append(out, &media.AccessUnit{Track: 0, PTS: vt, DTS: vt, Key: key, Payload: nalus, NTP: at, Arrival: at})
	}
	return out
}

// Emitted is one fragment a fragmenter emitted, with its init segment.
type Emitted struct {
	Init *fragments.InitSegment
	F    *fragments.Fragment
}

// RunFragmenter pushes aus through fr (its Emit is replaced) and returns
// what it emitted, flush included.
func RunFragmenter(t testing.TB, fr *fragmenter.Fragmenter, aus []*media.AccessUnit) []Emitted {
	t.Helper()
	var out []Emitted
	fr.Emit = func(init *fragments.InitSegment, f *fragments.Fragment) error {
		out = append(out, Emitted{init, f})
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

// NewManager opens a core and a manager over dir; both close when the
// test ends.
func NewManager(t testing.TB, dir string, clk *datastreamstest.Clock, segBytes int64) (*datastreams.Core, *fragments.Manager) {
	t.Helper()
	var m *fragments.Manager
	core := &datastreams.Core{Dir: dir, Now: clk.Now, SegmentBytes: segBytes, SegmentDuration: 10 * time.Minute,
		JanitorInterval: time.Hour, AfterTrim: func(s *datastreams.Stream) { m.Trimmed(s) }}
	if err := core.Initialize(); err != nil {
		t.Fatal(err)
	}
	m = &fragments.Manager{Core: core}
	if err := m.Initialize(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		m.Close()
		core.Close()
	})
	return core, m
}

// AppendSynthetic stores n 2-second fragments of size bytes at the
// clock's time, advancing it.
func AppendSynthetic(t testing.TB, st *fragments.Store, clk *datastreamstest.Clock, n, size int) []uint64 {
	t.Helper()
	init := &fragments.InitSegment{ID: fragments.InitID{9}, Bytes: []byte("init")}
	var seqs []uint64
	for i := 0; i < n; i++ {
		now := clk.Now()
		f := &fragments.Fragment{ServerTime: now.UnixNano(), ProducerTime: now.UnixNano(), Duration: int64(2 * time.Second), Keyframe: true,
			InitID: init.ID, Media: make([]byte, size)}
		seq, err := st.Append(init, f)
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, seq)
		clk.Advance(2 * time.Second)
	}
	return seqs
}

// VPXUnits reads a testdata file as the hub would carry it: 3 s of
// 320x240 at 25 fps, keyframes at frames 0, 25 and 50.
func VPXUnits(t testing.TB, file string) (media.Track, []*media.AccessUnit) {
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
