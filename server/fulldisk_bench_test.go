package server_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideoarchivedmedia"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideoarchivedmedia/types"

	"github.com/eddy-video/eddy/datastreams/datastreamstest"
	"github.com/eddy-video/eddy/media/mediatest"
	"github.com/eddy-video/eddy/media/rtspclient"
	"github.com/eddy-video/eddy/server"
	"github.com/eddy-video/eddy/server/servertest"
)

// BenchmarkFullDiskRecovery measures the full-disk recovery time: with a
// camera that reconnects whenever its publication ends (100 ms later),
// the data directory's tmpfs is filled (the floor off) until the
// recording fails, then the space is given back; recovery is the time
// from then to the first new fragment persisted (listed). Each op is one
// fill-and-recover cycle; the figure is s/recovery (mean).
//
//	go test ./server -run '^$' -bench FullDiskRecovery -benchtime 3x
func BenchmarkFullDiskRecovery(b *testing.B) {
	mediatest.RequireTool(b, "ffmpeg", "ffprobe")
	dir := datastreamstest.Tmpfs(b, 64<<20)
	cfg := servertest.Config(b)
	cfg.Data = filepath.Join(dir, "data")
	cfg.Storage.SegmentSize = 1 << 20
	cfg.Storage.MinFree = server.FreeSpace{}
	e := servertest.StartConfig(b, cfg)
	ctx := servertest.Context(b, 10*time.Minute)
	go func() { // a camera: reconnects 100 ms after its publication ends
		for ctx.Err() == nil {
			_ = (&rtspclient.FilePublisher{URL: e.RTSPURL("cam"), File: testClip, Loop: true}).Run(ctx)
			time.Sleep(100 * time.Millisecond)
		}
	}()
	if !waitFor(10*time.Second, func() bool { _, ok := e.Server.Registry().Hub("cam"); return ok }) {
		b.Fatal("the camera never went live")
	}
	am := e.ArchivedMedia()
	since := time.Now().Add(-time.Minute)
	count := func() int { return countFragments(ctx, b, am, "cam", since) }
	filler := filepath.Join(dir, "filler")
	var total time.Duration
	b.ResetTimer()
	for range b.N {
		if n := count(); !waitFor(30*time.Second, func() bool { return count() > n }) {
			b.Fatal("no fragment recorded before the fill")
		}
		datastreamstest.Fill(b, filler, 0)
		// Recording has failed once the publication the fill found ended.
		stalled := count()
		time.Sleep(3 * time.Second)
		if count() != stalled {
			b.Fatal("fragments persisted on a full disk")
		}
		if err := os.Remove(filler); err != nil {
			b.Fatal(err)
		}
		back := time.Now()
		if !waitFor(30*time.Second, func() bool { return count() > stalled }) {
			b.Fatal("no new fragment 30 s after space returned")
		}
		total += time.Since(back)
	}
	b.ReportMetric(total.Seconds()/float64(b.N), "s/recovery")
}

// countFragments counts the fragments of stream since from.
func countFragments(ctx context.Context, tb testing.TB, am *kinesisvideoarchivedmedia.Client, stream string, from time.Time) int {
	tb.Helper()
	to := time.Now()
	p := kinesisvideoarchivedmedia.NewListFragmentsPaginator(am, &kinesisvideoarchivedmedia.ListFragmentsInput{
		StreamName: aws.String(stream),
		FragmentSelector: &types.FragmentSelector{FragmentSelectorType: types.FragmentSelectorTypeServerTimestamp,
			TimestampRange: &types.TimestampRange{StartTimestamp: &from, EndTimestamp: &to}},
	})
	n := 0
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			tb.Fatal(err)
		}
		n += len(page.Fragments)
	}
	return n
}
