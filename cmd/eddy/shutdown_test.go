package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideoarchivedmedia"
	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/pion/rtp"

	"github.com/eddy-video/eddy/cmd/eddy/bench"
	"github.com/eddy-video/eddy/fragments/mkv"
	"github.com/eddy-video/eddy/media/mediatest"
	"github.com/eddy-video/eddy/server/servertest"
)

// TestShutdownFinishesFragment publishes to a real `eddy serve`, sends
// SIGTERM in the middle of a GOP, restarts the server on the same data
// directory and checks that the last fragment holds exactly the frames
// of that GOP sent before the signal: the fragment in progress is cut and
// persisted on a graceful stop, not lost.
func TestShutdownFinishesFragment(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the real binary; skipped with -short")
	}
	const (
		gops    = 2 // whole GOPs before the one cut by the signal
		partial = 7 // frames of the last GOP sent before the signal
	)
	bin, dir := crashBuildBinary(t), t.TempDir()
	srv := crashVideoStart(t, bin, dir, t.Logf)
	ctx := servertest.Context(t, time.Minute)

	pub, err := newH264Publisher("rtsp://" + srv.RTSP() + "/shutcam")
	if err != nil {
		t.Fatal(err)
	}
	defer pub.c.Close()
	frames := gops*mediatest.GOP + partial
	start := time.Now()
	for i := range frames {
		if err := pub.write(i, start); err != nil {
			t.Fatal(err)
		}
	}
	// The publisher stays connected: the signal comes mid-GOP, once the
	// server has had time to take in what was sent (the whole GOPs before
	// are listed by then).
	am := crashVideoClient(srv.URL())
	mediatest.WaitFor(t, "the whole GOPs to be listed", func() bool {
		f, err := bench.ListFragments(ctx, am, "shutcam", start.Add(-time.Minute), time.Now().Add(time.Minute))
		return err == nil && len(f) == gops
	})
	time.Sleep(300 * time.Millisecond)
	if err := srv.Stop(t.Logf); err != nil {
		t.Fatalf("eddy serve exited with %v after SIGTERM:\n%s", err, srv.Tail(30))
	}

	srv = crashVideoStart(t, bin, dir, t.Logf)
	defer func() { _ = srv.Stop(t.Logf) }()
	am = crashVideoClient(srv.URL())
	list, err := bench.ListFragments(ctx, am, "shutcam", start.Add(-time.Minute), time.Now().Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != gops+1 {
		t.Fatalf("after the restart %d fragments are listed; want the %d whole GOPs and the one cut by SIGTERM\n%s", len(list), gops, srv.Tail(30))
	}
	last := list[len(list)-1]
	got := fragmentFrames(t, ctx, am, aws.ToString(last.FragmentNumber))
	want := make([]int, partial)
	for i := range want {
		want[i] = gops*mediatest.GOP + i
	}
	if !slices.Equal(got, want) {
		t.Fatalf("the fragment cut by SIGTERM holds frames %v; want %v", got, want)
	}
	if ms := last.FragmentLengthInMilliseconds; ms != partial*40 {
		t.Errorf("the fragment cut by SIGTERM lasts %d ms; want %d (%d frames at 25 fps)", ms, partial*40, partial)
	}
	t.Logf("the fragment in progress at SIGTERM was persisted: frames %d-%d, %d ms", want[0], want[len(want)-1], last.FragmentLengthInMilliseconds)
}

// h264Publisher publishes the synthetic H.264 of mediatest over RTSP
// (TCP), one numbered frame at a time.
type h264Publisher struct {
	c      *gortsplib.Client
	media  *description.Media
	encode func([][]byte) ([]*rtp.Packet, error)
}

func newH264Publisher(url string) (*h264Publisher, error) {
	f := &format.H264{PayloadTyp: 96, PacketizationMode: 1, SPS: mediatest.H264SPS, PPS: mediatest.H264PPS}
	enc, err := f.CreateEncoder()
	if err != nil {
		return nil, err
	}
	m := &description.Media{Type: description.MediaTypeVideo, Formats: []format.Format{f}}
	tcp := gortsplib.TransportTCP
	c := &gortsplib.Client{Transport: &tcp}
	if err := c.StartRecording(url, &description.Session{Medias: []*description.Media{m}}); err != nil {
		return nil, err
	}
	return &h264Publisher{c: c, media: m, encode: enc.Encode}, nil
}

// write sends frame i at 25 fps from start (the producer's clock).
func (p *h264Publisher) write(i int, start time.Time) error {
	pkts, err := p.encode(mediatest.H264AU(i))
	if err != nil {
		return err
	}
	for _, pkt := range pkts {
		pkt.Timestamp += uint32(i * mediatest.VideoTicks)
		if err := p.c.WritePacketRTPWithNTP(p.media, pkt, start.Add(time.Duration(i)*40*time.Millisecond)); err != nil {
			return err
		}
	}
	return nil
}

// fragmentFrames returns the numbers of the synthetic frames a stored
// fragment holds, read back with GetMediaForFragmentList (MKV).
func fragmentFrames(t *testing.T, ctx context.Context, am *kinesisvideoarchivedmedia.Client, number string) []int {
	t.Helper()
	out, err := am.GetMediaForFragmentList(ctx, &kinesisvideoarchivedmedia.GetMediaForFragmentListInput{
		StreamName: aws.String("shutcam"), Fragments: []string{number}})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Payload.Close()
	body, err := io.ReadAll(out.Payload)
	if err != nil {
		t.Fatal(err)
	}
	var got []int
	r := mkv.NewReader(bytes.NewReader(body))
	for {
		f, err := r.Next()
		if errors.Is(err, io.EOF) {
			return got
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, fr := range f.Frames {
			got = append(got, lastNALNumber(fr.Data))
		}
	}
}

// lastNALNumber is the number of the last NAL unit of an AVC sample
// (4-byte lengths).
func lastNALNumber(b []byte) int {
	n := -1
	for len(b) >= 4 {
		l := int(binary.BigEndian.Uint32(b))
		if l > len(b)-4 {
			break
		}
		n = mediatest.NumberOf(b[4:4+l], 2)
		b = b[4+l:]
	}
	return n
}
