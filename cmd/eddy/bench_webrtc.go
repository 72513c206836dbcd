package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/bluenviron/gortsplib/v4/pkg/format/rtph264"
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
	Viewers    int
	Duration   time.Duration
	Warmup     time.Duration
	Stagger    time.Duration
	Clip       string
	Server     string
	ServerArgs []string
	Keep       bool
	Log        io.Writer
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
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: eddy bench webrtc [flags]\n\n"+
			"Publishes one camera over RTSP to a server it starts (`eddy serve` on loopback)\n"+
			"and plays it with pion WHEP viewers: forwarding latency from the RTP packets in\n"+
			"(RTSP) to the RTP packets out (WHEP), p50/p99, with 1 and with N viewers; server\n"+
			"CPU-seconds per viewer-minute and peak RSS; viewers starved.\n\n"+
			"The default clip is bench ingest's (720p25 H.264 2 Mbit/s, GOP 2 s, AAC), cached\n"+
			"at %s.\n\nflags:\n", ingestDefaultClipPath())
		fs.PrintDefaults()
	}
	fs.IntVar(&cfg.Viewers, "viewers", cfg.Viewers, "WHEP viewers of the last window")
	fs.DurationVar(&cfg.Duration, "duration", cfg.Duration, "length of each measured window (baseline, 1 viewer, N viewers)")
	fs.DurationVar(&cfg.Warmup, "warmup", cfg.Warmup, "settling before each window")
	fs.DurationVar(&cfg.Stagger, "stagger", cfg.Stagger, "spread viewer starts over this long (within the warm-up)")
	fs.StringVar(&cfg.Clip, "clip", cfg.Clip, "MP4 (H.264 + AAC) to publish; default: generated with ffmpeg and cached")
	fs.StringVar(&cfg.Server, "server", cfg.Server, "eddy binary to start as the server (default: this executable)")
	serverArgs := fs.String("server-args", "", "extra flags for the started server's serve command, space separated")
	fs.BoolVar(&cfg.Keep, "keep", cfg.Keep, "keep the started server's data directory and log")
	jsonOut := fs.Bool("json", false, "also print the results as JSON")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("bench webrtc: unexpected argument %q", fs.Arg(0))
	}
	cfg.ServerArgs = strings.Fields(*serverArgs)
	if err := cfg.validate(); err != nil {
		return err
	}
	cfg.Log = os.Stderr
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := runWebRTCBench(ctx, cfg)
	if res == nil {
		return err
	}
	return printReport(res, *jsonOut, err)
}

// seiUUID marks the bench's SEI (no zero bytes, so no emulation
// prevention is ever needed).
var seiUUID = []byte("eddy-bench-frame")

// seiNAL is an H.264 SEI NAL unit, user data unregistered (payload type
// 5), holding seiUUID and seq as 16 decimal digits.
func seiNAL(seq uint64) []byte {
	digits := fmt.Sprintf("%016d", seq)
	b := []byte{6, 5, byte(len(seiUUID) + len(digits))}
	b = append(b, seiUUID...)
	b = append(b, digits...)
	return append(b, 0x80)
}

// seiSeq finds the bench's SEI in an access unit.
func seiSeq(au [][]byte) (uint64, bool) {
	for _, n := range au {
		if len(n) >= 3+16+16 && n[0]&0x1f == 6 && n[1] == 5 && string(n[3:19]) == string(seiUUID) {
			v, err := strconv.ParseUint(string(n[19:35]), 10, 64)
			return v, err == nil
		}
	}
	return 0, false
}

type rtcBench struct {
	cfg rtcBenchConfig
	log io.Writer
	url string
	hc  *http.Client
	ib  *ingestBench

	seq    uint64 // publisher goroutine only
	sentMu sync.Mutex
	sent   map[uint64]int64 // frame → last packet written (ns)
	frames atomic.Int64     // frames sent

	api *pion.API
}

func (b *rtcBench) logf(format string, args ...any) {
	if b.log != nil {
		fmt.Fprintf(b.log, "bench webrtc: "+format+"\n", args...)
	}
}

func (b *rtcBench) sentAt(seq uint64) int64 {
	b.sentMu.Lock()
	defer b.sentMu.Unlock()
	return b.sent[seq]
}

// rtcSample is one frame at one viewer.
type rtcSample struct {
	at          int64 // last packet received (ns)
	first, last time.Duration
}

type rtcViewer struct {
	pc      *pion.PeerConnection
	session string

	mu      sync.Mutex
	samples []rtcSample
	frames  []int64 // receive time of each complete frame (ns)
}

// startViewer connects one WHEP viewer.
func (b *rtcBench) startViewer(ctx context.Context, stream string) (*rtcViewer, error) {
	pc, err := b.api.NewPeerConnection(pion.Configuration{})
	if err != nil {
		return nil, err
	}
	v := &rtcViewer{pc: pc}
	for _, k := range []pion.RTPCodecType{pion.RTPCodecTypeVideo, pion.RTPCodecTypeAudio} {
		if _, err := pc.AddTransceiverFromKind(k, pion.RTPTransceiverInit{Direction: pion.RTPTransceiverDirectionRecvonly}); err != nil {
			pc.Close()
			return nil, err
		}
	}
	pc.OnTrack(func(tr *pion.TrackRemote, _ *pion.RTPReceiver) {
		if tr.Kind() != pion.RTPCodecTypeVideo {
			for {
				if _, _, err := tr.ReadRTP(); err != nil {
					return
				}
			}
		}
		dec := &rtph264.Decoder{}
		if err := dec.Init(); err != nil {
			return
		}
		var curTS uint32
		var frameFirst int64
		started := false
		for {
			pkt, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			now := time.Now().UnixNano()
			if !started || pkt.Timestamp != curTS {
				started, curTS, frameFirst = true, pkt.Timestamp, now
			}
			au, err := dec.Decode(pkt)
			if err != nil {
				continue
			}
			seq, ok := seiSeq(au)
			v.mu.Lock()
			v.frames = append(v.frames, now)
			if ok {
				if sent := b.sentAt(seq); sent > 0 {

					v.samples = append(v.samples, rtcSample{at: now, first: time.Duration(frameFirst - sent), last: time.Duration(now - sent)})
				}
			}
			v.mu.Unlock()
		}
	})
	v.session, _, _, err = whepclient.Negotiate(ctx, b.hc, b.url+"/webrtc/"+stream+"/whep", pc)
	if err != nil {
		pc.Close()
		return nil, err
	}
	return v, nil
}

func (v *rtcViewer) close(ctx context.Context, hc *http.Client) {
	if v.session != "" {
		_, _ = whepclient.EndSession(ctx, hc, v.session)
	}
	v.pc.Close()
}

// window returns v's samples and frame times in [from, to].
func (v *rtcViewer) window(from, to int64) (s []rtcSample, frames []int64) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, x := range v.samples {
		if x.at >= from && x.at <= to {
			s = append(s, x)
		}
	}
	for _, f := range v.frames {
		if f >= from && f <= to {
			frames = append(frames, f)
		}
	}
	return s, frames
}

func runWebRTCBench(ctx context.Context, cfg rtcBenchConfig) (*rtcResults, error) {
	b := &rtcBench{cfg: cfg, log: cfg.Log, sent: map[uint64]int64{}}
	var err error
	if b.api, err = whepclient.ClientAPI(true); err != nil {
		return nil, err
	}
	clip := cfg.Clip
	if clip == "" {
		if clip, err = ingestDefaultClip(ctx, b.logf); err != nil {
			return nil, err
		}
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
	bin := cfg.Server
	if bin == "" {
		if bin, err = os.Executable(); err != nil {
			return nil, fmt.Errorf("find this executable to run as the server (or pass --server): %w", err)
		}
	}
	dir, err := os.MkdirTemp("", "eddy-bench-webrtc-")
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
	b.hc = &http.Client{Timeout: 30 * time.Second}
	b.ib = &ingestBench{url: b.url, pid: srv.cmd.Process.Pid, hc: b.hc, clkTck: ingestClockTicks()}

	ctx, cancelRun := context.WithCancelCause(ctx)
	defer cancelRun(nil)
	go func() {
		select {
		case <-srv.done:
			cancelRun(fmt.Errorf("the server (pid %d) exited during the run: %v; last log lines:\n%s", b.ib.pid, exitStatus(srv.err), srv.tail(25)))
		case <-ctx.Done():
		}
	}()
	pub.URL = "rtsp://" + srv.rtsp + "/" + stream
	pubErr := make(chan error, 1)
	pubCtx, stopPub := context.WithCancel(ctx)
	defer stopPub()
	go func() { pubErr <- pub.Run(pubCtx) }()

	res := &rtcResults{Viewers: cfg.Viewers, DurationS: cfg.Duration.Seconds(), WarmupS: cfg.Warmup.Seconds(),
		Clip: clip, Server: "child: " + bin + " serve (fresh data dir)", Endpoint: b.url, ServerPID: b.ib.pid, CPUs: runtime.NumCPU()}
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
	base0 := b.ib.probe(ctx)
	if err := sleep(cfg.Duration); err != nil {
		return nil, err
	}
	base1 := b.ib.probe(ctx)
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
		p0, f0 := b.ib.probe(ctx), b.frames.Load()
		if err := sleep(cfg.Duration); err != nil {
			return nil, err
		}
		p1, f1 := b.ib.probe(ctx), b.frames.Load()
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
	_, res.PeakRSSMB = ingestRSS(b.ib.pid)
	res.PeakRSSMB /= 1 << 20
	return res, nil
}

// rtcWindow is one measured window.
type rtcWindow struct {
	Viewers      int     `json:"viewers"`
	Seconds      float64 `json:"seconds"`
	ServerCPUS   float64 `json:"server_cpu_s"`
	ServerRSSMB  float64 `json:"server_rss_mb"`
	FramesSent   int64   `json:"frames_sent"`
	Samples      int     `json:"latency_samples"`
	FirstP50MS   float64 `json:"first_packet_out_p50_ms"`
	FirstP99MS   float64 `json:"first_packet_out_p99_ms"`
	FirstMaxMS   float64 `json:"first_packet_out_max_ms"`
	LastP50MS    float64 `json:"last_packet_out_p50_ms"`
	LastP99MS    float64 `json:"last_packet_out_p99_ms"`
	CPUPerViewer float64 `json:"server_cpu_s_per_viewer_minute,omitempty"`
	CPUNet       float64 `json:"server_cpu_s_per_viewer_minute_net,omitempty"`
	// Server-side, from its histograms: a unit's arrival (its first RTP
	// packet read) to its first / last RTP packet handed to the kernel.
	ServerFirstP50MS float64 `json:"server_first_packet_p50_ms"`
	ServerFirstP99MS float64 `json:"server_first_packet_p99_ms"`
	ServerLastP50MS  float64 `json:"server_last_packet_p50_ms"`
	ServerLastP99MS  float64 `json:"server_last_packet_p99_ms"`
	ServerUnits      int64   `json:"server_units_timed"`
	MinFrames        int     `json:"min_frames_per_viewer"`
	MaxGapMS         float64 `json:"max_gap_ms"`
	Starved          int     `json:"viewers_starved"`
}

func rtcWindowOf(p0, p1 ingestProbe, viewers int) *rtcWindow {
	w := &rtcWindow{Viewers: viewers, Seconds: p1.at.Sub(p0.at).Seconds()}
	if p0.serverCPUOK && p1.serverCPUOK {
		w.ServerCPUS = p1.serverCPU - p0.serverCPU
	}
	w.ServerRSSMB = float64(p1.rss) / (1 << 20)
	return w
}

// serverHist reads the server's forwarding histograms over the window.
func serverHist(w *rtcWindow, p0, p1 ingestProbe) {
	q := func(name string, q float64) float64 {
		v, _, ok := histQuantile(q, histDelta(name, p0.metrics, p1.metrics))
		if !ok {
			return 0
		}
		return v * 1000
	}
	const first, last = "eddy_webrtc_forward_first_packet_seconds", "eddy_webrtc_forward_last_packet_seconds"
	w.ServerFirstP50MS, w.ServerFirstP99MS = q(first, 0.5), q(first, 0.99)
	w.ServerLastP50MS, w.ServerLastP99MS = q(last, 0.5), q(last, 0.99)
	w.ServerUnits = int64(p1.metrics[first+"_count"] - p0.metrics[first+"_count"])
}

func (b *rtcBench) viewerStats(w *rtcWindow, viewers []*rtcViewer, from, to int64, base0, base1 ingestProbe) {
	var first, last []time.Duration
	w.MinFrames = -1
	for _, v := range viewers {
		s, frames := v.window(from, to)
		for _, x := range s {
			first = append(first, x.first)
			last = append(last, x.last)
		}
		if w.MinFrames < 0 || len(frames) < w.MinFrames {
			w.MinFrames = len(frames)
		}
		prev := from
		var gap int64
		for _, f := range frames {
			gap = max(gap, f-prev)
			prev = f
		}
		gap = max(gap, to-prev)
		w.MaxGapMS = max(w.MaxGapMS, float64(gap)/1e6)
		if float64(len(frames)) < 0.9*float64(w.FramesSent) || gap > int64(time.Second) {
			w.Starved++
		}
	}
	w.Samples = len(first)
	q := func(ds []time.Duration, p float64) float64 { return float64(hlsQuantile(ds, p)) / 1e6 }
	sort.Slice(first, func(i, j int) bool { return first[i] < first[j] })
	sort.Slice(last, func(i, j int) bool { return last[i] < last[j] })
	if len(first) > 0 {
		w.FirstP50MS, w.FirstP99MS, w.FirstMaxMS = q(first, 0.5), q(first, 0.99), float64(first[len(first)-1])/1e6
		w.LastP50MS, w.LastP99MS = q(last, 0.5), q(last, 0.99)
	}
	minutes := w.Seconds / 60
	if w.Viewers > 0 && minutes > 0 {
		w.CPUPerViewer = w.ServerCPUS / float64(w.Viewers) / minutes
		baseRate := 0.0
		if bs := base1.at.Sub(base0.at).Seconds(); bs > 0 && base0.serverCPUOK && base1.serverCPUOK {
			baseRate = (base1.serverCPU - base0.serverCPU) / bs
		}
		w.CPUNet = (w.ServerCPUS - baseRate*w.Seconds) / float64(w.Viewers) / minutes
	}
}

type rtcResults struct {
	Viewers   int        `json:"viewers"`
	DurationS float64    `json:"window_s"`
	WarmupS   float64    `json:"warmup_s"`
	Clip      string     `json:"clip"`
	Server    string     `json:"server"`
	Endpoint  string     `json:"endpoint"`
	ServerPID int        `json:"server_pid"`
	CPUs      int        `json:"cpus"`
	Baseline  *rtcWindow `json:"baseline"`
	One       *rtcWindow `json:"one_viewer"`
	Many      *rtcWindow `json:"many_viewers,omitempty"`
	PeakRSSMB int64      `json:"server_peak_rss_mb"`
}

func (r *rtcResults) writeText(w io.Writer) {
	fmt.Fprintf(w, "eddy bench webrtc: %s, %d CPUs; windows of %.0f s after %.0f s warm-up\n", r.Server, r.CPUs, r.DurationS, r.WarmupS)
	fmt.Fprintf(w, "clip: %s\n", r.Clip)
	if r.Baseline != nil {
		fmt.Fprintf(w, "baseline (publisher alone): server CPU %.2f s in %.1f s, RSS %.0f MB\n", r.Baseline.ServerCPUS, r.Baseline.Seconds, r.Baseline.ServerRSSMB)
	}
	for _, win := range []*rtcWindow{r.One, r.Many} {
		if win == nil {
			continue
		}
		fmt.Fprintf(w, "%d viewer(s): forwarding latency, last RTP packet in (RTSP) → first RTP packet out (WHEP): p50 %.2f ms, p99 %.2f ms, max %.2f ms (%d frames)\n",
			win.Viewers, win.FirstP50MS, win.FirstP99MS, win.FirstMaxMS, win.Samples)
		fmt.Fprintf(w, "  … → last RTP packet out: p50 %.2f ms, p99 %.2f ms\n", win.LastP50MS, win.LastP99MS)
		fmt.Fprintf(w, "  inside the server (unit's first RTP packet read → packet handed to the kernel; %d units × viewers, histogram): first packet p50 %.2f ms, p99 %.2f ms; last packet p50 %.2f ms, p99 %.2f ms\n",
			win.ServerUnits, win.ServerFirstP50MS, win.ServerFirstP99MS, win.ServerLastP50MS, win.ServerLastP99MS)
		fmt.Fprintf(w, "  server CPU %.2f s in %.1f s: %.4f CPU-s per viewer-minute (%.4f net of the baseline); RSS %.0f MB\n",
			win.ServerCPUS, win.Seconds, win.CPUPerViewer, win.CPUNet, win.ServerRSSMB)
		fmt.Fprintf(w, "  frames sent %d; fewest frames at a viewer %d; longest wait between frames %.0f ms; viewers starved %d of %d\n",
			win.FramesSent, win.MinFrames, win.MaxGapMS, win.Starved, win.Viewers)
	}
	fmt.Fprintf(w, "server peak RSS (VmHWM): %d MB\n", r.PeakRSSMB)
}
