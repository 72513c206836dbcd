package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/eddy-video/eddy/media/mediatest"
	"github.com/eddy-video/eddy/media/rtspclient"
	"github.com/eddy-video/eddy/server/servertest"
)

// TestFollowCamera runs the example against a real server while a camera
// publishes over RTSP and detections are written with PutRecords: it
// prints the fragment notices and the detections in the order written,
// and saves a playable clip of the person (only), once its video is
// stored.
func TestFollowCamera(t *testing.T) {
	mediatest.RequireTool(t, "ffprobe")
	e := servertest.Start(t)
	ctx := servertest.Context(t, time.Minute)
	pubCtx, stopPub := context.WithCancel(ctx)
	defer stopPub()
	pub := &rtspclient.FilePublisher{URL: e.RTSPURL("cam"), File: filepath.Join("..", "..", "testdata", "cam-h264-aac.mp4"), Loop: true}
	pubDone := make(chan error, 1)
	go func() { pubDone <- pub.Run(pubCtx) }()

	k := e.Kinesis()
	put := func(data string) string {
		t.Helper()
		for {
			out, err := k.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("cam.events"), PartitionKey: aws.String("det"), Data: []byte(data)})
			if err == nil {
				return *out.SequenceNumber
			}
			if ctx.Err() != nil {
				t.Fatal(err)
			}
			time.Sleep(100 * time.Millisecond) // the first publication creates the stream
		}
	}
	// The stream exists once a record goes in; then follow it from the start.
	put("hello, not an event")
	clips := t.TempDir()
	out := &servertest.SyncBuffer{}
	runCtx, stopRun := context.WithCancel(ctx)
	runDone := make(chan error, 1)
	go func() {
		runDone <- run(runCtx, options{Endpoint: e.URL, Region: "us-east-1", Stream: "cam", From: "trim_horizon", Label: "person",
			ClipDir: clips, Pad: time.Second, Poll: 100 * time.Millisecond, Credentials: servertest.Credentials}, out)
	}()

	time.Sleep(3 * time.Second) // some video first
	at := time.Now().Add(-time.Second).UTC().Truncate(time.Millisecond)
	person := put(fmt.Sprintf(`{"type":"detection","time":%q,"duration":1,"label":"person","score":0.9,"box":[0.1,0.1,0.2,0.5]}`, at.Format(time.RFC3339Nano)))
	car := put(fmt.Sprintf(`{"type":"detection","time":%q,"label":"car","score":0.7}`, at.Format(time.RFC3339Nano)))

	// The clip of [at-1s, at+2s] is fetched after the notice of the
	// fragment that reaches at+2s.
	clipLine := regexp.MustCompile(`(?m)^clip (\S+)  (\d+) bytes`)
	deadline := time.Now().Add(20 * time.Second)
	for !clipLine.MatchString(out.String()) && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	stopRun()
	if err := <-runDone; !errors.Is(err, context.Canceled) {
		t.Errorf("run: %v", err)
	}
	stopPub()
	if err := <-pubDone; err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("publisher: %v", err)
	}
	text := out.String()
	t.Logf("output:\n%s", text)

	m := clipLine.FindStringSubmatch(text)
	if m == nil {
		t.Fatal("no clip saved")
	}
	if strings.Count(text, "\nclip ") != 1 {
		t.Errorf("%d clips saved, want the person's only", strings.Count(text, "\nclip "))
	}
	if !strings.Contains(m[1], person) {
		t.Errorf("the clip %s is not the person's (%s)", m[1], person)
	}
	data, err := os.ReadFile(m[1])
	if n, _ := strconv.Atoi(m[2]); err != nil || len(data) != n || n == 0 {
		t.Fatalf("clip file: %d bytes, printed %s: %v", len(data), m[2], err)
	}
	probe := mediatest.FFprobeJSON(t, data, "-show_format")
	dur, _ := strconv.ParseFloat(probe["format"].(map[string]any)["duration"].(string), 64)
	if dur < 2 || dur > 6 { // 3 s, ± a GOP each side
		t.Errorf("the clip of 3 s lasts %.2f s", dur)
	}

	// In order: the record that is not an event, fragment notices, the
	// person and the car, and the clip only after a notice past the
	// person's end.
	lines := strings.Split(strings.TrimSpace(text), "\n")
	if !strings.HasPrefix(lines[0], "record ") || !strings.HasSuffix(lines[0], "not an event") {
		t.Errorf("first line %q", lines[0])
	}
	index := func(prefix, contains string) int {
		for i, l := range lines {
			if strings.HasPrefix(l, prefix) && strings.Contains(l, contains) {
				return i
			}
		}
		return -1
	}
	pi, ci, cl := index(`detection "person"`, person), index(`detection "car"`, car), index("clip ", "")
	if pi < 0 || ci != pi+1 || cl < ci {
		t.Errorf("person at line %d, car %d, clip %d", pi, ci, cl)
	}
	if strings.Count(text, "\nfragment ") < 2 || !strings.HasPrefix(lines[cl-1], "fragment ") {
		t.Errorf("fragment notices: %d, the line before the clip %q", strings.Count(text, "\nfragment "), lines[cl-1])
	}
}
