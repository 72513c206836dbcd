package bench

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// eddy bench putmedia: the same clip ingested two ways by the same number
// of streams, one after the other, into one server the bench starts as a
// child process:
//
//   - rtsp: bench ingest's looping RTSP publishers (ingestBench: the same
//     publishers, window, settle and loss checks);
//   - putmedia: as many PutMedia producers (package cmd/eddy/putmedia, the
//     code of `eddy putmedia`), each looping the clip in real time, one
//     MKV Cluster per GOP with its size (the producer's default, so that
//     the server knows a Cluster has ended at its last byte), on one
//     connection per stream, unsigned (the started server has no
//     credentials), unacknowledged Clusters kept in memory;
//   - putmedia, unknown size (unless --unknown-size=false): the same with
//     Clusters of unknown size, as the KVS producer SDKs, ffmpeg's and
//     GStreamer's Matroska muxers send them. The server can know such a
//     Cluster has ended only when the next one starts, about one GOP after
//     its last byte.
//
// Each phase has a warm-up and a measured window of the same length: the
// server's CPU time over the window per stream-minute, and its ratio to
// RTSP's. In the PutMedia windows the bench times every Cluster on the
// wire (putmedia_wire.go) and pairs the acks with the Clusters by
// connection and timecode: the latency from the moment the server could
// know a Cluster had ended (its last byte with a size; the next Cluster's
// first byte without) to its PERSISTED ack, p50, p99 and maximum. The
// issue's p99 ≤ 50 ms is judged on the Clusters of known size; the
// unknown-size figures are reported beside it. In both, every Cluster
// that ended in the window must be acknowledged PERSISTED (no ERROR ack,
// no ack before its Cluster ended or without a Cluster, none resent on a
// new connection, no producer warning), and every acknowledged fragment
// number must be listed by ListFragments.

// putMediaBenchConfig configures one run.
type putMediaBenchConfig struct {
	Streams  int
	Duration time.Duration // each phase's measured window
	Warmup   time.Duration // after a phase's last client started, before its window
	Stagger  time.Duration // a phase's clients start spread over this
	Settle   time.Duration // longest wait after a window for its last fragments and acks
	Pause    time.Duration // between the phases, for the server to wind the last down
	Clip     string        // MP4 every phase sends; "" = bench ingest's default clip
	MaxP99   time.Duration // target: Cluster end → PERSISTED ack, p99 (Clusters of known size)
	// UnknownSize adds a third phase: PutMedia with Clusters of unknown
	// size.
	UnknownSize bool

	childConfig

	Prefix   string        // stream name prefix; "" = bench-pm-<time>
	Progress time.Duration // progress line period; 0 = none
	Log      io.Writer     // setup and progress messages; nil = discard
}

func defaultPutMediaBenchConfig() putMediaBenchConfig {
	return putMediaBenchConfig{
		Streams:  50,
		Duration: 60 * time.Second,
		Warmup:   5 * time.Second,
		Stagger:  2 * time.Second,
		Settle:   15 * time.Second,
		Pause:    3 * time.Second,
		MaxP99:   50 * time.Millisecond,
		Progress: 10 * time.Second,

		UnknownSize: true,
	}
}

func (c *putMediaBenchConfig) validate() error {
	var errs []error
	if c.Streams < 1 {
		errs = append(errs, errors.New("--streams must be at least 1"))
	}
	if c.Duration <= 0 {
		errs = append(errs, errors.New("--duration must be positive"))
	}
	if c.MaxP99 <= 0 {
		errs = append(errs, errors.New("--max-p99 must be positive"))
	}
	if c.Warmup < 0 || c.Stagger < 0 || c.Settle < 0 || c.Pause < 0 || c.Progress < 0 {
		errs = append(errs, errors.New("--warmup, --stagger, --settle, --pause and --progress must not be negative"))
	}
	return errors.Join(errs...)
}

func benchPutMedia(args []string) error {
	cfg := defaultPutMediaBenchConfig()
	fs := flag.NewFlagSet("bench putmedia", flag.ContinueOnError)
	setUsage(fs, "[flags]", fmt.Sprintf("Starts a server (`eddy serve` on loopback, TCP only, fresh data directory) and\n"+
		"ingests one clip from --streams clients in turn, one phase after the other, each\n"+
		"with a warm-up and a --duration window: first over RTSP (bench ingest's\n"+
		"publishers), then with PutMedia (the producer of `eddy putmedia`, one MKV Cluster\n"+
		"per GOP with its size, one connection per stream), then (--unknown-size) PutMedia\n"+
		"with Clusters of unknown size, as the KVS producer SDKs send them. Reports the\n"+
		"server's CPU per stream-minute in each window and the ratio to RTSP, and,\n"+
		"measured at the producers on the wire, the time from a Cluster's end (its last\n"+
		"byte with a size; without, the next Cluster's first byte: only then can the\n"+
		"server know it ended) to its PERSISTED ack (p50/p99/max); prints PASS when that\n"+
		"p99 with sized Clusters is ≤ --max-p99 and every Cluster of every PutMedia\n"+
		"window was acknowledged PERSISTED and listed, else FAIL (exit status 1).\n\n"+
		"The default clip (720p25 H.264 2 Mbit/s, GOP 2 s, AAC 64 kbit/s, 20 s) is bench\n"+
		"ingest's, made once with ffmpeg and cached at %s.", defaultClipPath()))
	fs.IntVar(&cfg.Streams, "streams", cfg.Streams, "clients (one stream each) in each phase")
	fs.DurationVar(&cfg.Duration, "duration", cfg.Duration, "measured window of each phase")
	fs.DurationVar(&cfg.Warmup, "warmup", cfg.Warmup, "sending before a phase's window starts (after the staggered starts)")
	fs.DurationVar(&cfg.Stagger, "stagger", cfg.Stagger, "spread a phase's client starts over this long")
	fs.DurationVar(&cfg.Settle, "settle", cfg.Settle, "longest wait after a window (beyond one GOP) for its last fragments and acks")
	fs.DurationVar(&cfg.Pause, "pause", cfg.Pause, "idle time between two phases")
	fs.DurationVar(&cfg.MaxP99, "max-p99", cfg.MaxP99, "target: Cluster end → PERSISTED ack, p99, with Clusters of known size")
	fs.BoolVar(&cfg.UnknownSize, "unknown-size", cfg.UnknownSize,
		"also run a PutMedia phase with Clusters of unknown size (reported; latency from the next Cluster's first byte)")
	fs.StringVar(&cfg.Clip, "clip", cfg.Clip, "MP4 (H.264/H.265 + AAC) every phase sends; default: generated with ffmpeg and cached")
	splitServerArgs := cfg.addFlags(fs, "extra flags for the started server's serve command, space separated (e.g. \"--sync interval\")")
	fs.StringVar(&cfg.Prefix, "prefix", cfg.Prefix, "stream name prefix (default bench-pm-<time>)")
	fs.DurationVar(&cfg.Progress, "progress", cfg.Progress, "progress line period on stderr (0 = none)")
	jsonOut := fs.Bool("json", false, "also print the results as JSON")
	cpuProfile := fs.String("cpuprofile", "", "write the bench process's own CPU profile (publishers and producers) to this file")
	check := func() error { splitServerArgs(); return cfg.validate() }
	if help, err := parseFlags(fs, args, check); help || err != nil {
		return err
	}
	cfg.Log = os.Stderr
	return runAndReport(*jsonOut, *cpuProfile, func(ctx context.Context) (*putMediaResults, error) {
		res, err := runPutMediaBench(ctx, cfg)
		if err == nil && !res.Pass {
			err = errPutMediaFailed
		}
		return res, err
	})
}

// errPutMediaFailed is the exit status of a run whose verdict is FAIL.
var errPutMediaFailed = errors.New("bench putmedia: FAIL (see the report)")

// putMediaBench is the state of one run.
type putMediaBench struct {
	cfg putMediaBenchConfig
	logger
	ib     *ingestBench  // the server, its prober, the RTSP phase and ListFragments
	prefix string        // of the producers' stream names: prefix-NNN, prefix-u-NNN
	prods  []*pmProducer // Clusters of known size
	uprods []*pmProducer // Clusters of unknown size (--unknown-size)
}

func runPutMediaBench(ctx context.Context, cfg putMediaBenchConfig) (*putMediaResults, error) {
	b := &putMediaBench{cfg: cfg, logger: logger{log: cfg.Log}}
	prefix := cfg.Prefix
	if prefix == "" {
		prefix = "bench-pm-" + time.Now().Format("150405")
	}
	ib, err := newIngestBench(ctx, ingestBenchConfig{
		Streams: cfg.Streams, Duration: cfg.Duration, Warmup: cfg.Warmup, Stagger: cfg.Stagger, Settle: cfg.Settle,
		Clip: cfg.Clip, childConfig: cfg.childConfig, Prefix: prefix + "-rtsp", Progress: cfg.Progress, Log: cfg.Log,
	})
	if err != nil {
		return nil, err
	}
	b.ib = ib
	b.prefix = prefix + "-pm"
	b.prods = loadProducers(b.prefix, ib.clip, cfg.Streams, false)
	if cfg.UnknownSize {
		b.uprods = loadProducers(b.prefix+"-u", ib.clip, cfg.Streams, true)
	}
	stopServer, err := ib.connect(ctx, "putmedia")
	if err != nil {
		return nil, err
	}
	defer stopServer()
	ctx, cancelRun := ib.child.watch(ctx)
	defer cancelRun(nil)
	idle := ib.probe(ctx)
	if idle.metricsErr != nil {
		return nil, runErr(ctx, fmt.Errorf("metrics: %w", idle.metricsErr))
	}
	res := b.newResults(idle)

	// Phase 1: RTSP.
	if err := b.rtspPhase(ctx, res, idle); err != nil {
		return nil, runErr(ctx, err)
	}
	rtspWarnings := len(res.RTSP.ServerWarnings)

	b.logf("pause %v between the phases", cfg.Pause)
	if err := sleepCtx(ctx, cfg.Pause); err != nil {
		return nil, runErr(ctx, err)
	}

	// Phase 2: PutMedia, Clusters of known size.
	if err := b.putMediaPhase(ctx, res, &res.PutMedia, b.prods); err != nil {
		return nil, runErr(ctx, err)
	}
	// Phase 3: PutMedia, Clusters of unknown size.
	if cfg.UnknownSize {
		b.logf("pause %v between the phases", cfg.Pause)
		if err := sleepCtx(ctx, cfg.Pause); err != nil {
			return nil, runErr(ctx, err)
		}
		res.PutMediaUnknown = &pmPhase{UnknownSize: true}
		if err := b.putMediaPhase(ctx, res, res.PutMediaUnknown, b.uprods); err != nil {
			return nil, runErr(ctx, err)
		}
	}
	if warnings := ib.child.warnings(); len(warnings) > rtspWarnings {
		res.ServerWarnings = warnings[rtspWarnings:]
		for i, l := range res.ServerWarnings {
			if i == 5 {
				res.Problems = append(res.Problems, fmt.Sprintf("server log: %d more warnings/errors", len(res.ServerWarnings)-i))
				break
			}
			res.Problems = append(res.Problems, "server log: "+l)
		}
	}
	res.verdict()
	if !res.Pass {
		res.ServerLogTail = ib.child.Tail(40)
	}
	return res, nil
}

// rtspPhase is bench ingest's run on the started server: the publishers
// start, warm up, send through the window and until its last fragments
// are listed, then stop; res.RTSP gets bench ingest's report of the
// window.
func (b *putMediaBench) rtspPhase(ctx context.Context, res *putMediaResults, idle snapshot) error {
	ib, cfg := b.ib, b.cfg
	b.logf("phase 1, RTSP: %d publishers → rtsp://%s/%s-NNN (%s); warm-up %v, window %v",
		cfg.Streams, ib.rtsp, ib.prefix, ib.clip, cfg.Stagger+cfg.Warmup, cfg.Duration)
	stopAll := ib.publish(ctx)
	defer stopAll()
	if err := sleepCtx(ctx, cfg.Stagger+cfg.Warmup); err != nil {
		return err
	}
	others := startOtherCPU(ib.clkTck)
	p0, p1, err := ib.window(ctx, cfg.Duration, cfg.Progress, b.logf)
	if err != nil {
		return err
	}
	others.stop()
	lists, settleProblems := ib.settle(ctx, p0.at, p1.at)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	stopAll()
	after := ib.probe(ctx)
	if after.metricsErr != nil {
		return fmt.Errorf("metrics: %w", after.metricsErr)
	}
	rtsp := ib.newResults()
	rtsp.RSSIdleMiB = mib(idle.rss)
	ib.finish(rtsp, idle, p0, p1, after, lists, settleProblems)
	res.RTSP = rtsp
	res.RTSPOtherCPUSeconds, res.RTSPOtherCPUPercent = others.of(p0, p1)
	return nil
}

// putMediaPhase runs the producers: they start, warm up, send through the
// window and until every one has an ack for a Cluster written after it
// (or the settle time is up), then stop; the acknowledged fragments are
// then looked up with ListFragments.
func (b *putMediaBench) putMediaPhase(ctx context.Context, res *putMediaResults, ph *pmPhase, prods []*pmProducer) error {
	ib, cfg := b.ib, b.cfg
	kind := "Clusters of known size"
	if ph.UnknownSize {
		kind = "Clusters of unknown size"
	}
	b.logf("PutMedia, %s: %d producers → %s/putMedia (streams %s); warm-up %v, window %v",
		kind, cfg.Streams, ib.url, prods[0].name, cfg.Stagger+cfg.Warmup, cfg.Duration)
	if err := b.createStreams(ctx, prods); err != nil {
		return err
	}
	before := ib.probe(ctx)
	if before.metricsErr != nil {
		return fmt.Errorf("metrics: %w", before.metricsErr)
	}
	runCtx, stopProds := context.WithCancel(ctx)
	var wg sync.WaitGroup
	stopAll := func() {
		stopProds()
		wg.Wait()
	}
	defer stopAll()
	wg.Go(func() { ib.stalls.run(runCtx) })
	for i, p := range prods {
		delay := cfg.Stagger * time.Duration(i) / time.Duration(cfg.Streams)
		wg.Go(func() { p.run(runCtx, ib.url, delay, b.logf) })
	}
	if err := sleepCtx(ctx, cfg.Stagger+cfg.Warmup); err != nil {
		return err
	}
	withAcks := func(format string, args ...any) {
		b.logf(format+", %d PERSISTED acks", append(args, persistedAcks(prods))...)
	}
	others := startOtherCPU(ib.clkTck)
	p0, p1, err := ib.window(ctx, cfg.Duration, cfg.Progress, withAcks)
	if err != nil {
		return err
	}
	others.stop()
	ph.OtherCPUSeconds, ph.OtherCPUPercent = others.of(p0, p1)
	settleProblems := b.settleAcks(ctx, prods, p1.at)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	stopAll()
	lists, listProblems := b.listAcked(ctx, prods, before.at)
	b.results(res, ph, prods, p0, p1, lists)
	res.Problems = append(res.Problems, settleProblems...)
	res.Problems = append(res.Problems, listProblems...)
	return nil
}

// settleAcks waits until every producer has had the PERSISTED or ERROR
// ack of a Cluster that ended after end, so that every Cluster that ended
// in the window had its chance to be acknowledged, or until two GOPs plus
// the settle time have passed.
func (b *putMediaBench) settleAcks(ctx context.Context, prods []*pmProducer, end time.Time) []string {
	deadline := end.Add(2*b.ib.gop() + b.cfg.Settle)
	for {
		var pending []string
		for _, p := range prods {
			if !p.ackedAfter(end) {
				pending = append(pending, p.name)
			}
		}
		if len(pending) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return []string{fmt.Sprintf("%d producers had no ack for a Cluster that ended after the window within %v of its end: %v",
				len(pending), time.Since(end).Round(time.Second), firstN(pending, 5))}
		}
		if sleepCtx(ctx, 200*time.Millisecond) != nil {
			return nil
		}
	}
}

// persistedAcks counts the PERSISTED acks the producers have had.
func persistedAcks(prods []*pmProducer) int {
	n := 0
	for _, p := range prods {
		n += p.persistedCount()
	}
	return n
}

func firstN(s []string, n int) []string {
	if len(s) > n {
		return append(s[:n:n], fmt.Sprintf("… %d more", len(s)-n))
	}
	return s
}
