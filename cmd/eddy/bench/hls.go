package bench

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/eddy-video/eddy/media/rtspclient"
)

// eddy bench hls: one camera publishes over RTSP (rtspclient.FilePublisher,
// looping, in real time) to an Eddy server the bench starts as a child,
// and the bench measures LIVE HLS (RFC 8216) from two sides:
//
//   - Listing latency. A watcher polls the LIVE media playlist every 10 ms
//     and notes when each new media sequence number appears. A fragment
//     closes when the next GOP's keyframe arrives, so the latency that the
//     server controls is (listed − send time of the next keyframe); the
//     latency from the fragment's own first keyframe is reported too.
//     The watcher's session selects PRODUCER_TIMESTAMP with
//     DisplayFragmentTimestamp ALWAYS, so each segment's
//     #EXT-X-PROGRAM-DATE-TIME is the publisher's clock at its first
//     keyframe, which names the keyframe.
//
//   - Readers. N clients poll as hls.js does in LIVE: a session URL each,
//     the master playlist once, then the media playlist reloaded after the
//     last segment's duration when it changed and after half the target
//     duration when it did not (hls.js computeReloadInterval), each new
//     segment and the init segment downloaded once. The server's CPU over
//     the window is compared with a baseline window of the same length
//     with the publisher and the watcher alone.

// hlsBenchConfig configures one run.
type hlsBenchConfig struct {
	Readers  int
	Duration time.Duration // each measured window (baseline, then readers)
	Warmup   time.Duration // before each window
	Stagger  time.Duration // readers start spread over this (inside the readers' warm-up)
	Window   int           // MaxMediaPlaylistFragmentResults of every session
	Poll     time.Duration // watcher's media playlist poll period
	Clip     string        // MP4 to publish; "" = the bench ingest default clip
	LL       bool          // Low-Latency HLS: readers fetch parts with blocking reloads; a second watcher times parts
	Expires  int           // the sessions' Expires (seconds); 0 = the server's default (300)
	// WatcherInProcess runs the part watcher (--ll) in the bench's own
	// process rather than in a child (hls_ll_proc.go).
	WatcherInProcess bool
	watcherExe       string // the child's executable ("": this one; tests: an eddy binary)

	childConfig

	Progress time.Duration // progress line period; 0 = none
	Log      io.Writer     // setup and progress messages; nil = discard
}

func defaultHLSBenchConfig() hlsBenchConfig {
	return hlsBenchConfig{
		Readers:  200,
		Duration: 60 * time.Second,
		Warmup:   6 * time.Second,
		Stagger:  2 * time.Second,
		Window:   5,
		Poll:     10 * time.Millisecond,
		Progress: 10 * time.Second,
	}
}

func (c *hlsBenchConfig) validate() error {
	var errs []error
	if c.Readers < 0 {
		errs = append(errs, errors.New("--readers must not be negative"))
	}
	if c.Duration <= 0 {
		errs = append(errs, errors.New("--duration must be positive"))
	}
	if c.Warmup < 0 || c.Stagger < 0 || c.Progress < 0 {
		errs = append(errs, errors.New("--warmup, --stagger and --progress must not be negative"))
	}
	if c.Stagger > c.Warmup {
		errs = append(errs, fmt.Errorf("--stagger %v is longer than --warmup %v: readers would still be starting in the window", c.Stagger, c.Warmup))
	}
	if c.Window < 1 || c.Window > 5000 {
		errs = append(errs, errors.New("--playlist-window must be from 1 to 5000 (MaxMediaPlaylistFragmentResults)"))
	}
	if c.Poll <= 0 {
		errs = append(errs, errors.New("--poll must be positive"))
	}
	return errors.Join(errs...)
}

func benchHLS(args []string) error {
	if len(args) == 2 && args[0] == partWatcherChildFlag {
		return runPartWatcherChild(args[1])
	}
	cfg := defaultHLSBenchConfig()
	fs := flag.NewFlagSet("bench hls", flag.ContinueOnError)
	setUsage(fs, "[flags]", cameraAbout("and measures LIVE HLS: how soon a closed fragment is listed in the media\n"+
		"playlist (p50/p99), and N readers polling like hls.js: server CPU per\n"+
		"reader-minute (raw, and net of a publisher-only baseline window of the same\n"+
		"length), bytes and requests served, request latency, readers that fell behind."))
	fs.IntVar(&cfg.Readers, "readers", cfg.Readers, "concurrent HLS readers (0: listing latency only)")
	fs.DurationVar(&cfg.Duration, "duration", cfg.Duration, "length of each measured window (baseline, then readers)")
	fs.DurationVar(&cfg.Warmup, "warmup", cfg.Warmup, "settling before each window")
	fs.DurationVar(&cfg.Stagger, "stagger", cfg.Stagger, "spread reader starts over this long (within the warm-up)")
	fs.IntVar(&cfg.Window, "playlist-window", cfg.Window, "MaxMediaPlaylistFragmentResults of each session")
	fs.DurationVar(&cfg.Poll, "poll", cfg.Poll, "the latency watcher's media playlist poll period")
	fs.BoolVar(&cfg.LL, "ll", cfg.LL, "Low-Latency HLS: readers load parts with blocking playlist reloads as hls.js in low-latency mode does, and a part watcher times each part's listing")
	fs.BoolVar(&cfg.WatcherInProcess, "watcher-in-process", cfg.WatcherInProcess, "--ll: run the part watcher in the bench's process, scheduled with the readers' goroutines (default: a process of its own, as a player of its own)")
	fs.StringVar(&cfg.Clip, "clip", cfg.Clip, "MP4 (H.264/H.265 + AAC) to publish; default: generated with ffmpeg and cached")
	splitServerArgs := cfg.addFlags(fs, "extra flags for the started server's serve command, space separated")
	fs.DurationVar(&cfg.Progress, "progress", cfg.Progress, "progress line period on stderr (0 = none)")
	jsonOut := fs.Bool("json", false, "also print the results as JSON")
	check := func() error { splitServerArgs(); return cfg.validate() }
	if help, err := parseFlags(fs, args, check); help || err != nil {
		return err
	}
	cfg.Log = os.Stderr
	return runAndReport(*jsonOut, "", func(ctx context.Context) (*hlsResults, error) { return runHLSBench(ctx, cfg) })
}

// hlsBench is the state of one run. Its prober samples /metrics, /proc CPU
// and RSS, PSI and load at the windows' edges.
type hlsBench struct {
	cfg hlsBenchConfig
	logger
	pr     *prober
	url    string
	stream string
	pub    *publisher
	hc     *http.Client // setup, watcher
	rc     *http.Client // readers (their own connection pool)

	mu      sync.Mutex
	keySent []hlsKey // keyframes as sent, in order
	listed  []hlsListed
	wErrs   int
	wPolls  int
	wStart  time.Time
	wLast   time.Time

	// Part watcher (--ll).
	parts      []hlsPartSeen
	existing   []hlsTimed
	partTarget time.Duration
	pErrs      int
	pBlocking  int
	watcherCPU *float64 // the part watcher process's CPU-s, once it exited
}

// hlsKey is one keyframe the publisher sent.
type hlsKey struct {
	ntp  int64 // its producer time (Unix ns), as in the RTCP sender reports
	sent int64 // wall clock when the publisher had written it (Unix ns)
}

// hlsListed is a media sequence number the watcher saw appear.
type hlsListed struct {
	seq    uint64
	pdt    int64 // #EXT-X-PROGRAM-DATE-TIME (producer time, Unix ns, ms precision)
	listed int64 // when the poll response listing it arrived (Unix ns)
	polled int64 // when that poll was sent
}

func runHLSBench(ctx context.Context, cfg hlsBenchConfig) (*hlsResults, error) {
	b := &hlsBench{cfg: cfg, logger: logger{log: cfg.Log}}
	clip, err := clipOrDefault(ctx, cfg.Clip, b.logf)
	if err != nil {
		return nil, err
	}
	b.stream = "bench-hls-" + time.Now().Format("150405")
	b.pub = &publisher{name: b.stream}
	b.pub.pub = &rtspclient.FilePublisher{File: clip, Loop: true, OnUnit: func(pts time.Duration, key bool, ntp time.Time) {
		b.pub.onUnit(pts, key, ntp)
		if key {
			now := time.Now().UnixNano()
			b.mu.Lock()
			b.keySent = append(b.keySent, hlsKey{ntp: ntp.UnixNano(), sent: now})
			b.mu.Unlock()
		}
	}}
	if err := b.pub.pub.Load(); err != nil {
		return nil, fmt.Errorf("clip: %w", err)
	}

	srv, stopServer, err := startChild(ctx, cfg.childConfig, "hls", b.logf)
	if err != nil {
		return nil, err
	}
	defer stopServer()
	b.url = srv.url
	b.hc = newHTTPClient(8)
	b.rc = newHTTPClient(2*cfg.Readers + 8)
	b.pr = newProber(b.url, srv.cmd.Process.Pid, b.hc)

	res := &hlsResults{
		Readers: cfg.Readers, DurationS: cfg.Duration.Seconds(), WarmupS: cfg.Warmup.Seconds(), PlaylistWindow: cfg.Window,
		WatcherOwnProcess: cfg.LL && !cfg.WatcherInProcess,
		PollMS:            float64(cfg.Poll) / 1e6, Clip: clip, ClipSpanS: b.pub.pub.Span().Seconds(),
		Server: "child: " + srv.bin + " serve (TCP only, fresh data dir)", Endpoint: b.url, RTSP: srv.rtsp,
		ServerPID: b.pr.pid, CPUs: runtime.NumCPU(),
	}
	if cfg.Keep {
		res.ServerLog, res.DataDir = srv.logPath, srv.dir
	}
	ctx, cancelRun := srv.watch(ctx)
	defer cancelRun(nil)

	// The publisher, the stall probe and (once a fragment is stored) the
	// watcher run through both windows.
	runCtx, stopRun := context.WithCancel(ctx)
	var wg sync.WaitGroup
	stopAll := func() {
		stopRun()
		wg.Wait()
	}
	defer stopAll()
	wg.Go(func() { b.pr.stalls.run(runCtx) })
	b.pub.pub.URL = "rtsp://" + srv.rtsp + "/" + b.stream
	wg.Go(func() { b.pub.run(runCtx, 0, b.logf) })
	b.logf("publisher → rtsp://%s/%s (%s)", srv.rtsp, b.stream, clip)
	watchURL, err := b.sessionURL(ctx, true, 3*b.gop()+15*time.Second)
	if err != nil {
		return nil, runErr(ctx, fmt.Errorf("watcher session: %w", err))
	}
	wg.Go(func() { b.watch(runCtx, watchURL) })
	if cfg.LL {
		llURL, err := b.sessionURL(ctx, false, 0)
		if err != nil {
			return nil, runErr(ctx, fmt.Errorf("part watcher session: %w", err))
		}
		if cfg.WatcherInProcess {
			wg.Go(func() { b.watchParts(runCtx, llURL) })
		} else {
			stopWatcher, err := b.startPartWatcherProcess(runCtx, llURL)
			if err != nil {
				return nil, runErr(ctx, err)
			}
			wg.Go(func() { <-runCtx.Done(); stopWatcher() })
		}
	}

	// Baseline: publisher and watcher alone.
	b.logf("baseline: warm-up %v, window %v (publisher and watcher only)", cfg.Warmup, cfg.Duration)
	if err := sleepCtx(ctx, cfg.Warmup); err != nil {
		return nil, runErr(ctx, err)
	}
	base0, base1, err := b.pr.window(ctx, cfg.Duration, cfg.Progress, b.logf)
	if err != nil {
		return nil, runErr(ctx, err)
	}

	// Readers.
	var readers []*hlsReader
	var rp0, rp1 snapshot
	if cfg.Readers > 0 {
		rdCtx, stopReaders := context.WithCancel(runCtx)
		var rwg sync.WaitGroup
		for i := range cfg.Readers {
			r := &hlsReader{id: i, b: b}
			readers = append(readers, r)
			delay := cfg.Stagger * time.Duration(i) / time.Duration(cfg.Readers)
			rwg.Go(func() {
				if sleepCtx(rdCtx, delay) != nil {
					return
				}
				if cfg.LL {
					r.runLL(rdCtx)
				} else {
					r.run(rdCtx)
				}
			})
		}
		b.logf("%d readers (hls.js-like, LIVE, window %d): warm-up %v, window %v", cfg.Readers, cfg.Window, cfg.Warmup, cfg.Duration)
		err := sleepCtx(ctx, cfg.Warmup)
		if err == nil {
			rp0, rp1, err = b.pr.window(ctx, cfg.Duration, cfg.Progress, b.logf)
		}
		stopReaders()
		rwg.Wait()
		if err != nil {
			return nil, runErr(ctx, err)
		}
	}
	stopAll()
	b.results(res, base0, base1, rp0, rp1, readers)
	var logProblems []string
	res.ServerWarnings, logProblems = srv.logProblems()
	res.Problems = append(res.Problems, logProblems...)
	if len(res.Problems) > 0 {
		res.ServerLogTail = srv.Tail(30)
	}
	return res, nil
}

// gop is the keyframe interval as sent; 2 s before two were sent.
func (b *hlsBench) gop() time.Duration {
	if d := b.pub.gop(); d > 0 {
		return d
	}
	return 2 * time.Second
}
