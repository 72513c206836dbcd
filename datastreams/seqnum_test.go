package datastreams

import (
	"math/big"
	"testing"
)

func TestSeqEncoding(t *testing.T) {
	for _, tc := range []struct {
		shard int
		seq   uint64
	}{{0, 0}, {0, 1}, {1, 1}, {3, 123456789}, {4095, 1 << 40}, {1<<31 - 1, ^uint64(0)}, {77, 10_000_000_000_000_000_000}} {
		want := new(big.Int).Lsh(big.NewInt(1), 100)
		want.Or(want, new(big.Int).Lsh(big.NewInt(int64(tc.shard)), 64))
		want.Or(want, new(big.Int).SetUint64(tc.seq))
		got := EncodeSeq(tc.shard, tc.seq)
		if got != want.String() {
			t.Errorf("EncodeSeq(%d, %d) = %s, want %s", tc.shard, tc.seq, got, want)
		}
		sh, seq, ok := DecodeSeq(got)
		if !ok || sh != tc.shard || seq != tc.seq {
			t.Errorf("DecodeSeq(%s) = %d, %d, %v", got, sh, seq, ok)
		}
	}
	// Increasing within a shard, as strings compared as numbers.
	a, _ := new(big.Int).SetString(EncodeSeq(2, 99), 10)
	b, _ := new(big.Int).SetString(EncodeSeq(2, 100), 10)
	if a.Cmp(b) >= 0 {
		t.Fatal("sequence numbers do not increase")
	}
	for _, bad := range []string{"", "abc", "0", "12345", "-1", "01267650600228229401496703205377", EncodeSeq(1, 1) + "0"} {
		if _, _, ok := DecodeSeq(bad); ok {
			t.Errorf("DecodeSeq(%q) accepted", bad)
		}
	}
}

func FuzzSeq(f *testing.F) {
	f.Add(0, uint64(0))
	f.Add(5, uint64(1)<<63)
	f.Fuzz(func(t *testing.T, shard int, seq uint64) {
		if shard < 0 || shard > 1<<31-1 {
			return
		}
		s := EncodeSeq(shard, seq)
		sh, sq, ok := DecodeSeq(s)
		if !ok || sh != shard || sq != seq {
			t.Fatalf("round trip (%d,%d) -> %s -> (%d,%d,%v)", shard, seq, s, sh, sq, ok)
		}
	})
}
