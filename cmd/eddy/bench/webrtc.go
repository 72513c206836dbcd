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
	"sync/atomic"
	"time"

	pion "github.com/pion/webrtc/v4"

	"github.com/eddy-video/eddy/media/rtspclient"
	"github.com/eddy-video/eddy/webrtc/whepclient"
)

// eddy bench webrtc: one camera publishes over RTSP (rtspclient.FilePublisher,
// looping, in real time) to an Eddy server the bench starts as a child,
// and pion WHEP viewers in the bench play it.
//
// Forwarding latency. Before each video frame is sent, the publisher adds
// an SEI NAL unit (user data unregistered) naming the frame, and notes
// when the frame's last RTP packet has been written to the RTSP
// connection. Each viewer notes when the first and the last RTP packet of
// each frame arrive and reads the frame's name from its SEI. The server
// forwards whole frames (the live hub carries access units), so the
// latency it adds is (first packet out − last packet in); the last packet
// out is reported too. Both ends are in this process, on one clock.
//
// Three windows of the same length: the publisher alone (baseline), one
// viewer, then N viewers. Server CPU per viewer-minute is measured over
// the N-viewer window (raw, and net of the baseline); peak RSS is the
// server's VmHWM. A viewer is starved if it got fewer than 90% of the
// frames sent in the window or waited more than 1 s between two frames.

type rtcBenchConfig struct {
	Viewers  int
	Duration time.Duration
	Warmup   time.Duration
	Stagger  time.Duration
	Clip     string
	childConfig
	Log io.Writer
}

func defaultRTCBenchConfig() rtcBenchConfig {
	return rtcBenchConfig{Viewers: 100, Duration: 30 * time.Second, Warmup: 5 * time.Second, Stagger: 3 * time.Second}
}

func (c *rtcBenchConfig) validate() error {
	var errs []error
	if c.Viewers < 1 {
		errs = append(errs, errors.New("--viewers must be at least 1"))
	}
	if c.Duration <= 0 || c.Warmup < 0 || c.Stagger < 0 {
		errs = append(errs, errors.New("--duration must be positive, --warmup and --stagger not negative"))
	}
	if c.Stagger > c.Warmup {
		errs = append(errs, fmt.Errorf("--stagger %v is longer than --warmup %v: viewers would still be starting in the window", c.Stagger, c.Warmup))
	}
	return errors.Join(errs...)
}

func benchWebRTC(args []string) error {
	cfg := defaultRTCBenchConfig()
	fs := flag.NewFlagSet("bench webrtc", flag.ContinueOnError)
	setUsage(fs, "[flags]", cameraAbout("and plays it with pion WHEP viewers: forwarding latency from the RTP packets in\n"+
		"(RTSP) to the RTP packets out (WHEP), p50/p99, with 1 and with N viewers; server\n"+
		"CPU-seconds per viewer-minute and peak RSS; viewers starved."))
	fs.IntVar(&cfg.Viewers, "viewers", cfg.Viewers, "WHEP viewers of the last window")
	fs.DurationVar(&cfg.Duration, "duration", cfg.Duration, "length of each measured window (baseline, 1 viewer, N viewers)")
	fs.DurationVar(&cfg.Warmup, "warmup", cfg.Warmup, "settling before each window")
	fs.DurationVar(&cfg.Stagger, "stagger", cfg.Stagger, "spread viewer starts over this long (within the warm-up)")
	fs.StringVar(&cfg.Clip, "clip", cfg.Clip, "MP4 (H.264 + AAC) to publish; default: generated with ffmpeg and cached")
	splitServerArgs := cfg.addFlags(fs, "extra flags for the started server's serve command, space separated")
	jsonOut := fs.Bool("json", false, "also print the results as JSON")
	check := func() error { splitServerArgs(); return cfg.validate() }
	if help, err := parseFlags(fs, args, check); help || err != nil {
		return err
	}
	cfg.Log = os.Stderr
	return runAndReport(*jsonOut, "", func(ctx context.Context) (*rtcResults, error) { return runWebRTCBench(ctx, cfg) })
}

type rtcBench struct {
	cfg rtcBenchConfig
	logger
	url string
	hc  *http.Client
	pr  *prober

	seq    uint64 // publisher goroutine only
	sentMu sync.Mutex
	sent   map[uint64]int64 // frame → last packet written (ns)
	frames atomic.Int64     // frames sent

	api *pion.API
}

func (b *rtcBench) sentAt(seq uint64) int64 {
	b.sentMu.Lock()
	defer b.sentMu.Unlock()
	return b.sent[seq]
}

func runWebRTCBench(ctx context.Context, cfg rtcBenchConfig) (*rtcResults, error) {
	b := &rtcBench{cfg: cfg, logger: logger{log: cfg.Log, prefix: "bench webrtc: "}, sent: map[uint64]int64{}}
	var err error
	if b.api, err = whepclient.ClientAPI(true); err != nil {
		return nil, err
	}
	clip, err := clipOrDefault(ctx, cfg.Clip, b.logf)
	if err != nil {
		return nil, err
	}
	stream := "bench-webrtc-" + time.Now().Format("150405")
	var cur uint64
	pub := &rtspclient.FilePublisher{File: clip, Loop: true,
		Rewrite: func(nalus [][]byte) [][]byte {
			b.seq++
			cur = b.seq
			return append([][]byte{seiNAL(cur)}, nalus...)
		},
		OnUnit: func(time.Duration, bool, time.Time) {
			now := time.Now().UnixNano()
			b.frames.Add(1)
			b.sentMu.Lock()
			b.sent[cur] = now
			delete(b.sent, cur-4096) // keep the last 160 s
			b.sentMu.Unlock()
		}}
	if err := pub.Load(); err != nil {
		return nil, fmt.Errorf("clip: %w", err)
	}
	srv, stopServer, err := startChild(ctx, cfg.childConfig, "webrtc", b.logf)
	if err != nil {
		return nil, err
	}
	defer stopServer()
	b.url = srv.url
	b.hc = newHTTPClient(8)
	b.pr = newProber(b.url, srv.cmd.Process.Pid, b.hc)

	ctx, cancelRun := srv.watch(ctx)
	defer cancelRun(nil)
	pub.URL = "rtsp://" + srv.rtsp + "/" + stream
	pubErr := make(chan error, 1)
	pubCtx, stopPub := context.WithCancel(ctx)
	defer stopPub()
	go func() { pubErr <- pub.Run(pubCtx) }()

	res := &rtcResults{Viewers: cfg.Viewers, DurationS: cfg.Duration.Seconds(), WarmupS: cfg.Warmup.Seconds(),
		Clip: clip, Server: "child: " + srv.bin + " serve (fresh data dir)", Endpoint: b.url, ServerPID: b.pr.pid, CPUs: runtime.NumCPU()}
	sleep := func(d time.Duration) error {
		select {
		case <-time.After(d):
			return nil
		case err := <-pubErr:
			return fmt.Errorf("publisher: %v", err)
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}

	// Baseline: the publisher (and the recorder) alone.
	b.logf("baseline: publisher alone, %s warm-up + %s", cfg.Warmup, cfg.Duration)
	if err := sleep(cfg.Warmup); err != nil {
		return nil, err
	}
	base0 := b.pr.probe(ctx)
	if err := sleep(cfg.Duration); err != nil {
		return nil, err
	}
	base1 := b.pr.probe(ctx)
	res.Baseline = rtcWindowOf(base0, base1, 0)

	var viewers []*rtcViewer
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, v := range viewers {
			v.close(cctx, b.hc)
		}
	}()
	measure := func(n int) (*rtcWindow, error) {
		b.logf("%d viewer(s): starting %d, %s warm-up + %s", n, n-len(viewers), cfg.Warmup, cfg.Duration)
		toStart := n - len(viewers)
		for i := 0; i < toStart; i++ {
			v, err := b.startViewer(ctx, stream)
			if err != nil {
				return nil, fmt.Errorf("viewer %d: %w", len(viewers)+1, err)
			}
			viewers = append(viewers, v)
			if toStart > 1 {
				if err := sleep(cfg.Stagger / time.Duration(toStart)); err != nil {
					return nil, err
				}
			}
		}
		if err := sleep(cfg.Warmup); err != nil {
			return nil, err
		}
		p0, f0 := b.pr.probe(ctx), b.frames.Load()
		if err := sleep(cfg.Duration); err != nil {
			return nil, err
		}
		p1, f1 := b.pr.probe(ctx), b.frames.Load()
		if cfg.Profile != "" && n == cfg.Viewers {
			srv.heapProfile() // the live heap with every viewer (heap-1.pprof)
		}
		w := rtcWindowOf(p0, p1, n)
		serverHist(w, p0, p1)
		w.FramesSent = f1 - f0
		b.viewerStats(w, viewers, p0.at.UnixNano(), p1.at.UnixNano(), base0, base1)
		return w, nil
	}
	if res.One, err = measure(1); err != nil {
		return res, err
	}
	if cfg.Viewers > 1 {
		if res.Many, err = measure(cfg.Viewers); err != nil {
			return res, err
		}
	}
	_, res.PeakRSSMB = rssBytes(b.pr.pid)
	res.PeakRSSMB /= 1 << 20
	return res, nil
}
