package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

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
	loop := fs.Bool("loop", false, "restart a file at its end, forever")
	duration := fs.Duration("duration", 0, "stop after this much media time (0: the file, or forever with -loop or a camera)")
	unknown := fs.Bool("unknown-size", false, "send Clusters of unknown size, as the KVS producer SDKs do")
	quiet := fs.Bool("quiet", false, "print only PERSISTED and ERROR acks")
	asJSON := fs.Bool("json", false, "print each ack as the server sent it, a JSON object per line")
	fs.Var(&tags, "tag", "NAME=VALUE metadata on every fragment (repeat)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), `usage: eddy putmedia [flags] SOURCE STREAM
  SOURCE is an MP4 or Matroska file (H.264/H.265 with AAC, Opus or G.711), sent in real time,
  or an rtsp:// URL; STREAM is a stream name or ARN. Prints one line per acknowledgement.
  Credentials as the AWS SDKs find them ($AWS_ACCESS_KEY_ID and $AWS_SECRET_ACCESS_KEY,
  $AWS_PROFILE, ~/.aws/credentials); none: unsigned.`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() != 2 {
		fs.Usage()
		return errors.New("putmedia: want a SOURCE and a STREAM")
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
	err := f.resolve(rctx, os.Getenv)
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
		BufferDir: *bufferDir, Loop: *loop, Duration: *duration, Tags: mtags, UnknownSizeClusters: *unknown,
		Region: f.region, HTTPClient: &http.Client{Transport: tr},
		Logger: slog.New(slog.NewTextHandler(os.Stderr, nil)),
		OnAck: func(a putmedia.Ack) {
			if *quiet && a.EventType != putmedia.EventPersisted && a.EventType != putmedia.EventError {
				return
			}
			if *asJSON {
				b, _ := json.Marshal(a)
				fmt.Println(string(b))
				return
			}
			fmt.Println(a.String())
		},
	}
	if !f.anonymous {
		p.Credentials = f.creds
	}
	err = p.Run(ctx)
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}
