package server_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/big"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/eddy-video/eddy/server"
	"github.com/eddy-video/eddy/server/servertest"
)

// End-to-end tests of the Kinesis Data Streams API: a real server on a
// loopback port, driven by aws-sdk-go-v2's kinesis client.

func createStream(t *testing.T, kc *kinesis.Client, name string, shards int32) {
	t.Helper()
	_, err := kc.CreateStream(context.Background(), &kinesis.CreateStreamInput{StreamName: aws.String(name), ShardCount: aws.Int32(shards)})
	if err != nil {
		t.Fatalf("CreateStream %s: %v", name, err)
	}
}

func wantErr[T error](t *testing.T, err error, contains string) {
	t.Helper()
	var target T
	if !errors.As(err, &target) {
		t.Fatalf("error %v (%T), want %T", err, err, target)
	}
	if contains != "" && !strings.Contains(err.Error(), contains) {
		t.Fatalf("error %q does not mention %q", err, contains)
	}
}

func seqInt(t *testing.T, s *string) *big.Int {
	t.Helper()
	if s == nil {
		t.Fatal("nil sequence number")
	}
	v, ok := new(big.Int).SetString(*s, 10)
	if !ok {
		t.Fatalf("sequence number %q is not decimal", *s)
	}
	return v
}

// readShard reads a shard from an iterator until it is caught up (or, for
// a closed shard, until its end) and returns the records and the last output.
func readShard(t *testing.T, kc *kinesis.Client, it *string) ([]types.Record, *kinesis.GetRecordsOutput) {
	t.Helper()
	var all []types.Record
	var last *kinesis.GetRecordsOutput
	for i := 0; i < 1000 && it != nil; i++ {
		out, err := kc.GetRecords(context.Background(), &kinesis.GetRecordsInput{ShardIterator: it})
		if err != nil {
			t.Fatalf("GetRecords: %v", err)
		}
		all = append(all, out.Records...)
		last = out
		it = out.NextShardIterator
		if len(out.Records) == 0 && aws.ToInt64(out.MillisBehindLatest) == 0 {
			break
		}
	}
	return all, last
}

func iterator(t *testing.T, kc *kinesis.Client, stream, shard string, typ types.ShardIteratorType, seq *string, ts *time.Time) *string {
	t.Helper()
	out, err := kc.GetShardIterator(context.Background(), &kinesis.GetShardIteratorInput{
		StreamName: aws.String(stream), ShardId: aws.String(shard), ShardIteratorType: typ,
		StartingSequenceNumber: seq, Timestamp: ts,
	})
	if err != nil {
		t.Fatalf("GetShardIterator %s %s: %v", shard, typ, err)
	}
	return out.ShardIterator
}

func TestStreamLifecycle(t *testing.T) {
	env := servertest.Start(t)
	kc := env.Kinesis()
	ctx := servertest.Context(t, time.Minute)

	createStream(t, kc, "orders", 3)
	_, err := kc.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String("events"), StreamModeDetails: &types.StreamModeDetails{StreamMode: types.StreamModeOnDemand}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = kc.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String("orders"), ShardCount: aws.Int32(1)})
	wantErr[*types.ResourceInUseException](t, err, "already exists")

	d, err := kc.DescribeStream(ctx, &kinesis.DescribeStreamInput{StreamName: aws.String("orders")})
	if err != nil {
		t.Fatal(err)
	}
	sd := d.StreamDescription
	if sd.StreamStatus != types.StreamStatusActive || len(sd.Shards) != 3 || aws.ToInt32(sd.RetentionPeriodHours) != 24 ||
		sd.StreamModeDetails.StreamMode != types.StreamModeProvisioned || aws.ToString(sd.StreamARN) != "arn:aws:kinesis:us-east-1:000000000000:stream/orders" {
		t.Fatalf("unexpected description: %+v", sd)
	}
	if time.Since(aws.ToTime(sd.StreamCreationTimestamp)) > time.Minute {
		t.Fatalf("creation timestamp %v", sd.StreamCreationTimestamp)
	}
	// The shards cover the hash key space exactly, without overlap.
	next := big.NewInt(0)
	for _, sh := range sd.Shards {
		start, _ := new(big.Int).SetString(aws.ToString(sh.HashKeyRange.StartingHashKey), 10)
		end, _ := new(big.Int).SetString(aws.ToString(sh.HashKeyRange.EndingHashKey), 10)
		if start.Cmp(next) != 0 || end.Cmp(start) < 0 {
			t.Fatalf("shard %s range %v..%v does not continue at %v", aws.ToString(sh.ShardId), start, end, next)
		}
		next = new(big.Int).Add(end, big.NewInt(1))
	}
	if next.Cmp(new(big.Int).Lsh(big.NewInt(1), 128)) != 0 {
		t.Fatalf("shards end at %v, want 2^128", next)
	}
	// DescribeStream pages shards with Limit and ExclusiveStartShardId.
	d, err = kc.DescribeStream(ctx, &kinesis.DescribeStreamInput{StreamName: aws.String("orders"), Limit: aws.Int32(2)})
	if err != nil || len(d.StreamDescription.Shards) != 2 || !aws.ToBool(d.StreamDescription.HasMoreShards) {
		t.Fatalf("DescribeStream Limit 2: %v %+v", err, d)
	}
	d, err = kc.DescribeStream(ctx, &kinesis.DescribeStreamInput{StreamName: aws.String("orders"), ExclusiveStartShardId: d.StreamDescription.Shards[1].ShardId})
	if err != nil || len(d.StreamDescription.Shards) != 1 || aws.ToBool(d.StreamDescription.HasMoreShards) {
		t.Fatalf("DescribeStream after shard 1: %v %+v", err, d)
	}

	sum, err := kc.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("events")})
	if err != nil {
		t.Fatal(err)
	}
	if s := sum.StreamDescriptionSummary; aws.ToInt32(s.OpenShardCount) != 4 || s.StreamModeDetails.StreamMode != types.StreamModeOnDemand || aws.ToInt32(s.ConsumerCount) != 0 {
		t.Fatalf("summary %+v", s)
	}

	// ListStreams pages with Limit and NextToken, with summaries.
	for i := 0; i < 5; i++ {
		createStream(t, kc, fmt.Sprintf("page-%d", i), 1)
	}
	var names []string
	in := &kinesis.ListStreamsInput{Limit: aws.Int32(3)}
	for pages := 0; ; pages++ {
		out, err := kc.ListStreams(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		if len(out.StreamSummaries) != len(out.StreamNames) {
			t.Fatalf("%d summaries for %d names", len(out.StreamSummaries), len(out.StreamNames))
		}
		for i, s := range out.StreamSummaries {
			if aws.ToString(s.StreamName) != out.StreamNames[i] || s.StreamStatus != types.StreamStatusActive || s.StreamCreationTimestamp == nil {
				t.Fatalf("summary %+v for %s", s, out.StreamNames[i])
			}
		}
		names = append(names, out.StreamNames...)
		if !aws.ToBool(out.HasMoreStreams) {
			if out.NextToken != nil {
				t.Fatal("NextToken on the last page")
			}
			break
		}
		in = &kinesis.ListStreamsInput{NextToken: out.NextToken, Limit: aws.Int32(3)}
	}
	if got := strings.Join(names, ","); got != "events,orders,page-0,page-1,page-2,page-3,page-4" {
		t.Fatalf("ListStreams = %s", got)
	}
	// The SDK paginator works too.
	p := kinesis.NewListStreamsPaginator(kc, &kinesis.ListStreamsInput{Limit: aws.Int32(2)})
	count := 0
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		count += len(out.StreamNames)
	}
	if count != 7 {
		t.Fatalf("paginator listed %d streams, want 7", count)
	}

	if _, err := kc.DeleteStream(ctx, &kinesis.DeleteStreamInput{StreamName: aws.String("orders")}); err != nil {
		t.Fatal(err)
	}
	_, err = kc.DescribeStream(ctx, &kinesis.DescribeStreamInput{StreamName: aws.String("orders")})
	wantErr[*types.ResourceNotFoundException](t, err, "Stream orders under account 000000000000 not found")
	_, err = kc.DeleteStream(ctx, &kinesis.DeleteStreamInput{StreamName: aws.String("orders")})
	wantErr[*types.ResourceNotFoundException](t, err, "")
	// A deleted name can be used again, and starts empty.
	createStream(t, kc, "orders", 1)
	it := iterator(t, kc, "orders", "shardId-000000000000", types.ShardIteratorTypeTrimHorizon, nil, nil)
	if recs, _ := readShard(t, kc, it); len(recs) != 0 {
		t.Fatalf("recreated stream has %d records", len(recs))
	}
}

func TestPutAndGetRecords(t *testing.T) {
	env := servertest.Start(t, func(c *server.Config) { c.Streams.Throttle = false })
	kc := env.Kinesis()
	ctx := servertest.Context(t, time.Minute)
	createStream(t, kc, "s", 4)

	// PutRecords: 500 records, per-record results in request order.
	entries := make([]types.PutRecordsRequestEntry, 500)
	for i := range entries {
		entries[i] = types.PutRecordsRequestEntry{Data: []byte(fmt.Sprintf("record-%03d", i)), PartitionKey: aws.String(fmt.Sprintf("pk-%d", i%37))}
	}
	out, err := kc.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String("s"), Records: entries})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToInt32(out.FailedRecordCount) != 0 || len(out.Records) != 500 {
		t.Fatalf("PutRecords: %d failed, %d results", aws.ToInt32(out.FailedRecordCount), len(out.Records))
	}
	byShard := map[string][]int{}
	seen := map[string]bool{}
	for i, r := range out.Records {
		if r.ErrorCode != nil || r.SequenceNumber == nil {
			t.Fatalf("record %d: %+v", i, r)
		}
		if seen[*r.SequenceNumber] {
			t.Fatalf("sequence number %s issued twice", *r.SequenceNumber)
		}
		seen[*r.SequenceNumber] = true
		byShard[*r.ShardId] = append(byShard[*r.ShardId], i)
	}
	// The same partition key always lands in the same shard.
	pkShard := map[string]string{}
	for i, r := range out.Records {
		pk := *entries[i].PartitionKey
		if s, ok := pkShard[pk]; ok && s != *r.ShardId {
			t.Fatalf("partition key %s in %s and %s", pk, s, *r.ShardId)
		}
		pkShard[pk] = *r.ShardId
	}
	if len(byShard) != 4 {
		t.Fatalf("records went to %d shards, want all 4", len(byShard))
	}

	// PutRecord with an explicit hash key goes to the shard owning it.
	pr, err := kc.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("s"), Data: []byte("explicit"), PartitionKey: aws.String("x"),
		ExplicitHashKey: aws.String("340282366920938463463374607431768211455")})
	if err != nil {
		t.Fatal(err)
	}
	if *pr.ShardId != "shardId-000000000003" {
		t.Fatalf("max hash key went to %s", *pr.ShardId)
	}

	// Each shard reads back in order from TRIM_HORIZON, contents intact.
	for shard, idx := range byShard {
		recs, last := readShard(t, kc, iterator(t, kc, "s", shard, types.ShardIteratorTypeTrimHorizon, nil, nil))
		if shard == "shardId-000000000003" {
			idx = append(idx, -1) // the explicit-hash record
		}
		if len(recs) != len(idx) {
			t.Fatalf("%s: read %d records, put %d", shard, len(recs), len(idx))
		}
		for k, r := range recs {
			if k > 0 && seqInt(t, r.SequenceNumber).Cmp(seqInt(t, recs[k-1].SequenceNumber)) <= 0 {
				t.Fatalf("%s: sequence numbers not increasing at %d", shard, k)
			}
			if idx[k] < 0 {
				if string(r.Data) != "explicit" {
					t.Fatalf("%s: last record %q", shard, r.Data)
				}
				continue
			}
			if !bytes.Equal(r.Data, entries[idx[k]].Data) || *r.PartitionKey != *entries[idx[k]].PartitionKey || *r.SequenceNumber != *out.Records[idx[k]].SequenceNumber {
				t.Fatalf("%s record %d: %q/%s, want %q", shard, k, r.Data, *r.PartitionKey, entries[idx[k]].Data)
			}
			if time.Since(aws.ToTime(r.ApproximateArrivalTimestamp)) > time.Minute {
				t.Fatalf("arrival timestamp %v", r.ApproximateArrivalTimestamp)
			}
		}
		if aws.ToInt64(last.MillisBehindLatest) != 0 || last.NextShardIterator == nil {
			t.Fatalf("%s: caught-up read has MillisBehindLatest %d, next iterator %v", shard, aws.ToInt64(last.MillisBehindLatest), last.NextShardIterator)
		}
	}

	// Iterator types.
	shard := "shardId-000000000000"
	idx := byShard[shard]
	seqOf := func(k int) *string { return out.Records[idx[k]].SequenceNumber }
	recs, _ := readShard(t, kc, iterator(t, kc, "s", shard, types.ShardIteratorTypeAtSequenceNumber, seqOf(3), nil))
	if len(recs) != len(idx)-3 || *recs[0].SequenceNumber != *seqOf(3) {
		t.Fatalf("AT_SEQUENCE_NUMBER read %d from %s", len(recs), aws.ToString(recs[0].SequenceNumber))
	}
	recs, _ = readShard(t, kc, iterator(t, kc, "s", shard, types.ShardIteratorTypeAfterSequenceNumber, seqOf(3), nil))
	if len(recs) != len(idx)-4 || *recs[0].SequenceNumber != *seqOf(4) {
		t.Fatalf("AFTER_SEQUENCE_NUMBER read %d", len(recs))
	}
	latest := iterator(t, kc, "s", shard, types.ShardIteratorTypeLatest, nil, nil)
	if recs, _ := readShard(t, kc, latest); len(recs) != 0 {
		t.Fatalf("LATEST read %d old records", len(recs))
	}
	time.Sleep(20 * time.Millisecond)
	mark := time.Now()
	time.Sleep(20 * time.Millisecond)
	_, err = kc.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("s"), Data: []byte("new"), PartitionKey: aws.String("x"), ExplicitHashKey: aws.String("0")})
	if err != nil {
		t.Fatal(err)
	}
	if recs, _ := readShard(t, kc, latest); len(recs) != 1 || string(recs[0].Data) != "new" {
		t.Fatalf("LATEST iterator after a put read %v", recs)
	}
	recs, _ = readShard(t, kc, iterator(t, kc, "s", shard, types.ShardIteratorTypeAtTimestamp, nil, &mark))
	if len(recs) != 1 || string(recs[0].Data) != "new" {
		t.Fatalf("AT_TIMESTAMP read %d records", len(recs))
	}
	old := mark.Add(-time.Hour)
	recs, _ = readShard(t, kc, iterator(t, kc, "s", shard, types.ShardIteratorTypeAtTimestamp, nil, &old))
	if len(recs) != len(idx)+1 {
		t.Fatalf("AT_TIMESTAMP an hour ago read %d, want %d", len(recs), len(idx)+1)
	}

	// GetRecords Limit, and MillisBehindLatest when behind.
	g, err := kc.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iterator(t, kc, "s", shard, types.ShardIteratorTypeTrimHorizon, nil, nil), Limit: aws.Int32(2)})
	if err != nil || len(g.Records) != 2 {
		t.Fatalf("Limit 2: %v, %d records", err, len(g.Records))
	}
	if aws.ToInt64(g.MillisBehindLatest) < 40 {
		t.Fatalf("MillisBehindLatest %d while 40+ ms behind the tip", aws.ToInt64(g.MillisBehindLatest))
	}

	// A sequence number from another shard is refused.
	_, err = kc.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String("s"), ShardId: aws.String("shardId-000000000001"),
		ShardIteratorType: types.ShardIteratorTypeAtSequenceNumber, StartingSequenceNumber: seqOf(0)})
	wantErr[*types.InvalidArgumentException](t, err, "It encodes shardId-000000000000")
	// Iterator type and sequence number must agree.
	_, err = kc.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String("s"), ShardId: aws.String(shard), ShardIteratorType: types.ShardIteratorTypeLatest, StartingSequenceNumber: seqOf(0)})
	wantErr[*types.InvalidArgumentException](t, err, "Must either specify")
	future := time.Now().Add(time.Hour)
	_, err = kc.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String("s"), ShardId: aws.String(shard), ShardIteratorType: types.ShardIteratorTypeAtTimestamp, Timestamp: &future})
	wantErr[*types.InvalidArgumentException](t, err, "cannot be greater than")
	_, err = kc.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String("s"), ShardId: aws.String("shardId-000000000009"), ShardIteratorType: types.ShardIteratorTypeLatest})
	wantErr[*types.ResourceNotFoundException](t, err, "shardId-000000000009")
}

func TestBadInputIsRefusedAndHarmless(t *testing.T) {
	env := servertest.Start(t)
	kc := env.Kinesis(servertest.NoRetries)
	ctx := servertest.Context(t, time.Minute)
	createStream(t, kc, "s", 2)
	put := func(in *kinesis.PutRecordsInput) error { _, err := kc.PutRecords(ctx, in); return err }

	big := bytes.Repeat([]byte{'x'}, 1<<20+1)
	_, err := kc.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("s"), Data: big, PartitionKey: aws.String("k")})
	wantErr[*types.ValidationException](t, err, "1048576")

	many := make([]types.PutRecordsRequestEntry, 501)
	for i := range many {
		many[i] = types.PutRecordsRequestEntry{Data: []byte("x"), PartitionKey: aws.String("k")}
	}
	wantErr[*types.ValidationException](t, put(&kinesis.PutRecordsInput{StreamName: aws.String("s"), Records: many}), "500")

	_, err = kc.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("s"), Data: []byte("x"), PartitionKey: aws.String("k"), ExplicitHashKey: aws.String("340282366920938463463374607431768211456")})
	wantErr[*types.InvalidArgumentException](t, err, "Invalid ExplicitHashKey")
	_, err = kc.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("s"), Data: []byte("x"), PartitionKey: aws.String("k"), ExplicitHashKey: aws.String("-1")})
	wantErr[*types.InvalidArgumentException](t, err, "Invalid ExplicitHashKey")
	_, err = kc.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("s"), Data: []byte("x"), PartitionKey: aws.String(strings.Repeat("p", 257))})
	wantErr[*types.ValidationException](t, err, "partitionKey")

	for _, name := range []string{"..", "a/b", "with space", strings.Repeat("n", 129), "naïve"} {
		_, err = kc.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String(name), ShardCount: aws.Int32(1)})
		wantErr[*types.ValidationException](t, err, "streamName")
	}
	_, err = kc.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String("zero"), ShardCount: aws.Int32(0)})
	wantErr[*types.ValidationException](t, err, "shardCount")

	for _, it := range []string{"garbage", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", strings.Repeat("Z", 600)} {
		_, err = kc.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: aws.String(it)})
		wantErr[*types.InvalidArgumentException](t, err, "Invalid ShardIterator")
	}
	// An iterator from another server (another key) is foreign, too.
	other := servertest.Start(t)
	okc := other.Kinesis()
	createStream(t, okc, "s", 2)
	foreign := iterator(t, okc, "s", "shardId-000000000000", types.ShardIteratorTypeTrimHorizon, nil, nil)
	_, err = kc.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: foreign})
	wantErr[*types.InvalidArgumentException](t, err, "Invalid ShardIterator")
	// A stream's iterator does not survive the stream being recreated.
	stale := iterator(t, kc, "s", "shardId-000000000000", types.ShardIteratorTypeTrimHorizon, nil, nil)
	if _, err := kc.DeleteStream(ctx, &kinesis.DeleteStreamInput{StreamName: aws.String("s")}); err != nil {
		t.Fatal(err)
	}
	createStream(t, kc, "s", 2)
	_, err = kc.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: stale})
	wantErr[*types.InvalidArgumentException](t, err, "Invalid ShardIterator")

	_, err = kc.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String("s"), ShardId: aws.String("shardId-000000000000"),
		ShardIteratorType: types.ShardIteratorTypeAtSequenceNumber, StartingSequenceNumber: aws.String("12345")})
	wantErr[*types.InvalidArgumentException](t, err, "StartingSequenceNumber")

	_, err = kc.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("missing"), Data: []byte("x"), PartitionKey: aws.String("k")})
	wantErr[*types.ResourceNotFoundException](t, err, "missing")

	// After all that the server still serves.
	if _, err := kc.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("s"), Data: []byte("fine"), PartitionKey: aws.String("k")}); err != nil {
		t.Fatalf("server stopped serving: %v", err)
	}
}

func TestReshardingLineage(t *testing.T) {
	env := servertest.Start(t, func(c *server.Config) { c.Streams.Throttle = false })
	kc := env.Kinesis()
	ctx := servertest.Context(t, time.Minute)
	createStream(t, kc, "r", 2)
	putN := func(n int, tag string) map[string][]string {
		t.Helper()
		entries := make([]types.PutRecordsRequestEntry, n)
		for i := range entries {
			entries[i] = types.PutRecordsRequestEntry{Data: []byte(fmt.Sprintf("%s-%d", tag, i)), PartitionKey: aws.String(fmt.Sprintf("k%d", i))}
		}
		out, err := kc.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String("r"), Records: entries})
		if err != nil || aws.ToInt32(out.FailedRecordCount) != 0 {
			t.Fatalf("PutRecords: %v", err)
		}
		got := map[string][]string{}
		for i, r := range out.Records {
			got[*r.ShardId] = append(got[*r.ShardId], string(entries[i].Data))
		}
		return got
	}
	before := putN(100, "before")
	// Hold an iterator on shard 0 from before the split; it must read the
	// parent to its end and then be told about the children.
	parentIt := iterator(t, kc, "r", "shardId-000000000000", types.ShardIteratorTypeTrimHorizon, nil, nil)

	// Split shard 0 in half.
	_, err := kc.SplitShard(ctx, &kinesis.SplitShardInput{StreamName: aws.String("r"), ShardToSplit: aws.String("shardId-000000000000"),
		NewStartingHashKey: aws.String("85070591730234615865843651857942052864")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = kc.SplitShard(ctx, &kinesis.SplitShardInput{StreamName: aws.String("r"), ShardToSplit: aws.String("shardId-000000000000"),
		NewStartingHashKey: aws.String("85070591730234615865843651857942052865")})
	wantErr[*types.InvalidArgumentException](t, err, "already been merged or split")
	after := putN(100, "after")
	if len(after["shardId-000000000000"]) != 0 {
		t.Fatal("records went to the closed parent")
	}
	// Merge the two children back (2 and 3) — and merging non-adjacent shards fails.
	_, err = kc.MergeShards(ctx, &kinesis.MergeShardsInput{StreamName: aws.String("r"), ShardToMerge: aws.String("shardId-000000000002"), AdjacentShardToMerge: aws.String("shardId-000000000001")})
	wantErr[*types.InvalidArgumentException](t, err, "adjacent")
	_, err = kc.MergeShards(ctx, &kinesis.MergeShardsInput{StreamName: aws.String("r"), ShardToMerge: aws.String("shardId-000000000002"), AdjacentShardToMerge: aws.String("shardId-000000000003")})
	if err != nil {
		t.Fatal(err)
	}
	putN(50, "merged")

	ls, err := kc.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String("r")})
	if err != nil {
		t.Fatal(err)
	}
	type lineage struct {
		parent, adjacent string
		closed           bool
	}
	got := map[string]lineage{}
	for _, sh := range ls.Shards {
		got[*sh.ShardId] = lineage{aws.ToString(sh.ParentShardId), aws.ToString(sh.AdjacentParentShardId), sh.SequenceNumberRange.EndingSequenceNumber != nil}
	}
	want := map[string]lineage{
		"shardId-000000000000": {"", "", true},
		"shardId-000000000001": {"", "", false},
		"shardId-000000000002": {"shardId-000000000000", "", true},
		"shardId-000000000003": {"shardId-000000000000", "", true},
		"shardId-000000000004": {"shardId-000000000002", "shardId-000000000003", false},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("lineage\n got %v\nwant %v", got, want)
	}

	// The old iterator reads the parent to its end: every record put
	// before the split, then ChildShards and no NextShardIterator.
	var parentRecs []types.Record
	var end *kinesis.GetRecordsOutput
	for it := parentIt; it != nil; {
		out, err := kc.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it, Limit: aws.Int32(7)})
		if err != nil {
			t.Fatal(err)
		}
		parentRecs = append(parentRecs, out.Records...)
		it, end = out.NextShardIterator, out
	}
	if len(parentRecs) != len(before["shardId-000000000000"]) {
		t.Fatalf("read %d records from the closed parent, it had %d", len(parentRecs), len(before["shardId-000000000000"]))
	}
	if len(end.ChildShards) != 2 || *end.ChildShards[0].ShardId != "shardId-000000000002" || end.ChildShards[0].ParentShards[0] != "shardId-000000000000" {
		t.Fatalf("ChildShards at the parent's end: %+v", end.ChildShards)
	}
	// The parent's EndingSequenceNumber is its last record's.
	d, _ := kc.DescribeStream(ctx, &kinesis.DescribeStreamInput{StreamName: aws.String("r")})
	if e := d.StreamDescription.Shards[0].SequenceNumberRange.EndingSequenceNumber; *e != *parentRecs[len(parentRecs)-1].SequenceNumber {
		t.Fatalf("EndingSequenceNumber %s, last record %s", *e, *parentRecs[len(parentRecs)-1].SequenceNumber)
	}

	// ShardFilter.
	filtered := func(f *types.ShardFilter) []string {
		t.Helper()
		out, err := kc.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String("r"), ShardFilter: f})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, s := range out.Shards {
			ids = append(ids, strings.TrimPrefix(*s.ShardId, "shardId-00000000000"))
		}
		return ids
	}
	for _, tc := range []struct {
		f    *types.ShardFilter
		want string
	}{
		{&types.ShardFilter{Type: types.ShardFilterTypeAtLatest}, "1 4"},
		{&types.ShardFilter{Type: types.ShardFilterTypeAtTrimHorizon}, "0 1"},
		{&types.ShardFilter{Type: types.ShardFilterTypeFromTrimHorizon}, "0 1 2 3 4"},
		{&types.ShardFilter{Type: types.ShardFilterTypeAfterShardId, ShardId: aws.String("shardId-000000000002")}, "3 4"},
		{&types.ShardFilter{Type: types.ShardFilterTypeAtTimestamp, Timestamp: aws.Time(time.Now())}, "1 4"},
		{&types.ShardFilter{Type: types.ShardFilterTypeFromTimestamp, Timestamp: aws.Time(time.Now().Add(-time.Hour))}, "0 1 2 3 4"},
	} {
		if got := strings.Join(filtered(tc.f), " "); got != tc.want {
			t.Errorf("ShardFilter %s: %s, want %s", tc.f.Type, got, tc.want)
		}
	}

	// ListShards paging by NextToken, and StreamARN addressing.
	arn := aws.String("arn:aws:kinesis:us-east-1:000000000000:stream/r")
	page, err := kc.ListShards(ctx, &kinesis.ListShardsInput{StreamARN: arn, MaxResults: aws.Int32(2)})
	if err != nil || len(page.Shards) != 2 || page.NextToken == nil {
		t.Fatalf("ListShards page 1: %v %+v", err, page)
	}
	_, err = kc.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String("r"), NextToken: page.NextToken})
	wantErr[*types.InvalidArgumentException](t, err, "NextToken and StreamName cannot be provided together")
	var ids []string
	for _, s := range page.Shards {
		ids = append(ids, *s.ShardId)
	}
	for page.NextToken != nil {
		page, err = kc.ListShards(ctx, &kinesis.ListShardsInput{NextToken: page.NextToken, MaxResults: aws.Int32(2)})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range page.Shards {
			ids = append(ids, *s.ShardId)
		}
	}
	if len(ids) != 5 || !sort.StringsAreSorted(ids) {
		t.Fatalf("paged shards %v", ids)
	}

	// UpdateShardCount: 2 open → 4 → 3, uniform, with at most two parents each.
	us, err := kc.UpdateShardCount(ctx, &kinesis.UpdateShardCountInput{StreamName: aws.String("r"), TargetShardCount: aws.Int32(4), ScalingType: types.ScalingTypeUniformScaling})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToInt32(us.CurrentShardCount) != 2 || aws.ToInt32(us.TargetShardCount) != 4 {
		t.Fatalf("UpdateShardCount output %+v", us)
	}
	checkOpenUniform(t, kc, "r", 4)
	if _, err := kc.UpdateShardCount(ctx, &kinesis.UpdateShardCountInput{StreamName: aws.String("r"), TargetShardCount: aws.Int32(3), ScalingType: types.ScalingTypeUniformScaling}); err != nil {
		t.Fatal(err)
	}
	checkOpenUniform(t, kc, "r", 3)
	_, err = kc.UpdateShardCount(ctx, &kinesis.UpdateShardCountInput{StreamName: aws.String("r"), TargetShardCount: aws.Int32(7), ScalingType: types.ScalingTypeUniformScaling})
	wantErr[*types.LimitExceededException](t, err, "double")
	// Data written since still reads across the whole lineage.
	putN(60, "final")
}

// checkOpenUniform asserts n open shards of equal size covering the key space.
func checkOpenUniform(t *testing.T, kc *kinesis.Client, stream string, n int) {
	t.Helper()
	out, err := kc.ListShards(context.Background(), &kinesis.ListShardsInput{StreamName: aws.String(stream), ShardFilter: &types.ShardFilter{Type: types.ShardFilterTypeAtLatest}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Shards) != n {
		t.Fatalf("%d open shards, want %d", len(out.Shards), n)
	}
	space := new(big.Int).Lsh(big.NewInt(1), 128)
	step := new(big.Int).Div(space, big.NewInt(int64(n)))
	sort.Slice(out.Shards, func(i, j int) bool {
		a, _ := new(big.Int).SetString(*out.Shards[i].HashKeyRange.StartingHashKey, 10)
		b, _ := new(big.Int).SetString(*out.Shards[j].HashKeyRange.StartingHashKey, 10)
		return a.Cmp(b) < 0
	})
	for i, sh := range out.Shards {
		start, _ := new(big.Int).SetString(*sh.HashKeyRange.StartingHashKey, 10)
		if want := new(big.Int).Mul(step, big.NewInt(int64(i))); start.Cmp(want) != 0 {
			t.Fatalf("open shard %d starts at %v, want %v", i, start, want)
		}
		if sh.AdjacentParentShardId != nil && sh.ParentShardId == nil {
			t.Fatalf("shard %s has an adjacent parent but no parent", *sh.ShardId)
		}
	}
}

func TestRetentionAndTags(t *testing.T) {
	env := servertest.Start(t)
	kc := env.Kinesis()
	ctx := servertest.Context(t, time.Minute)
	createStream(t, kc, "t", 1)
	retention := func() int32 {
		d, err := kc.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("t")})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToInt32(d.StreamDescriptionSummary.RetentionPeriodHours)
	}
	if _, err := kc.IncreaseStreamRetentionPeriod(ctx, &kinesis.IncreaseStreamRetentionPeriodInput{StreamName: aws.String("t"), RetentionPeriodHours: aws.Int32(168)}); err != nil {
		t.Fatal(err)
	}
	if r := retention(); r != 168 {
		t.Fatalf("retention %d after increase", r)
	}
	_, err := kc.IncreaseStreamRetentionPeriod(ctx, &kinesis.IncreaseStreamRetentionPeriodInput{StreamName: aws.String("t"), RetentionPeriodHours: aws.Int32(48)})
	wantErr[*types.InvalidArgumentException](t, err, "Use DecreaseRetentionPeriod API")
	_, err = kc.IncreaseStreamRetentionPeriod(ctx, &kinesis.IncreaseStreamRetentionPeriodInput{StreamName: aws.String("t"), RetentionPeriodHours: aws.Int32(8761)})
	wantErr[*types.InvalidArgumentException](t, err, "Maximum allowed retention period is 8760 hours")
	_, err = kc.DecreaseStreamRetentionPeriod(ctx, &kinesis.DecreaseStreamRetentionPeriodInput{StreamName: aws.String("t"), RetentionPeriodHours: aws.Int32(12)})
	wantErr[*types.InvalidArgumentException](t, err, "Minimum allowed retention period is 24 hours")
	if _, err := kc.DecreaseStreamRetentionPeriod(ctx, &kinesis.DecreaseStreamRetentionPeriodInput{StreamName: aws.String("t"), RetentionPeriodHours: aws.Int32(24)}); err != nil {
		t.Fatal(err)
	}
	if r := retention(); r != 24 {
		t.Fatalf("retention %d after decrease", r)
	}

	// Stream tags, by name and by ARN.
	if _, err := kc.AddTagsToStream(ctx, &kinesis.AddTagsToStreamInput{StreamName: aws.String("t"), Tags: map[string]string{"team": "video", "env": "test", "cost": "42"}}); err != nil {
		t.Fatal(err)
	}
	lt, err := kc.ListTagsForStream(ctx, &kinesis.ListTagsForStreamInput{StreamName: aws.String("t"), Limit: aws.Int32(2)})
	if err != nil || len(lt.Tags) != 2 || !aws.ToBool(lt.HasMoreTags) || *lt.Tags[0].Key != "cost" {
		t.Fatalf("ListTagsForStream: %v %+v", err, lt)
	}
	lt, _ = kc.ListTagsForStream(ctx, &kinesis.ListTagsForStreamInput{StreamName: aws.String("t"), ExclusiveStartTagKey: aws.String("env")})
	if len(lt.Tags) != 1 || *lt.Tags[0].Key != "team" || *lt.Tags[0].Value != "video" || aws.ToBool(lt.HasMoreTags) {
		t.Fatalf("ListTagsForStream after env: %+v", lt.Tags)
	}
	if _, err := kc.RemoveTagsFromStream(ctx, &kinesis.RemoveTagsFromStreamInput{StreamName: aws.String("t"), TagKeys: []string{"cost"}}); err != nil {
		t.Fatal(err)
	}
	arn := aws.String("arn:aws:kinesis:us-east-1:000000000000:stream/t")
	if _, err := kc.TagResource(ctx, &kinesis.TagResourceInput{ResourceARN: arn, Tags: map[string]string{"owner": "ml"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := kc.UntagResource(ctx, &kinesis.UntagResourceInput{ResourceARN: arn, TagKeys: []string{"env"}}); err != nil {
		t.Fatal(err)
	}
	lr, err := kc.ListTagsForResource(ctx, &kinesis.ListTagsForResourceInput{ResourceARN: arn})
	if err != nil {
		t.Fatal(err)
	}
	var kv []string
	for _, tg := range lr.Tags {
		kv = append(kv, *tg.Key+"="+*tg.Value)
	}
	if strings.Join(kv, ",") != "owner=ml,team=video" {
		t.Fatalf("tags %v", kv)
	}
	many := map[string]string{}
	for i := 0; i < 49; i++ {
		many[fmt.Sprint("k", i)] = "v"
	}
	_, err = kc.AddTagsToStream(ctx, &kinesis.AddTagsToStreamInput{StreamName: aws.String("t"), Tags: many})
	wantErr[*types.LimitExceededException](t, err, "50 tags")

	// Tags and retention survive a restart.
	cfg := env.Config
	env.Server.Close()
	env2 := servertest.StartConfig(t, cfg)
	lr, err = env2.Kinesis().ListTagsForResource(ctx, &kinesis.ListTagsForResourceInput{ResourceARN: arn})
	if err != nil || len(lr.Tags) != 2 {
		t.Fatalf("after restart: %v %+v", err, lr)
	}
}

func TestConsumers(t *testing.T) {
	env := servertest.Start(t)
	kc := env.Kinesis()
	ctx := servertest.Context(t, time.Minute)
	createStream(t, kc, "c", 1)
	arn := aws.String("arn:aws:kinesis:us-east-1:000000000000:stream/c")
	reg, err := kc.RegisterStreamConsumer(ctx, &kinesis.RegisterStreamConsumerInput{StreamARN: arn, ConsumerName: aws.String("app")})
	if err != nil {
		t.Fatal(err)
	}
	carn := reg.Consumer.ConsumerARN
	if !strings.HasPrefix(*carn, *arn+"/consumer/app:") {
		t.Fatalf("consumer ARN %s", *carn)
	}
	_, err = kc.RegisterStreamConsumer(ctx, &kinesis.RegisterStreamConsumerInput{StreamARN: arn, ConsumerName: aws.String("app")})
	wantErr[*types.ResourceInUseException](t, err, "already exists")
	for _, in := range []*kinesis.DescribeStreamConsumerInput{{ConsumerARN: carn}, {StreamARN: arn, ConsumerName: aws.String("app")}} {
		d, err := kc.DescribeStreamConsumer(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		if cd := d.ConsumerDescription; *cd.ConsumerARN != *carn || cd.ConsumerStatus != types.ConsumerStatusActive || *cd.StreamARN != *arn {
			t.Fatalf("description %+v", cd)
		}
	}
	for i := 0; i < 4; i++ {
		if _, err := kc.RegisterStreamConsumer(ctx, &kinesis.RegisterStreamConsumerInput{StreamARN: arn, ConsumerName: aws.String(fmt.Sprint("more-", i))}); err != nil {
			t.Fatal(err)
		}
	}
	var names []string
	p := kinesis.NewListStreamConsumersPaginator(kc, &kinesis.ListStreamConsumersInput{StreamARN: arn, MaxResults: aws.Int32(2)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range out.Consumers {
			names = append(names, *c.ConsumerName)
		}
	}
	if strings.Join(names, ",") != "app,more-0,more-1,more-2,more-3" {
		t.Fatalf("consumers %v", names)
	}
	sum, _ := kc.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("c")})
	if aws.ToInt32(sum.StreamDescriptionSummary.ConsumerCount) != 5 {
		t.Fatalf("ConsumerCount %d", aws.ToInt32(sum.StreamDescriptionSummary.ConsumerCount))
	}
	// A stream with consumers is only deleted with EnforceConsumerDeletion.
	_, err = kc.DeleteStream(ctx, &kinesis.DeleteStreamInput{StreamName: aws.String("c")})
	wantErr[*types.ResourceInUseException](t, err, "consumers")
	if _, err := kc.DeregisterStreamConsumer(ctx, &kinesis.DeregisterStreamConsumerInput{ConsumerARN: carn}); err != nil {
		t.Fatal(err)
	}
	_, err = kc.DescribeStreamConsumer(ctx, &kinesis.DescribeStreamConsumerInput{ConsumerARN: carn})
	wantErr[*types.ResourceNotFoundException](t, err, "app")
	if _, err := kc.DeleteStream(ctx, &kinesis.DeleteStreamInput{StreamName: aws.String("c"), EnforceConsumerDeletion: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
}

func TestTransitionStates(t *testing.T) {
	// A CREATING/UPDATING window wide enough to observe on a loaded machine.
	env := servertest.Start(t, func(c *server.Config) { c.Streams.TransitionDelay = server.Duration(1500 * time.Millisecond) })
	kc := env.Kinesis(servertest.NoRetries)
	ctx := servertest.Context(t, time.Minute)
	createStream(t, kc, "slow", 2)
	d, _ := kc.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("slow")})
	if d.StreamDescriptionSummary.StreamStatus != types.StreamStatusCreating {
		t.Fatalf("status %s right after create", d.StreamDescriptionSummary.StreamStatus)
	}
	_, err := kc.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("slow"), Data: []byte("x"), PartitionKey: aws.String("k")})
	wantErr[*types.ResourceNotFoundException](t, err, "")
	// The SDK's waiter sees it become ACTIVE.
	if err := kinesis.NewStreamExistsWaiter(kc).Wait(ctx, &kinesis.DescribeStreamInput{StreamName: aws.String("slow")}, 10*time.Second, func(o *kinesis.StreamExistsWaiterOptions) {
		o.MinDelay = 50 * time.Millisecond
		o.MaxDelay = 100 * time.Millisecond
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := kc.SplitShard(ctx, &kinesis.SplitShardInput{StreamName: aws.String("slow"), ShardToSplit: aws.String("shardId-000000000000"), NewStartingHashKey: aws.String("1000")}); err != nil {
		t.Fatal(err)
	}
	// UPDATING: writes go on, a second reshard waits.
	if _, err := kc.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("slow"), Data: []byte("x"), PartitionKey: aws.String("k")}); err != nil {
		t.Fatalf("put while UPDATING: %v", err)
	}
	_, err = kc.SplitShard(ctx, &kinesis.SplitShardInput{StreamName: aws.String("slow"), ShardToSplit: aws.String("shardId-000000000001"), NewStartingHashKey: aws.String("200000000000000000000000000000000000000")})
	wantErr[*types.ResourceInUseException](t, err, "UPDATING")
}

func TestThrottlingOnProvisionedStreams(t *testing.T) {
	// A frozen clock: token buckets start full and never refill, so the
	// counts below are exact however slow the machine is.
	cfg := servertest.Config(t)
	cfg.Streams.WriteRecordsPerS = 100
	cfg.Streams.ReadCallsPerS = 5
	env := servertest.StartWithClock(t, cfg, servertest.NewClock(time.Now()))
	kc := env.Kinesis(servertest.NoRetries)
	ctx := servertest.Context(t, time.Minute)
	createStream(t, kc, "p", 1)
	entries := make([]types.PutRecordsRequestEntry, 300)
	for i := range entries {
		entries[i] = types.PutRecordsRequestEntry{Data: []byte("x"), PartitionKey: aws.String("k")}
	}
	out, err := kc.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String("p"), Records: entries})
	if err != nil {
		t.Fatal(err)
	}
	if failed := aws.ToInt32(out.FailedRecordCount); failed != 200 {
		t.Fatalf("%d of 300 records failed with 100 tokens, want 200", failed)
	}
	for _, r := range out.Records {
		if r.ErrorCode != nil && (*r.ErrorCode != "ProvisionedThroughputExceededException" || !strings.Contains(*r.ErrorMessage, "Rate exceeded for shard shardId-000000000000 in stream p")) {
			t.Fatalf("per-record error %s: %s", *r.ErrorCode, *r.ErrorMessage)
		}
	}
	_, err = kc.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("p"), Data: []byte("x"), PartitionKey: aws.String("k")})
	wantErr[*types.ProvisionedThroughputExceededException](t, err, "Rate exceeded")
	it := iterator(t, kc, "p", "shardId-000000000000", types.ShardIteratorTypeTrimHorizon, nil, nil)
	throttled := 0
	for i := 0; i < 10; i++ {
		if _, err := kc.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it}); err != nil {
			wantErr[*types.ProvisionedThroughputExceededException](t, err, "")
			throttled++
		}
	}
	if throttled != 5 {
		t.Fatalf("%d of 10 GetRecords throttled with 5 call tokens, want 5", throttled)
	}
	// On-demand streams are not limited per shard.
	_, err = kc.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String("od"), StreamModeDetails: &types.StreamModeDetails{StreamMode: types.StreamModeOnDemand}})
	if err != nil {
		t.Fatal(err)
	}
	out, err = kc.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String("od"), Records: entries})
	if err != nil || aws.ToInt32(out.FailedRecordCount) != 0 {
		t.Fatalf("on-demand PutRecords: %v, %d failed", err, aws.ToInt32(out.FailedRecordCount))
	}
}

func TestIteratorAndTokenExpiry(t *testing.T) {
	clk := servertest.NewClock(time.Now())
	cfg := servertest.Config(t)
	env := servertest.StartWithClock(t, cfg, clk)
	kc := env.Kinesis(servertest.NoRetries)
	ctx := servertest.Context(t, time.Minute)
	createStream(t, kc, "e", 3)
	it := iterator(t, kc, "e", "shardId-000000000000", types.ShardIteratorTypeTrimHorizon, nil, nil)
	page, err := kc.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String("e"), MaxResults: aws.Int32(1)})
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(4 * time.Minute)
	if _, err := kc.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it}); err != nil {
		t.Fatalf("4-minute-old iterator: %v", err)
	}
	clk.Advance(90 * time.Second)
	_, err = kc.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it})
	wantErr[*types.ExpiredIteratorException](t, err, "tolerated delay of 300000 milliseconds")
	_, err = kc.ListShards(ctx, &kinesis.ListShardsInput{NextToken: page.NextToken})
	wantErr[*types.ExpiredNextTokenException](t, err, "")
}

func TestUnknownOperation(t *testing.T) {
	env := servertest.Start(t)
	code, body := rawCall(t, env.URL, "Kinesis_20131202.FlyToTheMoon", "application/x-amz-json-1.1", []byte("{}"))
	if code != 400 || !strings.Contains(string(body), `"__type":"UnknownOperationException"`) {
		t.Fatalf("%d %s", code, body)
	}
	code, body = rawCall(t, env.URL, "Kinesis_20131202.CreateStream", "application/x-amz-json-1.1", []byte(`{"StreamName":`))
	if code != 400 || !strings.Contains(string(body), "SerializationException") {
		t.Fatalf("broken JSON: %d %s", code, body)
	}
	code, body = rawCall(t, env.URL, "Kinesis_20131202.CreateStream", "application/x-amz-json-1.1", []byte(`{"StreamName":"a","ShardCount":"one"}`))
	if code != 400 || !strings.Contains(string(body), "SerializationException") {
		t.Fatalf("wrong JSON type: %d %s", code, body)
	}
	code, _ = rawCall(t, env.URL, "Kinesis_20131202.PutRecords", "application/x-amz-json-1.1", bytes.Repeat([]byte("x"), 8<<20))
	if code != 413 {
		t.Fatalf("8 MiB body: %d, want 413", code)
	}
}

// TestRetention: on a fake clock, records older than the retention period
// go (whole segments at a time), reads from before the trim horizon start
// at it, and the byte cap holds.
func TestRetention(t *testing.T) {
	clk := servertest.NewClock(time.Now())
	cfg := servertest.Config(t)
	cfg.Streams.Throttle = false
	env := servertest.StartWithClock(t, cfg, clk)
	kc := env.Kinesis()
	ctx := servertest.Context(t, time.Minute)
	createStream(t, kc, "ret", 1)
	put := func(tag string, n int) []string {
		t.Helper()
		var seqs []string
		for i := 0; i < n; i++ {
			out, err := kc.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("ret"), Data: []byte(fmt.Sprint(tag, i)), PartitionKey: aws.String("k")})
			if err != nil {
				t.Fatal(err)
			}
			seqs = append(seqs, *out.SequenceNumber)
		}
		return seqs
	}
	old := put("old", 10)
	clk.Advance(2 * time.Hour) // the next append starts a new hourly segment
	fresh := put("fresh", 10)
	clk.Advance(23 * time.Hour) // the old records are now 25 h old, the fresh ones 23 h
	env.Server.Core().EnforceRetention()

	recs, _ := readShard(t, kc, iterator(t, kc, "ret", "shardId-000000000000", types.ShardIteratorTypeTrimHorizon, nil, nil))
	if len(recs) != 10 || *recs[0].SequenceNumber != fresh[0] {
		t.Fatalf("after retention read %d records starting %v", len(recs), recs)
	}
	// An iterator into the removed range reads from the new trim horizon.
	recs, _ = readShard(t, kc, iterator(t, kc, "ret", "shardId-000000000000", types.ShardIteratorTypeAtSequenceNumber, &old[3], nil))
	if len(recs) != 10 || *recs[0].SequenceNumber != fresh[0] {
		t.Fatalf("iterator into the trimmed range read %d records", len(recs))
	}
	// Decreasing retention trims at once.
	if _, err := kc.IncreaseStreamRetentionPeriod(ctx, &kinesis.IncreaseStreamRetentionPeriodInput{StreamName: aws.String("ret"), RetentionPeriodHours: aws.Int32(48)}); err != nil {
		t.Fatal(err)
	}
	clk.Advance(2 * time.Hour) // fresh records are 25 h old: kept at 48 h
	put("newest", 1)
	env.Server.Core().EnforceRetention()
	if recs, _ := readShard(t, kc, iterator(t, kc, "ret", "shardId-000000000000", types.ShardIteratorTypeTrimHorizon, nil, nil)); len(recs) != 11 {
		t.Fatalf("48 h retention kept %d records, want 11", len(recs))
	}
	if _, err := kc.DecreaseStreamRetentionPeriod(ctx, &kinesis.DecreaseStreamRetentionPeriodInput{StreamName: aws.String("ret"), RetentionPeriodHours: aws.Int32(24)}); err != nil {
		t.Fatal(err)
	}
	if recs, _ := readShard(t, kc, iterator(t, kc, "ret", "shardId-000000000000", types.ShardIteratorTypeTrimHorizon, nil, nil)); len(recs) != 1 || string(recs[0].Data) != "newest0" {
		t.Fatalf("after decrease to 24 h read %d records", len(recs))
	}
}

func TestRetentionByteCap(t *testing.T) {
	env := servertest.Start(t, func(c *server.Config) {
		c.Streams.Throttle = false
		c.Streams.RetentionBytes = 3 << 20
		c.Storage.SegmentSize = 1 << 20
	})
	kc := env.Kinesis()
	ctx := servertest.Context(t, time.Minute)
	createStream(t, kc, "capped", 1)
	chunk := bytes.Repeat([]byte("v"), 100<<10)
	for i := 0; i < 100; i++ { // 10 MiB through a 3 MiB cap
		entries := []types.PutRecordsRequestEntry{{Data: chunk, PartitionKey: aws.String("k")}}
		if _, err := kc.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String("capped"), Records: entries}); err != nil {
			t.Fatal(err)
		}
	}
	env.Server.Core().EnforceRetention()
	s, _ := env.Server.Core().Stream("capped")
	sh, _ := s.Shard(0)
	if size := sh.Log().Size(); size > 3<<20 || size < 1<<20 {
		t.Fatalf("log size %d after enforcing a 3 MiB cap", size)
	}
	recs, _ := readShard(t, kc, iterator(t, kc, "capped", "shardId-000000000000", types.ShardIteratorTypeTrimHorizon, nil, nil))
	if len(recs) < 10 || len(recs) > 30 || string(recs[len(recs)-1].Data) != string(chunk) {
		t.Fatalf("kept %d records under the cap", len(recs))
	}
}
