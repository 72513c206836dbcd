package bench

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"
)

// eddy bench soak: every load at once, for a long time, against one
// server (a child `eddy serve` on a fresh data directory, unless
// --endpoint names a running one):
//
//   - cameras: bench ingest's looping RTSP publishers (no re-encoding),
//     each putting an SEI NAL unit with its own frame number in front of
//     every frame;
//   - HLS readers: bench hls's hls.js-like readers, spread over the
//     cameras, on LIVE sessions that outlast the run;
//   - WHEP viewers (soak_whep.go): pion peer connections that reassemble
//     the video's access units and check the frame numbers;
//   - KDS: bench kds's producers at a steady rate, with a GetRecords poller
//     and a SubscribeToShard consumer per shard reading everything back.
//
// Every interval it samples the server (RSS, open files and CPU from
// /proc; goroutines and heap from /metrics) and prints a progress line
// every --progress; at the end it fits a line through the samples taken
// after the warm-up (soak_trend.go), and checks each load for errors and
// loss with the checks the other benches use: the cameras' media against
// ListFragments, the WHEP frame numbers, the KDS count and checksum of
// sequence numbers per shard.

// soakConfig configures one run.
type soakConfig struct {
	Cameras   int
	HLS       int     // HLS readers, spread over the cameras
	WHEP      int     // WHEP viewers, spread over the cameras
	KDS       int     // KDS producers on one stream; 0 = no KDS load
	KDSRate   float64 // records/s over all producers
	KDSShards int

	Duration time.Duration // the whole run, from the cameras' start
	Warmup   time.Duration // left out of the trends
	Interval time.Duration // sampling period
	Progress time.Duration // progress line period (rounded up to whole intervals)
	Stagger  time.Duration // the starts of each load spread over this
	Settle   time.Duration // longest wait, after the run, for its last fragments to be listed
	Clip     string        // MP4 the cameras loop; "" = soakClip
	Limits   soakLimits    // slopes above which a trend is not flat

	childConfig        // the server to start, unless Endpoint is set
	Endpoint    string // an already-running server's HTTP URL: no child
	RTSP        string // its RTSP host:port (with Endpoint)
	PID         int    // its process id, for /proc figures (with Endpoint)

	Log    io.Writer // setup and progress messages; nil = discard
	faults soakFaults
}

// soakClip is the soak's default camera: an NVR's sub-stream (640x360p25
// H.264 500 kbit/s, GOP 2 s, AAC 32 kbit/s). Fifty of them write about
// 12 GB an hour; bench ingest's 720p 2 Mbit/s clip (--clip) four times as
// much.
var soakClip = clipSpec{"bench-soak-360p25-h264-500k-gop50-aac32k-20s.mp4", clipArgs("640x360", "500k", "250k", "32k")}

// soakMaxDuration keeps HLS sessions (Expires ≤ 12 h) valid for the run.
const soakMaxDuration = 11 * time.Hour

func defaultSoakConfig() soakConfig {
	return soakConfig{
		Cameras: 50, HLS: 200, WHEP: 20, KDS: 1, KDSRate: 100, KDSShards: 2,
		Duration: time.Hour, Warmup: 5 * time.Minute, Interval: 10 * time.Second, Progress: time.Minute,
		Stagger: 10 * time.Second, Settle: 15 * time.Second, Limits: defaultSoakLimits(),
	}
}

func (c *soakConfig) validate() error {
	var errs []error
	if c.Cameras < 1 {
		errs = append(errs, errors.New("--cameras must be at least 1 (HLS readers and WHEP viewers watch them)"))
	}
	if c.HLS < 0 || c.WHEP < 0 || c.KDS < 0 {
		errs = append(errs, errors.New("--hls, --whep and --kds must not be negative"))
	}
	if c.KDS > 0 && (c.KDSRate <= 0 || c.KDSShards < 1) {
		errs = append(errs, errors.New("--kds-rate must be positive and --kds-shards at least 1"))
	}
	if c.Duration <= 0 || c.Duration > soakMaxDuration {
		errs = append(errs, fmt.Errorf("--duration must be positive and at most %v (HLS sessions last 12 h)", soakMaxDuration))
	}
	if c.Interval <= 0 || c.Progress <= 0 {
		errs = append(errs, errors.New("--interval and --progress must be positive"))
	}
	if c.Warmup < 0 || c.Stagger < 0 || c.Settle < 0 {
		errs = append(errs, errors.New("--warmup, --stagger and --settle must not be negative"))
	}
	if c.Duration-c.Warmup < 3*c.Interval {
		errs = append(errs, fmt.Errorf("--duration %v leaves less than three --interval %v samples after --warmup %v: no trend to fit", c.Duration, c.Interval, c.Warmup))
	}
	if l := c.Limits; l.RSSMiBPerH < 0 || l.GoroutinesPerH < 0 || l.FDsPerH < 0 || l.CPUPctPerH < 0 {
		errs = append(errs, errors.New("--max-*-slope must not be negative"))
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

func benchSoak(args []string) error {
	cfg := defaultSoakConfig()
	fs := flag.NewFlagSet("bench soak", flag.ContinueOnError)
	setUsage(fs, "[flags]", fmt.Sprintf("Runs every load at once against one server for --duration: cameras publishing\n"+
		"over RTSP, hls.js-like HLS readers and WHEP viewers spread over them, and KDS\n"+
		"producers read back by GetRecords and SubscribeToShard. Samples the server's\n"+
		"RSS, goroutines, open files and CPU every --interval, and reports their trend\n"+
		"after --warmup (least-squares slope per hour), every load's errors, and loss:\n"+
		"the cameras' media against ListFragments, the WHEP viewers' frame numbers, every\n"+
		"acknowledged KDS record read back once. By default it starts its own server\n"+
		"(`eddy serve` on loopback, TCP only, fresh data directory). It exits non-zero\n"+
		"on an error, a loss, or a slope above its --max-*-slope by more than the\n"+
		"slope's 95%% interval.\n\n"+
		"The default clip (360p25 H.264 500 kbit/s, GOP 2 s, AAC 32 kbit/s, 20 s) is\n"+
		"made once with ffmpeg and cached at %s.", soakClip.path()))
	fs.IntVar(&cfg.Cameras, "cameras", cfg.Cameras, "RTSP publishers (one stream each)")
	fs.IntVar(&cfg.HLS, "hls", cfg.HLS, "HLS readers (hls.js-like, LIVE), spread over the cameras")
	fs.IntVar(&cfg.WHEP, "whep", cfg.WHEP, "WHEP viewers, spread over the cameras")
	fs.IntVar(&cfg.KDS, "kds", cfg.KDS, "KDS producers on one stream, read back by consumers (0: no KDS load)")
	fs.Float64Var(&cfg.KDSRate, "kds-rate", cfg.KDSRate, "KDS records per second, all producers together")
	fs.IntVar(&cfg.KDSShards, "kds-shards", cfg.KDSShards, "shards of the KDS stream")
	fs.DurationVar(&cfg.Duration, "duration", cfg.Duration, "length of the run, warm-up included")
	fs.DurationVar(&cfg.Warmup, "warmup", cfg.Warmup, "start of the run left out of the trends")
	fs.DurationVar(&cfg.Interval, "interval", cfg.Interval, "sampling period")
	fs.DurationVar(&cfg.Progress, "progress", cfg.Progress, "progress line period on stderr")
	fs.DurationVar(&cfg.Stagger, "stagger", cfg.Stagger, "spread the starts of each load over this long")
	fs.DurationVar(&cfg.Settle, "settle", cfg.Settle, "longest wait after the run (beyond one GOP) for its last fragments to be listed")
	fs.Float64Var(&cfg.Limits.RSSMiBPerH, "max-rss-slope", cfg.Limits.RSSMiBPerH, "fail when the server's RSS (or Go heap) grows faster than this many MiB per hour after the warm-up")
	fs.Float64Var(&cfg.Limits.GoroutinesPerH, "max-goroutine-slope", cfg.Limits.GoroutinesPerH, "fail when goroutines grow faster than this many per hour after the warm-up")
	fs.Float64Var(&cfg.Limits.FDsPerH, "max-fd-slope", cfg.Limits.FDsPerH, "fail when open files grow faster than this many per hour after the warm-up")
	fs.Float64Var(&cfg.Limits.CPUPctPerH, "max-cpu-slope", cfg.Limits.CPUPctPerH, "fail when the server's CPU use grows faster than this many percent of a core per hour after the warm-up")
	fs.StringVar(&cfg.Clip, "clip", cfg.Clip, "MP4 (H.264 + AAC) the cameras loop; default: generated with ffmpeg and cached")
	splitServerArgs := cfg.addFlags(fs, "extra flags for the started server's serve command, space separated")
	fs.StringVar(&cfg.Endpoint, "endpoint", cfg.Endpoint, "HTTP URL of a running server instead of starting one (with --rtsp)")
	fs.StringVar(&cfg.RTSP, "rtsp", cfg.RTSP, "RTSP host:port of the running server given with --endpoint")
	fs.IntVar(&cfg.PID, "pid", cfg.PID, "process id of the server given with --endpoint, for RSS, open files and CPU from /proc")
	jsonOut := fs.Bool("json", false, "also print the results as JSON (with every sample) at the end")
	cpuProfile := fs.String("cpuprofile", "", "write the bench process's own CPU profile to this file")
	check := func() error { splitServerArgs(); return cfg.validate() }
	if help, err := parseFlags(fs, args, check); help || err != nil {
		return err
	}
	cfg.Log = os.Stderr
	return runAndReport(*jsonOut, *cpuProfile, func(ctx context.Context) (*soakResults, error) {
		res, err := runSoak(ctx, cfg)
		if err == nil && !res.Pass {
			err = errSoakFailed
		}
		return res, err
	})
}

// errSoakFailed is the exit status of a run that found an error, a loss,
// a rising trend, or was interrupted (the report says which).
var errSoakFailed = errors.New("bench soak: FAIL (see the report)")
