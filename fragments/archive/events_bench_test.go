package archive_test

import (
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/eddy-video/eddy/datastreams"
	"github.com/eddy-video/eddy/datastreams/datastreamstest"
	"github.com/eddy-video/eddy/fragments"
	"github.com/eddy-video/eddy/fragments/archive"
	"github.com/eddy-video/eddy/fragments/fragmenter"
	"github.com/eddy-video/eddy/fragments/fragmentstest"
)

// BenchmarkEventsInMedia measures what the events cost the archive reads:
// the MKV of ten 2 s fragments (GetMediaForFragmentList) and the MP4 clip
// of them (GetClip), with no events and with 10 events a second (200,
// each with a label, score, box and small attributes). Compare ns/op and
// B/op of the two.
func BenchmarkEventsInMedia(b *testing.B) {
	for _, perSecond := range []int{0, 10} {
		t0 := time.Unix(1_700_000_000, 0).UTC()
		clk := datastreamstest.NewClock(t0.Add(time.Minute))
		core, m := fragmentstest.NewManager(b, b.TempDir(), clk, 64<<20)
		if _, err := m.CreateStream("cam", fragments.CreateOptions{RetentionHours: 1}); err != nil {
			b.Fatal(err)
		}
		st, _ := m.Store("cam")
		out := fragmentstest.RunFragmenter(b, &fragmenter.Fragmenter{Tracks: fragmentstest.Tracks()}, fragmentstest.Synth(20, 50, t0))
		var seqs []uint64
		var entries []fragments.IndexEntry
		for _, e := range out {
			seq, err := st.Append(e.Init, e.F)
			if err != nil {
				b.Fatal(err)
			}
			seqs = append(seqs, seq)
			ie, _ := st.Lookup(seq)
			entries = append(entries, ie)
		}
		s, _ := core.Stream("cam.events")
		var es []datastreams.PutEntry
		for i := range 20 * perSecond {
			at := t0.Add(time.Duration(i) * time.Second / time.Duration(perSecond))
			es = append(es, datastreams.PutEntry{Key: []byte("k"), Data: []byte(fmt.Sprintf(
				`{"type":"detection","time":%q,"duration":0.4,"label":"person","score":0.9,"box":[0.1,0.2,0.3,0.4],"attributes":{"track":%d}}`,
				at.Format(time.RFC3339Nano), i))})
		}
		if len(es) > 0 {
			if _, err := s.Put(es); err != nil {
				b.Fatal(err)
			}
		}
		b.Run(fmt.Sprintf("MKV/events=%d", len(es)), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := archive.WriteMKV(st, io.Discard, seqs); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("clip/events=%d", len(es)), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				c, err := archive.BuildClip(st, entries)
				if err != nil {
					b.Fatal(err)
				}
				if c.Events != len(es) {
					b.Fatalf("clip has %d events, want %d", c.Events, len(es))
				}
			}
		})
	}
}
