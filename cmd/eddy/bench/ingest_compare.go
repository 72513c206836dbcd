package bench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"syscall"
	"time"
)

// eddy bench ingest --compare PATH: MediaMTX (the binary at PATH) and
// Eddy measured in one invocation, one after the other (MediaMTX first
// unless --compare-order eddy-first), each started fresh as a child, with
// the same clip, the same publishers (bench ingest's looping
// rtspclient.FilePublisher, RTSP over TCP, the same stream names), the
// same stagger, warm-up and window. The MediaMTX side measures what bench
// ingest measures of Eddy that /proc can tell: CPU time (utime + stime)
// over the window, RSS (idle before publishing, at the window's end,
// peak), and, since it has no ListFragments, that it recorded: the growth
// of its recordings over the window against streams × the clip's media
// bitrate × window. The Eddy side is runIngestBench, unchanged (plus its
// data directory's growth over the window). Between the two, the bench
// syncs the file systems (MediaMTX does not fsync: its dirty pages are
// written back then, not during Eddy's window) and pauses.

const (
	compareMediaMTXFirst = "mediamtx-first"
	compareEddyFirst     = "eddy-first"
	// compareTargetCPURatio is issue 18's target: Eddy's server CPU per
	// recorded stream-minute at most half MediaMTX v1.20.1's.
	compareTargetCPURatio = 0.5
	// compareMinRecorded is the share of the expected bytes (streams ×
	// media bitrate × window) below which a side's writes over its window
	// are reported as short: the server fell behind, and its CPU time over
	// the window undercounts its work (a problem; MediaMTX recording
	// nothing at all makes the comparison invalid).
	compareMinRecorded = 0.8
	// compareMaxStalls is how many of the bench's 10 ms sleeps may
	// overrun by 100 ms or more in a window before the report calls the
	// machine too busy for the figures to be trusted.
	compareMaxStalls = 5
	// compareMaxPressureGap is the difference of CPU pressure (PSI some,
	// percentage points) between the two windows above which the machine
	// counts as busy in one of them.
	compareMaxPressureGap = 20.0
	// compareMaxLateShare is the share of the units sent above which the
	// samples MediaMTX discards as received too late are a problem (any
	// within the window is one).
	compareMaxLateShare = 0.01
	// compareMediaMTXVersion is the MediaMTX the comparison names; another
	// version is reported, and the comparison cannot PASS.
	compareMediaMTXVersion = "v1.20.1"
)

// compareAbout is the --help text of --compare.
const compareAbout = `With --compare PATH (a MediaMTX v1.20.1 binary) it measures MediaMTX, then
Eddy (--compare-order eddy-first: the other way round), in the same
invocation: the same clip, the same publishers and stream names, RTSP over
TCP, the same stagger, warm-up and window, each server started fresh on
loopback. MediaMTX runs with a config the bench writes: RTSP over TCP only,
every other server off, every path recorded as fMP4 (its defaults: 1 s
parts, 1 h segments) into a temporary directory, udpMaxPayloadSize 1472
(else it re-packetizes the publishers' 1450-byte RTP payloads, work a camera
sending smaller ones would not cause), its defaults otherwise. Note that
MediaMTX writes its recordings without fsync and keeps no index; Eddy fsyncs
every fragment before it is listed and indexes it (and keeps LL-HLS, WebRTC
and events available). Eddy's side scrapes Eddy's /metrics in its window
(MediaMTX runs with its metrics off), and --server-profile profiles Eddy
only; each costs Eddy under 1% of its CPU time. MediaMTX's recording is checked by the bytes it wrote
over the window against streams × the clip's media bitrate × window (nothing
written: the comparison is invalid). The report adds MediaMTX's figures and
the ratios Eddy/MediaMTX of CPU per stream-minute and RSS per stream; PASS
when the CPU ratio is at most 0.5 (issue 18's target), else FAIL (exit
status 1). A ratio within the target is INVALID instead (exit status 1)
when Eddy's side cannot be trusted (it wrote under 80% of the expected
bytes, lost data or had publisher errors, or its window was busy, a CPU
pressure 20 points apart from MediaMTX's window included) or the binary
is not MediaMTX v1.20.1. Measure on a quiet machine: the report names a
window in which the machine was busy or a server fell behind.`

// mediamtxBuildSteps says how to build the MediaMTX of the comparison (the
// README's "Video benchmarks" section says the same).
const mediamtxBuildSteps = `git clone --depth 1 --branch v1.20.1 https://github.com/bluenviron/mediamtx && cd mediamtx && ` +
	`printf v1.20.1 > internal/core/VERSION && ` +
	`printf '// placeholder\n' > internal/servers/hls/hls.min.js && ` +
	`CGO_ENABLED=0 go build -o /tmp/mediamtx-v1.20.1 . ` +
	`(hls.min.js is a placeholder: the comparison turns HLS off; the README's "Video benchmarks" section has these steps)`

// errIngestCompareFailed is the exit of a comparison that ran but missed
// the target or was invalid (the report says which).
var errIngestCompareFailed = errors.New("bench ingest --compare: FAIL")

// validateCompare checks the --compare flags (part of validate).
func (c *ingestBenchConfig) validateCompare() []error {
	var errs []error
	switch c.CompareOrder {
	case "", compareMediaMTXFirst:
	case compareEddyFirst:
		if c.Compare == "" {
			errs = append(errs, errors.New("--compare-order applies with --compare"))
		}
	default:
		errs = append(errs, fmt.Errorf("--compare-order is %s or %s, not %q", compareMediaMTXFirst, compareEddyFirst, c.CompareOrder))
	}
	if c.Compare == "" {
		return errs
	}
	if c.Endpoint != "" {
		errs = append(errs, errors.New("--compare starts both servers itself, fresh, one after the other; it does not apply with --endpoint"))
	}
	st, err := os.Stat(c.Compare)
	switch {
	case err != nil:
		errs = append(errs, fmt.Errorf("--compare: %w (build MediaMTX %s there first: %s)", err, compareMediaMTXVersion, mediamtxBuildSteps))
	case !st.Mode().IsRegular() || st.Mode().Perm()&0o111 == 0:
		errs = append(errs, fmt.Errorf("--compare: %s is not an executable file", c.Compare))
	}
	return errs
}

// ingestCompareResults is the report of a comparison.
type ingestCompareResults struct {
	Order     []string `json:"order"` // the servers, in the order measured
	Streams   int      `json:"streams"`
	DurationS float64  `json:"duration_seconds"` // each window, as configured
	WarmupS   float64  `json:"warmup_seconds"`
	StaggerS  float64  `json:"stagger_seconds"`
	PauseS    float64  `json:"pause_seconds"`
	Clip      string   `json:"clip"`
	Transport string   `json:"transport"`

	MediaMTX *mediamtxIngestResults `json:"mediamtx"`
	Eddy     *ingestResults         `json:"eddy"`

	// Eddy / MediaMTX.
	CPURatio       *float64 `json:"cpu_per_stream_minute_ratio,omitempty"`
	RSSGrowthRatio *float64 `json:"rss_growth_per_stream_ratio,omitempty"` // (end − idle) / streams
	RSSPeakRatio   *float64 `json:"rss_peak_per_stream_ratio,omitempty"`   // VmHWM / streams
	// (VmHWM − idle) / streams
	RSSPeakGrowthRatio *float64 `json:"rss_peak_growth_per_stream_ratio,omitempty"`
	TargetCPURatio     float64  `json:"target_cpu_ratio"`
	// EddyWrittenRatio is Eddy's data directory growth over its window
	// against streams × the clip's media bytes per second × window, as
	// MediaMTX's RecordedRatio: well under 1, the server fell behind and
	// its CPU time over the window undercounts the work.
	EddyWrittenRatio *float64 `json:"eddy_written_ratio,omitempty"`
	Verdict          string   `json:"verdict"` // PASS, FAIL or INVALID
	Pass             bool     `json:"pass"`
	// Problems are what makes the comparison invalid or doubtful; each
	// side's own problems are in its report.
	Problems []string `json:"problems,omitempty"`
}

func runIngestCompare(ctx context.Context, cfg ingestBenchConfig) (*ingestCompareResults, error) {
	lg := logger{log: cfg.Log}
	// One clip and one prefix for both sides.
	clip, err := clipOrDefault(ctx, cfg.Clip, lg.logf)
	if err != nil {
		return nil, err
	}
	cfg.Clip = clip
	if cfg.Prefix == "" {
		cfg.Prefix = "bench-" + time.Now().Format("150405")
	}
	res := &ingestCompareResults{
		Streams: cfg.Streams, DurationS: cfg.Duration.Seconds(), WarmupS: cfg.Warmup.Seconds(),
		StaggerS: cfg.Stagger.Seconds(), PauseS: cfg.Pause.Seconds(), Clip: clip, Transport: "RTSP over TCP",
		TargetCPURatio: compareTargetCPURatio,
	}
	type side struct {
		name string
		run  func() error
	}
	mediamtx := side{"MediaMTX", func() error {
		r, err := runMediaMTXIngest(ctx, cfg)
		res.MediaMTX = r
		return err
	}}
	eddy := side{"Eddy", func() error {
		r, err := runIngestBench(ctx, cfg)
		res.Eddy = r
		return err
	}}
	sides := []side{mediamtx, eddy}
	if cfg.CompareOrder == compareEddyFirst {
		sides = []side{eddy, mediamtx}
	}
	for i, s := range sides {
		if i > 0 {
			// The first server's recordings written back now, not in the
			// second's window.
			syscall.Sync()
			if err := sleepCtx(ctx, cfg.Pause); err != nil {
				return partialCompare(res, err)
			}
		}
		lg.logf("— %s (%d of 2) —", s.name, i+1)
		res.Order = append(res.Order, s.name)
		if err := s.run(); err != nil {
			return partialCompare(res, fmt.Errorf("%s: %w", s.name, err))
		}
	}
	res.finish()
	if !res.Pass {
		return res, errIngestCompareFailed
	}
	return res, nil
}

// partialCompare is the result of a comparison that stopped with err:
// the sides measured so far, or nothing when there are none.
func partialCompare(res *ingestCompareResults, err error) (*ingestCompareResults, error) {
	if res.MediaMTX == nil && res.Eddy == nil {
		return nil, err
	}
	res.finish()
	res.Verdict, res.Pass = "INVALID", false
	res.Problems = append(res.Problems, "the comparison stopped: "+err.Error())
	return res, err
}

// finish computes the ratios and the verdict.
func (r *ingestCompareResults) finish() {
	m, e := r.MediaMTX, r.Eddy
	invalid := func(format string, args ...any) {
		r.Verdict = "INVALID"
		r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
	}
	if m == nil || e == nil {
		invalid("only one server was measured")
		return
	}
	r.CPURatio = ratioOpt(e.ServerCPUPerStreamMinute, m.ServerCPUPerStreamMinute)
	if e.RSSGrowthPerStreamMiB > 0 && m.RSSGrowthPerStreamMiB > 0 {
		v := e.RSSGrowthPerStreamMiB / m.RSSGrowthPerStreamMiB
		r.RSSGrowthRatio = &v
	}
	if e.RSSPeakPerStreamMiB > 0 && m.RSSPeakPerStreamMiB > 0 {
		v := e.RSSPeakPerStreamMiB / m.RSSPeakPerStreamMiB
		r.RSSPeakRatio = &v
	}
	if e.RSSPeakGrowthPerStreamMiB > 0 && m.RSSPeakGrowthPerStreamMiB > 0 {
		v := e.RSSPeakGrowthPerStreamMiB / m.RSSPeakGrowthPerStreamMiB
		r.RSSPeakGrowthRatio = &v
	}
	// noPass: Eddy's side (or the MediaMTX measured) cannot be trusted; a
	// ratio that meets the target is then INVALID, not PASS (a FAIL
	// stands: Eddy's CPU time undercounts when it fell behind or lost).
	noPass := false
	if e.DataGrowthBytes != nil && m.MediaBytesPerS > 0 && e.DurationS > 0 {
		v := float64(*e.DataGrowthBytes) / (float64(r.Streams) * m.MediaBytesPerS * e.DurationS)
		r.EddyWrittenRatio = &v
		if v < compareMinRecorded {
			r.Problems = append(r.Problems, fmt.Sprintf("Eddy wrote %.0f%% of the expected bytes in its window: it fell behind, its CPU per stream-minute undercounts", 100*v))
			noPass = true
		}
	}
	if m.RecordedBytes <= 0 {
		invalid("MediaMTX recorded nothing in its window (%s): it did not do the work Eddy is compared with", m.RecordDir)
	} else if m.RecordedRatio < compareMinRecorded {
		r.Problems = append(r.Problems, fmt.Sprintf("MediaMTX recorded %.0f%% of the expected bytes in its window: it fell behind, its CPU per stream-minute undercounts", 100*m.RecordedRatio))
	}
	if m.Version != compareMediaMTXVersion {
		r.Problems = append(r.Problems, fmt.Sprintf("MediaMTX %q is not %s, the version the comparison names", m.Version, compareMediaMTXVersion))
		noPass = true
	}
	if r.CPURatio == nil {
		invalid("the CPU time of one server could not be read from /proc")
	}
	if m.PublisherErrors > 0 {
		r.Problems = append(r.Problems, fmt.Sprintf("MediaMTX: %d publisher error(s)", m.PublisherErrors))
	}
	if e.PublisherErrors > 0 || e.Loss {
		r.Problems = append(r.Problems, fmt.Sprintf("Eddy: loss or errors (%d publisher errors; see its report)", e.PublisherErrors))
		noPass = true
	}
	busy := func(name string, late200, stalls int, stallMax float64, psi *float64) bool {
		if late200 > 0 || stalls > compareMaxStalls {
			r.Problems = append(r.Problems, fmt.Sprintf("%s's window: the machine was busy (CPU pressure %s, %d bench stalls ≥ 100 ms, max %.0f ms, %d units sent ≥ 200 ms late): its figures are doubtful; measure on a quiet machine",
				name, fmtOpt(psi, "%.0f%%"), stalls, stallMax, late200))
			return true
		}
		return false
	}
	busy("MediaMTX", m.PublisherLate200, m.BenchStalls100ms, m.BenchStallMaxMS, m.CPUPressurePc)
	if busy("Eddy", e.PublisherLate200, e.BenchStalls100ms, e.BenchStallMaxMS, e.CPUPressurePc) {
		noPass = true
	}
	if m.CPUPressurePc != nil && e.CPUPressurePc != nil && math.Abs(*m.CPUPressurePc-*e.CPUPressurePc) > compareMaxPressureGap {
		r.Problems = append(r.Problems, fmt.Sprintf("CPU pressure differed by more than %.0f points between the windows (MediaMTX %.0f%%, Eddy %.0f%%): the machine was busy in one; measure on a quiet machine",
			compareMaxPressureGap, *m.CPUPressurePc, *e.CPUPressurePc))
		noPass = true
	}
	if r.Verdict == "INVALID" {
		return
	}
	r.Pass = *r.CPURatio <= r.TargetCPURatio
	r.Verdict = "FAIL"
	if r.Pass {
		r.Verdict = "PASS"
		if noPass {
			r.Verdict, r.Pass = "INVALID", false
		}
	}
}

func ratioOpt(a, b *float64) *float64 {
	if a == nil || b == nil || *b <= 0 {
		return nil
	}
	v := *a / *b
	return &v
}

// mediamtxIngestResults is the MediaMTX side of a comparison.
type mediamtxIngestResults struct {
	Binary    string `json:"binary"`
	Version   string `json:"version,omitempty"` // from its log
	Config    string `json:"config"`            // the mediamtx.yml the bench wrote
	RTSP      string `json:"rtsp"`
	ServerPID int    `json:"server_pid"`
	RecordDir string `json:"record_dir"`
	Dir       string `json:"dir,omitempty"` // kept with --keep

	procFigures
	// What it recorded over the window: the growth of its recordings
	// against streams × the clip's media bytes per second × window.
	RecordedBytes  int64   `json:"recorded_bytes_window"`
	RecordedFiles  int     `json:"recorded_files"` // at the window's end
	MediaBytesPerS float64 `json:"clip_media_bytes_per_second"`
	ExpectedBytes  float64 `json:"expected_bytes_window"`
	RecordedRatio  float64 `json:"recorded_ratio"`

	// LateDiscarded counts the samples MediaMTX's recorder discarded as
	// received too late (its log), over the run and within the window;
	// UnitsSent is the video units the publishers sent over the run.
	LateDiscarded       int `json:"late_samples_discarded"`
	LateDiscardedWindow int `json:"late_samples_discarded_window"`
	UnitsSent           int `json:"units_sent"`

	PublisherErrors int      `json:"publisher_errors"`
	Reconnects      int      `json:"publisher_reconnects"`
	Problems        []string `json:"problems,omitempty"`
	ServerWarnings  []string `json:"server_warnings,omitempty"` // WAR/ERR lines of its log
	ServerLogTail   string   `json:"server_log_tail,omitempty"`
}

// mediamtxVersion finds the version in MediaMTX's first log line
// ("INF MediaMTX v1.20.1").
var mediamtxVersion = regexp.MustCompile(`MediaMTX (v[0-9][^\s,]*)`)

// runMediaMTXIngest is the MediaMTX side: bench ingest's publishers,
// stagger, warm-up and window against MediaMTX started fresh.
func runMediaMTXIngest(ctx context.Context, cfg ingestBenchConfig) (*mediamtxIngestResults, error) {
	b, err := newIngestBench(ctx, cfg)
	if err != nil {
		return nil, err
	}
	mtx, err := startMediaMTX(ctx, cfg.Compare, b.logf)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err := mtx.Stop(b.logf); err != nil {
			b.logf("MediaMTX stopped with: %v", err)
		}
		if cfg.Keep {
			b.logf("kept MediaMTX's directory %s", mtx.dir)
		} else {
			_ = os.RemoveAll(mtx.dir)
		}
	}()
	b.rtsp, b.pid = mtx.rtsp, mtx.pid()
	ctx, cancelRun := mtx.watch(ctx)
	defer cancelRun(nil)

	conf, _ := os.ReadFile(filepath.Join(mtx.dir, "mediamtx.yml"))
	res := &mediamtxIngestResults{Binary: cfg.Compare, Config: string(conf), RTSP: mtx.rtsp, ServerPID: mtx.pid(), RecordDir: mtx.recDir}
	if m := mediamtxVersion.FindStringSubmatch(mtx.Tail(20)); m != nil {
		res.Version = m[1]
	}
	if cfg.Keep {
		res.Dir = mtx.dir
	}
	res.MediaBytesPerS = clipMediaBytesPerSecond(b.pubs[0])

	idle := b.probe(ctx)
	stopAll := b.publish(ctx)
	defer stopAll()
	b.logf("%d publishers → rtsp://%s/%s-NNN (%s); warm-up %v, window %v", cfg.Streams, b.rtsp, b.prefix, b.clip, cfg.Stagger+cfg.Warmup, cfg.Duration)
	if err := sleepCtx(ctx, cfg.Stagger+cfg.Warmup); err != nil {
		return nil, runErr(ctx, err)
	}
	rec0 := dirBytes(mtx.recDir)
	b.progress = progressRecorded(mtx.recDir, rec0)
	p0, p1, err := b.window(ctx, cfg.Duration, cfg.Progress, b.logf)
	if err != nil {
		return nil, runErr(ctx, err)
	}
	res.RecordedBytes = dirBytes(mtx.recDir) - rec0
	res.RecordedFiles = dirFiles(mtx.recDir)
	stopAll()

	b.mediamtxResults(res, idle, p0, p1)
	res.ServerWarnings = mtx.warnings()
	res.LateDiscarded, res.LateDiscardedWindow = countMediaMTXLate(mtx.lines(), p0.at, p1.at)
	if res.LateDiscardedWindow > 0 || float64(res.LateDiscarded) > compareMaxLateShare*float64(res.UnitsSent) {
		res.Problems = append(res.Problems, fmt.Sprintf("MediaMTX discarded %d samples as received too late (%d within the window; %d video units sent): it recorded less than it was sent",
			res.LateDiscarded, res.LateDiscardedWindow, res.UnitsSent))
	}
	if l := mtx.logLines(mediamtxRemuxLog); len(l) > 0 {
		res.Problems = append(res.Problems, fmt.Sprintf("MediaMTX re-packetized RTP (work a camera with smaller packets would not cause), e.g. %s", l[0]))
	}
	if len(res.Problems) > 0 {
		res.ServerLogTail = mtx.Tail(40)
	}
	return res, nil
}

// mediamtxResults fills in res from the snapshots (before publishing, at
// the window's edges) and the publishers, as results does for Eddy.
func (b *ingestBench) mediamtxResults(res *mediamtxIngestResults, idle, p0, p1 snapshot) {
	b.procFigures(&res.procFigures, idle, p0, p1)
	res.ExpectedBytes = float64(b.cfg.Streams) * res.MediaBytesPerS * p1.at.Sub(p0.at).Seconds()
	if res.ExpectedBytes > 0 {
		res.RecordedRatio = float64(res.RecordedBytes) / res.ExpectedBytes
	}
	for _, p := range b.pubs {
		p.mu.Lock()
		res.PublisherErrors += len(p.errs)
		res.Reconnects += max(p.connects-1, 0)
		res.UnitsSent += len(p.units)
		if len(p.errs) > 0 {
			res.Problems = append(res.Problems, fmt.Sprintf("%s: %d publisher error(s), first: %s", p.name, len(p.errs), p.errs[0]))
		}
		p.mu.Unlock()
	}
	if res.RecordedBytes <= 0 {
		res.Problems = append(res.Problems, "nothing recorded under "+res.RecordDir+" in the window")
	}
}

// clipMediaBytesPerSecond is the clip's media payload per second of one
// pass as an MP4 stores it: video NAL units with 4-byte lengths, AAC
// frames.
func clipMediaBytesPerSecond(p *publisher) float64 {
	span := p.pub.Span()
	if span <= 0 {
		return 0
	}
	var n int
	for _, s := range p.pub.Samples() {
		for _, d := range s.Data {
			n += len(d)
			if s.Media.Type == "video" {
				n += 4
			}
		}
	}
	return float64(n) / span.Seconds()
}
