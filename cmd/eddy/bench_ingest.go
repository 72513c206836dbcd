package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideoarchivedmedia"
	kvamtypes "github.com/aws/aws-sdk-go-v2/service/kinesisvideoarchivedmedia/types"

	"github.com/eddy-video/eddy/fragments"
	"github.com/eddy-video/eddy/media/rtspclient"
)

// eddy bench ingest: N cameras publish an MP4 over RTSP (rtspclient.FilePublisher
// in this process, looping, in real time) to an Eddy server — by default a
// child process of the bench, so its CPU time and memory are its own. After
// a warm-up, the bench measures one window: the server's CPU time and RSS,
// fragments persisted and their persist latency (from /metrics), and loss:
// every stream's fragments listed over the window (ListFragments) against
// what its publisher sent.

// ingestBenchConfig configures one run.
type ingestBenchConfig struct {
	Streams  int
	Duration time.Duration // the measured window
	Warmup   time.Duration // after the last publisher started, before the window
	Stagger  time.Duration // publishers start spread over this, so keyframes do not align
	Settle   time.Duration // longest wait, after the window, for its last fragments to be listed
	Clip     string        // MP4 to publish; "" = the generated default (see ingestDefaultClip)

	Server     string   // eddy binary to start; "" = this executable
	ServerArgs []string // extra `serve` flags for the child
	Endpoint   string   // an already-running server's HTTP URL: no child
	RTSP       string   // its RTSP host:port (with Endpoint)
	PID        int      // its process id, for CPU and RSS (with Endpoint)
	Keep       bool     // keep the child's data directory and log

	Prefix   string        // stream name prefix; "" = bench-<time>
	Progress time.Duration // progress line period; 0 = none
	Log      io.Writer     // setup and progress messages; nil = discard
}

func defaultIngestBenchConfig() ingestBenchConfig {
	return ingestBenchConfig{
		Streams:  10,
		Duration: 60 * time.Second,
		Warmup:   5 * time.Second,
		Stagger:  2 * time.Second,
		Settle:   15 * time.Second,
		Progress: 10 * time.Second,
	}
}

func (c *ingestBenchConfig) validate() error {
	var errs []error
	if c.Streams < 1 {
		errs = append(errs, errors.New("--streams must be at least 1"))
	}
	if c.Duration <= 0 {
		errs = append(errs, errors.New("--duration must be positive"))
	}
	if c.Warmup < 0 || c.Stagger < 0 || c.Settle < 0 || c.Progress < 0 {
		errs = append(errs, errors.New("--warmup, --stagger, --settle and --progress must not be negative"))
	}
	if (c.Endpoint == "") != (c.RTSP == "") {
		errs = append(errs, errors.New("--endpoint and --rtsp go together: set both to use a running server, or neither to start one"))
	}
	if c.Endpoint != "" && (c.Server != "" || len(c.ServerArgs) > 0) {
		errs = append(errs, errors.New("--server and --server-args start a server; they do not apply with --endpoint"))
	}
	if c.Endpoint == "" && c.PID != 0 {
		errs = append(errs, errors.New("--pid applies to a server given with --endpoint; the bench knows its own child's pid"))
	}
	return errors.Join(errs...)
}

func benchIngest(args []string) error {
	cfg := defaultIngestBenchConfig()
	fs := flag.NewFlagSet("bench ingest", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: eddy bench ingest [flags]\n\n"+
			"Publishes an MP4 over RTSP to N streams in real time and measures the server:\n"+
			"CPU per stream-minute, RSS, fragments persisted, persist latency (p50/p99) and\n"+
			"loss (ListFragments against what the publishers sent). By default it starts its\n"+
			"own server (`eddy serve` on loopback, TCP only, fresh data directory).\n\n"+
			"The default clip (720p25 H.264 2 Mbit/s, GOP 2 s, AAC 64 kbit/s, 20 s) is made\n"+
			"once with ffmpeg and cached at %s.\n\nflags:\n", ingestDefaultClipPath())
		fs.PrintDefaults()
	}
	fs.IntVar(&cfg.Streams, "streams", cfg.Streams, "publishers (one stream each)")
	fs.DurationVar(&cfg.Duration, "duration", cfg.Duration, "measured window")
	fs.DurationVar(&cfg.Warmup, "warmup", cfg.Warmup, "publishing before the window starts (after the staggered starts)")
	fs.DurationVar(&cfg.Stagger, "stagger", cfg.Stagger, "spread publisher starts over this long")
	fs.DurationVar(&cfg.Settle, "settle", cfg.Settle, "longest wait after the window (beyond one GOP) for its last fragments to be listed")
	fs.StringVar(&cfg.Clip, "clip", cfg.Clip, "MP4 (H.264/H.265 + AAC) to publish; default: generated with ffmpeg and cached")
	fs.StringVar(&cfg.Server, "server", cfg.Server, "eddy binary to start as the server (default: this executable)")
	serverArgs := fs.String("server-args", "", "extra flags for the started server's serve command, space separated (e.g. \"--sync interval\")")
	fs.StringVar(&cfg.Endpoint, "endpoint", cfg.Endpoint, "HTTP URL of a running server instead of starting one (with --rtsp)")
	fs.StringVar(&cfg.RTSP, "rtsp", cfg.RTSP, "RTSP host:port of the running server given with --endpoint")
	fs.IntVar(&cfg.PID, "pid", cfg.PID, "process id of the server given with --endpoint, for CPU and RSS from /proc")
	fs.BoolVar(&cfg.Keep, "keep", cfg.Keep, "keep the started server's data directory and log")
	fs.StringVar(&cfg.Prefix, "prefix", cfg.Prefix, "stream name prefix (default bench-<time>)")
	fs.DurationVar(&cfg.Progress, "progress", cfg.Progress, "progress line period on stderr (0 = none)")
	jsonOut := fs.Bool("json", false, "also print the results as JSON")
	cpuProfile := fs.String("cpuprofile", "", "write the bench process's own CPU profile (the publishers) to this file")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("bench ingest: unexpected argument %q", fs.Arg(0))
	}
	cfg.ServerArgs = strings.Fields(*serverArgs)
	if err := cfg.validate(); err != nil {
		return err
	}
	cfg.Log = os.Stderr
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	stopProfile, err := startCPUProfile(*cpuProfile)
	if err != nil {
		return err
	}
	defer stopProfile()
	res, err := runIngestBench(ctx, cfg)
	if res == nil {
		return err
	}
	return printReport(res, *jsonOut, err)
}

// ingestDefaultClipArgs makes the default clip (ffmpeg arguments before the
// output file).
var ingestDefaultClipArgs = []string{
	"-hide_banner", "-loglevel", "error", "-y",
	"-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=25",
	"-f", "lavfi", "-i", "sine=frequency=440",
	"-t", "20",
	"-c:v", "libx264", "-preset", "veryfast", "-b:v", "2M", "-maxrate", "2M", "-bufsize", "1M",
	"-g", "50", "-keyint_min", "50", "-sc_threshold", "0", "-bf", "0", "-pix_fmt", "yuv420p",
	"-c:a", "aac", "-b:a", "64k",
}

// ingestDefaultClipPath is where the default clip is cached: the user cache
// directory ($XDG_CACHE_HOME or ~/.cache on Linux) under eddy/.
func ingestDefaultClipPath() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	return filepath.Join(dir, "eddy", "bench-ingest-720p25-h264-2M-gop50-aac64k-20s.mp4")
}

// ingestDefaultClip returns the cached default clip, making it first if
// needed.
func ingestDefaultClip(ctx context.Context, log func(string, ...any)) (string, error) {
	p := ingestDefaultClipPath()
	if st, err := os.Stat(p); err == nil && st.Size() > 0 {
		return p, nil
	}
	ffmpeg, err := exec.LookPath("ffmpeg")
	if err != nil {
		return "", fmt.Errorf("making the default clip needs ffmpeg (or pass --clip FILE.mp4): %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return "", err
	}
	tmp := p + ".tmp.mp4"
	log("making the default clip with ffmpeg (once): %s", p)
	out, err := exec.CommandContext(ctx, ffmpeg, append(append([]string(nil), ingestDefaultClipArgs...), tmp)...).CombinedOutput()
	if err != nil {
		_ = os.Remove(tmp)
		return "", fmt.Errorf("ffmpeg: %v\n%s", err, out)
	}
	if err := os.Rename(tmp, p); err != nil {
		return "", err
	}
	return p, nil
}

// ingestBench is the state of one run.
type ingestBench struct {
	cfg    ingestBenchConfig
	log    io.Writer
	url    string // server HTTP URL
	rtsp   string // server RTSP host:port
	pid    int    // server pid; 0 = unknown
	child  *ingestServer
	am     *kinesisvideoarchivedmedia.Client
	hc     *http.Client
	names  []string
	pubs   []*ingestPub
	clkTck float64
	stalls stallProbe
	socks  sockProbe
}

func (b *ingestBench) logf(format string, args ...any) {
	if b.log != nil {
		fmt.Fprintf(b.log, format+"\n", args...)
	}
}

// ingestPub is one publisher and what it sent.
type ingestPub struct {
	name string
	pub  *rtspclient.FilePublisher

	mu       sync.Mutex
	units    []int64 // NTP time (Unix ns) of every video access unit sent
	keys     []int64 // the same, of keyframes
	connects int
	errs     []string
	errAt    []time.Time
	// Lateness of units handed to the RTSP client (now − due time): the
	// bench process's own scheduling delay.
	lateMax   time.Duration
	lateMaxAt time.Time
	late200   int // units 200 ms or more late
}

func (p *ingestPub) onUnit(_ time.Duration, key bool, ntp time.Time) {
	t := ntp.UnixNano()
	now := time.Now()
	late := now.Sub(ntp)
	p.mu.Lock()
	p.units = append(p.units, t)
	if key {
		p.keys = append(p.keys, t)
	}
	if late > p.lateMax {
		p.lateMax, p.lateMaxAt = late, now
	}
	if late >= 200*time.Millisecond {
		p.late200++
	}
	p.mu.Unlock()
}

// run publishes until ctx ends, reconnecting a second after a failure
// (each failure is counted: the server dropped or refused the publisher).
func (p *ingestPub) run(ctx context.Context, delay time.Duration, log func(string, ...any)) {
	if ingestSleep(ctx, delay) != nil {
		return
	}
	for {
		p.mu.Lock()
		p.connects++
		p.mu.Unlock()
		err := p.pub.Run(ctx)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			err = errors.New("publisher ended")
		}
		now := time.Now()
		p.mu.Lock()
		p.errs = append(p.errs, now.Format("15:04:05.000")+" "+err.Error())
		p.errAt = append(p.errAt, now)
		p.mu.Unlock()
		log("publisher %s: %v (reconnecting in 1s)", p.name, err)
		if ingestSleep(ctx, time.Second) != nil {
			return
		}
	}
}

func ingestSleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

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

// readPSI reads Linux pressure stall information totals (µs), empty when
// the kernel has none.
func readPSI() map[string]float64 {
	m := map[string]float64{}
	for _, res := range []string{"cpu", "io"} {
		b, err := os.ReadFile("/proc/pressure/" + res)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Fields(line)
			if len(f) < 5 {
				continue
			}
			if v, ok := strings.CutPrefix(f[4], "total="); ok {
				if n, err := strconv.ParseFloat(v, 64); err == nil {
					m[res+"_"+f[0]] = n
				}
			}
		}
	}
	return m
}

// stallProbe sleeps 10 ms at a time and records oversleeps of 50 ms or
// more: how long this process waited for a CPU (or the whole machine
// stalled).
type stallProbe struct {
	mu     sync.Mutex
	stalls []stall
}

type stall struct {
	at time.Time // when the sleep ended
	d  time.Duration
}

func (sp *stallProbe) run(ctx context.Context) {
	for ctx.Err() == nil {
		t0 := time.Now()
		time.Sleep(10 * time.Millisecond)
		if over := time.Since(t0) - 10*time.Millisecond; over >= 50*time.Millisecond {
			sp.mu.Lock()
			sp.stalls = append(sp.stalls, stall{at: time.Now(), d: over})
			sp.mu.Unlock()
		}
	}
}

// sockProbe samples /proc/net/tcp (IPv4: the bench uses 127.0.0.1) for
// the RTSP connections' queues: bytes the server has received but not read
// (rx_queue of sockets on the RTSP port) and bytes publishers have written
// but the server's kernel has not acknowledged (tx_queue of sockets to
// it). On loopback both grow only when the server does not read fast
// enough; both staying small while publishers fail points at the client.
type sockProbe struct {
	port    string // hex, as in /proc/net/tcp
	mu      sync.Mutex
	samples []sockSample
}

type sockSample struct {
	at          time.Time
	serverRx    int64 // largest server-side receive queue
	clientTx    int64 // largest publisher-side send queue
	serverRxSum int64
}

func (sp *sockProbe) run(ctx context.Context) {
	// Every 500 ms: each read of /proc/net/tcp costs a few ms of kernel
	// time with a few hundred sockets, and counts as bench CPU.
	for ingestSleep(ctx, 500*time.Millisecond) == nil {
		b, err := os.ReadFile("/proc/net/tcp")
		if err != nil {
			return
		}
		smp := sockSample{at: time.Now()}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) < 5 {
				continue
			}
			_, lport, _ := strings.Cut(f[1], ":")
			_, rport, _ := strings.Cut(f[2], ":")
			txs, rxs, _ := strings.Cut(f[4], ":")
			tx, _ := strconv.ParseInt(txs, 16, 64)
			rx, _ := strconv.ParseInt(rxs, 16, 64)
			switch {
			case lport == sp.port && f[3] == "01": // ESTABLISHED, server side
				smp.serverRx = max(smp.serverRx, rx)
				smp.serverRxSum += rx
			case rport == sp.port:
				smp.clientTx = max(smp.clientTx, tx)
			}
		}
		sp.mu.Lock()
		sp.samples = append(sp.samples, smp)
		sp.mu.Unlock()
	}
}

// max returns the largest queues seen in [from, to].
func (sp *sockProbe) max(from, to time.Time) (serverRx, serverRxSum, clientTx int64, n int) {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	for _, s := range sp.samples {
		if s.at.Before(from) || s.at.After(to) {
			continue
		}
		n++
		serverRx, serverRxSum, clientTx = max(serverRx, s.serverRx), max(serverRxSum, s.serverRxSum), max(clientTx, s.clientTx)
	}
	return
}

// within returns the stalls that ended in [from, to].
func (sp *stallProbe) within(from, to time.Time) []stall {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	var out []stall
	for _, s := range sp.stalls {
		if !s.at.Before(from) && !s.at.After(to) {
			out = append(out, s)
		}
	}
	return out
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

func runIngestBench(ctx context.Context, cfg ingestBenchConfig) (*ingestResults, error) {
	b := &ingestBench{cfg: cfg, log: cfg.Log, clkTck: ingestClockTicks()}
	clip := cfg.Clip
	if clip == "" {
		var err error
		if clip, err = ingestDefaultClip(ctx, b.logf); err != nil {
			return nil, err
		}
	}
	prefix := cfg.Prefix
	if prefix == "" {
		prefix = "bench-" + time.Now().Format("150405")
	}

	// Load every publisher before the server starts: parsing the file is
	// the bench's cost, not the server's.
	for i := range cfg.Streams {
		p := &ingestPub{name: fmt.Sprintf("%s-%03d", prefix, i)}
		p.pub = &rtspclient.FilePublisher{File: clip, Loop: true, OnUnit: p.onUnit}
		if err := p.pub.Load(); err != nil {
			return nil, fmt.Errorf("clip: %w", err)
		}
		b.pubs = append(b.pubs, p)
		b.names = append(b.names, p.name)
	}

	if cfg.Endpoint != "" {
		b.url, b.rtsp, b.pid = strings.TrimRight(cfg.Endpoint, "/"), cfg.RTSP, cfg.PID
	} else {
		bin := cfg.Server
		if bin == "" {
			var err error
			if bin, err = os.Executable(); err != nil {
				return nil, fmt.Errorf("find this executable to run as the server (or pass --server): %w", err)
			}
		}
		dir, err := os.MkdirTemp("", "eddy-bench-ingest-")
		if err != nil {
			return nil, err
		}
		srv, err := startEddyServer(ctx, bin, dir, cfg.ServerArgs, b.logf)
		if err != nil {
			_ = os.RemoveAll(dir)
			return nil, err
		}
		b.child = srv
		defer func() {
			srv.stop(b.logf)
			if cfg.Keep {
				b.logf("kept the server's directory %s", dir)
			} else {
				_ = os.RemoveAll(dir)
			}
		}()
		b.url, b.rtsp, b.pid = srv.url, srv.rtsp, srv.cmd.Process.Pid
	}
	b.hc = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	b.am = kinesisvideoarchivedmedia.New(kinesisvideoarchivedmedia.Options{
		Region: "us-east-1",
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "secret", Source: "bench"}, nil
		}),
		BaseEndpoint: aws.String(b.url),
		HTTPClient:   ingestGuardedClient{b.hc},
	})

	res := &ingestResults{
		Streams: cfg.Streams, DurationS: cfg.Duration.Seconds(), WarmupS: cfg.Warmup.Seconds(),
		Clip: clip, ClipSpanS: b.pubs[0].pub.Span().Seconds(), Endpoint: b.url, RTSP: b.rtsp,
		ServerPID: b.pid, CPUs: runtime.NumCPU(), ClockTicks: b.clkTck,
		LatencyMethod: "bucket-interpolated (linear within eddy_fragment_persist_seconds buckets, window delta)",
	}
	if b.child != nil {
		res.Server = "child: " + b.child.bin + " serve (TCP only, fresh data dir)"
		if cfg.Keep {
			res.ServerLog, res.DataDir = b.child.logPath, b.child.dir
		}
	} else {
		res.Server = "external"
	}
	// A server that exits during the run (a crash, or a signal from
	// outside) ends the run with its log instead of a report of reconnects.
	ctx, cancelRun := context.WithCancelCause(ctx)
	defer cancelRun(nil)
	if b.child != nil {
		go func() {
			select {
			case <-b.child.done:
				cancelRun(fmt.Errorf("the server (pid %d) exited during the run: %v; the bench did not stop it. Its last log lines:\n%s",
					b.pid, exitStatus(b.child.err), b.child.tail(25)))
			case <-ctx.Done():
			}
		}()
	}
	abort := func(err error) (*ingestResults, error) {
		if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
			return nil, cause
		}
		return nil, err
	}
	idle := b.probe(ctx)
	if idle.metricsErr != nil {
		return abort(fmt.Errorf("metrics: %w", idle.metricsErr))
	}
	res.RSSIdleMiB = mib(idle.rss)

	// Publish.
	pubCtx, stopPubs := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		b.stalls.run(pubCtx)
	}()
	if _, port, err := net.SplitHostPort(b.rtsp); err == nil {
		if n, err := strconv.Atoi(port); err == nil {
			b.socks.port = fmt.Sprintf("%04X", n)
			wg.Add(1)
			go func() {
				defer wg.Done()
				b.socks.run(pubCtx)
			}()
		}
	}
	for i, p := range b.pubs {
		p.pub.URL = "rtsp://" + b.rtsp + "/" + p.name
		delay := cfg.Stagger * time.Duration(i) / time.Duration(cfg.Streams)
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.run(pubCtx, delay, b.logf)
		}()
	}
	stopAll := func() {
		stopPubs()
		wg.Wait()
	}
	defer stopAll()
	b.logf("%d publishers → rtsp://%s/%s-NNN (%s); warm-up %v, window %v", cfg.Streams, b.rtsp, prefix, clip, cfg.Stagger+cfg.Warmup, cfg.Duration)
	if err := ingestSleep(ctx, cfg.Stagger+cfg.Warmup); err != nil {
		return abort(err)
	}

	// The window.
	p0 := b.probe(ctx)
	if p0.metricsErr != nil {
		return abort(fmt.Errorf("metrics: %w", p0.metricsErr))
	}
	end := p0.at.Add(cfg.Duration)
	last := p0
	for {
		next := time.Now().Add(cfg.Progress)
		if cfg.Progress == 0 || !next.Before(end) {
			next = end
		}
		if err := ingestSleep(ctx, time.Until(next)); err != nil {
			return abort(err)
		}
		if !next.Before(end) {
			break
		}
		cur := b.probe(ctx)
		b.logf("%s", progressLine(p0, last, cur))
		last = cur
	}
	p1 := b.probe(ctx)
	if p1.metricsErr != nil {
		return abort(fmt.Errorf("metrics: %w", p1.metricsErr))
	}

	// Let the fragments that started in the window close and be listed,
	// then stop publishing.
	lists, settleProblems := b.settle(ctx, p0.at, p1.at)
	if ctx.Err() != nil {
		return abort(ctx.Err())
	}
	stopAll()
	after := b.probe(ctx) // counters over the whole run, for loss indicators
	if after.metricsErr != nil {
		return abort(fmt.Errorf("metrics: %w", after.metricsErr))
	}

	b.results(res, idle, p0, p1, after, lists)
	res.Problems = append(settleProblems, res.Problems...)
	if b.child != nil {
		res.ServerWarnings = b.child.warnings()
		for i, l := range res.ServerWarnings {
			if i == 5 {
				res.Problems = append(res.Problems, fmt.Sprintf("server log: %d more warnings/errors", len(res.ServerWarnings)-i))
				break
			}
			res.Problems = append(res.Problems, "server log: "+l)
		}
	}
	res.finish()
	if b.child != nil && len(res.Problems) > 0 {
		res.ServerLogTail = b.child.tail(40)
	}
	return res, nil
}

// settle waits until every stream has listed a fragment that started after
// the window (so all that started in it are durable and listed, Append
// being ordered), then returns each stream's fragments over [from, to] by
// server timestamp.
func (b *ingestBench) settle(ctx context.Context, from, to time.Time) (map[string][]kvamtypes.Fragment, []string) {
	gop := b.gop()
	deadline := to.Add(gop + b.cfg.Settle)
	out := map[string][]kvamtypes.Fragment{}
	pending := append([]string(nil), b.names...)
	var problems []string
	for len(pending) > 0 {
		var still []string
		for _, name := range pending {
			fr, err := b.list(ctx, name, from, deadline.Add(time.Minute))
			if err != nil {
				if time.Now().After(deadline) {
					problems = append(problems, fmt.Sprintf("%s: ListFragments failed: %v", name, err))
					continue
				}
				still = append(still, name)
				continue
			}
			var in []kvamtypes.Fragment
			done := false
			for _, f := range fr {
				st := aws.ToTime(f.ServerTimestamp)
				if st.After(to) {
					done = true
				} else {
					in = append(in, f)
				}
			}
			out[name] = in
			if !done {
				if time.Now().After(deadline) {
					problems = append(problems, fmt.Sprintf("%s: no fragment started after the window was listed within %v of its end (recording stalled or persisting is behind)",
						name, (gop+b.cfg.Settle).Round(time.Second)))
					continue
				}
				still = append(still, name)
			}
		}
		pending = still
		if len(pending) > 0 && ingestSleep(ctx, 500*time.Millisecond) != nil {
			break
		}
	}
	return out, problems
}

// list returns a stream's fragments by server timestamp in [from, to],
// sorted by fragment number.
func (b *ingestBench) list(ctx context.Context, name string, from, to time.Time) ([]kvamtypes.Fragment, error) {
	var all []kvamtypes.Fragment
	in := &kinesisvideoarchivedmedia.ListFragmentsInput{
		StreamName: aws.String(name),
		FragmentSelector: &kvamtypes.FragmentSelector{
			FragmentSelectorType: kvamtypes.FragmentSelectorTypeServerTimestamp,
			TimestampRange:       &kvamtypes.TimestampRange{StartTimestamp: aws.Time(from), EndTimestamp: aws.Time(to)},
		},
	}
	for {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		out, err := b.am.ListFragments(cctx, in)
		cancel()
		if err != nil {
			return nil, err
		}
		all = append(all, out.Fragments...)
		if out.NextToken == nil {
			break
		}
		in = &kinesisvideoarchivedmedia.ListFragmentsInput{StreamName: aws.String(name), NextToken: out.NextToken}
	}
	sort.Slice(all, func(i, j int) bool { return fragSeq(all[i]) < fragSeq(all[j]) })
	return all, nil
}

func fragSeq(f kvamtypes.Fragment) uint64 {
	s, _ := fragments.ParseFragmentNumber(aws.ToString(f.FragmentNumber))
	return s
}

// gop is the clip's keyframe interval as sent (median spacing); 2 s
// before anything was sent.
func (b *ingestBench) gop() time.Duration {
	for _, p := range b.pubs {
		p.mu.Lock()
		d := medianSpacing(p.keys)
		p.mu.Unlock()
		if d > 0 {
			return d
		}
	}
	return 2 * time.Second
}

func medianSpacing(ts []int64) time.Duration {
	if len(ts) < 2 {
		return 0
	}
	d := make([]int64, 0, len(ts)-1)
	for i := 1; i < len(ts); i++ {
		d = append(d, ts[i]-ts[i-1])
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return time.Duration(d[len(d)/2])
}

// scrape reads the server's /metrics as series → value (Prometheus text
// format: `name{labels} value`).
func (b *ingestBench) scrape(ctx context.Context) (map[string]float64, error) {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(cctx, http.MethodGet, b.url+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := b.httpClient().Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	return parseMetrics(resp.Body)
}

func (b *ingestBench) httpClient() *http.Client {
	if b.hc != nil {
		return b.hc
	}
	return http.DefaultClient
}

func parseMetrics(r io.Reader) (map[string]float64, error) {
	m := map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		m[line[:i]] = v
	}
	return m, sc.Err()
}

// histBucket is one cumulative bucket of a Prometheus histogram.
type histBucket struct {
	le    float64
	count float64
}

// histDelta returns the buckets of histogram name over [m0, m1].
func histDelta(name string, m0, m1 map[string]float64) []histBucket {
	var out []histBucket
	prefix := name + `_bucket{le="`
	for k, v := range m1 {
		rest, ok := strings.CutPrefix(k, prefix)
		if !ok {
			continue
		}
		le, err := strconv.ParseFloat(strings.TrimSuffix(rest, `"}`), 64)
		if err != nil {
			continue
		}
		out = append(out, histBucket{le: le, count: v - m0[k]})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].le < out[j].le })
	return out
}

// histQuantile estimates quantile q from cumulative buckets, as
// Prometheus's histogram_quantile does: linear interpolation within the
// bucket holding the rank. over reports a rank in the +Inf bucket (the
// value returned is then the highest finite bound, a lower limit).
func histQuantile(q float64, bs []histBucket) (v float64, over bool, ok bool) {
	if len(bs) == 0 || bs[len(bs)-1].count <= 0 {
		return 0, false, false
	}
	total := bs[len(bs)-1].count
	rank := q * total
	for i, bk := range bs {
		if bk.count < rank {
			continue
		}
		lower, below := 0.0, 0.0
		if i > 0 {
			lower, below = bs[i-1].le, bs[i-1].count
		}
		if math.IsInf(bk.le, 1) {
			return lower, true, true
		}
		if bk.count == below {
			return bk.le, false, true
		}
		return lower + (bk.le-lower)*(rank-below)/(bk.count-below), false, true
	}
	return bs[len(bs)-1].le, false, true
}

// histFractionBelow is the share of observations ≤ le (le must be a bound).
func histFractionBelow(le float64, bs []histBucket) (float64, bool) {
	if len(bs) == 0 || bs[len(bs)-1].count <= 0 {
		return 0, false
	}
	for _, bk := range bs {
		if bk.le == le {
			return bk.count / bs[len(bs)-1].count, true
		}
	}
	return 0, false
}

// ingestGuardedClient hides the request body's WriteTo from net/http, the
// workaround for the aws-sdk-go-v2 body race described at
// servertest.GuardRequestBody.
type ingestGuardedClient struct{ hc *http.Client }

func (c ingestGuardedClient) Do(req *http.Request) (*http.Response, error) {
	if req.Body != nil && req.Body != http.NoBody {
		req.Body = struct{ io.ReadCloser }{req.Body}
	}
	return c.hc.Do(req)
}

// ingestClockTicks is USER_HZ, the unit of utime/stime in /proc/PID/stat:
// `getconf CLK_TCK`, or 100 (Linux's value) when that fails.
func ingestClockTicks() float64 {
	out, err := exec.Command("getconf", "CLK_TCK").Output()
	if err == nil {
		if v, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64); err == nil && v > 0 {
			return v
		}
	}
	return 100
}

// ingestCPUSeconds is utime+stime of a process, from /proc/PID/stat.
func ingestCPUSeconds(pid int, tck float64) (float64, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	i := strings.LastIndexByte(string(b), ')') // comm may hold spaces
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 { // state is f[0]; utime f[11], stime f[12]
		return 0, false
	}
	u, err1 := strconv.ParseUint(f[11], 10, 64)
	s, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return float64(u+s) / tck, true
}

// ingestRSS returns VmRSS and VmHWM (peak) of a process in bytes.
func ingestRSS(pid int) (rss, hwm int64) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) < 1 {
			continue
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			continue
		}
		switch k {
		case "VmRSS":
			rss = n << 10
		case "VmHWM":
			hwm = n << 10
		}
	}
	return rss, hwm
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

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

// exitStatus describes a process's exit (nil: status 0).
func exitStatus(err error) string {
	if err == nil {
		return "exit status 0 (a clean shutdown: it got SIGTERM or SIGINT)"
	}
	return err.Error()
}

// ingestServer is a server process the bench (or a test) started.
type ingestServer struct {
	bin     string
	cmd     *exec.Cmd
	dir     string // config, data, log
	logPath string
	url     string
	rtsp    string
	done    chan struct{}
	err     error

	mu   sync.Mutex
	logf *os.File
}

var ingestReadyLine = regexp.MustCompile(`msg=ready http=(\S+) rtsp=rtsp://(\S+)`)

// startEddyServer runs `bin serve` on loopback ports the OS picks, with
// RTSP over TCP only (the UDP listeners are switched off in a config
// file), and waits for its ready line. dir holds the config (eddy.yaml),
// the data directory (data/) and the log (server.log, appended to, so a
// restart on the same dir keeps the earlier runs' lines).
func startEddyServer(ctx context.Context, bin, dir string, extra []string, logf func(string, ...any)) (*ingestServer, error) {
	s := &ingestServer{bin: bin, dir: dir, logPath: filepath.Join(dir, "server.log"), done: make(chan struct{})}
	conf := filepath.Join(dir, "eddy.yaml")
	if err := os.WriteFile(conf, []byte("# RTSP over TCP only\nrtsp_udp_rtp: \"\"\nrtsp_udp_rtcp: \"\"\n"), 0o644); err != nil {
		return nil, err
	}
	var err error
	if s.logf, err = os.OpenFile(s.logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644); err != nil {
		return nil, err
	}
	args := append([]string{"serve", "--config", conf, "--data", filepath.Join(dir, "data"),
		"--http", "127.0.0.1:0", "--rtsp", "127.0.0.1:0", "--webrtc", "127.0.0.1:0", "--log-level", "info"}, extra...)
	s.cmd = exec.Command(bin, args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "EDDY_") {
			s.cmd.Env = append(s.cmd.Env, kv)
		}
	}
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	s.cmd.Stdout = s.logf
	if err := s.cmd.Start(); err != nil {
		_ = s.logf.Close()
		return nil, fmt.Errorf("start server %s: %w", bin, err)
	}
	ready := make(chan [2]string, 1)
	go func() {
		rd := bufio.NewReaderSize(stderr, 64<<10)
		sent := false
		for {
			line, err := rd.ReadString('\n')
			if len(line) > 0 {
				s.mu.Lock()
				_, _ = s.logf.WriteString(line)
				s.mu.Unlock()
				if m := ingestReadyLine.FindStringSubmatch(line); m != nil && !sent {
					sent = true
					ready <- [2]string{m[1], m[2]}
				}
			}
			if err != nil {
				break
			}
		}
		s.err = s.cmd.Wait()
		close(s.done)
	}()
	select {
	case a := <-ready:
		s.url, s.rtsp = a[0], a[1]
	case <-s.done:
		s.stop(logf)
		return nil, fmt.Errorf("server exited before ready: %v\n%s", s.err, s.tail(30))
	case <-time.After(20 * time.Second):
		s.stop(logf)
		return nil, fmt.Errorf("server not ready after 20s:\n%s", s.tail(30))
	case <-ctx.Done():
		s.stop(logf)
		return nil, ctx.Err()
	}
	logf("server: %s serve (pid %d) http %s rtsp %s, log %s", bin, s.cmd.Process.Pid, s.url, s.rtsp, s.logPath)
	return s, nil
}

// stop ends the server with SIGTERM (SIGKILL after 20 s); it returns the
// exit error.
func (s *ingestServer) stop(logf func(string, ...any)) error {
	select {
	case <-s.done:
	default:
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(20 * time.Second):
			logf("server did not stop 20s after SIGTERM; killing it")
			_ = s.cmd.Process.Kill()
			<-s.done
		}
	}
	if s.err != nil {
		logf("server exited: %v (log %s)", s.err, s.logPath)
	}
	s.mu.Lock()
	_ = s.logf.Close()
	s.mu.Unlock()
	return s.err
}

// kill ends the server with SIGKILL, as a crash would.
func (s *ingestServer) kill() error {
	select {
	case <-s.done:
		return fmt.Errorf("server had already exited: %v", s.err)
	default:
	}
	if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		return err
	}
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		return errors.New("server still running 10s after SIGKILL")
	}
	s.mu.Lock()
	_ = s.logf.Close()
	s.mu.Unlock()
	return nil
}

// warnings returns the WARN and ERROR lines of the server's log.
func (s *ingestServer) warnings() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, err := os.ReadFile(s.logPath)
	if err != nil {
		return nil
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, "level=WARN") || strings.Contains(l, "level=ERROR") {
			out = append(out, l)
		}
	}
	return out
}

// tail returns the last n lines of the server's log.
func (s *ingestServer) tail(n int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, err := os.ReadFile(s.logPath)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// ingestResults is the report of one run.
type ingestResults struct {
	Streams    int     `json:"streams"`
	DurationS  float64 `json:"duration_seconds"` // the measured window, as measured
	WarmupS    float64 `json:"warmup_seconds"`
	Clip       string  `json:"clip"`
	ClipSpanS  float64 `json:"clip_span_seconds"`
	GOPS       float64 `json:"gop_seconds"` // keyframe interval as sent
	FrameMS    float64 `json:"frame_ms"`    // video frame interval as sent
	Server     string  `json:"server"`      // "child: …" or "external"
	Endpoint   string  `json:"endpoint"`    // HTTP URL
	RTSP       string  `json:"rtsp"`        // host:port
	ServerPID  int     `json:"server_pid,omitempty"`
	ServerLog  string  `json:"server_log,omitempty"`
	DataDir    string  `json:"data_dir,omitempty"` // kept child data directory
	CPUs       int     `json:"cpus"`
	ClockTicks float64 `json:"clock_ticks_per_second"`
	LoadStart  string  `json:"loadavg_start"`
	LoadEnd    string  `json:"loadavg_end"`
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

	FragmentsPersisted int64   `json:"fragments_persisted"` // eddy_fragments_persisted_total, window delta
	FragmentsPerSecond float64 `json:"fragments_per_second"`
	FragmentsListed    int     `json:"fragments_listed"`   // ListFragments, server timestamp in the window
	FragmentsExpected  float64 `json:"fragments_expected"` // streams × window / GOP
	KeyframesSent      int     `json:"keyframes_sent"`     // publishers, in the window

	LatencyMethod       string   `json:"latency_method"`
	LatencyCount        int64    `json:"latency_observations"`
	LatencyP50MS        *float64 `json:"persist_p50_ms,omitempty"`
	LatencyP99MS        *float64 `json:"persist_p99_ms,omitempty"`
	LatencyP99Over      bool     `json:"persist_p99_beyond_last_bucket,omitempty"`
	LatencyWithin50msPc *float64 `json:"persist_within_50ms_percent,omitempty"`

	SentMediaS       float64          `json:"sent_media_seconds"`   // video the publishers sent over the listed fragments' span
	ListedMediaS     float64          `json:"listed_media_seconds"` // Σ FragmentLengthInMilliseconds
	LostMediaS       float64          `json:"lost_media_seconds"`
	Gaps             int              `json:"gaps"`
	GapsAtPubErrors  int              `json:"gaps_at_publisher_errors"` // within 2 s of a publisher disconnect
	GapsAtPubErrorsS float64          `json:"gap_seconds_at_publisher_errors"`
	MissingNumbers   int              `json:"missing_fragment_numbers"`
	Counters         map[string]int64 `json:"loss_counters"` // whole-run deltas of overflow/drop/error counters
	PublisherErrors  int              `json:"publisher_errors"`
	StreamsWithLoss  int              `json:"streams_with_loss"`
	Loss             bool             `json:"loss"`
	Problems         []string         `json:"problems,omitempty"`
	ServerWarnings   []string         `json:"server_warnings,omitempty"` // WARN/ERROR lines of a started server's log
	ServerLogTail    string           `json:"server_log_tail,omitempty"`
	PerStream        []ingestStream   `json:"per_stream"`
}

// ingestStream is one stream's loss accounting.
type ingestStream struct {
	Name            string   `json:"name"`
	Fragments       int      `json:"fragments"`
	SentMediaMS     float64  `json:"sent_media_ms"`
	ListedMediaMS   float64  `json:"listed_media_ms"`
	LostMediaMS     float64  `json:"lost_media_ms"`
	Gaps            int      `json:"gaps"`
	GapsAtPubErrors int      `json:"gaps_at_publisher_errors"`
	GapAtPubErrMS   float64  `json:"gap_ms_at_publisher_errors"`
	MissingNumbers  int      `json:"missing_fragment_numbers"`
	FirstStartMS    float64  `json:"first_start_after_window_ms"` // server time of the first fragment − window start
	LastStartMS     float64  `json:"last_start_before_end_ms"`    // window end − server time of the last fragment
	Connects        int      `json:"connects"`
	PublisherErrors []string `json:"publisher_errors,omitempty"`
	Loss            bool     `json:"loss"`
}

// ingestLossCounter reports whether a /metrics series counts lost or
// dropped media.
func ingestLossCounter(series string) bool {
	name, _, _ := strings.Cut(series, "{")
	if !strings.HasPrefix(name, "eddy_") {
		return false
	}
	switch name {
	case "eddy_recorder_overflows_total", "eddy_fragment_append_errors_total":
		return true
	}
	return strings.Contains(name, "drop") || strings.Contains(name, "overflow")
}

func (b *ingestBench) results(res *ingestResults, idle, p0, p1, after ingestProbe, lists map[string][]kvamtypes.Fragment) {
	win := p1.at.Sub(p0.at)
	res.DurationS = win.Seconds()
	res.LoadStart, res.LoadEnd = p0.load, p1.load
	psi := func(k string) *float64 {
		a, ok0 := p0.psi[k]
		z, ok1 := p1.psi[k]
		if !ok0 || !ok1 {
			return nil
		}
		v := 100 * (z - a) / float64(win.Microseconds())
		return &v
	}
	res.CPUPressurePc, res.IOPressurePc, res.IOPressureFullPc = psi("cpu_some"), psi("io_some"), psi("io_full")
	rx, rxSum, tx, ns := b.socks.max(p0.at, p1.at)
	res.SockSamples, res.ServerRxMaxKiB, res.ServerRxSumMaxKiB, res.ClientTxMaxKiB = ns, float64(rx)/1024, float64(rxSum)/1024, float64(tx)/1024
	for _, st := range b.stalls.within(p0.at, p1.at) {
		if st.d >= 100*time.Millisecond {
			res.BenchStalls100ms++
		}
		res.BenchStallMaxMS = math.Max(res.BenchStallMaxMS, float64(st.d)/1e6)
	}
	n := float64(res.Streams)
	if p0.serverCPUOK && p1.serverCPUOK {
		c := p1.serverCPU - p0.serverCPU
		pc, psm := 100*c/win.Seconds(), c/(n*win.Minutes())
		res.ServerCPUSeconds, res.ServerCPUPercent, res.ServerCPUPerStreamMinute = &c, &pc, &psm
	}
	if p0.selfCPUOK && p1.selfCPUOK {
		c := p1.selfCPU - p0.selfCPU
		pc := 100 * c / win.Seconds()
		res.ClientCPUSeconds, res.ClientCPUPercent = &c, &pc
	}
	if p1.hwm > 0 {
		res.RSSPeakMiB, res.RSSEndMiB = mib(p1.hwm), mib(p1.rss)
		res.RSSPeakPerStreamMiB = res.RSSPeakMiB / n
		res.RSSGrowthPerStreamMiB = (res.RSSEndMiB - res.RSSIdleMiB) / n
	}
	res.FragmentsPersisted = int64(p1.metrics["eddy_fragments_persisted_total"] - p0.metrics["eddy_fragments_persisted_total"])
	res.FragmentsPerSecond = float64(res.FragmentsPersisted) / win.Seconds()

	hist := histDelta("eddy_fragment_persist_seconds", p0.metrics, p1.metrics)
	if len(hist) > 0 {
		res.LatencyCount = int64(hist[len(hist)-1].count)
	}
	if v, _, ok := histQuantile(0.5, hist); ok {
		ms := v * 1000
		res.LatencyP50MS = &ms
	}
	if v, over, ok := histQuantile(0.99, hist); ok {
		ms := v * 1000
		res.LatencyP99MS, res.LatencyP99Over = &ms, over
	}
	if f, ok := histFractionBelow(0.05, hist); ok {
		pc := 100 * f
		res.LatencyWithin50msPc = &pc
	}

	res.Counters = map[string]int64{}
	for k, v := range after.metrics {
		if ingestLossCounter(k) {
			d := int64(v - idle.metrics[k])
			res.Counters[k] = d
			if d > 0 {
				res.Problems = append(res.Problems, fmt.Sprintf("%s rose by %d during the run", k, d))
			}
		}
	}
	if _, ok := after.metrics["eddy_recorder_overflows_total"]; !ok {
		res.Problems = append(res.Problems, "eddy_recorder_overflows_total is missing from /metrics")
	}

	gop := b.gop()
	res.GOPS = gop.Seconds()
	res.FragmentsExpected = n * win.Seconds() / gop.Seconds()
	for _, p := range b.pubs {
		p.mu.Lock()
		units := append([]int64(nil), p.units...)
		keys := append([]int64(nil), p.keys...)
		st := ingestStream{Name: p.name, Connects: p.connects, PublisherErrors: append([]string(nil), p.errs...)}
		errAt := append([]time.Time(nil), p.errAt...)
		res.PublisherLateMaxMS = math.Max(res.PublisherLateMaxMS, float64(p.lateMax)/1e6)
		res.PublisherLate200 += p.late200
		p.mu.Unlock()
		for _, k := range keys {
			if k >= p0.at.UnixNano() && k <= p1.at.UnixNano() {
				res.KeyframesSent++
			}
		}
		sort.Slice(units, func(i, j int) bool { return units[i] < units[j] })
		frame := medianSpacing(units)
		if frame <= 0 {
			frame = 40 * time.Millisecond
		}
		if res.FrameMS == 0 {
			res.FrameMS = float64(frame) / 1e6
		}
		probs := analyzeIngestStream(&st, units, errAt, lists[p.name], p0.at, p1.at, gop, frame)
		res.Problems = append(res.Problems, probs...)
		res.FragmentsListed += st.Fragments
		res.SentMediaS += st.SentMediaMS / 1000
		res.ListedMediaS += st.ListedMediaMS / 1000
		res.LostMediaS += math.Max(st.LostMediaMS, 0) / 1000
		res.Gaps += st.Gaps
		res.GapsAtPubErrors += st.GapsAtPubErrors
		res.GapsAtPubErrorsS += st.GapAtPubErrMS / 1000
		res.MissingNumbers += st.MissingNumbers
		res.PublisherErrors += len(st.PublisherErrors)
		if len(st.PublisherErrors) > 0 {
			st.Loss = true
			res.Problems = append(res.Problems, fmt.Sprintf("%s: %d publisher error(s), first: %s", p.name, len(st.PublisherErrors), st.PublisherErrors[0]))
		}
		if st.Loss {
			res.StreamsWithLoss++
		}
		res.PerStream = append(res.PerStream, st)
	}
}

// analyzeIngestStream compares a stream's fragments listed over [from, to]
// (by server timestamp) with the video units its publisher sent. The
// fragments' producer timestamps are the publisher's send clock (RTCP
// sender reports), so the span they cover can be matched to the units
// sent in it: the media time of those units must equal the sum of the
// fragments' lengths, consecutive fragments must abut within a frame, and
// fragment numbers must be consecutive. The first and last fragment must
// start within a GOP (+0.5 s) of the window's edges.
//
// A gap within 2 s of a publisher error (the publisher's RTSP connection
// failed and it reconnected) is counted apart: the media there may have
// been lost in the publisher (its queue is dropped with the connection)
// rather than in the server.
func analyzeIngestStream(st *ingestStream, units []int64, errAt []time.Time, frags []kvamtypes.Fragment, from, to time.Time, gop, frame time.Duration) []string {
	var probs []string
	bad := func(format string, args ...any) {
		st.Loss = true
		probs = append(probs, st.Name+": "+fmt.Sprintf(format, args...))
	}
	st.Fragments = len(frags)
	if len(frags) == 0 {
		sent := sentMedia(units, from.UnixNano(), to.UnixNano(), frame)
		st.SentMediaMS, st.LostMediaMS = float64(sent)/1e6, float64(sent)/1e6
		bad("no fragment listed in the window (publisher sent %.1f s of video in it)", st.SentMediaMS/1000)
		return probs
	}
	const maxReported = 3
	reported := 0
	var listed time.Duration
	for i, f := range frags {
		listed += time.Duration(f.FragmentLengthInMilliseconds) * time.Millisecond
		if i == 0 {
			continue
		}
		prev := frags[i-1]
		if d := fragSeq(f) - fragSeq(prev); d != 1 {
			st.MissingNumbers += int(d) - 1
			bad("fragment numbers jump from %s to %s (%d not listed)", aws.ToString(prev.FragmentNumber), aws.ToString(f.FragmentNumber), int(d)-1)
		}
		prevEnd := aws.ToTime(prev.ProducerTimestamp).Add(time.Duration(prev.FragmentLengthInMilliseconds) * time.Millisecond)
		gap := aws.ToTime(f.ProducerTimestamp).Sub(prevEnd)
		if gap > frame || gap < -frame {
			st.Gaps++
			atErr := ""
			for _, e := range errAt {
				if !e.Before(prevEnd.Add(-2*time.Second)) && !e.After(aws.ToTime(f.ProducerTimestamp).Add(500*time.Millisecond)) {
					atErr = " at a publisher reconnect (publisher error " + e.Format("15:04:05.000") + ")"
					st.GapsAtPubErrors++
					st.GapAtPubErrMS += float64(gap) / 1e6
					break
				}
			}
			if reported < maxReported {
				reported++
				what := "gap"
				if gap < 0 {
					what = "overlap"
				}
				bad("%s of %v between fragment %s (ends %s) and %s (starts %s)%s", what, gap.Abs().Round(time.Millisecond),
					aws.ToString(prev.FragmentNumber), prevEnd.Format("15:04:05.000"),
					aws.ToString(f.FragmentNumber), aws.ToTime(f.ProducerTimestamp).Format("15:04:05.000"), atErr)
			}
		}
	}
	if st.Gaps > reported {
		bad("%d more gaps", st.Gaps-reported)
	}
	first, last := frags[0], frags[len(frags)-1]
	lo := aws.ToTime(first.ProducerTimestamp).UnixNano() - int64(frame/2)
	hi := aws.ToTime(last.ProducerTimestamp).UnixNano() + last.FragmentLengthInMilliseconds*1e6 - int64(frame/2)
	sent := sentMedia(units, lo, hi, frame)
	st.SentMediaMS = float64(sent) / 1e6
	st.ListedMediaMS = float64(listed) / 1e6
	st.LostMediaMS = st.SentMediaMS - st.ListedMediaMS
	// Lengths are whole milliseconds: allow 1 ms per fragment, plus half a frame.
	tol := float64(frame/2)/1e6 + float64(len(frags))
	if math.Abs(st.LostMediaMS) > tol {
		if st.LostMediaMS > 0 {
			bad("publisher sent %.3f s of video over the listed fragments' span, fragments hold %.3f s: %.3f s lost",
				st.SentMediaMS/1000, st.ListedMediaMS/1000, st.LostMediaMS/1000)
		} else {
			bad("fragments hold %.3f s of video, publisher sent %.3f s over their span: %.3f s too much (duplicated?)",
				st.ListedMediaMS/1000, st.SentMediaMS/1000, -st.LostMediaMS/1000)
		}
	} else {
		st.LostMediaMS = 0
	}
	edge := gop + 500*time.Millisecond
	st.FirstStartMS = float64(aws.ToTime(first.ServerTimestamp).Sub(from)) / 1e6
	st.LastStartMS = float64(to.Sub(aws.ToTime(last.ServerTimestamp))) / 1e6
	if d := aws.ToTime(first.ServerTimestamp).Sub(from); d > edge {
		bad("first fragment in the window starts %v after its start (want ≤ one GOP): the stream was not recorded before", d.Round(time.Millisecond))
	}
	if d := to.Sub(aws.ToTime(last.ServerTimestamp)); d > edge {
		bad("last fragment in the window starts %v before its end (want ≤ one GOP): recording stopped", d.Round(time.Millisecond))
	}
	return probs
}

// sentMedia is the media time of the units sent (NTP times, sorted) in
// [lo, hi): each unit lasts until the next one, or one frame when the next
// is more than three frames away (a reconnect) or missing.
func sentMedia(units []int64, lo, hi int64, frame time.Duration) time.Duration {
	i := sort.Search(len(units), func(i int) bool { return units[i] >= lo })
	var sum time.Duration
	for ; i < len(units) && units[i] < hi; i++ {
		d := frame
		if i+1 < len(units) {
			if nd := time.Duration(units[i+1] - units[i]); nd > 0 && nd <= 3*frame {
				d = nd
			}
		}
		sum += d
	}
	return sum
}

// finish sets the verdict.
func (r *ingestResults) finish() {
	r.Loss = len(r.Problems) > 0 || r.StreamsWithLoss > 0 || r.LostMediaS > 0 || r.Gaps > 0 || r.MissingNumbers > 0
}

func fmtOpt(v *float64, format string) string {
	if v == nil {
		return "n/a"
	}
	return fmt.Sprintf(format, *v)
}

func (r *ingestResults) writeText(w io.Writer) {
	fmt.Fprintf(w, "\neddy bench ingest: %d streams × %.1fs window (after %.0fs warm-up)\n", r.Streams, r.DurationS, r.WarmupS)
	fmt.Fprintf(w, "  clip     %s (%.1fs loop, GOP %.2fs, frame %.1f ms as sent)\n", r.Clip, r.ClipSpanS, r.GOPS, r.FrameMS)
	fmt.Fprintf(w, "  server   %s, pid %d, %s, rtsp://%s\n", r.Server, r.ServerPID, r.Endpoint, r.RTSP)
	fmt.Fprintf(w, "  machine  %d CPUs, load average %s → %s (shared machine: CPU and latency figures are noisy)\n\n", r.CPUs, r.LoadStart, r.LoadEnd)
	tw := func(k, v, target string) {
		if target != "" {
			fmt.Fprintf(w, "  %-42s %-34s %s\n", k, v, target)
		} else {
			fmt.Fprintf(w, "  %-42s %s\n", k, v)
		}
	}
	fmt.Fprintf(w, "  %-42s %-34s %s\n", "metric", "measured", "target")
	tw("server CPU", fmtOpt(r.ServerCPUSeconds, "%.2f CPU-s")+" ("+fmtOpt(r.ServerCPUPercent, "%.1f%% of one core")+")", "")
	tw("  per stream-minute", fmtOpt(r.ServerCPUPerStreamMinute, "%.3f CPU-s"), "≤ 0.75 at 10 streams, ≤ 0.44 at 100")
	if r.RSSPeakMiB > 0 {
		tw("server RSS peak (VmHWM)", fmt.Sprintf("%.1f MiB (idle %.1f MiB)", r.RSSPeakMiB, r.RSSIdleMiB), "")
		tw("  per stream: peak / streams", fmt.Sprintf("%.2f MiB", r.RSSPeakPerStreamMiB), "~1 MiB")
		tw("  per stream: (end − idle) / streams", fmt.Sprintf("%.2f MiB", r.RSSGrowthPerStreamMiB), "~1 MiB")
		tw("server RSS at window end", fmt.Sprintf("%.1f MiB", r.RSSEndMiB), "")
	} else {
		tw("server RSS", "n/a (no pid)", "")
	}
	tw("bench client CPU (publishers)", fmtOpt(r.ClientCPUSeconds, "%.2f CPU-s")+" ("+fmtOpt(r.ClientCPUPercent, "%.1f%% of one core")+")", "")
	tw("machine pressure (PSI, window)", "CPU some "+fmtOpt(r.CPUPressurePc, "%.0f%%")+", IO some "+fmtOpt(r.IOPressurePc, "%.1f%%")+
		" full "+fmtOpt(r.IOPressureFullPc, "%.1f%%"), "")
	tw("bench stalls (10 ms sleeps, window)", fmt.Sprintf("%d over 100 ms, max %.0f ms", r.BenchStalls100ms, r.BenchStallMaxMS), "")
	tw("publisher lateness (whole run)", fmt.Sprintf("max %.0f ms, %d units ≥ 200 ms late", r.PublisherLateMaxMS, r.PublisherLate200), "")
	if r.SockSamples > 0 {
		tw("RTSP socket queues (max, 500 ms samples)", fmt.Sprintf("server unread %.0f KiB (all %.0f KiB), publisher unsent %.0f KiB",
			r.ServerRxMaxKiB, r.ServerRxSumMaxKiB, r.ClientTxMaxKiB), "")
	}
	tw("fragments persisted (metrics)", fmt.Sprintf("%d (%.2f/s)", r.FragmentsPersisted, r.FragmentsPerSecond), "")
	tw("fragments listed (server time in window)", fmt.Sprintf("%d", r.FragmentsListed), "")
	tw("fragments expected", fmt.Sprintf("%.1f (streams × window / GOP); %d keyframes sent", r.FragmentsExpected, r.KeyframesSent), "")
	p99 := fmtOpt(r.LatencyP99MS, "%.1f ms")
	if r.LatencyP99Over {
		p99 = "> " + p99
	}
	tw("persist latency p50 / p99", fmtOpt(r.LatencyP50MS, "%.1f ms")+" / "+p99, "p99 ≤ 50 ms")
	tw("  within 50 ms", fmtOpt(r.LatencyWithin50msPc, "%.1f%%")+fmt.Sprintf(" of %d (bucket-interpolated)", r.LatencyCount), "")
	tw("video sent / listed (listed span)", fmt.Sprintf("%.2f s / %.2f s", r.SentMediaS, r.ListedMediaS), "")
	lossLine := fmt.Sprintf("%.3f s lost, %d gaps, %d unlisted numbers, %d publisher errors", r.LostMediaS, r.Gaps, r.MissingNumbers, r.PublisherErrors)
	tw("loss", lossLine, "zero")
	if r.GapsAtPubErrors > 0 {
		tw("  gaps at publisher reconnects", fmt.Sprintf("%d of %d, %.3f s", r.GapsAtPubErrors, r.Gaps, r.GapsAtPubErrorsS), "")
	}
	keys := make([]string, 0, len(r.Counters))
	for k := range r.Counters {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		tw("  "+k, strconv.FormatInt(r.Counters[k], 10), "0")
	}
	if !r.Loss {
		fmt.Fprintf(w, "\n  RESULT: zero loss (%d streams with loss)\n", r.StreamsWithLoss)
		return
	}
	fmt.Fprintf(w, "\n  RESULT: LOSS OR ERRORS in %d of %d streams:\n", r.StreamsWithLoss, r.Streams)
	for i, p := range r.Problems {
		if i == 30 {
			fmt.Fprintf(w, "    … %d more (see --json)\n", len(r.Problems)-i)
			break
		}
		fmt.Fprintf(w, "    - %s\n", p)
	}
	if r.ServerLogTail != "" {
		fmt.Fprintf(w, "\n  server log (last lines):\n%s\n", r.ServerLogTail)
	}
}
