package bench

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape reads the server's /metrics as series → value (see
// parseMetrics).
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

// parseMetrics reads the Prometheus text exposition format (with expfmt)
// as series → value, each series named as the text writes it:
// `name{label="value",…}`, a histogram as its name_bucket (le last),
// name_sum and name_count series, a summary as its name (quantile last),
// name_sum and name_count series.
func parseMetrics(r io.Reader) (map[string]float64, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, err
	}
	m := map[string]float64{}
	for name, f := range families {
		for _, s := range f.GetMetric() {
			addSeries(m, name, s)
		}
	}
	return m, nil
}

// addSeries adds the series of one metric (one label set) of family name.
func addSeries(m map[string]float64, name string, s *dto.Metric) {
	labels := s.GetLabel()
	switch {
	case s.GetHistogram() != nil:
		h := s.GetHistogram()
		for _, b := range h.GetBucket() {
			m[seriesName(name+"_bucket", labels, "le", b.GetUpperBound())] = float64(b.GetCumulativeCount())
		}
		m[seriesName(name+"_sum", labels, "", 0)] = h.GetSampleSum()
		m[seriesName(name+"_count", labels, "", 0)] = float64(h.GetSampleCount())
	case s.GetSummary() != nil:
		sm := s.GetSummary()
		for _, q := range sm.GetQuantile() {
			m[seriesName(name, labels, "quantile", q.GetQuantile())] = q.GetValue()
		}
		m[seriesName(name+"_sum", labels, "", 0)] = sm.GetSampleSum()
		m[seriesName(name+"_count", labels, "", 0)] = float64(sm.GetSampleCount())
	case s.GetCounter() != nil:
		m[seriesName(name, labels, "", 0)] = s.GetCounter().GetValue()
	case s.GetGauge() != nil:
		m[seriesName(name, labels, "", 0)] = s.GetGauge().GetValue()
	default:
		m[seriesName(name, labels, "", 0)] = s.GetUntyped().GetValue()
	}
}

// labelEscaper escapes a label value as the text format does.
var labelEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)

// seriesName writes a series as the text format does (client_golang's
// order: the metric's labels, then le or quantile when extra is set).
func seriesName(name string, labels []*dto.LabelPair, extra string, v float64) string {
	if len(labels) == 0 && extra == "" {
		return name
	}
	var b strings.Builder
	b.WriteString(name)
	sep := byte('{')
	for _, l := range labels {
		b.WriteByte(sep)
		b.WriteString(l.GetName() + `="` + labelEscaper.Replace(l.GetValue()) + `"`)
		sep = ','
	}
	if extra != "" {
		b.WriteByte(sep)
		b.WriteString(extra + `="` + formatBound(v) + `"`)
	}
	b.WriteByte('}')
	return b.String()
}

// formatBound writes an le or quantile value as the text format does.
func formatBound(v float64) string {
	switch {
	case math.IsInf(v, +1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
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
