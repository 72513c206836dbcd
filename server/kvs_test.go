package server_test

import (
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo/types"
	"github.com/aws/smithy-go"

	"github.com/eddy-video/eddy/server/servertest"
)

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func TestKVSControlPlane(t *testing.T) {
	e := servertest.Start(t)
	kv := e.KinesisVideo()
	ctx := servertest.Context(t, time.Minute)

	out, err := kv.CreateStream(ctx, &kinesisvideo.CreateStreamInput{
		StreamName: aws.String("cam1"), DataRetentionInHours: aws.Int32(2), MediaType: aws.String("video/h264,audio/aac"),
		DeviceName: aws.String("door"), Tags: map[string]string{"site": "hq"},
	})
	if err != nil {
		t.Fatal(err)
	}
	d, err := kv.DescribeStream(ctx, &kinesisvideo.DescribeStreamInput{StreamName: aws.String("cam1")})
	if err != nil {
		t.Fatal(err)
	}
	si := d.StreamInfo
	if *si.StreamARN != *out.StreamARN || *si.DeviceName != "door" || *si.MediaType != "video/h264,audio/aac" ||
		*si.DataRetentionInHours != 2 || si.Status != types.StatusActive || len(*si.Version) != 20 || si.CreationTime.IsZero() {
		t.Fatalf("describe: %+v", si)
	}
	// By ARN too.
	if _, err := kv.DescribeStream(ctx, &kinesisvideo.DescribeStreamInput{StreamARN: out.StreamARN}); err != nil {
		t.Fatal(err)
	}

	t.Run("errors", func(t *testing.T) {
		cases := []struct {
			name string
			call func() error
			code string
		}{
			{"duplicate", func() error {
				_, err := kv.CreateStream(ctx, &kinesisvideo.CreateStreamInput{StreamName: aws.String("cam1")})
				return err
			}, "ResourceInUseException"},
			{"reserved suffix", func() error {
				_, err := kv.CreateStream(ctx, &kinesisvideo.CreateStreamInput{StreamName: aws.String("x.events")})
				return err
			}, "InvalidArgumentException"},
			{"retention too long", func() error {
				_, err := kv.CreateStream(ctx, &kinesisvideo.CreateStreamInput{StreamName: aws.String("long"), DataRetentionInHours: aws.Int32(87601)})
				return err
			}, "InvalidArgumentException"},
			{"unknown stream", func() error {
				_, err := kv.DescribeStream(ctx, &kinesisvideo.DescribeStreamInput{StreamName: aws.String("nope")})
				return err
			}, "ResourceNotFoundException"},
			{"version mismatch", func() error {
				_, err := kv.UpdateStream(ctx, &kinesisvideo.UpdateStreamInput{StreamName: aws.String("cam1"), CurrentVersion: aws.String("stale"), DeviceName: aws.String("x")})
				return err
			}, "VersionMismatchException"},
			{"retention below zero", func() error {
				_, err := kv.UpdateDataRetention(ctx, &kinesisvideo.UpdateDataRetentionInput{StreamName: aws.String("cam1"), CurrentVersion: si.Version,
					Operation: types.UpdateDataRetentionOperationDecreaseDataRetention, DataRetentionChangeInHours: aws.Int32(3)})
				return err
			}, "InvalidArgumentException"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				if got := apiCode(c.call()); got != c.code {
					t.Fatalf("error code %q, want %q", got, c.code)
				}
			})
		}
	})

	// UpdateStream and UpdateDataRetention bump the version.
	if _, err := kv.UpdateStream(ctx, &kinesisvideo.UpdateStreamInput{StreamName: aws.String("cam1"), CurrentVersion: si.Version, DeviceName: aws.String("gate")}); err != nil {
		t.Fatal(err)
	}
	d2, _ := kv.DescribeStream(ctx, &kinesisvideo.DescribeStreamInput{StreamName: aws.String("cam1")})
	if *d2.StreamInfo.DeviceName != "gate" || *d2.StreamInfo.Version == *si.Version {
		t.Fatalf("after update: %+v", d2.StreamInfo)
	}
	if _, err := kv.UpdateDataRetention(ctx, &kinesisvideo.UpdateDataRetentionInput{StreamName: aws.String("cam1"), CurrentVersion: d2.StreamInfo.Version,
		Operation: types.UpdateDataRetentionOperationIncreaseDataRetention, DataRetentionChangeInHours: aws.Int32(87598)}); err != nil {
		t.Fatal(err)
	}
	d3, _ := kv.DescribeStream(ctx, &kinesisvideo.DescribeStreamInput{StreamName: aws.String("cam1")})
	if *d3.StreamInfo.DataRetentionInHours != 87600 {
		t.Fatalf("retention = %d, want 87600", *d3.StreamInfo.DataRetentionInHours)
	}
	if _, err := kv.UpdateDataRetention(ctx, &kinesisvideo.UpdateDataRetentionInput{StreamName: aws.String("cam1"), CurrentVersion: d3.StreamInfo.Version,
		Operation: types.UpdateDataRetentionOperationDecreaseDataRetention, DataRetentionChangeInHours: aws.Int32(87599)}); err != nil {
		t.Fatal(err)
	}

	// GetDataEndpoint answers Eddy's own URL for every API.
	for _, api := range []types.APIName{types.APINameGetClip, types.APINameListFragments, types.APINameGetHlsStreamingSessionUrl, types.APINamePutMedia} {
		ep, err := kv.GetDataEndpoint(ctx, &kinesisvideo.GetDataEndpointInput{StreamName: aws.String("cam1"), APIName: api})
		if err != nil {
			t.Fatal(err)
		}
		if *ep.DataEndpoint != e.URL {
			t.Fatalf("%s endpoint %q, want %q", api, *ep.DataEndpoint, e.URL)
		}
	}

	// Tags.
	if _, err := kv.TagStream(ctx, &kinesisvideo.TagStreamInput{StreamName: aws.String("cam1"), Tags: map[string]string{"floor": "2"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := kv.UntagStream(ctx, &kinesisvideo.UntagStreamInput{StreamName: aws.String("cam1"), TagKeyList: []string{"site"}}); err != nil {
		t.Fatal(err)
	}
	tags, err := kv.ListTagsForStream(ctx, &kinesisvideo.ListTagsForStreamInput{StreamName: aws.String("cam1")})
	if err != nil {
		t.Fatal(err)
	}
	if len(tags.Tags) != 1 || tags.Tags["floor"] != "2" {
		t.Fatalf("tags = %v", tags.Tags)
	}

	// Listing: paging and the name condition.
	for _, n := range []string{"cam2", "cam3", "lobby"} {
		if _, err := kv.CreateStream(ctx, &kinesisvideo.CreateStreamInput{StreamName: aws.String(n), DataRetentionInHours: aws.Int32(1)}); err != nil {
			t.Fatal(err)
		}
	}
	var names []string
	p := kinesisvideo.NewListStreamsPaginator(kv, &kinesisvideo.ListStreamsInput{MaxResults: aws.Int32(2),
		StreamNameCondition: &types.StreamNameCondition{ComparisonOperator: types.ComparisonOperatorBeginsWith, ComparisonValue: aws.String("cam")}})
	pages := 0
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, s := range page.StreamInfoList {
			names = append(names, *s.StreamName)
		}
	}
	if len(names) != 3 || names[0] != "cam1" || names[2] != "cam3" || pages != 2 {
		t.Fatalf("listed %v in %d pages", names, pages)
	}

	// The event stream is a Kinesis data stream; it belongs to the video
	// stream, and the video stream's log is not a data stream.
	k := e.Kinesis()
	if _, err := k.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("cam1.events")}); err != nil {
		t.Fatalf("event stream: %v", err)
	}
	if _, err := k.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("cam1")}); apiCode(err) != "ResourceNotFoundException" {
		t.Fatalf("video log visible as a data stream: %v", err)
	}
	if _, err := k.DeleteStream(ctx, &kinesis.DeleteStreamInput{StreamName: aws.String("cam1.events")}); apiCode(err) != "ResourceInUseException" {
		t.Fatalf("deleting an event stream directly: %v", err)
	}
	if _, err := k.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String("mine.events"), ShardCount: aws.Int32(1)}); apiCode(err) != "InvalidArgumentException" {
		t.Fatalf("creating a data stream with the reserved suffix: %v", err)
	}
	ls, err := k.ListStreams(ctx, &kinesis.ListStreamsInput{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range ls.StreamNames {
		if n == "cam1" {
			t.Fatal("ListStreams lists a video stream's log")
		}
	}
	if _, err := k.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("cam1.events"), PartitionKey: aws.String("det"), Data: []byte(`{"person":1}`)}); err != nil {
		t.Fatalf("user event: %v", err)
	}

	// DeleteStream: a stale version is refused; then the stream and its
	// event stream are gone.
	if _, err := kv.DeleteStream(ctx, &kinesisvideo.DeleteStreamInput{StreamARN: out.StreamARN, CurrentVersion: aws.String("stale")}); apiCode(err) != "VersionMismatchException" {
		t.Fatalf("delete with stale version: %v", err)
	}
	if _, err := kv.DeleteStream(ctx, &kinesisvideo.DeleteStreamInput{StreamARN: out.StreamARN}); err != nil {
		t.Fatal(err)
	}
	if _, err := kv.DescribeStream(ctx, &kinesisvideo.DescribeStreamInput{StreamName: aws.String("cam1")}); apiCode(err) != "ResourceNotFoundException" {
		t.Fatalf("after delete: %v", err)
	}
	var nf *ktypes.ResourceNotFoundException
	if _, err := k.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("cam1.events")}); !errors.As(err, &nf) {
		t.Fatalf("event stream after delete: %v", err)
	}
	// The name is free again.
	if _, err := kv.CreateStream(ctx, &kinesisvideo.CreateStreamInput{StreamName: aws.String("cam1")}); err != nil {
		t.Fatal(err)
	}
}
