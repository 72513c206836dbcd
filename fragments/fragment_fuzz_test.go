package fragments

import (
	"testing"
	"time"
)

// FuzzFragmentRecord feeds arbitrary bytes to the fragment record parser
// and the fMP4 demuxer that archive reads run on stored records: they
// must fail cleanly, never panic.
func FuzzFragmentRecord(f *testing.F) {
	ntp0 := time.Unix(1_800_000_000, 0)
	fr := &Fragmenter{Tracks: testTracks()}
	var seeds [][]byte
	fr.Emit = func(_ *InitSegment, g *Fragment) error {
		seeds = append(seeds, appendRecord(nil, g))
		return nil
	}
	if err := fr.Initialize(); err != nil {
		f.Fatal(err)
	}
	for _, au := range synth(4, 50, ntp0) {
		_ = fr.Push(au)
	}
	_ = fr.Flush()
	for _, s := range seeds {
		f.Add(s)
	}
	f.Add([]byte("EFR1"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 1<<16 {
			return
		}
		g, err := parseRecord(1, b)
		if err != nil {
			return
		}
		if d, err := demux(g); err == nil {
			for _, p := range d.parts {
				for _, pt := range p.Tracks {
					_ = len(pt.Samples)
				}
			}
		}
	})
}
