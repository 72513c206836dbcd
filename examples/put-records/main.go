// Command put-records writes records to a Kinesis data stream with
// PutRecords, in batches of up to 500, and writes again the records a call
// refused: PutRecords succeeds as a call while refusing single records
// (FailedRecordCount, and an ErrorCode per record, such as a shard's
// ProvisionedThroughputExceededException), so a writer that only checks the
// call's error loses them.
//
//	go run ./examples/put-records -endpoint http://127.0.0.1:8080 -stream detections -n 10
//
// Each record is a small JSON detection; its partition key is its camera,
// cam1 to cam4, so a camera's records stay in order on one shard.
// Credentials and region come from the AWS SDK's usual chain.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

func main() {
	endpoint := flag.String("endpoint", "http://127.0.0.1:8080", "the Eddy server's URL")
	stream := flag.String("stream", "detections", "the data stream to write to")
	n := flag.Int("n", 10, "how many records")
	flag.Parse()
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion("us-east-1"))
	if err != nil {
		log.Fatal(err)
	}
	client := kinesis.NewFromConfig(cfg, func(o *kinesis.Options) { o.BaseEndpoint = aws.String(*endpoint) })
	records := make([]types.PutRecordsRequestEntry, *n)
	for i := range records {
		camera := fmt.Sprintf("cam%d", i%4+1)
		records[i] = types.PutRecordsRequestEntry{
			PartitionKey: aws.String(camera),
			Data:         fmt.Appendf(nil, `{"camera":%q,"n":%d,"label":"person"}`, camera, i),
		}
	}
	if err := putRecords(ctx, client, *stream, records, 5); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d records written to %s\n", len(records), *stream)
}

// putRecords writes records in calls of at most 500, and writes the ones a
// call refused again, up to tries times, waiting a little longer each time.
func putRecords(ctx context.Context, client *kinesis.Client, stream string, records []types.PutRecordsRequestEntry, tries int) error {
	for len(records) > 0 {
		batch := records[:min(len(records), 500)]
		records = records[len(batch):]
		for try := 1; len(batch) > 0; try++ {
			out, err := client.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(stream), Records: batch})
			if err != nil {
				return fmt.Errorf("PutRecords: %w", err)
			}
			// The answer's records are in the order of the request's.
			var refused []types.PutRecordsRequestEntry
			var last string
			for i, r := range out.Records {
				if r.ErrorCode != nil {
					refused = append(refused, batch[i])
					last = aws.ToString(r.ErrorCode) + ": " + aws.ToString(r.ErrorMessage)
				}
			}
			if len(refused) > 0 && try == tries {
				return fmt.Errorf("PutRecords: %d records still refused after %d tries (%s)", len(refused), tries, last)
			}
			if len(refused) > 0 {
				time.Sleep(time.Duration(try) * 100 * time.Millisecond)
			}
			batch = refused
		}
	}
	return nil
}
