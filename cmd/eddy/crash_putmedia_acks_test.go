package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideoarchivedmedia"
	kvamtypes "github.com/aws/aws-sdk-go-v2/service/kinesisvideoarchivedmedia/types"

	"github.com/eddy-video/eddy/media/mediatest"
	"github.com/eddy-video/eddy/server/servertest"
)

// TestCrashPutMediaAcks runs the real binary, streams ffmpeg's Matroska
// into POST /putMedia in real time, SIGKILLs the server after a few
// PERSISTED acks and restarts it on the same data directory: every
// fragment acked PERSISTED is listed, with the number the ack gave.
func TestCrashPutMediaAcks(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test runs the real binary and ffmpeg; skipped with -short")
	}
	mediatest.RequireTool(t, "ffmpeg")
	bin := crashBuildBinary(t)
	dir := t.TempDir()
	srv := crashStart(t, bin, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	const stream = "pm-crash"
	kv := kinesisvideo.New(kinesisvideo.Options{Region: "us-east-1", Credentials: servertest.Credentials,
		BaseEndpoint: aws.String(srv.url), HTTPClient: servertest.GuardRequestBody(nil)})
	if _, err := kv.CreateStream(ctx, &kinesisvideo.CreateStreamInput{StreamName: aws.String(stream), DataRetentionInHours: aws.Int32(24)}); err != nil {
		t.Fatal(err)
	}

	ff := exec.CommandContext(ctx, "ffmpeg", "-v", "error", "-re", "-i", filepath.Join("..", "..", "testdata", "cam-h264-aac.mp4"),
		"-c", "copy", "-cluster_time_limit", "10000", "-cluster_size_limit", "50000000", "-f", "matroska", "pipe:1")
	out, err := ff.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := ff.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ff.Process.Kill(); _ = ff.Wait() }()
	pr, pw := io.Pipe()
	go func() { _, err := io.Copy(pw, out); pw.CloseWithError(err) }()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.url+"/putMedia", pr)
	req.Header.Set("x-amzn-stream-name", stream)
	req.Header.Set("x-amzn-fragment-timecode-type", "RELATIVE")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var mu sync.Mutex
	persisted := map[string]bool{}
	three := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			var a struct{ EventType, FragmentNumber string }
			if json.Unmarshal(sc.Bytes(), &a) != nil || a.EventType != "PERSISTED" {
				continue
			}
			mu.Lock()
			persisted[a.FragmentNumber] = true
			if len(persisted) == 3 {
				close(three)
			}
			mu.Unlock()
		}
	}()
	select {
	case <-three:
	case <-ctx.Done():
		t.Fatal("no 3 PERSISTED acks")
	}
	// Right after the third ack, with the fourth cluster on its way.
	srv.kill(t)
	mu.Lock()
	acked := len(persisted)
	mu.Unlock()

	srv = crashStart(t, bin, dir)
	am := kinesisvideoarchivedmedia.New(kinesisvideoarchivedmedia.Options{Region: "us-east-1", Credentials: servertest.Credentials,
		BaseEndpoint: aws.String(srv.url), HTTPClient: servertest.GuardRequestBody(nil)})
	list, err := am.ListFragments(ctx, &kinesisvideoarchivedmedia.ListFragmentsInput{StreamName: aws.String(stream),
		FragmentSelector: &kvamtypes.FragmentSelector{FragmentSelectorType: kvamtypes.FragmentSelectorTypeServerTimestamp,
			TimestampRange: &kvamtypes.TimestampRange{StartTimestamp: aws.Time(time.Now().Add(-time.Hour)), EndTimestamp: aws.Time(time.Now())}}})
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, f := range list.Fragments {
		listed[*f.FragmentNumber] = true
	}
	mu.Lock()
	defer mu.Unlock()
	for n := range persisted {
		if !listed[n] {
			t.Errorf("fragment %s was acked PERSISTED and is gone after the crash", n)
		}
	}
	t.Logf("%d fragments acked PERSISTED before the kill (%d by then), %d listed after the restart", len(persisted), acked, len(listed))
	srv.stop(t)
}
