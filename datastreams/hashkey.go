package datastreams

import (
	"crypto/md5"
	"encoding/binary"
	"math/big"
	"math/bits"
)

// HashKey is a 128-bit Kinesis hash key.
type HashKey struct{ Hi, Lo uint64 }

// Less reports whether k < o.
func (k HashKey) Less(o HashKey) bool { return k.Hi < o.Hi || (k.Hi == o.Hi && k.Lo < o.Lo) }

// String returns the decimal form used on the wire.
func (k HashKey) String() string {
	v := new(big.Int).SetUint64(k.Hi)
	v.Lsh(v, 64)
	v.Or(v, new(big.Int).SetUint64(k.Lo))
	return v.String()
}

// ParseHashKey parses a decimal hash key in [0, 2^128-1].
func ParseHashKey(s string) (HashKey, bool) {
	if s == "" || len(s) > 39 {
		return HashKey{}, false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return HashKey{}, false
		}
	}
	v, ok := new(big.Int).SetString(s, 10)
	if !ok || v.Sign() < 0 || v.BitLen() > 128 {
		return HashKey{}, false
	}
	lo := new(big.Int).And(v, new(big.Int).SetUint64(^uint64(0))).Uint64()
	hi := new(big.Int).Rsh(v, 64).Uint64()
	return HashKey{hi, lo}, true
}

// PartitionHash is MD5(partition key) read as a big-endian 128-bit number,
// as Kinesis maps partition keys to shards.
func PartitionHash(key []byte) HashKey {
	sum := md5.Sum(key)
	return HashKey{binary.BigEndian.Uint64(sum[:8]), binary.BigEndian.Uint64(sum[8:])}
}

// Add returns k + o (mod 2^128).
func (k HashKey) Add(o HashKey) HashKey {
	lo, c := bits.Add64(k.Lo, o.Lo, 0)
	hi, _ := bits.Add64(k.Hi, o.Hi, c)
	return HashKey{hi, lo}
}

// Sub returns k - o (mod 2^128).
func (k HashKey) Sub(o HashKey) HashKey {
	lo, b := bits.Sub64(k.Lo, o.Lo, 0)
	hi, _ := bits.Sub64(k.Hi, o.Hi, b)
	return HashKey{hi, lo}
}

// uniformRanges splits [0, 2^128-1] into n contiguous ranges of (nearly)
// equal size, as CreateStream and UpdateShardCount lay shards out.
func uniformRanges(n int) [][2]HashKey {
	out := make([][2]HashKey, n)
	space := new(big.Int).Lsh(big.NewInt(1), 128)
	step := new(big.Int).Div(space, big.NewInt(int64(n)))
	start := new(big.Int)
	for i := 0; i < n; i++ {
		end := new(big.Int).Add(start, step)
		end.Sub(end, big.NewInt(1))
		if i == n-1 {
			end.Sub(space, big.NewInt(1))
		}
		s, _ := ParseHashKey(start.String())
		e, _ := ParseHashKey(end.String())
		out[i] = [2]HashKey{s, e}
		start.Add(end, big.NewInt(1))
	}
	return out
}
