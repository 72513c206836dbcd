package bench

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	pion "github.com/pion/webrtc/v4"

	"github.com/eddy-video/eddy/media/rtspclient"
	"github.com/eddy-video/eddy/webrtc/whepclient"
)

// eddy bench webrtc-events: one camera publishes over RTSP to an Eddy
// server the bench starts as a child, N pion WHEP viewers play it with an
// events data channel, and a writer puts events into the camera's event
// stream with PutRecords (one record a call) at a fixed rate, on a
// schedule that does not wait for slow calls. The latency of an event at
// a viewer is from the PutRecords response (its acknowledgement, read by
// the writer) to the event's message read from the viewer's channel; both
// ends are in this process, on one clock. An event that reaches a viewer
// before its acknowledgement reaches the writer counts as 0 (and is
// counted). Events written in the warm-up are not measured.

type rtcEventsConfig struct {
	Viewers  int
	Rate     float64
	Duration time.Duration
	Warmup   time.Duration
	Clip     string
	childConfig
	Log io.Writer
}

func defaultRTCEventsConfig() rtcEventsConfig {
	return rtcEventsConfig{Viewers: 50, Rate: 100, Duration: 30 * time.Second, Warmup: 3 * time.Second}
}

func (c *rtcEventsConfig) validate() error {
	var errs []error
	if c.Viewers < 1 {
		errs = append(errs, errors.New("--viewers must be at least 1"))
	}
	if c.Rate <= 0 || c.Rate > 5000 {
		errs = append(errs, errors.New("--rate must be in (0, 5000] events a second"))
	}
	if c.Duration <= 0 || c.Warmup < 0 {
		errs = append(errs, errors.New("--duration must be positive, --warmup not negative"))
	}
	return errors.Join(errs...)
}

func benchWebRTCEvents(args []string) error {
	cfg := defaultRTCEventsConfig()
	fs := flag.NewFlagSet("bench webrtc-events", flag.ContinueOnError)
	setUsage(fs, "[flags]", cameraAbout("plays it with N pion WHEP viewers that open the events data channel, and puts\n"+
		"events into its event stream with PutRecords at a fixed rate: latency from the\n"+
		"PutRecords acknowledgement to the event on each viewer's channel, p50/p99/max;\n"+
		"events lost or dropped."))
	fs.IntVar(&cfg.Viewers, "viewers", cfg.Viewers, "WHEP viewers with an events channel")
	fs.Float64Var(&cfg.Rate, "rate", cfg.Rate, "events written a second (one PutRecords call each)")
	fs.DurationVar(&cfg.Duration, "duration", cfg.Duration, "length of the measured window")
	fs.DurationVar(&cfg.Warmup, "warmup", cfg.Warmup, "writing before the window (not measured)")
	fs.StringVar(&cfg.Clip, "clip", cfg.Clip, "MP4 (H.264 + AAC) to publish; default: generated with ffmpeg and cached")
	splitServerArgs := cfg.addFlags(fs, "extra flags for the started server's serve command, space separated")
	jsonOut := fs.Bool("json", false, "also print the results as JSON")
	check := func() error { splitServerArgs(); return cfg.validate() }
	if help, err := parseFlags(fs, args, check); help || err != nil {
		return err
	}
	cfg.Log = os.Stderr
	return runAndReport(*jsonOut, "", func(ctx context.Context) (*rtcEventsResults, error) { return runWebRTCEventsBench(ctx, cfg) })
}

// evViewer is one viewer: when each event (by id) was read.
type evViewer struct {
	pc      *pion.PeerConnection
	session string
	ready   chan struct{} // closed at the first message (subscribed)
	once    sync.Once
	mu      sync.Mutex
	got     map[string]int64 // event id → read (ns)
	clocks  int
	bad     int
}

// evWrite is one PutRecords call of the writer.
type evWrite struct {
	sent, ack int64 // ns
	id        string
	err       string
}

func runWebRTCEventsBench(ctx context.Context, cfg rtcEventsConfig) (*rtcEventsResults, error) {
	lg := logger{log: cfg.Log, prefix: "bench webrtc-events: "}
	api, err := whepclient.ClientAPI(true)
	if err != nil {
		return nil, err
	}
	clip, err := clipOrDefault(ctx, cfg.Clip, lg.logf)
	if err != nil {
		return nil, err
	}
	stream := "bench-events-" + time.Now().Format("150405")
	pub := &rtspclient.FilePublisher{File: clip, Loop: true}
	if err := pub.Load(); err != nil {
		return nil, fmt.Errorf("clip: %w", err)
	}
	srv, stopServer, err := startChild(ctx, cfg.childConfig, "webrtc-events", lg.logf)
	if err != nil {
		return nil, err
	}
	defer stopServer()
	hc := newHTTPClient(16)
	pr := newProber(srv.url, srv.cmd.Process.Pid, hc)
	ctx, cancelRun := srv.watch(ctx)
	defer cancelRun(nil)
	pub.URL = "rtsp://" + srv.rtsp + "/" + stream
	pubErr := make(chan error, 1)
	pubCtx, stopPub := context.WithCancel(ctx)
	defer stopPub()
	go func() { pubErr <- pub.Run(pubCtx) }()
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
	res := &rtcEventsResults{Viewers: cfg.Viewers, Rate: cfg.Rate, DurationS: cfg.Duration.Seconds(), WarmupS: cfg.Warmup.Seconds(),
		Clip: clip, Server: "child: " + srv.bin + " serve (fresh data dir)", Endpoint: srv.url, CPUs: runtime.NumCPU()}

	// The stream goes live (RTSP publish auto-creates it).
	lg.logf("publishing %s; waiting for it to play over WHEP", stream)
	endpoint := srv.url + "/webrtc/" + stream + "/whep"
	var viewers []*evViewer
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, v := range viewers {
			if v.session != "" {
				_, _ = whepclient.EndSession(cctx, hc, v.session)
			}
			v.pc.Close()
		}
	}()
	start := func() (*evViewer, error) {
		v := &evViewer{ready: make(chan struct{}), got: map[string]int64{}}
		var err error
		v.pc, err = newRecvPeer(api, func(tr *pion.TrackRemote) {
			for {
				if _, _, err := tr.ReadRTP(); err != nil {
					return
				}
			}
		})
		if err != nil {
			return nil, err
		}
		if _, err := whepclient.OpenEvents(v.pc, v.message); err != nil {
			v.pc.Close()
			return nil, err
		}
		if v.session, _, _, err = whepclient.Negotiate(ctx, hc, endpoint, v.pc); err != nil {
			v.pc.Close()
			return nil, err
		}
		return v, nil
	}
	for deadline := time.Now().Add(20 * time.Second); len(viewers) < cfg.Viewers; {
		v, err := start()
		if err != nil {
			if len(viewers) == 0 && time.Now().Before(deadline) {
				if err := sleep(250 * time.Millisecond); err != nil {
					return nil, err
				}
				continue // not live yet
			}
			return nil, fmt.Errorf("viewer %d: %w", len(viewers)+1, err)
		}
		viewers = append(viewers, v)
	}
	lg.logf("%d viewers connected; waiting for each events channel", len(viewers))
	for i, v := range viewers {
		select {
		case <-v.ready:
		case <-time.After(15 * time.Second):
			return nil, fmt.Errorf("viewer %d: no message on its events channel within 15 s", i+1)
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		}
	}

	kc := kinesis.New(kinesis.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.url), HTTPClient: hc,
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "secret", Source: "bench"}, nil
		})})
	total := int((cfg.Warmup + cfg.Duration).Seconds() * cfg.Rate)
	warm := int(cfg.Warmup.Seconds() * cfg.Rate)
	writes := make([]evWrite, total)
	lg.logf("writing %d events at %g/s (%s warm-up, then %s measured)", total, cfg.Rate, cfg.Warmup, cfg.Duration)
	var p0 snapshot
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	var late atomic.Int64 // calls that started behind schedule (writer saturated)
	t0 := time.Now()
	every := time.Duration(float64(time.Second) / cfg.Rate)
	for i := range total {
		if i == warm {
			p0 = pr.probe(ctx)
		}
		at := t0.Add(time.Duration(i) * every)
		if d := time.Until(at); d > 0 {
			if err := sleep(d); err != nil {
				return nil, err
			}
		}
		select {
		case sem <- struct{}{}:
		default:
			late.Add(1)
			sem <- struct{}{}
		}
		wg.Add(1)
		go func(i int) {
			defer func() { <-sem; wg.Done() }()
			w := &writes[i]
			data := fmt.Appendf(nil, `{"type":"bench","label":"event-%d","score":0.5,"box":[0.25,0.25,0.5,0.5],"attributes":{"n":%d}}`, i, i)
			w.sent = time.Now().UnixNano()
			out, err := kc.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(stream + ".events"),
				Records: []ktypes.PutRecordsRequestEntry{{Data: data, PartitionKey: aws.String("bench")}}})
			w.ack = time.Now().UnixNano()
			switch {
			case err != nil:
				w.err = errorCode(err)
			case out.Records[0].ErrorCode != nil:
				w.err = aws.ToString(out.Records[0].ErrorCode)
			default:
				w.id = aws.ToString(out.Records[0].SequenceNumber)
			}
		}(i)
	}
	wg.Wait()
	// Let the last events arrive (up to 5 s: later ones count as missing).
	want := 0
	for _, w := range writes[warm:] {
		if w.err == "" {
			want++
		}
	}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		if err := sleep(100 * time.Millisecond); err != nil {
			return nil, err
		}
		if allDelivered(viewers, writes[warm:], want) {
			break
		}
	}
	p1 := pr.probe(ctx)
	res.WriterLate = late.Load()
	res.collect(writes[warm:], viewers, p0, p1)
	return res, nil
}

// allDelivered reports whether every viewer has read every written event.
func allDelivered(viewers []*evViewer, writes []evWrite, want int) bool {
	for _, v := range viewers {
		n := 0
		v.mu.Lock()
		for _, w := range writes {
			if _, ok := v.got[w.id]; ok && w.err == "" {
				n++
			}
		}
		v.mu.Unlock()
		if n < want {
			return false
		}
	}
	return true
}

func (v *evViewer) message(m whepclient.Message) {
	now := time.Now().UnixNano()
	v.once.Do(func() { close(v.ready) })
	if m.Err != nil {
		v.mu.Lock()
		v.bad++
		v.mu.Unlock()
		return
	}
	switch m.Kind {
	case "clock":
		v.mu.Lock()
		v.clocks++
		v.mu.Unlock()
	case "event":
		var ev struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(m.Event, &ev); err != nil || ev.ID == "" {
			v.mu.Lock()
			v.bad++
			v.mu.Unlock()
			return
		}
		v.mu.Lock()
		v.got[ev.ID] = now
		v.mu.Unlock()
	}
}

// collect fills the results from the measured writes and the viewers.
func (r *rtcEventsResults) collect(writes []evWrite, viewers []*evViewer, p0, p1 snapshot) {
	var lat, fromSend []time.Duration
	errs := map[string]int{}
	r.MinClocks = -1
	for _, w := range writes {
		if w.err != "" {
			errs[w.err]++
			continue
		}
		r.Written++
	}
	for _, v := range viewers {
		v.mu.Lock()
		for _, w := range writes {
			if w.err != "" {
				continue
			}
			at, ok := v.got[w.id]
			if !ok {
				r.Missing++
				continue
			}
			r.Delivered++
			d := time.Duration(at - w.ack)
			if d < 0 {
				r.BeforeAck++
				d = 0
			}
			lat = append(lat, d)
			fromSend = append(fromSend, time.Duration(at-w.sent))
		}
		r.BadMessages += v.bad
		if r.MinClocks < 0 || v.clocks < r.MinClocks {
			r.MinClocks = v.clocks
		}
		v.mu.Unlock()
	}
	var ack []time.Duration
	for _, w := range writes {
		if w.err == "" {
			ack = append(ack, time.Duration(w.ack-w.sent))
		}
	}
	r.WriteErrors = errs
	r.AckP50MS, r.AckP99MS, r.AckMaxMS = msQuantiles(lat)
	r.SendP50MS, r.SendP99MS, _ = msQuantiles(fromSend)
	r.PutP50MS, r.PutP99MS, _ = msQuantiles(ack)
	r.ServerDropped = p1.metrics["eddy_webrtc_events_dropped_total"] - p0.metrics["eddy_webrtc_events_dropped_total"]
	r.ServerSent = p1.metrics["eddy_webrtc_events_sent_total"] - p0.metrics["eddy_webrtc_events_sent_total"]
	if c, _ := serverCPU(p0, p1); c != nil {
		r.ServerCPUS = *c
	}
	r.Seconds = p1.at.Sub(p0.at).Seconds()
}
