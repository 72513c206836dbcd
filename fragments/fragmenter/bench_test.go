package fragmenter_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/eddy-video/eddy/fragments"
	"github.com/eddy-video/eddy/fragments/fragmenter"
	"github.com/eddy-video/eddy/fragments/fragmentstest"
	"github.com/eddy-video/eddy/media"
)

// gop720p is one 2 s GOP shaped like the ingest benchmark's clip (720p25
// H.264 at 2 Mbit/s, AAC): a 60 kB keyframe after its SPS and PPS, 49
// frames of 9 kB, and AAC frames of 180 bytes, as the hub delivers them.
func gop720p() (units []*media.AccessUnit, size int) {
	units = fragmentstest.Synth(2, 50, time.Unix(1_800_000_000, 0))
	for _, au := range units {
		switch {
		case au.Track == 1:
			au.Payload = [][]byte{bytes.Repeat([]byte{0x21}, 180)}
		case au.Key:
			au.Payload = [][]byte{fragmentstest.SPS, fragmentstest.PPS, append([]byte{0x65}, make([]byte, 60_000)...)}
		default:
			au.Payload = [][]byte{append([]byte{0x41}, make([]byte, 9_000)...)}
		}
		for _, n := range au.Payload {
			size += len(n)
		}
	}
	return units, size
}

// BenchmarkFragmenter720p pushes one GOP of gop720p per op through a
// fragmenter: cutting its fragment, and its 200 ms LL-HLS parts (watched:
// always wanted; unwatched: never).
func BenchmarkFragmenter720p(b *testing.B) {
	b.Run("parts", func(b *testing.B) { benchFragmenter(b, 200*time.Millisecond, nil) })
	b.Run("no-parts", func(b *testing.B) { benchFragmenter(b, 0, nil) })
	b.Run("parts-unwatched", func(b *testing.B) {
		benchFragmenter(b, 200*time.Millisecond, func() bool { return false })
	})
}

func benchFragmenter(b *testing.B, partTarget time.Duration, wanted func() bool) {
	units, size := gop720p()
	type times struct {
		dts, pts int64
		at       time.Time
	}
	orig := make([]times, len(units))
	for i, au := range units {
		orig[i] = times{au.DTS, au.PTS, au.Arrival}
	}
	rates := map[int]int64{}
	for _, t := range fragmentstest.Tracks() {
		rates[t.ID] = int64(t.ClockRate)
	}
	var out int
	fr := &fragmenter.Fragmenter{
		Tracks:      fragmentstest.Tracks(),
		PartTarget:  partTarget,
		PartsWanted: wanted,
		EmitPart:    func(_ *fragments.InitSegment, p *fragmenter.PartCut) { out += len(p.Media) },
		Emit: func(_ *fragments.InitSegment, f *fragments.Fragment) error {
			out += len(f.Media)
			return nil
		},
	}
	if err := fr.Initialize(); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(size))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		// Each op is the next GOP of the same publication.
		for j, au := range units {
			step := int64(i) * 2 * rates[au.Track]
			au.DTS, au.PTS = orig[j].dts+step, orig[j].pts+step
			au.Arrival = orig[j].at.Add(time.Duration(i) * 2 * time.Second)
			au.NTP = au.Arrival
			if err := fr.Push(au); err != nil {
				b.Fatal(err)
			}
		}
	}
	if out == 0 {
		b.Fatal("nothing emitted")
	}
}
