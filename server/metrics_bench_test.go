package server_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideoarchivedmedia"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideoarchivedmedia/types"

	"github.com/eddy-video/eddy/media"
	"github.com/eddy-video/eddy/media/mediatest"
	"github.com/eddy-video/eddy/server"
	"github.com/eddy-video/eddy/server/servertest"
)

// benchStreams is how many streams BenchmarkMetricsScrape gives traffic:
// half data streams, half video streams.
const benchStreams = 1000

// BenchmarkMetricsScrape measures a scrape of /metrics on a server with
// 1,000 streams that all had traffic (500 data streams: PutRecords,
// GetRecords; 500 video streams: a 4 s publication recorded as
// fragments, ListFragments), with a series of its own for every stream
// and with every stream aggregated (metrics.per_stream false). It reports the series and bytes
// of one scrape, and the CPU time of the process (server and client) per
// scrape.
//
//	go test ./server/ -run '^$' -bench MetricsScrape -benchtime 20x
func BenchmarkMetricsScrape(b *testing.B) {
	for _, tc := range []struct {
		name      string
		perStream bool
	}{{"per_stream", true}, {"aggregated", false}} {
		b.Run(tc.name, func(b *testing.B) {
			e := servertest.Start(b, func(c *server.Config) {
				c.Metrics.PerStream = tc.perStream // limit: 1000, the default
				c.Streams.ShardLimit = 2 * benchStreams
				c.Streams.Throttle = false
				c.Storage.Sync = "interval"
			})
			benchTraffic(b, e)
			var series, size int
			cpu0 := cpuTime(b)
			for b.Loop() {
				series, size = scrapeText(b, e)
			}
			b.ReportMetric(float64(series), "series")
			b.ReportMetric(float64(size), "bytes/scrape")
			b.ReportMetric(float64((cpuTime(b)-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/scrape")
		})
	}
}

// scrapeText reads /metrics and counts its series (its lines that are
// not comments).
func scrapeText(b *testing.B, e *servertest.Env) (series, size int) {
	resp, err := http.Get(e.URL + "/metrics")
	if err != nil {
		b.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		b.Fatalf("GET /metrics: %d %v", resp.StatusCode, err)
	}
	for _, l := range strings.Split(string(body), "\n") {
		if l != "" && !strings.HasPrefix(l, "#") {
			series++
		}
	}
	return series, len(body)
}

// benchTraffic creates the streams and gives each its traffic, 16 at a
// time.
func benchTraffic(b *testing.B, e *servertest.Env) {
	kc, kv, am := e.Kinesis(), e.KinesisVideo(), e.ArchivedMedia()
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	errs := make(chan error, benchStreams)
	for i := range benchStreams {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			name := fmt.Sprintf("bench-%04d", i)
			if i%2 == 0 {
				errs <- dataTraffic(b, kc, name)
			} else {
				errs <- videoBenchTraffic(b, e, kv, am, name)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			b.Fatal(err)
		}
	}
}

// dataTraffic creates a data stream, puts 10 records and reads them.
func dataTraffic(b *testing.B, kc *kinesis.Client, name string) error {
	ctx := b.Context()
	if _, err := kc.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String(name), ShardCount: aws.Int32(1)}); err != nil {
		return err
	}
	entries := make([]ktypes.PutRecordsRequestEntry, 10)
	for i := range entries {
		entries[i] = ktypes.PutRecordsRequestEntry{PartitionKey: aws.String("k"), Data: []byte("record")}
	}
	if _, err := kc.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(name), Records: entries}); err != nil {
		return err
	}
	it, err := kc.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String(name),
		ShardId: aws.String("shardId-000000000000"), ShardIteratorType: ktypes.ShardIteratorTypeTrimHorizon})
	if err != nil {
		return err
	}
	_, err = kc.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it.ShardIterator})
	return err
}

// videoBenchTraffic creates a video stream, publishes 4 s of synthetic
// H.264 and AAC to it (in process: the registry, recorder and store do
// what they do for a camera) and lists its fragments.
func videoBenchTraffic(b *testing.B, e *servertest.Env, kv *kinesisvideo.Client, am *kinesisvideoarchivedmedia.Client, name string) error {
	ctx := b.Context()
	if _, err := kv.CreateStream(ctx, &kinesisvideo.CreateStreamInput{StreamName: aws.String(name), DataRetentionInHours: aws.Int32(1)}); err != nil {
		return err
	}
	syn := mediatest.Synth{Video: true, Audio: media.CodecAAC, Seconds: 4, GOP: 50}
	start := time.Now()
	h, err := e.Server.Registry().PublishFrom("rtsp", name, syn.Tracks())
	if err != nil {
		return err
	}
	// The recorder is the publication's reader once it has started.
	for deadline := time.Now().Add(5 * time.Second); h.Readers() == 0 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	for _, au := range syn.Units(start.Add(-4 * time.Second)) {
		h.Publish(au)
	}
	e.Server.Registry().Unpublish(name, h)
	in := &kinesisvideoarchivedmedia.ListFragmentsInput{StreamName: aws.String(name),
		FragmentSelector: &types.FragmentSelector{FragmentSelectorType: types.FragmentSelectorTypeServerTimestamp,
			TimestampRange: &types.TimestampRange{StartTimestamp: aws.Time(start.Add(-time.Minute)), EndTimestamp: aws.Time(time.Now().Add(time.Minute))}}}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		out, err := am.ListFragments(ctx, in)
		if err != nil || len(out.Fragments) > 0 {
			return err
		}
	}
	return fmt.Errorf("%s: no fragment recorded", name)
}

// cpuTime returns the CPU time (user and system) the process has used.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
