package fragmentstest

import (
	"testing"
	"time"

	"github.com/eddy-video/eddy/datastreams"
	"github.com/eddy-video/eddy/datastreams/datastreamstest"
	"github.com/eddy-video/eddy/fragments"
	"github.com/eddy-video/eddy/fragments/events"
	"github.com/eddy-video/eddy/fragments/fragmenter"
	"github.com/eddy-video/eddy/media"
	"github.com/eddy-video/eddy/media/mediatest"
)

// pub is the synthetic publication of the fragments tests: 25 fps H.264
// (track 0) with SPS and PPS in every keyframe, and 44.1 kHz AAC (track 1).
var pub = mediatest.Synth{Video: true, Audio: media.CodecAAC, InBand: true}

// The publication's H.264 SPS and PPS (real ones: the fragmenter parses
// them) and its AAC AudioSpecificConfig.
var (
	SPS = mediatest.H264SPS
	PPS = mediatest.H264PPS
	ASC = pub.Tracks()[1].Config[0]
)

// Tracks are the tracks of Synth's publication: H.264 video (track 0) and
// AAC audio (track 1).
func Tracks() []media.Track { return pub.Tracks() }

// Synth produces seconds of the publication with a keyframe every gop
// frames, interleaved by time, with an NTP clock from ntp0.
func Synth(seconds float64, gop int, ntp0 time.Time) []*media.AccessUnit {
	p := pub
	p.Seconds, p.GOP = seconds, gop
	return p.Units(ntp0)
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

// EventIDs pages through a whole event timeline and returns its events'
// IDs in order.
func EventIDs(t testing.TB, tl *events.Timeline) []string {
	t.Helper()
	q := events.Query{From: 0, To: 1 << 62, Limit: events.MaxLimit}
	var ids []string
	for {
		p, err := tl.Query(q)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range p.Events {
			ids = append(ids, e.ID)
		}
		if p.Next == "" {
			return ids
		}
		q.After = p.Next
	}
}
