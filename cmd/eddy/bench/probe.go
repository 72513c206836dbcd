package bench

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"
)

// ingestProbe is a sample taken at a window edge.
type ingestProbe struct {
	at          time.Time
	metrics     map[string]float64
	serverCPU   float64
	serverCPUOK bool
	selfCPU     float64
	selfCPUOK   bool
	rss, hwm    int64 // bytes; 0 = unknown
	load        string
	psi         map[string]float64 // pressure stall totals (µs): cpu_some, io_some, io_full
	metricsErr  error
}

func (b *ingestBench) probe(ctx context.Context) ingestProbe {
	p := ingestProbe{at: time.Now()}
	p.metrics, p.metricsErr = b.scrape(ctx)
	if b.pid > 0 {
		p.serverCPU, p.serverCPUOK = ingestCPUSeconds(b.pid, b.clkTck)
		p.rss, p.hwm = ingestRSS(b.pid)
	}
	p.selfCPU, p.selfCPUOK = ingestCPUSeconds(os.Getpid(), b.clkTck)
	p.psi = readPSI()
	if l, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(l)); len(f) >= 3 {
			p.load = strings.Join(f[:3], " ")
		}
	}
	return p
}

func progressLine(p0, prev, cur ingestProbe) string {
	s := fmt.Sprintf("  +%v:", cur.at.Sub(p0.at).Round(time.Second))
	if cur.metricsErr != nil {
		s += fmt.Sprintf(" /metrics failed (%v)", cur.metricsErr)
	} else {
		s += fmt.Sprintf(" %.0f fragments persisted", cur.metrics["eddy_fragments_persisted_total"]-p0.metrics["eddy_fragments_persisted_total"])
	}
	if cur.serverCPUOK && prev.serverCPUOK {
		s += fmt.Sprintf(", server CPU %.0f%%", 100*(cur.serverCPU-prev.serverCPU)/cur.at.Sub(prev.at).Seconds())
	}
	if cur.selfCPUOK && prev.selfCPUOK {
		s += fmt.Sprintf(", bench CPU %.0f%%", 100*(cur.selfCPU-prev.selfCPU)/cur.at.Sub(prev.at).Seconds())
	}
	if cur.rss > 0 {
		s += fmt.Sprintf(", server RSS %.0f MiB", mib(cur.rss))
	}
	if cur.load != "" {
		s += ", load " + cur.load
	}
	return s
}
