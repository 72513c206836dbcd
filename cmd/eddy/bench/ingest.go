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
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
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
	Clip     string        // MP4 to publish; "" = the generated default (see ingestClip)

	childConfig        // the server to start, unless Endpoint is set
	Endpoint    string // an already-running server's HTTP URL: no child
	RTSP        string // its RTSP host:port (with Endpoint)
	PID         int    // its process id, for CPU and RSS (with Endpoint)

	// Compare is a MediaMTX binary to measure in the same invocation, with
	// the same clip and publishers (ingest_compare.go); "" = Eddy alone.
	Compare string
	// CompareOrder is which server goes first: compareMediaMTXFirst ("",
	// the default) or compareEddyFirst.
	CompareOrder string
	// Pause is the idle time between the two servers of a comparison.
	Pause time.Duration

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
		Pause:    3 * time.Second,
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
	if c.Warmup < 0 || c.Stagger < 0 || c.Settle < 0 || c.Progress < 0 || c.Pause < 0 {
		errs = append(errs, errors.New("--warmup, --stagger, --settle, --pause and --progress must not be negative"))
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
	errs = append(errs, c.validateCompare()...)
	return errors.Join(errs...)
}

func benchIngest(args []string) error {
	cfg := defaultIngestBenchConfig()
	fs := flag.NewFlagSet("bench ingest", flag.ContinueOnError)
	setUsage(fs, "[flags]", fmt.Sprintf("Publishes an MP4 over RTSP to N streams in real time and measures the server:\n"+
		"CPU per stream-minute, RSS, fragments persisted, persist latency (p50/p99) and\n"+
		"loss (ListFragments against what the publishers sent). By default it starts its\n"+
		"own server (`eddy serve` on loopback, TCP only, fresh data directory).\n\n"+
		"The default clip (720p25 H.264 2 Mbit/s, GOP 2 s, AAC 64 kbit/s, 20 s) is made\n"+
		"once with ffmpeg and cached at %s.\n\n%s", defaultClipPath(), compareAbout))
	fs.IntVar(&cfg.Streams, "streams", cfg.Streams, "publishers (one stream each)")
	fs.DurationVar(&cfg.Duration, "duration", cfg.Duration, "measured window")
	fs.DurationVar(&cfg.Warmup, "warmup", cfg.Warmup, "publishing before the window starts (after the staggered starts)")
	fs.DurationVar(&cfg.Stagger, "stagger", cfg.Stagger, "spread publisher starts over this long")
	fs.DurationVar(&cfg.Settle, "settle", cfg.Settle, "longest wait after the window (beyond one GOP) for its last fragments to be listed")
	fs.StringVar(&cfg.Clip, "clip", cfg.Clip, "MP4 (H.264/H.265 + AAC) to publish; default: generated with ffmpeg and cached")
	splitServerArgs := cfg.addFlags(fs, "extra flags for the started server's serve command, space separated (e.g. \"--sync interval\")")
	fs.StringVar(&cfg.Endpoint, "endpoint", cfg.Endpoint, "HTTP URL of a running server instead of starting one (with --rtsp)")
	fs.StringVar(&cfg.RTSP, "rtsp", cfg.RTSP, "RTSP host:port of the running server given with --endpoint")
	fs.IntVar(&cfg.PID, "pid", cfg.PID, "process id of the server given with --endpoint, for CPU and RSS from /proc")
	fs.StringVar(&cfg.Compare, "compare", cfg.Compare, "MediaMTX binary (v1.20.1) to measure in the same run with the same clip and publishers, then print Eddy/MediaMTX")
	fs.StringVar(&cfg.CompareOrder, "compare-order", compareMediaMTXFirst, "with --compare: which server is measured first, "+compareMediaMTXFirst+" or "+compareEddyFirst)
	fs.DurationVar(&cfg.Pause, "pause", cfg.Pause, "with --compare: idle time between the two servers")
	fs.StringVar(&cfg.Prefix, "prefix", cfg.Prefix, "stream name prefix (default bench-<time>)")
	fs.DurationVar(&cfg.Progress, "progress", cfg.Progress, "progress line period on stderr (0 = none)")
	jsonOut := fs.Bool("json", false, "also print the results as JSON")
	cpuProfile := fs.String("cpuprofile", "", "write the bench process's own CPU profile (the publishers) to this file")
	check := func() error { splitServerArgs(); return cfg.validate() }
	if help, err := parseFlags(fs, args, check); help || err != nil {
		return err
	}
	cfg.Log = os.Stderr
	if cfg.Compare != "" {
		return runAndReport(*jsonOut, *cpuProfile, func(ctx context.Context) (*ingestCompareResults, error) { return runIngestCompare(ctx, cfg) })
	}
	return runAndReport(*jsonOut, *cpuProfile, func(ctx context.Context) (*ingestResults, error) { return runIngestBench(ctx, cfg) })
}

// ingestBench is the state of one run.
type ingestBench struct {
	cfg ingestBenchConfig
	logger
	prober        // url, pid, hc, clock ticks and stalls of the server
	rtsp   string // server RTSP host:port
	child  *Server
	am     *kinesisvideoarchivedmedia.Client
	clip   string // the MP4 published
	prefix string // stream names are prefix-NNN
	names  []string
	pubs   []*publisher
	socks  sockProbe
	// dataDir, when set (a comparison with MediaMTX), is the started
	// server's data directory, whose growth over the window is reported.
	dataDir string
}

func runIngestBench(ctx context.Context, cfg ingestBenchConfig) (*ingestResults, error) {
	b, err := newIngestBench(ctx, cfg)
	if err != nil {
		return nil, err
	}
	stopServer, err := b.connect(ctx, "ingest")
	if err != nil {
		return nil, err
	}
	defer stopServer()
	res := b.newResults()
	if b.child != nil {
		var cancelRun context.CancelCauseFunc
		ctx, cancelRun = b.child.watch(ctx)
		defer cancelRun(nil)
	}
	idle := b.probe(ctx)
	if idle.metricsErr != nil {
		return nil, runErr(ctx, fmt.Errorf("metrics: %w", idle.metricsErr))
	}

	stopAll := b.publish(ctx)
	defer stopAll()
	b.logf("%d publishers → rtsp://%s/%s-NNN (%s); warm-up %v, window %v", cfg.Streams, b.rtsp, b.prefix, b.clip, cfg.Stagger+cfg.Warmup, cfg.Duration)
	if err := sleepCtx(ctx, cfg.Stagger+cfg.Warmup); err != nil {
		return nil, runErr(ctx, err)
	}

	// The window.
	var data0 int64
	if b.dataDir != "" {
		data0 = dirBytes(b.dataDir)
	}
	p0, p1, err := b.window(ctx, cfg.Duration, cfg.Progress, b.logf)
	if err != nil {
		return nil, runErr(ctx, err)
	}
	if b.dataDir != "" {
		grown := dirBytes(b.dataDir) - data0
		res.DataGrowthBytes = &grown
	}
	if b.child != nil && cfg.Profile != "" {
		b.child.heapProfile() // the live heap at the window's end
	}

	// Let the fragments that started in the window close and be listed,
	// then stop publishing.
	lists, settleProblems := b.settle(ctx, p0.at, p1.at)
	if ctx.Err() != nil {
		return nil, runErr(ctx, ctx.Err())
	}
	stopAll()
	after := b.probe(ctx) // counters over the whole run, for loss indicators
	if after.metricsErr != nil {
		return nil, runErr(ctx, fmt.Errorf("metrics: %w", after.metricsErr))
	}
	b.finish(res, idle, p0, p1, after, lists, settleProblems)
	return res, nil
}

// newIngestBench loads the clip into one publisher per stream. Loading
// comes before the server starts: parsing the file is the bench's cost,
// not the server's.
func newIngestBench(ctx context.Context, cfg ingestBenchConfig) (*ingestBench, error) {
	b := &ingestBench{cfg: cfg, logger: logger{log: cfg.Log}, prober: prober{clkTck: clockTicks()}}
	var err error
	if b.clip, err = clipOrDefault(ctx, cfg.Clip, b.logf); err != nil {
		return nil, err
	}
	b.prefix = cfg.Prefix
	if b.prefix == "" {
		b.prefix = "bench-" + time.Now().Format("150405")
	}
	for i := range cfg.Streams {
		p := &publisher{name: fmt.Sprintf("%s-%03d", b.prefix, i)}
		p.pub = &rtspclient.FilePublisher{File: b.clip, Loop: true, OnUnit: p.onUnit}
		if err := p.pub.Load(); err != nil {
			return nil, fmt.Errorf("clip: %w", err)
		}
		b.pubs = append(b.pubs, p)
		b.names = append(b.names, p.name)
	}
	return b, nil
}

// connect starts the server (a child named after bench) unless the
// config names a running one, and makes the clients; stop stops a child.
func (b *ingestBench) connect(ctx context.Context, bench string) (stop func(), err error) {
	cfg := b.cfg
	stop = func() {}
	if cfg.Endpoint != "" {
		b.url, b.rtsp, b.pid = strings.TrimRight(cfg.Endpoint, "/"), cfg.RTSP, cfg.PID
	} else {
		srv, stopServer, err := startChild(ctx, cfg.childConfig, bench, b.logf)
		if err != nil {
			return nil, err
		}
		b.child, stop = srv, stopServer
		b.url, b.rtsp, b.pid = srv.url, srv.rtsp, srv.cmd.Process.Pid
		if cfg.Compare != "" {
			b.dataDir = filepath.Join(srv.dir, "data")
		}
	}
	b.hc = newHTTPClient(8)
	b.am = kinesisvideoarchivedmedia.New(kinesisvideoarchivedmedia.Options{
		Region: "us-east-1",
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "secret", Source: "bench"}, nil
		}),
		BaseEndpoint: aws.String(b.url),
		HTTPClient:   ingestGuardedClient{b.hc},
	})
	return stop, nil
}

// newResults is a report with the run's configuration filled in.
func (b *ingestBench) newResults() *ingestResults {
	cfg := b.cfg
	res := &ingestResults{
		Streams: cfg.Streams, procFigures: procFigures{DurationS: cfg.Duration.Seconds()}, WarmupS: cfg.Warmup.Seconds(),
		Clip: b.clip, ClipSpanS: b.pubs[0].pub.Span().Seconds(), Endpoint: b.url, RTSP: b.rtsp,
		ServerPID: b.pid, CPUs: runtime.NumCPU(), ClockTicks: b.clkTck,
		LatencyMethod: "bucket-interpolated (linear within eddy_fragment_persist_seconds buckets, window delta)",
	}
	res.Server = "external"
	if b.child != nil {
		res.Server = "child: " + b.child.bin + " serve (TCP only, fresh data dir)"
		if cfg.Keep {
			res.ServerLog, res.DataDir = b.child.logPath, b.child.dir
		}
	}
	return res
}

// publish starts the publishers (spread over cfg.Stagger), the stall
// probe and the RTSP socket probe; stop stops them all and waits.
func (b *ingestBench) publish(ctx context.Context) (stop func()) {
	pubCtx, stopPubs := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { b.stalls.run(pubCtx) })
	if _, port, err := net.SplitHostPort(b.rtsp); err == nil {
		if n, err := strconv.Atoi(port); err == nil {
			b.socks.port = fmt.Sprintf("%04X", n)
			wg.Go(func() { b.socks.run(pubCtx) })
		}
	}
	for i, p := range b.pubs {
		p.pub.URL = "rtsp://" + b.rtsp + "/" + p.name
		delay := b.cfg.Stagger * time.Duration(i) / time.Duration(b.cfg.Streams)
		wg.Go(func() { p.run(pubCtx, delay, b.logf) })
	}
	return func() {
		stopPubs()
		wg.Wait()
	}
}

// finish fills in res from the snapshots (before publishing, at the
// window's edges, after publishing) and the fragments listed in the
// window, adding the settle problems and the server log's.
func (b *ingestBench) finish(res *ingestResults, idle, p0, p1, after snapshot, lists map[string][]kvamtypes.Fragment, settleProblems []string) {
	b.results(res, idle, p0, p1, after, lists)
	res.Problems = append(settleProblems, res.Problems...)
	if b.child != nil {
		var logProblems []string
		res.ServerWarnings, logProblems = b.child.logProblems()
		res.Problems = append(res.Problems, logProblems...)
	}
	res.finish()
	if b.child != nil && len(res.Problems) > 0 {
		res.ServerLogTail = b.child.Tail(40)
	}
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
		if len(pending) > 0 && sleepCtx(ctx, 500*time.Millisecond) != nil {
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
		if d := p.gop(); d > 0 {
			return d
		}
	}
	return 2 * time.Second
}

// midGOP returns the next moment half a GOP after a keyframe of the
// first camera, now when it has sent none. The server cuts and persists
// a fragment as a keyframe arrives, so a window that starts there has
// its fragments' arrivals and persists half a GOP from either edge:
// windows that are whole GOPs long, started right after a fragment,
// would each count that fragment on one side of an edge or the other by
// a few milliseconds' chance.
func (b *ingestBench) midGOP() time.Time {
	now := time.Now()
	k := b.pubs[0].lastKey()
	if k.IsZero() {
		return now
	}
	gop := b.gop()
	t := k.Add(gop / 2)
	for t.Before(now) {
		t = t.Add(gop)
	}
	return t
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
