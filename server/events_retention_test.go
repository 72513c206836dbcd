package server_test

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo"
	kvtypes "github.com/aws/aws-sdk-go-v2/service/kinesisvideo/types"

	"github.com/eddy-video/eddy/server/servertest"
)

// TestEventStreamFollowsVideo: a video stream's event stream keeps the
// video's retention (1 hour to 10 years, not Kinesis Data Streams' 24 h to
// 1 year), follows UpdateDataRetention, refuses the Kinesis API's own
// retention, mode and shard changes (a second shard would hold events the
// timeline does not index), and goes with the video stream.
func TestEventStreamFollowsVideo(t *testing.T) {
	e := servertest.Start(t)
	ctx := servertest.Context(t, time.Minute)
	kv, kc := e.KinesisVideo(), e.Kinesis()
	retention := func(name string) int32 {
		t.Helper()
		out, err := kc.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(name)})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToInt32(out.StreamDescriptionSummary.RetentionPeriodHours)
	}
	for _, c := range []struct {
		name  string
		hours int32
	}{{"short", 1}, {"decade", 87600}} {
		if _, err := kv.CreateStream(ctx, &kinesisvideo.CreateStreamInput{StreamName: aws.String(c.name), DataRetentionInHours: aws.Int32(c.hours)}); err != nil {
			t.Fatal(err)
		}
		if got := retention(c.name + ".events"); got != c.hours {
			t.Errorf("%s.events retention %d hours, want %d", c.name, got, c.hours)
		}
	}
	d, err := kv.DescribeStream(ctx, &kinesisvideo.DescribeStreamInput{StreamName: aws.String("short")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.UpdateDataRetention(ctx, &kinesisvideo.UpdateDataRetentionInput{StreamName: aws.String("short"), CurrentVersion: d.StreamInfo.Version,
		Operation: kvtypes.UpdateDataRetentionOperationIncreaseDataRetention, DataRetentionChangeInHours: aws.Int32(47)}); err != nil {
		t.Fatal(err)
	}
	if got := retention("short.events"); got != 48 {
		t.Errorf("after +47 h: short.events retention %d hours, want 48", got)
	}
	_, err = kc.IncreaseStreamRetentionPeriod(ctx, &kinesis.IncreaseStreamRetentionPeriodInput{StreamName: aws.String("short.events"), RetentionPeriodHours: aws.Int32(100)})
	wantAPIError(t, "IncreaseStreamRetentionPeriod of an event stream", err, "InvalidArgumentException", "the video stream's retention")
	_, err = kc.UpdateShardCount(ctx, &kinesis.UpdateShardCountInput{StreamName: aws.String("short.events"), TargetShardCount: aws.Int32(2), ScalingType: ktypes.ScalingTypeUniformScaling})
	wantAPIError(t, "UpdateShardCount of an event stream", err, "InvalidArgumentException", "keeps one shard")
	sum, err := kc.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("short.events")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = kc.UpdateStreamMode(ctx, &kinesis.UpdateStreamModeInput{StreamARN: sum.StreamDescriptionSummary.StreamARN,
		StreamModeDetails: &ktypes.StreamModeDetails{StreamMode: ktypes.StreamModeProvisioned}})
	wantAPIError(t, "UpdateStreamMode of an event stream (the way to SplitShard)", err, "InvalidArgumentException", "keeps one shard")
	_, err = kc.SplitShard(ctx, &kinesis.SplitShardInput{StreamName: aws.String("short.events"), ShardToSplit: aws.String("shardId-000000000000"),
		NewStartingHashKey: aws.String("170141183460469231731687303715884105728")})
	wantAPIError(t, "SplitShard of an event stream", err, "InvalidArgumentException", "keeps one shard")
	if got := retention("short.events"); got != 48 {
		t.Errorf("after the refused change: %d hours", got)
	}
	if _, err := kv.DeleteStream(ctx, &kinesisvideo.DeleteStreamInput{StreamARN: d.StreamInfo.StreamARN}); err != nil {
		t.Fatal(err)
	}
	_, err = kc.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("short.events")})
	wantAPIError(t, "the deleted video stream's event stream", err, "ResourceNotFoundException", "short.events")
}
