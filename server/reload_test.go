package server_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo"

	"github.com/eddy-video/eddy/media/mediatest"
	"github.com/eddy-video/eddy/media/rtspclient"
	"github.com/eddy-video/eddy/server"
	"github.com/eddy-video/eddy/server/servertest"
)

// TestReloadSources adds, changes and removes pull sources on a running
// server (they pull from publications on the server itself): a source
// added or removed leaves the other sources, the publishers and their
// viewers alone; a removed source's stream stays.
func TestReloadSources(t *testing.T) {
	t.Parallel()
	e := servertest.Start(t)
	pubA, pubB := startPublisher(t, e.RTSPURL("origin-a"), nil), startPublisher(t, e.RTSPURL("origin-b"), nil)
	hasHub := func(name string) func() bool {
		return func() bool { _, ok := e.Server.Registry().Hub(name); return ok }
	}
	mediatest.WaitFor(t, "the publications", func() bool { return hasHub("origin-a")() && hasHub("origin-b")() })

	res := reload(t, e, func(c *server.Config) {
		c.Video.Sources = []server.SourceConfig{{Stream: "pull-a", URL: e.RTSPURL("origin-a")}}
	})
	wantChange(t, res, "video.sources[pull-a]: added")
	mediatest.WaitFor(t, "the pull of pull-a", hasHub("pull-a"))
	viewA := startReader(t, e.RTSPURL("pull-a"), nil)
	viewB := startReader(t, e.RTSPURL("origin-b"), nil)
	viewA.watching(t, "pull-a before the second source")
	hubA, _ := e.Server.Registry().Hub("pull-a")

	// A second source: the first pull, the publishers and their viewers go on.
	res = reload(t, e, func(c *server.Config) {
		c.Video.Sources = append(c.Video.Sources, server.SourceConfig{Stream: "pull-b", URL: e.RTSPURL("origin-b")})
	})
	if len(res.Applied) != 1 {
		t.Fatalf("adding pull-b changed %q", res.Applied)
	}
	mediatest.WaitFor(t, "the pull of pull-b", hasHub("pull-b"))
	viewPullB := startReader(t, e.RTSPURL("pull-b"), nil)
	viewPullB.watching(t, "pull-b")
	viewA.watching(t, "pull-a after pull-b was added")
	viewB.watching(t, "origin-b after pull-b was added")
	if h, _ := e.Server.Registry().Hub("pull-a"); h != hubA {
		t.Fatal("adding pull-b restarted the pull of pull-a")
	}
	pubA.running(t, "origin-a")
	pubB.running(t, "origin-b")
	if v, err := e.Server.Videos().Describe("pull-b"); err != nil || v.DeviceName != "rtsp-source" {
		t.Fatalf("pull-b's stream: %+v %v", v, err)
	}

	// Removing pull-a stops its pull (its viewer's session ends); its
	// stream stays, and the rest goes on.
	res = reload(t, e, func(c *server.Config) { c.Video.Sources = c.Video.Sources[1:] })
	wantChange(t, res, "video.sources[pull-a]: removed")
	viewA.ended(t, "pull-a's viewer after its source was removed")
	if hasHub("pull-a")() {
		t.Fatal("pull-a is still published after its source was removed")
	}
	if _, err := e.Server.Videos().Describe("pull-a"); err != nil {
		t.Fatalf("pull-a's stream went with its source: %v", err)
	}
	viewPullB.watching(t, "pull-b after pull-a was removed")
	viewB.watching(t, "origin-b after pull-a was removed")
	pubA.running(t, "origin-a after pull-a was removed")

	// A changed URL restarts that source only.
	hubB, _ := e.Server.Registry().Hub("pull-b")
	res = reload(t, e, func(c *server.Config) { c.Video.Sources[0].URL = e.RTSPURL("origin-a") })
	wantChange(t, res, "video.sources[pull-b]: restarted, pulling rtsp://")
	mediatest.WaitFor(t, "pull-b pulling again", func() bool { h, ok := e.Server.Registry().Hub("pull-b"); return ok && h != hubB })
	viewB.watching(t, "origin-b after pull-b moved")
	startReader(t, e.RTSPURL("pull-b"), nil).watching(t, "pull-b from its new URL")

	// The same configuration again changes nothing.
	if res := reload(t, e, func(*server.Config) {}); len(res.Applied)+len(res.Restart) != 0 {
		t.Fatalf("an unchanged configuration changed %q, needs a restart for %q", res.Applied, res.Restart)
	}
}

// TestReloadRetention changes retention while a viewer watches the
// source whose retention changes, without interrupting it: a source's own
// (DescribeStream shows it), the default one (sources without their own
// follow it, and streams created from now on get it), a source's size
// cap, and the size cap of every stream, which the janitor applies.
func TestReloadRetention(t *testing.T) {
	t.Parallel()
	e := servertest.Start(t, func(c *server.Config) {
		c.Storage.JanitorInterval = server.Duration(50 * time.Millisecond)
		c.Storage.SegmentSize = 1 << 20
		c.Streams.Throttle = false
	})
	ctx := servertest.Context(t, time.Minute)
	kv := e.KinesisVideo()
	retention := func(name string) int32 {
		t.Helper()
		out, err := kv.DescribeStream(ctx, &kinesisvideo.DescribeStreamInput{StreamName: aws.String(name)})
		if err != nil {
			t.Fatalf("DescribeStream %s: %v", name, err)
		}
		return aws.ToInt32(out.StreamInfo.DataRetentionInHours)
	}
	hours := func(h int) *server.Duration { d := server.Duration(time.Duration(h) * time.Hour); return &d }
	// cam-own pulls from a publication on the server itself; nothing
	// listens where cam-default pulls from: it retries, and its stream
	// exists.
	pub := startPublisher(t, e.RTSPURL("origin"), nil)
	waitHub(t, e, "origin")
	nowhere := "rtsp://127.0.0.1:1/none"
	reload(t, e, func(c *server.Config) {
		c.Video.Sources = []server.SourceConfig{{Stream: "cam-own", URL: e.RTSPURL("origin"), Retention: hours(48)}, {Stream: "cam-default", URL: nowhere}}
	})
	if got := retention("cam-own"); got != 48 {
		t.Fatalf("cam-own retention %d, want 48", got)
	}
	waitHub(t, e, "cam-own")
	viewer := startReader(t, e.RTSPURL("cam-own"), nil)
	viewer.watching(t, "cam-own before the retention changes")
	res := reload(t, e, func(c *server.Config) { c.Video.Sources[0].Retention = hours(72) })
	wantChange(t, res, "video.sources[cam-own]: retention 72h (was 48h)")
	if got := retention("cam-own"); got != 72 {
		t.Fatalf("cam-own retention after the reload %d, want 72", got)
	}
	viewer.watching(t, "cam-own after its retention changed")

	res = reload(t, e, func(c *server.Config) { c.Video.DefaultRetention = server.Duration(96 * time.Hour) })
	wantChange(t, res, "video.default_retention: 96h0m0s (was 24h0m0s)")
	wantChange(t, res, "video.sources[cam-default]: retention 96h (was 24h)")
	if got, own := retention("cam-default"), retention("cam-own"); got != 96 || own != 72 {
		t.Fatalf("retention of cam-default %d (want 96, the new default), of cam-own %d (want 72, its own)", got, own)
	}
	err := (&rtspclient.FilePublisher{URL: e.RTSPURL("auto-new"), File: testClip, Duration: 500 * time.Millisecond}).Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := retention("auto-new"); got != 96 {
		t.Fatalf("a stream created after the reload has retention %d, want the new default 96", got)
	}

	res = reload(t, e, func(c *server.Config) { c.Video.Sources[0].RetentionBytes = 5 << 30 })
	wantChange(t, res, "video.sources[cam-own]: retention_bytes 5GiB (was 0)")
	if v, _ := e.Server.Videos().Describe("cam-own"); v.RetentionBytes != 5<<30 {
		t.Fatalf("cam-own's size cap %d, want 5GiB", v.RetentionBytes)
	}
	viewer.watching(t, "cam-own after its size cap changed")

	// streams.retention_bytes: a 4 MiB data stream is cut to its last
	// segments by the janitor.
	kc := e.Kinesis()
	createStream(t, kc, "big", 1)
	servertest.WaitStreamActive(t, kc, "big")
	chunk := make([]byte, 256<<10)
	for i := range 16 {
		chunk[0] = byte(i)
		if _, err := kc.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("big"), PartitionKey: aws.String("k"), Data: chunk}); err != nil {
			t.Fatal(err)
		}
	}
	count := func() int {
		recs, _ := readShard(t, kc, iterator(t, kc, "big", "shardId-000000000000", types.ShardIteratorTypeTrimHorizon, nil, nil))
		return len(recs)
	}
	if n := count(); n != 16 {
		t.Fatalf("%d records before the cap, want 16", n)
	}
	res = reload(t, e, func(c *server.Config) { c.Streams.RetentionBytes = 1 << 20 })
	wantChange(t, res, "streams.retention_bytes: 1MiB (was 0)")
	mediatest.WaitFor(t, "the janitor applying the new cap", func() bool { return count() <= 8 })
	viewer.watching(t, "cam-own after streams.retention_bytes changed")
	pub.running(t, "after the retention changes")
}

// TestReloadNeedsRestart: settings that cannot change live are named and
// kept as they run, and the rest of the reload applies.
func TestReloadNeedsRestart(t *testing.T) {
	t.Parallel()
	e := servertest.Start(t)
	cfg := e.Server.RunningConfig()
	next := cfg
	next.HTTP = "127.0.0.1:1"
	next.Storage.Sync = "interval"
	next.WebRTCOptions.MaxSessions = 7
	next.LogLevel = "debug" // the test server has no LogLevel to set
	next.Auth.Credentials = []server.CredentialConfig{{AccessKeyID: "AKIDNEW", SecretAccessKey: "s", Allow: []server.AllowConfig{{Actions: []string{"*"}, Streams: []string{"*"}}}}}
	next.Video.DefaultRetention = server.Duration(48 * time.Hour)
	next.Storage.MinFree = server.FreeSpace{Percent: 7} // a value, not a section
	next.Limits.WriteTimeout = server.Duration(time.Minute)
	next.Metrics.PerStream = !cfg.Metrics.PerStream
	res, err := e.Server.Reload(next)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"auth.credentials (turning authentication on or off)", "log_level", "http", "limits.write_timeout",
		"storage.sync", "storage.min_free", "webrtc_options.max_sessions", "metrics.per_stream"}
	if strings.Join(res.Restart, "|") != strings.Join(want, "|") {
		t.Fatalf("needs a restart: %q, want %q", res.Restart, want)
	}
	wantChange(t, res, "video.default_retention: 48h0m0s")
	run := e.Server.RunningConfig()
	if run.HTTP != cfg.HTTP || len(run.Auth.Credentials) != 0 || run.Video.DefaultRetention != next.Video.DefaultRetention {
		t.Fatalf("running after the reload: http %s, %d credentials, default retention %s", run.HTTP, len(run.Auth.Credentials), run.Video.DefaultRetention)
	}
	if code, _ := healthz(t, e.URL); code != http.StatusOK {
		t.Fatalf("healthz %d after the reload", code)
	}
}
