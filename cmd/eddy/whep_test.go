package main

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
