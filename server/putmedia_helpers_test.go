package server_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo"

	"github.com/eddy-video/eddy/fragments/kvsapi"
	"github.com/eddy-video/eddy/fragments/mkv"
	"github.com/eddy-video/eddy/server/servertest"
)

// pmAck is a PutMedia acknowledgement as a producer parses it.
type pmAck struct{ kvsapi.Ack }

func (a pmAck) short() string {
	if a.EventType == "ERROR" {
		return fmt.Sprintf("ERROR %d", a.ErrorID)
	}
	return a.EventType
}

// pmRequest is how a test producer connects.
type pmRequest struct {
	stream   string
	timecode string         // ABSOLUTE or RELATIVE
	start    string         // x-amzn-producer-start-timestamp ("": none)
	h2c      bool           // HTTP/2 with prior knowledge instead of HTTP/1.1
	roots    *x509.CertPool // HTTPS trusting these (HTTP/2 by ALPN)
	creds    *aws.Credentials
}

// pmSession is one PutMedia request in progress: its response and the
// acks read from it.
type pmSession struct {
	Resp *http.Response
	mu   sync.Mutex
	acks []pmAck
	done chan struct{}
}

// Acks returns the acks read so far.
func (s *pmSession) Acks() []pmAck {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]pmAck(nil), s.acks...)
}

// Wait waits for the answer to end and returns its acks.
func (s *pmSession) Wait(t testing.TB, within time.Duration) []pmAck {
	t.Helper()
	select {
	case <-s.done:
	case <-time.After(within):
		t.Fatalf("PutMedia answer still open after %v; acks so far: %v", within, s.Acks())
	}
	return s.Acks()
}

// putMedia POSTs /putMedia with a chunked body copied from body through
// an io.Pipe, signed with r.creds when set, and reads the acks in the
// background. It returns once the response headers arrived.
func putMedia(ctx context.Context, t testing.TB, url string, r pmRequest, body io.Reader) (*pmSession, error) {
	t.Helper()
	pr, pw := io.Pipe()
	go func() {
		_, err := io.Copy(pw, body)
		pw.CloseWithError(err)
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/putMedia", pr)
	if err != nil {
		t.Fatal(err)
	}
	if r.stream != "" {
		req.Header.Set("x-amzn-stream-name", r.stream)
	}
	req.Header.Set("x-amzn-fragment-timecode-type", r.timecode)
	if r.start != "" {
		req.Header.Set("x-amzn-producer-start-timestamp", r.start)
	}
	req.Header.Set("x-amzn-fragment-acknowledgment-required", "1")
	if r.creds != nil {
		if err := v4.NewSigner().SignHTTP(ctx, *r.creds, req, kvsapi.EmptyPayloadHash, "kinesisvideo", "us-east-1", time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	tr := &http.Transport{}
	if r.roots != nil {
		tr.TLSClientConfig = &tls.Config{RootCAs: r.roots}
		tr.ForceAttemptHTTP2 = true
	}
	if r.h2c {
		var p http.Protocols
		p.SetUnencryptedHTTP2(true)
		tr.Protocols = &p
	}
	t.Cleanup(tr.CloseIdleConnections)
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return nil, err
	}
	s := &pmSession{Resp: resp, done: make(chan struct{})}
	if resp.StatusCode != http.StatusOK {
		close(s.done)
		return s, nil
	}
	go func() {
		defer close(s.done)
		defer resp.Body.Close()
		ar := kvsapi.NewAckReader(resp.Body)
		for {
			a, _, err := ar.Next()
			if err != nil {
				if errors.Is(err, kvsapi.ErrBadAck) {
					t.Errorf("acks: %v", err)
				}
				return
			}
			s.mu.Lock()
			s.acks = append(s.acks, pmAck{a})
			s.mu.Unlock()
		}
	}()
	return s, nil
}

// ffmpegMKV runs ffmpeg over the test clip into Matroska on stdout, one
// cluster per GOP (the cluster time and size limits above a GOP, so
// clusters start on keyframes only), paced in real time with re.
func ffmpegMKV(ctx context.Context, t *testing.T, seconds int, re bool, extra ...string) (io.Reader, *bytes.Buffer) {
	t.Helper()
	args := []string{"-v", "error"}
	if re {
		args = append(args, "-re")
	}
	args = append(args, "-i", testClip, "-t", fmt.Sprint(seconds), "-c", "copy")
	args = append(args, extra...)
	args = append(args, "-cluster_time_limit", "10000", "-cluster_size_limit", "50000000", "-f", "matroska", "pipe:1")
	return runProducer(ctx, t, exec.CommandContext(ctx, "ffmpeg", args...))
}

// gstMKV runs GStreamer's matroskamux over the test clip to stdout.
func gstMKV(ctx context.Context, t *testing.T, offset time.Duration) (io.Reader, *bytes.Buffer) {
	t.Helper()
	pipeline := fmt.Sprintf("filesrc location=%s ! qtdemux name=d d.video_0 ! queue ! h264parse ! matroskamux name=m streamable=true cluster-timestamp-offset=%d ! fdsink fd=1 d.audio_0 ! queue ! aacparse ! m.", testClip, offset.Nanoseconds())
	return runProducer(ctx, t, exec.CommandContext(ctx, "gst-launch-1.0", append([]string{"-q"}, strings.Fields(pipeline)...)...))
}

// runProducer starts cmd and returns its stdout, teed into a buffer (what
// was uploaded, to check the acks against).
func runProducer(ctx context.Context, t testing.TB, cmd *exec.Cmd) (io.Reader, *bytes.Buffer) {
	t.Helper()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr servertest.SyncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := cmd.Wait(); err != nil && ctx.Err() == nil {
			t.Logf("%s: %v: %s", cmd.Path, err, stderr.String())
		}
	})
	sent := &bytes.Buffer{}
	return &lockedTee{r: out, w: sent}, sent
}

// lockedTee is io.TeeReader; the buffer is read only after the upload.
type lockedTee struct {
	r io.Reader
	w *bytes.Buffer
}

func (l *lockedTee) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	l.w.Write(p[:n])
	return n, err
}

// clusterInfo is what the test expects of one uploaded cluster.
type clusterInfo struct {
	TimecodeMs int64
	Timecode   time.Duration
	VideoStart time.Duration // first video frame, relative to the timecode
	Tags       []mkv.Tag
}

// uploadedClusters reads back what was uploaded.
func uploadedClusters(t *testing.T, data []byte) []clusterInfo {
	t.Helper()
	r := mkv.NewReader(bytes.NewReader(data))
	r.EmitOnClusterEnd = true
	var out []clusterInfo
	for {
		f, err := r.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("uploaded Matroska: %v", err)
		}
		if len(f.Frames) == 0 {
			continue
		}
		ci := clusterInfo{TimecodeMs: int64(f.Timecode / time.Millisecond), Timecode: f.Timecode, Tags: f.PreTags}
		for _, fr := range f.Frames {
			if f.Tracks[trackIndex(f.Tracks, fr.Track)].Type == mkv.Video {
				ci.VideoStart = fr.Time
				break
			}
		}
		out = append(out, ci)
	}
}

func trackIndex(ts []mkv.Track, n uint64) int {
	for i, t := range ts {
		if t.Number == n {
			return i
		}
	}
	return 0
}

// createVideoStream creates a video stream that keeps data.
func createVideoStream(ctx context.Context, t testing.TB, kv *kinesisvideo.Client, name string) {
	t.Helper()
	if _, err := kv.CreateStream(ctx, &kinesisvideo.CreateStreamInput{StreamName: aws.String(name), DataRetentionInHours: aws.Int32(24)}); err != nil {
		t.Fatal(err)
	}
}

// ackSummary is the acks without BUFFERING and RECEIVED (whose order
// with the others is the test of its own).
func ackSummary(acks []pmAck) []string {
	var out []string
	for _, a := range acks {
		if a.EventType == "PERSISTED" || a.EventType == "ERROR" {
			out = append(out, a.short())
		}
	}
	return out
}
