package putmedia

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo"

	"github.com/eddy-video/eddy/fragments/mkv"
)

// Timecode types of the x-amzn-fragment-timecode-type header.
const (
	// TimecodeAbsolute: a Cluster's timecode is the producer time in ms
	// since the Unix epoch.
	TimecodeAbsolute = "ABSOLUTE"
	// TimecodeRelative: a Cluster's timecode is in ms since the producer
	// start timestamp (x-amzn-producer-start-timestamp).
	TimecodeRelative = "RELATIVE"
)

// Defaults of the Producer's tuning fields.
const (
	// DefaultMaxConnectionAge is when a connection is rotated: KVS ends a
	// PutMedia connection after 45 minutes (MAX_CONNECTION_DURATION_REACHED).
	DefaultMaxConnectionAge = 40 * time.Minute
	DefaultAckTimeout       = 30 * time.Second
	DefaultMinBackoff       = 500 * time.Millisecond
	DefaultMaxBackoff       = 10 * time.Second
	// DefaultMaxBufferBytes holds minutes of a camera's clusters (a
	// 4 Mbit/s camera sends 30 MB a minute).
	DefaultMaxBufferBytes = 256 << 20
	// audioFragment is the fragment length of a source without video.
	audioFragment = 2 * time.Second
)

// Producer uploads one source to one stream with PutMedia. Set the fields,
// then call Run once.
type Producer struct {
	// Endpoint is the server's KVS HTTP(S) address, e.g.
	// http://127.0.0.1:8080 (PutMedia is POST {Endpoint}/putMedia).
	Endpoint string
	// Stream is the stream's name, or its ARN (sent as x-amzn-stream-arn).
	Stream string
	// Source is an MP4 or Matroska file (read in real time, as a camera
	// sends) or an rtsp:// or rtsps:// URL.
	Source string
	// TimecodeType is TimecodeAbsolute (default) or TimecodeRelative.
	TimecodeType string
	// BufferDir keeps the unacknowledged clusters on disk, across runs;
	// "" keeps them in memory only.
	BufferDir string
	// MaxBufferBytes bounds the unacknowledged clusters kept (in memory,
	// or in BufferDir): beyond it the oldest are dropped, with a warning,
	// and counted (Dropped). 0: DefaultMaxBufferBytes; negative: no bound.
	MaxBufferBytes int64
	// Loop restarts a file at its end (timestamps keep increasing).
	Loop bool
	// Duration stops after this much media time (0: the file's end, or
	// never with Loop or a camera).
	Duration time.Duration
	// Tags are written before every cluster: the fragments' metadata.
	Tags []mkv.Tag
	// UnknownSizeClusters sends Clusters of unknown size, as the KVS
	// producer SDKs do (the server then knows a Cluster ended only when
	// the next one starts); by default each Cluster has its size.
	UnknownSizeClusters bool
	// ReleaseOn is the ack event after which a cluster leaves the buffer:
	// EventPersisted or EventReceived. "" asks DescribeStream at the
	// start: EventReceived for a stream without retention (never
	// PERSISTED: the server keeps nothing), else EventPersisted.
	ReleaseOn string

	// Credentials sign the requests with SigV4 (service kinesisvideo);
	// nil or aws.AnonymousCredentials sends them unsigned.
	Credentials aws.CredentialsProvider
	// Region of the signature (default us-east-1).
	Region string
	// HTTPClient sends the requests (nil: a client of its own, no timeout).
	HTTPClient *http.Client

	// OnAck is called with every acknowledgement, in order, from the
	// goroutine reading them (keep it short).
	OnAck func(Ack)
	// OnAckJSON, when set, is called after OnAck with the same ack and
	// its JSON object exactly as the server sent it.
	OnAckJSON func(a Ack, raw []byte)
	// OnCluster is called when a cluster has been written to a connection.
	OnCluster func(ClusterSent)
	Logger    *slog.Logger

	// Tuning (0: the defaults above).
	MaxConnectionAge       time.Duration
	AckTimeout             time.Duration
	MinBackoff, MaxBackoff time.Duration

	dropped   atomic.Int64
	pace      pacer        // nil: realTime (the package's tests read files faster)
	sourceLog *slog.Logger // Logger as given
}

// ClusterSent describes a cluster written to a connection.
type ClusterSent struct {
	// Timecode in ms as sent (the acks' FragmentTimecode).
	Timecode int64
	// ProducerTime is the fragment's producer timestamp.
	ProducerTime time.Time
	Bytes        int
	// Sent is when its last byte was handed to the connection.
	Sent time.Time
	// Resent marks a cluster sent again on a new connection.
	Resent bool
}

// Run uploads the source until it ends (or Duration), then waits until
// every cluster is acknowledged and returns nil; or until ctx ends, the
// unacknowledged clusters staying in BufferDir for the next run. A
// refused request (no such stream, bad credentials) ends it with an
// *HTTPError; connection failures and ERROR acks are retried.
func (p *Producer) Run(ctx context.Context) error {
	if err := p.init(); err != nil {
		return err
	}
	if p.ReleaseOn == "" {
		p.ReleaseOn = p.releaseEvent(ctx)
	}
	buf, err := openBuffer(p.BufferDir, p.Stream, p.MaxBufferBytes, &p.dropped, p.Logger)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pace := p.pace
	if pace == nil {
		pace = realTime
	}
	src, err := openSource(p.Source, p.Loop, time.Now(), pace, p.sourceLog)
	if err != nil {
		return err
	}
	defer src.close()
	srcDone := make(chan struct{})
	var srcErr error
	go func() {
		defer close(srcDone)
		srcErr = p.produce(ctx, src, buf)
		if srcErr != nil && ctx.Err() == nil {
			p.Logger.Error("source failed; sending what was read", "error", srcErr)
		}
	}()
	err = p.send(ctx, buf, srcDone)
	cancel()
	<-srcDone
	if err != nil {
		if ctx.Err() != nil && errors.Is(err, context.Canceled) {
			if n := buf.count(); n > 0 && p.BufferDir != "" {
				p.Logger.Info("stopped; unacknowledged clusters stay in the buffer", "clusters", n, "dir", p.BufferDir)
			}
		}
		return err
	}
	if srcErr != nil && !errors.Is(srcErr, context.Canceled) {
		return srcErr
	}
	return nil
}

// releaseEvent asks DescribeStream for the stream's retention: a stream
// without retention acknowledges RECEIVED only. When it cannot tell, it
// waits for PERSISTED (the clusters stay buffered; set ReleaseOn).
func (p *Producer) releaseEvent(ctx context.Context) string {
	client := kinesisvideo.New(kinesisvideo.Options{
		Region: p.Region, BaseEndpoint: aws.String(p.Endpoint), Credentials: p.creds(), HTTPClient: p.HTTPClient,
		RetryMaxAttempts: 1,
	})
	name, arn := p.streamRef()
	in := &kinesisvideo.DescribeStreamInput{StreamName: name, StreamARN: arn}
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := client.DescribeStream(dctx, in)
	if err != nil || out.StreamInfo == nil {
		p.Logger.Warn("cannot read the stream's retention: clusters are released when PERSISTED", "error", err)
		return EventPersisted
	}
	if aws.ToInt32(out.StreamInfo.DataRetentionInHours) == 0 {
		p.Logger.Info("the stream keeps no data (retention 0): clusters are released when RECEIVED")
		return EventReceived
	}
	return EventPersisted
}

// Dropped returns how many clusters were dropped unacknowledged because
// the buffer held MaxBufferBytes.
func (p *Producer) Dropped() int64 { return p.dropped.Load() }

func (p *Producer) init() error {
	if p.Endpoint == "" || p.Stream == "" || p.Source == "" {
		return errors.New("putmedia: Endpoint, Stream and Source are required")
	}
	p.Endpoint = strings.TrimSuffix(p.Endpoint, "/")
	switch p.TimecodeType {
	case "":
		p.TimecodeType = TimecodeAbsolute
	case TimecodeAbsolute, TimecodeRelative:
	default:
		return fmt.Errorf("putmedia: timecode type %q: use %s or %s", p.TimecodeType, TimecodeAbsolute, TimecodeRelative)
	}
	switch p.ReleaseOn {
	case "", EventPersisted, EventReceived:
	default:
		return fmt.Errorf("putmedia: ReleaseOn %q: use %s or %s", p.ReleaseOn, EventPersisted, EventReceived)
	}
	if p.Region == "" {
		p.Region = "us-east-1"
	}
	if p.HTTPClient == nil {
		p.HTTPClient = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	}
	if p.Logger == nil {
		p.Logger = slog.Default()
	}
	// The RTSP source names its own component and stream: it gets the
	// logger as given, so that no line carries a key twice.
	p.sourceLog = p.Logger
	p.Logger = p.Logger.With("component", "putmedia", "stream", p.Stream)
	if p.MaxBufferBytes == 0 {
		p.MaxBufferBytes = DefaultMaxBufferBytes
	}
	if p.MaxConnectionAge <= 0 {
		p.MaxConnectionAge = DefaultMaxConnectionAge
	}
	if p.AckTimeout <= 0 {
		p.AckTimeout = DefaultAckTimeout
	}
	if p.MinBackoff <= 0 {
		p.MinBackoff = DefaultMinBackoff
	}
	if p.MaxBackoff < p.MinBackoff {
		p.MaxBackoff = max(DefaultMaxBackoff, p.MinBackoff)
	}
	return nil
}

// produce reads the source into clusters, one per GOP, each kept in the
// buffer before it can be sent.
func (p *Producer) produce(ctx context.Context, src source, buf *buffer) error {
	var (
		s     *session
		cut   *cutter
		first time.Time
	)
	emit := func(c *mkv.Cluster, tc int64) error {
		if c == nil {
			return nil
		}
		c.Tags = p.Tags
		data, err := mkv.AppendCluster(nil, cut.tracks, c, p.UnknownSizeClusters)
		if err != nil {
			// A GOP this producer cannot write (over 32 s): skip it.
			p.Logger.Warn("skipping a fragment", "error", err)
			return nil
		}
		return buf.add(s, tc, data)
	}
	finish := func() error {
		if s == nil {
			return nil
		}
		c, tc := cut.flush()
		err := emit(c, tc)
		buf.finish(s)
		s = nil
		return err
	}
	for {
		f, err := src.next(ctx)
		switch {
		case errors.Is(err, errNewTracks):
			if err := finish(); err != nil {
				return err
			}
		case errors.Is(err, io.EOF):
			return finish()
		case err != nil:
			if s != nil {
				buf.finish(s) // the partial GOP is dropped
			}
			return err
		}
		if first.IsZero() {
			first = f.at
		}
		if p.Duration > 0 && f.at.Sub(first) >= p.Duration {
			return finish()
		}
		if s == nil {
			tracks := src.tracks()
			header, err := mkv.AppendStreamHeader(nil, "", tracks)
			if err != nil {
				return fmt.Errorf("putmedia: %w", err)
			}
			start := time.UnixMilli(f.at.UnixMilli())
			if s, err = buf.newSession(header, p.TimecodeType, start); err != nil {
				return err
			}
			cut = newCutter(tracks, p.TimecodeType == TimecodeRelative, start)
		}
		if err := emit(cut.add(f)); err != nil {
			return err
		}
	}
}

// cutter groups frames into clusters: one per GOP, starting on a keyframe
// of the first video track (every audioFragment without video).
type cutter struct {
	tracks   []mkv.Track
	video    int // index of the first video track, -1 without
	relative bool
	start    time.Time
	frames   []frame
	lastTC   int64
	started  bool
}

func newCutter(tracks []mkv.Track, relative bool, start time.Time) *cutter {
	c := &cutter{tracks: tracks, video: -1, relative: relative, start: start}
	for i, t := range tracks {
		if t.Type == mkv.Video {
			c.video = i
			break
		}
	}
	return c
}

// add takes the next frame; it returns the cluster it completed, if any,
// and that cluster's timecode in ms.
func (c *cutter) add(f frame) (*mkv.Cluster, int64) {
	if c.video >= 0 && len(c.frames) == 0 && (f.track != c.video || !f.key) {
		return nil, 0 // a fragment starts on a keyframe
	}
	var done *mkv.Cluster
	var tc int64
	if len(c.frames) > 0 && (c.video >= 0 && f.track == c.video && f.key ||
		c.video < 0 && f.at.Sub(c.frames[0].at) >= audioFragment) {
		done, tc = c.flush()
	}
	c.frames = append(c.frames, f)
	return done, tc
}

// flush returns the cluster of the frames held (nil when none). Its
// timecode is its first frame's time (the keyframe's, as KVS's producer
// library does: the fragment's producer timestamp is the keyframe's; an
// audio frame presented a little earlier gets a negative block time), in
// ms (after the start with RELATIVE timecodes), and always after the
// previous cluster's.
func (c *cutter) flush() (*mkv.Cluster, int64) {
	if len(c.frames) == 0 {
		return nil, 0
	}
	at := c.frames[0].at
	tc := at.UnixMilli()
	if c.relative {
		tc = at.Sub(c.start).Milliseconds()
	}
	if c.started && tc <= c.lastTC {
		tc = c.lastTC + 1
	}
	c.lastTC, c.started = tc, true
	// Block times are taken from the first frame, so that the keyframe
	// sits at exactly the cluster's timecode (the cluster moves by less
	// than the millisecond the timecode drops).
	cl := &mkv.Cluster{Timecode: time.Duration(tc) * time.Millisecond, Frames: make([]mkv.Frame, len(c.frames))}
	for i, f := range c.frames {
		cl.Frames[i] = mkv.Frame{Track: c.tracks[f.track].Number, Time: f.at.Sub(at), Key: f.key, Data: f.data}
	}
	c.frames = c.frames[:0:0]
	return cl, tc
}

// streamRef returns Stream as the SDKs' StreamName or StreamARN member
// (the other nil).
func (p *Producer) streamRef() (name, arn *string) {
	if p.isARN() {
		return nil, aws.String(p.Stream)
	}
	return aws.String(p.Stream), nil
}

// isARN reports whether Stream is an ARN rather than a name.
func (p *Producer) isARN() bool { return strings.HasPrefix(p.Stream, "arn:") }
