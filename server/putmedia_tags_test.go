package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/eddy-video/eddy/fragments/kvsapi"
	"github.com/eddy-video/eddy/fragments/mkv"
	"github.com/eddy-video/eddy/media/mediatest"
	"github.com/eddy-video/eddy/server/servertest"
)

// TestPutMediaTags: the user tags of an uploaded fragment (SimpleTags
// before its Cluster, not AWS_*) become one "metadata" event in the
// stream's event stream once the fragment is stored, naming its fragment
// number, at its producer time, with the tags in upload order; a fragment
// without user tags makes none.
func TestPutMediaTags(t *testing.T) {
	mediatest.RequireTool(t, "ffmpeg")
	e := servertest.Start(t)
	ctx := servertest.Context(t, 60*time.Second)
	const stream = "pm-tags"
	createVideoStream(ctx, t, e.KinesisVideo(), stream)
	src := clipFragments(t, 6)
	src[1] = cloneFragment(src[1])
	tags := []mkv.Tag{{Name: "plate", Value: "AB-123"}, {Name: "AWS_KINESISVIDEO_NOTIFICATION", Value: ""}, {Name: "lane", Value: "2"}}
	src[1].PreTags = tags
	base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	body := writeDocs(t, src)
	s, err := putMedia(ctx, t, e.URL, pmRequest{stream: stream, timecode: "RELATIVE", start: unixSeconds(base)}, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	acks := s.Wait(t, 30*time.Second)
	clusters := uploadedClusters(t, body)
	number := ""
	for _, a := range acks {
		if a.EventType == "PERSISTED" && *a.FragmentTimecode == clusters[1].TimecodeMs {
			number = a.FragmentNumber
		}
	}
	if number == "" {
		t.Fatalf("the tagged cluster was not PERSISTED: %v", acks)
	}
	var got []kvsapi.MetadataEvent
	mediatest.WaitFor(t, "the metadata event", func() bool {
		got = got[:0]
		for _, rec := range eventsOf(ctx, t, e.Kinesis(), stream) {
			var ev kvsapi.MetadataEvent
			if json.Unmarshal(rec, &ev) == nil && ev.Type == "metadata" {
				got = append(got, ev)
			}
		}
		return len(got) > 0
	})
	if len(got) != 1 {
		t.Fatalf("%d metadata events, want 1: %+v", len(got), got)
	}
	ev := got[0]
	wantTags := []kvsapi.MetadataTag{{Name: "plate", Value: "AB-123"}, {Name: "lane", Value: "2"}}
	start := base.Add(clusters[1].Timecode + clusters[1].VideoStart)
	evTime, err := time.Parse(time.RFC3339Nano, ev.Time)
	if err != nil || ev.Attributes.FragmentNumber != number || !slices.Equal(ev.Attributes.Tags, wantTags) ||
		evTime.Sub(start).Abs() > time.Millisecond || ev.Duration < 1.9 || ev.Duration > 2.1 {
		t.Fatalf("metadata event %+v; want fragment %s at %v for about 2 s with tags %v", ev, number, start.UTC(), wantTags)
	}
}

// eventsOf reads every record of a stream's event stream.
func eventsOf(ctx context.Context, t *testing.T, kc *kinesis.Client, stream string) [][]byte {
	t.Helper()
	it, err := kc.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String(stream + ".events"),
		ShardId: aws.String("shardId-000000000000"), ShardIteratorType: ktypes.ShardIteratorTypeTrimHorizon})
	if err != nil {
		t.Fatal(err)
	}
	out, err := kc.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it.ShardIterator})
	if err != nil {
		t.Fatal(err)
	}
	var recs [][]byte
	for _, r := range out.Records {
		recs = append(recs, r.Data)
	}
	return recs
}
