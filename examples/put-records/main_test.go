package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo"

	"github.com/eddy-video/eddy/server/servertest"
)

// TestPutRecords writes 1,200 records (three calls) to a real server and
// reads every one back; and a record the server refuses each time (an
// event stream's invalid event) is retried and then reported, while the
// call's good record is stored once.
func TestPutRecords(t *testing.T) {
	e := servertest.Start(t)
	ctx := servertest.Context(t, time.Minute)
	k := e.Kinesis()
	if _, err := k.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String("detections"), ShardCount: aws.Int32(1)}); err != nil {
		t.Fatal(err)
	}
	servertest.WaitStreamActive(t, k, "detections")
	var records []types.PutRecordsRequestEntry
	for i := range 1200 {
		records = append(records, types.PutRecordsRequestEntry{PartitionKey: aws.String("cam1"), Data: fmt.Appendf(nil, "record %d", i)})
	}
	if err := putRecords(ctx, k, "detections", records, 5); err != nil {
		t.Fatal(err)
	}
	got := readAll(t, k, "detections")
	if len(got) != len(records) {
		t.Fatalf("%d records read back; want %d", len(got), len(records))
	}
	for i, data := range got {
		if want := fmt.Sprintf("record %d", i); data != want {
			t.Fatalf("record %d reads %q; want %q", i, data, want)
		}
	}

	// A video stream's event stream refuses an event whose score is 91.
	if _, err := e.KinesisVideo().CreateStream(ctx, &kinesisvideo.CreateStreamInput{StreamName: aws.String("door")}); err != nil {
		t.Fatal(err)
	}
	servertest.WaitStreamActive(t, k, "door.events")
	bad := []types.PutRecordsRequestEntry{
		{PartitionKey: aws.String("det"), Data: []byte(`{"type":"detection","label":"person","score":0.9}`)},
		{PartitionKey: aws.String("det"), Data: []byte(`{"type":"detection","label":"person","score":91}`)},
	}
	err := putRecords(ctx, k, "door.events", bad, 3)
	if err == nil || !strings.Contains(err.Error(), "1 records still refused after 3 tries (InvalidArgumentException: ") {
		t.Fatalf("putRecords of an invalid event: %v", err)
	}
	if got := readAll(t, k, "door.events"); len(got) != 1 || got[0] != string(bad[0].Data) {
		t.Errorf("door.events holds %q; want the good event once", got)
	}
}

// readAll reads a one-shard stream's records.
func readAll(t *testing.T, k *kinesis.Client, stream string) []string {
	t.Helper()
	it, err := k.GetShardIterator(t.Context(), &kinesis.GetShardIteratorInput{StreamName: aws.String(stream),
		ShardId: aws.String("shardId-000000000000"), ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
	if err != nil {
		t.Fatal(err)
	}
	var data []string
	for iter := it.ShardIterator; iter != nil; {
		res, err := k.GetRecords(t.Context(), &kinesis.GetRecordsInput{ShardIterator: iter})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res.Records {
			data = append(data, string(r.Data))
		}
		if len(res.Records) == 0 {
			break
		}
		iter = res.NextShardIterator
	}
	return data
}
