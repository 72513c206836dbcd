package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/eddy-video/eddy/webrtc/whepclient"
)

// soak is the state of one run.
type soak struct {
	cfg soakConfig
	logger
	ib    *ingestBench // the cameras, the server and its prober
	start time.Time    // the cameras' start: t = 0 of the samples

	hls     []*hlsBench // one per camera: its readers' sessions
	hlsLive hlsLive

	mu         sync.Mutex // guards what the sampler reads while the run adds to it
	readers    []*hlsReader
	viewers    []*soakViewer
	samples    []soakSample
	scrapeErrs int
	warm, end  snapshot // the first sample after the warm-up, and the run's end
}

// kdsOutcome is what the KDS load's run returned.
type kdsOutcome struct {
	res *kdsBenchResults
	err error
}

func runSoak(ctx context.Context, cfg soakConfig) (*soakResults, error) {
	s := &soak{cfg: cfg, logger: logger{log: cfg.Log}}
	clip := cfg.Clip
	if clip == "" {
		var err error
		if clip, err = soakClip.make(ctx, s.logf); err != nil {
			return nil, err
		}
	}
	ib, err := newIngestBench(ctx, ingestBenchConfig{
		Streams: cfg.Cameras, Clip: clip, Stagger: cfg.Stagger, Settle: cfg.Settle, Duration: cfg.Duration,
		childConfig: cfg.childConfig, Endpoint: cfg.Endpoint, RTSP: cfg.RTSP, PID: cfg.PID,
		Prefix: "soak-" + time.Now().Format("150405"), Log: cfg.Log,
	})
	if err != nil {
		return nil, err
	}
	s.ib = ib
	numberFrames(ib.pubs)
	stopServer, err := ib.connect(ctx, "soak")
	if err != nil {
		return nil, err
	}
	defer stopServer()
	runCtx := ctx
	if ib.child != nil {
		var cancel context.CancelCauseFunc
		runCtx, cancel = ib.child.watch(ctx)
		defer cancel(nil)
	}
	idle := ib.probe(runCtx)
	if idle.metricsErr != nil {
		return nil, runErr(runCtx, fmt.Errorf("metrics: %w", idle.metricsErr))
	}
	return s.run(ctx, runCtx, idle)
}

// numberFrames makes each publisher put an SEI NAL unit with its own
// frame number (from 1) in front of every video frame it sends.
func numberFrames(pubs []*publisher) {
	for _, p := range pubs {
		var n uint64 // the publisher's goroutine only
		p.pub.Rewrite = func(nalus [][]byte) [][]byte {
			n++
			return append([][]byte{seiNAL(n)}, nalus...)
		}
	}
}

// run runs the loads from the cameras' start to the end of the run, then
// checks and reports. ctx is the caller's (a signal ends it: the run stops
// early and reports); runCtx also ends when the server exits.
func (s *soak) run(ctx, runCtx context.Context, idle snapshot) (*soakResults, error) {
	cfg, ib := s.cfg, s.ib
	res := s.newResults(idle)
	s.start = time.Now()
	end := s.start.Add(cfg.Duration)
	sampleCtx, stopSampling := context.WithDeadline(runCtx, end)
	defer stopSampling()
	var swg sync.WaitGroup
	swg.Go(func() { s.sample(sampleCtx) })
	stopPubs := ib.publish(runCtx)
	defer stopPubs()
	s.logf("soak: %d cameras → rtsp://%s/%s-NNN (%s), then %d HLS readers, %d WHEP viewers, %d KDS producers; %v (trends after %v), samples every %v",
		cfg.Cameras, ib.rtsp, ib.prefix, ib.clip, cfg.HLS, cfg.WHEP, cfg.KDS, cfg.Duration, cfg.Warmup, cfg.Interval)

	rc := newHTTPClient(2*cfg.HLS + 8)
	if cfg.faults.failSegment {
		rc.Transport = failSegmentTransport(rc.Transport)
	}
	if err := s.waitRecording(runCtx, rc); err != nil {
		return nil, runErr(runCtx, err)
	}
	p0 := ib.probe(runCtx) // every camera records: the loss window opens
	if p0.metricsErr != nil {
		return nil, runErr(runCtx, fmt.Errorf("metrics: %w", p0.metricsErr))
	}

	loadCtx, stopLoads := context.WithCancel(runCtx)
	defer stopLoads()
	var lwg sync.WaitGroup
	s.startHLS(loadCtx, &lwg)
	if err := s.startWHEP(loadCtx, &lwg); err != nil {
		return nil, err
	}
	kdsDone := s.startKDS(runCtx, end)

	if sleepCtx(runCtx, time.Until(end)) != nil {
		if context.Cause(runCtx) != nil && ctx.Err() == nil {
			return nil, runErr(runCtx, runCtx.Err()) // the server exited
		}
		res.Interrupted = true
		s.logf("soak: interrupted after %v; stopping the loads and reporting", time.Since(s.start).Round(time.Second))
	}
	// Finish on a context the interruption does not end (the server's
	// exit still does).
	finCtx := context.WithoutCancel(ctx)
	if ib.child != nil {
		var cancel context.CancelCauseFunc
		finCtx, cancel = ib.child.watch(finCtx)
		defer cancel(nil)
	}
	stopSampling()
	swg.Wait()
	p1 := ib.probe(finCtx)
	s.samples, s.end = append(s.samples, sampleOf(p1, s.start)), p1
	stopLoads()
	lwg.Wait()
	var kds kdsOutcome
	if kdsDone != nil {
		s.logf("soak: waiting for the KDS consumers to read everything back")
		kds = <-kdsDone
	}
	s.logf("soak: waiting for every camera's last fragment to be listed")
	lists, settleProblems := ib.settle(finCtx, p0.at, p1.at)
	cfg.faults.dropListed(lists, ib.names[0])
	stopPubs()
	after := ib.probe(finCtx)
	video := ib.newResults()
	video.RSSIdleMiB = mib(idle.rss)
	ib.finish(video, idle, p0, p1, after, lists, settleProblems)
	s.results(res, video, p0, p1, kds)
	return res, nil
}

// waitRecording waits until every camera has a fragment to play (an HLS
// session can be had), so that readers and viewers find their streams.
func (s *soak) waitRecording(ctx context.Context, rc *http.Client) error {
	for _, name := range s.ib.names {
		hb := &hlsBench{cfg: hlsBenchConfig{Window: 5, Expires: 43200}, url: s.ib.url, stream: name, hc: rc, rc: rc}
		if _, err := hb.sessionURL(ctx, false, s.cfg.Stagger+30*time.Second); err != nil {
			return fmt.Errorf("camera %s is not recording: %w", name, err)
		}
		s.hls = append(s.hls, hb)
	}
	s.logf("soak: all %d cameras record (%v after their start)", len(s.hls), time.Since(s.start).Round(100*time.Millisecond))
	return nil
}

// startHLS starts the HLS readers, reader i on camera i mod cameras, their
// starts spread over cfg.Stagger. A reader whose session could not be
// opened tries again a second later (each failure is a request error).
func (s *soak) startHLS(ctx context.Context, wg *sync.WaitGroup) {
	for i := range s.cfg.HLS {
		r := &hlsReader{id: i, b: s.hls[i%len(s.hls)], live: &s.hlsLive}
		s.mu.Lock()
		s.readers = append(s.readers, r)
		s.mu.Unlock()
		delay := s.cfg.Stagger * time.Duration(i) / time.Duration(s.cfg.HLS)
		wg.Go(func() {
			if sleepCtx(ctx, delay) != nil {
				return
			}
			for ctx.Err() == nil {
				r.run(ctx)
				if sleepCtx(ctx, time.Second) != nil {
					return
				}
			}
		})
	}
}

// startWHEP starts the WHEP viewers, viewer i on camera i mod cameras,
// their starts spread over cfg.Stagger.
func (s *soak) startWHEP(ctx context.Context, wg *sync.WaitGroup) error {
	if s.cfg.WHEP == 0 {
		return nil
	}
	api, err := whepclient.ClientAPI(true)
	if err != nil {
		return err
	}
	hc := newHTTPClient(s.cfg.WHEP + 4)
	for i := range s.cfg.WHEP {
		v := &soakViewer{id: i, stream: s.ib.names[i%len(s.ib.names)]}
		if i == 0 {
			v.dropAt = s.cfg.faults.dropFrame
		}
		s.mu.Lock()
		s.viewers = append(s.viewers, v)
		s.mu.Unlock()
		delay := s.cfg.Stagger * time.Duration(i) / time.Duration(s.cfg.WHEP)
		wg.Go(func() {
			if sleepCtx(ctx, delay) == nil {
				v.run(ctx, api, hc, s.ib.url)
			}
		})
	}
	return nil
}

// startKDS runs bench kds until end (then its consumers drain): its
// producers at cfg.KDSRate on a fresh stream, read back by a GetRecords
// poller (5 calls a second at most, as Kinesis allows) and a
// SubscribeToShard consumer per shard. nil when there is no KDS load.
func (s *soak) startKDS(ctx context.Context, end time.Time) <-chan kdsOutcome {
	if s.cfg.KDS == 0 {
		return nil
	}
	kc := defaultKDSBenchConfig()
	kc.Endpoint, kc.PID = s.ib.url, s.ib.pid
	kc.Shards, kc.Producers, kc.Rate = s.cfg.KDSShards, s.cfg.KDS, s.cfg.KDSRate
	kc.Batch = min(500, max(1, int(s.cfg.KDSRate/10))) // about ten calls a second
	kc.Duration = max(time.Second, time.Until(end))
	kc.PollInterval, kc.Progress = 200*time.Millisecond, s.cfg.Progress
	if s.log != nil {
		kc.Log = prefixWriter{s.log, "kds: "}
	}
	if s.cfg.faults.fakeAck {
		kc.HTTPClient = &http.Client{Transport: fakeAckTransport(http.DefaultTransport.(*http.Transport).Clone())}
	}
	done := make(chan kdsOutcome, 1)
	go func() {
		r, err := runKDSBench(ctx, kc)
		done <- kdsOutcome{r, err}
	}()
	return done
}

// prefixWriter writes each write (one log line) after a prefix.
type prefixWriter struct {
	w      io.Writer
	prefix string
}

func (p prefixWriter) Write(b []byte) (int, error) {
	if _, err := p.w.Write(append([]byte(p.prefix), b...)); err != nil {
		return 0, err
	}
	return len(b), nil
}

// sample samples the server every interval until ctx ends, printing a
// progress line at the first sample of each progress period.
func (s *soak) sample(ctx context.Context) {
	t := time.NewTicker(s.cfg.Interval)
	defer t.Stop()
	var last soakSample
	lastProgress := s.start
	for {
		p := s.ib.probe(ctx)
		if ctx.Err() != nil {
			return // the run's end: its last sample is taken after the loads
		}
		smp := sampleOf(p, s.start)
		s.mu.Lock()
		if p.metricsErr != nil {
			s.scrapeErrs++
		}
		s.samples = append(s.samples, smp)
		if s.warm.at.IsZero() && p.at.Sub(s.start) >= s.cfg.Warmup {
			s.warm = p
		}
		s.mu.Unlock()
		if p.at.Sub(lastProgress) >= s.cfg.Progress-s.cfg.Interval/2 {
			s.logf("%s", s.progressLine(p, last, smp))
			lastProgress, last = p.at, smp
		} else if last.At.IsZero() {
			last = smp
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
