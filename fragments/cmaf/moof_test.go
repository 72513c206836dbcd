package cmaf_test

import (
	"bytes"
	"testing"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4/seekablebuffer"

	"github.com/eddy-video/eddy/fragments/cmaf"
)

// mediacommonSegment is what fmp4.Part.Marshal writes for the same
// tracks: the reference the hand-written writer must match byte for byte.
func mediacommonSegment(t testing.TB, seq uint32, tracks []cmaf.TrackRun) []byte {
	t.Helper()
	pt := fmp4.Part{SequenceNumber: seq}
	for _, r := range tracks {
		tr := &fmp4.PartTrack{ID: r.ID, BaseTime: r.BaseTime}
		for _, s := range r.Samples {
			var payload []byte
			for _, d := range s.Data {
				if s.LengthPrefixed {
					payload = append(payload, byte(len(d)>>24), byte(len(d)>>16), byte(len(d)>>8), byte(len(d)))
				}
				payload = append(payload, d...)
			}
			tr.Samples = append(tr.Samples, &fmp4.Sample{Duration: s.Duration, PTSOffset: s.PTSOffset, IsNonSyncSample: s.NonSync, Payload: payload})
		}
		pt.Tracks = append(pt.Tracks, tr)
	}
	var buf seekablebuffer.Buffer
	if err := pt.Marshal(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// checkSegment compares the writer with mediacommon for tracks, appended
// to a prefix (as the fragmenter leaves room for the record header).
func checkSegment(t testing.TB, seq uint32, tracks []cmaf.TrackRun) {
	t.Helper()
	want := mediacommonSegment(t, seq, tracks)
	if n := cmaf.SegmentSize(tracks); n != len(want) {
		t.Fatalf("SegmentSize = %d, mediacommon wrote %d bytes", n, len(want))
	}
	prefix := []byte{1, 2, 3}
	got := cmaf.AppendSegment(bytes.Clone(prefix), seq, tracks)
	if !bytes.Equal(got[:3], prefix) {
		t.Fatalf("prefix overwritten: % x", got[:3])
	}
	if !bytes.Equal(got[3:], want) {
		t.Fatalf("segment differs from mediacommon's\n got % x\nwant % x", got[3:], want)
	}
	// Appended into room made beforehand, it does not reallocate.
	room := make([]byte, 5, 5+len(want))
	if out := cmaf.AppendSegment(room, seq, tracks); &out[0] != &room[0] || !bytes.Equal(out[5:], want) {
		t.Fatal("AppendSegment into exact room reallocated or differs")
	}
}

func TestSegmentMatchesMediacommon(t *testing.T) {
	nalus := [][]byte{{0x67, 1, 2}, {0x68, 3}, {0x65, 4, 5, 6, 7}}
	cases := map[string][]cmaf.TrackRun{
		"no tracks": nil,
		"video and audio": {
			{ID: 1, BaseTime: 90000, Samples: []cmaf.Sample{
				{Data: nalus, Duration: 3600, PTSOffset: 7200, LengthPrefixed: true},
				{Data: [][]byte{{0x41, 9}}, Duration: 3600, PTSOffset: -3600, NonSync: true, LengthPrefixed: true},
				{Data: [][]byte{{0x41}, {}}, Duration: 0, NonSync: true, LengthPrefixed: true}, // an empty NAL unit keeps its prefix
			}},
			{ID: 2, BaseTime: 1 << 40, Samples: []cmaf.Sample{
				{Data: [][]byte{{0x21, 0x10, 0x04}}, Duration: 1024},
				{Data: [][]byte{{0x21}, {0x22, 0x23}}, Duration: 1024},
			}},
		},
		"sync samples, no offsets": {
			{ID: 1, Samples: []cmaf.Sample{{Data: [][]byte{{1, 2, 3}}, Duration: 960}, {Data: [][]byte{{4}}, Duration: 960}}},
		},
		"offsets only": {
			{ID: 3, Samples: []cmaf.Sample{{Data: [][]byte{{1}}, Duration: 1, PTSOffset: 5}}},
		},
		"non-sync only": {
			{ID: 1, Samples: []cmaf.Sample{{Data: [][]byte{{1}}, Duration: 1}, {Data: [][]byte{{2}}, Duration: 2, NonSync: true}}},
		},
		"empty track": {
			{ID: 1, BaseTime: 5},
			{ID: 2, Samples: []cmaf.Sample{{Data: nil, Duration: 1}}},
		},
	}
	for name, tracks := range cases {
		t.Run(name, func(t *testing.T) { checkSegment(t, 42, tracks) })
	}
}

// FuzzSegmentMatchesMediacommon writes segments of tracks and samples
// drawn from the input with both writers.
func FuzzSegmentMatchesMediacommon(f *testing.F) {
	f.Add(uint32(1), []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15})
	f.Add(uint32(7), []byte{0xff, 0x80, 0x00, 0x13, 0x37, 0x42, 0x01, 0x02, 0xfe, 0x00, 0x00, 0x09, 0x99})
	f.Fuzz(func(t *testing.T, seq uint32, in []byte) {
		next := func() byte {
			if len(in) == 0 {
				return 0
			}
			b := in[0]
			in = in[1:]
			return b
		}
		var tracks []cmaf.TrackRun
		for nt := int(next() % 4); nt > 0; nt-- {
			r := cmaf.TrackRun{ID: int(next()) + 1, BaseTime: uint64(next()) << (next() % 57)}
			prefixed := next()%2 == 0
			for ns := int(next() % 6); ns > 0; ns-- {
				fl := next()
				s := cmaf.Sample{
					Duration:       uint32(next()) << (next() % 25),
					NonSync:        fl&1 != 0,
					LengthPrefixed: prefixed,
				}
				if fl&2 != 0 {
					s.PTSOffset = int32(int8(next())) << (next() % 24)
				}
				for np := int(next() % 4); np > 0; np-- {
					n := int(next() % 16)
					s.Data = append(s.Data, bytes.Repeat([]byte{next()}, n))
				}
				r.Samples = append(r.Samples, s)
			}
			tracks = append(tracks, r)
		}
		checkSegment(t, seq, tracks)
	})
}
