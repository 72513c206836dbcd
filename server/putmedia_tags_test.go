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
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideoarchivedmedia/types"

	"github.com/eddy-video/eddy/fragments/archive"
	"github.com/eddy-video/eddy/fragments/mkv"
	"github.com/eddy-video/eddy/media/mediatest"
	"github.com/eddy-video/eddy/server/servertest"
)

// TestPutMediaTags: the user tags of an uploaded cluster (SimpleTags
// before it, not AWS_*) become one "metadata" event in the stream's event
// stream, written before the cluster is published (so already there when
// its PERSISTED arrives), at the stored fragment's producer time (which
// is how readers match it to its fragment: no fragment number), with the
// tags in upload order; a cluster without user tags makes none.
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
	// No waiting: the event was written before the fragment existed.
	var got []archive.MetadataEvent
	for _, rec := range eventsOf(ctx, t, e.Kinesis(), stream) {
		var ev archive.MetadataEvent
		if json.Unmarshal(rec, &ev) == nil && ev.Type == "metadata" {
			got = append(got, ev)
		}
	}
	if len(got) != 1 {
		t.Fatalf("%d metadata events when the tagged cluster was PERSISTED, want 1: %+v", len(got), got)
	}
	ev := got[0]
	wantTags := []archive.MetadataTag{{Name: "plate", Value: "AB-123"}, {Name: "lane", Value: "2"}}
	start := base.Add(clusters[1].Timecode + clusters[1].VideoStart)
	evTime, err := time.Parse(time.RFC3339Nano, ev.Time)
	if err != nil || ev.Attributes.FragmentNumber != "" || !slices.Equal(ev.Attributes.Tags, wantTags) ||
		evTime.Sub(start).Abs() > time.Millisecond || ev.Duration < 1.9 || ev.Duration > 2.1 {
		t.Fatalf("metadata event %+v; want no fragment number, time %v, about 2 s, tags %v", ev, start.UTC(), wantTags)
	}
	// The fragment it matches: the one stored at that producer time.
	frags := waitFragments(ctx, t, e.ArchivedMedia(), stream, types.FragmentSelectorTypeServerTimestamp, time.Now().Add(-time.Hour), len(clusters), 5*time.Second)
	var matched []string
	for _, f := range frags {
		if f.ProducerTimestamp.Sub(evTime).Abs() <= time.Millisecond {
			matched = append(matched, *f.FragmentNumber)
		}
	}
	if !slices.Equal(matched, []string{number}) {
		t.Fatalf("the event's time matches fragments %v, want the tagged one %s only", matched, number)
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
