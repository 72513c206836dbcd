package bench

import "math/bits"

// latHist is a log-linear latency histogram in nanoseconds: exact below
// 128 ns, then 64 buckets per power of two (under 1.6 % error).
type latHist struct {
	counts [128 + 58*64]uint64
	n      uint64
	max    int64
	sum    float64
}

func latBucket(v int64) int {
	if v < 128 {
		return int(max(v, 0))
	}
	shift := bits.Len64(uint64(v)) - 7
	return 128 + (shift-1)*64 + int(uint64(v)>>shift) - 64
}

// latBucketMid returns the middle of bucket i's range.
func latBucketMid(i int) int64 {
	if i < 128 {
		return int64(i)
	}
	shift := (i-128)/64 + 1
	top := int64((i-128)%64 + 64)
	lo := top << shift
	return lo + (int64(1)<<shift)/2
}

func (h *latHist) record(v int64) {
	h.counts[latBucket(v)]++
	h.n++
	h.sum += float64(v)
	if v > h.max {
		h.max = v
	}
}

func (h *latHist) merge(o *latHist) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.sum += o.sum
	h.max = max(h.max, o.max)
}

// quantile returns the q-quantile (0 < q <= 1) in nanoseconds.
func (h *latHist) quantile(q float64) int64 {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q*float64(h.n) + 0.999999)
	rank = min(max(rank, 1), h.n)
	var seen uint64
	for i, c := range h.counts {
		if seen += c; seen >= rank {
			return min(latBucketMid(i), h.max)
		}
	}
	return h.max
}

type latSummary struct {
	Count  uint64  `json:"count"`
	MeanMs float64 `json:"mean_ms"`
	P50Ms  float64 `json:"p50_ms"`
	P99Ms  float64 `json:"p99_ms"`
	MaxMs  float64 `json:"max_ms"`
}

func (h *latHist) summary() latSummary {
	if h.n == 0 {
		return latSummary{}
	}
	return latSummary{
		Count:  h.n,
		MeanMs: h.sum / float64(h.n) / 1e6,
		P50Ms:  float64(h.quantile(0.50)) / 1e6,
		P99Ms:  float64(h.quantile(0.99)) / 1e6,
		MaxMs:  float64(h.max) / 1e6,
	}
}
