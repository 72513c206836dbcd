// Command follow-camera follows one camera of an Eddy server through its
// event stream, {stream}.events, with any Kinesis client's calls
// (GetShardIterator and GetRecords): it prints each fragment notice (a
// fragment of video is stored) and each event (a detection someone wrote
// with PutRecords), and saves a clip (GetClip) of each detection of one
// label, "person" by default.
//
// The event stream carries both in the order they were written, and that
// order is what makes the clips right: a live detection usually arrives
// before the video it describes is stored, so a detection waits until a
// fragment notice says the video up to its end (plus the padding) is
// stored, and only then is its clip fetched. A detection written after its
// video is fetched at once; one whose video never comes (the camera
// stopped first) waits until the camera is back and past it.
//
//	go run ./examples/follow-camera -endpoint http://127.0.0.1:8080 -stream cam -clips /tmp/clips
//
// It runs until Ctrl-C, or for as long as -for says.
//
// Credentials come from the AWS SDK's usual chain (AWS_ACCESS_KEY_ID and
// AWS_SECRET_ACCESS_KEY, a profile, ...); a server without credentials
// accepts any, and placeholders are used when the chain has none.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideoarchivedmedia"
	vtypes "github.com/aws/aws-sdk-go-v2/service/kinesisvideoarchivedmedia/types"
)

// options is what the command line sets.
type options struct {
	Endpoint string // the server's URL: Kinesis, Kinesis Video and archived media are all there
	Region   string
	Stream   string // the video stream; its events are {Stream}.events
	// From is where to start: "latest" (what is written from now on),
	// "trim_horizon" (all that is retained), or an RFC 3339 time.
	From    string
	Label   string        // the label whose detections get a clip
	ClipDir string        // where clips are saved ("": no clips)
	Pad     time.Duration // video kept before and after a detection
	Poll    time.Duration // the wait after an empty GetRecords
	// Credentials, when set, replace the SDK's chain.
	Credentials aws.CredentialsProvider
}

func main() {
	var o options
	flag.StringVar(&o.Endpoint, "endpoint", "http://127.0.0.1:8080", "the Eddy server's URL")
	flag.StringVar(&o.Region, "region", "us-east-1", "the region to sign for")
	flag.StringVar(&o.Stream, "stream", "cam", "the video stream to follow")
	flag.StringVar(&o.From, "from", "latest", `where to start: "latest", "trim_horizon" or an RFC 3339 time`)
	flag.StringVar(&o.Label, "label", "person", "the label whose detections get a clip")
	flag.StringVar(&o.ClipDir, "clips", "", "the directory clips are saved in (none: no clips)")
	flag.DurationVar(&o.Pad, "pad", 2*time.Second, "video kept before and after a detection")
	flag.DurationVar(&o.Poll, "poll", 500*time.Millisecond, "the wait after an empty GetRecords")
	stopAfter := flag.Duration("for", 0, "stop after this long (0: at Ctrl-C)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if *stopAfter > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *stopAfter)
		defer cancel()
	}
	err := run(ctx, o, os.Stdout)
	if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		log.Fatal(err)
	}
}

// notice is Eddy's fragment notice: a fragment of video is stored.
type notice struct {
	Type              string `json:"type"` // "fragment"
	FragmentNumber    string `json:"fragmentNumber"`
	ProducerTimestamp int64  `json:"producerTimestamp"` // Unix ms
	ServerTimestamp   int64  `json:"serverTimestamp"`   // Unix ms
	LengthMillis      int64  `json:"fragmentLengthInMilliseconds"`
	SizeInBytes       int64  `json:"fragmentSizeInBytes"`
}

// event is an event as written (Eddy's event schema).
type event struct {
	Type     string      `json:"type"`
	Time     *time.Time  `json:"time"` // nil: the arrival
	Duration float64     `json:"duration"`
	Label    string      `json:"label"`
	Score    *float64    `json:"score"`
	Box      *[4]float64 `json:"box"`
}

// detection is an event waiting for its video.
type detection struct {
	id       string
	from, to time.Time // the clip: the event and the padding
}

// follower is the state of one run.
type follower struct {
	o       options
	out     io.Writer
	archive *kinesisvideoarchivedmedia.Client
	stored  time.Time // the producer time up to which video is stored
	waiting []detection
}

func run(ctx context.Context, o options, out io.Writer) error {
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(o.Region))
	if err != nil {
		return err
	}
	if o.Credentials != nil {
		cfg.Credentials = o.Credentials
	} else if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
		cfg.Credentials = credentials.NewStaticCredentialsProvider("eddy", "open", "")
	}
	kc := kinesis.NewFromConfig(cfg, func(k *kinesis.Options) { k.BaseEndpoint = aws.String(o.Endpoint) })
	f := &follower{o: o, out: out, archive: kinesisvideoarchivedmedia.NewFromConfig(cfg, func(a *kinesisvideoarchivedmedia.Options) {
		a.BaseEndpoint = aws.String(o.Endpoint)
	})}
	if o.ClipDir != "" {
		if err := os.MkdirAll(o.ClipDir, 0o755); err != nil {
			return err
		}
	}
	stream := o.Stream + ".events"
	in := &kinesis.GetShardIteratorInput{StreamName: aws.String(stream), ShardId: aws.String("shardId-000000000000")}
	switch strings.ToLower(o.From) {
	case "latest":
		in.ShardIteratorType = ktypes.ShardIteratorTypeLatest
	case "trim_horizon":
		in.ShardIteratorType = ktypes.ShardIteratorTypeTrimHorizon
	default:
		t, err := time.Parse(time.RFC3339Nano, o.From)
		if err != nil {
			return fmt.Errorf(`-from %q is not "latest", "trim_horizon" or an RFC 3339 time`, o.From)
		}
		in.ShardIteratorType, in.Timestamp = ktypes.ShardIteratorTypeAtTimestamp, &t
	}
	it, err := kc.GetShardIterator(ctx, in)
	if err != nil {
		return err
	}
	iter, last := it.ShardIterator, ""
	for iter != nil {
		res, err := kc.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter})
		var expired *ktypes.ExpiredIteratorException
		switch {
		case errors.As(err, &expired) && last != "":
			it, err = kc.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String(stream), ShardId: aws.String("shardId-000000000000"),
				ShardIteratorType: ktypes.ShardIteratorTypeAfterSequenceNumber, StartingSequenceNumber: aws.String(last)})
			if err != nil {
				return err
			}
			iter = it.ShardIterator
			continue
		case err != nil:
			return err
		}
		for _, r := range res.Records {
			f.record(ctx, r)
			last = *r.SequenceNumber
		}
		iter = res.NextShardIterator
		if len(res.Records) == 0 && aws.ToInt64(res.MillisBehindLatest) == 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(o.Poll):
			}
		}
	}
	return nil
}

// record handles one record of the event stream.
func (f *follower) record(ctx context.Context, r ktypes.Record) {
	seq := aws.ToString(r.SequenceNumber)
	var head struct {
		Type json.RawMessage `json:"type"`
	}
	if json.Unmarshal(r.Data, &head) != nil || head.Type == nil {
		fmt.Fprintf(f.out, "record %s: %d bytes, not an event\n", seq, len(r.Data))
		return
	}
	if string(head.Type) == `"fragment"` {
		var n notice
		if err := json.Unmarshal(r.Data, &n); err != nil {
			fmt.Fprintf(f.out, "record %s: a fragment notice that does not parse: %v\n", seq, err)
			return
		}
		start := time.UnixMilli(n.ProducerTimestamp).UTC()
		fmt.Fprintf(f.out, "fragment %s  %s  %d ms  %d bytes\n", n.FragmentNumber, start.Format(time.RFC3339Nano), n.LengthMillis, n.SizeInBytes)
		if end := start.Add(time.Duration(n.LengthMillis) * time.Millisecond); end.After(f.stored) {
			f.stored = end
		}
		f.flush(ctx)
		return
	}
	var ev event
	if err := json.Unmarshal(r.Data, &ev); err != nil {
		fmt.Fprintf(f.out, "record %s: %d bytes, not an event\n", seq, len(r.Data))
		return
	}
	at := aws.ToTime(r.ApproximateArrivalTimestamp).UTC()
	if ev.Time != nil {
		at = ev.Time.UTC()
	}
	line := fmt.Sprintf("%s %q at %s", ev.Type, ev.Label, at.Format(time.RFC3339Nano))
	if ev.Duration > 0 {
		line += fmt.Sprintf(" for %gs", ev.Duration)
	}
	if ev.Score != nil {
		line += fmt.Sprintf(" score %.2f", *ev.Score)
	}
	if ev.Box != nil {
		line += fmt.Sprintf(" box %v", *ev.Box)
	}
	fmt.Fprintf(f.out, "%s (id %s)\n", line, seq)
	if ev.Label == f.o.Label && f.o.ClipDir != "" {
		end := at.Add(time.Duration(ev.Duration * float64(time.Second)))
		f.waiting = append(f.waiting, detection{id: seq, from: at.Add(-f.o.Pad), to: end.Add(f.o.Pad)})
		f.flush(ctx)
	}
}

// flush fetches the clips whose video is stored.
func (f *follower) flush(ctx context.Context) {
	keep := f.waiting[:0]
	for _, d := range f.waiting {
		if d.to.After(f.stored) {
			keep = append(keep, d)
			continue
		}
		if err := f.clip(ctx, d); err != nil {
			fmt.Fprintf(f.out, "clip of %s: %v\n", d.id, err)
		}
	}
	f.waiting = keep
}

// clip saves the GetClip MP4 of a detection.
func (f *follower) clip(ctx context.Context, d detection) error {
	out, err := f.archive.GetClip(ctx, &kinesisvideoarchivedmedia.GetClipInput{StreamName: aws.String(f.o.Stream),
		ClipFragmentSelector: &vtypes.ClipFragmentSelector{FragmentSelectorType: vtypes.ClipFragmentSelectorTypeProducerTimestamp,
			TimestampRange: &vtypes.ClipTimestampRange{StartTimestamp: aws.Time(d.from), EndTimestamp: aws.Time(d.to)}}})
	if err != nil {
		return err
	}
	defer out.Payload.Close()
	name := filepath.Join(f.o.ClipDir, fmt.Sprintf("%s-%s-%s.mp4", f.o.Stream, d.from.Format("20060102T150405.000Z"), d.id))
	file, err := os.Create(name)
	if err != nil {
		return err
	}
	n, err := io.Copy(file, out.Payload)
	if cerr := file.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(f.out, "clip %s  %d bytes  %s to %s\n", name, n, d.from.Format(time.RFC3339Nano), d.to.Format(time.RFC3339Nano))
	return nil
}
