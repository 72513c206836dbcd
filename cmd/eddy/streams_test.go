package main

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo"
)

// TestChoresStreams creates, lists, changes the retention of and deletes
// a video stream and a data stream with `eddy streams`, and checks each
// step with the SDKs.
func TestChoresStreams(t *testing.T) {
	for _, m := range choresModes(t) {
		t.Run(m.name, func(t *testing.T) {
			ce := m.ce
			ctx := context.Background()
			mustContain(t, "streams create", ce.ok(t, "streams", "create", "cam1", "--retention", "48h"),
				"created video stream cam1 (retention 2 d; events in cam1.events)")
			var created streamRow
			ce.okJSON(t, &created, "streams", "create", "detections", "--kind", "data", "--shards", "2", "--retention", "3d")
			if created.Kind != kindData || created.Name != "detections" || aws.ToInt32(created.Shards) != 2 || created.RetentionHours != 72 || created.Mode != "PROVISIONED" {
				t.Errorf("streams create --json: %+v", created)
			}

			out := ce.ok(t, "streams", "ls")
			mustContain(t, "streams ls", out, "KIND", "video", "data", "(1 event stream NAME.events not shown; --all lists them)", "2 shards, PROVISIONED")
			checkAligned(t, out, "NAME", "cam1", "detections")
			checkAligned(t, out, "RETENTION", "2 d", "3 d")
			if strings.Contains(out, "cam1.events ") {
				t.Errorf("streams ls lists the event stream:\n%s", out)
			}
			var rows []streamRow
			ce.okJSON(t, &rows, "streams", "ls", "--all")
			kinds := map[string]string{}
			for _, r := range rows {
				kinds[r.Name] = r.Kind
			}
			if len(rows) != 3 || kinds["cam1"] != kindVideo || kinds["cam1.events"] != kindEvents || kinds["detections"] != kindData {
				t.Errorf("streams ls --all --json: %+v", rows)
			}
			ce.okJSON(t, &rows, "streams", "ls", "--kind", "video")
			if len(rows) != 1 || rows[0].Name != "cam1" || rows[0].RetentionHours != 48 || rows[0].ARN == "" {
				t.Errorf("streams ls --kind video --json: %+v", rows)
			}

			mustContain(t, "streams retention", ce.ok(t, "streams", "retention", "cam1"), "cam1: retention 2 d (48 h)")
			var ret struct {
				RetentionHours, PreviousRetentionHours int64
			}
			ce.okJSON(t, &ret, "streams", "retention", "cam1", "30d")
			if ret.RetentionHours != 720 || ret.PreviousRetentionHours != 48 {
				t.Errorf("streams retention cam1 30d --json: %+v", ret)
			}
			mustContain(t, "streams retention", ce.ok(t, "streams", "retention", "cam1", "24h"), "cam1: retention 30 d → 24 h")
			mustContain(t, "streams retention", ce.ok(t, "streams", "retention", "detections", "48h"), "detections: retention 3 d → 2 d")
			kvs := ce.KinesisVideo(withCredentials(ce))
			d, err := kvs.DescribeStream(ctx, &kinesisvideo.DescribeStreamInput{StreamName: aws.String("cam1")})
			if err != nil || aws.ToInt32(d.StreamInfo.DataRetentionInHours) != 24 {
				t.Errorf("DescribeStream cam1 after the changes: %v %v", err, d)
			}
			kds := ce.Kinesis(withKDSCredentials(ce))
			ds, err := kds.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("detections")})
			if err != nil || aws.ToInt32(ds.StreamDescriptionSummary.RetentionPeriodHours) != 48 {
				t.Errorf("DescribeStreamSummary detections after the changes: %v %v", err, ds)
			}

			ce.fails(t, "ResourceInUseException: ", "streams", "create", "cam1")
			ce.fails(t, "ResourceInUseException: ", "streams", "rm", "cam1.events")
			ce.fails(t, "ResourceNotFoundException: Stream nope ", "streams", "rm", "nope")
			ce.fails(t, "InvalidArgumentException: ", "streams", "retention", "detections", "1h")

			mustContain(t, "streams rm", ce.ok(t, "streams", "rm", "detections"), "deleted data stream detections")
			var del struct {
				Kind    string
				Deleted bool
			}
			ce.okJSON(t, &del, "streams", "rm", "cam1")
			if del.Kind != kindVideo || !del.Deleted {
				t.Errorf("streams rm cam1 --json: %+v", del)
			}
			out = ce.ok(t, "streams", "ls", "--json")
			if strings.TrimSpace(out) != "[]" {
				t.Errorf("streams ls --json after deleting everything: %s", out)
			}
			if _, err := kvs.DescribeStream(ctx, &kinesisvideo.DescribeStreamInput{StreamName: aws.String("cam1")}); err == nil {
				t.Error("cam1 is still there after streams rm")
			}
		})
	}
}

// withCredentials signs the SDK's Kinesis Video calls as the chores do.
func withCredentials(ce *choresEnv) func(*kinesisvideo.Options) {
	return func(o *kinesisvideo.Options) {
		if ce.auth {
			o.Credentials = credentials.NewStaticCredentialsProvider(ce.env["AWS_ACCESS_KEY_ID"], ce.env["AWS_SECRET_ACCESS_KEY"], "")
		}
	}
}

func withKDSCredentials(ce *choresEnv) func(*kinesis.Options) {
	return func(o *kinesis.Options) {
		if ce.auth {
			o.Credentials = credentials.NewStaticCredentialsProvider(ce.env["AWS_ACCESS_KEY_ID"], ce.env["AWS_SECRET_ACCESS_KEY"], "")
		}
	}
}
