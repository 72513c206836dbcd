package bench

import (
	"math"
	"sort"
	"time"
)

// quantile is the nearest-rank quantile of ds (q = 1: the maximum); it
// sorts ds.
func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	i := int(math.Ceil(q*float64(len(ds)))) - 1
	return ds[min(max(i, 0), len(ds)-1)]
}

// msQuantiles is the median, p99 and maximum of ds in milliseconds; it
// sorts ds.
func msQuantiles(ds []time.Duration) (p50, p99, max float64) {
	return ms(quantile(ds, 0.5)), ms(quantile(ds, 0.99)), ms(quantile(ds, 1))
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }
