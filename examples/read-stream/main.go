// Command read-stream prints every record a Kinesis data stream holds,
// shard by shard, oldest first: the shard, the partition key, the sequence
// number and the data.
//
//	go run ./examples/read-stream -endpoint http://127.0.0.1:8080 -stream detections
//
// Credentials and region come from the AWS SDK's usual chain
// (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, a profile, ...); a server
// without credentials configured accepts any.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

func main() {
	endpoint := flag.String("endpoint", "http://127.0.0.1:8080", "the Eddy server's URL")
	stream := flag.String("stream", "detections", "the data stream to read")
	flag.Parse()
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion("us-east-1"))
	if err != nil {
		log.Fatal(err)
	}
	client := kinesis.NewFromConfig(cfg, func(o *kinesis.Options) { o.BaseEndpoint = aws.String(*endpoint) })
	n, err := readStream(ctx, client, *stream, os.Stdout)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d records\n", n)
}

// readStream prints the records of every shard. ListShards lists them all,
// closed ones too (a resharded stream's parents, which hold its older
// records), parents before their children, so reading in that order keeps
// each partition key's records in order. opts adjust each ListShards call
// (its MaxResults, say).
func readStream(ctx context.Context, client *kinesis.Client, stream string, out io.Writer, opts ...func(*kinesis.ListShardsInput)) (int, error) {
	shards, err := listShards(ctx, client, stream, opts...)
	if err != nil {
		return 0, err
	}
	total := 0
	for _, shard := range shards {
		n, err := readShard(ctx, client, stream, aws.ToString(shard.ShardId), out)
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// listShards returns every shard of the stream, all pages of ListShards
// (the SDK has no paginator for it). It lists them all before any is read:
// a NextToken expires five minutes after it is issued, sooner than reading
// a large shard may take.
func listShards(ctx context.Context, client *kinesis.Client, stream string, opts ...func(*kinesis.ListShardsInput)) ([]types.Shard, error) {
	var shards []types.Shard
	in := &kinesis.ListShardsInput{StreamName: aws.String(stream)}
	for {
		for _, o := range opts {
			o(in)
		}
		page, err := client.ListShards(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("ListShards: %w", err)
		}
		shards = append(shards, page.Shards...)
		if page.NextToken == nil {
			return shards, nil
		}
		// A next page names the token only: it stands for the stream.
		in = &kinesis.ListShardsInput{NextToken: page.NextToken}
	}
}

// readShard prints one shard's records, from the oldest it keeps
// (TRIM_HORIZON) until it is caught up or, a closed shard, read to its end.
func readShard(ctx context.Context, client *kinesis.Client, stream, shard string, out io.Writer) (int, error) {
	it, err := client.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{
		StreamName:        aws.String(stream),
		ShardId:           aws.String(shard),
		ShardIteratorType: types.ShardIteratorTypeTrimHorizon,
	})
	if err != nil {
		return 0, fmt.Errorf("GetShardIterator %s: %w", shard, err)
	}
	n := 0
	for iter := it.ShardIterator; iter != nil; {
		res, err := client.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter})
		if err != nil {
			return n, fmt.Errorf("GetRecords %s: %w", shard, err)
		}
		for _, r := range res.Records {
			fmt.Fprintf(out, "%s %s %s %s\n", shard, aws.ToString(r.PartitionKey), aws.ToString(r.SequenceNumber), r.Data)
			n++
		}
		if len(res.Records) == 0 && aws.ToInt64(res.MillisBehindLatest) == 0 {
			return n, nil // caught up: nothing newer yet
		}
		iter = res.NextShardIterator // nil after the last record of a closed shard
	}
	return n, nil
}
