package fragments_test

import (
	"testing"
	"time"

	"github.com/eddy-video/eddy/fragments"
	"github.com/eddy-video/eddy/fragments/cmaf"
	"github.com/eddy-video/eddy/fragments/fragmenter"
	"github.com/eddy-video/eddy/fragments/fragmentstest"
)

// FuzzFragmentRecord feeds arbitrary bytes to the fragment record parser
// and the fMP4 demuxer that archive reads run on stored records: they
// must fail cleanly, never panic.
func FuzzFragmentRecord(f *testing.F) {
	ntp0 := time.Unix(1_800_000_000, 0)
	fr := &fragmenter.Fragmenter{Tracks: fragmentstest.Tracks()}
	var seeds [][]byte
	fr.Emit = func(_ *fragments.InitSegment, g *fragments.Fragment) error {
		seeds = append(seeds, fragments.AppendRecord(nil, g))
		return nil
	}
	if err := fr.Initialize(); err != nil {
		f.Fatal(err)
	}
	for _, au := range fragmentstest.Synth(4, 50, ntp0) {
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
		g, err := fragments.ParseRecord(1, b)
		if err != nil {
			return
		}
		if parts, err := cmaf.Demux(g.Media); err == nil {
			for _, p := range parts {
				for _, pt := range p.Tracks {
					_ = len(pt.Samples)
				}
			}
		}
	})
}
