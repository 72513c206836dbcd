package server_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo"

	"github.com/eddy-video/eddy/fragments"
	"github.com/eddy-video/eddy/media/rtspclient"
	"github.com/eddy-video/eddy/server"
	"github.com/eddy-video/eddy/server/servertest"
)

// browserArtifacts is the directory a browser test keeps its screenshots
// and console logs in when it fails: $EDDY_ARTIFACTS/<test> (CI keeps that
// directory), else a directory of its own under the system's temporary
// directory (a test's t.TempDir is removed with it).
func browserArtifacts(t *testing.T) string {
	t.Helper()
	name := strings.ReplaceAll(t.Name(), "/", "_")
	if dir := os.Getenv("EDDY_ARTIFACTS"); dir != "" {
		return filepath.Join(dir, name)
	}
	dir, err := os.MkdirTemp("", "eddy-"+name+"-")
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// runConsoleTest runs web/test/console.mjs with env and fails with where
// its screenshots are.
func runConsoleTest(ctx context.Context, t *testing.T, env ...string) {
	t.Helper()
	node, chromium := needBrowser(t)
	if _, err := os.Stat("../web/node_modules/axe-core/axe.min.js"); err != nil {
		t.Skip("console test: web/node_modules has no axe-core: run npm ci --prefix web") // needBrowser already failed in CI
	}
	dir := browserArtifacts(t)
	cmd := exec.CommandContext(ctx, node, "test/console.mjs")
	cmd.Dir = "../web"
	cmd.Env = append(append(os.Environ(), env...), "CHROMIUM="+chromium, "ARTIFACTS="+dir)
	out, err := cmd.CombinedOutput()
	t.Logf("browser test output:\n%s", out)
	if err != nil {
		t.Fatalf("browser test test/console.mjs: %v; screenshots and console logs in %s", err, dir)
	}
	if os.Getenv("EDDY_ARTIFACTS") == "" {
		_ = os.RemoveAll(dir) // nothing was kept
	}
}

// TestWebConsole drives the console in headless Chromium at desktop and
// phone sizes (web/test/console.mjs): the camera wall with a live, an
// offline (with a long name) and an empty stream and one fed by a pull
// source that cannot connect, and events on the live stream (its tile
// counts them); the list view; focus kept across refreshes; creating a
// stream, changing its retention and size cap and deleting another
// through the UI; the status page; dark mode and an axe-core pass on every
// page. What the UI changed is then read back with the SDK.
func TestWebConsole(t *testing.T) {
	needBrowser(t)
	t.Parallel()
	const (
		live    = "cam"
		offline = "old-garage-camera-by-the-back-door-north-side"
		empty   = "empty-lobby"
		doomed  = "to-delete"
		created = "made-in-the-ui"
		source  = "pulled-cam"
	)
	e := servertest.Start(t, func(c *server.Config) {
		// Nothing listens on port 1: the source keeps retrying, with its error.
		c.Video.Sources = []server.SourceConfig{{Stream: source, URL: "rtsp://127.0.0.1:1/nothing"}}
	})
	ctx := servertest.Context(t, 4*time.Minute)
	kv := e.KinesisVideo()
	for _, n := range []string{empty, doomed} {
		if _, err := kv.CreateStream(ctx, &kinesisvideo.CreateStreamInput{StreamName: aws.String(n), DataRetentionInHours: aws.Int32(24)}); err != nil {
			t.Fatal(err)
		}
	}
	// The offline stream records 4 s, then its publisher stops.
	_, _, done := publish(ctx, e.RTSPURL(offline), 4*time.Second, "tcp")
	if err := <-done; err != nil {
		t.Fatalf("publish %s: %v", offline, err)
	}
	pubCtx, stop := context.WithCancel(ctx)
	// The live stream loops its file: it stays live for the whole test.
	liveDone := make(chan error, 1)
	go func() {
		p := &rtspclient.FilePublisher{URL: e.RTSPURL(live), File: testClip, Loop: true, Transport: "tcp"}
		liveDone <- p.Run(pubCtx)
	}()
	defer func() { stop(); stopped(t, liveDone) }()
	waitLive(t, e, live)
	waitStates(ctx, t, e, map[string]string{live: "live", offline: "offline", empty: "empty"})

	// Events on the live stream, for its tile's "events today" count.
	const events = 3
	evs := make([]uiEvent, events)
	now := time.Now()
	for i := range evs {
		evs[i] = uiEvent{Type: "detection", Label: "person", Score: 0.9,
			Time: now.Add(time.Duration(i-events) * time.Second).UTC().Format(time.RFC3339Nano)}
	}
	if err := putUIEvents(ctx, e.Kinesis(), live, evs); err != nil {
		t.Fatal(err)
	}
	waitEventsToday(ctx, t, e, live, events)

	runConsoleTest(ctx, t, "EDDY_URL="+e.URL, "EDDY_LIVE="+live, "EDDY_OFFLINE="+offline, "EDDY_EMPTY="+empty,
		"EDDY_CREATE="+created, "EDDY_DELETE="+doomed, "EDDY_SOURCE="+source, "EDDY_EVENTS="+strconv.Itoa(events))

	// What the UI did, as an SDK sees it.
	d, err := kv.DescribeStream(ctx, &kinesisvideo.DescribeStreamInput{StreamName: aws.String(created)})
	if err != nil {
		t.Fatalf("DescribeStream %s: %v", created, err)
	}
	if got := aws.ToInt32(d.StreamInfo.DataRetentionInHours); got != 5 {
		t.Errorf("%s retention: %d h, want 5 (created with 2 days, then decreased in the UI)", created, got)
	}
	tags, err := kv.ListTagsForStream(ctx, &kinesisvideo.ListTagsForStreamInput{StreamName: aws.String(created)})
	if err != nil {
		t.Fatal(err)
	}
	if got := tags.Tags["eddy:max-bytes"]; got != "3000000000" {
		t.Errorf("%s tags %v: eddy:max-bytes %q, want 3000000000 (created with 1.5 GB, then 3 GB in the UI)", created, tags.Tags, got)
	}
	ls, err := kv.ListStreams(ctx, &kinesisvideo.ListStreamsInput{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range ls.StreamInfoList {
		names = append(names, aws.ToString(s.StreamName))
	}
	if slices.Contains(names, doomed) || !slices.Contains(names, created) {
		t.Errorf("ListStreams after the UI's create and delete: %v", names)
	}
}

// TestWebConsoleAuth: with credentials, the login page passes axe at both
// sizes; an identity without CreateStream and eddy:admin sees no create
// button and no status link, a sentence on the status page and the 403 of
// a management page; an admin sees the status page.
func TestWebConsoleAuth(t *testing.T) {
	needBrowser(t)
	t.Parallel()
	e := servertest.Start(t, withAuth)
	ctx := servertest.Context(t, 2*time.Minute)
	if _, err := e.Server.Videos().CreateStream("cam-lobby", fragments.CreateOptions{RetentionHours: 1}); err != nil {
		t.Fatal(err)
	}
	runConsoleTest(ctx, t, "EDDY_URL="+e.URL, "EDDY_AUTH="+viewKey+":"+viewSecret+","+adminKey+":"+adminSecret)
}

// waitEventsToday waits until GET /api/v1/streams counts want events today
// (the last 24 h) on stream: the timeline reads the events stream a little
// after PutRecords.
func waitEventsToday(ctx context.Context, t *testing.T, e *servertest.Env, stream string, want int) {
	t.Helper()
	got := -1
	for ctx.Err() == nil {
		_, _, body := httpGet(t, e.URL+"/api/v1/streams")
		var rows []struct {
			Name        string
			EventsToday int
		}
		if err := json.Unmarshal([]byte(body), &rows); err != nil {
			t.Fatalf("streams: %v: %s", err, body)
		}
		for _, r := range rows {
			if r.Name == stream {
				got = r.EventsToday
			}
		}
		if got == want {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s: %d events today, want %d", stream, got, want)
}

// waitStates waits until GET /api/v1/streams gives each stream its state.
func waitStates(ctx context.Context, t *testing.T, e *servertest.Env, want map[string]string) {
	t.Helper()
	var got map[string]string
	for ctx.Err() == nil {
		_, _, body := httpGet(t, e.URL+"/api/v1/streams")
		var rows []struct{ Name, State string }
		if err := json.Unmarshal([]byte(body), &rows); err != nil {
			t.Fatalf("streams: %v: %s", err, body)
		}
		got = map[string]string{}
		for _, r := range rows {
			got[r.Name] = r.State
		}
		ok := true
		for n, s := range want {
			ok = ok && got[n] == s
		}
		if ok {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("stream states %v, want %v", got, want)
}
