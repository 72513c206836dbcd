package bench

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"
)

// putMediaResults is the report of one run.
type putMediaResults struct {
	Streams    int     `json:"streams"`
	DurationS  float64 `json:"window_seconds"` // each phase's window, as configured
	WarmupS    float64 `json:"warmup_seconds"`
	Clip       string  `json:"clip"`
	ClipSpanS  float64 `json:"clip_span_seconds"`
	ClipKbps   float64 `json:"clip_kbit_per_second"` // file size × 8 / span
	Server     string  `json:"server"`
	Endpoint   string  `json:"endpoint"`
	ServerPID  int     `json:"server_pid"`
	ServerLog  string  `json:"server_log,omitempty"`
	DataDir    string  `json:"data_dir,omitempty"`
	CPUs       int     `json:"cpus"`
	RSSIdleMiB float64 `json:"server_rss_idle_mib"`
	MaxP99MS   float64 `json:"max_p99_ms"`

	// RTSP is bench ingest's report of the RTSP phase.
	RTSP *ingestResults `json:"rtsp"`
	// The CPU time of the machine's other processes (not the server, not
	// the bench) over the RTSP window.
	RTSPOtherCPUSeconds *float64 `json:"rtsp_other_processes_cpu_seconds,omitempty"`
	RTSPOtherCPUPercent *float64 `json:"rtsp_other_processes_cpu_percent_of_one_core,omitempty"`
	// PutMedia is the phase with Clusters of known size (the latency
	// target is judged on it), PutMediaUnknown the one with Clusters of
	// unknown size (reported; nil with --unknown-size=false).
	PutMedia        pmPhase  `json:"putmedia"`
	PutMediaUnknown *pmPhase `json:"putmedia_unknown_size,omitempty"`
	// CPURatio is the PutMedia (known size) window's server CPU per
	// stream-minute over the RTSP window's.
	CPURatio *float64 `json:"server_cpu_ratio_putmedia_to_rtsp,omitempty"`

	Pass           bool     `json:"pass"`
	Problems       []string `json:"problems,omitempty"`
	ServerWarnings []string `json:"server_warnings,omitempty"` // WARN/ERROR lines of the PutMedia phase
	ServerLogTail  string   `json:"server_log_tail,omitempty"`
}

// pmPhase is a PutMedia phase's window.
type pmPhase struct {
	// UnknownSize: the producers sent Clusters of unknown size, whose end
	// the server knows only when the next Cluster starts; the latencies
	// are measured from the next Cluster's first byte on the wire.
	UnknownSize      bool     `json:"unknown_size_clusters"`
	DurationS        float64  `json:"duration_seconds"` // as measured
	ServerCPURatio   *float64 `json:"server_cpu_ratio_to_rtsp,omitempty"`
	LoadStart        string   `json:"loadavg_start"`
	LoadEnd          string   `json:"loadavg_end"`
	CPUPressurePc    *float64 `json:"cpu_pressure_some_percent,omitempty"`
	IOPressurePc     *float64 `json:"io_pressure_some_percent,omitempty"`
	BenchStalls100ms int      `json:"bench_stalls_over_100ms"`
	BenchStallMaxMS  float64  `json:"bench_stall_max_ms"`

	ServerCPUSeconds         *float64 `json:"server_cpu_seconds,omitempty"`
	ServerCPUPercent         *float64 `json:"server_cpu_percent_of_one_core,omitempty"`
	ServerCPUPerStreamMinute *float64 `json:"server_cpu_seconds_per_stream_minute,omitempty"`
	ClientCPUSeconds         *float64 `json:"bench_client_cpu_seconds,omitempty"`
	ClientCPUPercent         *float64 `json:"bench_client_cpu_percent_of_one_core,omitempty"`
	OtherCPUSeconds          *float64 `json:"other_processes_cpu_seconds,omitempty"` // the machine's others
	OtherCPUPercent          *float64 `json:"other_processes_cpu_percent_of_one_core,omitempty"`
	RSSPeakMiB               float64  `json:"server_rss_peak_mib,omitempty"` // VmHWM: the whole run, both phases
	RSSEndMiB                float64  `json:"server_rss_end_mib,omitempty"`

	FragmentsPersisted int64 `json:"fragments_persisted"` // eddy_fragments_persisted_total, window delta
	// Clusters that ended in the window (on the wire: their last byte with
	// a size; the next Cluster's first byte without), and what became of
	// them.
	Clusters      int      `json:"clusters_written"`
	Persisted     int      `json:"clusters_persisted"`
	ErrorAcks     int      `json:"clusters_error_acked"`
	Unacked       int      `json:"clusters_not_acked"`
	Unlisted      int      `json:"persisted_not_listed"`       // acked PERSISTED, number not in ListFragments
	Resent        int      `json:"clusters_resent"`            // written again on a new connection (whole phase)
	ProducerWarns int      `json:"producer_warnings"`          // WARN/ERROR log records of the producers (whole phase)
	EarlyAcks     int      `json:"acks_before_cluster_end"`    // RECEIVED/PERSISTED before the Cluster had ended: no latency
	Unmatched     int      `json:"acks_without_cluster"`       // acks of no Cluster written on their connection (whole phase)
	PersistP50MS  *float64 `json:"persisted_p50_ms,omitempty"` // Cluster end → PERSISTED ack
	PersistP99MS  *float64 `json:"persisted_p99_ms,omitempty"`
	PersistMaxMS  *float64 `json:"persisted_max_ms,omitempty"`
	// StalledWaits counts the PERSISTED waits during which the bench
	// process stalled (a 10 ms sleep overran by ≥ 50 ms: the machine was
	// busy elsewhere); Calm* are the quantiles of the others, when some
	// stalled.
	StalledWaits int      `json:"persisted_waits_with_bench_stall"`
	CalmP50MS    *float64 `json:"persisted_without_stalls_p50_ms,omitempty"`
	CalmP99MS    *float64 `json:"persisted_without_stalls_p99_ms,omitempty"`
	CalmMaxMS    *float64 `json:"persisted_without_stalls_max_ms,omitempty"`
	// Cluster's last byte → PERSISTED ack: with unknown size, this
	// includes the wait for the next Cluster (about one GOP).
	FromLastP50MS *float64 `json:"persisted_from_last_byte_p50_ms,omitempty"`
	FromLastP99MS *float64 `json:"persisted_from_last_byte_p99_ms,omitempty"`
	ReceivedP50MS *float64 `json:"received_p50_ms,omitempty"` // Cluster end → RECEIVED ack
	ReceivedP99MS *float64 `json:"received_p99_ms,omitempty"`
	ReceivedMaxMS *float64 `json:"received_max_ms,omitempty"`
	// The server's own view (its /metrics, window deltas): upload rate
	// per stream, its Cluster end → PERSISTED ack histogram (bucket-
	// interpolated) and its PutMedia ERROR acks by ErrorCode.
	ServerMbitPerStream *float64         `json:"server_received_mbit_per_second_per_stream,omitempty"`
	ServerPersistCount  int64            `json:"server_persist_observations"`
	ServerPersistP50MS  *float64         `json:"server_persist_p50_ms,omitempty"`
	ServerPersistP99MS  *float64         `json:"server_persist_p99_ms,omitempty"`
	ServerPersistP99Ovr bool             `json:"server_persist_p99_beyond_last_bucket,omitempty"`
	ServerErrors        map[string]int64 `json:"server_putmedia_errors,omitempty"`

	PerStream []pmStream `json:"per_stream"`
}

// pmStream is one producer's window.
type pmStream struct {
	Name         string   `json:"name"`
	Clusters     int      `json:"clusters_written"`
	Persisted    int      `json:"clusters_persisted"`
	ErrorAcks    []string `json:"error_acks,omitempty"`
	Unacked      int      `json:"clusters_not_acked"`
	Unlisted     int      `json:"persisted_not_listed"`
	Resent       int      `json:"clusters_resent"`
	Warnings     []string `json:"producer_warnings,omitempty"`
	Early        []string `json:"acks_before_cluster_end,omitempty"`
	Unmatched    []string `json:"acks_without_cluster,omitempty"`
	PersistP99MS float64  `json:"persisted_p99_ms"`
	PersistMaxMS float64  `json:"persisted_max_ms"`
}

// newResults is a report with the run's configuration filled in.
func (b *putMediaBench) newResults(idle snapshot) *putMediaResults {
	ib, cfg := b.ib, b.cfg
	res := &putMediaResults{
		Streams: cfg.Streams, DurationS: cfg.Duration.Seconds(), WarmupS: cfg.Warmup.Seconds(),
		Clip: ib.clip, ClipSpanS: ib.pubs[0].pub.Span().Seconds(), Endpoint: ib.url, ServerPID: ib.pid,
		CPUs: runtime.NumCPU(), RSSIdleMiB: mib(idle.rss), MaxP99MS: ms(cfg.MaxP99),
		Server: "child: " + ib.child.bin + " serve (TCP only, fresh data dir)",
	}
	if st, err := os.Stat(ib.clip); err == nil && res.ClipSpanS > 0 {
		res.ClipKbps = float64(st.Size()) * 8 / 1000 / res.ClipSpanS
	}
	if cfg.Keep {
		res.ServerLog, res.DataDir = ib.child.logPath, ib.child.dir
	}
	return res
}

// results fills in the PutMedia window from the snapshots at its edges,
// the producers' records and the fragment numbers listed by stream.
func (b *putMediaBench) results(res *putMediaResults, ph *pmPhase, prods []*pmProducer, p0, p1 snapshot, lists map[string]map[string]bool) {
	win := p1.at.Sub(p0.at)
	ph.DurationS = win.Seconds()
	ph.LoadStart, ph.LoadEnd = p0.load, p1.load
	ph.CPUPressurePc, ph.IOPressurePc = psiPercent(p0, p1, "cpu_some"), psiPercent(p0, p1, "io_some")
	ph.BenchStalls100ms, ph.BenchStallMaxMS = b.ib.stalls.summary(p0.at, p1.at)
	ph.ServerCPUSeconds, ph.ServerCPUPercent = serverCPU(p0, p1)
	if c := ph.ServerCPUSeconds; c != nil {
		v := *c / (float64(res.Streams) * win.Minutes())
		ph.ServerCPUPerStreamMinute = &v
		if r := res.RTSP; r != nil && r.ServerCPUPerStreamMinute != nil && *r.ServerCPUPerStreamMinute > 0 {
			ratio := v / *r.ServerCPUPerStreamMinute
			ph.ServerCPURatio = &ratio
			if !ph.UnknownSize {
				res.CPURatio = &ratio
			}
		}
	}
	ph.ClientCPUSeconds, ph.ClientCPUPercent = benchCPU(p0, p1)
	if p1.hwm > 0 {
		ph.RSSPeakMiB, ph.RSSEndMiB = mib(p1.hwm), mib(p1.rss)
	}
	ph.FragmentsPersisted = int64(p1.metrics["eddy_fragments_persisted_total"] - p0.metrics["eddy_fragments_persisted_total"])
	serverPutMediaMetrics(ph, res.Streams, p0, p1)
	for code, n := range ph.ServerErrors {
		res.Problems = append(res.Problems, fmt.Sprintf("server: %d PutMedia ERROR acks %s in the %s window", n, code, ph.name()))
	}

	var (
		persisted          []pmWait
		received, fromLast []time.Duration
	)
	for _, p := range prods {
		st, pl, rl, fl := p.window(p0.at, p1.at, lists[p.name])
		persisted, received, fromLast = append(persisted, pl...), append(received, rl...), append(fromLast, fl...)
		ph.Clusters += st.Clusters
		ph.Persisted += st.Persisted
		ph.ErrorAcks += len(st.ErrorAcks)
		ph.Unacked += st.Unacked
		ph.Unlisted += st.Unlisted
		ph.Resent += st.Resent
		ph.ProducerWarns += len(st.Warnings)
		ph.EarlyAcks += len(st.Early)
		ph.Unmatched += len(st.Unmatched)
		ph.PerStream = append(ph.PerStream, st)
		if lists[p.name] == nil {
			continue // ListFragments failed: a problem already
		}
		if st.Clusters == 0 {
			res.Problems = append(res.Problems, p.name+": no Cluster written in the window")
		}
		if len(st.ErrorAcks) > 0 {
			res.Problems = append(res.Problems, fmt.Sprintf("%s: %d ERROR acks, first: %s", p.name, len(st.ErrorAcks), st.ErrorAcks[0]))
		}
		if st.Unacked > 0 {
			res.Problems = append(res.Problems, fmt.Sprintf("%s: %d of %d Clusters that ended in the window not acknowledged PERSISTED", p.name, st.Unacked, st.Clusters))
		}
		if st.Unlisted > 0 {
			res.Problems = append(res.Problems, fmt.Sprintf("%s: %d fragments acknowledged PERSISTED are not listed by ListFragments", p.name, st.Unlisted))
		}
		if len(st.Early) > 0 {
			res.Problems = append(res.Problems, fmt.Sprintf("%s: %d acks before their Cluster had ended (not counted as latencies), first: %s", p.name, len(st.Early), st.Early[0]))
		}
		if len(st.Unmatched) > 0 {
			res.Problems = append(res.Problems, fmt.Sprintf("%s: %d acks of no Cluster written on their connection, first: %s", p.name, len(st.Unmatched), st.Unmatched[0]))
		}
		if len(st.Warnings) > 0 {
			res.Problems = append(res.Problems, fmt.Sprintf("%s: %d producer warnings (%d Clusters resent), first: %s", p.name, len(st.Warnings), st.Resent, st.Warnings[0]))
		}
	}
	if len(persisted) > 0 {
		p50, p99, mx := msQuantiles(waitDurations(persisted))
		ph.PersistP50MS, ph.PersistP99MS, ph.PersistMaxMS = &p50, &p99, &mx
	}
	// The same without the waits during which this process stalled (the
	// machine was busy elsewhere): a second figure, for the reader; the
	// verdict is on all of them.
	stalls := b.ib.stalls.within(p0.at, time.Now())
	var calm []pmWait
	for _, w := range persisted {
		if !w.overlaps(stalls) {
			calm = append(calm, w)
		}
	}
	ph.StalledWaits = len(persisted) - len(calm)
	if len(calm) > 0 && ph.StalledWaits > 0 {
		p50, p99, mx := msQuantiles(waitDurations(calm))
		ph.CalmP50MS, ph.CalmP99MS, ph.CalmMaxMS = &p50, &p99, &mx
	}
	if len(received) > 0 {
		p50, p99, mx := msQuantiles(received)
		ph.ReceivedP50MS, ph.ReceivedP99MS, ph.ReceivedMaxMS = &p50, &p99, &mx
	}
	if len(fromLast) > 0 {
		p50, p99, _ := msQuantiles(fromLast)
		ph.FromLastP50MS, ph.FromLastP99MS = &p50, &p99
	}
}

// name is the phase's name in the report.
func (ph *pmPhase) name() string {
	if ph.UnknownSize {
		return "PutMedia (unknown-size Clusters)"
	}
	return "PutMedia"
}

// writePhase writes a PutMedia phase's rows.
func (r *putMediaResults) writePhase(tw func(k, v, target string), ph *pmPhase) {
	tw(ph.name()+": server CPU", fmtOpt(ph.ServerCPUSeconds, "%.2f CPU-s")+" ("+fmtOpt(ph.ServerCPUPercent, "%.1f%% of one core")+")", "")
	tw("  per stream-minute", fmtOpt(ph.ServerCPUPerStreamMinute, "%.3f CPU-s"), "")
	tw("  bench client CPU (producers)", fmtOpt(ph.ClientCPUSeconds, "%.2f CPU-s"), "")
	tw("  other processes' CPU (machine − both)", fmtOpt(ph.OtherCPUSeconds, "%.2f CPU-s")+" ("+fmtOpt(ph.OtherCPUPercent, "%.0f%% of one core")+")", "")
	tw("  server RSS at its end (peak of the run)", fmt.Sprintf("%.1f MiB (%.1f MiB; idle %.1f MiB)", ph.RSSEndMiB, ph.RSSPeakMiB, r.RSSIdleMiB), "")
	tw("  server CPU ratio to RTSP", fmtOpt(ph.ServerCPURatio, "%.2f"), "")
	tw("  Clusters that ended in the window", fmt.Sprintf("%d (%d fragments persisted, metrics)", ph.Clusters, ph.FragmentsPersisted), "")
	tw("  acked PERSISTED / ERROR / none", fmt.Sprintf("%d / %d / %d", ph.Persisted, ph.ErrorAcks, ph.Unacked), "all / 0 / 0")
	tw("  PERSISTED but not listed", fmt.Sprintf("%d", ph.Unlisted), "0")
	tw("  Clusters resent / producer warnings", fmt.Sprintf("%d / %d", ph.Resent, ph.ProducerWarns), "0 / 0")
	end, target := "  its last byte → PERSISTED p50 / p99 / max", fmt.Sprintf("p99 ≤ %.0f ms", r.MaxP99MS)
	if ph.UnknownSize {
		end, target = "  next Cluster's start → PERSISTED p50/p99/max", "(reported)"
	}
	tw(end, fmtOpt(ph.PersistP50MS, "%.1f")+" / "+fmtOpt(ph.PersistP99MS, "%.1f")+" / "+fmtOpt(ph.PersistMaxMS, "%.1f ms"), target)
	if ph.UnknownSize {
		tw("  its last byte → PERSISTED p50 / p99", fmtOpt(ph.FromLastP50MS, "%.1f")+" / "+fmtOpt(ph.FromLastP99MS, "%.1f ms"), "(includes the next GOP)")
	}
	tw("  acks before the Cluster ended / without one", fmt.Sprintf("%d / %d", ph.EarlyAcks, ph.Unmatched), "0 / 0")
	if ph.StalledWaits > 0 {
		tw(fmt.Sprintf("  without the %d waits with a bench stall", ph.StalledWaits),
			fmtOpt(ph.CalmP50MS, "%.1f")+" / "+fmtOpt(ph.CalmP99MS, "%.1f")+" / "+fmtOpt(ph.CalmMaxMS, "%.1f ms"), "(for reading; not the verdict)")
	}
	if ph.ReceivedP50MS != nil {
		tw("  end → RECEIVED p50 / p99 / max", fmtOpt(ph.ReceivedP50MS, "%.1f")+" / "+fmtOpt(ph.ReceivedP99MS, "%.1f")+" / "+fmtOpt(ph.ReceivedMaxMS, "%.1f ms"), "")
	}
	srvP99 := fmtOpt(ph.ServerPersistP99MS, "%.1f ms")
	if ph.ServerPersistP99Ovr {
		srvP99 = "> " + srvP99
	}
	tw("  server histogram, read → ack p50 / p99", fmtOpt(ph.ServerPersistP50MS, "%.1f")+" / "+srvP99+fmt.Sprintf(" (%d, bucket-interpolated)", ph.ServerPersistCount), "")
	tw("  server received per stream", fmtOpt(ph.ServerMbitPerStream, "%.2f Mbit/s"), "")
	tw("  machine pressure (PSI)", "CPU some "+fmtOpt(ph.CPUPressurePc, "%.0f%%")+", IO some "+fmtOpt(ph.IOPressurePc, "%.1f%%"), "")
	tw("  bench stalls (10 ms sleeps)", fmt.Sprintf("%d over 100 ms, max %.0f ms", ph.BenchStalls100ms, ph.BenchStallMaxMS), "")
}

// serverPutMediaMetrics fills in the server's own PutMedia figures of the
// window from its /metrics (series of the PutMedia endpoint; absent ones
// stay unset).
func serverPutMediaMetrics(ph *pmPhase, streams int, p0, p1 snapshot) {
	if b1, ok := p1.metrics["eddy_putmedia_received_bytes_total"]; ok {
		v := (b1 - p0.metrics["eddy_putmedia_received_bytes_total"]) * 8 / 1e6 / p1.at.Sub(p0.at).Seconds() / float64(streams)
		ph.ServerMbitPerStream = &v
	}
	hist := histDelta("eddy_putmedia_persist_latency_seconds", p0.metrics, p1.metrics)
	if len(hist) > 0 {
		ph.ServerPersistCount = int64(hist[len(hist)-1].count)
	}
	if v, _, ok := histQuantile(0.5, hist); ok {
		ms := v * 1000
		ph.ServerPersistP50MS = &ms
	}
	if v, over, ok := histQuantile(0.99, hist); ok {
		ms := v * 1000
		ph.ServerPersistP99MS, ph.ServerPersistP99Ovr = &ms, over
	}
	const errs = `eddy_putmedia_errors_total{code="`
	for k, v := range p1.metrics {
		if code, ok := strings.CutPrefix(k, errs); ok {
			if d := int64(v - p0.metrics[k]); d > 0 {
				if ph.ServerErrors == nil {
					ph.ServerErrors = map[string]int64{}
				}
				ph.ServerErrors[strings.TrimSuffix(code, `"}`)] = d
			}
		}
	}
}

// verdict sets Pass: the p99 with Clusters of known size within its
// target, nothing lost in either PutMedia window (the per-stream problems
// are already listed), and an RTSP baseline without loss. The p99 with
// Clusters of unknown size is reported, not judged: it is measured from
// the next Cluster's first byte, and a producer sending such Clusters
// waits one more GOP anyway.
func (r *putMediaResults) verdict() {
	bad := func(format string, args ...any) { r.Problems = append(r.Problems, fmt.Sprintf(format, args...)) }
	ph := r.PutMedia
	switch {
	case ph.PersistP99MS == nil:
		bad("no PERSISTED ack for a Cluster that ended in the PutMedia window")
	case *ph.PersistP99MS > r.MaxP99MS:
		bad("Cluster end → PERSISTED ack p99 %.1f ms (Clusters of known size), target ≤ %.0f ms", *ph.PersistP99MS, r.MaxP99MS)
	}
	if u := r.PutMediaUnknown; u != nil && u.PersistP99MS == nil {
		bad("no PERSISTED ack for a Cluster of unknown size that ended in its window")
	}
	if r.RTSP != nil && r.RTSP.Loss {
		bad("the RTSP baseline lost media or had errors (%d streams with loss): its CPU figure is not a clean baseline", r.RTSP.StreamsWithLoss)
	}
	if r.CPURatio == nil {
		bad("no server CPU ratio: /proc gave no CPU time for the server")
	}
	r.Pass = len(r.Problems) == 0
}

func (r *putMediaResults) writeText(w io.Writer) {
	phases := "RTSP then PutMedia"
	if r.PutMediaUnknown != nil {
		phases = "RTSP, PutMedia, then PutMedia with Clusters of unknown size"
	}
	fmt.Fprintf(w, "\neddy bench putmedia: %d streams, %s, %.0f s window each (after %.0f s warm-up)\n", r.Streams, phases, r.DurationS, r.WarmupS)
	fmt.Fprintf(w, "  clip     %s (%.1f s loop, %.0f kbit/s)\n", r.Clip, r.ClipSpanS, r.ClipKbps)
	fmt.Fprintf(w, "  server   %s, pid %d, %s\n", r.Server, r.ServerPID, r.Endpoint)
	rt, ph := r.RTSP, r.PutMedia
	load := ""
	if rt != nil {
		load = rt.LoadStart + " → " + rt.LoadEnd + " (RTSP), "
	}
	fmt.Fprintf(w, "  machine  %d CPUs, load average %s%s → %s (PutMedia) (shared machine: CPU and latency figures are noisy)\n\n",
		r.CPUs, load, ph.LoadStart, ph.LoadEnd)

	tw := table{w, 50, 44}.row
	tw("metric", "measured", "target")
	if rt != nil {
		tw("RTSP: server CPU", fmtOpt(rt.ServerCPUSeconds, "%.2f CPU-s")+" ("+fmtOpt(rt.ServerCPUPercent, "%.1f%% of one core")+")", "")
		tw("  per stream-minute", fmtOpt(rt.ServerCPUPerStreamMinute, "%.3f CPU-s"), "")
		tw("  bench client CPU (publishers)", fmtOpt(rt.ClientCPUSeconds, "%.2f CPU-s"), "")
		tw("  other processes' CPU (machine − both)", fmtOpt(r.RTSPOtherCPUSeconds, "%.2f CPU-s")+" ("+fmtOpt(r.RTSPOtherCPUPercent, "%.0f%% of one core")+")", "")
		tw("  fragments persisted / listed", fmt.Sprintf("%d / %d (%.1f expected)", rt.FragmentsPersisted, rt.FragmentsListed, rt.FragmentsExpected), "")
		tw("  loss", fmt.Sprintf("%.3f s lost, %d gaps, %d publisher errors", rt.LostMediaS, rt.Gaps, rt.PublisherErrors), "zero")
	}
	r.writePhase(tw, &ph)
	if u := r.PutMediaUnknown; u != nil {
		r.writePhase(tw, u)
		fmt.Fprintf(w, "\n  Clusters of unknown size (as the KVS producer SDKs, ffmpeg and GStreamer send them):\n"+
			"  the server can know one has ended only when the next Cluster's first byte\n"+
			"  arrives, about one GOP after its last byte; its latency is measured from the\n"+
			"  moment that first byte was written. Reported; the p99 target is judged on\n"+
			"  Clusters of known size.\n")
	}
	if r.Pass {
		fmt.Fprintf(w, "\n  RESULT: PASS\n")
		return
	}
	fmt.Fprintf(w, "\n  RESULT: FAIL:\n")
	writeProblems(w, r.Problems, 30)
	writeLogTail(w, r.ServerLogTail)
}
