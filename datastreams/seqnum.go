package datastreams

import (
	"math/big"
	"math/bits"
	"regexp"
)

// Sequence numbers on the wire are decimal strings of the 128-bit value
//
//	2^100 | shardIndex << 64 | logSeq
//
// so they are strictly increasing within a shard, unique within a stream
// (the shard index is part of them), always 31 digits long for realistic
// shard counts, and a number names the shard it belongs to. logSeq 0 is
// never a record: it is the position before a shard's first record, used
// for StartingSequenceNumber and for continuation points of empty shards.

var seqPattern = regexp.MustCompile(`^(0|[1-9][0-9]{0,128})$`)

// EncodeSeq returns the wire sequence number of logSeq in shard shardIndex.
func EncodeSeq(shardIndex int, logSeq uint64) string {
	var b [40]byte
	return string(appendSeq(b[:0], shardIndex, logSeq))
}

// AppendSeq appends the wire sequence number of logSeq in shard
// shardIndex (EncodeSeq's digits) to dst.
func AppendSeq(dst []byte, shardIndex int, logSeq uint64) []byte {
	return appendSeq(dst, shardIndex, logSeq)
}

// appendSeq appends the decimal sequence number without allocating: the
// 128-bit value hi:lo is divided by 10^19 twice with 64-bit arithmetic.
func appendSeq(dst []byte, shardIndex int, logSeq uint64) []byte {
	hi := uint64(1)<<36 | uint64(shardIndex)
	lo := logSeq
	const e19 = 10_000_000_000_000_000_000
	// hi:lo = q*e19 + r0, q = qhi:qlo; q = t*e19 + r1; t < e19 for our range.
	qhi := hi / e19
	qlo, r0 := bits.Div64(hi%e19, lo, e19)
	t, r1 := bits.Div64(qhi%e19, qlo, e19)
	var buf [40]byte
	i := len(buf)
	put19 := func(v uint64, pad bool) {
		for n := 0; n < 19 && (pad || v > 0); n++ {
			i--
			buf[i] = byte('0' + v%10)
			v /= 10
		}
	}
	put19(r0, true)
	if t > 0 {
		put19(r1, true)
		put19(t, false)
	} else {
		put19(r1, false)
	}
	return append(dst, buf[i:]...)
}

// DecodeSeq parses a wire sequence number. ok is false for strings that are
// not sequence numbers this server issued.
func DecodeSeq(s string) (shardIndex int, logSeq uint64, ok bool) {
	if !seqPattern.MatchString(s) || len(s) > 40 {
		return 0, 0, false
	}
	v, ok := new(big.Int).SetString(s, 10)
	if !ok || v.BitLen() != 101 {
		return 0, 0, false
	}
	lo := new(big.Int).And(v, new(big.Int).SetUint64(^uint64(0))).Uint64()
	hi := new(big.Int).Rsh(v, 64)
	hi.Xor(hi, new(big.Int).Lsh(big.NewInt(1), 36))
	if !hi.IsInt64() || hi.Int64() > 1<<31 {
		return 0, 0, false
	}
	return int(hi.Int64()), lo, true
}

// ValidSeqSyntax reports whether s has the form Kinesis allows for sequence numbers.
func ValidSeqSyntax(s string) bool { return seqPattern.MatchString(s) }
