package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideoarchivedmedia"
	kvamtypes "github.com/aws/aws-sdk-go-v2/service/kinesisvideoarchivedmedia/types"

	"github.com/eddy-video/eddy/cmd/eddy/bench"
	"github.com/eddy-video/eddy/fragments"
	"github.com/eddy-video/eddy/media/mediatest"
	"github.com/eddy-video/eddy/media/rtspclient"
	"github.com/eddy-video/eddy/server/servertest"
)

// TestCrashVideo runs the real binary with four RTSP publishers, lists
// every stream's fragments at a random moment, SIGKILLs the server right
// after, restarts it on the same data directory and checks that:
//
//   - every fragment listed before the kill is listed again, with the same
//     number, producer and server timestamps, size and length, and the
//     fragment numbers stay consecutive;
//   - GetMediaForFragmentList of the stream's fragments is MKV that ffmpeg
//     decodes without error, holding as many video frames as the
//     fragments' lengths say;
//   - GetClip over the listed range is an MP4 that ffmpeg decodes, with
//     the same frame count;
//   - publishing resumes after the restart: new fragments get higher
//     numbers.
//
// It runs three kill cycles, then a last restart that must resume and
// stop cleanly on SIGTERM.
func TestCrashVideo(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test runs the real binary and ffmpeg for about a minute; skipped with -short")
	}
	mediatest.RequireTool(t, "ffmpeg") // it decodes the recovered media
	ffmpeg, _ := exec.LookPath("ffmpeg")
	const (
		cycles  = 3
		clip    = "../../testdata/cam-h264-aac.mp4" // 320x240, 25 fps, GOP 2 s, 20 s
		frameMS = 40
	)
	streams := []string{"crashcam0", "crashcam1", "crashcam2", "crashcam3"}
	bin := crashBuildBinary(t)
	dir := t.TempDir()
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 2))
	t.Logf("seed %d", seed)
	start := time.Now()
	logf := func(format string, args ...any) { t.Logf(format, args...) }

	srv := crashVideoStart(t, bin, dir, logf)
	// known: every fragment listed before a kill, by stream and number.
	known := map[string]map[string]kvamtypes.Fragment{}
	for _, s := range streams {
		known[s] = map[string]kvamtypes.Fragment{}
	}
	maxSeq := map[string]uint64{} // highest fragment number seen, per stream
	for cycle := 0; cycle <= cycles; cycle++ {
		am := crashVideoClient(srv.URL())
		pubs := crashVideoPublish(t, srv.RTSP(), clip, streams)

		// Run 3-8 s, then take the listing the restart must reproduce. Every
		// stream must have a fragment newer than any before the last kill
		// (publishing resumed); a loaded machine may need a little longer.
		time.Sleep(3*time.Second + time.Duration(rng.Int64N(int64(5*time.Second))))
		var lists map[string][]kvamtypes.Fragment
		for wait := time.Now(); ; {
			lists = crashVideoListAll(t, am, streams, start)
			missing := ""
			for _, s := range streams {
				if n := len(lists[s]); n == 0 || fragSeq(lists[s][n-1]) <= maxSeq[s] {
					missing += " " + s
				}
			}
			if missing == "" {
				break
			}
			if time.Since(wait) > 15*time.Second {
				pubs.stop()
				t.Fatalf("cycle %d: no new fragment after the restart on%s within 15 s of publishing + %v (errors: %v)\nserver log:\n%s",
					cycle, missing, time.Since(wait).Round(time.Millisecond), pubs.errors(), srv.Tail(40))
			}
			time.Sleep(200 * time.Millisecond)
		}
		if errs := pubs.errors(); len(errs) > 0 {
			t.Errorf("cycle %d: publishers failed while the server was up: %v", cycle, errs)
		}
		for _, s := range streams {
			for _, f := range lists[s] {
				n := aws.ToString(f.FragmentNumber)
				if prev, ok := known[s][n]; ok {
					crashVideoSame(t, fmt.Sprintf("cycle %d: %s", cycle, s), prev, f)
				}
				known[s][n] = f
			}
		}

		if cycle == cycles {
			// The last run: stop publishing and the server cleanly.
			pubs.stop()
			if err := srv.Stop(logf); err != nil {
				t.Errorf("server exited with %v after SIGTERM\n%s", err, srv.Tail(40))
			}
			break
		}
		if err := srv.Kill(); err != nil {
			t.Fatalf("cycle %d: kill: %v", cycle, err)
		}
		pubs.stop() // they fail now; that is expected
		t.Logf("cycle %d: killed %v in; %s", cycle, time.Since(pubs.started).Round(time.Millisecond), crashVideoCounts(lists))

		srv = crashVideoStart(t, bin, dir, logf)
		am = crashVideoClient(srv.URL())
		after := crashVideoListAll(t, am, streams, start)
		for _, s := range streams {
			got := map[string]kvamtypes.Fragment{}
			for i, f := range after[s] {
				got[aws.ToString(f.FragmentNumber)] = f
				if i > 0 && fragSeq(f) != fragSeq(after[s][i-1])+1 {
					t.Errorf("restart %d: %s: fragment numbers jump from %s to %s", cycle, s,
						aws.ToString(after[s][i-1].FragmentNumber), aws.ToString(f.FragmentNumber))
				}
			}
			lost := 0
			for n, want := range known[s] {
				f, ok := got[n]
				if !ok {
					lost++
					t.Errorf("restart %d: %s: fragment %s (server time %s) was listed before the kill and is gone", cycle, s, n,
						aws.ToTime(want.ServerTimestamp).Format(time.RFC3339Nano))
					continue
				}
				crashVideoSame(t, fmt.Sprintf("restart %d: %s", cycle, s), want, f)
			}
			if lost > 0 {
				t.Errorf("restart %d: %s: %d of %d fragments listed before the kill are missing", cycle, s, lost, len(known[s]))
			}
			for _, f := range after[s] {
				maxSeq[s] = max(maxSeq[s], fragSeq(f))
			}
			crashVideoCheckMedia(t, ffmpeg, am, s, after[s], frameMS, fmt.Sprintf("restart %d", cycle))
		}
		if t.Failed() {
			t.Fatalf("after restart %d; server log:\n%s", cycle, srv.Tail(60))
		}
	}
	total := 0
	for _, s := range streams {
		total += len(known[s])
	}
	t.Logf("%d kill cycles in %v: %d fragments listed before kills, all recovered and decodable", cycles,
		time.Since(start).Round(time.Millisecond), total)
}

// crashVideoStart starts the server on dir (data in dir/data, log appended
// to dir/server.log) with extra flags and waits until /healthz answers.
func crashVideoStart(t *testing.T, bin, dir string, logf func(string, ...any), extra ...string) *bench.Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv, err := bench.StartServer(ctx, bin, dir, extra, logf)
	if err != nil {
		t.Fatalf("start server: %v", err)
	}
	t.Cleanup(func() {
		select {
		case <-srv.Done():
		default:
			_ = srv.Kill()
		}
	})
	for deadline := time.Now().Add(10 * time.Second); ; {
		resp, err := crashVideoHTTP.Get(srv.URL() + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return srv
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("healthz not OK 10 s after ready (%v):\n%s", err, srv.Tail(30))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var crashVideoHTTP = &http.Client{Timeout: 5 * time.Second}

func crashVideoClient(url string) *kinesisvideoarchivedmedia.Client {
	return kinesisvideoarchivedmedia.New(kinesisvideoarchivedmedia.Options{
		Region: "us-east-1", Credentials: servertest.Credentials, BaseEndpoint: aws.String(url),
		HTTPClient: servertest.GuardRequestBody(nil),
	})
}

// crashVideoPubs is one cycle's publishers.
type crashVideoPubs struct {
	started time.Time
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	stopped atomic.Bool
	mu      sync.Mutex
	errs    []string
}

func crashVideoPublish(t *testing.T, rtsp, clip string, streams []string) *crashVideoPubs {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	p := &crashVideoPubs{started: time.Now(), cancel: cancel}
	t.Cleanup(p.stop)
	for i, s := range streams {
		fp := &rtspclient.FilePublisher{URL: "rtsp://" + rtsp + "/" + s, File: clip, Loop: true}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			// Staggered a little, so the streams' keyframes do not align.
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Duration(i) * 300 * time.Millisecond):
			}
			if err := fp.Run(ctx); err != nil && !p.stopped.Load() && ctx.Err() == nil {
				p.mu.Lock()
				p.errs = append(p.errs, s+": "+err.Error())
				p.mu.Unlock()
			}
		}()
	}
	return p
}

func (p *crashVideoPubs) stop() {
	p.stopped.Store(true)
	p.cancel()
	p.wg.Wait()
}

func (p *crashVideoPubs) errors() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.errs...)
}

// crashVideoListAll lists every stream's fragments since the test began,
// by fragment number.
func crashVideoListAll(t *testing.T, am *kinesisvideoarchivedmedia.Client, streams []string, since time.Time) map[string][]kvamtypes.Fragment {
	t.Helper()
	out := map[string][]kvamtypes.Fragment{}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, s := range streams {
		fr, err := bench.ListFragments(ctx, am, s, since.Add(-time.Minute), time.Now().Add(time.Minute))
		if err != nil {
			t.Fatalf("ListFragments %s: %v", s, err)
		}
		out[s] = fr
	}
	return out
}

func crashVideoCounts(lists map[string][]kvamtypes.Fragment) string {
	var parts []string
	for s, l := range lists {
		parts = append(parts, fmt.Sprintf("%s %d", s, len(l)))
	}
	return "fragments listed: " + strings.Join(parts, ", ")
}

// crashVideoSame reports a fragment whose listing changed.
func crashVideoSame(t *testing.T, what string, want, got kvamtypes.Fragment) {
	t.Helper()
	if aws.ToString(want.FragmentNumber) != aws.ToString(got.FragmentNumber) ||
		!aws.ToTime(want.ProducerTimestamp).Equal(aws.ToTime(got.ProducerTimestamp)) ||
		!aws.ToTime(want.ServerTimestamp).Equal(aws.ToTime(got.ServerTimestamp)) ||
		want.FragmentSizeInBytes != got.FragmentSizeInBytes ||
		want.FragmentLengthInMilliseconds != got.FragmentLengthInMilliseconds {
		t.Errorf("%s: fragment changed:\n  was %s\n  now %s", what, crashVideoFmt(want), crashVideoFmt(got))
	}
}

func crashVideoFmt(f kvamtypes.Fragment) string {
	return fmt.Sprintf("%s producer %s server %s size %d length %d ms", aws.ToString(f.FragmentNumber),
		aws.ToTime(f.ProducerTimestamp).Format(time.RFC3339Nano), aws.ToTime(f.ServerTimestamp).Format(time.RFC3339Nano),
		f.FragmentSizeInBytes, f.FragmentLengthInMilliseconds)
}

// crashVideoCheckMedia fetches a stream's fragments as MKV and as a clip
// and has ffmpeg decode both.
func crashVideoCheckMedia(t *testing.T, ffmpeg string, am *kinesisvideoarchivedmedia.Client, stream string, frags []kvamtypes.Fragment, frameMS int64, what string) {
	t.Helper()
	if len(frags) == 0 {
		t.Errorf("%s: %s: no fragments", what, stream)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var nums []string
	var lengthMS int64
	for _, f := range frags {
		nums = append(nums, aws.ToString(f.FragmentNumber))
		lengthMS += f.FragmentLengthInMilliseconds
	}
	// The file loops every 20.023 s (its audio is longer than its video),
	// which stretches one frame per loop: allow a frame per 20 s.
	wantFrames := lengthMS / frameMS
	slack := 1 + lengthMS/20000

	out, err := am.GetMediaForFragmentList(ctx, &kinesisvideoarchivedmedia.GetMediaForFragmentListInput{
		StreamName: aws.String(stream), Fragments: nums,
	})
	if err != nil {
		t.Errorf("%s: %s: GetMediaForFragmentList of %d fragments: %v", what, stream, len(nums), err)
		return
	}
	mkv, err := io.ReadAll(out.Payload)
	out.Payload.Close()
	if err != nil {
		t.Errorf("%s: %s: reading GetMediaForFragmentList: %v", what, stream, err)
		return
	}
	if frames, ok := crashVideoDecode(t, ffmpeg, mkv, "", fmt.Sprintf("%s: %s: GetMediaForFragmentList MKV (%d fragments, %d bytes)", what, stream, len(nums), len(mkv))); ok {
		if d := frames - wantFrames; d < -slack || d > slack {
			t.Errorf("%s: %s: MKV of %d fragments decodes to %d video frames; their lengths (%d ms) make %d", what, stream, len(nums), frames, lengthMS, wantFrames)
		}
	}

	first, last := frags[0], frags[len(frags)-1]
	clip, err := am.GetClip(ctx, &kinesisvideoarchivedmedia.GetClipInput{
		StreamName: aws.String(stream),
		ClipFragmentSelector: &kvamtypes.ClipFragmentSelector{
			FragmentSelectorType: kvamtypes.ClipFragmentSelectorTypeServerTimestamp,
			TimestampRange: &kvamtypes.ClipTimestampRange{
				StartTimestamp: first.ServerTimestamp, EndTimestamp: last.ServerTimestamp,
			},
		},
	})
	if err != nil {
		t.Errorf("%s: %s: GetClip %s..%s: %v", what, stream, aws.ToTime(first.ServerTimestamp).Format(time.RFC3339Nano),
			aws.ToTime(last.ServerTimestamp).Format(time.RFC3339Nano), err)
		return
	}
	mp4, err := io.ReadAll(clip.Payload)
	clip.Payload.Close()
	if err != nil {
		t.Errorf("%s: %s: reading GetClip: %v", what, stream, err)
		return
	}
	if frames, ok := crashVideoDecode(t, ffmpeg, mp4, ".mp4", fmt.Sprintf("%s: %s: GetClip MP4 (%d bytes)", what, stream, len(mp4))); ok {
		if d := frames - wantFrames; d < -slack || d > slack {
			t.Errorf("%s: %s: clip decodes to %d video frames; the %d fragments' lengths (%d ms) make %d", what, stream, frames, len(frags), lengthMS, wantFrames)
		}
	}
}

// crashVideoBenign matches what concatenated MKV documents (one EBML
// header + Segment per fragment, as KVS sends) make ffmpeg say.
var crashVideoBenign = regexp.MustCompile(`Found unknown-length element with ID 0x18538067`)

var crashVideoFrames = regexp.MustCompile(`(?m)^frame=(\d+)$`)

// crashVideoDecode has ffmpeg decode data (from stdin, or from a file
// with ext when set) and returns the video frames decoded.
func crashVideoDecode(t *testing.T, ffmpeg string, data []byte, ext, what string) (int64, bool) {
	t.Helper()
	in := "-"
	if ext != "" {
		in = filepath.Join(t.TempDir(), "media"+ext)
		if err := os.WriteFile(in, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(ffmpeg, "-hide_banner", "-v", "error", "-i", in, "-fps_mode", "passthrough", "-f", "null", "-progress", "pipe:1", "-")
	if ext == "" {
		cmd.Stdin = bytes.NewReader(data)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var bad []string
	for _, l := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
		if l != "" && !crashVideoBenign.MatchString(l) {
			bad = append(bad, l)
		}
	}
	if err != nil || len(bad) > 0 {
		keep := filepath.Join(os.TempDir(), fmt.Sprintf("eddy-crash-video-%d%s", time.Now().UnixNano(), map[bool]string{true: ".mkv", false: ext}[ext == ""]))
		_ = os.WriteFile(keep, data, 0o644)
		t.Errorf("%s: ffmpeg decode failed (%v), kept in %s:\n%s", what, err, keep, strings.Join(bad, "\n"))
		return 0, false
	}
	m := crashVideoFrames.FindAllStringSubmatch(stdout.String(), -1)
	if len(m) == 0 {
		t.Errorf("%s: ffmpeg reported no frame count:\n%s", what, stdout.String())
		return 0, false
	}
	n, _ := strconv.ParseInt(m[len(m)-1][1], 10, 64)
	return n, true
}

// fragSeq is a listed fragment's number as an integer.
func fragSeq(f kvamtypes.Fragment) uint64 {
	s, _ := fragments.ParseFragmentNumber(aws.ToString(f.FragmentNumber))
	return s
}
