package rtpcodec

import (
	"testing"
)

func TestOpusHead(t *testing.T) {
	for ch := 1; ch <= 8; ch++ {
		h := OpusHead(ch)
		if string(h[:8]) != "OpusHead" || opusChannels([][]byte{h}) != ch {
			t.Errorf("%d channels: %x", ch, h)
		}
		if wantLen := map[bool]int{true: 19, false: 21 + ch}[ch <= 2]; len(h) != wantLen {
			t.Errorf("%d channels: %d bytes", ch, len(h))
		}
	}
	if opusChannels([][]byte{{1}}) != 1 || opusChannels(nil) != 2 {
		t.Error("opusChannels of a one-byte config or none")
	}
}
