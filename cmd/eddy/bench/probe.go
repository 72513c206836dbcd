package bench

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"
)

// prober samples the server and the machine at window edges (probe) and,
// through stalls, this process's scheduling in between. Every bench that
// measures a server has one.
type prober struct {
	url    string       // server HTTP URL; "" = no /metrics (MediaMTX)
	pid    int          // server pid; 0 = unknown
	hc     *http.Client // for /metrics; nil = http.DefaultClient
	clkTck float64
	stalls stallProbe
	// progress is window's progress line; nil = progressLine.
	progress func(p0, prev, cur snapshot) string
}

func newProber(url string, pid int, hc *http.Client) *prober {
	return &prober{url: url, pid: pid, hc: hc, clkTck: clockTicks()}
}

// snapshot is a sample taken at a window edge.
type snapshot struct {
	at          time.Time
	metrics     map[string]float64
	serverCPU   float64
	serverCPUOK bool
	selfCPU     float64
	selfCPUOK   bool
	rss, hwm    int64 // bytes; 0 = unknown
	fds         int   // open file descriptors; -1 = unknown
	load        string
	psi         map[string]float64 // pressure stall totals (µs): cpu_some, io_some, io_full
	metricsErr  error
}

func (b *prober) probe(ctx context.Context) snapshot {
	p := snapshot{at: time.Now(), fds: -1}
	if b.url != "" {
		p.metrics, p.metricsErr = b.scrape(ctx)
	}
	if b.pid > 0 {
		p.serverCPU, p.serverCPUOK = cpuSeconds(b.pid, b.clkTck)
		p.rss, p.hwm = rssBytes(b.pid)
		p.fds = openFDs(b.pid)
	}
	p.selfCPU, p.selfCPUOK = cpuSeconds(os.Getpid(), b.clkTck)
	p.psi = readPSI()
	if l, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(l)); len(f) >= 3 {
			p.load = strings.Join(f[:3], " ")
		}
	}
	return p
}

// window measures one window of d: a snapshot at each edge, and a
// progress line every progress (0: none) in between.
func (b *prober) window(ctx context.Context, d, progress time.Duration, logf func(string, ...any)) (p0, p1 snapshot, err error) {
	p0 = b.probe(ctx)
	if p0.metricsErr != nil {
		return p0, p1, fmt.Errorf("metrics: %w", p0.metricsErr)
	}
	end := p0.at.Add(d)
	last := p0
	for {
		next := time.Now().Add(progress)
		if progress == 0 || !next.Before(end) {
			next = end
		}
		if err := sleepCtx(ctx, time.Until(next)); err != nil {
			return p0, p1, err
		}
		if !next.Before(end) {
			break
		}
		cur := b.probe(ctx)
		line := progressLine
		if b.progress != nil {
			line = b.progress
		}
		logf("%s", line(p0, last, cur))
		last = cur
	}
	p1 = b.probe(ctx)
	if p1.metricsErr != nil {
		return p0, p1, fmt.Errorf("metrics: %w", p1.metricsErr)
	}
	return p0, p1, nil
}

func progressLine(p0, prev, cur snapshot) string {
	s := fmt.Sprintf("  +%v:", cur.at.Sub(p0.at).Round(time.Second))
	if cur.metricsErr != nil {
		s += fmt.Sprintf(" /metrics failed (%v)", cur.metricsErr)
	} else {
		s += fmt.Sprintf(" %.0f fragments persisted", cur.metrics["eddy_fragments_persisted_total"]-p0.metrics["eddy_fragments_persisted_total"])
	}
	return s + progressProc(prev, cur)
}

// progressProc is the /proc part of a progress line: the server's and
// the bench's CPU since prev, the server's RSS, the load average.
func progressProc(prev, cur snapshot) string {
	var s string
	if _, pc := serverCPU(prev, cur); pc != nil {
		s += fmt.Sprintf(", server CPU %.0f%%", *pc)
	}
	if _, pc := benchCPU(prev, cur); pc != nil {
		s += fmt.Sprintf(", bench CPU %.0f%%", *pc)
	}
	if cur.rss > 0 {
		s += fmt.Sprintf(", server RSS %.0f MiB", mib(cur.rss))
	}
	if cur.load != "" {
		s += ", load " + cur.load
	}
	return s
}

// serverCPU is the server's CPU time from p0 to p1, in seconds and as a
// percentage of one core; nil, nil when /proc could not tell.
func serverCPU(p0, p1 snapshot) (sec, pc *float64) {
	return cpuDelta(p0.serverCPU, p1.serverCPU, p0.serverCPUOK && p1.serverCPUOK, p1.at.Sub(p0.at))
}

// benchCPU is serverCPU for this process.
func benchCPU(p0, p1 snapshot) (sec, pc *float64) {
	return cpuDelta(p0.selfCPU, p1.selfCPU, p0.selfCPUOK && p1.selfCPUOK, p1.at.Sub(p0.at))
}

func cpuDelta(c0, c1 float64, ok bool, win time.Duration) (sec, pc *float64) {
	if !ok {
		return nil, nil
	}
	c := c1 - c0
	p := 100 * c / win.Seconds()
	return &c, &p
}

// psiPercent is the share of the time from p0 to p1, in percent, that
// tasks waited for a resource, by PSI total k (cpu_some, io_some,
// io_full); nil when the kernel has no PSI.
func psiPercent(p0, p1 snapshot, k string) *float64 {
	a, ok0 := p0.psi[k]
	z, ok1 := p1.psi[k]
	if !ok0 || !ok1 {
		return nil
	}
	v := 100 * (z - a) / float64(p1.at.Sub(p0.at).Microseconds())
	return &v
}
