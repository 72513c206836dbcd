package main

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideoarchivedmedia"
	kvamtypes "github.com/aws/aws-sdk-go-v2/service/kinesisvideoarchivedmedia/types"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/liberrors"

	"github.com/eddy-video/eddy/server/servertest"
)

var (
	readyRTSP   = regexp.MustCompile(`msg=ready .*rtsp=rtsp://(\S+)`)
	readyWebRTC = regexp.MustCompile(`msg=ready .*webrtc=(\S+)`)
)

// publishChild is an `eddy publish` process.
type publishChild struct {
	cmd    *exec.Cmd
	stderr *servertest.SyncBuffer
	done   chan struct{}
	err    error
}

func startPublish(t *testing.T, bin string, args ...string) *publishChild {
	t.Helper()
	p := &publishChild{cmd: exec.Command(bin, append([]string{"publish"}, args...)...), stderr: &servertest.SyncBuffer{}, done: make(chan struct{})}
	p.cmd.Env = crashEnv()
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("eddy publish %s stderr:\n%s", strings.Join(args, " "), p.stderr.String())
		}
	})
	return p
}

// waitFor waits until the publisher's stderr has n occurrences of s.
func (p *publishChild) waitFor(t *testing.T, s string, n int, within time.Duration) {
	t.Helper()
	for deadline := time.Now().Add(within); strings.Count(p.stderr.String(), s) < n; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("publisher did not print %q (%d times) within %s", s, n, within)
		}
	}
}

// fragmentsSince lists stream's fragments that arrived at the server from since.
func fragmentsSince(ctx context.Context, t *testing.T, url, stream string, since time.Time) []kvamtypes.Fragment {
	t.Helper()
	out, err := crashVideoClient(url).ListFragments(ctx, &kinesisvideoarchivedmedia.ListFragmentsInput{StreamName: aws.String(stream),
		FragmentSelector: &kvamtypes.FragmentSelector{FragmentSelectorType: kvamtypes.FragmentSelectorTypeServerTimestamp,
			TimestampRange: &kvamtypes.TimestampRange{StartTimestamp: aws.Time(since), EndTimestamp: aws.Time(time.Now().Add(time.Minute))}}})
	if err != nil {
		return nil // not there yet (the stream is created by the first publish)
	}
	return out.Fragments
}

func waitFragmentsSince(ctx context.Context, t *testing.T, url, stream string, since time.Time, within time.Duration) []kvamtypes.Fragment {
	t.Helper()
	for deadline := time.Now().Add(within); ; time.Sleep(200 * time.Millisecond) {
		if f := fragmentsSince(ctx, t, url, stream, since); len(f) > 0 {
			return f
		}
		if time.Now().After(deadline) {
			t.Fatalf("no fragment of %s recorded since %s within %s", stream, since.Format(time.RFC3339Nano), within)
		}
	}
}

// TestPublishReconnects kills a real `eddy serve` under `eddy publish
// --loop`, restarts it on the same ports, and checks that the publisher
// says what happened, reconnects and publishes again (the restarted
// server records new fragments); then that without --loop a lost
// connection ends the publisher with status 1 and the error. The
// progress lines on a stderr that is not a terminal are plain lines.
func TestPublishReconnects(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the real binary for tens of seconds; skipped with -short")
	}
	t.Parallel()
	bin := crashBuildBinary(t)
	dir := t.TempDir()
	clip := filepath.Join("..", "..", "testdata", "cam-h264-aac.mp4")
	ctx := servertest.Context(t, 2*time.Minute)

	srv := crashStart(t, bin, dir)
	rtspAddr := readyRTSP.FindStringSubmatch(srv.log())
	webrtcAddr := readyWebRTC.FindStringSubmatch(srv.log())
	if rtspAddr == nil || webrtcAddr == nil {
		t.Fatalf("no RTSP or WebRTC address in the ready line:\n%s", srv.log())
	}
	httpAddr := strings.TrimPrefix(srv.url, "http://")
	samePorts := []string{"--http", httpAddr, "--rtsp", rtspAddr[1], "--webrtc", webrtcAddr[1]}
	url := "rtsp://" + rtspAddr[1] + "/cam"

	pub := startPublish(t, bin, "--loop", "--progress", "500ms", clip, url)
	waitFragmentsSince(ctx, t, srv.url, "cam", time.Now().Add(-time.Minute), 15*time.Second)
	pub.waitFor(t, " frames, ", 1, 5*time.Second)

	srv.kill(t)
	pub.waitFor(t, "publish: connection lost (", 1, 10*time.Second)
	pub.waitFor(t, "; reconnecting in ", 2, 10*time.Second) // it keeps trying while the server is down
	restarted := time.Now()
	srv = crashStart(t, bin, dir, samePorts...)
	pub.waitFor(t, "publish: reconnected; publishing again", 1, 20*time.Second)
	frags := waitFragmentsSince(ctx, t, srv.url, "cam", restarted, 20*time.Second)
	t.Logf("%d fragment(s) recorded after the restart", len(frags))
	pub.waitFor(t, ", reconnections: 1", 1, 5*time.Second)

	if err := pub.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-pub.done:
	case <-time.After(10 * time.Second):
		t.Fatal("eddy publish --loop did not end 10 s after SIGTERM")
	}
	if pub.err != nil {
		t.Errorf("eddy publish --loop ended with %v after SIGTERM", pub.err)
	}
	errOut := pub.stderr.String()
	if strings.Contains(errOut, "\r") {
		t.Errorf("progress redrawn with \\r on a stderr that is not a terminal:\n%q", errOut)
	}
	if !strings.HasSuffix(errOut, "publish: interrupted\n") {
		t.Errorf("stderr does not end with the interruption:\n%s", errOut)
	}
	progress := regexp.MustCompile(`(?m)^publish: [0-9.]+ (ms|s|min|h) elapsed, [0-9]+ frames, [0-9.]+ (B|KiB|MiB) sent, [0-9.]+ Mbit/s, pass [0-9]+`)
	if n := len(progress.FindAllString(errOut, -1)); n < 4 {
		t.Errorf("%d progress lines, want a line every 500ms:\n%s", n, errOut)
	}

	// Without --loop, a lost connection ends the publisher: status 1 and
	// the error.
	once := startPublish(t, bin, "--progress", "200ms", clip, "rtsp://"+rtspAddr[1]+"/once")
	once.waitFor(t, " frames, ", 1, 10*time.Second)
	srv.kill(t)
	select {
	case <-once.done:
	case <-time.After(10 * time.Second):
		t.Fatal("eddy publish did not end 10 s after its server was killed")
	}
	var exit *exec.ExitError
	if !errors.As(once.err, &exit) || exit.ExitCode() != 1 {
		t.Errorf("eddy publish without --loop ended with %v after a lost connection, want exit status 1", once.err)
	}
	if out := once.stderr.String(); !strings.Contains(out, "eddy: publish rtsp://"+rtspAddr[1]+"/once: ") || strings.Contains(out, "reconnecting") {
		t.Errorf("stderr of eddy publish without --loop:\n%s", out)
	}
}

// TestPublishProgressTerminal: on a terminal the progress is one line
// redrawn in place, ended before a message and at the end.
func TestPublishProgressTerminal(t *testing.T) {
	var out strings.Builder
	p := &publisher{out: &out, terminal: true, loop: true, every: time.Second, began: time.Now().Add(-3 * time.Second), lastAt: time.Now().Add(-time.Second)}
	p.frames, p.bytes, p.lastBytes, p.passes, p.connects = 75, 300_000, 200_000, 1, 2
	p.mu.Lock()
	p.draw()
	p.mu.Unlock()
	p.say("publish: connection lost (EOF); reconnecting in 500ms")
	p.finish("interrupted")
	lines := strings.Split(out.String(), "\n")
	if len(lines) != 5 || lines[4] != "" {
		t.Fatalf("terminal output %q: want the progress, the message, the progress again, the end", out.String())
	}
	progress := regexp.MustCompile(`^\rpublish: 3\.[0-9] s elapsed, 75 frames, 293\.0 KiB sent, 0\.[0-9]+ Mbit/s, pass 2, reconnections: 1 *$`)
	if !progress.MatchString(lines[0]) || !progress.MatchString(lines[2]) {
		t.Errorf("progress lines %q and %q", lines[0], lines[2])
	}
	if lines[1] != "publish: connection lost (EOF); reconnecting in 500ms" || lines[3] != "publish: interrupted" {
		t.Errorf("messages %q, %q", lines[1], lines[3])
	}
}

// TestPublishRefused: --loop gives up only on answers trying again cannot
// change; a 400 (Eddy's answer to an ANNOUNCE for a name whose lost
// session the server has not dropped yet) and a 503 are retried.
func TestPublishRefused(t *testing.T) {
	for code, want := range map[base.StatusCode]bool{
		base.StatusBadRequest: false, base.StatusUnauthorized: true, base.StatusForbidden: true,
		base.StatusNotFound: true, base.StatusUnsupportedMediaType: true, base.StatusServiceUnavailable: false,
	} {
		err := fmt.Errorf("announce: %w", liberrors.ErrClientBadStatusCode{Code: code})
		if got := refused(err); got != want {
			t.Errorf("refused(%d) = %v, want %v", code, got, want)
		}
	}
	if refused(errors.New("connection reset by peer")) {
		t.Error("a network error is refused")
	}
}
