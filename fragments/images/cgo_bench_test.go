//go:build ffmpegcgo

package images

import (
	"encoding/binary"
	"testing"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4"

	"github.com/eddy-video/eddy/fragments/cmaf"
)

// BenchmarkDecodeGOPCgo decodes the GOP of BenchmarkDecodeGOP with
// libavcodec through cgo in the test process (go test -tags ffmpegcgo;
// needs libavcodec-dev, libswscale-dev, libavutil-dev): up to its middle
// frame, and one JPEG of it, per op.
func BenchmarkDecodeGOPCgo(b *testing.B) {
	j, rank := benchGOP(b)
	c, ok := j.src.Tracks[0].Codec.(*mp4.CodecH264)
	if !ok {
		b.Fatal("not H.264")
	}
	units := annexB(b, j, [][]byte{c.SPS, c.PPS})
	runCPU(b, 1, func() {
		img, err := decodeGOPCgo(units, rank, qscale(80))
		if err != nil || len(img) == 0 {
			b.Fatal(err)
		}
	})
}

// annexB returns the job's video samples as Annex-B access units (the
// stored samples are length-prefixed, ISO/IEC 14496-15), the parameter
// sets before the first.
func annexB(b *testing.B, j *job, params [][]byte) [][]byte {
	parts, err := cmaf.Demux(j.frags[0].Media)
	if err != nil {
		b.Fatal(err)
	}
	var units [][]byte
	for _, p := range parts {
		for _, pt := range p.Tracks {
			for _, s := range pt.Samples {
				var u []byte
				if len(units) == 0 {
					for _, ps := range params {
						u = append(append(u, 0, 0, 0, 1), ps...)
					}
				}
				for p := s.Payload; len(p) >= 4; {
					n := int(binary.BigEndian.Uint32(p))
					if n > len(p)-4 {
						b.Fatal("bad NAL unit length")
					}
					u = append(append(u, 0, 0, 0, 1), p[4:4+n]...)
					p = p[4+n:]
				}
				units = append(units, u)
			}
		}
	}
	return units
}

// benchGOP is the first of benchGOPs and the rank it wants.
func benchGOP(b *testing.B) (*job, int) {
	return benchGOPs(b, 1)[0], 25
}
