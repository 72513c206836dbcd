package server_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/fxamacker/cbor/v2"

	"github.com/eddy-video/eddy/server/servertest"
)

const cborType = "application/x-amz-cbor-1.1"

func cborCall(t *testing.T, url, op string, req any, resp any) int {
	t.Helper()
	body, err := cbor.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	code, out := rawCall(t, url, "Kinesis_20131202."+op, cborType, body)
	if err := cbor.Unmarshal(out, resp); err != nil {
		t.Fatalf("%s: response is not CBOR: %v (%q)", op, err, out)
	}
	return code
}

// TestCBOR: requests in the Java SDK's CBOR encoding (blobs as byte
// strings, timestamps as tag 1 epoch milliseconds) round-trip with the
// JSON SDK, in both directions.
func TestCBOR(t *testing.T) {
	env := servertest.Start(t)
	kc := env.Kinesis()
	ctx := context.Background()
	var none map[string]any
	if code := cborCall(t, env.URL, "CreateStream", map[string]any{"StreamName": "cb", "ShardCount": 1}, &none); code != 200 {
		t.Fatalf("CBOR CreateStream: %d %v", code, none)
	}
	binary := []byte{0x00, 0xff, 0xc3, 0x28, 'j', 'a', 'v', 'a'}
	var putOut struct {
		FailedRecordCount int
		Records           []struct{ SequenceNumber, ShardId string }
	}
	code := cborCall(t, env.URL, "PutRecords", map[string]any{"StreamName": "cb", "Records": []map[string]any{
		{"Data": binary, "PartitionKey": "p1"}, {"Data": []byte("second"), "PartitionKey": "p2"}}}, &putOut)
	if code != 200 || putOut.FailedRecordCount != 0 || len(putOut.Records) != 2 || putOut.Records[0].ShardId != "shardId-000000000000" {
		t.Fatalf("CBOR PutRecords: %d %+v", code, putOut)
	}
	// The JSON SDK reads what CBOR wrote.
	if _, err := kc.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("cb"), Data: []byte("from-json"), PartitionKey: aws.String("p3")}); err != nil {
		t.Fatal(err)
	}
	recs, _ := readShard(t, kc, iterator(t, kc, "cb", "shardId-000000000000", types.ShardIteratorTypeTrimHorizon, nil, nil))
	if len(recs) != 3 || !bytes.Equal(recs[0].Data, binary) || *recs[0].SequenceNumber != putOut.Records[0].SequenceNumber || *recs[1].PartitionKey != "p2" {
		t.Fatalf("JSON read of CBOR records: %+v", recs)
	}
	// A CBOR reader reads what JSON wrote, with tagged millisecond timestamps.
	since := time.Now().Add(-time.Minute)
	var itOut struct{ ShardIterator string }
	code = cborCall(t, env.URL, "GetShardIterator", map[string]any{"StreamName": "cb", "ShardId": "shardId-000000000000",
		"ShardIteratorType": "AT_TIMESTAMP", "Timestamp": cbor.Tag{Number: 1, Content: since.UnixMilli()}}, &itOut)
	if code != 200 || itOut.ShardIterator == "" {
		t.Fatalf("CBOR GetShardIterator: %d", code)
	}
	var raw map[string]cbor.RawMessage
	if code := cborCall(t, env.URL, "GetRecords", map[string]any{"ShardIterator": itOut.ShardIterator}, &raw); code != 200 {
		t.Fatalf("CBOR GetRecords: %d", code)
	}
	var records []map[string]cbor.RawMessage
	if err := cbor.Unmarshal(raw["Records"], &records); err != nil || len(records) != 3 {
		t.Fatalf("Records: %v (%d)", err, len(records))
	}
	var data []byte
	if err := cbor.Unmarshal(records[2]["Data"], &data); err != nil || string(data) != "from-json" {
		t.Fatalf("Data must be a CBOR byte string: %v %q", err, data)
	}
	var ts cbor.Tag
	if err := cbor.Unmarshal(records[2]["ApproximateArrivalTimestamp"], &ts); err != nil || ts.Number != 1 {
		t.Fatalf("timestamp must be tag 1: %v %+v", err, ts)
	}
	ms, ok := ts.Content.(uint64)
	if !ok || time.Since(time.UnixMilli(int64(ms))) > time.Minute || time.UnixMilli(int64(ms)).Before(since) {
		t.Fatalf("timestamp content %v is not recent epoch milliseconds", ts.Content)
	}
	// Errors come back in CBOR too.
	var errOut map[string]string
	code = cborCall(t, env.URL, "DescribeStream", map[string]any{"StreamName": "missing"}, &errOut)
	if code != 400 || errOut["__type"] != "ResourceNotFoundException" || !strings.Contains(errOut["message"], "missing") {
		t.Fatalf("CBOR error: %d %v", code, errOut)
	}
	code = cborCall(t, env.URL, "PutRecord", map[string]any{"StreamName": "cb", "Data": "not bytes", "PartitionKey": 7}, &errOut)
	if code != 400 || errOut["__type"] != "SerializationException" {
		t.Fatalf("CBOR wrong types: %d %v", code, errOut)
	}
}
