package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// scrape reads the server's /metrics as series → value (Prometheus text
// format: `name{labels} value`).
func (b *prober) scrape(ctx context.Context) (map[string]float64, error) {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(cctx, http.MethodGet, b.url+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := b.httpClient().Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	return parseMetrics(resp.Body)
}

func (b *prober) httpClient() *http.Client {
	if b.hc != nil {
		return b.hc
	}
	return http.DefaultClient
}

func parseMetrics(r io.Reader) (map[string]float64, error) {
	m := map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		m[line[:i]] = v
	}
	return m, sc.Err()
}

// histBucket is one cumulative bucket of a Prometheus histogram.
type histBucket struct {
	le    float64
	count float64
}

// histDelta returns the buckets of histogram name over [m0, m1].
func histDelta(name string, m0, m1 map[string]float64) []histBucket {
	var out []histBucket
	prefix := name + `_bucket{le="`
	for k, v := range m1 {
		rest, ok := strings.CutPrefix(k, prefix)
		if !ok {
			continue
		}
		le, err := strconv.ParseFloat(strings.TrimSuffix(rest, `"}`), 64)
		if err != nil {
			continue
		}
		out = append(out, histBucket{le: le, count: v - m0[k]})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].le < out[j].le })
	return out
}

// histQuantile estimates quantile q from cumulative buckets, as
// Prometheus's histogram_quantile does: linear interpolation within the
// bucket holding the rank. over reports a rank in the +Inf bucket (the
// value returned is then the highest finite bound, a lower limit).
func histQuantile(q float64, bs []histBucket) (v float64, over bool, ok bool) {
	if len(bs) == 0 || bs[len(bs)-1].count <= 0 {
		return 0, false, false
	}
	total := bs[len(bs)-1].count
	rank := q * total
	for i, bk := range bs {
		if bk.count < rank {
			continue
		}
		lower, below := 0.0, 0.0
		if i > 0 {
			lower, below = bs[i-1].le, bs[i-1].count
		}
		if math.IsInf(bk.le, 1) {
			return lower, true, true
		}
		if bk.count == below {
			return bk.le, false, true
		}
		return lower + (bk.le-lower)*(rank-below)/(bk.count-below), false, true
	}
	return bs[len(bs)-1].le, false, true
}

// histFractionBelow is the share of observations ≤ le (le must be a bound).
func histFractionBelow(le float64, bs []histBucket) (float64, bool) {
	if len(bs) == 0 || bs[len(bs)-1].count <= 0 {
		return 0, false
	}
	for _, bk := range bs {
		if bk.le == le {
			return bk.count / bs[len(bs)-1].count, true
		}
	}
	return 0, false
}
