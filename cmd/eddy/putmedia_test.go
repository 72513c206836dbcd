package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideoarchivedmedia"
	kvamtypes "github.com/aws/aws-sdk-go-v2/service/kinesisvideoarchivedmedia/types"

	"github.com/eddy-video/eddy/cmd/eddy/bench"
	"github.com/eddy-video/eddy/cmd/eddy/putmedia"
	"github.com/eddy-video/eddy/fragments/kvsapi"
	"github.com/eddy-video/eddy/media/mediatest"
	"github.com/eddy-video/eddy/media/rtspclient"
	"github.com/eddy-video/eddy/server/servertest"
)

// pmClip is the test clip: 320x240 H.264 at 25 fps, a keyframe every 2 s,
// AAC, 20 s.
const pmClip = "../../testdata/cam-h264-aac.mp4"

// pmRun is one `eddy putmedia -json` process and the acks it printed.
type pmRun struct {
	cmd    *exec.Cmd
	stderr servertest.SyncBuffer
	done   chan struct{}
	err    error

	mu    sync.Mutex
	acks  []putmedia.Ack
	lines []string    // as printed
	at    []time.Time // when each ack was printed
}

// pmEnv is the environment of a client command: no EDDY_* settings, no
// credentials of the machine's (unless extra sets some).
func pmEnv(t *testing.T, extra ...string) []string {
	home := t.TempDir()
	var env []string
	for _, kv := range crashEnv() {
		if !strings.HasPrefix(kv, "AWS_") && !strings.HasPrefix(kv, "HOME=") {
			env = append(env, kv)
		}
	}
	return append(append(env, "HOME="+home, "AWS_EC2_METADATA_DISABLED=true",
		"AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(home, "none"), "AWS_CONFIG_FILE="+filepath.Join(home, "none")), extra...)
}

func pmStart(t *testing.T, bin string, env []string, args ...string) *pmRun {
	t.Helper()
	r := &pmRun{done: make(chan struct{})}
	r.cmd = exec.Command(bin, append([]string{"putmedia", "-json"}, args...)...)
	r.cmd.Env = env
	r.cmd.Stderr = &r.stderr
	stdout, err := r.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := r.cmd.Start(); err != nil {
		t.Fatalf("start eddy putmedia: %v", err)
	}
	go func() {
		ar := kvsapi.NewAckReader(stdout)
		for {
			a, raw, err := ar.Next()
			if err != nil {
				if err != io.EOF {
					t.Errorf("eddy putmedia printed: %v", err)
				}
				break
			}
			r.mu.Lock()
			r.acks = append(r.acks, a)
			r.lines = append(r.lines, string(raw))
			r.at = append(r.at, time.Now())
			r.mu.Unlock()
		}
		r.err = r.cmd.Wait()
		close(r.done)
	}()
	t.Cleanup(func() {
		_ = r.cmd.Process.Kill()
		<-r.done
		if t.Failed() {
			t.Logf("eddy putmedia %s stderr:\n%s", strings.Join(args, " "), r.stderr.String())
		}
	})
	return r
}

// wait waits for the process to exit and returns its error.
func (r *pmRun) wait(t *testing.T, d time.Duration) error {
	t.Helper()
	select {
	case <-r.done:
		return r.err
	case <-time.After(d):
		t.Fatalf("eddy putmedia still running after %v:\n%s", d, r.stderr.String())
		return nil
	}
}

// of returns the acks of one event type printed so far.
func (r *pmRun) of(event string) []putmedia.Ack {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []putmedia.Ack
	for _, a := range r.acks {
		if a.EventType == event {
			out = append(out, a)
		}
	}
	return out
}

// pmServer starts the binary on dir with extra flags and waits for /healthz.
func pmServer(t *testing.T, bin, dir string, extra ...string) *bench.Server {
	t.Helper()
	return crashVideoStart(t, bin, dir, t.Logf, extra...)
}

// pmCreate creates video streams with a day of retention.
func pmCreate(t *testing.T, url string, creds aws.CredentialsProvider, names ...string) {
	t.Helper()
	kv := kinesisvideo.New(kinesisvideo.Options{Region: "us-east-1", Credentials: creds, BaseEndpoint: aws.String(url)})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, n := range names {
		if _, err := kv.CreateStream(ctx, &kinesisvideo.CreateStreamInput{StreamName: aws.String(n), DataRetentionInHours: aws.Int32(24)}); err != nil {
			t.Fatalf("CreateStream %s: %v", n, err)
		}
	}
}

// pmList lists a stream's fragments (by number).
func pmList(t *testing.T, am *kinesisvideoarchivedmedia.Client, stream string, since time.Time) []kvamtypes.Fragment {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	fr, err := bench.ListFragments(ctx, am, stream, since.Add(-time.Minute), time.Now().Add(time.Minute))
	if err != nil {
		t.Fatalf("ListFragments %s: %v", stream, err)
	}
	return fr
}

// pmCheckAcks checks that the stream's fragments are the PERSISTED acks
// one for one, in order, and that their producer timestamps are the
// clusters' timecodes: as sent (ABSOLUTE), or after one producer start
// timestamp between before and after (RELATIVE). It returns the listing.
func pmCheckAcks(t *testing.T, am *kinesisvideoarchivedmedia.Client, stream string, acks []putmedia.Ack, relative bool, before, after time.Time) []kvamtypes.Fragment {
	t.Helper()
	list := pmList(t, am, stream, before)
	if len(list) != len(acks) || len(list) == 0 {
		t.Fatalf("%s: ListFragments shows %d fragments, %d were acknowledged PERSISTED", stream, len(list), len(acks))
	}
	var start int64
	for i, f := range list {
		a := acks[i]
		if aws.ToString(f.FragmentNumber) != a.FragmentNumber {
			t.Errorf("%s: fragment %d is %s, ack %d was for %s", stream, i, aws.ToString(f.FragmentNumber), i, a.FragmentNumber)
		}
		ms := aws.ToTime(f.ProducerTimestamp).UnixMilli()
		if !relative {
			if ms != a.Timecode() {
				t.Errorf("%s: fragment %d: producer timestamp %d ms, ABSOLUTE timecode %d", stream, i, ms, a.Timecode())
			}
			continue
		}
		if i == 0 {
			start = ms - a.Timecode()
			if a.Timecode() < 0 || a.Timecode() > 100 {
				t.Errorf("%s: first RELATIVE timecode %d ms, want about 0", stream, a.Timecode())
			}
			if start < before.UnixMilli()-1 || start > after.UnixMilli() {
				t.Errorf("%s: producer start timestamp %d outside the run [%d, %d]", stream, start, before.UnixMilli(), after.UnixMilli())
			}
		} else if ms-a.Timecode() != start {
			t.Errorf("%s: fragment %d: producer timestamp %d ms = %d + RELATIVE timecode %d, want start %d", stream, i, ms,
				ms-a.Timecode(), a.Timecode(), start)
		}
	}
	for i := 1; i < len(list); i++ {
		if d := aws.ToTime(list[i].ProducerTimestamp).Sub(aws.ToTime(list[i-1].ProducerTimestamp)); d < 0 {
			t.Errorf("%s: fragment %d goes back %v in producer time", stream, i, -d)
		}
	}
	return list
}

// pmClipOf fetches GetClip over the fragments (producer timestamps) and
// returns the MP4.
func pmClipOf(t *testing.T, am *kinesisvideoarchivedmedia.Client, stream string, list []kvamtypes.Fragment) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := am.GetClip(ctx, &kinesisvideoarchivedmedia.GetClipInput{
		StreamName: aws.String(stream),
		ClipFragmentSelector: &kvamtypes.ClipFragmentSelector{
			FragmentSelectorType: kvamtypes.ClipFragmentSelectorTypeProducerTimestamp,
			TimestampRange: &kvamtypes.ClipTimestampRange{
				StartTimestamp: list[0].ProducerTimestamp, EndTimestamp: list[len(list)-1].ProducerTimestamp,
			},
		},
	})
	if err != nil {
		t.Fatalf("%s: GetClip: %v", stream, err)
	}
	defer out.Payload.Close()
	b, err := io.ReadAll(out.Payload)
	if err != nil {
		t.Fatalf("%s: reading GetClip: %v", stream, err)
	}
	return b
}

// pmCodecs returns the codec names ffprobe finds in data.
func pmCodecs(t *testing.T, data []byte) []string {
	t.Helper()
	v := mediatest.FFprobeJSON(t, data, "-show_streams")
	var names []string
	streams, _ := v["streams"].([]any)
	for _, s := range streams {
		m, _ := s.(map[string]any)
		name, _ := m["codec_name"].(string)
		names = append(names, name)
	}
	return names
}

// TestPutMedia runs `eddy putmedia` against the real server: files of
// H.264 + AAC (ABSOLUTE and RELATIVE timecodes) and of H.265 + Opus, RTSP
// cameras (the server's own RTSP, fed by an RTSP publisher of the clip, or
// by ffmpeg with G.711), a server with credentials (SigV4) and one serving
// HTTPS (HTTP/2). Every fragment is acknowledged PERSISTED, ListFragments
// shows the acks one for one with the producer timestamps the timecodes
// say, and the clips decode.
func TestPutMedia(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the real binary for half a minute; skipped with -short")
	}
	mediatest.RequireTool(t, "ffmpeg", "ffprobe")
	ffmpeg, _ := exec.LookPath("ffmpeg")
	bin := crashBuildBinary(t)
	srv := pmServer(t, bin, t.TempDir())
	pmCreate(t, srv.URL(), servertest.Credentials, "pm-abs", "pm-rel", "pm-hevc", "pm-src", "pm-rtsp", "pm-g711src", "pm-g711")
	am := crashVideoClient(srv.URL())
	env := pmEnv(t)

	for _, tc := range []struct {
		name, stream, timecode string
	}{
		{"H.264+AAC ABSOLUTE", "pm-abs", "absolute"},
		{"H.264+AAC RELATIVE", "pm-rel", "relative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := time.Now()
			r := pmStart(t, bin, env, "-endpoint", srv.URL(), "-timecode", tc.timecode, "-duration", "6s", pmClip, tc.stream)
			if err := r.wait(t, 60*time.Second); err != nil {
				t.Fatalf("eddy putmedia: %v\n%s", err, r.stderr.String())
			}
			acks := r.of(putmedia.EventPersisted)
			if len(acks) != 3 {
				t.Fatalf("%d PERSISTED acks for 6 s of 2 s GOPs, want 3; all: %+v", len(acks), r.acks)
			}
			list := pmCheckAcks(t, am, tc.stream, acks, tc.timecode == "relative", before, time.Now())
			for i := 1; i < len(list); i++ {
				if d := aws.ToTime(list[i].ProducerTimestamp).Sub(aws.ToTime(list[i-1].ProducerTimestamp)); d != 2*time.Second {
					t.Errorf("fragment %d starts %v after the previous, want the GOP's 2 s", i, d)
				}
			}
			clip := pmClipOf(t, am, tc.stream, list)
			if c := pmCodecs(t, clip); strings.Join(c, ",") != "h264,aac" {
				t.Errorf("clip codecs %v, want h264,aac", c)
			}
			if frames, ok := crashVideoDecode(t, ffmpeg, clip, ".mp4", tc.name+" clip"); ok && (frames < 149 || frames > 151) {
				t.Errorf("clip decodes to %d video frames, want the 150 of 6 s", frames)
			}
		})
	}

	t.Run("H.265+Opus", func(t *testing.T) {
		src := filepath.Join(t.TempDir(), "hevc-opus.mkv")
		out, err := exec.Command(ffmpeg, "-v", "error", "-y",
			"-f", "lavfi", "-i", "testsrc=size=320x240:rate=25", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
			"-t", "4", "-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "keyint=25:min-keyint=25:bframes=0:log-level=error",
			"-pix_fmt", "yuv420p", "-c:a", "libopus", "-b:a", "32k", "-f", "matroska", src).CombinedOutput()
		if err != nil {
			mediatest.Missing(t, fmt.Sprintf("ffmpeg cannot encode H.265 + Opus: %v: %s", err, out))
		}
		before := time.Now()
		r := pmStart(t, bin, env, "-endpoint", srv.URL(), src, "pm-hevc")
		if err := r.wait(t, 60*time.Second); err != nil {
			t.Fatalf("eddy putmedia: %v\n%s", err, r.stderr.String())
		}
		acks := r.of(putmedia.EventPersisted)
		if len(acks) != 4 {
			t.Fatalf("%d PERSISTED acks for 4 s of 1 s GOPs, want 4; all: %+v", len(acks), r.acks)
		}
		list := pmCheckAcks(t, am, "pm-hevc", acks, false, before, time.Now())
		clip := pmClipOf(t, am, "pm-hevc", list)
		if c := pmCodecs(t, clip); strings.Join(c, ",") != "hevc,opus" {
			t.Errorf("clip codecs %v, want hevc,opus", c)
		}
		if frames, ok := crashVideoDecode(t, ffmpeg, clip, ".mp4", "H.265+Opus clip"); ok && (frames < 99 || frames > 101) {
			t.Errorf("clip decodes to %d video frames, want the 100 of 4 s", frames)
		}
	})

	t.Run("RTSP H.264+G.711", func(t *testing.T) {
		// ffmpeg publishes G.711 mu-law over RTSP; eddy putmedia sends it
		// as KVS takes it (A_MS/ACM with a WAVEFORMATEX).
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		pub := exec.CommandContext(ctx, ffmpeg, "-v", "error", "-re", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=25",
			"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=8000", "-t", "30",
			"-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-bf", "0", "-pix_fmt", "yuv420p",
			"-c:a", "pcm_mulaw", "-ar", "8000", "-ac", "1", "-f", "rtsp", "-rtsp_transport", "tcp", "rtsp://"+srv.RTSP()+"/pm-g711src")
		var pubErr servertest.SyncBuffer
		pub.Stderr = &pubErr
		if err := pub.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { cancel(); _ = pub.Wait() }()
		before := time.Now()
		r := pmStart(t, bin, env, "-endpoint", srv.URL(), "-duration", "4s", "rtsp://"+srv.RTSP()+"/pm-g711src", "pm-g711")
		if err := r.wait(t, 60*time.Second); err != nil {
			t.Fatalf("eddy putmedia: %v\n%s\nffmpeg: %s", err, r.stderr.String(), pubErr.String())
		}
		acks := r.of(putmedia.EventPersisted)
		if len(acks) < 3 || len(acks) > 5 {
			t.Fatalf("%d PERSISTED acks for 4 s of 1 s GOPs; all: %+v", len(acks), r.acks)
		}
		list := pmCheckAcks(t, am, "pm-g711", acks, false, before, time.Now())
		out, err := am.GetMediaForFragmentList(context.Background(), &kinesisvideoarchivedmedia.GetMediaForFragmentListInput{
			StreamName: aws.String("pm-g711"), Fragments: []string{aws.ToString(list[0].FragmentNumber)}})
		if err != nil {
			t.Fatalf("GetMediaForFragmentList: %v", err)
		}
		doc, err := io.ReadAll(out.Payload)
		out.Payload.Close()
		if err != nil {
			t.Fatal(err)
		}
		// The archive keeps G.711 as the linear PCM it decodes to.
		if c := pmCodecs(t, doc); len(c) != 2 || c[0] != "h264" || !strings.HasPrefix(c[1], "pcm_") {
			t.Errorf("stored fragment's codecs %v, want h264 and PCM", c)
		}
	})

	t.Run("SigV4", func(t *testing.T) { testPutMediaSigV4(t, bin) })
	t.Run("HTTPS", func(t *testing.T) { testPutMediaHTTPS(t, bin) })

	t.Run("RTSP source", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		pub := &rtspclient.FilePublisher{URL: "rtsp://" + srv.RTSP() + "/pm-src", File: pmClip, Loop: true}
		pubDone := make(chan error, 1)
		go func() { pubDone <- pub.Run(ctx) }()
		before := time.Now()
		r := pmStart(t, bin, env, "-endpoint", srv.URL(), "-duration", "7s", "rtsp://"+srv.RTSP()+"/pm-src", "pm-rtsp")
		if err := r.wait(t, 60*time.Second); err != nil {
			t.Fatalf("eddy putmedia: %v\n%s", err, r.stderr.String())
		}
		cancel()
		if err := <-pubDone; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("RTSP publisher: %v", err)
		}
		acks := r.of(putmedia.EventPersisted)
		if len(acks) < 3 || len(acks) > 4 {
			t.Fatalf("%d PERSISTED acks for 7 s of a camera with 2 s GOPs, want 3 or 4", len(acks))
		}
		list := pmCheckAcks(t, am, "pm-rtsp", acks, false, before, time.Now())
		// The producer's clock comes from the camera's RTCP sender reports:
		// the publisher's wall clock.
		if d := aws.ToTime(list[0].ProducerTimestamp).Sub(before); d < -3*time.Second || d > 10*time.Second {
			t.Errorf("first producer timestamp %v after the start", d)
		}
		if frames, ok := crashVideoDecode(t, ffmpeg, pmClipOf(t, am, "pm-rtsp", list), ".mp4", "RTSP clip"); ok && frames < 100 {
			t.Errorf("clip decodes to %d video frames, want at least 100", frames)
		}
		// The producer, its RTSP source and its registry each name their
		// component: no line carries a key twice.
		components := map[string]bool{}
		for _, line := range strings.Split(r.stderr.String(), "\n") {
			if !strings.HasPrefix(line, "time=") {
				continue
			}
			keys := map[string]bool{}
			for _, kv := range logfmtPairs(line) {
				if keys[kv[0]] {
					t.Errorf("log line carries %s twice: %s", kv[0], line)
				}
				keys[kv[0]] = true
				if kv[0] == "component" {
					components[kv[1]] = true
				}
			}
		}
		if !components["putmedia"] || !components["media"] {
			t.Errorf("no line of the putmedia and media components (%v):\n%s", components, r.stderr.String())
		}
	})
}

// logfmtPairs splits a line of slog's text handler into its key=value
// pairs (values quoted when they hold spaces or quotes).
func logfmtPairs(line string) [][2]string {
	var out [][2]string
	for line != "" {
		line = strings.TrimLeft(line, " ")
		key, rest, ok := strings.Cut(line, "=")
		if !ok {
			break
		}
		var val string
		if strings.HasPrefix(rest, `"`) {
			end := 1
			for end < len(rest) && rest[end] != '"' {
				if rest[end] == '\\' {
					end++
				}
				end++
			}
			val, line = rest[1:min(end, len(rest))], rest[min(end+1, len(rest)):]
		} else {
			val, line, _ = strings.Cut(rest, " ")
		}
		out = append(out, [2]string{key, val})
	}
	return out
}

// pmAuthYAML configures one identity: PutMedia must be signed by it.
const pmAuthYAML = `rtsp_udp_rtp: ""
rtsp_udp_rtcp: ""
auth:
  credentials:
    - access_key_id: AKIDPUTMEDIA
      secret_access_key: "putmedia-secret"
      allow:
        - actions: ["*"]
          streams: ["*"]
`

// testPutMediaSigV4 runs `eddy putmedia` against a server with
// credentials: signed with the credentials in the environment (SigV4, the
// empty payload's hash), its fragments are PERSISTED; with a wrong secret
// or none, the request is refused with the AWS error and eddy exits 1.
func testPutMediaSigV4(t *testing.T, bin string) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "auth.yaml")
	if err := os.WriteFile(conf, []byte(pmAuthYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	srv := pmServer(t, bin, dir, "--config", conf)
	creds := aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{AccessKeyID: "AKIDPUTMEDIA", SecretAccessKey: "putmedia-secret", Source: "test"}, nil
	})
	pmCreate(t, srv.URL(), creds, "pm-auth")
	before := time.Now()
	r := pmStart(t, bin, pmEnv(t, "AWS_ACCESS_KEY_ID=AKIDPUTMEDIA", "AWS_SECRET_ACCESS_KEY=putmedia-secret"),
		"-endpoint", srv.URL(), "-duration", "3s", pmClip, "pm-auth")
	if err := r.wait(t, 60*time.Second); err != nil {
		t.Fatalf("eddy putmedia, signed: %v\n%s", err, r.stderr.String())
	}
	acks := r.of(putmedia.EventPersisted)
	if len(acks) != 2 {
		t.Fatalf("%d PERSISTED acks for 3 s of 2 s GOPs, want 2", len(acks))
	}
	am := kinesisvideoarchivedmedia.New(kinesisvideoarchivedmedia.Options{Region: "us-east-1", Credentials: creds,
		BaseEndpoint: aws.String(srv.URL()), HTTPClient: servertest.GuardRequestBody(nil)})
	pmCheckAcks(t, am, "pm-auth", acks, false, before, time.Now())

	for _, tc := range []struct {
		name string
		env  []string
	}{
		{"wrong secret", []string{"AWS_ACCESS_KEY_ID=AKIDPUTMEDIA", "AWS_SECRET_ACCESS_KEY=not-the-secret"}},
		{"unsigned", nil},
	} {
		r := pmStart(t, bin, pmEnv(t, tc.env...), "-endpoint", srv.URL(), "-duration", "3s", pmClip, "pm-auth")
		err := r.wait(t, 30*time.Second)
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 1 || !strings.Contains(r.stderr.String(), "eddy: putmedia: ") ||
			!strings.Contains(r.stderr.String(), "Exception: ") {
			t.Errorf("%s: eddy putmedia exited with %v, want 1 and the AWS error:\n%s", tc.name, err, r.stderr.String())
		}
		if n := len(r.of(putmedia.EventPersisted)); n != 0 {
			t.Errorf("%s: %d fragments acknowledged", tc.name, n)
		}
	}
}

// testPutMediaHTTPS runs `eddy putmedia` against a server serving HTTPS,
// trusting its certificate with -ca: the upload goes over HTTP/2 (ALPN),
// as to a KVS endpoint.
func testPutMediaHTTPS(t *testing.T, bin string) {
	cert, key, pool := servertest.SelfSignedCert(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv, err := bench.StartServer(ctx, bin, t.TempDir(), []string{"--tls-cert", cert, "--tls-key", key}, t.Logf)
	if err != nil {
		t.Fatalf("start server: %v", err)
	}
	t.Cleanup(func() { _ = srv.Kill() })
	if !strings.HasPrefix(srv.URL(), "https://") {
		t.Fatalf("server URL %s is not https", srv.URL())
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, ForceAttemptHTTP2: true}}
	kv := kinesisvideo.New(kinesisvideo.Options{Region: "us-east-1", Credentials: servertest.Credentials, BaseEndpoint: aws.String(srv.URL()), HTTPClient: hc})
	if _, err := kv.CreateStream(ctx, &kinesisvideo.CreateStreamInput{StreamName: aws.String("pm-tls"), DataRetentionInHours: aws.Int32(24)}); err != nil {
		t.Fatalf("CreateStream: %v", err)
	}
	before := time.Now()
	r := pmStart(t, bin, pmEnv(t), "-endpoint", srv.URL(), "-ca", cert, "-duration", "3s", pmClip, "pm-tls")
	if err := r.wait(t, 60*time.Second); err != nil {
		t.Fatalf("eddy putmedia over HTTPS: %v\n%s", err, r.stderr.String())
	}
	acks := r.of(putmedia.EventPersisted)
	if len(acks) != 2 {
		t.Fatalf("%d PERSISTED acks for 3 s of 2 s GOPs, want 2", len(acks))
	}
	am := kinesisvideoarchivedmedia.New(kinesisvideoarchivedmedia.Options{Region: "us-east-1", Credentials: servertest.Credentials,
		BaseEndpoint: aws.String(srv.URL()), HTTPClient: hc})
	pmCheckAcks(t, am, "pm-tls", acks, false, before, time.Now())
	if !strings.Contains(r.stderr.String(), "proto=HTTP/2.0") {
		t.Errorf("the upload did not go over HTTP/2:\n%s", r.stderr.String())
	}
}

// pmFreePort returns a loopback port nothing listens on (for a server
// that must come back on the same address after a kill).
func pmFreePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

// TestCrashPutMedia kills the server (SIGKILL) twice while `eddy putmedia`
// uploads 20 s of video, restarts it on the same data directory and
// address, and checks that every fragment acknowledged PERSISTED before a
// kill is listed after the restart, and that `eddy putmedia`, left
// running, resends from its buffer so that in the end the stored
// fragments cover the whole clip: ten fragments 2 s apart, none missing,
// none twice.
func TestCrashPutMedia(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test runs the real binary for half a minute; skipped with -short")
	}
	const (
		stream = "crashpm"
		cycles = 2
	)
	bin := crashBuildBinary(t)
	dir := t.TempDir()
	addr := []string{"--http", "127.0.0.1:" + pmFreePort(t)}
	srv := pmServer(t, bin, dir, addr...)
	pmCreate(t, srv.URL(), servertest.Credentials, stream)
	buffer := t.TempDir()
	start := time.Now()
	r := pmStart(t, bin, pmEnv(t), "-endpoint", srv.URL(), "-buffer", buffer, "-duration", "20s", pmClip, stream)

	seen := 0
	for cycle := range cycles {
		// Kill once a fragment was acknowledged since the last restart, at
		// a moment within the next GOP.
		for wait := time.Now(); len(r.of(putmedia.EventPersisted)) <= seen; {
			if time.Since(wait) > 30*time.Second {
				t.Fatalf("cycle %d: no PERSISTED ack within 30 s:\n%s\nserver log:\n%s", cycle, r.stderr.String(), srv.Tail(40))
			}
			time.Sleep(20 * time.Millisecond)
		}
		time.Sleep(time.Duration(300+700*cycle) * time.Millisecond)
		if err := srv.Kill(); err != nil {
			t.Fatalf("cycle %d: kill: %v", cycle, err)
		}
		// The acks printed up to the kill: the process may still be
		// printing the last one.
		time.Sleep(100 * time.Millisecond)
		acked := r.of(putmedia.EventPersisted)
		seen = len(acked)
		time.Sleep(time.Second) // down for a while: the producer retries and buffers
		srv = pmServer(t, bin, dir, addr...)
		list := pmList(t, crashVideoClient(srv.URL()), stream, start)
		stored := map[string]kvamtypes.Fragment{}
		for _, f := range list {
			stored[aws.ToString(f.FragmentNumber)] = f
		}
		for _, a := range acked {
			f, ok := stored[a.FragmentNumber]
			if !ok {
				t.Errorf("restart %d: fragment %s (timecode %d) was acknowledged PERSISTED and is gone", cycle, a.FragmentNumber, a.Timecode())
			} else if ms := aws.ToTime(f.ProducerTimestamp).UnixMilli(); ms != a.Timecode() {
				t.Errorf("restart %d: fragment %s: producer timestamp %d ms, acknowledged timecode %d", cycle, a.FragmentNumber, ms, a.Timecode())
			}
		}
		t.Logf("cycle %d: killed after %d PERSISTED acks; %d fragments stored after the restart", cycle, len(acked), len(list))
		if t.Failed() {
			t.FailNow()
		}
	}

	if err := r.wait(t, 90*time.Second); err != nil {
		t.Fatalf("eddy putmedia: %v", err)
	}
	list := pmList(t, crashVideoClient(srv.URL()), stream, start)
	if len(list) != 10 {
		t.Errorf("%d fragments stored, want the clip's 10 GOPs", len(list))
	}
	for i := 1; i < len(list); i++ {
		if d := aws.ToTime(list[i].ProducerTimestamp).Sub(aws.ToTime(list[i-1].ProducerTimestamp)); d != 2*time.Second {
			t.Errorf("fragment %d (%s) starts %v after the previous: a gap or a duplicate", i, aws.ToString(list[i].FragmentNumber), d)
		}
	}
	stored := map[string]bool{}
	for _, f := range list {
		stored[aws.ToString(f.FragmentNumber)] = true
	}
	for _, a := range r.of(putmedia.EventPersisted) {
		if !stored[a.FragmentNumber] {
			t.Errorf("fragment %s was acknowledged PERSISTED and is not listed", a.FragmentNumber)
		}
	}
	reconnects := strings.Count(r.stderr.String(), "connection ended; reconnecting")
	if reconnects < cycles {
		t.Errorf("eddy putmedia reconnected %d times across %d kills", reconnects, cycles)
	}
	t.Logf("%d fragments stored, %d acknowledged PERSISTED, after %d reconnection attempts", len(list),
		len(r.of(putmedia.EventPersisted)), reconnects)
	if ents, err := os.ReadDir(buffer); err != nil || len(ents) != 0 {
		t.Errorf("the buffer keeps %d entries after every ack (%v)", len(ents), err)
	}
	if t.Failed() {
		t.Logf("eddy putmedia stderr:\n%s\nserver log:\n%s", r.stderr.String(), srv.Tail(60))
	}
}

// TestPutMediaFlags: the command's usage and refusals, before any
// connection.
func TestPutMediaFlags(t *testing.T) {
	none := filepath.Join(t.TempDir(), "none")
	for _, kv := range [][2]string{{"AWS_EC2_METADATA_DISABLED", "true"}, {"AWS_ACCESS_KEY_ID", ""}, {"AWS_SECRET_ACCESS_KEY", ""},
		{"AWS_PROFILE", ""}, {"AWS_SHARED_CREDENTIALS_FILE", none}, {"AWS_CONFIG_FILE", none}, {"EDDY_ENDPOINT", ""}} {
		t.Setenv(kv[0], kv[1])
	}
	if err := putMedia([]string{"-h"}); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v, want flag.ErrHelp (eddy exits 0 on it)", err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "want a SOURCE and a STREAM"},
		{[]string{"-tag", "novalue", pmClip, "cam"}, "want NAME=VALUE"},
		{[]string{"-endpoint", "http://127.0.0.1:1", "-timecode", "sideways", pmClip, "cam"}, "timecode type"},
		{[]string{"-endpoint", "http://127.0.0.1:1", "no-such-file.mp4", "cam"}, "no such file"},
		{[]string{"-buffer-max", "lots", pmClip, "cam"}, "want a byte count"},
		{[]string{"-release-on", "never", pmClip, "cam"}, "use persisted, received or auto"},
	} {
		if err := putMedia(tc.args); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want an error saying %q", tc.args, err, tc.want)
		}
	}
}

// TestPutMediaRetention0: a stream of retention 0 acknowledges RECEIVED,
// never PERSISTED; eddy putmedia learns that from DescribeStream, releases
// each cluster on RECEIVED and exits at the end of the file (it waited
// for PERSISTED forever before). -json prints the acks as the server sent
// them.
func TestPutMediaRetention0(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the real binary; skipped with -short")
	}
	bin := crashBuildBinary(t)
	srv := pmServer(t, bin, t.TempDir())
	kv := kinesisvideo.New(kinesisvideo.Options{Region: "us-east-1", Credentials: servertest.Credentials, BaseEndpoint: aws.String(srv.URL())})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := kv.CreateStream(ctx, &kinesisvideo.CreateStreamInput{StreamName: aws.String("pm-r0"), DataRetentionInHours: aws.Int32(0)}); err != nil {
		t.Fatalf("CreateStream: %v", err)
	}
	buf := t.TempDir()
	r := pmStart(t, bin, pmEnv(t), "-endpoint", srv.URL(), "-buffer", buf, "-duration", "6s", pmClip, "pm-r0")
	if err := r.wait(t, 60*time.Second); err != nil {
		t.Fatalf("eddy putmedia: %v\n%s", err, r.stderr.String())
	}
	if got := r.of(putmedia.EventReceived); len(got) != 3 || len(r.of(putmedia.EventPersisted)) != 0 {
		t.Fatalf("acks %+v: want 3 RECEIVED for 6 s of 2 s GOPs and no PERSISTED", r.acks)
	}
	if !strings.Contains(r.stderr.String(), "released when RECEIVED") {
		t.Errorf("no word of the release on RECEIVED:\n%s", r.stderr.String())
	}
	r.mu.Lock()
	for _, line := range r.lines {
		var a kvsapi.Ack
		if err := json.Unmarshal([]byte(line), &a); err != nil || a.String() != line {
			t.Errorf("printed %s, the server sends %s", line, a.String())
		}
	}
	r.mu.Unlock()
	ents, err := os.ReadDir(buf)
	if err != nil || len(ents) != 0 {
		t.Errorf("buffer left %v (%v), want empty: every cluster was RECEIVED", ents, err)
	}
	// -release-on persisted waits for what never comes: the clusters
	// stay in the buffer (the run is stopped).
	r = pmStart(t, bin, pmEnv(t), "-endpoint", srv.URL(), "-buffer", buf, "-release-on", "persisted", "-duration", "2s", pmClip, "pm-r0")
	deadline := time.Now().Add(30 * time.Second)
	for len(r.of(putmedia.EventReceived)) == 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	_ = r.cmd.Process.Signal(os.Interrupt)
	if err := r.wait(t, 30*time.Second); err != nil {
		t.Fatalf("eddy putmedia -release-on persisted: %v", err)
	}
	if n := pmCountBuffered(t, buf); n != 1 {
		t.Errorf("-release-on persisted: %d clusters buffered, want the 1 RECEIVED and never PERSISTED", n)
	}
}

// pmCountBuffered counts the cluster files in a -buffer directory.
func pmCountBuffered(t *testing.T, dir string) int {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "s-*", "*_*.mkv"))
	if err != nil {
		t.Fatal(err)
	}
	return len(m)
}

// TestPutMediaFormatAck: a line shows what the ack carries, nothing the
// server did not send (no timecode on IDLE, no fragment before PERSISTED).
func TestPutMediaFormatAck(t *testing.T) {
	tc := int64(1796626035617)
	for _, c := range []struct {
		a    putmedia.Ack
		want string
	}{
		{putmedia.Ack{EventType: "IDLE"}, "IDLE"},
		{putmedia.Ack{EventType: "RECEIVED", FragmentTimecode: &tc}, "RECEIVED timecode=1796626035617"},
		{putmedia.Ack{EventType: "PERSISTED", FragmentTimecode: &tc, FragmentNumber: "91343852333181432392682062607743920146264867493"},
			"PERSISTED timecode=1796626035617 fragment=91343852333181432392682062607743920146264867493"},
		{putmedia.Ack{EventType: "ERROR", ErrorID: 4002, ErrorCode: "MAX_FRAGMENT_DURATION_REACHED"}, "ERROR error=4002 MAX_FRAGMENT_DURATION_REACHED"},
	} {
		if got := formatAck(c.a); got != c.want {
			t.Errorf("%+v: %q, want %q", c.a, got, c.want)
		}
	}
}
