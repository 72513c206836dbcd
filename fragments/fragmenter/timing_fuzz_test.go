package fragmenter_test

import (
	"encoding/binary"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"

	"github.com/eddy-video/eddy/datastreams"
	"github.com/eddy-video/eddy/fragments"
	"github.com/eddy-video/eddy/fragments/archive"
	"github.com/eddy-video/eddy/fragments/cmaf"
	"github.com/eddy-video/eddy/fragments/fragmenter"
	"github.com/eddy-video/eddy/fragments/fragmentstest"
	"github.com/eddy-video/eddy/media"
)

// fuzzUnits turns fuzz bytes into a publication with the timestamps a bad
// or hostile producer sends: 4 bytes a unit, b[0] flags (bit 0 audio,
// bit 1 keyframe, bit 2 with a producer clock, bit 3 a large payload,
// bit 4 the step in seconds instead of ticks, bit 5 a composition offset)
// and b[1:4] a signed 24-bit step of the track's DTS.
func fuzzUnits(b []byte) []*media.AccessUnit {
	var out []*media.AccessUnit
	dts := [2]int64{0, 0}
	rate := [2]int64{90000, 44100}
	arrival := time.Unix(1_800_000_000, 0)
	ntp := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i+4 <= len(b) && len(out) < 500; i += 4 {
		flags := b[i]
		tr := int(flags & 1)
		step := int64(int32(binary.BigEndian.Uint32(b[i:])<<8) >> 8)
		if flags&0x10 != 0 {
			step *= rate[tr]
		}
		dts[tr] += step
		pts := dts[tr]
		if flags&0x20 != 0 {
			pts += int64(b[i+3]) * 3600
		}
		payload := []byte{0x41, byte(i), 1, 2, 3}
		if tr == 1 {
			payload = []byte{0x21, byte(i)}
		} else if flags&2 != 0 {
			payload = []byte{0x65, byte(i), 4, 5, 6}
		}
		if flags&8 != 0 {
			payload = append(payload, make([]byte, 12_000)...)
		}
		au := &media.AccessUnit{Track: tr, DTS: dts[tr], PTS: pts, Key: tr == 0 && flags&2 != 0, Payload: [][]byte{payload}, Arrival: arrival}
		if flags&4 != 0 {
			au.NTP = ntp.Add(time.Duration(dts[tr]) * time.Second / time.Duration(rate[tr]))
		}
		out = append(out, au)
		arrival = arrival.Add(20 * time.Millisecond)
	}
	return out
}

// fuzzStore opens a video stream for a fuzz target's inputs, on segment
// files synced in the background; retention by size keeps a long run's
// disk use bounded.
func fuzzStore(f *testing.F) *fragments.Store {
	var m *fragments.Manager
	core := &datastreams.Core{Dir: f.TempDir(), SyncPolicy: "interval", SegmentBytes: 4 << 20, JanitorInterval: time.Second,
		AfterTrim: func(s *datastreams.Stream) { m.Trimmed(s) }}
	if err := core.Initialize(); err != nil {
		f.Fatal(err)
	}
	m = &fragments.Manager{Core: core}
	if err := m.Initialize(); err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() {
		m.Close()
		core.Close()
	})
	if _, err := m.CreateStream("fuzz", fragments.CreateOptions{RetentionHours: 1, RetentionBytes: 64 << 20}); err != nil {
		f.Fatal(err)
	}
	st, err := m.Store("fuzz")
	if err != nil {
		f.Fatal(err)
	}
	return st
}

// FuzzFragmenterTimestamps: whatever timestamps a producer sends, every
// fragment the fragmenter cuts is stored, listed, and reads back (from
// the log, as fMP4 samples and as GetMediaForFragmentList's MKV).
func FuzzFragmenterTimestamps(f *testing.F) {
	f.Add([]byte{2, 0, 0, 0, 0, 0, 0x0e, 0x10, 1, 0, 0x04, 0x00, 0, 0, 0x0e, 0x10, 0x12, 0xff, 0xff, 0xf6, 0, 0, 0x0e, 0x10})
	f.Add([]byte{6, 0, 0, 0, 0x16, 0, 0x46, 0x50, 4, 0, 0x0e, 0x10, 0x36, 0xff, 0xb9, 0xb0, 0x0c, 0, 0x0e, 0x10, 0x11, 0, 0, 0x3c})
	st := fuzzStore(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		aus := fuzzUnits(b)
		if len(aus) == 0 {
			return
		}
		var seqs []uint64
		var tl timeline
		fr := &fragmenter.Fragmenter{Tracks: fragmentstest.Tracks(), MaxDuration: 2 * time.Second, MaxBytes: 64 << 10,
			PartTarget: 200 * time.Millisecond, EmitPart: func(*fragments.InitSegment, *fragmenter.PartCut) {}}
		fr.Emit = func(init *fragments.InitSegment, g *fragments.Fragment) error {
			tl.check(t, g, 2*time.Second)
			seq, err := st.Append(init, g)
			if err != nil {
				return fmt.Errorf("append: %w", err)
			}
			seqs = append(seqs, seq)
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
		readBack(t, st, seqs)
	})
}

// timeline follows the fragments a fragmenter emits: each lasts more
// than 0 and at most its bound, its samples add up to its duration, the
// video decode timeline runs on from one fragment to the next without a
// gap, an overlap or a step back, and server timestamps never go back.
type timeline struct {
	n          int
	next       uint64
	serverTime int64
}

func (tl *timeline) check(t testing.TB, g *fragments.Fragment, bound time.Duration) {
	t.Helper()
	defer func() { tl.n++ }()
	if g.Duration <= 0 || g.Duration > int64(bound) {
		t.Errorf("fragment %d lasts %v, outside (0, %v]", tl.n, time.Duration(g.Duration), bound)
	}
	if g.ServerTime < tl.serverTime {
		t.Errorf("fragment %d: server time steps back", tl.n)
	}
	tl.serverTime = g.ServerTime
	var parts fmp4.Parts
	if err := parts.Unmarshal(g.Media); err != nil {
		t.Fatalf("fragment %d: %v", tl.n, err)
	}
	for _, pt := range parts[0].Tracks {
		if pt.ID != 1 {
			continue
		}
		if tl.n > 0 && pt.BaseTime != tl.next {
			t.Errorf("fragment %d: video starts at %d, the previous one ended at %d", tl.n, pt.BaseTime, tl.next)
		}
		var sum uint64
		for _, s := range pt.Samples {
			sum += uint64(s.Duration)
		}
		if got := time.Duration(sum) * time.Second / 90000; got != time.Duration(g.Duration) {
			t.Errorf("fragment %d: video samples last %v, the fragment %v", tl.n, got, time.Duration(g.Duration))
		}
		tl.next = pt.BaseTime + sum
	}
}

// readBack asserts every stored fragment is listed and reads back.
func readBack(t *testing.T, st *fragments.Store, seqs []uint64) {
	t.Helper()
	if len(seqs) == 0 {
		return
	}
	listed, _, err := st.List(fragments.IndexServerTime, time.Unix(0, 0), time.Unix(1<<33, 0), seqs[0], len(seqs))
	if err != nil || len(listed) != len(seqs) {
		t.Fatalf("listed %d of %d fragments (%v)", len(listed), len(seqs), err)
	}
	for _, seq := range seqs {
		g, err := st.Read(seq)
		if err != nil {
			t.Fatalf("fragment %d: %v", seq, err)
		}
		if _, err := cmaf.Demux(g.Media); err != nil {
			t.Fatalf("fragment %d: %v", seq, err)
		}
	}
	if err := archive.WriteMKV(st, io.Discard, seqs); err != nil {
		t.Fatalf("MKV: %v", err)
	}
}
