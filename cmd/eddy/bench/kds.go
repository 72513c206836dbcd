package bench

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// eddy bench kds: a load generator for any Kinesis Data Streams endpoint
// (Eddy or AWS). Producers loop PutRecords; optionally one GetRecords
// poller per shard and one enhanced fan-out consumer (SubscribeToShard on
// every shard) read everything back. Each record's Data starts with the
// producer's send time (UnixNano, big endian, unique per PutRecords call)
// and an 8-byte run ID, so the consumers, running in this process, measure
// put→receive latency and recognise this run's records. The send time also
// names the call in the acknowledgement table (ackTable), from which the
// consumers measure acknowledgement→receive latency.

const benchHeaderBytes = 16 // send timestamp + run ID

// kdsBenchConfig configures one benchmark run.
type kdsBenchConfig struct {
	Endpoint     string
	Region       string
	AccessKey    string
	SecretKey    string
	SessionToken string

	Stream string // existing (or to-be-created) stream; "" = create a fresh one
	Keep   bool   // keep a stream this run created
	Mode   string // "on-demand" or "provisioned"
	Shards int

	Producers int
	Batch     int // records per PutRecords
	Size      int // bytes of Data per record
	Duration  time.Duration
	Rate      float64 // target total records/s; 0 = as fast as possible

	PID          int // server pid for CPU accounting; 0 = none
	Consumers    bool
	PollInterval time.Duration // GetRecords sleep after an empty answer
	Drain        time.Duration // longest wait, after producing, for consumers to catch up
	Progress     time.Duration // progress line period; 0 = none

	// RawSDKBodies leaves request bodies as the SDK makes them, exposing
	// a smithy-go race that closes connections under fast servers (see
	// benchTransport.RoundTrip); by default the bench works around it.
	RawSDKBodies bool

	Log        io.Writer    // setup and progress messages; nil = discard
	HTTPClient *http.Client // nil = a pooled client sized for the run
}

func defaultKDSBenchConfig() kdsBenchConfig {
	return kdsBenchConfig{
		Region:       "us-east-1",
		AccessKey:    "AKIDEXAMPLE",
		SecretKey:    "secret",
		Mode:         "on-demand",
		Shards:       4,
		Producers:    4,
		Batch:        500,
		Size:         100,
		Duration:     30 * time.Second,
		Consumers:    true,
		PollInterval: 5 * time.Millisecond,
		Drain:        30 * time.Second,
		Progress:     5 * time.Second,
	}
}

func (c *kdsBenchConfig) validate() error {
	var errs []error
	if c.Endpoint == "" {
		errs = append(errs, errors.New("--endpoint is required (e.g. http://127.0.0.1:8080)"))
	}
	if c.Mode != "on-demand" && c.Mode != "provisioned" {
		errs = append(errs, fmt.Errorf("--mode %q: use on-demand or provisioned", c.Mode))
	}
	if c.Shards < 1 {
		errs = append(errs, errors.New("--shards must be at least 1"))
	}
	if c.Producers < 1 {
		errs = append(errs, errors.New("--producers must be at least 1"))
	}
	if c.Batch < 1 || c.Batch > 500 {
		errs = append(errs, errors.New("--batch must be between 1 and 500 (the PutRecords limit)"))
	}
	if c.Size < benchHeaderBytes || c.Size > 1<<20-64 {
		errs = append(errs, fmt.Errorf("--size must be between %d (timestamp + run ID) and %d bytes", benchHeaderBytes, 1<<20-64))
	} else if c.Batch*(c.Size+32) > 5<<20 {
		errs = append(errs, errors.New("--batch × --size exceeds the 5 MiB PutRecords limit"))
	}
	if c.Duration <= 0 {
		errs = append(errs, errors.New("--duration must be positive"))
	}
	if c.Rate < 0 {
		errs = append(errs, errors.New("--rate must not be negative"))
	}
	if c.PollInterval < 0 || c.Drain < 0 || c.Progress < 0 {
		errs = append(errs, errors.New("--poll-interval, --drain and --progress must not be negative"))
	}
	return errors.Join(errs...)
}

func benchKDS(args []string) error {
	cfg := defaultKDSBenchConfig()
	if v := os.Getenv("AWS_ACCESS_KEY_ID"); v != "" {
		cfg.AccessKey = v
	}
	if v := os.Getenv("AWS_SECRET_ACCESS_KEY"); v != "" {
		cfg.SecretKey = v
	}
	cfg.SessionToken = os.Getenv("AWS_SESSION_TOKEN")
	if v := os.Getenv("AWS_REGION"); v != "" {
		cfg.Region = v
	}
	fs := flag.NewFlagSet("bench kds", flag.ContinueOnError)
	setUsage(fs, "--endpoint URL [flags]", "Load-tests a Kinesis Data Streams endpoint (Eddy or AWS) with PutRecords,\n"+
		"GetRecords pollers and a SubscribeToShard consumer, and reports throughput,\n"+
		"latency and completeness.")
	fs.StringVar(&cfg.Endpoint, "endpoint", cfg.Endpoint, "Kinesis endpoint URL (required)")
	fs.StringVar(&cfg.Region, "region", cfg.Region, "region to sign requests for (env AWS_REGION)")
	fs.StringVar(&cfg.AccessKey, "access-key", cfg.AccessKey, "access key ID (env AWS_ACCESS_KEY_ID)")
	fs.StringVar(&cfg.SecretKey, "secret-key", cfg.SecretKey, "secret access key (env AWS_SECRET_ACCESS_KEY)")
	fs.StringVar(&cfg.Stream, "stream", cfg.Stream, "stream to use (created if missing); default: a fresh uniquely named stream, deleted at the end")
	fs.BoolVar(&cfg.Keep, "keep", cfg.Keep, "keep the stream this run created")
	fs.StringVar(&cfg.Mode, "mode", cfg.Mode, "capacity mode of a created stream: on-demand or provisioned (Eddy throttles only provisioned streams)")
	fs.IntVar(&cfg.Shards, "shards", cfg.Shards, "shard count of a created stream")
	fs.IntVar(&cfg.Producers, "producers", cfg.Producers, "concurrent PutRecords loops")
	fs.IntVar(&cfg.Batch, "batch", cfg.Batch, "records per PutRecords call (1-500)")
	fs.IntVar(&cfg.Size, "size", cfg.Size, "bytes of data per record (at least 16)")
	fs.DurationVar(&cfg.Duration, "duration", cfg.Duration, "how long to produce")
	fs.Float64Var(&cfg.Rate, "rate", cfg.Rate, "target total records/s (0 = as fast as possible)")
	fs.IntVar(&cfg.PID, "pid", cfg.PID, "server process id: report its CPU time from /proc/PID/stat")
	fs.BoolVar(&cfg.Consumers, "consumers", cfg.Consumers, "run a GetRecords poller per shard and a SubscribeToShard consumer")
	fs.DurationVar(&cfg.PollInterval, "poll-interval", cfg.PollInterval, "GetRecords pause after an empty answer")
	fs.DurationVar(&cfg.Drain, "drain", cfg.Drain, "longest wait after producing for consumers to receive everything")
	fs.DurationVar(&cfg.Progress, "progress", cfg.Progress, "progress line period on stderr (0 = none)")
	fs.BoolVar(&cfg.RawSDKBodies, "raw-sdk-bodies", cfg.RawSDKBodies, "do not work around the smithy-go request-body race that closes connections under fast servers")
	jsonOut := fs.Bool("json", false, "also print the results as JSON")
	cpuProfile := fs.String("cpuprofile", "", "write the bench process's own CPU profile to this file")
	if help, err := parseFlags(fs, args, cfg.validate); help || err != nil {
		return err
	}
	cfg.Log = os.Stderr
	return runAndReport(*jsonOut, *cpuProfile, func(ctx context.Context) (*kdsBenchResults, error) { return runKDSBench(ctx, cfg) })
}

// kdsBench is the state of one run.
type kdsBench struct {
	cfg kdsBenchConfig
	logger
	kc      *kinesis.Client
	tr      *benchTransport
	retries *countingRetryer
	runID   [8]byte

	stream      string
	streamARN   string
	created     bool
	consumer    string
	consumerARN string
	shards      []string
	fromStart   bool // consumers read from TRIM_HORIZON (fresh stream) instead of LATEST

	// live totals, for progress lines
	putRecords atomic.Int64
	putFailed  atomic.Int64
	putCalls   atomic.Int64
	putErrors  atomic.Int64

	get, sub *recvPath
	acks     ackTable
	lastSend atomic.Int64 // the latest send timestamp handed out (uniqueSendTime)

	errMu sync.Mutex
	errs  map[string]int64 // "Operation: code" of calls that failed after retries
}

// noteErr counts a call that failed (after the SDK's retries).
func (b *kdsBench) noteErr(op string, err error) {
	b.errMu.Lock()
	b.errs[op+": "+errorCode(err)]++
	b.errMu.Unlock()
}

// producerStats is owned by one producer goroutine until it returns.
type producerStats struct {
	calls, errors, records, failed int64
	bytes                          int64
	failedByCode                   map[string]int64
	shards                         map[string]*shardTally
	lat                            latHist
}

// shardTally identifies a set of sequence numbers without storing them:
// their count and the wrapping sum of their FNV-1a hashes.
type shardTally struct {
	count int64
	hash  uint64
}

func seqHash(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// runKDSBench runs a benchmark. It returns results whenever producing
// started, with an error only when the run could not be carried out.
func runKDSBench(ctx context.Context, cfg kdsBenchConfig) (*kdsBenchResults, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	tck := clockTicks()
	if cfg.PID > 0 {
		if _, ok := cpuSeconds(cfg.PID, tck); !ok {
			return nil, fmt.Errorf("--pid %d: cannot read /proc/%d/stat", cfg.PID, cfg.PID)
		}
	}
	b := &kdsBench{cfg: cfg, logger: logger{log: cfg.Log}, errs: map[string]int64{}}
	if _, err := rand.Read(b.runID[:]); err != nil {
		return nil, err
	}
	b.setupClient()

	cleanupCtx := context.WithoutCancel(ctx)
	defer b.cleanup(cleanupCtx)
	if err := b.setupStream(ctx); err != nil {
		return nil, err
	}

	consumeCtx, stopConsumers := context.WithCancel(ctx)
	defer stopConsumers()
	var cwg sync.WaitGroup
	if cfg.Consumers {
		if err := b.startConsumers(ctx, consumeCtx, &cwg); err != nil {
			stopConsumers()
			cwg.Wait()
			return nil, err
		}
	}

	// Produce.
	b.logf("producing for %s with %d producers", cfg.Duration, cfg.Producers)
	cpu0 := readCPU(cfg.PID, tck)
	start := time.Now()
	end := start.Add(cfg.Duration)
	stats := make([]*producerStats, cfg.Producers)
	var pwg sync.WaitGroup
	for i := range stats {
		stats[i] = &producerStats{failedByCode: map[string]int64{}, shards: map[string]*shardTally{}}
		pwg.Go(func() { b.produce(ctx, i, start, end, stats[i]) })
	}
	progressDone := make(chan struct{})
	var progWG sync.WaitGroup
	if cfg.Progress > 0 && b.log != nil {
		progWG.Go(func() { b.progress(start, progressDone) })
	}
	pwg.Wait()
	produced := time.Since(start)
	cpu1 := readCPU(cfg.PID, tck)

	expected := map[string]shardTally{}
	for _, st := range stats {
		for id, t := range st.shards {
			e := expected[id]
			e.count += t.count
			e.hash += t.hash
			expected[id] = e
		}
	}

	// Drain: wait until both consumer paths hold every put record.
	drainStart := time.Now()
	if cfg.Consumers {
		deadline := drainStart.Add(cfg.Drain)
		for time.Now().Before(deadline) && ctx.Err() == nil {
			if b.get.caughtUp(expected) && b.sub.caughtUp(expected) {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	drained := time.Since(drainStart)
	close(progressDone)
	progWG.Wait()
	if cfg.Consumers {
		b.logf("produced for %.2fs; consumers caught up %.2fs later", produced.Seconds(), drained.Seconds())
	}
	stopConsumers()
	cwg.Wait()
	b.logf("consumers stopped")

	return b.results(stats, expected, produced, drained, cpu0, cpu1), nil
}

func (b *kdsBench) setupClient() {
	cfg := b.cfg
	b.tr = &benchTransport{codes: map[string]int64{}, hideWriteTo: !cfg.RawSDKBodies}
	hc := cfg.HTTPClient
	if hc == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		dialer := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
		t.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			b.tr.dials.Add(1)
			return dialer.DialContext(ctx, network, addr)
		}
		conns := cfg.Producers + 2*cfg.Shards + 16
		t.MaxIdleConns = 4 * conns
		t.MaxIdleConnsPerHost = 2 * conns
		t.IdleConnTimeout = 90 * time.Second
		t.ForceAttemptHTTP2 = true
		hc = &http.Client{Transport: t} // no overall timeout: subscriptions last 5 minutes
	}
	base := hc.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	b.tr.base = base
	counted := *hc
	counted.Transport = b.tr
	creds := aws.Credentials{AccessKeyID: cfg.AccessKey, SecretAccessKey: cfg.SecretKey, SessionToken: cfg.SessionToken, Source: "eddy-bench"}
	b.retries = &countingRetryer{RetryerV2: retry.NewStandard(), codes: map[string]int64{}}
	b.kc = kinesis.New(kinesis.Options{
		Region:       cfg.Region,
		BaseEndpoint: aws.String(cfg.Endpoint),
		HTTPClient:   &counted,
		Retryer:      b.retries,
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return creds, nil
		}),
	})
}

func callCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, 60*time.Second)
}

// setupStream finds or creates the stream, waits until it is ACTIVE and
// lists its open shards.
func (b *kdsBench) setupStream(ctx context.Context) error {
	cfg := b.cfg
	b.stream = cfg.Stream
	if b.stream == "" {
		b.stream = "eddy-bench-" + strconv.FormatInt(time.Now().Unix(), 10) + "-" + hex.EncodeToString(b.runID[:3])
	} else {
		c, cancel := callCtx(ctx)
		_, err := b.kc.DescribeStreamSummary(c, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(b.stream)})
		cancel()
		var nf *types.ResourceNotFoundException
		switch {
		case err == nil:
			b.logf("using existing stream %s", b.stream)
		case errors.As(err, &nf):
		default:
			return fmt.Errorf("describe stream %s: %w", b.stream, err)
		}
		if err == nil {
			return b.waitStream(ctx)
		}
	}
	mode := types.StreamModeOnDemand
	if cfg.Mode == "provisioned" {
		mode = types.StreamModeProvisioned
	}
	in := &kinesis.CreateStreamInput{
		StreamName:        aws.String(b.stream),
		ShardCount:        aws.Int32(int32(cfg.Shards)),
		StreamModeDetails: &types.StreamModeDetails{StreamMode: mode},
	}
	c, cancel := callCtx(ctx)
	_, err := b.kc.CreateStream(c, in)
	cancel()
	if err != nil && mode == types.StreamModeOnDemand {
		// Some endpoints refuse ShardCount for ON_DEMAND; let them choose.
		var inv *types.InvalidArgumentException
		if errors.As(err, &inv) || errorCode(err) == "ValidationException" {
			b.logf("CreateStream refused ShardCount for ON_DEMAND (%v); creating without it", err)
			in.ShardCount = nil
			c, cancel := callCtx(ctx)
			_, err = b.kc.CreateStream(c, in)
			cancel()
		}
	}
	if err != nil {
		return fmt.Errorf("create stream %s: %w", b.stream, err)
	}
	b.created = true
	b.fromStart = true
	b.logf("created stream %s (%s, %d shards)", b.stream, mode, cfg.Shards)
	return b.waitStream(ctx)
}

func (b *kdsBench) waitStream(ctx context.Context) error {
	delay := 50 * time.Millisecond
	deadline := time.Now().Add(5 * time.Minute)
	for {
		c, cancel := callCtx(ctx)
		out, err := b.kc.DescribeStreamSummary(c, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(b.stream)})
		cancel()
		if err != nil {
			return fmt.Errorf("describe stream %s: %w", b.stream, err)
		}
		s := out.StreamDescriptionSummary
		if s.StreamStatus == types.StreamStatusActive {
			b.streamARN = aws.ToString(s.StreamARN)
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("stream %s still %s after 5 minutes", b.stream, s.StreamStatus)
		}
		if err := sleepCtx(ctx, delay); err != nil {
			return err
		}
		delay = min(2*delay, 2*time.Second)
	}
	var next *string
	for {
		in := &kinesis.ListShardsInput{StreamName: aws.String(b.stream)}
		if next != nil {
			in = &kinesis.ListShardsInput{NextToken: next}
		}
		c, cancel := callCtx(ctx)
		out, err := b.kc.ListShards(c, in)
		cancel()
		if err != nil {
			return fmt.Errorf("list shards of %s: %w", b.stream, err)
		}
		for _, sh := range out.Shards {
			if sh.SequenceNumberRange == nil || sh.SequenceNumberRange.EndingSequenceNumber == nil {
				b.shards = append(b.shards, aws.ToString(sh.ShardId))
			}
		}
		if next = out.NextToken; next == nil {
			break
		}
	}
	if len(b.shards) == 0 {
		return fmt.Errorf("stream %s has no open shards", b.stream)
	}
	return nil
}

// cleanup deregisters the consumer and deletes a stream this run created.
func (b *kdsBench) cleanup(ctx context.Context) {
	if b.consumerARN != "" {
		c, cancel := callCtx(ctx)
		if _, err := b.kc.DeregisterStreamConsumer(c, &kinesis.DeregisterStreamConsumerInput{ConsumerARN: aws.String(b.consumerARN)}); err != nil {
			b.logf("deregister consumer %s: %v", b.consumer, err)
		}
		cancel()
	}
	if b.created && !b.cfg.Keep {
		c, cancel := callCtx(ctx)
		if _, err := b.kc.DeleteStream(c, &kinesis.DeleteStreamInput{StreamName: aws.String(b.stream), EnforceConsumerDeletion: aws.Bool(true)}); err != nil {
			b.logf("delete stream %s: %v", b.stream, err)
		} else {
			b.logf("deleted stream %s", b.stream)
		}
		cancel()
	} else if b.created {
		b.logf("kept stream %s", b.stream)
	}
}

// produce loops PutRecords from start until end (or ctx ends). Calls in
// flight at the end finish: cutting them would leave records the server
// stored but the bench never counted.
func (b *kdsBench) produce(ctx context.Context, id int, start, end time.Time, st *producerStats) {
	cfg := b.cfg
	entries := make([]types.PutRecordsRequestEntry, cfg.Batch)
	buf := make([]byte, cfg.Batch*cfg.Size)
	rng := mrand.New(mrand.NewPCG(uint64(id), uint64(start.UnixNano())))
	for i := range buf {
		buf[i] = byte(rng.Uint32())
	}
	for i := range entries {
		d := buf[i*cfg.Size : (i+1)*cfg.Size : (i+1)*cfg.Size]
		copy(d[8:16], b.runID[:])
		entries[i].Data = d
	}
	in := &kinesis.PutRecordsInput{StreamName: aws.String(b.stream), Records: entries}
	prefix := strconv.Itoa(id) + "-"
	var n uint64

	var interval time.Duration
	next := start
	if cfg.Rate > 0 {
		// Each producer sends its share of the rate in evenly spaced
		// batches, offset from the others so batches interleave.
		interval = time.Duration(float64(cfg.Batch) / (cfg.Rate / float64(cfg.Producers)) * float64(time.Second))
		next = start.Add(interval * time.Duration(id) / time.Duration(cfg.Producers))
	}
	for ctx.Err() == nil {
		if cfg.Rate > 0 {
			if !next.Before(end) {
				return
			}
			now := time.Now()
			if d := next.Sub(now); d > 0 {
				if sleepCtx(ctx, d) != nil {
					return
				}
			} else if -d > time.Second {
				next = now // far behind: do not burst to catch up
			}
			next = next.Add(interval)
		}
		if !time.Now().Before(end) {
			return
		}
		for i := range entries {
			n++
			entries[i].PartitionKey = aws.String(prefix + strconv.FormatUint(n, 36))
		}
		t0 := time.Now()
		ts := uint64(b.uniqueSendTime(t0))
		for i := range entries {
			binary.BigEndian.PutUint64(entries[i].Data, ts)
		}
		c, cancel := callCtx(context.WithoutCancel(ctx))
		out, err := b.kc.PutRecords(c, in)
		cancel()
		acked := time.Now()
		st.lat.record(acked.Sub(t0).Nanoseconds())
		if err == nil {
			b.acks.store(ts, acked.UnixNano())
		}
		st.calls++
		b.putCalls.Add(1)
		if err != nil {
			st.errors++
			b.putErrors.Add(1)
			b.noteErr("PutRecords", err)
			_ = sleepCtx(ctx, 10*time.Millisecond) // no hot loop on a dead endpoint
			continue
		}
		var ok, failed int64
		for _, r := range out.Records {
			if r.ErrorCode != nil {
				failed++
				st.failedByCode[*r.ErrorCode]++
				continue
			}
			ok++
			sid, seq := aws.ToString(r.ShardId), aws.ToString(r.SequenceNumber)
			t := st.shards[sid]
			if t == nil {
				t = &shardTally{}
				st.shards[sid] = t
			}
			t.count++
			t.hash += seqHash(seq)
		}
		st.records += ok
		st.failed += failed
		st.bytes += ok * int64(cfg.Size)
		b.putRecords.Add(ok)
		b.putFailed.Add(failed)
	}
}

func (b *kdsBench) progress(start time.Time, done <-chan struct{}) {
	t := time.NewTicker(b.cfg.Progress)
	defer t.Stop()
	var last int64
	lastT := start
	for {
		select {
		case <-done:
			return
		case now := <-t.C:
			put := b.putRecords.Load()
			rate := float64(put-last) / now.Sub(lastT).Seconds()
			last, lastT = put, now
			line := fmt.Sprintf("%6.1fs  put %s (%s/s)  failed %d  errors %d",
				now.Sub(start).Seconds(), commas(put), commas(int64(rate)), b.putFailed.Load(), b.putErrors.Load())
			if b.cfg.Consumers {
				line += fmt.Sprintf("  GetRecords %s  SubscribeToShard %s", commas(b.get.received()), commas(b.sub.received()))
			}
			b.logf("%s", line)
		}
	}
}
