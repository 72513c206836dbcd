package bench

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// soakResults is the report of one run.
type soakResults struct {
	Cameras      int     `json:"cameras"`
	HLSReaders   int     `json:"hls_readers"`
	WHEPViewers  int     `json:"whep_viewers"`
	KDSProducers int     `json:"kds_producers"`
	KDSRate      float64 `json:"kds_records_per_second"`
	DurationS    float64 `json:"duration_seconds"` // as run, from the cameras' start
	WarmupS      float64 `json:"warmup_seconds"`
	IntervalS    float64 `json:"interval_seconds"`
	Interrupted  bool    `json:"interrupted,omitempty"`
	Clip         string  `json:"clip"`
	ClipMbitS    float64 `json:"clip_mbit_per_second"` // the file's size over its length
	Server       string  `json:"server"`
	Endpoint     string  `json:"endpoint"`
	RTSP         string  `json:"rtsp"`
	ServerPID    int     `json:"server_pid,omitempty"`
	ServerLog    string  `json:"server_log,omitempty"`
	DataDir      string  `json:"data_dir,omitempty"`
	DataMiB      float64 `json:"data_mib,omitempty"` // the started server's data directory at the end
	CPUs         int     `json:"cpus"`
	RSSIdleMiB   float64 `json:"server_rss_idle_mib"`

	// After the warm-up: the trends, the mean CPU use of the server and
	// of this process (cores), and how hard the machine was pressed.
	Trends           []soakTrend `json:"trends"`
	ServerCores      *float64    `json:"server_cpu_cores,omitempty"`
	BenchCores       *float64    `json:"bench_cpu_cores,omitempty"`
	CPUPressurePc    *float64    `json:"cpu_pressure_some_percent,omitempty"`
	IOPressurePc     *float64    `json:"io_pressure_some_percent,omitempty"`
	BenchStalls100ms int         `json:"bench_stalls_over_100ms"`
	BenchStallMaxMS  float64     `json:"bench_stall_max_ms"`
	// Over the whole run, warm-up included (errors and loss count there).
	BenchStallsRun   int     `json:"bench_stalls_over_100ms_whole_run"`
	BenchStallMaxRun float64 `json:"bench_stall_max_ms_whole_run"`
	LoadStart        string  `json:"loadavg_start"`
	LoadEnd          string  `json:"loadavg_end"`
	ScrapeErrors     int     `json:"metrics_scrape_errors"`

	Video  *ingestResults   `json:"video"` // the cameras: publisher errors, and loss from the loss window's start to the run's end
	HLS    hlsReaderStats   `json:"hls"`   // the whole run
	WHEP   soakWHEP         `json:"whep"`
	KDS    *kdsBenchResults `json:"kds,omitempty"`
	Tally  soakTally        `json:"tally"`
	Flat   bool             `json:"flat"`
	Pass   bool             `json:"pass"` // flat, no error, nothing lost
	KDSErr string           `json:"kds_error,omitempty"`

	Problems      []string     `json:"problems,omitempty"`
	ServerLogTail string       `json:"server_log_tail,omitempty"`
	Samples       []soakSample `json:"samples"`
}

// soakTally counts the errors and losses of every load.
type soakTally struct {
	PublisherErrors  int   `json:"publisher_errors"`
	HLSRequestErrors int64 `json:"hls_request_errors"`
	HLSStalls        int   `json:"hls_readers_fell_behind"`
	WHEPFailures     int   `json:"whep_failures"`
	KDSErrors        int64 `json:"kds_errors"` // failed calls and records, consumer errors, error responses
	ServerLogLines   int   `json:"server_log_warnings"`
	Errors           int64 `json:"errors"` // the sum of the above

	VideoLostS         float64 `json:"video_lost_seconds"`
	VideoGaps          int     `json:"video_gaps"`
	VideoMissing       int     `json:"video_missing_fragment_numbers"`
	VideoLossy         int     `json:"video_streams_with_loss"`
	WHEPFramesLost     int64   `json:"whep_frames_lost"`
	WHEPFramesDup      int64   `json:"whep_frames_duplicated"`
	WHEPPacketsMissing int64   `json:"whep_rtp_packets_missing"` // not recovered by a NACK
	KDSMissing         int64   `json:"kds_records_missing"`      // acknowledged, not read back (both consumers together)
	KDSDuplicates      int64   `json:"kds_records_duplicated"`   // read back more than once
	KDSIncomplete      int     `json:"kds_consumers_incomplete"`
	Lost               bool    `json:"lost"`
}

func (s *soak) newResults(idle snapshot) *soakResults {
	cfg, ib := s.cfg, s.ib
	res := &soakResults{
		Cameras: cfg.Cameras, HLSReaders: cfg.HLS, WHEPViewers: cfg.WHEP, KDSProducers: cfg.KDS, KDSRate: cfg.KDSRate,
		WarmupS: cfg.Warmup.Seconds(), IntervalS: cfg.Interval.Seconds(), Clip: ib.clip,
		Endpoint: ib.url, RTSP: ib.rtsp, ServerPID: ib.pid, CPUs: runtime.NumCPU(), RSSIdleMiB: mib(idle.rss),
		Server: "external",
	}
	if st, err := os.Stat(ib.clip); err == nil {
		if span := ib.pubs[0].pub.Span(); span > 0 {
			res.ClipMbitS = float64(st.Size()) * 8 / 1e6 / span.Seconds()
		}
	}
	if ib.child != nil {
		res.Server = "child: " + ib.child.bin + " serve (TCP only, fresh data dir)"
		if cfg.Keep {
			res.ServerLog, res.DataDir = ib.child.logPath, ib.child.dir
		}
	}
	return res
}

// results fills in the report at the end of the run: p0 opened the loss
// window (every camera recording), p1 closed it (the run's end).
func (s *soak) results(res *soakResults, video *ingestResults, p0, p1 snapshot, kds kdsOutcome) {
	res.DurationS = p1.at.Sub(s.start).Seconds()
	res.Samples = s.samples
	res.ScrapeErrors = s.scrapeErrs
	res.Trends = soakTrends(s.samples, s.cfg.Warmup.Seconds(), s.cfg.Limits)
	res.Flat = true
	for _, t := range res.Trends {
		if !t.Flat {
			res.Flat = false
			res.Problems = append(res.Problems, fmt.Sprintf("%s not flat after the warm-up: %+.3g %s/h (limit %g/h, %d samples)", t.Metric, t.SlopePerH, t.Unit, t.LimitPerH, t.Samples))
		}
	}
	s.machine(res)
	if s.ib.child != nil {
		res.DataMiB = mib(dirSize(filepath.Join(s.ib.child.dir, "data")))
	}
	res.Video = video
	tl := &res.Tally
	tl.PublisherErrors = video.PublisherErrors
	tl.ServerLogLines = len(video.ServerWarnings)
	tl.VideoLostS, tl.VideoGaps, tl.VideoMissing, tl.VideoLossy = video.LostMediaS, video.Gaps, video.MissingNumbers, video.StreamsWithLoss
	res.Problems = append(res.Problems, video.Problems...)

	res.Problems = append(res.Problems, prefixed("HLS: ", res.HLS.add(s.readers, p0.at, time.Now()))...)
	res.Problems = append(res.Problems, prefixed("HLS ", res.HLS.ReaderProblems)...)
	tl.HLSRequestErrors, tl.HLSStalls = res.HLS.RequestErrors, res.HLS.ReadersFellBehind

	res.WHEP = summarizeViewers(s.viewers)
	tl.WHEPFailures, tl.WHEPFramesLost, tl.WHEPFramesDup = res.WHEP.Failures, res.WHEP.Lost, res.WHEP.Duplicates
	tl.WHEPPacketsMissing = res.WHEP.GivenUp
	res.Problems = append(res.Problems, prefixed("WHEP: ", res.WHEP.Problems)...)
	if s.cfg.WHEP > 0 && res.WHEP.Frames == 0 {
		res.Problems = append(res.Problems, "WHEP: no frame received")
	}

	s.kdsResults(res, kds)
	tl.Errors = int64(tl.PublisherErrors) + tl.HLSRequestErrors + int64(tl.HLSStalls) + int64(tl.WHEPFailures) + tl.KDSErrors + int64(tl.ServerLogLines) + int64(res.ScrapeErrors)
	tl.Lost = video.Loss || tl.WHEPFramesLost > 0 || tl.WHEPFramesDup > 0 || tl.WHEPPacketsMissing > 0 || tl.KDSMissing > 0 || tl.KDSDuplicates > 0 || tl.KDSIncomplete > 0
	if res.ScrapeErrors > 0 {
		res.Problems = append(res.Problems, fmt.Sprintf("%d /metrics scrapes failed", res.ScrapeErrors))
	}
	res.Pass = res.Flat && tl.Errors == 0 && !tl.Lost && !res.Interrupted && len(res.Problems) == 0
	if !res.Pass && s.ib.child != nil {
		res.ServerLogTail = s.ib.child.Tail(30)
	}
}

// machine fills in the CPU use of the server and of the bench after the
// warm-up, and the machine's pressure and the bench's stalls then.
func (s *soak) machine(res *soakResults) {
	res.BenchStallsRun, res.BenchStallMaxRun = s.ib.stalls.summary(s.start, s.end.at)
	from := s.start.Add(s.cfg.Warmup)
	var first, last *soakSample
	for i := range s.samples {
		if !s.samples[i].At.Before(from) {
			if first == nil {
				first = &s.samples[i]
			}
			last = &s.samples[i]
		}
	}
	if first == nil || last == first {
		return
	}
	win := last.T - first.T
	if first.CPUSeconds >= 0 && last.CPUSeconds >= 0 {
		c := (last.CPUSeconds - first.CPUSeconds) / win
		res.ServerCores = &c
	}
	if first.BenchCPU >= 0 && last.BenchCPU >= 0 {
		c := (last.BenchCPU - first.BenchCPU) / win
		res.BenchCores = &c
	}
	res.BenchStalls100ms, res.BenchStallMaxMS = s.ib.stalls.summary(first.At, last.At)
	if !s.warm.at.IsZero() {
		res.CPUPressurePc = psiPercent(s.warm, s.end, "cpu_some")
		res.IOPressurePc = psiPercent(s.warm, s.end, "io_some")
		res.LoadStart, res.LoadEnd = s.warm.load, s.end.load
	}
}

// kdsResults adds the KDS load's errors and loss.
func (s *soak) kdsResults(res *soakResults, kds kdsOutcome) {
	if s.cfg.KDS == 0 {
		return
	}
	tl := &res.Tally
	if kds.err != nil {
		res.KDSErr = kds.err.Error()
		tl.KDSErrors++
		res.Problems = append(res.Problems, "KDS: the load did not run: "+kds.err.Error())
	}
	k := kds.res
	res.KDS = k
	if k == nil {
		return
	}
	tl.KDSErrors += k.Put.CallErrors + k.Put.FailedRecords
	for op, n := range k.Errors {
		tl.KDSErrors += n
		res.Problems = append(res.Problems, fmt.Sprintf("KDS: %d failed calls %s", n, op))
	}
	for code, n := range k.HTTP.ErrorResponses {
		tl.KDSErrors += n
		res.Problems = append(res.Problems, fmt.Sprintf("KDS: %d error responses %s", n, code))
	}
	if k.Put.FailedRecords > 0 {
		res.Problems = append(res.Problems, fmt.Sprintf("KDS: %d records failed in PutRecords answers: %v", k.Put.FailedRecords, k.Put.FailedByCode))
	}
	if k.Put.Records == 0 {
		res.Problems = append(res.Problems, "KDS: no record was acknowledged")
	}
	for _, c := range []*kdsConsumeResults{k.GetRecords, k.SubscribeToShard} {
		if c == nil {
			continue
		}
		name := "GetRecords"
		if c == k.SubscribeToShard {
			name = "SubscribeToShard"
		}
		tl.KDSErrors += c.Errors
		tl.KDSMissing += max(0, c.Expected-c.Received)
		tl.KDSDuplicates += c.Duplicates
		if !c.Complete {
			tl.KDSIncomplete++
			res.Problems = append(res.Problems, fmt.Sprintf("KDS %s: %d of %d acknowledged records read back, %d duplicated; per-shard counts or sequence-number checksums differ (not every acknowledged record read back once)",
				name, c.Received, c.Expected, c.Duplicates))
		}
		if c.Errors > 0 {
			res.Problems = append(res.Problems, fmt.Sprintf("KDS %s: %d errors", name, c.Errors))
		}
	}
}

func prefixed(prefix string, lines []string) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = prefix + l
	}
	return out
}

// dirSize is the size of the files under dir.
func dirSize(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// progressLine describes the run so far: the server now (and its CPU use
// since prev), and every load's totals.
func (s *soak) progressLine(p snapshot, prev, cur soakSample) string {
	var b strings.Builder
	fmt.Fprintf(&b, "soak +%v/%v: server RSS %.0f MiB, %.0f goroutines, %.0f fds", time.Duration(cur.T*float64(time.Second)).Round(time.Second),
		s.cfg.Duration, cur.RSSMiB, cur.Goroutines, cur.FDs)
	if dt := cur.T - prev.T; dt > 0 && prev.CPUSeconds >= 0 && cur.CPUSeconds >= 0 {
		fmt.Fprintf(&b, ", CPU %.0f%% (bench %.0f%%)", 100*(cur.CPUSeconds-prev.CPUSeconds)/dt, 100*(cur.BenchCPU-prev.BenchCPU)/dt)
	}
	if dt := cur.T - prev.T; dt > 0 && prev.PSIIOSome >= 0 && cur.PSIIOSome >= 0 {
		fmt.Fprintf(&b, "; machine PSI some CPU %.0f%%, I/O %.0f%%", 100*(cur.PSICPUSome-prev.PSICPUSome)/dt, 100*(cur.PSIIOSome-prev.PSIIOSome)/dt)
	}
	if p.metricsErr != nil {
		fmt.Fprintf(&b, "; /metrics failed: %v", p.metricsErr)
	} else {
		fmt.Fprintf(&b, "; %.0f fragments", p.metrics["eddy_fragments_persisted_total"])
	}
	pubErrs := 0
	for _, pb := range s.ib.pubs {
		pb.mu.Lock()
		pubErrs += len(pb.errs)
		pb.mu.Unlock()
	}
	s.mu.Lock()
	readers, viewers := len(s.readers), s.viewers
	s.mu.Unlock()
	w := summarizeViewers(viewers)
	fmt.Fprintf(&b, "; cameras %d errors; HLS %d readers, %d requests, %d errors, %d fell behind; WHEP %d/%d up, %d frames, %d lost (RTP: %d reordered, %d missing), %d failures",
		pubErrs, readers, s.hlsLive.requests.Load(), s.hlsLive.errors.Load(), s.hlsLive.behind.Load(), w.Connected, w.Viewers, w.Frames, w.Lost, w.Reordered, w.GivenUp, w.Failures)
	if p.load != "" {
		fmt.Fprintf(&b, "; load %s", p.load)
	}
	return b.String()
}

func (r *soakResults) writeText(w io.Writer) {
	fmt.Fprintf(w, "\neddy bench soak: %d cameras, %d HLS readers, %d WHEP viewers, %d KDS producers (%.0f records/s) for %v",
		r.Cameras, r.HLSReaders, r.WHEPViewers, r.KDSProducers, r.KDSRate, time.Duration(r.DurationS*float64(time.Second)).Round(time.Second))
	if r.Interrupted {
		fmt.Fprintf(w, " (INTERRUPTED)")
	}
	fmt.Fprintf(w, "\n  trends after a %v warm-up, samples every %v\n", time.Duration(r.WarmupS*float64(time.Second)), time.Duration(r.IntervalS*float64(time.Second)))
	fmt.Fprintf(w, "  clip     %s (%.2f Mbit/s)\n", r.Clip, r.ClipMbitS)
	fmt.Fprintf(w, "  server   %s, pid %d, %s, rtsp://%s", r.Server, r.ServerPID, r.Endpoint, r.RTSP)
	if r.DataMiB > 0 {
		fmt.Fprintf(w, "; data %.0f MiB at the end", r.DataMiB)
	}
	fmt.Fprintf(w, "\n  machine  %d CPUs; after the warm-up the server used %s cores and the bench %s; PSI some CPU %s, I/O %s; bench stalls ≥ 100 ms: %d (max %.0f ms; whole run %d, max %.0f ms); load %s → %s\n\n",
		r.CPUs, fmtOpt(r.ServerCores, "%.2f"), fmtOpt(r.BenchCores, "%.2f"), fmtOpt(r.CPUPressurePc, "%.0f%%"), fmtOpt(r.IOPressurePc, "%.0f%%"),
		r.BenchStalls100ms, r.BenchStallMaxMS, r.BenchStallsRun, r.BenchStallMaxRun, r.LoadStart, r.LoadEnd)
	fmt.Fprintf(w, "  %-16s %-26s %-24s %-12s %s\n", "TREND", "slope per hour (±95%)", "min – max", "flat limit", "")
	for _, t := range r.Trends {
		verdict := "flat"
		switch {
		case !t.Flat:
			verdict = "NOT FLAT"
		case t.Noisy:
			verdict = "flat within noise"
		}
		fmt.Fprintf(w, "  %-16s %-26s %-24s %-12s %s\n", t.Metric, fmt.Sprintf("%+.3g %s (±%.2g)", t.SlopePerH, t.Unit, t.CI95PerH),
			fmt.Sprintf("%.4g – %.4g %s", t.Min, t.Max, t.Unit), fmt.Sprintf("≤ %g", t.LimitPerH), fmt.Sprintf("%s (%d samples)", verdict, t.Samples))
	}
	tl := r.Tally
	tw := table{w, 30, 0}.row
	fmt.Fprintf(w, "\n  ERRORS\n")
	tw("cameras", fmt.Sprintf("%d publisher errors", tl.PublisherErrors), "")
	tw("HLS readers", fmt.Sprintf("%d started, %d requests (%.1f/s, %.1f Mbit/s), %d errors, %d fell behind (%d segments missed, %d slower than real time)",
		r.HLS.ReadersStarted, r.HLS.Requests, r.HLS.RequestsPerSecond, r.HLS.MbitPerSecond, r.HLS.RequestErrors, r.HLS.ReadersFellBehind, r.HLS.SegmentsMissed, r.HLS.SegmentsSlow), "")
	tw("  latency", fmt.Sprintf("media playlist p50 %.1f / p99 %.1f / max %.1f ms; segment p50 %.1f / p99 %.1f / max %.1f ms",
		r.HLS.PlaylistP50MS, r.HLS.PlaylistP99MS, r.HLS.PlaylistMaxMS, r.HLS.SegmentP50MS, r.HLS.SegmentP99MS, r.HLS.SegmentMaxMS), "")
	tw("WHEP viewers", fmt.Sprintf("%d connected at the end, %d connects, %d failures", r.WHEP.Connected, r.WHEP.Connects, r.WHEP.Failures), "")
	if k := r.KDS; k != nil {
		tw("KDS", fmt.Sprintf("%d PutRecords calls failed, %d records failed, %d errors in all", k.Put.CallErrors, k.Put.FailedRecords, tl.KDSErrors), "")
	}
	tw("server log", fmt.Sprintf("%d warnings/errors", tl.ServerLogLines), "")
	if r.ScrapeErrors > 0 {
		tw("/metrics", fmt.Sprintf("%d scrapes failed", r.ScrapeErrors), "")
	}
	fmt.Fprintf(w, "\n  LOSS\n")
	if v := r.Video; v != nil {
		tw("video (exact, per stream)", fmt.Sprintf("sent %.1f s, listed %.1f s, lost %.3f s; %d gaps, %d missing fragment numbers; %d of %d streams with loss",
			v.SentMediaS, v.ListedMediaS, v.LostMediaS, v.Gaps, v.MissingNumbers, v.StreamsWithLoss, v.Streams), "")
		tw("  fragments", fmt.Sprintf("%d listed over %.0f s, ≈ %.0f expected (streams × span / GOP %.2f s); %d persisted (metrics)",
			v.FragmentsListed, v.DurationS, v.FragmentsExpected, v.GOPS, v.FragmentsPersisted), "")
	}
	tw("WHEP frames (exact)", fmt.Sprintf("%d received, %d lost, %d duplicated (SEI frame numbers within each connection); RTP: %d packets put back in order (NACK), %d never came",
		r.WHEP.Frames, r.WHEP.Lost, r.WHEP.Duplicates, r.WHEP.Reordered, r.WHEP.GivenUp), "")
	if k := r.KDS; k != nil && k.GetRecords != nil && k.SubscribeToShard != nil {
		tw("KDS records (exact)", fmt.Sprintf("%d acknowledged; GetRecords %d read back (%d dup, complete %v); SubscribeToShard %d (%d dup, complete %v)",
			k.Put.Records, k.GetRecords.Received, k.GetRecords.Duplicates, k.GetRecords.Complete, k.SubscribeToShard.Received, k.SubscribeToShard.Duplicates, k.SubscribeToShard.Complete), "")
	}
	if r.Pass {
		fmt.Fprintf(w, "\n  RESULT: PASS: flat after the warm-up, no error, nothing lost\n")
		return
	}
	fmt.Fprintf(w, "\n  RESULT: FAIL (flat %v, %d errors, loss %v):\n", r.Flat, tl.Errors, tl.Lost)
	writeProblems(w, r.Problems, 30)
	writeLogTail(w, r.ServerLogTail)
}
