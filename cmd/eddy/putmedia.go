package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/eddy-video/eddy/cmd/eddy/internal/usage"
	"github.com/eddy-video/eddy/cmd/eddy/putmedia"
	"github.com/eddy-video/eddy/fragments/mkv"
)

// putMedia uploads a file or a camera with Kinesis Video PutMedia and
// prints every acknowledgement, one line each.
func putMedia(args []string) error {
	var (
		f    clientFlags
		tags repeatedFlag
	)
	fs := flag.NewFlagSet("putmedia", flag.ContinueOnError)
	f.register(fs, os.Getenv)
	timecode := fs.String("timecode", "absolute", "fragment timecodes: absolute (producer time since the epoch) or relative (since the producer start timestamp)")
	bufferDir := fs.String("buffer", "", "keep unacknowledged clusters in this directory, across runs (default: in memory only)")
	bufferMax := fs.String("buffer-max", "256M", "bound of the unacknowledged clusters kept (bytes, or with a K, M or G suffix; 0: no bound): beyond it the oldest are dropped, with a warning")
	loop := fs.Bool("loop", false, "restart a file at its end, forever")
	duration := fs.Duration("duration", 0, "stop after this much media time (0: the file, or forever with -loop or a camera)")
	unknown := fs.Bool("unknown-size", false, "send Clusters of unknown size, as the KVS producer SDKs do")
	quiet := fs.Bool("quiet", false, "print only PERSISTED and ERROR acks")
	asJSON := fs.Bool("json", false, "print each ack as the server sent it, a JSON object per line")
	releaseOn := fs.String("release-on", "auto", "ack that releases a buffered cluster: persisted, received, or auto (received for a stream of retention 0, from DescribeStream)")
	fs.Var(&tags, "tag", "NAME=VALUE metadata on every fragment (repeat)")
	usage.Set(fs, "[flags] SOURCE STREAM", `Uploads SOURCE to a Kinesis Video stream with PutMedia, as the KVS producer SDKs do, and prints
one line per acknowledgement. SOURCE is an MP4 or Matroska file (H.264/H.265 with AAC, Opus or
G.711), sent in real time, or an rtsp:// URL; STREAM is a stream name or ARN. Unacknowledged
clusters are resent after a cut. Credentials as the AWS SDKs find them ($AWS_ACCESS_KEY_ID and
$AWS_SECRET_ACCESS_KEY, $AWS_PROFILE, ~/.aws/credentials); none: unsigned.`)
	if err := usage.Parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 2 {
		return usage.Errorf("putmedia", "want a SOURCE and a STREAM, got %d arguments", fs.NArg())
	}
	release := strings.ToUpper(*releaseOn)
	switch release {
	case "AUTO":
		release = ""
	case putmedia.EventPersisted, putmedia.EventReceived:
	default:
		return fmt.Errorf("putmedia: -release-on %q: use persisted, received or auto", *releaseOn)
	}
	maxBytes, err := parseSize(*bufferMax)
	if err != nil {
		return fmt.Errorf("putmedia: -buffer-max: %w", err)
	}
	if maxBytes == 0 {
		maxBytes = -1 // no bound
	}
	var mtags []mkv.Tag
	for _, t := range tags {
		name, value, ok := strings.Cut(t, "=")
		if !ok || name == "" {
			return fmt.Errorf("putmedia: -tag %q: want NAME=VALUE", t)
		}
		mtags = append(mtags, mkv.Tag{Name: name, Value: value})
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err = f.resolve(rctx, os.Getenv)
	cancel()
	if err != nil {
		return err
	}
	tr, err := transport(f.caFile)
	if err != nil {
		return err
	}
	p := &putmedia.Producer{
		Endpoint: f.endpoint, Stream: fs.Arg(1), Source: fs.Arg(0), TimecodeType: strings.ToUpper(*timecode),
		BufferDir: *bufferDir, MaxBufferBytes: maxBytes, Loop: *loop, Duration: *duration, Tags: mtags, UnknownSizeClusters: *unknown,
		ReleaseOn: release, Region: f.region, HTTPClient: &http.Client{Transport: tr},
		Logger: slog.New(slog.NewTextHandler(os.Stderr, nil)),
		OnAckJSON: func(a putmedia.Ack, raw []byte) {
			if *quiet && a.EventType != putmedia.EventPersisted && a.EventType != putmedia.EventError {
				return
			}
			if *asJSON {
				fmt.Println(string(raw))
				return
			}
			fmt.Println(formatAck(a))
		},
	}
	if !f.anonymous {
		p.Credentials = f.creds
	}
	err = p.Run(ctx)
	if n := p.Dropped(); n > 0 {
		fmt.Fprintf(os.Stderr, "eddy putmedia: %d clusters were dropped unacknowledged: the buffer was full (-buffer-max)\n", n)
	}
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// formatAck is an ack as eddy putmedia prints it: the event, then
// timecode=, fragment= and error= for what the server sent.
func formatAck(a putmedia.Ack) string {
	s := a.EventType
	if a.FragmentTimecode != nil {
		s += fmt.Sprintf(" timecode=%d", *a.FragmentTimecode)
	}
	if a.FragmentNumber != "" {
		s += " fragment=" + a.FragmentNumber
	}
	if a.EventType == putmedia.EventError || a.ErrorID != 0 {
		s += fmt.Sprintf(" error=%d %s", a.ErrorID, a.ErrorCode)
	}
	return s
}

// parseSize reads a byte count: digits with an optional K, M or G (powers
// of 1024).
func parseSize(v string) (int64, error) {
	mult := int64(1)
	switch {
	case strings.HasSuffix(v, "K"):
		mult = 1 << 10
	case strings.HasSuffix(v, "M"):
		mult = 1 << 20
	case strings.HasSuffix(v, "G"):
		mult = 1 << 30
	}
	if mult > 1 {
		v = v[:len(v)-1]
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64/mult {
		return 0, fmt.Errorf("%q: want a byte count such as 256M", v)
	}
	return n * mult, nil
}
