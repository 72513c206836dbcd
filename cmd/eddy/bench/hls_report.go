package bench

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"
)

// hlsResults is the report of one run.
type hlsResults struct {
	Readers        int     `json:"readers"`
	DurationS      float64 `json:"window_seconds"` // each window, as configured
	WarmupS        float64 `json:"warmup_seconds"`
	PlaylistWindow int     `json:"max_media_playlist_fragment_results"`
	PollMS         float64 `json:"watcher_poll_ms"`
	Clip           string  `json:"clip"`
	ClipSpanS      float64 `json:"clip_span_seconds"`
	GOPS           float64 `json:"gop_seconds"`
	Server         string  `json:"server"`
	Endpoint       string  `json:"endpoint"`
	RTSP           string  `json:"rtsp"`
	ServerPID      int     `json:"server_pid"`
	ServerLog      string  `json:"server_log,omitempty"`
	DataDir        string  `json:"data_dir,omitempty"`
	CPUs           int     `json:"cpus"`

	Baseline hlsWindow  `json:"baseline"`
	Loaded   *hlsWindow `json:"readers_window,omitempty"`

	// Listing latency, over the whole run.
	Listing hlsListing `json:"listing"`
	// LL-HLS part listing (--ll), over the whole run.
	LL    bool            `json:"low_latency"`
	Parts *hlsPartListing `json:"parts,omitempty"`
	// WatcherOwnProcess: the part watcher ran in a child process.
	WatcherOwnProcess bool `json:"part_watcher_own_process,omitempty"`
	// WatcherCPUSeconds is the child's CPU over the whole run (not in
	// the bench CPU of either window).
	WatcherCPUSeconds *float64 `json:"part_watcher_cpu_seconds,omitempty"`

	// Readers (the readers' window).
	ServerCPUPerReaderMinRaw *float64 `json:"server_cpu_seconds_per_reader_minute_raw,omitempty"`
	ServerCPUPerReaderMinNet *float64 `json:"server_cpu_seconds_per_reader_minute_net,omitempty"`
	hlsReaderStats

	Problems       []string `json:"problems,omitempty"`
	ServerWarnings []string `json:"server_warnings,omitempty"`
	ServerLogTail  string   `json:"server_log_tail,omitempty"`
}

// hlsReaderStats sums up what readers did in a window.
type hlsReaderStats struct {
	ReadersStarted    int      `json:"readers_started"`
	ReadersFellBehind int      `json:"readers_fell_behind"`
	SegmentsMissed    int      `json:"segments_missed"`
	SegmentsSlow      int      `json:"segments_slow"`
	Requests          int64    `json:"requests"` // completed in the window
	RequestsPerSecond float64  `json:"requests_per_second"`
	RequestErrors     int64    `json:"request_errors"`
	BytesServed       int64    `json:"bytes_served"`
	MbitPerSecond     float64  `json:"mbit_per_second"`
	PlaylistRequests  int64    `json:"playlist_requests"`
	SegmentRequests   int64    `json:"segment_requests"`
	PlaylistP50MS     float64  `json:"playlist_p50_ms"`
	PlaylistP99MS     float64  `json:"playlist_p99_ms"`
	PlaylistMaxMS     float64  `json:"playlist_max_ms"`
	SegmentP50MS      float64  `json:"segment_p50_ms"`
	SegmentP99MS      float64  `json:"segment_p99_ms"`
	SegmentMaxMS      float64  `json:"segment_max_ms"`
	PartRequests      int64    `json:"part_requests"`
	PartP50MS         float64  `json:"part_p50_ms"`
	PartP99MS         float64  `json:"part_p99_ms"`
	PartMaxMS         float64  `json:"part_max_ms"`
	ReaderProblems    []string `json:"reader_problems,omitempty"`
}

// hlsWindow is one measured window's machine and server figures.
type hlsWindow struct {
	DurationS          float64  `json:"duration_seconds"`
	ServerCPUSeconds   *float64 `json:"server_cpu_seconds,omitempty"`
	ServerCPUPercent   *float64 `json:"server_cpu_percent_of_one_core,omitempty"`
	BenchCPUSeconds    *float64 `json:"bench_cpu_seconds,omitempty"`
	BenchCPUPercent    *float64 `json:"bench_cpu_percent_of_one_core,omitempty"`
	RSSEndMiB          float64  `json:"server_rss_end_mib,omitempty"`
	RSSPeakMiB         float64  `json:"server_rss_peak_mib,omitempty"`
	LoadStart          string   `json:"loadavg_start"`
	LoadEnd            string   `json:"loadavg_end"`
	CPUPressurePc      *float64 `json:"cpu_pressure_some_percent,omitempty"`
	IOPressurePc       *float64 `json:"io_pressure_some_percent,omitempty"`
	BenchStalls100ms   int      `json:"bench_stalls_over_100ms"`
	BenchStallMaxMS    float64  `json:"bench_stall_max_ms"`
	FragmentsPersisted int64    `json:"fragments_persisted"`

	// Listing latency of the segments (and, --ll, parts) listed in this window.
	Listing hlsListing      `json:"listing"`
	Parts   *hlsPartListing `json:"parts,omitempty"`
}

// hlsListing summarizes listing latency samples.
type hlsListing struct {
	Samples         int     `json:"samples"`
	Unmatched       int     `json:"unmatched"` // no keyframe (or no next keyframe) found for the segment
	AfterCloseP50MS float64 `json:"after_close_p50_ms"`
	AfterCloseP99MS float64 `json:"after_close_p99_ms"`
	AfterCloseMaxMS float64 `json:"after_close_max_ms"`
	AfterKeyP50MS   float64 `json:"after_first_keyframe_p50_ms"`
	AfterKeyP99MS   float64 `json:"after_first_keyframe_p99_ms"`
	Within100msPc   float64 `json:"after_close_within_100ms_percent"`
	PollGapP99MS    float64 `json:"poll_gap_p99_ms"` // watcher: time between a listing poll and the one before (resolution)
}

func (b *hlsBench) measureWindow(w *hlsWindow, p0, p1 snapshot) {
	win := p1.at.Sub(p0.at)
	w.DurationS = win.Seconds()
	w.LoadStart, w.LoadEnd = p0.load, p1.load
	w.ServerCPUSeconds, w.ServerCPUPercent = serverCPU(p0, p1)
	w.BenchCPUSeconds, w.BenchCPUPercent = benchCPU(p0, p1)
	w.RSSEndMiB, w.RSSPeakMiB = mib(p1.rss), mib(p1.hwm)
	w.CPUPressurePc, w.IOPressurePc = psiPercent(p0, p1, "cpu_some"), psiPercent(p0, p1, "io_some")
	w.BenchStalls100ms, w.BenchStallMaxMS = b.pr.stalls.summary(p0.at, p1.at)
	w.FragmentsPersisted = int64(p1.metrics["eddy_fragments_persisted_total"] - p0.metrics["eddy_fragments_persisted_total"])
	w.Listing = b.listing(p0.at.UnixNano(), p1.at.UnixNano())
	if b.cfg.LL {
		pl := b.partListing(p0.at.UnixNano(), p1.at.UnixNano())
		w.Parts = &pl
	}
}

// listing matches the segments listed in [from, to] to the keyframes sent:
// a segment's #EXT-X-PROGRAM-DATE-TIME is its first keyframe's producer
// time (to the ms); the fragment closed when the next keyframe was sent.
func (b *hlsBench) listing(from, to int64) hlsListing {
	b.mu.Lock()
	keys := append([]hlsKey(nil), b.keySent...)
	listed := append([]hlsListed(nil), b.listed...)
	b.mu.Unlock()
	var out hlsListing
	var afterClose, afterKey, gaps []time.Duration
	for _, l := range listed {
		if l.listed < from || l.listed > to {
			continue
		}
		i := sort.Search(len(keys), func(i int) bool { return keys[i].ntp >= l.pdt-int64(50*time.Millisecond) })
		if l.pdt == 0 || i+1 >= len(keys) || keys[i].ntp > l.pdt+int64(50*time.Millisecond) {
			out.Unmatched++
			continue
		}
		out.Samples++
		afterKey = append(afterKey, time.Duration(l.listed-keys[i].sent))
		afterClose = append(afterClose, time.Duration(l.listed-keys[i+1].sent))
		gaps = append(gaps, time.Duration(l.listed-l.polled))
	}
	if out.Samples == 0 {
		return out
	}
	out.AfterCloseP50MS, out.AfterCloseP99MS, out.AfterCloseMaxMS = msQuantiles(afterClose)
	out.AfterKeyP50MS, out.AfterKeyP99MS, _ = msQuantiles(afterKey)
	within := 0
	for _, d := range afterClose {
		if d <= 100*time.Millisecond {
			within++
		}
	}
	out.Within100msPc = 100 * float64(within) / float64(len(afterClose))
	out.PollGapP99MS = ms(quantile(gaps, 0.99))
	return out
}

func (b *hlsBench) results(res *hlsResults, base0, base1, rp0, rp1 snapshot, readers []*hlsReader) {
	res.GOPS = b.gop().Seconds()
	b.measureWindow(&res.Baseline, base0, base1)
	from, to := base0.at, base1.at
	if len(readers) > 0 {
		res.Loaded = &hlsWindow{}
		b.measureWindow(res.Loaded, rp0, rp1)
		to = rp1.at
	}
	res.Listing = b.listing(from.UnixNano(), to.UnixNano())
	res.LL = b.cfg.LL
	b.mu.Lock()
	res.WatcherCPUSeconds = b.watcherCPU
	b.mu.Unlock()
	if b.cfg.LL {
		pl := b.partListing(from.UnixNano(), to.UnixNano())
		res.Parts = &pl
		if pl.Samples == 0 {
			res.Problems = append(res.Problems, "no part listing sample: the part watcher saw no new part with a program date-time")
		}
		if pl.Errors > 0 {
			res.Problems = append(res.Problems, fmt.Sprintf("part watcher: %d requests failed", pl.Errors))
		}
	}
	b.mu.Lock()
	if b.wErrs > 0 {
		res.Problems = append(res.Problems, fmt.Sprintf("watcher: %d of %d polls failed", b.wErrs, b.wPolls))
	}
	b.mu.Unlock()
	if res.Listing.Samples == 0 {
		res.Problems = append(res.Problems, "no listing latency sample: the watcher saw no new segment it could match to a keyframe")
	}
	b.pub.mu.Lock()
	if len(b.pub.errs) > 0 {
		res.Problems = append(res.Problems, fmt.Sprintf("publisher: %d error(s), first: %s", len(b.pub.errs), b.pub.errs[0]))
	}
	b.pub.mu.Unlock()
	if len(readers) == 0 {
		return
	}

	n := float64(len(readers))
	win := rp1.at.Sub(rp0.at)
	if res.Loaded.ServerCPUSeconds != nil {
		raw := *res.Loaded.ServerCPUSeconds / (n * win.Minutes())
		res.ServerCPUPerReaderMinRaw = &raw
		if res.Baseline.ServerCPUSeconds != nil {
			// The baseline scaled to this window's length.
			baseline := *res.Baseline.ServerCPUSeconds * win.Seconds() / res.Baseline.DurationS
			net := (*res.Loaded.ServerCPUSeconds - baseline) / (n * win.Minutes())
			res.ServerCPUPerReaderMinNet = &net
		}
	}
	res.Problems = append(res.Problems, res.add(readers, rp0.at, rp1.at)...)
}

// add sums up the readers' requests that ended in [from, to] (and their
// lag over their whole run), returning the problems found.
func (s *hlsReaderStats) add(readers []*hlsReader, from, to time.Time) (problems []string) {
	lo, hi := from.UnixNano(), to.UnixNano()
	var pl, seg, parts []time.Duration
	for _, r := range readers {
		if r.started {
			s.ReadersStarted++
		}
		if r.fellBehind {
			s.ReadersFellBehind++
			if len(s.ReaderProblems) < 20 {
				s.ReaderProblems = append(s.ReaderProblems, fmt.Sprintf("reader %d: %s", r.id, strings.Join(r.errs, "; ")))
			}
		} else if len(r.errs) > 0 && len(s.ReaderProblems) < 20 {
			s.ReaderProblems = append(s.ReaderProblems, fmt.Sprintf("reader %d (errors): %s", r.id, strings.Join(r.errs, "; ")))
		}
		s.SegmentsMissed += r.missed
		s.SegmentsSlow += r.slow
		for _, q := range r.reqs {
			if q.end < lo || q.end > hi {
				continue
			}
			s.Requests++
			s.BytesServed += q.bytes
			if q.err {
				s.RequestErrors++
				continue
			}
			switch q.kind {
			case 'p':
				s.PlaylistRequests++
				pl = append(pl, q.d)
			case 's':
				s.SegmentRequests++
				seg = append(seg, q.d)
			case 'P':
				s.PartRequests++
				parts = append(parts, q.d)
			}
		}
	}
	win := to.Sub(from)
	s.RequestsPerSecond = float64(s.Requests) / win.Seconds()
	s.MbitPerSecond = float64(s.BytesServed) * 8 / 1e6 / win.Seconds()
	s.PlaylistP50MS, s.PlaylistP99MS, s.PlaylistMaxMS = msQuantiles(pl)
	s.SegmentP50MS, s.SegmentP99MS, s.SegmentMaxMS = msQuantiles(seg)
	s.PartP50MS, s.PartP99MS, s.PartMaxMS = msQuantiles(parts)
	if s.ReadersStarted < len(readers) {
		problems = append(problems, fmt.Sprintf("%d of %d readers never started", len(readers)-s.ReadersStarted, len(readers)))
	}
	if s.ReadersFellBehind > 0 {
		problems = append(problems, fmt.Sprintf("%d readers fell behind (%d segments missed, %d downloads slower than the segment)",
			s.ReadersFellBehind, s.SegmentsMissed, s.SegmentsSlow))
	}
	if s.RequestErrors > 0 {
		problems = append(problems, fmt.Sprintf("%d reader requests failed in the window", s.RequestErrors))
	}
	return problems
}

func (r *hlsResults) writeText(w io.Writer) {
	kind := "LIVE"
	if r.LL {
		kind = "LIVE LL-HLS"
	}
	fmt.Fprintf(w, "\neddy bench hls: 1 publisher, %d %s readers, %.0fs windows (baseline, then readers; %.0fs warm-up each)\n",
		r.Readers, kind, r.DurationS, r.WarmupS)
	fmt.Fprintf(w, "  clip     %s (%.1fs loop, GOP %.2fs as sent); sessions list %d fragments\n", r.Clip, r.ClipSpanS, r.GOPS, r.PlaylistWindow)
	fmt.Fprintf(w, "  server   %s, pid %d, %s, rtsp://%s\n", r.Server, r.ServerPID, r.Endpoint, r.RTSP)
	fmt.Fprintf(w, "  machine  %d CPUs (shared machine: CPU and latency figures are noisy)\n\n", r.CPUs)
	tw := table{w, 44, 50}.row
	tw("metric", "measured", "target / comparison")
	l := r.Listing
	tw("segment listed after its fragment closed¹", fmt.Sprintf("p50 %.1f ms, p99 %.1f ms, max %.1f ms", l.AfterCloseP50MS, l.AfterCloseP99MS, l.AfterCloseMaxMS), "p99 ≤ 100 ms")
	tw("  within 100 ms", fmt.Sprintf("%.1f%% of %d segments (%d unmatched)", l.Within100msPc, l.Samples, l.Unmatched), "")
	tw("  after its first keyframe was sent", fmt.Sprintf("p50 %.1f ms, p99 %.1f ms", l.AfterKeyP50MS, l.AfterKeyP99MS), "")
	tw("  watcher resolution", fmt.Sprintf("polls every %.0f ms; listing poll sent ≤ %.1f ms (p99) before its answer", r.PollMS, l.PollGapP99MS), "")
	fmt.Fprintf(w, "  ¹ both windows; p99 of fewer than 100 segments is their maximum\n")
	if p := r.Parts; p != nil {
		where := "in the bench's process"
		if r.WatcherOwnProcess {
			where = "in its own process"
		}
		fmt.Fprintf(w, "\n  LL-HLS parts (target %.0f ms; part watcher with blocking reloads %s, both windows)\n", p.PartTargetMS, where)
		tw("  part listed after its first frame arrived", fmt.Sprintf("p50 %.1f ms, p99 %.1f ms, max %.1f ms", p.AfterFirstP50MS, p.AfterFirstP99MS, p.AfterFirstMaxMS), "MediaMTX v1.20.1 (200 ms): 231 median, 260 p95")
		tw("  … minus the part's own duration", fmt.Sprintf("p50 %.1f ms, p99 %.1f ms, max %.1f ms", p.OverDurP50MS, p.OverDurP99MS, p.OverDurMaxMS), "p99 ≤ 20 ms")
		tw("  within duration + 20 ms", fmt.Sprintf("%.1f%% of %d parts (%d without a date)", p.Within20msPc, p.Samples, p.Unmatched), "")
		tw("  blocking reload for an existing part", fmt.Sprintf("p50 %.1f ms, p99 %.1f ms, max %.1f ms (%d requests)", p.ExistingP50MS, p.ExistingP99MS, p.ExistingMaxMS, p.ExistingSamples), "at once (MediaMTX ≈ 1.9 s)")
		if r.WatcherOwnProcess {
			tw("  part watcher process CPU (whole run)", fmtOpt(r.WatcherCPUSeconds, "%.2f CPU-s")+" (not in the bench CPU below)", "")
		}
	}
	for _, x := range []struct {
		name string
		w    *hlsWindow
	}{{"baseline window (publisher + watcher)", &r.Baseline}, {"readers window", r.Loaded}} {
		if x.w == nil {
			continue
		}
		fmt.Fprintf(w, "\n  %s, %.1fs\n", x.name, x.w.DurationS)
		tw("  server CPU", fmtOpt(x.w.ServerCPUSeconds, "%.2f CPU-s")+" ("+fmtOpt(x.w.ServerCPUPercent, "%.1f%% of one core")+")", "")
		tw("  bench CPU (publisher, watcher, readers)", fmtOpt(x.w.BenchCPUSeconds, "%.2f CPU-s")+" ("+fmtOpt(x.w.BenchCPUPercent, "%.1f%% of one core")+")", "")
		tw("  server RSS end / peak", fmt.Sprintf("%.1f / %.1f MiB", x.w.RSSEndMiB, x.w.RSSPeakMiB), "")
		tw("  machine", "load "+x.w.LoadStart+" → "+x.w.LoadEnd+", PSI CPU some "+fmtOpt(x.w.CPUPressurePc, "%.0f%%")+", IO some "+fmtOpt(x.w.IOPressurePc, "%.1f%%"), "")
		tw("  bench stalls (10 ms sleeps)", fmt.Sprintf("%d over 100 ms, max %.0f ms", x.w.BenchStalls100ms, x.w.BenchStallMaxMS), "")
		tw("  fragments persisted", strconv.FormatInt(x.w.FragmentsPersisted, 10), "")
		tw("  listed after close (this window)", fmt.Sprintf("p50 %.1f ms, p99 %.1f ms, max %.1f ms (%d segments)",
			x.w.Listing.AfterCloseP50MS, x.w.Listing.AfterCloseP99MS, x.w.Listing.AfterCloseMaxMS, x.w.Listing.Samples), "p99 ≤ 100 ms")
		if p := x.w.Parts; p != nil {
			tw("  part listed − its duration (this window)", fmt.Sprintf("p50 %.1f ms, p99 %.1f ms, max %.1f ms (%d parts)", p.OverDurP50MS, p.OverDurP99MS, p.OverDurMaxMS, p.Samples), "p99 ≤ 20 ms")
			tw("  existing part, blocking (this window)", fmt.Sprintf("p50 %.1f ms, p99 %.1f ms (%d requests)", p.ExistingP50MS, p.ExistingP99MS, p.ExistingSamples), "")
		}
	}
	if r.Loaded != nil {
		fmt.Fprintf(w, "\n  readers (%d started)\n", r.ReadersStarted)
		cmp := "MediaMTX v1.20.1 ≈ 0.09 (plain segments)"
		if r.LL {
			cmp = "MediaMTX v1.20.1 ≈ 0.28 (LL-HLS parts)"
		}
		tw("  server CPU per reader-minute, raw", fmtOpt(r.ServerCPUPerReaderMinRaw, "%.4f CPU-s"), cmp)
		tw("  server CPU per reader-minute, net", fmtOpt(r.ServerCPUPerReaderMinNet, "%.4f CPU-s")+" (− baseline)", cmp)
		tw("  bytes served", fmt.Sprintf("%.1f MB (%.1f Mbit/s)", float64(r.BytesServed)/1e6, r.MbitPerSecond), "")
		tw("  requests", fmt.Sprintf("%d (%.1f/s): %d playlists, %d segments, %d parts, %d errors", r.Requests, r.RequestsPerSecond, r.PlaylistRequests, r.SegmentRequests, r.PartRequests, r.RequestErrors), "")
		tw("  media playlist latency", fmt.Sprintf("p50 %.1f ms, p99 %.1f ms, max %.1f ms", r.PlaylistP50MS, r.PlaylistP99MS, r.PlaylistMaxMS), "")
		if r.LL {
			tw("  part downloads", fmt.Sprintf("%d: p50 %.1f ms, p99 %.1f ms, max %.1f ms", r.PartRequests, r.PartP50MS, r.PartP99MS, r.PartMaxMS), "")
			fmt.Fprintf(w, "  (LL readers' playlist requests are blocking reloads: their latency is mostly the wait for the next part)\n")
		} else {
			tw("  segment download latency", fmt.Sprintf("p50 %.1f ms, p99 %.1f ms, max %.1f ms", r.SegmentP50MS, r.SegmentP99MS, r.SegmentMaxMS), "")
		}
		tw("  readers that fell behind", fmt.Sprintf("%d (%d segments missed, %d slower than real time)", r.ReadersFellBehind, r.SegmentsMissed, r.SegmentsSlow), "0")
	}
	if len(r.Problems) == 0 {
		fmt.Fprintf(w, "\n  RESULT: ok\n")
		return
	}
	fmt.Fprintf(w, "\n  RESULT: PROBLEMS:\n")
	writeProblems(w, r.Problems, 0)
	writeProblems(w, r.ReaderProblems, 10)
	writeLogTail(w, r.ServerLogTail)
}
