package bench

import (
	"fmt"
	"io"
	"math"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	kvamtypes "github.com/aws/aws-sdk-go-v2/service/kinesisvideoarchivedmedia/types"
)

// eventsResults is the report of one run.
type eventsResults struct {
	Rate            float64 `json:"rate_per_second"`
	Batch           int     `json:"batch"`
	Writers         int     `json:"writers"`
	Readers         int     `json:"hls_readers"`
	DurationS       float64 `json:"window_seconds"` // each window, as configured
	WarmupS         float64 `json:"warmup_seconds"`
	Stream          string  `json:"stream"`
	Clip            string  `json:"clip"`
	GOPS            float64 `json:"gop_seconds"`
	FrameMS         float64 `json:"frame_ms"`
	Server          string  `json:"server"`
	Endpoint        string  `json:"endpoint"`
	RTSP            string  `json:"rtsp"`
	ServerPID       int     `json:"server_pid"`
	ServerLog       string  `json:"server_log,omitempty"`
	DataDir         string  `json:"data_dir,omitempty"`
	CPUs            int     `json:"cpus"`
	RSSIdleMiB      float64 `json:"server_rss_idle_mib"`
	MaxJitterRiseMS float64 `json:"max_jitter_rise_ms"`
	MinRatePc       float64 `json:"min_rate_percent"`
	// How late the publisher handed video units to its RTSP client (the
	// bench's own scheduling, whole run): arrival jitter it explains is
	// not the server's.
	PublisherLateMaxMS float64 `json:"publisher_late_max_ms"`
	PublisherLate200   int     `json:"publisher_units_200ms_late"`

	Baseline eventsWindow   `json:"baseline"`
	Events   eventsWindow   `json:"events"`
	Put      eventsPut      `json:"put"`
	ReadBack eventsReadBack `json:"read_back"`

	Pass           bool     `json:"pass"`
	Problems       []string `json:"problems,omitempty"`
	ServerWarnings []string `json:"server_warnings,omitempty"`
	ServerLogTail  string   `json:"server_log_tail,omitempty"`
}

// eventsWindow is one window's server, recorder and readers.
type eventsWindow struct {
	DurationS        float64  `json:"duration_seconds"`
	LoadStart        string   `json:"loadavg_start"`
	LoadEnd          string   `json:"loadavg_end"`
	ServerCPUPercent *float64 `json:"server_cpu_percent_of_one_core,omitempty"`
	BenchCPUPercent  *float64 `json:"bench_cpu_percent_of_one_core,omitempty"`
	RSSEndMiB        float64  `json:"server_rss_end_mib"`
	RSSPeakMiB       float64  `json:"server_rss_peak_mib"` // VmHWM at the window's end (whole life)
	CPUPressurePc    *float64 `json:"cpu_pressure_some_percent,omitempty"`
	IOPressurePc     *float64 `json:"io_pressure_some_percent,omitempty"`
	BenchStalls100ms int      `json:"bench_stalls_over_100ms"`
	BenchStallMaxMS  float64  `json:"bench_stall_max_ms"`

	// The recorder: fragments whose server timestamp is in the window.
	FragmentsListed    int              `json:"fragments_listed"`
	FragmentsPersisted int64            `json:"fragments_persisted"` // eddy_fragments_persisted_total delta
	FragmentsPerSecond float64          `json:"fragments_persisted_per_second"`
	LengthP50MS        float64          `json:"fragment_length_p50_ms"`
	LengthMinMS        float64          `json:"fragment_length_min_ms"`
	LengthMaxMS        float64          `json:"fragment_length_max_ms"`
	SpacingP50MS       float64          `json:"arrival_spacing_p50_ms"` // server timestamps of consecutive fragments
	JitterP99MS        float64          `json:"arrival_jitter_p99_ms"`  // |spacing − GOP|
	JitterMaxMS        float64          `json:"arrival_jitter_max_ms"`
	PersistP50MS       *float64         `json:"persist_p50_ms,omitempty"` // eddy_fragment_persist_seconds, bucket-interpolated
	PersistP99MS       *float64         `json:"persist_p99_ms,omitempty"`
	Gaps               int              `json:"gaps"`
	MissingNumbers     int              `json:"missing_fragment_numbers"`
	LostMediaS         float64          `json:"lost_media_seconds"`
	IngestErrors       map[string]int64 `json:"ingest_error_counters"` // loss/drop/error counters, window delta

	// The HLS readers: requests that ended in the window, and the times a
	// reader fell behind (a segment gone before it was fetched, or one
	// downloaded slower than it plays).
	HLS          hlsReaderStats `json:"hls"`
	ReaderStalls int            `json:"hls_reader_stalls"`
}

// eventsPut is what the writers did.
type eventsPut struct {
	Calls              int64            `json:"calls"`
	CallErrors         int64            `json:"call_errors"`
	Acknowledged       int64            `json:"acknowledged"`
	Failed             int64            `json:"failed_records"`
	RatePerSecond      float64          `json:"acknowledged_per_second"` // over the events window
	AckSpanS           float64          `json:"ack_span_seconds"`        // first to last acknowledgement
	Latency            latSummary       `json:"latency"`
	RecordErrors       map[string]int64 `json:"record_errors,omitempty"`
	RecordErrorSamples []string         `json:"record_error_samples,omitempty"`
	CallErrorSamples   []string         `json:"call_error_samples,omitempty"`
	RetriedErrors      map[string]int64 `json:"retried_errors,omitempty"`
	ErrorResponses     map[string]int64 `json:"error_responses,omitempty"`
}

// eventsReadBack is the acknowledged events read back both ways.
type eventsReadBack struct {
	Acknowledged int `json:"acknowledged"`
	// eddy_events_indexed_total and eddy_events_refused_total from the
	// baseline's end to after the run; nil when /metrics has no such
	// series.
	Indexed    *int64       `json:"indexed,omitempty"`
	Refused    *int64       `json:"refused,omitempty"`
	REST       *eventsCheck `json:"rest,omitempty"`
	GetRecords *eventsCheck `json:"get_records,omitempty"`
}

func (b *eventsBench) newResults(idle snapshot) *eventsResults {
	cfg, ib := b.cfg, b.ib
	res := &eventsResults{
		Rate: cfg.Rate, Batch: cfg.Batch, Writers: cfg.Writers, Readers: cfg.Readers,
		DurationS: cfg.Duration.Seconds(), WarmupS: cfg.Warmup.Seconds(), Stream: b.stream, Clip: ib.clip,
		Server: "child: " + ib.child.bin + " serve (TCP only, fresh data dir)", Endpoint: ib.url, RTSP: ib.rtsp,
		ServerPID: ib.pid, CPUs: runtime.NumCPU(), RSSIdleMiB: mib(idle.rss),
		MaxJitterRiseMS: ms(cfg.MaxJitterRise), MinRatePc: cfg.MinRatePc,
	}
	if cfg.Keep {
		res.ServerLog, res.DataDir = ib.child.logPath, ib.child.dir
	}
	return res
}

func (b *eventsBench) results(res *eventsResults, idle, b0, b1, e0, e1, after snapshot, frags []kvamtypes.Fragment, readers []*hlsReader) {
	ib := b.ib
	gop := ib.gop()
	res.GOPS = gop.Seconds()
	p := ib.pubs[0]
	p.mu.Lock()
	units := append([]int64(nil), p.units...)
	errAt := append([]time.Time(nil), p.errAt...)
	pubErrs := append([]string(nil), p.errs...)
	res.PublisherLateMaxMS, res.PublisherLate200 = ms(p.lateMax), p.late200
	p.mu.Unlock()
	sort.Slice(units, func(i, j int) bool { return units[i] < units[j] })
	frame := medianSpacing(units)
	if frame <= 0 {
		frame = 40 * time.Millisecond
	}
	res.FrameMS = ms(frame)
	for _, e := range pubErrs {
		res.Problems = append(res.Problems, "publisher: "+e)
	}
	res.Problems = append(res.Problems, b.window(&res.Baseline, "baseline", b0, b1, frags, units, errAt, gop, frame, readers)...)
	res.Problems = append(res.Problems, b.window(&res.Events, "events", e0, e1, frags, units, errAt, gop, frame, readers)...)
	res.Put = b.wr.putStats(res.Events.DurationS)
	counter := func(name string) *int64 {
		v, ok := after.metrics[name]
		if !ok {
			return nil
		}
		d := int64(v - b1.metrics[name])
		return &d
	}
	res.ReadBack.Indexed, res.ReadBack.Refused = counter("eddy_events_indexed_total"), counter("eddy_events_refused_total")
	for k, v := range after.metrics {
		if ingestLossCounter(k) {
			if d := int64(v - idle.metrics[k]); d > 0 {
				res.Problems = append(res.Problems, fmt.Sprintf("%s rose by %d over the run", k, d))
			}
		}
	}
}

// window fills in w for [p0, p1] and returns its problems.
func (b *eventsBench) window(w *eventsWindow, name string, p0, p1 snapshot, all []kvamtypes.Fragment, units []int64, errAt []time.Time,
	gop, frame time.Duration, readers []*hlsReader) []string {
	win := p1.at.Sub(p0.at)
	w.DurationS = win.Seconds()
	w.LoadStart, w.LoadEnd = p0.load, p1.load
	_, w.ServerCPUPercent = serverCPU(p0, p1)
	_, w.BenchCPUPercent = benchCPU(p0, p1)
	w.RSSEndMiB, w.RSSPeakMiB = mib(p1.rss), mib(p1.hwm)
	w.CPUPressurePc, w.IOPressurePc = psiPercent(p0, p1, "cpu_some"), psiPercent(p0, p1, "io_some")
	w.BenchStalls100ms, w.BenchStallMaxMS = b.ib.stalls.summary(p0.at, p1.at)

	var frags []kvamtypes.Fragment
	for _, f := range all {
		if st := aws.ToTime(f.ServerTimestamp); !st.Before(p0.at) && !st.After(p1.at) {
			frags = append(frags, f)
		}
	}
	w.FragmentsListed = len(frags)
	w.FragmentsPersisted = int64(p1.metrics["eddy_fragments_persisted_total"] - p0.metrics["eddy_fragments_persisted_total"])
	w.FragmentsPerSecond = float64(w.FragmentsPersisted) / win.Seconds()
	var lengths, spacing, jitter []time.Duration
	for i, f := range frags {
		lengths = append(lengths, time.Duration(f.FragmentLengthInMilliseconds)*time.Millisecond)
		if i > 0 {
			d := aws.ToTime(f.ServerTimestamp).Sub(aws.ToTime(frags[i-1].ServerTimestamp))
			spacing = append(spacing, d)
			jitter = append(jitter, (d - gop).Abs())
		}
	}
	w.LengthP50MS = ms(quantile(lengths, 0.5))
	if len(lengths) > 0 {
		w.LengthMinMS, w.LengthMaxMS = ms(lengths[0]), ms(lengths[len(lengths)-1]) // sorted by quantile
	}
	w.SpacingP50MS = ms(quantile(spacing, 0.5))
	w.JitterP99MS, w.JitterMaxMS = ms(quantile(jitter, 0.99)), ms(quantile(jitter, 1))
	hist := histDelta("eddy_fragment_persist_seconds", p0.metrics, p1.metrics)
	if v, _, ok := histQuantile(0.5, hist); ok {
		m := v * 1000
		w.PersistP50MS = &m
	}
	if v, _, ok := histQuantile(0.99, hist); ok {
		m := v * 1000
		w.PersistP99MS = &m
	}
	st := ingestStream{Name: b.stream + " (" + name + ")"}
	problems := analyzeIngestStream(&st, units, errAt, frags, p0.at, p1.at, gop, frame)
	w.Gaps, w.MissingNumbers, w.LostMediaS = st.Gaps, st.MissingNumbers, math.Max(st.LostMediaMS, 0)/1000
	w.IngestErrors = map[string]int64{}
	for k, v := range p1.metrics {
		if ingestLossCounter(k) {
			d := int64(v - p0.metrics[k])
			w.IngestErrors[k] = d
			if d > 0 {
				problems = append(problems, fmt.Sprintf("%s: %s rose by %d", name, k, d))
			}
		}
	}

	if len(readers) > 0 {
		rp := w.HLS.add(readers, p0.at, p1.at)
		// add's lag figures cover the readers' whole run; the stalls
		// in this window are counted apart.
		lo, hi := p0.at.UnixNano(), p1.at.UnixNano()
		for _, r := range readers {
			for _, t := range r.behindAt {
				if t >= lo && t <= hi {
					w.ReaderStalls++
				}
			}
		}
		for _, s := range rp {
			if !strings.Contains(s, "fell behind") {
				problems = append(problems, name+": HLS: "+s)
			}
		}
		if w.ReaderStalls > 0 {
			problems = append(problems, fmt.Sprintf("%s: HLS readers fell behind %d times in the window", name, w.ReaderStalls))
		}
	}
	return problems
}

// verdict adds the comparisons and the read-back checks to the problems
// and sets Pass.
func (r *eventsResults) verdict() {
	bad := func(format string, args ...any) { r.Problems = append(r.Problems, fmt.Sprintf(format, args...)) }
	// Nothing lost.
	p := r.Put
	if p.Acknowledged == 0 {
		bad("no event was acknowledged")
	}
	if p.CallErrors > 0 || p.Failed > 0 {
		bad("PutRecords: %d calls failed, %d records refused %v", p.CallErrors, p.Failed, p.RecordErrorSamples)
	}
	if want := r.MinRatePc / 100 * r.Rate * r.DurationS; float64(p.Acknowledged) < want {
		bad("rate not sustained: %d events acknowledged in the %.0f s window, want ≥ %.0f (%.0f%% of %g/s)", p.Acknowledged, r.DurationS, want, r.MinRatePc, r.Rate)
	}
	checks := []struct {
		name string
		c    *eventsCheck
	}{{"REST events", r.ReadBack.REST}, {"GetRecords", r.ReadBack.GetRecords}}
	for _, ch := range checks {
		c := ch.c
		if c == nil || (!c.Available && ch.name == "REST events") {
			continue
		}
		if c.Lost > 0 || c.Altered > 0 || c.Duplicate > 0 || c.Foreign > 0 || len(c.Errors) > 0 {
			bad("%s read-back: %d of %d lost, %d altered, %d duplicates, %d not written by the bench; %v",
				ch.name, c.Lost, r.ReadBack.Acknowledged, c.Altered, c.Duplicate, c.Foreign, c.Errors)
		}
	}
	if n := r.ReadBack.Indexed; n != nil && *n != p.Acknowledged {
		bad("eddy_events_indexed_total rose by %d, %d events were acknowledged", *n, p.Acknowledged)
	}
	if n := r.ReadBack.Refused; n != nil && *n != 0 {
		bad("eddy_events_refused_total rose by %d", *n)
	}
	if r.ReadBack.GetRecords == nil && p.Acknowledged > 0 {
		bad("the events were not read back")
	}
	// Recorder unaffected.
	bw, ew := r.Baseline, r.Events
	if d := ew.FragmentsListed - bw.FragmentsListed; d > 1 || d < -1 {
		bad("recorder: %d fragments listed with events, %d without (want within ±1)", ew.FragmentsListed, bw.FragmentsListed)
	}
	if d := ew.FragmentsPersisted - bw.FragmentsPersisted; d > 1 || d < -1 {
		bad("recorder: %d fragments persisted with events, %d without (want within ±1)", ew.FragmentsPersisted, bw.FragmentsPersisted)
	}
	if math.Abs(ew.LengthP50MS-bw.LengthP50MS) > r.FrameMS {
		bad("recorder: median fragment length %.0f ms with events, %.0f ms without (want within a frame, %.0f ms)", ew.LengthP50MS, bw.LengthP50MS, r.FrameMS)
	}
	if ew.JitterP99MS > bw.JitterP99MS+r.MaxJitterRiseMS {
		bad("recorder: fragment arrivals' p99 deviation from the GOP is %.0f ms with events, %.0f ms without (want a rise ≤ %.0f ms)",
			ew.JitterP99MS, bw.JitterP99MS, r.MaxJitterRiseMS)
	}
	r.Pass = len(r.Problems) == 0
}

func (r *eventsResults) writeText(w io.Writer) {
	fmt.Fprintf(w, "\neddy bench events: %g events/s (%d writers, batches of %d) into %s%s, 1 camera, %d HLS readers\n",
		r.Rate, r.Writers, r.Batch, r.Stream, eventsSuffix, r.Readers)
	fmt.Fprintf(w, "  windows  baseline %.1f s, then events %.1f s (after %.0f s warm-up)\n", r.Baseline.DurationS, r.Events.DurationS, r.WarmupS)
	fmt.Fprintf(w, "  clip     %s (GOP %.2f s, frame %.1f ms as sent)\n", r.Clip, r.GOPS, r.FrameMS)
	fmt.Fprintf(w, "  server   %s, pid %d, %s, rtsp://%s\n", r.Server, r.ServerPID, r.Endpoint, r.RTSP)
	fmt.Fprintf(w, "  machine  %d CPUs, load average %s → %s → %s (shared machine: CPU and latency figures are noisy)\n\n",
		r.CPUs, r.Baseline.LoadStart, r.Events.LoadStart, r.Events.LoadEnd)

	p := r.Put
	tw := table{w, 36, 56}.row
	tw("events", "measured", "target")
	tw("acknowledged", fmt.Sprintf("%d (%.1f/s over the window), %d calls", p.Acknowledged, p.RatePerSecond, p.Calls),
		fmt.Sprintf("≥ %.0f%% of %g/s", r.MinRatePc, r.Rate))
	tw("refused records / failed calls", fmt.Sprintf("%d / %d", p.Failed, p.CallErrors), "0 / 0")
	if len(p.RetriedErrors) > 0 {
		tw("  retried by the SDK", strings.Join(errorLines(p.RetriedErrors), ", "), "")
	}
	tw("PutRecords latency p50 / p99 / max", fmt.Sprintf("%.1f / %.1f / %.1f ms", p.Latency.P50Ms, p.Latency.P99Ms, p.Latency.MaxMs), "")
	if n := r.ReadBack.Indexed; n != nil {
		tw("indexed / refused (/metrics)", fmt.Sprintf("%d / %s", *n, fmtOpt(i64f(r.ReadBack.Refused), "%.0f")), "= acknowledged / 0")
	}
	for _, ch := range []struct {
		name string
		c    *eventsCheck
	}{{"read back: REST events", r.ReadBack.REST}, {"read back: GetRecords", r.ReadBack.GetRecords}} {
		c := ch.c
		switch {
		case c == nil:
			tw(ch.name, "not run", "")
		case !c.Available:
			tw(ch.name, "not available on this server", "")
		default:
			tw(ch.name, fmt.Sprintf("%d of %d, lost %d, altered %d, duplicates %d (%d calls, %.2f s)",
				c.Matched, r.ReadBack.Acknowledged, c.Lost, c.Altered, c.Duplicate, c.Calls, c.Seconds), "lost 0")
		}
	}

	fmt.Fprintln(w)
	tw3 := func(k, base, ev, target string) { fmt.Fprintf(w, "  %-36s %-22s %-22s %s\n", k, base, ev, target) }
	bw, ew := r.Baseline, r.Events
	tw3("recorder and server", "baseline", "with events", "target")
	tw3("fragments listed / persisted", fmt.Sprintf("%d / %d", bw.FragmentsListed, bw.FragmentsPersisted),
		fmt.Sprintf("%d / %d", ew.FragmentsListed, ew.FragmentsPersisted), "equal ±1")
	tw3("fragments persisted per second", fmt.Sprintf("%.3f", bw.FragmentsPerSecond), fmt.Sprintf("%.3f", ew.FragmentsPerSecond), "")
	tw3("fragment length p50 (min–max)", fmt.Sprintf("%.0f (%.0f–%.0f) ms", bw.LengthP50MS, bw.LengthMinMS, bw.LengthMaxMS),
		fmt.Sprintf("%.0f (%.0f–%.0f) ms", ew.LengthP50MS, ew.LengthMinMS, ew.LengthMaxMS), "equal ±1 frame")
	tw3("arrival spacing p50", fmt.Sprintf("%.0f ms", bw.SpacingP50MS), fmt.Sprintf("%.0f ms", ew.SpacingP50MS), "")
	tw3("  |spacing − GOP| p99 / max", fmt.Sprintf("%.0f / %.0f ms", bw.JitterP99MS, bw.JitterMaxMS),
		fmt.Sprintf("%.0f / %.0f ms", ew.JitterP99MS, ew.JitterMaxMS), fmt.Sprintf("p99 rise ≤ %.0f ms", r.MaxJitterRiseMS))
	tw3("gaps / unlisted numbers / lost", fmt.Sprintf("%d / %d / %.3f s", bw.Gaps, bw.MissingNumbers, bw.LostMediaS),
		fmt.Sprintf("%d / %d / %.3f s", ew.Gaps, ew.MissingNumbers, ew.LostMediaS), "0")
	tw3("ingest error counters (sum)", fmt.Sprintf("%d", sumCounts(bw.IngestErrors)), fmt.Sprintf("%d", sumCounts(ew.IngestErrors)), "0")
	tw3("persist latency p50 / p99", fmtOpt(bw.PersistP50MS, "%.1f")+" / "+fmtOpt(bw.PersistP99MS, "%.1f ms"),
		fmtOpt(ew.PersistP50MS, "%.1f")+" / "+fmtOpt(ew.PersistP99MS, "%.1f ms"), "")
	tw3("server CPU (of one core)", fmtOpt(bw.ServerCPUPercent, "%.1f%%"), fmtOpt(ew.ServerCPUPercent, "%.1f%%"), "")
	tw3("server RSS end / peak", fmt.Sprintf("%.0f / %.0f MiB", bw.RSSEndMiB, bw.RSSPeakMiB), fmt.Sprintf("%.0f / %.0f MiB", ew.RSSEndMiB, ew.RSSPeakMiB),
		fmt.Sprintf("idle %.0f MiB", r.RSSIdleMiB))
	tw3("bench CPU (of one core)", fmtOpt(bw.BenchCPUPercent, "%.1f%%"), fmtOpt(ew.BenchCPUPercent, "%.1f%%"), "")
	tw3("CPU / IO pressure (PSI some)", fmtOpt(bw.CPUPressurePc, "%.0f%%")+" / "+fmtOpt(bw.IOPressurePc, "%.1f%%"),
		fmtOpt(ew.CPUPressurePc, "%.0f%%")+" / "+fmtOpt(ew.IOPressurePc, "%.1f%%"), "")
	tw3("bench stalls ≥ 100 ms (max)", fmt.Sprintf("%d (%.0f ms)", bw.BenchStalls100ms, bw.BenchStallMaxMS),
		fmt.Sprintf("%d (%.0f ms)", ew.BenchStalls100ms, ew.BenchStallMaxMS), "")
	fmt.Fprintf(w, "  %-36s max %.0f ms, %d units ≥ 200 ms late (whole run)\n", "publisher lateness (bench)", r.PublisherLateMaxMS, r.PublisherLate200)
	if r.Readers > 0 {
		tw3("HLS requests (errors)", fmt.Sprintf("%d (%d)", bw.HLS.Requests, bw.HLS.RequestErrors),
			fmt.Sprintf("%d (%d)", ew.HLS.Requests, ew.HLS.RequestErrors), "0 errors")
		tw3("HLS readers fell behind", fmt.Sprintf("%d", bw.ReaderStalls), fmt.Sprintf("%d", ew.ReaderStalls), "0")
		tw3("HLS playlist p50 / p99", fmt.Sprintf("%.1f / %.1f ms", bw.HLS.PlaylistP50MS, bw.HLS.PlaylistP99MS),
			fmt.Sprintf("%.1f / %.1f ms", ew.HLS.PlaylistP50MS, ew.HLS.PlaylistP99MS), "")
		tw3("HLS segment p50 / p99", fmt.Sprintf("%.1f / %.1f ms", bw.HLS.SegmentP50MS, bw.HLS.SegmentP99MS),
			fmt.Sprintf("%.1f / %.1f ms", ew.HLS.SegmentP50MS, ew.HLS.SegmentP99MS), "")
	}
	if r.Pass {
		fmt.Fprintf(w, "\n  RESULT: PASS: %d events acknowledged at %.1f/s, none lost; recorder and readers unaffected\n", p.Acknowledged, p.RatePerSecond)
		return
	}
	fmt.Fprintf(w, "\n  RESULT: FAIL:\n")
	writeProblems(w, r.Problems, 30)
	writeLogTail(w, r.ServerLogTail)
}

func sumCounts(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

// i64f is *n as a float64 (nil stays nil), for fmtOpt.
func i64f(n *int64) *float64 {
	if n == nil {
		return nil
	}
	f := float64(*n)
	return &f
}
