package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/eddy-video/eddy/fragments"
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

	Server     string   // eddy binary to start; "" = this executable
	ServerArgs []string // extra `serve` flags for the child
	Keep       bool     // keep the child's data directory and log

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
	cfg := defaultHLSBenchConfig()
	fs := flag.NewFlagSet("bench hls", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: eddy bench hls [flags]\n\n"+
			"Publishes one camera over RTSP to a server it starts (`eddy serve` on loopback)\n"+
			"and measures LIVE HLS: how soon a closed fragment is listed in the media\n"+
			"playlist (p50/p99), and N readers polling like hls.js: server CPU per\n"+
			"reader-minute (raw, and net of a publisher-only baseline window of the same\n"+
			"length), bytes and requests served, request latency, readers that fell behind.\n\n"+
			"The default clip is bench ingest's (720p25 H.264 2 Mbit/s, GOP 2 s, AAC), cached\n"+
			"at %s.\n\nflags:\n", ingestDefaultClipPath())
		fs.PrintDefaults()
	}
	fs.IntVar(&cfg.Readers, "readers", cfg.Readers, "concurrent HLS readers (0: listing latency only)")
	fs.DurationVar(&cfg.Duration, "duration", cfg.Duration, "length of each measured window (baseline, then readers)")
	fs.DurationVar(&cfg.Warmup, "warmup", cfg.Warmup, "settling before each window")
	fs.DurationVar(&cfg.Stagger, "stagger", cfg.Stagger, "spread reader starts over this long (within the warm-up)")
	fs.IntVar(&cfg.Window, "playlist-window", cfg.Window, "MaxMediaPlaylistFragmentResults of each session")
	fs.DurationVar(&cfg.Poll, "poll", cfg.Poll, "the latency watcher's media playlist poll period")
	fs.BoolVar(&cfg.LL, "ll", cfg.LL, "Low-Latency HLS: readers load parts with blocking playlist reloads as hls.js in low-latency mode does, and a part watcher times each part's listing")
	fs.StringVar(&cfg.Clip, "clip", cfg.Clip, "MP4 (H.264/H.265 + AAC) to publish; default: generated with ffmpeg and cached")
	fs.StringVar(&cfg.Server, "server", cfg.Server, "eddy binary to start as the server (default: this executable)")
	serverArgs := fs.String("server-args", "", "extra flags for the started server's serve command, space separated")
	fs.BoolVar(&cfg.Keep, "keep", cfg.Keep, "keep the started server's data directory and log")
	fs.DurationVar(&cfg.Progress, "progress", cfg.Progress, "progress line period on stderr (0 = none)")
	jsonOut := fs.Bool("json", false, "also print the results as JSON")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("bench hls: unexpected argument %q", fs.Arg(0))
	}
	cfg.ServerArgs = strings.Fields(*serverArgs)
	if err := cfg.validate(); err != nil {
		return err
	}
	cfg.Log = os.Stderr
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := runHLSBench(ctx, cfg)
	if res == nil {
		return err
	}
	return printReport(res, *jsonOut, err)
}

// hlsBench is the state of one run. It borrows bench ingest's probe (an
// ingestBench holding only the server's URL, pid and HTTP client) for
// /metrics, /proc CPU and RSS, PSI and load.
type hlsBench struct {
	cfg    hlsBenchConfig
	log    io.Writer
	ib     *ingestBench
	url    string
	stream string
	pub    *ingestPub
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

func (b *hlsBench) logf(format string, args ...any) {
	if b.log != nil {
		fmt.Fprintf(b.log, format+"\n", args...)
	}
}

func runHLSBench(ctx context.Context, cfg hlsBenchConfig) (*hlsResults, error) {
	b := &hlsBench{cfg: cfg, log: cfg.Log}
	clip := cfg.Clip
	if clip == "" {
		var err error
		if clip, err = ingestDefaultClip(ctx, b.logf); err != nil {
			return nil, err
		}
	}
	b.stream = "bench-hls-" + time.Now().Format("150405")
	b.pub = &ingestPub{name: b.stream}
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

	bin := cfg.Server
	if bin == "" {
		var err error
		if bin, err = os.Executable(); err != nil {
			return nil, fmt.Errorf("find this executable to run as the server (or pass --server): %w", err)
		}
	}
	dir, err := os.MkdirTemp("", "eddy-bench-hls-")
	if err != nil {
		return nil, err
	}
	srv, err := startEddyServer(ctx, bin, dir, cfg.ServerArgs, b.logf)
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	defer func() {
		srv.stop(b.logf)
		if cfg.Keep {
			b.logf("kept the server's directory %s", dir)
		} else {
			_ = os.RemoveAll(dir)
		}
	}()
	b.url = srv.url
	b.hc = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 8, DisableCompression: true}}
	b.rc = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		MaxIdleConns: 2*cfg.Readers + 8, MaxIdleConnsPerHost: 2*cfg.Readers + 8, DisableCompression: true,
	}}
	b.ib = &ingestBench{url: b.url, pid: srv.cmd.Process.Pid, hc: b.hc, clkTck: ingestClockTicks()}

	res := &hlsResults{
		Readers: cfg.Readers, DurationS: cfg.Duration.Seconds(), WarmupS: cfg.Warmup.Seconds(), PlaylistWindow: cfg.Window,
		PollMS: float64(cfg.Poll) / 1e6, Clip: clip, ClipSpanS: b.pub.pub.Span().Seconds(),
		Server: "child: " + bin + " serve (TCP only, fresh data dir)", Endpoint: b.url, RTSP: srv.rtsp,
		ServerPID: b.ib.pid, CPUs: runtime.NumCPU(),
	}
	if cfg.Keep {
		res.ServerLog, res.DataDir = srv.logPath, srv.dir
	}
	ctx, cancelRun := context.WithCancelCause(ctx)
	defer cancelRun(nil)
	go func() {
		select {
		case <-srv.done:
			cancelRun(fmt.Errorf("the server (pid %d) exited during the run: %v; the bench did not stop it. Its last log lines:\n%s",
				b.ib.pid, exitStatus(srv.err), srv.tail(25)))
		case <-ctx.Done():
		}
	}()
	abort := func(err error) (*hlsResults, error) {
		if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
			return nil, cause
		}
		return nil, err
	}

	// The publisher, the stall probe and (once a fragment is stored) the
	// watcher run through both windows.
	runCtx, stopRun := context.WithCancel(ctx)
	var wg sync.WaitGroup
	stopAll := func() {
		stopRun()
		wg.Wait()
	}
	defer stopAll()
	wg.Add(2)
	go func() {
		defer wg.Done()
		b.ib.stalls.run(runCtx)
	}()
	b.pub.pub.URL = "rtsp://" + srv.rtsp + "/" + b.stream
	go func() {
		defer wg.Done()
		b.pub.run(runCtx, 0, b.logf)
	}()
	b.logf("publisher → rtsp://%s/%s (%s)", srv.rtsp, b.stream, clip)
	watchURL, err := b.sessionURL(ctx, true, 3*b.gop()+15*time.Second)
	if err != nil {
		return abort(fmt.Errorf("watcher session: %w", err))
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		b.watch(runCtx, watchURL)
	}()
	if cfg.LL {
		llURL, err := b.sessionURL(ctx, false, 0)
		if err != nil {
			return abort(fmt.Errorf("part watcher session: %w", err))
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			b.watchParts(runCtx, llURL)
		}()
	}

	// Baseline: publisher and watcher alone.
	b.logf("baseline: warm-up %v, window %v (publisher and watcher only)", cfg.Warmup, cfg.Duration)
	if err := ingestSleep(ctx, cfg.Warmup); err != nil {
		return abort(err)
	}
	base0, base1, err := b.window(ctx)
	if err != nil {
		return abort(err)
	}

	// Readers.
	var readers []*hlsReader
	var rp0, rp1 ingestProbe
	if cfg.Readers > 0 {
		rdCtx, stopReaders := context.WithCancel(runCtx)
		var rwg sync.WaitGroup
		for i := range cfg.Readers {
			r := &hlsReader{id: i, b: b}
			readers = append(readers, r)
			delay := cfg.Stagger * time.Duration(i) / time.Duration(cfg.Readers)
			rwg.Add(1)
			go func() {
				defer rwg.Done()
				if ingestSleep(rdCtx, delay) != nil {
					return
				}
				if cfg.LL {
					r.runLL(rdCtx)
				} else {
					r.run(rdCtx)
				}
			}()
		}
		b.logf("%d readers (hls.js-like, LIVE, window %d): warm-up %v, window %v", cfg.Readers, cfg.Window, cfg.Warmup, cfg.Duration)
		err := ingestSleep(ctx, cfg.Warmup)
		if err == nil {
			rp0, rp1, err = b.window(ctx)
		}
		stopReaders()
		rwg.Wait()
		if err != nil {
			return abort(err)
		}
	}
	stopAll()
	b.results(res, base0, base1, rp0, rp1, readers)
	res.ServerWarnings = srv.warnings()
	for i, l := range res.ServerWarnings {
		if i == 5 {
			res.Problems = append(res.Problems, fmt.Sprintf("server log: %d more warnings/errors", len(res.ServerWarnings)-i))
			break
		}
		res.Problems = append(res.Problems, "server log: "+l)
	}
	if len(res.Problems) > 0 {
		res.ServerLogTail = srv.tail(30)
	}
	return res, nil
}

// window measures one window of cfg.Duration, with progress lines.
func (b *hlsBench) window(ctx context.Context) (p0, p1 ingestProbe, err error) {
	p0 = b.ib.probe(ctx)
	if p0.metricsErr != nil {
		return p0, p1, fmt.Errorf("metrics: %w", p0.metricsErr)
	}
	end := p0.at.Add(b.cfg.Duration)
	last := p0
	for {
		next := time.Now().Add(b.cfg.Progress)
		if b.cfg.Progress == 0 || !next.Before(end) {
			next = end
		}
		if err := ingestSleep(ctx, time.Until(next)); err != nil {
			return p0, p1, err
		}
		if !next.Before(end) {
			break
		}
		cur := b.ib.probe(ctx)
		b.logf("%s", progressLine(p0, last, cur))
		last = cur
	}
	p1 = b.ib.probe(ctx)
	if p1.metricsErr != nil {
		return p0, p1, fmt.Errorf("metrics: %w", p1.metricsErr)
	}
	return p0, p1, nil
}

// gop is the keyframe interval as sent; 2 s before two were sent.
func (b *hlsBench) gop() time.Duration {
	b.pub.mu.Lock()
	defer b.pub.mu.Unlock()
	if d := medianSpacing(b.pub.keys); d > 0 {
		return d
	}
	return 2 * time.Second
}

// sessionURL asks for a LIVE session (GetHLSStreamingSessionURL), retrying
// until the stream has a fragment or wait has passed. A watcher session
// selects producer timestamps and shows them (#EXT-X-PROGRAM-DATE-TIME).
func (b *hlsBench) sessionURL(ctx context.Context, watcher bool, wait time.Duration) (string, error) {
	in := map[string]any{"StreamName": b.stream, "PlaybackMode": "LIVE", "MaxMediaPlaylistFragmentResults": b.cfg.Window}
	if b.cfg.LL && !watcher {
		// As the web UI's live view: server times (a part's first frame's
		// arrival) as program date-times, no discontinuities.
		in["DisplayFragmentTimestamp"] = "ALWAYS"
		in["DiscontinuityMode"] = "ON_DISCONTINUITY"
	}
	if watcher {
		in["HLSFragmentSelector"] = map[string]any{"FragmentSelectorType": "PRODUCER_TIMESTAMP"}
		in["DisplayFragmentTimestamp"] = "ALWAYS"
	}
	body, _ := json.Marshal(in)
	deadline := time.Now().Add(wait)
	for {
		u, err := b.trySessionURL(ctx, body, watcher)
		if err == nil {
			return u, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return "", err
		}
		if ingestSleep(ctx, 250*time.Millisecond) != nil {
			return "", ctx.Err()
		}
	}
}

func (b *hlsBench) trySessionURL(ctx context.Context, body []byte, watcher bool) (string, error) {
	hc := b.rc
	if watcher {
		hc = b.hc
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.url+"/getHLSStreamingSessionURL", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GetHLSStreamingSessionURL: %s: %s", resp.Status, bytes.TrimSpace(rb))
	}
	var out struct{ HLSStreamingSessionURL string }
	if err := json.Unmarshal(rb, &out); err != nil || out.HLSStreamingSessionURL == "" {
		return "", fmt.Errorf("GetHLSStreamingSessionURL: unexpected answer %q", rb)
	}
	return out.HLSStreamingSessionURL, nil
}

// get fetches u, discarding or returning the body; d is the time to the
// body's end.
func hlsGet(ctx context.Context, hc *http.Client, u string, keep bool) (body []byte, n int64, d time.Duration, status int, err error) {
	t0 := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, 0, 0, 0, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, 0, time.Since(t0), 0, err
	}
	defer resp.Body.Close()
	if keep || resp.StatusCode != http.StatusOK {
		body, err = io.ReadAll(resp.Body)
		n = int64(len(body))
	} else {
		n, err = io.Copy(io.Discard, resp.Body)
	}
	d = time.Since(t0)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("GET %s: %s: %s", hlsPath(u), resp.Status, bytes.TrimSpace(body))
	}
	return body, n, d, resp.StatusCode, err
}

// hlsPath is u without its query (the session token), for messages.
func hlsPath(u string) string {
	p, _, _ := strings.Cut(u, "?")
	return p
}

// hlsPlaylist is what the bench reads of a media playlist (RFC 8216 §4.3).
type hlsPlaylist struct {
	target  time.Duration // #EXT-X-TARGETDURATION
	seq     uint64        // #EXT-X-MEDIA-SEQUENCE
	initURI string        // the last #EXT-X-MAP URI
	segs    []hlsSegment

	// LL-HLS (RFC 8216bis): the parts of the segment in progress, its
	// program date-time, and the preload hint.
	partTarget time.Duration
	open       []hlsPart
	openPDT    int64
	openInit   string
	hint       string
}

// hlsPart is one #EXT-X-PART.
type hlsPart struct {
	number      uint64 // Eddy's PartNumber (increasing)
	dur         time.Duration
	uri         string
	independent bool
}

// next is the (msn, part) of the first part this playlist does not list:
// what a blocking reload asks for.
func (pl *hlsPlaylist) next() (uint64, int) {
	return pl.seq + uint64(len(pl.segs)), len(pl.open)
}

// tagAttr returns attribute name of an attribute-list tag line.
func tagAttr(line, name string) string {
	i := strings.Index(line, name+"=")
	for i > 0 && line[i-1] != ',' && line[i-1] != ':' {
		j := strings.Index(line[i+1:], name+"=")
		if j < 0 {
			return ""
		}
		i += 1 + j
	}
	if i < 0 {
		return ""
	}
	v := line[i+len(name)+1:]
	if strings.HasPrefix(v, `"`) {
		v, _, _ = strings.Cut(v[1:], `"`)
		return v
	}
	v, _, _ = strings.Cut(v, ",")
	return v
}

type hlsSegment struct {
	parts   []hlsPart
	seq     uint64 // media sequence number
	dur     time.Duration
	uri     string // absolute
	initURI string
	pdt     int64 // #EXT-X-PROGRAM-DATE-TIME, Unix ns; 0 = none
	number  string
}

// parseHLSMediaPlaylist parses a media playlist fetched from base.
func parseHLSMediaPlaylist(base *url.URL, body []byte) (*hlsPlaylist, error) {
	pl := &hlsPlaylist{}
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	first := true
	var dur time.Duration
	var pdt int64
	haveInf := false
	var parts []hlsPart
	resolve := func(ref string) string {
		r, err := url.Parse(ref)
		if err != nil {
			return ref
		}
		return base.ResolveReference(r).String()
	}
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if first {
			if line != "#EXTM3U" {
				return nil, errors.New("not a playlist (no #EXTM3U)")
			}
			first = false
			continue
		}
		switch {
		case line == "":
		case strings.HasPrefix(line, "#EXT-X-TARGETDURATION:"):
			v, err := strconv.Atoi(strings.TrimPrefix(line, "#EXT-X-TARGETDURATION:"))
			if err != nil {
				return nil, fmt.Errorf("bad %q", line)
			}
			pl.target = time.Duration(v) * time.Second
		case strings.HasPrefix(line, "#EXT-X-MEDIA-SEQUENCE:"):
			v, err := strconv.ParseUint(strings.TrimPrefix(line, "#EXT-X-MEDIA-SEQUENCE:"), 10, 64)
			if err != nil {
				return nil, fmt.Errorf("bad %q", line)
			}
			pl.seq = v
		case strings.HasPrefix(line, "#EXT-X-MAP:"):
			_, rest, _ := strings.Cut(line, `URI="`)
			uri, _, _ := strings.Cut(rest, `"`)
			pl.initURI = resolve(uri)
		case strings.HasPrefix(line, "#EXT-X-PROGRAM-DATE-TIME:"):
			t, err := time.Parse(time.RFC3339Nano, strings.TrimPrefix(line, "#EXT-X-PROGRAM-DATE-TIME:"))
			if err != nil {
				return nil, fmt.Errorf("bad %q", line)
			}
			pdt = t.UnixNano()
		case strings.HasPrefix(line, "#EXT-X-PART-INF:"):
			f, err := strconv.ParseFloat(tagAttr(line, "PART-TARGET"), 64)
			if err != nil {
				return nil, fmt.Errorf("bad %q", line)
			}
			pl.partTarget = time.Duration(f * float64(time.Second))
		case strings.HasPrefix(line, "#EXT-X-PART:"):
			f, err := strconv.ParseFloat(tagAttr(line, "DURATION"), 64)
			uri := tagAttr(line, "URI")
			if err != nil || uri == "" {
				return nil, fmt.Errorf("bad %q", line)
			}
			p := hlsPart{dur: time.Duration(f * float64(time.Second)), uri: resolve(uri), independent: tagAttr(line, "INDEPENDENT") == "YES"}
			if u, err := url.Parse(uri); err == nil {
				p.number, _ = strconv.ParseUint(u.Query().Get("PartNumber"), 10, 64)
			}
			parts = append(parts, p)
		case strings.HasPrefix(line, "#EXT-X-PRELOAD-HINT:"):
			pl.hint = resolve(tagAttr(line, "URI"))
		case strings.HasPrefix(line, "#EXTINF:"):
			v, _, _ := strings.Cut(strings.TrimPrefix(line, "#EXTINF:"), ",")
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return nil, fmt.Errorf("bad %q", line)
			}
			dur, haveInf = time.Duration(f*float64(time.Second)), true
		case line[0] == '#':
		default:
			if !haveInf {
				return nil, fmt.Errorf("segment %q without #EXTINF", hlsPath(line))
			}
			s := hlsSegment{seq: pl.seq + uint64(len(pl.segs)), dur: dur, uri: resolve(line), initURI: pl.initURI, pdt: pdt, parts: parts}
			if u, err := url.Parse(line); err == nil {
				s.number = u.Query().Get("FragmentNumber")
			}
			pl.segs = append(pl.segs, s)
			dur, pdt, haveInf, parts = 0, 0, false, nil
		}
	}
	if first {
		return nil, errors.New("empty playlist")
	}
	pl.open, pl.openPDT, pl.openInit = parts, pdt, pl.initURI
	return pl, sc.Err()
}

// watch polls the media playlist every cfg.Poll and records when each
// media sequence number first appears.
func (b *hlsBench) watch(ctx context.Context, master string) {
	mediaURL, err := b.mediaURL(ctx, b.hc, master)
	if err != nil {
		b.logf("watcher: %v", err)
		b.mu.Lock()
		b.wErrs++
		b.mu.Unlock()
		return
	}
	base, _ := url.Parse(mediaURL)
	var newest uint64
	seen := false
	tick := time.NewTicker(b.cfg.Poll)
	defer tick.Stop()
	for {
		t0 := time.Now()
		body, _, _, _, err := hlsGet(ctx, b.hc, mediaURL, true)
		t1 := time.Now()
		if ctx.Err() != nil {
			return
		}
		var pl *hlsPlaylist
		if err == nil {
			pl, err = parseHLSMediaPlaylist(base, body)
		}
		b.mu.Lock()
		b.wPolls++
		if b.wStart.IsZero() {
			b.wStart = t0
		}
		b.wLast = t0
		if err != nil {
			b.wErrs++
			if b.wErrs <= 3 {
				b.logf("watcher: %v", err)
			}
		} else {
			for _, s := range pl.segs {
				if !seen || s.seq > newest {
					// The first poll's segments were listed before it: not timed.
					if seen {
						b.listed = append(b.listed, hlsListed{seq: s.seq, pdt: s.pdt, listed: t1.UnixNano(), polled: t0.UnixNano()})
					}
					newest = max(newest, s.seq)
				}
			}
			if len(pl.segs) > 0 {
				seen = true
			}
		}
		b.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// mediaURL loads a master playlist and returns its first variant's URI.
func (b *hlsBench) mediaURL(ctx context.Context, hc *http.Client, master string) (string, error) {
	body, _, _, _, err := hlsGet(ctx, hc, master, true)
	if err != nil {
		return "", err
	}
	base, err := url.Parse(master)
	if err != nil {
		return "", err
	}
	inf := false
	for _, line := range strings.Split(string(body), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "#EXT-X-STREAM-INF:"):
			inf = true
		case inf && line != "" && line[0] != '#':
			r, err := url.Parse(line)
			if err != nil {
				return "", err
			}
			return base.ResolveReference(r).String(), nil
		}
	}
	return "", fmt.Errorf("master playlist without a variant:\n%s", body)
}

// hlsReader is one client polling like hls.js.
type hlsReader struct {
	id int
	b  *hlsBench

	// Owned by the reader's goroutine until it returns.
	reqs       []hlsReq
	fellBehind bool
	missed     int // segments that left the window before the reader fetched them
	slow       int // segment downloads longer than the segment
	errs       []string
	started    bool
}

// hlsReq is one request a reader made.
type hlsReq struct {
	kind  byte // 'p' media playlist, 's' segment, 'i' init, 'm' master, 'u' session URL
	end   int64
	d     time.Duration
	bytes int64
	err   bool
}

func (r *hlsReader) note(kind byte, d time.Duration, n int64, err error) {
	r.reqs = append(r.reqs, hlsReq{kind: kind, end: time.Now().UnixNano(), d: d, bytes: n, err: err != nil})
	if err != nil && len(r.errs) < 5 {
		r.errs = append(r.errs, time.Now().Format("15:04:05.000")+" "+err.Error())
	}
}

func (r *hlsReader) behind(format string, args ...any) {
	r.fellBehind = true
	if len(r.errs) < 5 {
		r.errs = append(r.errs, time.Now().Format("15:04:05.000")+" "+fmt.Sprintf(format, args...))
	}
}

// open starts a reader's session as a player does: the session URL,
// then the master playlist; it returns the media playlist's URL.
func (r *hlsReader) open(ctx context.Context) (mediaURL string, base *url.URL, ok bool) {
	t0 := time.Now()
	master, err := r.b.sessionURL(ctx, false, 0)
	r.note('u', time.Since(t0), 0, err)
	if err != nil {
		return "", nil, false
	}
	t0 = time.Now()
	mediaURL, err = r.b.mediaURL(ctx, r.b.rc, master)
	r.note('m', time.Since(t0), 0, err)
	if err != nil {
		return "", nil, false
	}
	base, _ = url.Parse(mediaURL)
	r.started = true
	return mediaURL, base, true
}

func (r *hlsReader) run(ctx context.Context) {
	b := r.b
	mediaURL, base, ok := r.open(ctx)
	if !ok {
		return
	}
	var next uint64 // next segment to fetch; 0 = first load
	var newest uint64
	inits := map[string]bool{}
	for ctx.Err() == nil {
		start := time.Now()
		body, n, d, _, err := hlsGet(ctx, b.rc, mediaURL, true)
		if ctx.Err() != nil {
			return
		}
		var pl *hlsPlaylist
		if err == nil {
			pl, err = parseHLSMediaPlaylist(base, body)
		}
		r.note('p', d, n, err)
		if err != nil {
			if ingestSleep(ctx, time.Second) != nil {
				return
			}
			continue
		}
		updated := false
		if len(pl.segs) > 0 {
			last := pl.segs[len(pl.segs)-1]
			updated = last.seq > newest
			newest = max(newest, last.seq)
			for _, s := range pl.segs {
				if s.number != "" && s.number != fragments.FragmentNumber(s.seq) {
					r.behind("playlist numbering: media sequence %d is FragmentNumber %s", s.seq, s.number)
					break
				}
			}
			switch {
			case next == 0:
				// hls.js starts liveSyncDurationCount (3) segments from the end.
				next = pl.segs[max(0, len(pl.segs)-3)].seq
			case next < pl.seq:
				r.missed += int(pl.seq - next)
				r.behind("segments %d–%d left the playlist before they were fetched", next, pl.seq-1)
				next = pl.seq
			}
		}
		for _, s := range pl.segs {
			if s.seq < next || ctx.Err() != nil {
				continue
			}
			if s.initURI != "" && !inits[s.initURI] {
				_, n, d, _, err := hlsGet(ctx, b.rc, s.initURI, false)
				if ctx.Err() != nil {
					return
				}
				r.note('i', d, n, err)
				if err == nil {
					inits[s.initURI] = true
				}
			}
			_, n, d, status, err := hlsGet(ctx, b.rc, s.uri, false)
			if ctx.Err() != nil {
				return
			}
			r.note('s', d, n, err)
			switch {
			case status == http.StatusNotFound:
				r.missed++
				r.behind("segment %d was gone when fetched: %v", s.seq, err)
			case err != nil:
			case d > s.dur:
				r.slow++
				r.behind("segment %d (%.3f s) took %v to download", s.seq, s.dur.Seconds(), d.Round(time.Millisecond))
			}
			next = s.seq + 1
		}
		// hls.js computeReloadInterval: the target duration, or the last
		// segment's duration if shorter, when the playlist changed; half
		// the target duration when it did not.
		interval := pl.target
		if updated && len(pl.segs) > 0 {
			interval = min(interval, pl.segs[len(pl.segs)-1].dur)
		} else {
			interval /= 2
		}
		if interval <= 0 {
			interval = time.Second
		}
		if ingestSleep(ctx, time.Until(start.Add(interval))) != nil {
			return
		}
	}
}

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

	// Readers (the readers' window).
	ServerCPUPerReaderMinRaw *float64 `json:"server_cpu_seconds_per_reader_minute_raw,omitempty"`
	ServerCPUPerReaderMinNet *float64 `json:"server_cpu_seconds_per_reader_minute_net,omitempty"`
	ReadersStarted           int      `json:"readers_started"`
	ReadersFellBehind        int      `json:"readers_fell_behind"`
	SegmentsMissed           int      `json:"segments_missed"`
	SegmentsSlow             int      `json:"segments_slow"`
	Requests                 int64    `json:"requests"` // completed in the window
	RequestsPerSecond        float64  `json:"requests_per_second"`
	RequestErrors            int64    `json:"request_errors"`
	BytesServed              int64    `json:"bytes_served"`
	MbitPerSecond            float64  `json:"mbit_per_second"`
	PlaylistRequests         int64    `json:"playlist_requests"`
	SegmentRequests          int64    `json:"segment_requests"`
	PlaylistP50MS            float64  `json:"playlist_p50_ms"`
	PlaylistP99MS            float64  `json:"playlist_p99_ms"`
	PlaylistMaxMS            float64  `json:"playlist_max_ms"`
	SegmentP50MS             float64  `json:"segment_p50_ms"`
	SegmentP99MS             float64  `json:"segment_p99_ms"`
	SegmentMaxMS             float64  `json:"segment_max_ms"`
	PartRequests             int64    `json:"part_requests"`
	PartP50MS                float64  `json:"part_p50_ms"`
	PartP99MS                float64  `json:"part_p99_ms"`
	PartMaxMS                float64  `json:"part_max_ms"`
	ReaderProblems           []string `json:"reader_problems,omitempty"`

	Problems       []string `json:"problems,omitempty"`
	ServerWarnings []string `json:"server_warnings,omitempty"`
	ServerLogTail  string   `json:"server_log_tail,omitempty"`
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

func (b *hlsBench) measureWindow(w *hlsWindow, p0, p1 ingestProbe) {
	win := p1.at.Sub(p0.at)
	w.DurationS = win.Seconds()
	w.LoadStart, w.LoadEnd = p0.load, p1.load
	if p0.serverCPUOK && p1.serverCPUOK {
		c := p1.serverCPU - p0.serverCPU
		pc := 100 * c / win.Seconds()
		w.ServerCPUSeconds, w.ServerCPUPercent = &c, &pc
	}
	if p0.selfCPUOK && p1.selfCPUOK {
		c := p1.selfCPU - p0.selfCPU
		pc := 100 * c / win.Seconds()
		w.BenchCPUSeconds, w.BenchCPUPercent = &c, &pc
	}
	w.RSSEndMiB, w.RSSPeakMiB = mib(p1.rss), mib(p1.hwm)
	psi := func(k string) *float64 {
		a, ok0 := p0.psi[k]
		z, ok1 := p1.psi[k]
		if !ok0 || !ok1 {
			return nil
		}
		v := 100 * (z - a) / float64(win.Microseconds())
		return &v
	}
	w.CPUPressurePc, w.IOPressurePc = psi("cpu_some"), psi("io_some")
	for _, st := range b.ib.stalls.within(p0.at, p1.at) {
		if st.d >= 100*time.Millisecond {
			w.BenchStalls100ms++
		}
		w.BenchStallMaxMS = math.Max(w.BenchStallMaxMS, float64(st.d)/1e6)
	}
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
	ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
	out.AfterCloseP50MS, out.AfterCloseP99MS = ms(hlsQuantile(afterClose, 0.5)), ms(hlsQuantile(afterClose, 0.99))
	out.AfterCloseMaxMS = ms(hlsQuantile(afterClose, 1))
	out.AfterKeyP50MS, out.AfterKeyP99MS = ms(hlsQuantile(afterKey, 0.5)), ms(hlsQuantile(afterKey, 0.99))
	within := 0
	for _, d := range afterClose {
		if d <= 100*time.Millisecond {
			within++
		}
	}
	out.Within100msPc = 100 * float64(within) / float64(len(afterClose))
	out.PollGapP99MS = ms(hlsQuantile(gaps, 0.99))
	return out
}

// hlsQuantile is the nearest-rank quantile of ds (q = 1: the maximum); it
// sorts ds.
func hlsQuantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	i := int(math.Ceil(q*float64(len(ds)))) - 1
	return ds[min(max(i, 0), len(ds)-1)]
}

func (b *hlsBench) results(res *hlsResults, base0, base1, rp0, rp1 ingestProbe, readers []*hlsReader) {
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
	lo, hi := rp0.at.UnixNano(), rp1.at.UnixNano()
	var pl, seg, parts []time.Duration
	for _, r := range readers {
		if r.started {
			res.ReadersStarted++
		}
		if r.fellBehind {
			res.ReadersFellBehind++
			if len(res.ReaderProblems) < 20 {
				res.ReaderProblems = append(res.ReaderProblems, fmt.Sprintf("reader %d: %s", r.id, strings.Join(r.errs, "; ")))
			}
		} else if len(r.errs) > 0 && len(res.ReaderProblems) < 20 {
			res.ReaderProblems = append(res.ReaderProblems, fmt.Sprintf("reader %d (errors): %s", r.id, strings.Join(r.errs, "; ")))
		}
		res.SegmentsMissed += r.missed
		res.SegmentsSlow += r.slow
		for _, q := range r.reqs {
			if q.end < lo || q.end > hi {
				continue
			}
			res.Requests++
			res.BytesServed += q.bytes
			if q.err {
				res.RequestErrors++
				continue
			}
			switch q.kind {
			case 'p':
				res.PlaylistRequests++
				pl = append(pl, q.d)
			case 's':
				res.SegmentRequests++
				seg = append(seg, q.d)
			case 'P':
				res.PartRequests++
				parts = append(parts, q.d)
			}
		}
	}
	res.RequestsPerSecond = float64(res.Requests) / win.Seconds()
	res.MbitPerSecond = float64(res.BytesServed) * 8 / 1e6 / win.Seconds()
	ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
	res.PlaylistP50MS, res.PlaylistP99MS, res.PlaylistMaxMS = ms(hlsQuantile(pl, 0.5)), ms(hlsQuantile(pl, 0.99)), ms(hlsQuantile(pl, 1))
	res.SegmentP50MS, res.SegmentP99MS, res.SegmentMaxMS = ms(hlsQuantile(seg, 0.5)), ms(hlsQuantile(seg, 0.99)), ms(hlsQuantile(seg, 1))
	res.PartP50MS, res.PartP99MS, res.PartMaxMS = ms(hlsQuantile(parts, 0.5)), ms(hlsQuantile(parts, 0.99)), ms(hlsQuantile(parts, 1))
	if res.ReadersStarted < len(readers) {
		res.Problems = append(res.Problems, fmt.Sprintf("%d of %d readers never started", len(readers)-res.ReadersStarted, len(readers)))
	}
	if res.ReadersFellBehind > 0 {
		res.Problems = append(res.Problems, fmt.Sprintf("%d readers fell behind (%d segments missed, %d downloads slower than the segment)",
			res.ReadersFellBehind, res.SegmentsMissed, res.SegmentsSlow))
	}
	if res.RequestErrors > 0 {
		res.Problems = append(res.Problems, fmt.Sprintf("%d reader requests failed in the window", res.RequestErrors))
	}
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
	tw := func(k, v, target string) {
		if target != "" {
			fmt.Fprintf(w, "  %-44s %-50s %s\n", k, v, target)
		} else {
			fmt.Fprintf(w, "  %-44s %s\n", k, v)
		}
	}
	fmt.Fprintf(w, "  %-44s %-50s %s\n", "metric", "measured", "target / comparison")
	l := r.Listing
	tw("segment listed after its fragment closed¹", fmt.Sprintf("p50 %.1f ms, p99 %.1f ms, max %.1f ms", l.AfterCloseP50MS, l.AfterCloseP99MS, l.AfterCloseMaxMS), "p99 ≤ 100 ms")
	tw("  within 100 ms", fmt.Sprintf("%.1f%% of %d segments (%d unmatched)", l.Within100msPc, l.Samples, l.Unmatched), "")
	tw("  after its first keyframe was sent", fmt.Sprintf("p50 %.1f ms, p99 %.1f ms", l.AfterKeyP50MS, l.AfterKeyP99MS), "")
	tw("  watcher resolution", fmt.Sprintf("polls every %.0f ms; listing poll sent ≤ %.1f ms (p99) before its answer", r.PollMS, l.PollGapP99MS), "")
	fmt.Fprintf(w, "  ¹ both windows; p99 of fewer than 100 segments is their maximum\n")
	if p := r.Parts; p != nil {
		fmt.Fprintf(w, "\n  LL-HLS parts (target %.0f ms; part watcher with blocking reloads, both windows)\n", p.PartTargetMS)
		tw("  part listed after its first frame arrived", fmt.Sprintf("p50 %.1f ms, p99 %.1f ms, max %.1f ms", p.AfterFirstP50MS, p.AfterFirstP99MS, p.AfterFirstMaxMS), "MediaMTX v1.20.1 (200 ms): 231 median, 260 p95")
		tw("  … minus the part's own duration", fmt.Sprintf("p50 %.1f ms, p99 %.1f ms, max %.1f ms", p.OverDurP50MS, p.OverDurP99MS, p.OverDurMaxMS), "p99 ≤ 20 ms")
		tw("  within duration + 20 ms", fmt.Sprintf("%.1f%% of %d parts (%d without a date)", p.Within20msPc, p.Samples, p.Unmatched), "")
		tw("  blocking reload for an existing part", fmt.Sprintf("p50 %.1f ms, p99 %.1f ms, max %.1f ms (%d requests)", p.ExistingP50MS, p.ExistingP99MS, p.ExistingMaxMS, p.ExistingSamples), "at once (MediaMTX ≈ 1.9 s)")
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
	for _, p := range r.Problems {
		fmt.Fprintf(w, "    - %s\n", p)
	}
	for i, p := range r.ReaderProblems {
		if i == 10 {
			fmt.Fprintf(w, "    … %d more (see --json)\n", len(r.ReaderProblems)-i)
			break
		}
		fmt.Fprintf(w, "    - %s\n", p)
	}
	if r.ServerLogTail != "" {
		fmt.Fprintf(w, "\n  server log (last lines):\n%s\n", r.ServerLogTail)
	}
}
