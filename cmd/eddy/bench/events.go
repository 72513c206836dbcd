package bench

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// eddy bench events: one camera publishes over RTSP (bench ingest's looping
// publisher) to an Eddy server the bench starts as a child, N hls.js-like
// readers follow its LIVE playlist, and the bench measures two windows of
// the same length one after the other, from half a GOP after a keyframe
// (ingestBench.midGOP):
//
//   - baseline: the camera and the readers alone;
//   - events: the same, plus writers putting metadata events into the
//     camera's event stream ({name}.events) with PutRecords at a steady
//     rate, each event's "time" on the camera's clock (the publisher's
//     NTP time, which its RTCP sender reports give the server).
//
// It then reads every acknowledged event back, through the REST events
// endpoint (GET /api/v1/streams/{name}/events, by producer time, paged)
// when the server has it and through GetRecords on {name}.events, and
// compares the recorder across the windows: fragments listed
// (ListFragments by server time) and persisted (/metrics), their lengths
// and the spacing of their arrivals, gaps, unlisted fragment numbers and
// the loss checks of bench ingest, ingest error counters, persist latency;
// and the readers' errors and stalls. The verdict is PASS when nothing
// acknowledged is lost, the rate was sustained and the recorder and the
// readers did as well with events as without.

// eventsBenchConfig configures one run.
type eventsBenchConfig struct {
	Rate     float64       // events per second, all writers together
	Batch    int           // records per PutRecords call
	Writers  int           // concurrent writers
	Readers  int           // HLS readers of the camera's LIVE playlist
	Duration time.Duration // each window (baseline, then events)
	Warmup   time.Duration // after the readers started, before the baseline
	Stagger  time.Duration // reader starts spread over this (inside the warm-up)
	Settle   time.Duration // longest wait, after the run, for its last fragments to be listed
	Clip     string        // MP4 the camera loops; "" = bench ingest's default clip

	// MaxJitterRise is how much more the p99 deviation of fragment
	// arrival spacing from the GOP may be with events than without.
	MaxJitterRise time.Duration
	// MinRatePc is the share of Rate × window that must be acknowledged
	// in the events window for the rate to count as sustained.
	MinRatePc float64

	childConfig

	Progress time.Duration // progress line period; 0 = none
	Log      io.Writer     // setup and progress messages; nil = discard
}

func defaultEventsBenchConfig() eventsBenchConfig {
	return eventsBenchConfig{
		Rate: 1000, Batch: 100, Writers: 2, Readers: 200,
		Duration: 60 * time.Second, Warmup: 6 * time.Second, Stagger: 3 * time.Second, Settle: 15 * time.Second,
		MaxJitterRise: 250 * time.Millisecond, MinRatePc: 99,
		Progress: 10 * time.Second,
	}
}

func (c *eventsBenchConfig) validate() error {
	var errs []error
	if c.Rate <= 0 {
		errs = append(errs, errors.New("--rate must be positive"))
	}
	if c.Batch < 1 || c.Batch > 500 {
		errs = append(errs, errors.New("--batch must be from 1 to 500 (PutRecords takes at most 500 records)"))
	}
	if c.Writers < 1 {
		errs = append(errs, errors.New("--writers must be at least 1"))
	}
	if c.Readers < 0 {
		errs = append(errs, errors.New("--readers must not be negative"))
	}
	if c.Duration <= 0 {
		errs = append(errs, errors.New("--duration must be positive"))
	}
	if c.Warmup < 0 || c.Stagger < 0 || c.Settle < 0 || c.Progress < 0 || c.MaxJitterRise < 0 {
		errs = append(errs, errors.New("--warmup, --stagger, --settle, --progress and --max-jitter-rise must not be negative"))
	}
	if c.Stagger > c.Warmup {
		errs = append(errs, fmt.Errorf("--stagger %v is longer than --warmup %v: readers would still be starting in the baseline", c.Stagger, c.Warmup))
	}
	if c.MinRatePc <= 0 || c.MinRatePc > 100 {
		errs = append(errs, errors.New("--min-rate-percent must be in (0, 100]"))
	}
	return errors.Join(errs...)
}

func benchEvents(args []string) error {
	cfg := defaultEventsBenchConfig()
	fs := flag.NewFlagSet("bench events", flag.ContinueOnError)
	setUsage(fs, "[flags]", "Starts a server (`eddy serve` on loopback, TCP only, fresh data directory), one\n"+
		"camera publishing over RTSP and --readers hls.js-like readers of its LIVE\n"+
		"playlist, then measures a baseline window and an events window of --duration\n"+
		"each: in the second, --writers put --rate events per second (PutRecords\n"+
		"batches of --batch) into the camera's event stream, timed on its clock.\n"+
		"Reports events acknowledged against events read back (REST events endpoint\n"+
		"and GetRecords), PutRecords latency, the recorder in both windows (fragments\n"+
		"listed and persisted, their spacing, gaps, ingest errors, persist latency),\n"+
		"the readers' errors and stalls, server CPU and RSS; prints PASS or FAIL and\n"+
		"exits non-zero on FAIL.")
	fs.Float64Var(&cfg.Rate, "rate", cfg.Rate, "events per second, all writers together")
	fs.IntVar(&cfg.Batch, "batch", cfg.Batch, "events per PutRecords call")
	fs.IntVar(&cfg.Writers, "writers", cfg.Writers, "concurrent PutRecords writers")
	fs.IntVar(&cfg.Readers, "readers", cfg.Readers, "HLS readers (hls.js-like, LIVE) of the camera")
	fs.DurationVar(&cfg.Duration, "duration", cfg.Duration, "length of each window (baseline, then events)")
	fs.DurationVar(&cfg.Warmup, "warmup", cfg.Warmup, "settling after the camera records and the readers start, before the baseline")
	fs.DurationVar(&cfg.Stagger, "stagger", cfg.Stagger, "spread reader starts over this long (within the warm-up)")
	fs.DurationVar(&cfg.Settle, "settle", cfg.Settle, "longest wait after the run (beyond one GOP) for its last fragments to be listed")
	fs.DurationVar(&cfg.MaxJitterRise, "max-jitter-rise", cfg.MaxJitterRise, "fail when fragment arrival spacing's p99 deviation from the GOP rises more than this with events")
	fs.Float64Var(&cfg.MinRatePc, "min-rate-percent", cfg.MinRatePc, "fail when fewer than this share of --rate × window events are acknowledged in the events window")
	fs.StringVar(&cfg.Clip, "clip", cfg.Clip, "MP4 (H.264/H.265 + AAC) the camera loops; default: bench ingest's clip, generated with ffmpeg and cached")
	splitServerArgs := cfg.addFlags(fs, "extra flags for the started server's serve command, space separated")
	fs.DurationVar(&cfg.Progress, "progress", cfg.Progress, "progress line period on stderr (0 = none)")
	jsonOut := fs.Bool("json", false, "also print the results as JSON")
	check := func() error { splitServerArgs(); return cfg.validate() }
	if help, err := parseFlags(fs, args, check); help || err != nil {
		return err
	}
	cfg.Log = os.Stderr
	return runAndReport(*jsonOut, "", func(ctx context.Context) (*eventsResults, error) {
		res, err := runEventsBench(ctx, cfg)
		if err == nil && !res.Pass {
			err = errEventsFailed
		}
		return res, err
	})
}

// errEventsFailed is the exit status of a run whose verdict is FAIL.
var errEventsFailed = errors.New("bench events: FAIL (see the report)")

// eventsBench is the state of one run.
type eventsBench struct {
	cfg eventsBenchConfig
	logger
	ib     *ingestBench // the camera, the server, its prober and ListFragments
	hb     *hlsBench    // the readers' sessions
	stream string

	// clockOff is the camera's clock minus this machine's wall clock (ns),
	// from the last video unit sent.
	clockOff atomic.Int64
	wr       eventsWriter
}

func runEventsBench(ctx context.Context, cfg eventsBenchConfig) (*eventsResults, error) {
	b := &eventsBench{cfg: cfg, logger: logger{log: cfg.Log}}
	ib, err := newIngestBench(ctx, ingestBenchConfig{
		Streams: 1, Clip: cfg.Clip, Settle: cfg.Settle, Duration: cfg.Duration, childConfig: cfg.childConfig,
		Prefix: "bench-events-" + time.Now().Format("150405"), Log: cfg.Log,
	})
	if err != nil {
		return nil, err
	}
	b.ib, b.stream = ib, ib.names[0]
	pub := ib.pubs[0]
	pub.pub.OnUnit = func(pts time.Duration, key bool, ntp time.Time) {
		pub.onUnit(pts, key, ntp)
		b.clockOff.Store(ntp.UnixNano() - time.Now().UnixNano())
	}
	stopServer, err := ib.connect(ctx, "events")
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

	stopPub := ib.publish(ctx)
	defer stopPub()
	b.logf("camera → rtsp://%s/%s (%s)", ib.rtsp, b.stream, ib.clip)
	rc := newHTTPClient(2*cfg.Readers + 8)
	b.hb = &hlsBench{cfg: hlsBenchConfig{Window: 5, Expires: 3600}, url: ib.url, stream: b.stream, hc: rc, rc: rc}
	if _, err := b.hb.sessionURL(ctx, false, 30*time.Second); err != nil {
		return nil, runErr(ctx, fmt.Errorf("camera %s is not recording: %w", b.stream, err))
	}
	if err := b.wr.setup(ctx, b, ib.url); err != nil {
		return nil, runErr(ctx, err)
	}

	// The readers run through both windows.
	readCtx, stopReaders := context.WithCancel(ctx)
	defer stopReaders()
	var rwg sync.WaitGroup
	var live hlsLive
	readers := make([]*hlsReader, cfg.Readers)
	for i := range readers {
		r := &hlsReader{id: i, b: b.hb, live: &live}
		readers[i] = r
		delay := cfg.Stagger * time.Duration(i) / time.Duration(cfg.Readers)
		rwg.Go(func() {
			if sleepCtx(readCtx, delay) != nil {
				return
			}
			for readCtx.Err() == nil {
				r.run(readCtx)
				if sleepCtx(readCtx, time.Second) != nil {
					return
				}
			}
		})
	}
	b.logf("%d HLS readers (LIVE); warm-up %v, then a baseline window and an events window of %v each", cfg.Readers, cfg.Warmup, cfg.Duration)
	if err := sleepCtx(ctx, cfg.Warmup); err != nil {
		return nil, runErr(ctx, err)
	}
	// Both windows are compared fragment for fragment: start them between
	// two fragments (the baseline starts up to a GOP after the warm-up).
	if err := sleepCtx(ctx, time.Until(ib.midGOP())); err != nil {
		return nil, runErr(ctx, err)
	}

	b.logf("baseline: camera and readers, no events")
	b0, b1, err := ib.window(ctx, cfg.Duration, cfg.Progress, b.logf)
	if err != nil {
		return nil, runErr(ctx, err)
	}

	b.logf("events: %g events/s (%d writers, batches of %d) into %s%s", cfg.Rate, cfg.Writers, cfg.Batch, b.stream, eventsSuffix)
	end := time.Now().Add(cfg.Duration)
	var wwg sync.WaitGroup
	for i := range cfg.Writers {
		wwg.Go(func() { b.wr.write(ctx, i, end) })
	}
	withAcks := func(format string, args ...any) {
		b.logf(format+", %d events acknowledged", append(args, b.wr.acked())...)
	}
	e0, e1, err := ib.window(ctx, cfg.Duration, cfg.Progress, withAcks)
	wwg.Wait() // calls in flight finish: their records are counted
	if err != nil {
		return nil, runErr(ctx, err)
	}
	stopReaders()
	rwg.Wait()

	b.logf("waiting for the last fragments to be listed")
	lists, settleProblems := ib.settle(ctx, b0.at, e1.at)
	if ctx.Err() != nil {
		return nil, runErr(ctx, ctx.Err())
	}
	stopPub()
	after := ib.probe(ctx)
	if after.metricsErr != nil {
		return nil, runErr(ctx, fmt.Errorf("metrics: %w", after.metricsErr))
	}
	b.logf("reading the %d acknowledged events back", b.wr.acked())
	res.ReadBack = b.wr.readBack(ctx, b)
	b.results(res, idle, b0, b1, e0, e1, after, lists[b.stream], readers)
	res.Problems = append(settleProblems, res.Problems...)
	var logProblems []string
	res.ServerWarnings, logProblems = ib.child.logProblems()
	res.Problems = append(res.Problems, logProblems...)
	res.verdict()
	if !res.Pass {
		res.ServerLogTail = ib.child.Tail(30)
	}
	return res, nil
}

// eventsSuffix ends the name of a video stream's event stream.
const eventsSuffix = ".events"

// cameraNow is the camera's clock now: this machine's wall clock moved by
// the offset of the last video unit's NTP time.
func (b *eventsBench) cameraNow() time.Time {
	return time.Now().Add(time.Duration(b.clockOff.Load()))
}
