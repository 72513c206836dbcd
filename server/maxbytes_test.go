package server_test

import (
	"errors"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo"
	kvtypes "github.com/aws/aws-sdk-go-v2/service/kinesisvideo/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideoarchivedmedia"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideoarchivedmedia/types"

	"github.com/eddy-video/eddy/fragments"
	"github.com/eddy-video/eddy/media/mediatest"
	"github.com/eddy-video/eddy/server/servertest"
)

// TestStreamMaxBytes: a stream created with the eddy:max-bytes tag through
// the AWS SDK keeps at most that many bytes of fragments however much is
// uploaded (PutMedia, faster than real time), the newest kept; TagStream
// lowers the cap at once; bad values are refused with
// InvalidArgumentException and write nothing; UntagStream removes it.
func TestStreamMaxBytes(t *testing.T) {
	mediatest.RequireTool(t, "ffmpeg")
	t.Parallel()
	e := servertest.Start(t)
	ctx := servertest.Context(t, 2*time.Minute)
	kv, am := e.KinesisVideo(), e.ArchivedMedia()
	const stream, capBytes = "capped", 2 << 20
	if _, err := kv.CreateStream(ctx, &kinesisvideo.CreateStreamInput{StreamName: aws.String(stream), DataRetentionInHours: aws.Int32(24),
		Tags: map[string]string{fragments.MaxBytesTag: strconv.Itoa(capBytes)}}); err != nil {
		t.Fatal(err)
	}
	if got := e.Server.Videos().MaxBytes(stream); got != capBytes {
		t.Fatalf("MaxBytes = %d, want %d", got, capBytes)
	}

	// 100 s of the 306 kb/s test clip: 3.8 MB, uploaded at once.
	cmd := exec.CommandContext(ctx, "ffmpeg", "-v", "error", "-stream_loop", "4", "-i", testClip, "-c", "copy",
		"-cluster_time_limit", "10000", "-cluster_size_limit", "50000000", "-f", "matroska", "pipe:1")
	body, _ := runProducer(ctx, t, cmd)
	s, err := putMedia(ctx, t, e.URL, pmRequest{stream: stream, timecode: "RELATIVE"}, body)
	if err != nil {
		t.Fatal(err)
	}
	var persisted []string
	for _, a := range s.Wait(t, time.Minute) {
		if a.EventType == "PERSISTED" {
			persisted = append(persisted, a.FragmentNumber)
		}
	}
	if len(persisted) < 40 {
		t.Fatalf("%d fragments persisted, want 50", len(persisted))
	}
	sizes := func() (total int64, numbers []string) {
		frags := listAll(ctx, t, am, stream, types.FragmentSelectorTypeServerTimestamp, time.Now().Add(-time.Hour), time.Now().Add(time.Minute))
		for _, f := range frags {
			total += f.FragmentSizeInBytes
			numbers = append(numbers, *f.FragmentNumber)
		}
		return total, numbers
	}
	total, numbers := sizes()
	if total > capBytes || total < capBytes/2 {
		t.Errorf("the stream lists %d bytes of fragments, cap %d", total, capBytes)
	}
	if numbers[len(numbers)-1] != persisted[len(persisted)-1] || numbers[0] == persisted[0] {
		t.Errorf("listed fragments %s…%s, persisted %s…%s: want the newest kept, the oldest gone",
			numbers[0], numbers[len(numbers)-1], persisted[0], persisted[len(persisted)-1])
	}
	// The deletions count as retention's.
	if trimmed := metric(t, e, "eddy_retention_trimmed_bytes_total"); trimmed < 3<<20-capBytes {
		t.Errorf("eddy_retention_trimmed_bytes_total = %.0f after the cap deleted over 1 MB", trimmed)
	}
	// What is listed can be read.
	mkv, err := am.GetMediaForFragmentList(ctx, &kinesisvideoarchivedmedia.GetMediaForFragmentListInput{StreamName: aws.String(stream), Fragments: numbers[:2]})
	if err != nil {
		t.Fatal(err)
	}
	mkv.Payload.Close()

	// TagStream lowers the cap at once; the segment being written (a
	// quarter of the old cap) is the one thing that may stay above it.
	if _, err := kv.TagStream(ctx, &kinesisvideo.TagStreamInput{StreamName: aws.String(stream),
		Tags: map[string]string{fragments.MaxBytesTag: strconv.Itoa(1 << 20)}}); err != nil {
		t.Fatal(err)
	}
	if total, _ := sizes(); total > 1<<20+capBytes/4 {
		t.Errorf("after TagStream to 1 MiB the stream lists %d bytes", total)
	}

	// Bad values: InvalidArgumentException naming the tag, nothing written.
	for _, v := range []string{"abc", "0", "-5", "1000", "2.5e6", "10GiB"} {
		_, err := kv.TagStream(ctx, &kinesisvideo.TagStreamInput{StreamName: aws.String(stream), Tags: map[string]string{fragments.MaxBytesTag: v, "site": "x"}})
		var iae *kvtypes.InvalidArgumentException
		if !errors.As(err, &iae) || !strings.Contains(iae.ErrorMessage(), fragments.MaxBytesTag) {
			t.Errorf("TagStream %q: %v, want InvalidArgumentException naming the tag", v, err)
		}
		_, err = kv.CreateStream(ctx, &kinesisvideo.CreateStreamInput{StreamName: aws.String("bad-cap"), DataRetentionInHours: aws.Int32(24),
			Tags: map[string]string{fragments.MaxBytesTag: v}})
		if !errors.As(err, &iae) {
			t.Errorf("CreateStream with %q: %v, want InvalidArgumentException", v, err)
		}
	}
	tags, err := kv.ListTagsForStream(ctx, &kinesisvideo.ListTagsForStreamInput{StreamName: aws.String(stream)})
	if err != nil {
		t.Fatal(err)
	}
	if tags.Tags["site"] != "" || tags.Tags[fragments.MaxBytesTag] != strconv.Itoa(1<<20) {
		t.Errorf("refused TagStreams changed the tags: %v", tags.Tags)
	}
	list, err := kv.ListStreams(ctx, &kinesisvideo.ListStreamsInput{})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range list.StreamInfoList {
		if *s.StreamName == "bad-cap" {
			t.Error("a refused CreateStream created its stream")
		}
	}

	if _, err := kv.UntagStream(ctx, &kinesisvideo.UntagStreamInput{StreamName: aws.String(stream), TagKeyList: []string{fragments.MaxBytesTag}}); err != nil {
		t.Fatal(err)
	}
	if got := e.Server.Videos().MaxBytes(stream); got != 0 {
		t.Errorf("after UntagStream MaxBytes = %d", got)
	}
}
