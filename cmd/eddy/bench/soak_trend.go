package bench

import (
	"math"
	"time"
)

// soakSample is the server as sampled once: from /proc (RSS, open file
// descriptors, CPU time) and /metrics (goroutines, Go heap in use). A
// figure that could not be read is -1 (the metrics ones when the scrape
// failed; the /proc ones without a pid).
type soakSample struct {
	At         time.Time `json:"at"`
	T          float64   `json:"t_seconds"` // since the cameras started
	RSSMiB     float64   `json:"rss_mib"`
	HeapMiB    float64   `json:"heap_inuse_mib"`
	Goroutines float64   `json:"goroutines"`
	FDs        float64   `json:"open_fds"`
	CPUSeconds float64   `json:"server_cpu_seconds"` // cumulative utime+stime
	BenchCPU   float64   `json:"bench_cpu_seconds"`  // this process, cumulative
	// The machine's pressure stall totals (cumulative seconds in which
	// some task waited for a CPU, for I/O): a stall every load felt at
	// once shows here when the machine, not the server, caused it.
	PSICPUSome float64 `json:"psi_cpu_some_seconds"`
	PSIIOSome  float64 `json:"psi_io_some_seconds"`
}

// sampleOf extracts a soakSample from a snapshot taken t after start.
func sampleOf(p snapshot, start time.Time) soakSample {
	s := soakSample{At: p.at, T: p.at.Sub(start).Seconds(), RSSMiB: -1, HeapMiB: -1, Goroutines: -1, FDs: -1, CPUSeconds: -1, BenchCPU: -1,
		PSICPUSome: -1, PSIIOSome: -1}
	if v, ok := p.psi["cpu_some"]; ok {
		s.PSICPUSome = v / 1e6
	}
	if v, ok := p.psi["io_some"]; ok {
		s.PSIIOSome = v / 1e6
	}
	if p.rss > 0 {
		s.RSSMiB = mib(p.rss)
	}
	if p.fds >= 0 {
		s.FDs = float64(p.fds)
	}
	if p.serverCPUOK {
		s.CPUSeconds = p.serverCPU
	}
	if p.selfCPUOK {
		s.BenchCPU = p.selfCPU
	}
	if p.metricsErr == nil {
		if v, ok := p.metrics["go_goroutines"]; ok {
			s.Goroutines = v
		}
		if v, ok := p.metrics["go_memstats_heap_inuse_bytes"]; ok {
			s.HeapMiB = v / (1 << 20)
		}
	}
	return s
}

// soakTrend is one sampled figure after the warm-up: its least-squares
// line and range. Slope and its 95% confidence half-width are per hour;
// samples are autocorrelated (a garbage-collected heap saws up and
// down), so the interval is a guide, not a test.
type soakTrend struct {
	Metric    string  `json:"metric"`
	Unit      string  `json:"unit"`
	Samples   int     `json:"samples"`
	SlopePerH float64 `json:"slope_per_hour"`
	CI95PerH  float64 `json:"slope_ci95_per_hour"`
	Min       float64 `json:"min"`
	Max       float64 `json:"max"`
	Mean      float64 `json:"mean"`
	First     float64 `json:"first"` // the fitted line at the warm-up's end
	Last      float64 `json:"last"`  // … and at the run's end
	LimitPerH float64 `json:"flat_limit_per_hour"`
	// Flat: the slope is not above the limit by more than its 95%
	// interval. Noisy (a figure that steps up and down, as connections
	// open and close) marks a flat trend whose slope is above the limit:
	// a longer run tells.
	Flat  bool `json:"flat"`
	Noisy bool `json:"above_limit_within_noise,omitempty"`
}

// fitLine fits y = a + b·x by least squares; se is b's standard error
// (0 with fewer than three points).
func fitLine(xs, ys []float64) (a, b, se float64) {
	n := float64(len(xs))
	if len(xs) < 2 {
		if len(ys) == 1 {
			return ys[0], 0, 0
		}
		return 0, 0, 0
	}
	var mx, my float64
	for i := range xs {
		mx += xs[i]
		my += ys[i]
	}
	mx, my = mx/n, my/n
	var sxx, sxy float64
	for i := range xs {
		sxx += (xs[i] - mx) * (xs[i] - mx)
		sxy += (xs[i] - mx) * (ys[i] - my)
	}
	if sxx == 0 {
		return my, 0, 0
	}
	b = sxy / sxx
	a = my - b*mx
	if len(xs) > 2 {
		var rss float64
		for i := range xs {
			r := ys[i] - a - b*xs[i]
			rss += r * r
		}
		se = math.Sqrt(rss / (n - 2) / sxx)
	}
	return a, b, se
}

// trend fits the points (t seconds, value), skipping unknown (negative)
// values; limit is the slope per hour above which the figure is not flat.
func trend(metric, unit string, ts, vs []float64, limit float64) soakTrend {
	tr := soakTrend{Metric: metric, Unit: unit, LimitPerH: limit, Min: math.Inf(1), Max: math.Inf(-1)}
	var xs, ys []float64
	for i, v := range vs {
		if v < 0 || math.IsNaN(v) {
			continue
		}
		xs, ys = append(xs, ts[i]), append(ys, v)
		tr.Min, tr.Max = math.Min(tr.Min, v), math.Max(tr.Max, v)
		tr.Mean += v
	}
	tr.Samples = len(xs)
	if tr.Samples == 0 {
		tr.Min, tr.Max = 0, 0
		return tr
	}
	tr.Mean /= float64(tr.Samples)
	a, b, se := fitLine(xs, ys)
	tr.SlopePerH, tr.CI95PerH = b*3600, 1.96*se*3600
	tr.First, tr.Last = a+b*xs[0], a+b*xs[len(xs)-1]
	tr.Flat = tr.Samples >= 3 && tr.SlopePerH-tr.CI95PerH <= limit
	tr.Noisy = tr.Flat && tr.SlopePerH > limit
	return tr
}

// soakLimits are the growth per hour above which a figure counts as
// rising (flags --max-*-slope). An Eddy that runs for years must not grow
// at all in steady state; the defaults leave room for what an hour's
// samples cannot tell from noise on a shared machine (a heap's sawtooth,
// a reader's connection opening).
type soakLimits struct {
	RSSMiBPerH     float64 `json:"rss_mib_per_hour"`     // also the Go heap's
	GoroutinesPerH float64 `json:"goroutines_per_hour"`  //
	FDsPerH        float64 `json:"open_fds_per_hour"`    //
	CPUPctPerH     float64 `json:"cpu_percent_per_hour"` // percent of one core
}

func defaultSoakLimits() soakLimits {
	return soakLimits{
		RSSMiBPerH:     10, // 10 MiB/h would be 87 GiB a year
		GoroutinesPerH: 10, // a leaked goroutine per reader reconnect would be thousands
		FDsPerH:        5,  // a leaked fd per fragment would be ~90,000/h at 50 cameras
		CPUPctPerH:     2,  // 2% of a core per hour
	}
}

// soakTrends fits the samples taken after warmup (seconds since the
// cameras started): RSS, Go heap, goroutines, open files, and the server's
// CPU use (percent of one core: CPU-seconds per second over each interval).
func soakTrends(samples []soakSample, warmup float64, lim soakLimits) []soakTrend {
	var ts, rss, heap, gor, fds, cpuT, cpu []float64
	var prev *soakSample
	for i := range samples {
		s := &samples[i]
		if s.T < warmup {
			prev = s
			continue
		}
		ts = append(ts, s.T)
		rss, heap, gor, fds = append(rss, s.RSSMiB), append(heap, s.HeapMiB), append(gor, s.Goroutines), append(fds, s.FDs)
		if prev != nil && prev.CPUSeconds >= 0 && s.CPUSeconds >= 0 && s.T > prev.T {
			cpuT = append(cpuT, (s.T+prev.T)/2)
			cpu = append(cpu, 100*(s.CPUSeconds-prev.CPUSeconds)/(s.T-prev.T))
		}
		prev = s
	}
	return []soakTrend{
		trend("server RSS", "MiB", ts, rss, lim.RSSMiBPerH),
		trend("Go heap in use", "MiB", ts, heap, lim.RSSMiBPerH),
		trend("goroutines", "", ts, gor, lim.GoroutinesPerH),
		trend("open files", "fds", ts, fds, lim.FDsPerH),
		trend("server CPU", "% core", cpuT, cpu, lim.CPUPctPerH),
	}
}
