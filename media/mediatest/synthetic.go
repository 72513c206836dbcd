package mediatest

import (
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
)

// Synthetic media. The H.264 SPS is gortsplib's test SPS (1920x1080,
// baseline, pic_order_cnt_type 2: DTS = PTS); the H.265 parameter sets are
// those of gortsplib's SDP tests (no reordering).
var (
	H264SPS = []byte{0x67, 0x42, 0xc0, 0x28, 0xd9, 0x00, 0x78, 0x02, 0x27, 0xe5, 0x84, 0x00, 0x00, 0x03, 0x00, 0x04, 0x00, 0x00, 0x03, 0x00, 0xf0, 0x3c, 0x60, 0xc9, 0x20}
	H264PPS = []byte{0x68, 0xce, 0x3c, 0x80}
	H265VPS = []byte{0x40, 0x01, 0x0c, 0x01, 0xff, 0xff, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0xb0, 0x00, 0x00, 0x03, 0x00, 0x00, 0x03, 0x00, 0x78, 0x17, 0x02, 0x40}
	H265SPS = []byte{0x42, 0x01, 0x01, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0xb0, 0x00, 0x00, 0x03, 0x00, 0x00, 0x03, 0x00, 0x78, 0xa0, 0x02, 0xa0, 0x80, 0x2f, 0x1c, 0xd5, 0x88, 0x17, 0xb9, 0x16, 0x45, 0x2f, 0xfc, 0xb9, 0xfc, 0x4f, 0xea, 0x6e, 0x04, 0x04, 0x04, 0x01}
	H265PPS = []byte{0x44, 0x01, 0xc0, 0x72, 0xf0, 0x53, 0x24}
	// ASC is the AudioSpecificConfig of the synthetic AAC: 48 kHz stereo.
	ASC = mpeg4audio.AudioSpecificConfig{Type: mpeg4audio.ObjectTypeAACLC, SampleRate: 48000, ChannelCount: 2}
	// NTP0 is the producer's wall clock at the first unit.
	NTP0 = time.Unix(1_700_000_000, 123_456_000)
)

const (
	GOP        = 10   // frames per GOP
	VideoTicks = 3600 // 25 fps at 90 kHz
)

// Numbered returns a NAL unit (or audio frame) starting with head whose
// next two bytes encode i; no zero bytes, so no start code emulation.
func Numbered(head []byte, i, size int) []byte {
	n := make([]byte, size)
	copy(n, head)
	n[len(head)] = 0x80 | byte(i>>7&0x7f)
	n[len(head)+1] = 0x80 | byte(i&0x7f)
	for j := len(head) + 2; j < size; j++ {
		n[j] = byte(0x11 + j%200)
	}
	return n
}

// NumberOf is the i of a Numbered unit with a head of headLen bytes, -1 for a
// shorter one.
func NumberOf(n []byte, headLen int) int {
	if len(n) < headLen+2 {
		return -1
	}
	return int(n[headLen]&0x7f)<<7 | int(n[headLen+1]&0x7f)
}

// H264AU is frame i: an IDR with SPS and PPS every GOP frames (large
// enough for FU-A fragmentation), else a non-IDR slice.
func H264AU(i int) [][]byte {
	if i%GOP == 0 {
		return [][]byte{H264SPS, H264PPS, Numbered([]byte{0x65, 0x88}, i, 3000)}
	}
	return [][]byte{Numbered([]byte{0x41, 0x9a}, i, 300)}
}

// H265AU is frame i as H264AU makes it, in H.265: an IDR with VPS, SPS
// and PPS every GOP frames, else a trailing picture.
func H265AU(i int) [][]byte {
	if i%GOP == 0 {
		return [][]byte{H265VPS, H265SPS, H265PPS, Numbered([]byte{0x26, 0x01}, i, 3000)}
	}
	return [][]byte{Numbered([]byte{0x02, 0x01}, i, 300)}
}

// AudioFrame is audio frame i (AAC, Opus or G.711: the bytes do not
// decode, only travel).
func AudioFrame(i int) []byte { return Numbered([]byte{0x21}, i, 120) }

// VideoIndex is the frame number of a synthetic video unit.
func VideoIndex(au [][]byte) int {
	if len(au) == 0 {
		return -1
	}
	return NumberOf(au[len(au)-1], 2)
}

// Must returns v, panicking on err: for set-up that cannot fail.
func Must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
