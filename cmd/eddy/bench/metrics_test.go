package bench

import (
	"math"
	"strings"
	"testing"
)

func TestBenchIngestHistQuantile(t *testing.T) {
	inf := math.Inf(1)
	bs := []histBucket{{0.001, 0}, {0.002, 50}, {0.005, 90}, {0.01, 100}, {inf, 100}}
	for _, c := range []struct {
		name string
		q    float64
		want float64
		over bool
	}{
		{"median at a bound", 0.5, 0.002, false},
		{"inside a bucket", 0.7, 0.0035, false},
		{"p99", 0.99, 0.0095, false},
		{"first bucket", 0.25, 0.0015, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, over, ok := histQuantile(c.q, bs)
			if !ok || over != c.over || math.Abs(got-c.want) > 1e-9 {
				t.Errorf("histQuantile(%v) = %v, %v, %v; want %v, %v", c.q, got, over, ok, c.want, c.over)
			}
		})
	}
	if v, over, ok := histQuantile(0.99, []histBucket{{0.05, 1}, {inf, 10}}); !ok || !over || v != 0.05 {
		t.Errorf("rank in +Inf: %v %v %v; want 0.05, over", v, over, ok)
	}
	if _, _, ok := histQuantile(0.5, []histBucket{{0.05, 0}, {inf, 0}}); ok {
		t.Error("empty histogram: want !ok")
	}
	// The same samples without and with their TYPE: series as written.
	for _, text := range []string{
		"# HELP x\nx_bucket{le=\"0.05\"} 3\nx_bucket{le=\"+Inf\"} 4\ny 2.5\n",
		"# HELP x h\n# TYPE x histogram\nx_bucket{le=\"0.05\"} 3\nx_bucket{le=\"+Inf\"} 4\nx_sum 0.1\nx_count 4\n# TYPE y gauge\ny 2.5\n",
	} {
		m, err := parseMetrics(strings.NewReader(text))
		if err != nil || m[`x_bucket{le="+Inf"}`] != 4 || m["y"] != 2.5 {
			t.Errorf("parseMetrics = %v, %v", m, err)
		}
		if d := histDelta("x", map[string]float64{`x_bucket{le="0.05"}`: 1}, m); len(d) != 2 || d[0].count != 2 || !math.IsInf(d[1].le, 1) {
			t.Errorf("histDelta = %v", d)
		}
	}
	m, err := parseMetrics(strings.NewReader("# TYPE c counter\nc{a=\"1\",b=\"q\\\"\"} 7\n# TYPE s summary\ns{quantile=\"0.5\"} 1\ns_sum 2\ns_count 3\n"))
	if err != nil || m[`c{a="1",b="q\""}`] != 7 || m[`s{quantile="0.5"}`] != 1 || m["s_count"] != 3 {
		t.Errorf("parseMetrics of a labelled counter and a summary = %v, %v", m, err)
	}
}
