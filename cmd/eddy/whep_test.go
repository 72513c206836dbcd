package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/eddy-video/eddy/media/mediatest"
	"github.com/eddy-video/eddy/media/rtspclient"
	"github.com/eddy-video/eddy/server/servertest"
)

// TestWHEPCommand plays a stream published over RTSP with `eddy whep`'s
// client and checks that ffprobe reads the Annex-B file it saved.
func TestWHEPCommand(t *testing.T) {
	mediatest.RequireTool(t, "ffprobe")
	e := servertest.Start(t)
	ctx := servertest.Context(t, time.Minute)
	pub := &rtspclient.FilePublisher{URL: e.RTSPURL("cam"), File: filepath.Join("..", "..", "testdata", "cam-h264-aac.mp4"), Duration: 10 * time.Second}
	pubCtx, stop := context.WithCancel(ctx)
	defer stop()
	go func() { _ = pub.Run(pubCtx) }()
	for deadline := time.Now().Add(10 * time.Second); len(e.Server.Registry().Names()) == 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the publication did not start")
		}
	}
	var out bytes.Buffer
	pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	st, err := playWHEP(pctx, e.URL+"/webrtc/cam/whep", &out, true)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v, %d bytes", *st, out.Len())
	if !st.FirstKey || st.FirstFrame > time.Second || st.Frames < 50 || !strings.Contains(st.Notice, "AAC") || st.Ended != "stopped" {
		t.Errorf("stats %+v: want a keyframe first within 1 s, ≥ 50 frames in 3 s, the AAC notice, stopped by us", *st)
	}
	f := filepath.Join(t.TempDir(), "cam.h264")
	probeIn := exec.Command("ffprobe", "-v", "error", "-count_frames", "-show_entries", "stream=codec_name,width,height,nb_read_frames", "-of", "csv=p=0", "-f", "h264", "-")
	probeIn.Stdin = &out
	res, err := probeIn.CombinedOutput()
	if err != nil {
		t.Fatalf("ffprobe %s: %v: %s", f, err, res)
	}
	if fields := strings.Split(strings.TrimSpace(string(res)), ","); len(fields) != 4 || fields[0] != "h264" || fields[1] != "320" || fields[2] != "240" {
		t.Errorf("ffprobe of the saved video: %q", res)
	}
	// The session was DELETEd at the end.
	for deadline := time.Now().Add(3 * time.Second); e.Server.WebRTC().PeerConnections() != 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d peer connections left after eddy whep stopped", e.Server.WebRTC().PeerConnections())
		}
	}
}

// TestWHEPCommandEvents: `eddy whep --events` prints the events written
// to the stream while it plays, one JSON line each, in order.
func TestWHEPCommandEvents(t *testing.T) {
	e := servertest.Start(t)
	ctx := servertest.Context(t, time.Minute)
	pub := &rtspclient.FilePublisher{URL: e.RTSPURL("cam"), File: filepath.Join("..", "..", "testdata", "cam-h264-aac.mp4"), Duration: 20 * time.Second}
	pubCtx, stop := context.WithCancel(ctx)
	defer stop()
	go func() { _ = pub.Run(pubCtx) }()
	for deadline := time.Now().Add(10 * time.Second); len(e.Server.Registry().Names()) == 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the publication did not start")
		}
	}
	var evOut servertest.SyncBuffer
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		st  *whepStats
		err error
	}
	done := make(chan result, 1)
	go func() {
		st, err := playWHEPEvents(pctx, e.URL+"/webrtc/cam/whep", nil, &evOut, true)
		done <- result{st, err}
	}()
	kc := e.Kinesis()
	put := func(label string) string {
		out, err := kc.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("cam.events"), PartitionKey: aws.String("k"),
			Data: []byte(`{"type":"detection","label":"` + label + `","score":0.5}`)})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(out.SequenceNumber)
	}
	// Until the channel is open, events are not delivered: write probes
	// until one is printed.
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(evOut.String(), `"probe"`); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no event printed within 10 s")
		}
		put("probe")
	}
	var want []string
	for i := range 5 {
		want = append(want, put(fmt.Sprint("person-", i)))
	}
	for deadline := time.Now().Add(5 * time.Second); strings.Count(evOut.String(), "person-") < 5; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("printed:\n%s\nwant 5 person events", evOut.String())
		}
	}
	cancel()
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(evOut.String()), "\n") {
		var ev struct{ ID, Type, Label string }
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		if strings.HasPrefix(ev.Label, "person-") {
			got = append(got, ev.ID)
			if ev.Type != "detection" || ev.Label != fmt.Sprint("person-", len(got)-1) {
				t.Errorf("event %d: %+v", len(got)-1, ev)
			}
		}
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("printed ids %v, want %v", got, want)
	}
	if r.st.Events != strings.Count(evOut.String(), "\n") {
		t.Errorf("stats count %d events, %d printed", r.st.Events, strings.Count(evOut.String(), "\n"))
	}
}
