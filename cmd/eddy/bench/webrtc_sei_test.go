package bench

import (
	"bytes"
	"testing"

	"github.com/bluenviron/gortsplib/v4/pkg/format/rtph264"
)

func TestSEI(t *testing.T) {
	for _, seq := range []uint64{0, 1, 255, 256, 1 << 40} {
		n := seiNAL(seq)
		for _, b := range n {
			if b == 0 {
				t.Fatalf("SEI of %d has a zero byte (would need emulation prevention): % x", seq, n)
			}
		}
		if got, ok := seiSeq([][]byte{{0x65, 1, 2}, n}); !ok || got != seq {
			t.Errorf("seiSeq(seiNAL(%d)) = %d, %v", seq, got, ok)
		}
	}
	if _, ok := seiSeq([][]byte{{6, 5, 3, 1, 2, 3}}); ok {
		t.Error("a foreign SEI was read as the bench's")
	}
}

// TestFrameTracker: frames packetized as the server does (STAP-A, single
// NAL units, FU-A) are whole and named when every packet comes in order,
// and not whole when one is lost or comes late, like rtph264.Decoder
// decoding them in arrival order.
func TestFrameTracker(t *testing.T) {
	enc := &rtph264.Encoder{PayloadType: 96, PacketizationMode: 1, PayloadMaxSize: 1100}
	if err := enc.Init(); err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte{0x65, 1, 2, 3}, 3000)
	for i, au := range [][][]byte{
		{seiNAL(1), {0x67, 1, 2}, {0x68, 3}, big}, // STAP-A, then FU-A
		{seiNAL(2), {0x41, 9, 9}},                 // STAP-A alone
		{seiNAL(3), big[:1000]},                   // STAP-A of both
	} {
		pkts, err := enc.Encode(au)
		if err != nil {
			t.Fatal(err)
		}
		for j, p := range pkts {
			p.Timestamp = uint32(i * 3600)
			pkts[j] = p
		}
		for _, drop := range []int{-1, 0, len(pkts) / 2, len(pkts) - 1} {
			var ft frameTracker
			dec := &rtph264.Decoder{}
			if err := dec.Init(); err != nil {
				t.Fatal(err)
			}
			gotWhole, decoded := false, false
			var name uint64
			for k, p := range pkts {
				if k == drop {
					continue
				}
				// Sent (stamped) 100 ns before it is read.
				if first, read, n, named, whole := ft.packet(&p.Header, p.Payload, int64(k)+1000, int64(k)+1100); whole {
					gotWhole, name = named, n
					if first != 1000 || read != 1100 {
						t.Errorf("unit %d: first packet sent at %d, read at %d; want 1000 and 1100", i, first, read)
					}
				}
				if _, err := dec.Decode(p); err == nil {
					decoded = true
				}
			}
			// Without its first packet the decoder still returns the
			// rest of the frame (no SEI: not timed); the tracker does not
			// count it.
			if gotWhole != (decoded && drop != 0) || (gotWhole && name != uint64(i+1)) {
				t.Errorf("unit %d (%d packets), packet %d lost: tracker whole %v name %d, decoder %v", i, len(pkts), drop, gotWhole, name, decoded)
			}
		}
	}
}
