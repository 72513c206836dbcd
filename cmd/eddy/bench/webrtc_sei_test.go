package bench

import "testing"

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
