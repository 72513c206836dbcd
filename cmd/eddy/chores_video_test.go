package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideoarchivedmedia"
	amtypes "github.com/aws/aws-sdk-go-v2/service/kinesisvideoarchivedmedia/types"

	"github.com/eddy-video/eddy/media/rtspclient"
	"github.com/eddy-video/eddy/server/servertest"
)

// recorded is a server with credentials on which a camera recorded a
// few seconds into the video stream cam, between from and to.
type recorded struct {
	ce       *choresEnv
	from, to time.Time
	frags    int
}

// record creates cam with `eddy streams create`, publishes 4 s of the
// test clip over RTSP and waits until its fragments are listed.
func record(t *testing.T) *recorded {
	t.Helper()
	ce := choresModes(t)[1].ce
	ce.ok(t, "streams", "create", "cam")
	ctx := servertest.Context(t, time.Minute)
	from := time.Now().Add(-time.Second)
	pub := &rtspclient.FilePublisher{URL: "rtsp://AKIDADMIN:adminsecret1@" + ce.Server.RTSPAddr() + "/cam",
		File: filepath.Join("..", "..", "testdata", "cam-h264-aac.mp4"), Duration: 4 * time.Second}
	if err := pub.Run(ctx); err != nil {
		t.Fatalf("publish: %v", err)
	}
	r := &recorded{ce: ce, from: from}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		var rows []fragmentRow
		ce.okJSON(t, &rows, "fragments", "ls", "cam", "--since", from.Format(time.RFC3339Nano), "--timestamps", "server")
		if len(rows) >= 2 && len(rows) == r.frags {
			break // the last one is in: the count held still
		}
		r.frags = len(rows)
	}
	if r.frags < 2 {
		t.Fatalf("%d fragments recorded", r.frags)
	}
	r.to = time.Now()
	return r
}

// TestChoresFragmentsAndEvents lists a recording's fragments with `eddy
// fragments ls` and reads its fragment events with `eddy events tail`,
// for people and with --json.
func TestChoresFragmentsAndEvents(t *testing.T) {
	r := record(t)
	ce := r.ce
	out := ce.ok(t, "fragments", "ls", "cam", "--since", "5m")
	mustContain(t, "fragments ls", out, "FRAGMENT", "PRODUCER TIME", "SERVER TIME", "DURATION", "SIZE", " fragments, ", " recorded, ", " 0 gaps")
	var rows []fragmentRow
	ce.okJSON(t, &rows, "fragments", "ls", "cam", "--since", "5m")
	if len(rows) != r.frags {
		t.Fatalf("fragments ls --json: %d fragments; want %d", len(rows), r.frags)
	}
	checkAligned(t, out, "DURATION", humanDuration(time.Duration(rows[0].DurationMS)*time.Millisecond))
	for i, f := range rows {
		if f.DurationMS <= 0 || f.Size <= 0 || f.Server.Before(r.from) || (i > 0 && f.Producer.Before(rows[i-1].Producer)) {
			t.Errorf("fragment %d: %+v", i, f)
		}
	}
	ce.okJSON(t, &rows, "fragments", "ls", "cam", "--since", "5m", "--max", "1")
	if len(rows) != 1 {
		t.Errorf("fragments ls --max 1: %d rows", len(rows))
	}
	mustContain(t, "fragments ls --until 1h", ce.ok(t, "fragments", "ls", "cam", "--since", "2h", "--until", "1h"), "no fragments in the range")
	ce.fails(t, "ResourceNotFoundException", "fragments", "ls", "nope")

	since := r.from.Format(time.RFC3339Nano)
	out = ce.ok(t, "events", "tail", "cam", "--since", since, "-n", "2", "--json")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("events tail -n 2 --json: %d lines:\n%s", len(lines), out)
	}
	for _, l := range lines {
		var ev eventLine
		var f fragmentEvent
		if err := json.Unmarshal([]byte(l), &ev); err != nil || ev.Stream != "cam.events" || json.Unmarshal(ev.Data, &f) != nil || f.Type != "fragment" || f.Size <= 0 {
			t.Errorf("events tail --json line %s: %v", l, err)
		}
	}
	mustContain(t, "events tail", ce.ok(t, "events", "tail", "cam", "--since", since, "-n", "1"), "  fragment ", "  keyframe")
}

// TestChoresEventsFollow follows a data stream with `eddy events tail`
// (from its newest record on, like tail -f) while records are put.
func TestChoresEventsFollow(t *testing.T) {
	ce := choresModes(t)[1].ce
	ce.ok(t, "streams", "create", "detections", "--kind", "data")
	kds := ce.Kinesis(withKDSCredentials(ce))
	ctx := servertest.Context(t, time.Minute)
	putRecord(ctx, t, kds, "before the tail")

	type result struct {
		out string
		err error
	}
	done := make(chan result, 1)
	go func() {
		out, _, err := ce.run(t, "events", "tail", "detections", "-n", "3")
		done <- result{out, err}
	}()
	for i := 0; ; i++ {
		select {
		case res := <-done:
			if res.err != nil {
				t.Fatal(res.err)
			}
			lines := strings.Split(strings.TrimSpace(res.out), "\n")
			if len(lines) != 3 || strings.Contains(res.out, "before the tail") {
				t.Fatalf("events tail -n 3:\n%s", res.out)
			}
			first := strings.Fields(lines[0])[3]
			for j, l := range lines {
				mustContain(t, "events tail", l, "  sensor  ")
				if j > 0 && strings.Fields(l)[3] <= first {
					t.Errorf("records out of order:\n%s", res.out)
				}
			}
			return
		case <-time.After(200 * time.Millisecond):
			putRecord(ctx, t, kds, "detection-"+string(rune('a'+i%26)))
		}
	}
}

// TestChoresClipResume downloads a clip with `eddy clip` through a proxy
// that cuts the connection twice mid-body: the download resumes from what
// it has (HTTP Range, If-Range) and the file equals GetClip's clip. A
// download that gives up keeps its part, and the same command run again
// finishes it, or starts over when the clip changed on the server; a
// connection that hangs is cut and resumed.
func TestChoresClipResume(t *testing.T) {
	r := record(t)
	ce := r.ce
	ctx := servertest.Context(t, time.Minute)
	dir := t.TempDir()
	span := []string{"--from", r.from.Format(time.RFC3339Nano), "--to", r.to.Format(time.RFC3339Nano), "--timestamps", "server"}
	want := sdkClip(ctx, t, ce, r.from, r.to)

	direct := filepath.Join(dir, "direct.mp4")
	out, errOut, err := ce.run(t, append([]string{"clip", "cam", "-o", direct}, span...)...)
	if err != nil || errOut != "" {
		t.Fatalf("clip: %v\n%s", err, errOut)
	}
	mustContain(t, "clip", out, direct+": ")
	sameFile(t, direct, want)

	p := startCutProxy(t, ce.Server.HTTPAddr(), int64(len(want)/3), 2)
	proxied := ce.with("EDDY_ENDPOINT", "http://"+p.ln.Addr().String())
	proxied.progress = true
	cut := filepath.Join(dir, "cut.mp4")
	out, errOut, err = proxied.run(t, append([]string{"clip", "cam", "-o", cut}, span...)...)
	if err != nil {
		t.Fatalf("clip through the cutting proxy: %v\n%s", err, errOut)
	}
	if p.cut.Load() != 2 {
		t.Errorf("the proxy cut %d connections; want 2", p.cut.Load())
	}
	mustContain(t, "clip", out, " (3 requests)")
	mustContain(t, "clip's stderr", errOut, "; resuming at ", "100% [==============================] "+humanBytes(int64(len(want))))
	sameFile(t, cut, want)
	if _, err := os.Stat(cut + ".part.json"); !os.IsNotExist(err) {
		t.Errorf("the state file is left: %v", err)
	}

	// Cut, no retry: the part stays; the same command finishes it.
	p.cuts.Store(1)
	again := filepath.Join(dir, "again.mp4")
	args := append([]string{"clip", "cam", "-o", again, "--retries", "0"}, span...)
	if _, _, err := proxied.run(t, args...); err == nil || !strings.Contains(err.Error(), "run the same command again to resume") {
		t.Fatalf("clip cut without retries: %v", err)
	}
	st, err := os.Stat(again + ".part")
	if err != nil || st.Size() == 0 || st.Size() >= int64(len(want)) {
		t.Fatalf("the part after the cut: %v %v", st, err)
	}
	proxied.progress = false
	var res clipResult
	out, errOut, err = proxied.run(t, append(args, "--json")...)
	if err != nil || json.Unmarshal([]byte(out), &res) != nil {
		t.Fatalf("clip resumed: %v\n%s", err, errOut)
	}
	if res.ResumedFrom != st.Size() || res.Attempts != 1 || res.Bytes != int64(len(want)) || res.ETag == "" {
		t.Errorf("clip resumed: %+v; want resumed from %d", res, st.Size())
	}
	mustContain(t, "clip's stderr", errOut, "resuming "+again+".part at ")
	if strings.Contains(errOut, "%") {
		t.Errorf("a progress bar without a terminal:\n%s", errOut)
	}
	sameFile(t, again, want)

	// A part of a clip that has changed since (its ETag is not the
	// server's): the server sends the whole clip and the file starts over.
	p.cuts.Store(1)
	stale := filepath.Join(dir, "stale.mp4")
	args = append([]string{"clip", "cam", "-o", stale, "--retries", "0"}, span...)
	if _, _, err := proxied.run(t, args...); err == nil {
		t.Fatal("clip cut without retries succeeded")
	}
	var saved clipState
	b, err := os.ReadFile(stale + ".part.json")
	if err != nil || json.Unmarshal(b, &saved) != nil {
		t.Fatalf("the state after the cut: %v %s", err, b)
	}
	saved.ETag = `"another clip"`
	if b, err = json.Marshal(&saved); err != nil || os.WriteFile(stale+".part.json", b, 0o644) != nil {
		t.Fatal(err)
	}
	_, errOut, err = proxied.run(t, args...)
	if err != nil {
		t.Fatalf("clip of a changed clip: %v\n%s", err, errOut)
	}
	mustContain(t, "clip's stderr", errOut, "the clip changed on the server (fragments added to the range, or expired); starting over")
	sameFile(t, stale, want)

	// A connection that hangs mid-body is cut after --idle-timeout and
	// resumed.
	p.cuts.Store(1)
	p.stall.Store(true)
	hung := filepath.Join(dir, "hung.mp4")
	_, errOut, err = proxied.run(t, append([]string{"clip", "cam", "-o", hung, "--idle-timeout", "300ms"}, span...)...)
	if err != nil {
		t.Fatalf("clip through a hanging connection: %v\n%s", err, errOut)
	}
	mustContain(t, "clip's stderr", errOut, "eddy clip: no data from the server for 300ms; resuming at ")
	sameFile(t, hung, want)

	ce.fails(t, "ResourceNotFoundException", append([]string{"clip", "nope", "-o", filepath.Join(dir, "nope.mp4")}, span...)...)
	if _, err := os.Stat(filepath.Join(dir, "nope.mp4.part")); !os.IsNotExist(err) {
		t.Errorf("a failed clip left its part: %v", err)
	}
}

// TestChoresClipProgress draws the progress bar on a terminal: the last
// state is the whole clip.
func TestChoresClipProgress(t *testing.T) {
	bar := &progressBar{w: &bytes.Buffer{}}
	bar.start(0, 3<<20)
	n, err := io.Copy(io.Discard, bar.wrap(bytes.NewReader(make([]byte, 3<<20))))
	bar.stop()
	out := bar.w.(*bytes.Buffer).String()
	if err != nil || n != 3<<20 || !strings.Contains(out, "100% [==============================] 3.0 MiB / 3.0 MiB") || !strings.HasPrefix(out, "\r  0% [>") {
		t.Errorf("progress bar: %q", out)
	}
	var none *progressBar
	if r := bytes.NewReader(nil); none.wrap(r) != r {
		t.Error("a nil bar wraps the reader")
	}
}

func putRecord(ctx context.Context, t *testing.T, kds *kinesis.Client, data string) {
	t.Helper()
	if _, err := kds.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("detections"), PartitionKey: aws.String("sensor"), Data: []byte(data)}); err != nil {
		t.Fatal(err)
	}
}

// sdkClip is GetClip's clip through the SDK, read whole.
func sdkClip(ctx context.Context, t *testing.T, ce *choresEnv, from, to time.Time) []byte {
	t.Helper()
	am := ce.ArchivedMedia(func(o *kinesisvideoarchivedmedia.Options) {
		o.Credentials = credentials.NewStaticCredentialsProvider("AKIDADMIN", "adminsecret1", "")
	})
	out, err := am.GetClip(ctx, &kinesisvideoarchivedmedia.GetClipInput{StreamName: aws.String("cam"),
		ClipFragmentSelector: &amtypes.ClipFragmentSelector{FragmentSelectorType: amtypes.ClipFragmentSelectorTypeServerTimestamp,
			TimestampRange: &amtypes.ClipTimestampRange{StartTimestamp: aws.Time(from), EndTimestamp: aws.Time(to)}}})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Payload.Close()
	b, err := io.ReadAll(out.Payload)
	if err != nil || len(b) < 1000 {
		t.Fatalf("GetClip: %d bytes, %v", len(b), err)
	}
	return b
}

func sameFile(t *testing.T, path string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("%s: %d bytes (%v); want GetClip's %d", path, len(got), err, len(want))
	}
}

// cutProxy forwards TCP connections to a server; while cuts remain, it
// closes a connection once limit bytes of answers have passed on it, as a
// network that drops mid-download would, or (stall) stops forwarding and
// leaves it open, as one that hangs would.
type cutProxy struct {
	ln          net.Listener
	target      string
	limit       int64
	cuts, cut   atomic.Int32
	stall       atomic.Bool
	wg          sync.WaitGroup
	mu          sync.Mutex
	connections []net.Conn
}

func startCutProxy(t *testing.T, target string, limit int64, cuts int32) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, target: target, limit: limit}
	p.cuts.Store(cuts)
	p.wg.Go(p.accept)
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		for _, c := range p.connections {
			c.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	return p
}

func (p *cutProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.connections = append(p.connections, c, up)
		p.mu.Unlock()
		p.wg.Go(func() { _, _ = io.Copy(up, c); up.Close() })
		p.wg.Go(func() { p.answers(c, up); c.Close() })
	}
}

// answers copies the server's answers to the client, cutting the
// connection at limit bytes while cuts remain.
func (p *cutProxy) answers(c, up net.Conn) {
	if p.cuts.Load() > 0 {
		if _, err := io.CopyN(c, up, p.limit); err != nil {
			return
		}
		if p.cuts.Add(-1) >= 0 {
			p.cut.Add(1)
			if p.stall.Load() {
				_, _ = io.Copy(io.Discard, up) // until the client gives up and closes
			}
			up.Close()
			return
		}
	}
	if _, err := io.Copy(c, up); err != nil && !errors.Is(err, net.ErrClosed) {
		return
	}
}
