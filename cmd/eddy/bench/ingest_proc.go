package bench

import (
	"fmt"
	"math"
	"time"
)

// procFigures are what /proc and the bench itself tell of a server over a
// window, the same for Eddy (bench ingest) and for MediaMTX (the other
// side of --compare): the window, the machine's health, socket queues,
// CPU time and RSS.
type procFigures struct {
	DurationS float64 `json:"duration_seconds"` // the measured window, as measured
	LoadStart string  `json:"loadavg_start"`
	LoadEnd   string  `json:"loadavg_end"`
	// Machine and client health over the window: PSI pressure (share of
	// the window some task waited for a CPU / for I/O), the bench's own
	// scheduling stalls (10 ms sleeps overrunning by ≥ 100 ms) and how
	// late publishers handed units to their RTSP clients (whole run).
	CPUPressurePc      *float64 `json:"cpu_pressure_some_percent,omitempty"`
	IOPressurePc       *float64 `json:"io_pressure_some_percent,omitempty"`
	IOPressureFullPc   *float64 `json:"io_pressure_full_percent,omitempty"`
	BenchStalls100ms   int      `json:"bench_stalls_over_100ms"`
	BenchStallMaxMS    float64  `json:"bench_stall_max_ms"`
	PublisherLateMaxMS float64  `json:"publisher_late_max_ms"`
	PublisherLate200   int      `json:"publisher_units_200ms_late"`
	// RTSP socket queues (from /proc/net/tcp every 500 ms, window): the
	// largest unread receive queue of one server socket and of all of them
	// together, and the largest unsent queue of one publisher socket.
	SockSamples       int     `json:"socket_samples"`
	ServerRxMaxKiB    float64 `json:"server_socket_unread_max_kib"`
	ServerRxSumMaxKiB float64 `json:"server_sockets_unread_total_max_kib"`
	ClientTxMaxKiB    float64 `json:"publisher_socket_unsent_max_kib"`

	ServerCPUSeconds         *float64 `json:"server_cpu_seconds,omitempty"`
	ServerCPUPercent         *float64 `json:"server_cpu_percent_of_one_core,omitempty"`
	ServerCPUPerStreamMinute *float64 `json:"server_cpu_seconds_per_stream_minute,omitempty"`
	ClientCPUSeconds         *float64 `json:"bench_client_cpu_seconds,omitempty"`
	ClientCPUPercent         *float64 `json:"bench_client_cpu_percent_of_one_core,omitempty"`
	RSSIdleMiB               float64  `json:"server_rss_idle_mib,omitempty"` // before publishing
	RSSPeakMiB               float64  `json:"server_rss_peak_mib,omitempty"` // VmHWM at the window's end
	RSSEndMiB                float64  `json:"server_rss_end_mib,omitempty"`  // VmRSS at the window's end
	RSSPeakPerStreamMiB      float64  `json:"server_rss_peak_per_stream_mib,omitempty"`
	RSSGrowthPerStreamMiB    float64  `json:"server_rss_growth_per_stream_mib,omitempty"` // (end − idle) / streams
	// (peak − idle) / streams: what a stream adds at the peak, without
	// the idle server (mostly the pages of its binary it touched).
	RSSPeakGrowthPerStreamMiB float64 `json:"server_rss_peak_growth_per_stream_mib,omitempty"`
}

// procFigures fills in f from the snapshots (idle: before publishing; p0,
// p1: the window's edges), the bench's samples and the publishers'
// lateness.
func (b *ingestBench) procFigures(f *procFigures, idle, p0, p1 snapshot) {
	win := p1.at.Sub(p0.at)
	n := float64(b.cfg.Streams)
	f.DurationS = win.Seconds()
	f.LoadStart, f.LoadEnd = p0.load, p1.load
	f.CPUPressurePc, f.IOPressurePc, f.IOPressureFullPc = psiPercent(p0, p1, "cpu_some"), psiPercent(p0, p1, "io_some"), psiPercent(p0, p1, "io_full")
	rx, rxSum, tx, ns := b.socks.max(p0.at, p1.at)
	f.SockSamples, f.ServerRxMaxKiB, f.ServerRxSumMaxKiB, f.ClientTxMaxKiB = ns, float64(rx)/1024, float64(rxSum)/1024, float64(tx)/1024
	f.BenchStalls100ms, f.BenchStallMaxMS = b.stalls.summary(p0.at, p1.at)
	f.ServerCPUSeconds, f.ServerCPUPercent = serverCPU(p0, p1)
	if c := f.ServerCPUSeconds; c != nil {
		psm := *c / (n * win.Minutes())
		f.ServerCPUPerStreamMinute = &psm
	}
	f.ClientCPUSeconds, f.ClientCPUPercent = benchCPU(p0, p1)
	f.RSSIdleMiB = mib(idle.rss)
	if p1.hwm > 0 {
		f.RSSPeakMiB, f.RSSEndMiB = mib(p1.hwm), mib(p1.rss)
		f.RSSPeakPerStreamMiB = f.RSSPeakMiB / n
		f.RSSGrowthPerStreamMiB = (f.RSSEndMiB - f.RSSIdleMiB) / n
		f.RSSPeakGrowthPerStreamMiB = (f.RSSPeakMiB - f.RSSIdleMiB) / n
	}
	for _, p := range b.pubs {
		p.mu.Lock()
		f.PublisherLateMaxMS = math.Max(f.PublisherLateMaxMS, float64(p.lateMax)/1e6)
		f.PublisherLate200 += p.late200
		p.mu.Unlock()
	}
}

// progressRecorded is the progress line of a window of a server without
// /metrics (MediaMTX): the bytes recorded under dir since rec0.
func progressRecorded(dir string, rec0 int64) func(p0, prev, cur snapshot) string {
	return func(p0, prev, cur snapshot) string {
		return fmt.Sprintf("  +%v: %.1f MiB recorded", cur.at.Sub(p0.at).Round(time.Second), mib(dirBytes(dir)-rec0)) + progressProc(prev, cur)
	}
}

// writeRows prints the figures as rows of a report's table (tw), with the
// targets of CPU per stream-minute and of RSS per stream ("": none).
func (f *procFigures) writeRows(tw func(k, v, target string), cpuTarget, rssTarget string) {
	tw("server CPU", fmtOpt(f.ServerCPUSeconds, "%.2f CPU-s")+" ("+fmtOpt(f.ServerCPUPercent, "%.1f%% of one core")+")", "")
	tw("  per stream-minute", fmtOpt(f.ServerCPUPerStreamMinute, "%.3f CPU-s"), cpuTarget)
	if f.RSSPeakMiB > 0 {
		tw("server RSS peak (VmHWM)", fmt.Sprintf("%.1f MiB (idle %.1f MiB)", f.RSSPeakMiB, f.RSSIdleMiB), "")
		tw("  per stream: peak / streams", fmt.Sprintf("%.2f MiB", f.RSSPeakPerStreamMiB), rssTarget)
		tw("  per stream: (peak − idle) / streams", fmt.Sprintf("%.2f MiB", f.RSSPeakGrowthPerStreamMiB), rssTarget)
		tw("  per stream: (end − idle) / streams", fmt.Sprintf("%.2f MiB", f.RSSGrowthPerStreamMiB), rssTarget)
		tw("server RSS at window end", fmt.Sprintf("%.1f MiB", f.RSSEndMiB), "")
	} else {
		tw("server RSS", "n/a (no pid)", "")
	}
	tw("bench client CPU (publishers)", fmtOpt(f.ClientCPUSeconds, "%.2f CPU-s")+" ("+fmtOpt(f.ClientCPUPercent, "%.1f%% of one core")+")", "")
	tw("machine pressure (PSI, window)", "CPU some "+fmtOpt(f.CPUPressurePc, "%.0f%%")+", IO some "+fmtOpt(f.IOPressurePc, "%.1f%%")+
		" full "+fmtOpt(f.IOPressureFullPc, "%.1f%%"), "")
	tw("bench stalls (10 ms sleeps, window)", fmt.Sprintf("%d over 100 ms, max %.0f ms", f.BenchStalls100ms, f.BenchStallMaxMS), "")
	tw("publisher lateness (whole run)", fmt.Sprintf("max %.0f ms, %d units ≥ 200 ms late", f.PublisherLateMaxMS, f.PublisherLate200), "")
	if f.SockSamples > 0 {
		tw("RTSP socket queues (max, 500 ms samples)", fmt.Sprintf("server unread %.0f KiB (all %.0f KiB), publisher unsent %.0f KiB",
			f.ServerRxMaxKiB, f.ServerRxSumMaxKiB, f.ClientTxMaxKiB), "")
	}
}
