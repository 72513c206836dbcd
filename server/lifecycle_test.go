package server_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo"
	kvtypes "github.com/aws/aws-sdk-go-v2/service/kinesisvideo/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideoarchivedmedia/types"
	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	pion "github.com/pion/webrtc/v4"

	"github.com/eddy-video/eddy/media/mediatest"
	"github.com/eddy-video/eddy/server/servertest"
)

// liveCamera publishes synthetic H.264 (mediatest.H264AU, a GOP of 0.4 s) to
// an RTSP URL with gortsplib, paced at 25 fps.
type liveCamera struct {
	c     *gortsplib.Client
	media *description.Media
	ended chan error // the session's end (c.Wait), once
}

func startCamera(u string) (*liveCamera, error) {
	f := &format.H264{PayloadTyp: 96, PacketizationMode: 1, SPS: mediatest.H264SPS, PPS: mediatest.H264PPS}
	m := &description.Media{Type: description.MediaTypeVideo, Formats: []format.Format{f}}
	tcp := gortsplib.TransportTCP
	c := &gortsplib.Client{Transport: &tcp}
	if err := c.StartRecording(u, &description.Session{Medias: []*description.Media{m}}); err != nil {
		return nil, err
	}
	cam := &liveCamera{c: c, media: m, ended: make(chan error, 1)}
	go func() { cam.ended <- c.Wait() }()
	return cam, nil
}

// send publishes frames [0, n) (n < 0: until the session ends or ctx
// does); it returns the session's end, or nil if it is still open.
func (cam *liveCamera) send(ctx context.Context, n int) error {
	enc, err := cam.media.Formats[0].(*format.H264).CreateEncoder()
	if err != nil {
		return err
	}
	start := time.Now()
	for i := 0; n < 0 || i < n; i++ {
		at := start.Add(time.Duration(i) * 40 * time.Millisecond)
		select {
		case err := <-cam.ended:
			return err
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Until(at)):
		}
		pkts, err := enc.Encode(mediatest.H264AU(i))
		if err != nil {
			return err
		}
		for _, p := range pkts {
			p.Timestamp += uint32(i * mediatest.VideoTicks)
			if err := cam.c.WritePacketRTPWithNTP(cam.media, p, at); err != nil {
				return err
			}
		}
	}
	return nil
}

// TestDeleteLiveStream: deleting a video stream of the longest name while a
// camera publishes to it ends the publication (the camera's RTSP session
// closes, nothing of the name stays live); the name created again, the
// camera reconnects and records, and what it recorded is there after a
// restart; a delete after the restart leaves nothing.
func TestDeleteLiveStream(t *testing.T) {
	t.Parallel()
	cfg := servertest.Config(t)
	e := servertest.StartConfig(t, cfg)
	ctx := servertest.Context(t, 2*time.Minute)
	name := strings.Repeat("c", 256)
	kv := e.KinesisVideo()
	create := func() {
		t.Helper()
		if _, err := kv.CreateStream(ctx, &kinesisvideo.CreateStreamInput{StreamName: aws.String(name), DataRetentionInHours: aws.Int32(24)}); err != nil {
			t.Fatal(err)
		}
	}
	create()
	start := time.Now()
	cam, err := startCamera(e.RTSPURL(name))
	if err != nil {
		t.Fatal(err)
	}
	defer cam.c.Close()
	sent := make(chan error, 1)
	go func() { sent <- cam.send(ctx, -1) }()
	if frags := waitFragments(ctx, t, e.ArchivedMedia(), name, types.FragmentSelectorTypeServerTimestamp, start, 2, 10*time.Second); len(frags) < 2 {
		t.Fatalf("%d fragments recorded before the delete, want 2", len(frags))
	}

	if _, err := kv.DeleteStream(ctx, &kinesisvideo.DeleteStreamInput{StreamARN: describeARN(ctx, t, kv, name)}); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-sent:
		if err == nil || errors.Is(err, context.Canceled) {
			t.Fatalf("the camera's session: %v, want it closed by the server", err)
		}
		t.Logf("the camera was told: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("the camera still publishes 10 s after its stream was deleted")
	}
	if _, live := e.Server.Registry().Hub(name); live {
		t.Fatal("the deleted stream is still live")
	}

	// The name again, and the camera reconnects.
	create()
	again := time.Now().Truncate(time.Millisecond) // the API's timestamps are milliseconds
	cam2, err := startCamera(e.RTSPURL(name))
	if err != nil {
		t.Fatal(err)
	}
	if err := cam2.send(ctx, 3*mediatest.GOP); err != nil {
		t.Fatalf("the reconnected camera: %v", err)
	}
	cam2.c.Close()
	// 3 GOPs: 3 fragments, the last flushed when the camera leaves.
	frags := waitFragments(ctx, t, e.ArchivedMedia(), name, types.FragmentSelectorTypeServerTimestamp, start, 3, 10*time.Second)
	if len(frags) != 3 {
		t.Fatalf("%d fragments recorded after the reconnect, want 3", len(frags))
	}
	for _, f := range frags {
		if f.ServerTimestamp.Before(again) {
			t.Fatalf("a fragment of the deleted stream (%v) is listed in the new one", f.ServerTimestamp)
		}
	}

	// Across a restart, then deleted for good.
	e.Server.Close()
	e = servertest.StartConfig(t, cfg)
	kv = e.KinesisVideo()
	if got := listAll(ctx, t, e.ArchivedMedia(), name, types.FragmentSelectorTypeServerTimestamp, start, time.Now()); len(got) != len(frags) {
		t.Fatalf("%d fragments after a restart, want %d", len(got), len(frags))
	}
	if _, err := kv.DeleteStream(ctx, &kinesisvideo.DeleteStreamInput{StreamARN: describeARN(ctx, t, kv, name)}); err != nil {
		t.Fatal(err)
	}
	e.Server.Close()
	e = servertest.StartConfig(t, cfg)
	if _, err := e.KinesisVideo().DescribeStream(ctx, &kinesisvideo.DescribeStreamInput{StreamName: aws.String(name)}); !isNotFound(err) {
		t.Fatalf("DescribeStream after delete and restart: %v", err)
	}
	if n := len(e.Server.Core().Streams()); n != 0 {
		t.Fatalf("%d streams left (the event stream?)", n)
	}
}

func describeARN(ctx context.Context, t *testing.T, kv *kinesisvideo.Client, name string) *string {
	t.Helper()
	d, err := kv.DescribeStream(ctx, &kinesisvideo.DescribeStreamInput{StreamName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	return d.StreamInfo.StreamARN
}

func isNotFound(err error) bool {
	var nf *kvtypes.ResourceNotFoundException
	return errors.As(err, &nf)
}

// TestDataStreamLongestName: a Kinesis data stream of the longest name
// the API allows works end to end, across a restart.
func TestDataStreamLongestName(t *testing.T) {
	t.Parallel()
	cfg := servertest.Config(t)
	e := servertest.StartConfig(t, cfg)
	ctx := servertest.Context(t, time.Minute)
	name := aws.String(strings.Repeat("d", 128))
	k := e.Kinesis()
	if _, err := k.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: name, ShardCount: aws.Int32(2)}); err != nil {
		t.Fatal(err)
	}
	if _, err := k.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: name, PartitionKey: aws.String("k"), Data: []byte("kept")}); err != nil {
		t.Fatal(err)
	}
	e.Server.Close()
	e = servertest.StartConfig(t, cfg)
	k = e.Kinesis()
	var got []string
	for _, shard := range []string{"shardId-000000000000", "shardId-000000000001"} {
		it, err := k.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: name, ShardId: aws.String(shard), ShardIteratorType: ktypes.ShardIteratorTypeTrimHorizon})
		if err != nil {
			t.Fatal(err)
		}
		out, err := k.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it.ShardIterator})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range out.Records {
			got = append(got, string(r.Data))
		}
	}
	if len(got) != 1 || got[0] != "kept" {
		t.Fatalf("after a restart: records %q", got)
	}
	if _, err := k.DeleteStream(ctx, &kinesis.DeleteStreamInput{StreamName: name}); err != nil {
		t.Fatal(err)
	}
	e.Server.Close()
	e = servertest.StartConfig(t, cfg)
	var nf *ktypes.ResourceNotFoundException
	if _, err := e.Kinesis().DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: name}); !errors.As(err, &nf) {
		t.Fatalf("after delete and restart: %v", err)
	}
}

// TestDeleteLiveWHIPStream: deleting a stream published over WHIP ends the
// WHIP session and the sessions of its WHEP viewers.
func TestDeleteLiveWHIPStream(t *testing.T) {
	t.Parallel()
	e := servertest.Start(t) // video.auto_create: the publication makes the stream
	ctx := servertest.Context(t, time.Minute)
	_, done, _ := whipPublisher(ctx, t, e.URL+"/webrtc/door/whip", 20*time.Second)
	waitLive(t, e, "door")
	v, err := newWHEPViewer(ctx, t, e.URL+"/webrtc/door/whep")
	if err != nil {
		t.Fatal(err)
	}
	v.first(t, 5*time.Second)
	kv := e.KinesisVideo()
	if _, err := kv.DeleteStream(ctx, &kinesisvideo.DeleteStreamInput{StreamARN: describeARN(ctx, t, kv, "door")}); err != nil {
		t.Fatal(err)
	}
	waitPeers(t, e, 0, 10*time.Second)
	if w, p := e.Server.WebRTC().Sessions(); w+p != 0 {
		t.Errorf("%d WHEP and %d WHIP sessions left after the delete", w, p)
	}
	v.waitState(t, 10*time.Second, pion.PeerConnectionStateClosed, pion.PeerConnectionStateFailed, pion.PeerConnectionStateDisconnected)
	select {
	case err := <-done:
		t.Fatalf("the WHIP publisher stopped on its own: %v", err)
	default:
	}
}
