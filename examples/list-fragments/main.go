// Command list-fragments lists the fragments a Kinesis Video stream
// recorded in a time range with ListFragments (paged), in time order, and
// says where the recording has gaps.
//
//	go run ./examples/list-fragments -endpoint http://127.0.0.1:8080 -stream door -since 1h
//
// Eddy serves the archived-media API on its one endpoint; against AWS, the
// endpoint is the one GetDataEndpoint answers for LIST_FRAGMENTS.
// Credentials and region come from the AWS SDK's usual chain.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideoarchivedmedia"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideoarchivedmedia/types"
)

func main() {
	endpoint := flag.String("endpoint", "http://127.0.0.1:8080", "the Eddy server's URL")
	stream := flag.String("stream", "door", "the video stream")
	since := flag.Duration("since", time.Hour, "list the fragments of this long ago until now")
	serverTime := flag.Bool("server-time", false, "select by the server's arrival time instead of the camera's (producer) clock")
	flag.Parse()
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion("us-east-1"))
	if err != nil {
		log.Fatal(err)
	}
	client := kinesisvideoarchivedmedia.NewFromConfig(cfg, func(o *kinesisvideoarchivedmedia.Options) {
		o.BaseEndpoint = aws.String(*endpoint)
	})
	now := time.Now()
	if err := listFragments(ctx, client, *stream, now.Add(-*since), now, *serverTime, os.Stdout); err != nil {
		log.Fatal(err)
	}
}

// listFragments prints the fragments whose start lies in [from, to]
// (ListFragments includes both ends), sorted by the timestamp they are
// selected by (the server's arrival time with serverTime, else the
// producer's):
// ListFragments answers them in no particular order, a page at a time
// (1,000 at most; opts can set the paginator's Limit).
func listFragments(ctx context.Context, client *kinesisvideoarchivedmedia.Client, stream string, from, to time.Time, serverTime bool, out io.Writer,
	opts ...func(*kinesisvideoarchivedmedia.ListFragmentsPaginatorOptions)) error {
	selector := &types.FragmentSelector{
		FragmentSelectorType: types.FragmentSelectorTypeProducerTimestamp,
		TimestampRange:       &types.TimestampRange{StartTimestamp: aws.Time(from), EndTimestamp: aws.Time(to)},
	}
	if serverTime {
		selector.FragmentSelectorType = types.FragmentSelectorTypeServerTimestamp
	}
	var fragments []types.Fragment
	pages := kinesisvideoarchivedmedia.NewListFragmentsPaginator(client, &kinesisvideoarchivedmedia.ListFragmentsInput{
		StreamName:       aws.String(stream),
		FragmentSelector: selector,
	}, opts...)
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("ListFragments: %w", err)
		}
		fragments = append(fragments, page.Fragments...)
	}
	printFragments(out, fragments, serverTime)
	return nil
}

// printFragments prints the fragments in the order of the timestamp they
// were selected by, each with that timestamp, then the summary. Gaps are
// measured on the producer's clock, the one fragment lengths are in: the
// server's arrival times jitter with the network. (Under server time, a
// camera whose clock went back shows no gap where it did.)
func printFragments(out io.Writer, fragments []types.Fragment, serverTime bool) {
	stamp := func(f types.Fragment) time.Time { return aws.ToTime(f.ProducerTimestamp) }
	if serverTime {
		stamp = func(f types.Fragment) time.Time { return aws.ToTime(f.ServerTimestamp) }
	}
	slices.SortStableFunc(fragments, func(a, b types.Fragment) int { return stamp(a).Compare(stamp(b)) })

	var recorded time.Duration
	var bytes int64
	gaps := 0
	for i, f := range fragments {
		length := time.Duration(f.FragmentLengthInMilliseconds) * time.Millisecond
		if i > 0 {
			prev := fragments[i-1]
			// A gap is more than a frame's worth of nothing between the
			// end of one fragment and the start of the next.
			start := aws.ToTime(f.ProducerTimestamp)
			if end := aws.ToTime(prev.ProducerTimestamp).Add(time.Duration(prev.FragmentLengthInMilliseconds) * time.Millisecond); start.Sub(end) > 100*time.Millisecond {
				fmt.Fprintf(out, "gap of %s\n", start.Sub(end).Round(time.Millisecond))
				gaps++
			}
		}
		fmt.Fprintf(out, "%s  %s  %6s  %8d bytes\n", aws.ToString(f.FragmentNumber), stamp(f).UTC().Format("2006-01-02T15:04:05.000Z"), length, f.FragmentSizeInBytes)
		recorded += length
		bytes += f.FragmentSizeInBytes
	}
	fmt.Fprintf(out, "%d fragments, %s recorded, %d bytes, %d gaps\n", len(fragments), recorded, bytes, gaps)
}
