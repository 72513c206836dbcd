package main

import (
	"bytes"
	"context"
	"math"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBenchIngest runs `eddy bench ingest` briefly (2 streams, 6 s window)
// against a server binary it starts as a child: a functional test of the
// bench code and of loss-free recording, not a performance assertion.
func TestBenchIngest(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the server binary and publishes for ~10 s; skipped with -short")
	}
	cfg := defaultIngestBenchConfig()
	cfg.Server = ingestTestBinary(t)
	cfg.Clip = filepath.Join("..", "..", "testdata", "cam-h264-aac.mp4")
	cfg.Streams, cfg.Duration, cfg.Warmup, cfg.Stagger = 2, 6*time.Second, time.Second, time.Second
	cfg.Settle, cfg.Progress = 10*time.Second, 0
	cfg.Log = ingestTestLog{t}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := runIngestBench(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	res.writeText(&out)
	t.Log(out.String())
	// 2 streams × 6 s / 2 s GOP = 6 fragments; one more or less at the edges.
	if res.FragmentsListed < 4 || res.FragmentsPersisted < 4 {
		t.Errorf("%d fragments listed, %d persisted; want about 6", res.FragmentsListed, res.FragmentsPersisted)
	}
	if res.Loss || res.LostMediaS != 0 || res.Gaps != 0 || res.MissingNumbers != 0 || res.PublisherErrors != 0 {
		t.Errorf("loss: %.3f s lost, %d gaps, %d missing numbers, %d publisher errors; problems %q",
			res.LostMediaS, res.Gaps, res.MissingNumbers, res.PublisherErrors, res.Problems)
	}
	if math.Abs(res.SentMediaS-res.ListedMediaS) > 0.1 || res.ListedMediaS < 8 {
		t.Errorf("sent %.3f s, listed %.3f s; want equal, about 12 s", res.SentMediaS, res.ListedMediaS)
	}
	if res.ServerCPUSeconds == nil || res.RSSPeakMiB <= 0 || res.LatencyP99MS == nil {
		t.Errorf("CPU %v, RSS %v MiB, p99 %v: want all measured", res.ServerCPUSeconds, res.RSSPeakMiB, res.LatencyP99MS)
	}
	if res.GOPS < 1.9 || res.GOPS > 2.1 || res.FrameMS < 39 || res.FrameMS > 41 {
		t.Errorf("GOP %.3f s, frame %.1f ms; the clip has 2 s and 40 ms", res.GOPS, res.FrameMS)
	}
}

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
	m, err := parseMetrics(strings.NewReader("# HELP x\nx_bucket{le=\"0.05\"} 3\nx_bucket{le=\"+Inf\"} 4\ny 2.5\n"))
	if err != nil || m[`x_bucket{le="+Inf"}`] != 4 || m["y"] != 2.5 {
		t.Errorf("parseMetrics = %v, %v", m, err)
	}
	if d := histDelta("x", map[string]float64{`x_bucket{le="0.05"}`: 1}, m); len(d) != 2 || d[0].count != 2 || !math.IsInf(d[1].le, 1) {
		t.Errorf("histDelta = %v", d)
	}
}

// ingestTestBinary builds the eddy binary (package main, this directory)
// for tests that run it as a separate process.
func ingestTestBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "eddy")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

type ingestTestLog struct{ t *testing.T }

func (l ingestTestLog) Write(b []byte) (int, error) {
	l.t.Logf("%s %s", time.Now().Format("15:04:05.000"), bytes.TrimRight(b, "\n"))
	return len(b), nil
}
