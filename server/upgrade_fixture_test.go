//go:build fixture

package server_test

// The generator of the upgrade fixture (testdata/datadir-v1 and
// testdata/datadir-v1.want.json). It is not part of the test suite: run it
// at the commit that wrote the fixture (testdata/README.md), whose Eddy is
// the one the fixture preserves:
//
//	go test -tags fixture ./server -run TestWriteFixtureV1 -v

import (
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo"

	"github.com/eddy-video/eddy/media/rtspclient"
	"github.com/eddy-video/eddy/server/servertest"
)

func TestWriteFixtureV1(t *testing.T) {
	dir, err := filepath.Abs(fixtureV1)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	cfg := servertest.Config(t)
	cfg.Data = dir
	e := servertest.StartConfig(t, cfg)
	ctx := servertest.Context(t, 2*time.Minute)
	writeFixtureStreams(ctx, t, e.Kinesis())
	writeFixtureVideo(ctx, t, e)
	if err := e.Server.Close(); err != nil {
		t.Fatal(err)
	}
	// Git keeps no empty directory: the fixture must not need one.
	_ = os.RemoveAll(filepath.Join(dir, "trash"))

	// Read it back, on a copy, as the upgrade test will.
	want := fixtureWant{Clock: time.Now().Add(time.Minute).Truncate(time.Second).UTC()}
	cfg = servertest.Config(t)
	cfg.Data = copyFixture(t, dir)
	e = servertest.StartWithClock(t, cfg, servertest.NewClock(want.Clock))
	want.View = observeFixture(ctx, t, e, want.Clock)
	checkFixtureContent(t, want.View)
	it, err := e.Kinesis().GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String(fixtureOrders),
		ShardId: aws.String("shardId-000000000001"), ShardIteratorType: ktypes.ShardIteratorTypeTrimHorizon})
	if err != nil {
		t.Fatal(err)
	}
	want.OrdersIterator = aws.ToString(it.ShardIterator)
	v := want.View.Videos[0]
	want.HLSURL = hlsOnDemandURL(ctx, t, e.ArchivedMedia(), fixtureVideo, v.Created.Add(-time.Minute), want.Clock)
	b, err := json.MarshalIndent(want, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(fixtureV1Want, append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

func writeFixtureStreams(ctx context.Context, t *testing.T, kc *kinesis.Client) {
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(kc.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String(fixtureOrders), ShardCount: aws.Int32(3)}))
	must(kc.AddTagsToStream(ctx, &kinesis.AddTagsToStreamInput{StreamName: aws.String(fixtureOrders), Tags: map[string]string{"team": "video-ops", "env": "fixture"}}))
	must(kc.IncreaseStreamRetentionPeriod(ctx, &kinesis.IncreaseStreamRetentionPeriodInput{StreamName: aws.String(fixtureOrders), RetentionPeriodHours: aws.Int32(168)}))
	must(kc.RegisterStreamConsumer(ctx, &kinesis.RegisterStreamConsumerInput{
		StreamARN: aws.String("arn:aws:kinesis:us-east-1:000000000000:stream/" + fixtureOrders), ConsumerName: aws.String("audit")}))
	putOrders := func(from, to int) {
		var entries []ktypes.PutRecordsRequestEntry
		for i := from; i < to; i++ {
			entries = append(entries, ktypes.PutRecordsRequestEntry{PartitionKey: aws.String(fmt.Sprintf("key-%d", i)), Data: []byte(fixtureOrderData(i))})
		}
		must(kc.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(fixtureOrders), Records: entries}))
	}
	putOrders(0, fixtureOrderRecords/2)
	// Split shard 0 (hash keys [0, 2^128/3)) in the middle of its range.
	mid := new(big.Int).Div(new(big.Int).Lsh(big.NewInt(1), 128), big.NewInt(6))
	must(kc.SplitShard(ctx, &kinesis.SplitShardInput{StreamName: aws.String(fixtureOrders), ShardToSplit: aws.String("shardId-000000000000"), NewStartingHashKey: aws.String(mid.String())}))
	putOrders(fixtureOrderRecords/2, fixtureOrderRecords)

	must(kc.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String(fixtureSensors), ShardCount: aws.Int32(1)}))
	for i := 0; i < fixtureSensorCount; i++ {
		must(kc.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String(fixtureSensors), PartitionKey: aws.String("s"), Data: fixtureSensorData(i)}))
	}
}

func writeFixtureVideo(ctx context.Context, t *testing.T, e *servertest.Env) {
	_, err := e.KinesisVideo().CreateStream(ctx, &kinesisvideo.CreateStreamInput{StreamName: aws.String(fixtureVideo),
		DataRetentionInHours: aws.Int32(720), DeviceName: aws.String("fixture-cam"), MediaType: aws.String("video/h264,audio/aac"),
		Tags: map[string]string{"site": "hq"}})
	if err != nil {
		t.Fatal(err)
	}
	p := &rtspclient.FilePublisher{URL: e.RTSPURL(fixtureVideo), File: testClip, Duration: 6 * time.Second}
	if err := p.Run(ctx); err != nil {
		t.Fatal(err)
	}
	// The last fragment is durable a moment after the publisher leaves.
	am := e.ArchivedMedia()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if len(listAllTB(ctx, t, am, fixtureVideo, time.Now().Add(-time.Hour), time.Now())) >= 3 {
			break
		}
	}
	_, err = e.Kinesis().PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String(fixtureVideo + ".events"),
		PartitionKey: aws.String("app"), Data: []byte(`{"type":"motion","zone":"door"}`)})
	if err != nil {
		t.Fatal(err)
	}
}
