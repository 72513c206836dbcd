package bench

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
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

// ingestBench is the state of one run.
type ingestBench struct {
	cfg    ingestBenchConfig
	log    io.Writer
	url    string // server HTTP URL
	rtsp   string // server RTSP host:port
	pid    int    // server pid; 0 = unknown
	child  *Server
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
		srv, err := StartServer(ctx, bin, dir, cfg.ServerArgs, b.logf)
		if err != nil {
			_ = os.RemoveAll(dir)
			return nil, err
		}
		b.child = srv
		defer func() {
			srv.Stop(b.logf)
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
					b.pid, exitStatus(b.child.err), b.child.Tail(25)))
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
		res.ServerLogTail = b.child.Tail(40)
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
			fr, err := ListFragments(ctx, b.am, name, from, deadline.Add(time.Minute))
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

// ListFragments returns a stream's fragments by server timestamp in
// [from, to], sorted by fragment number, following NextToken.
func ListFragments(ctx context.Context, am *kinesisvideoarchivedmedia.Client, name string, from, to time.Time) ([]kvamtypes.Fragment, error) {
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
		out, err := am.ListFragments(cctx, in)
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
