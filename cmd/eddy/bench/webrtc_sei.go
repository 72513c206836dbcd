package bench

import (
	"fmt"
	"strconv"
)

// seiUUID marks the bench's SEI (no zero bytes, so no emulation
// prevention is ever needed).
var seiUUID = []byte("eddy-bench-frame")

// seiNAL is an H.264 SEI NAL unit, user data unregistered (payload type
// 5), holding seiUUID and seq as 16 decimal digits.
func seiNAL(seq uint64) []byte {
	digits := fmt.Sprintf("%016d", seq)
	b := []byte{6, 5, byte(len(seiUUID) + len(digits))}
	b = append(b, seiUUID...)
	b = append(b, digits...)
	return append(b, 0x80)
}

// seiSeq finds the bench's SEI in an access unit.
func seiSeq(au [][]byte) (uint64, bool) {
	for _, n := range au {
		if len(n) >= 3+16+16 && n[0]&0x1f == 6 && n[1] == 5 && string(n[3:19]) == string(seiUUID) {
			v, err := strconv.ParseUint(string(n[19:35]), 10, 64)
			return v, err == nil
		}
	}
	return 0, false
}
