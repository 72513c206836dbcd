package server_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideoarchivedmedia"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideoarchivedmedia/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/eddy-video/eddy/datastreams/objstore/objstoretest"
	"github.com/eddy-video/eddy/fragments/mkv"
	"github.com/eddy-video/eddy/server"
	"github.com/eddy-video/eddy/server/servertest"
)

// The object-storage tests (object_*_test.go) run the real server over a
// real S3-compatible server (versitygw, started by objstoretest on a
// loopback port) and look at the bucket with the AWS SDK's own S3 client,
// not with Eddy's objstore: what is in the bucket is checked by a client
// that shares no code with the one that put it there.

// objTestStore is a versitygw for one test and an S3 client of its bucket.
type objTestStore struct {
	*objstoretest.Server
	s3 *s3.Client
}

// startObjStore starts versitygw for t (skipped without it, failed in CI).
func startObjStore(t testing.TB) *objTestStore {
	t.Helper()
	srv := objstoretest.Start(t)
	c := srv.Config()
	client := s3.New(s3.Options{
		BaseEndpoint: aws.String(c.Endpoint), Region: c.Region, UsePathStyle: true,
		Credentials:                credentials.NewStaticCredentialsProvider(c.AccessKeyID, c.SecretAccessKey, ""),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
		RetryMaxAttempts:           1,
	})
	return &objTestStore{Server: srv, s3: client}
}

// objYAML is the configuration the tests load (with LoadFile, or eddy
// serve --config): the storage.object section exactly as a user writes
// it, the smallest segments (1 MiB: a minute of the test clip, about
// 2.3 MB, seals two), a fast janitor, no throttling. hot is
// storage.object.hot.
func (o *objTestStore) objYAML(hot string) string {
	c := o.Config()
	var b strings.Builder
	fmt.Fprintf(&b, "storage:\n  segment_size: 1MiB\n  janitor_interval: 300ms\n  object:\n")
	fmt.Fprintf(&b, "    endpoint: %s\n    bucket: %s\n    prefix: %s\n    region: %s\n", c.Endpoint, c.Bucket, c.Prefix, c.Region)
	fmt.Fprintf(&b, "    access_key_id: %s\n    secret_access_key: %s\n    path_style: true\n", c.AccessKeyID, c.SecretAccessKey)
	fmt.Fprintf(&b, "    hot: %s\n    cache_size: 64MB\n", hot)
	b.WriteString("streams:\n  throttle: false\n")
	return b.String()
}

// writeConfig writes a YAML file into a test directory.
func writeConfig(t testing.TB, yaml string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "eddy.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// objConfig is servertest's config (fresh data directory, loopback
// ports) with the YAML file loaded over it.
func objConfig(t testing.TB, yaml string) server.Config {
	t.Helper()
	cfg := servertest.Config(t)
	if err := cfg.LoadFile(writeConfig(t, yaml)); err != nil {
		t.Fatal(err)
	}
	if cfg.Storage.Object == nil {
		t.Fatal("storage.object not loaded")
	}
	return cfg
}

// objKey is one object of the bucket, its key relative to the prefix.
type objKey struct {
	Key  string
	Size int64
}

// list lists every object under the prefix (and under more, relative to
// the prefix), with the S3 client.
func (o *objTestStore) list(t testing.TB, under string) []objKey {
	t.Helper()
	c := o.Config()
	var out []objKey
	p := s3.NewListObjectsV2Paginator(o.s3, &s3.ListObjectsV2Input{Bucket: aws.String(c.Bucket), Prefix: aws.String(c.Prefix + under)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatalf("list the bucket: %v", err)
		}
		for _, obj := range page.Contents {
			out = append(out, objKey{Key: strings.TrimPrefix(aws.ToString(obj.Key), c.Prefix), Size: aws.ToInt64(obj.Size)})
		}
	}
	return out
}

// segKeys returns the keys ending in suffix (".seg", ".idx").
func segKeys(objs []objKey, suffix string) map[string]int64 {
	out := map[string]int64{}
	for _, o := range objs {
		if strings.HasSuffix(o.Key, suffix) {
			out[o.Key] = o.Size
		}
	}
	return out
}

// pendingUploads returns the unfinished multipart uploads of the bucket.
func (o *objTestStore) pendingUploads(t testing.TB) []string {
	t.Helper()
	c := o.Config()
	out, err := o.s3.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String(c.Bucket), Prefix: aws.String(c.Prefix)})
	if err != nil {
		t.Fatalf("list multipart uploads: %v", err)
	}
	var keys []string
	for _, u := range out.Uploads {
		keys = append(keys, aws.ToString(u.Key))
	}
	return keys
}

// logFiles is what one log directory holds: its segment files, upload
// records and sparse indexes, by base name ("00000000000000000001").
type logFiles struct {
	segs, ups, idxs []string
}

// dataLogs walks a data directory and returns, per log directory (relative
// to data, slash-separated), its segment files.
func dataLogs(t testing.TB, data string) map[string]*logFiles {
	t.Helper()
	out := map[string]*logFiles{}
	err := filepath.WalkDir(data, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed while walking (a segment dropped, a stream deleted)
			}
			return err
		}
		if d.IsDir() {
			if path != data && (d.Name() == "cache" || d.Name() == "trash" || d.Name() == "tier") {
				return filepath.SkipDir
			}
			return nil
		}
		ext := filepath.Ext(d.Name())
		if ext != ".seg" && ext != ".up" && ext != ".idx" {
			return nil
		}
		rel, _ := filepath.Rel(data, filepath.Dir(path))
		rel = filepath.ToSlash(rel)
		base := strings.TrimSuffix(d.Name(), ext)
		if _, err := strconv.ParseUint(base, 10, 64); err != nil || len(base) != 20 {
			return nil // not a segment's file (fragments.idx and the like)
		}
		lf := out[rel]
		if lf == nil {
			lf = &logFiles{}
			out[rel] = lf
		}
		switch ext {
		case ".seg":
			lf.segs = append(lf.segs, base)
		case ".up":
			lf.ups = append(lf.ups, base)
		case ".idx":
			lf.idxs = append(lf.idxs, base)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, lf := range out {
		sort.Strings(lf.segs)
		sort.Strings(lf.ups)
		sort.Strings(lf.idxs)
	}
	return out
}

// allCold reports whether every log of data holds only its active
// segment locally (one .seg, newer than every uploaded one), and how many
// segments are uploaded.
func allCold(t testing.TB, data string) (cold bool, uploaded int) {
	t.Helper()
	cold = true
	for _, lf := range dataLogs(t, data) {
		uploaded += len(lf.ups)
		if len(lf.segs) > 1 {
			cold = false
		}
		if len(lf.segs) == 1 && len(lf.ups) > 0 && lf.ups[len(lf.ups)-1] >= lf.segs[0] {
			cold = false // the local one is an uploaded (hot) segment, not the active one
		}
	}
	return cold, uploaded
}

// scrapeURL reads a server's /metrics (in process or not).
func scrapeURL(t testing.TB, base string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return fams
}

// objMetric is the sum of a family's series (0 when it has none).
func objMetric(fams map[string]*dto.MetricFamily, name string) float64 {
	v, _ := sample(fams, name, nil)
	return v
}

// objWaitUntil polls cond every 100 ms until it holds or within passes, and
// fails the test with what describes the last state.
func objWaitUntil(t testing.TB, within time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %v (%s)", what, within, state)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitTiered waits until every sealed segment of every log under data is
// uploaded and its local copy dropped (hot 0s), at least minUploaded
// upload records, and the metrics agree: nothing pending.
func waitTiered(t testing.TB, url, data string, minUploaded int, within time.Duration) {
	t.Helper()
	objWaitUntil(t, within, "every sealed segment uploaded and dropped locally", func() (bool, string) {
		cold, uploaded := allCold(t, data)
		fams := scrapeURL(t, url)
		pending, bytes := objMetric(fams, "eddy_object_pending_segments"), objMetric(fams, "eddy_object_pending_bytes")
		state := fmt.Sprintf("cold %v, %d .up records, pending %v segments (%v bytes)", cold, uploaded, pending, bytes)
		return cold && uploaded >= minUploaded && pending == 0 && bytes == 0, state
	})
}

// ingestClip uploads loops × the 20 s test clip (timestamps continuous,
// one cluster per 2 s GOP) with PutMedia as fast as the server takes it,
// at producer times from base on, and returns the fragment numbers acked
// PERSISTED, in order.
func ingestClip(ctx context.Context, t *testing.T, url, stream string, base time.Time, loops int) []string {
	t.Helper()
	cmd := exec.CommandContext(ctx, "ffmpeg", "-v", "error", "-stream_loop", strconv.Itoa(loops-1), "-i", testClip,
		"-c", "copy", "-cluster_time_limit", "10000", "-cluster_size_limit", "50000000", "-f", "matroska", "pipe:1")
	body, _ := runProducer(ctx, t, cmd)
	s, err := putMedia(ctx, t, url, pmRequest{stream: stream, timecode: "RELATIVE", start: unixSeconds(base)}, body)
	if err != nil {
		t.Fatal(err)
	}
	if s.Resp.StatusCode != 200 {
		t.Fatalf("PutMedia: status %d", s.Resp.StatusCode)
	}
	var nums []string
	for _, a := range s.Wait(t, 2*time.Minute) {
		switch a.EventType {
		case "PERSISTED":
			nums = append(nums, a.FragmentNumber)
		case "ERROR":
			t.Errorf("PutMedia ack %+v", a)
		}
	}
	if want := loops * 10; len(nums) < want-1 {
		t.Fatalf("%d fragments persisted, want %d (2 s GOPs)", len(nums), want)
	}
	return nums
}

// createObjStream creates a video stream with a retention in hours.
func createObjStream(ctx context.Context, t testing.TB, kv *kinesisvideo.Client, name string, hours int32) {
	t.Helper()
	if _, err := kv.CreateStream(ctx, &kinesisvideo.CreateStreamInput{StreamName: aws.String(name), DataRetentionInHours: aws.Int32(hours)}); err != nil {
		t.Fatal(err)
	}
}

// sortedFragments lists every fragment of a stream by producer time
// within an hour around base, in fragment-number order.
func sortedFragments(ctx context.Context, t *testing.T, am *kinesisvideoarchivedmedia.Client, stream string, base time.Time) []types.Fragment {
	t.Helper()
	frags := listAll(ctx, t, am, stream, types.FragmentSelectorTypeProducerTimestamp, base.Add(-time.Hour), base.Add(time.Hour))
	return sortedByNumber(frags)
}

// fragmentLine is a fragment as ListFragments lists it, in one line.
func fragmentLine(f types.Fragment) string {
	return fmt.Sprintf("%s producer=%s server=%s bytes=%d ms=%d", aws.ToString(f.FragmentNumber),
		f.ProducerTimestamp.UTC().Format(time.RFC3339Nano), f.ServerTimestamp.UTC().Format(time.RFC3339Nano),
		f.FragmentSizeInBytes, f.FragmentLengthInMilliseconds)
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:8])
}

// getFragments is GetMediaForFragmentList's whole answer.
func getFragments(ctx context.Context, am *kinesisvideoarchivedmedia.Client, stream string, nums []string) ([]byte, error) {
	out, err := am.GetMediaForFragmentList(ctx, &kinesisvideoarchivedmedia.GetMediaForFragmentListInput{StreamName: aws.String(stream), Fragments: nums})
	if err != nil {
		return nil, err
	}
	defer out.Payload.Close()
	b, err := io.ReadAll(out.Payload)
	if err != nil {
		return nil, err
	}
	// A read that fails after the answer began ends the Matroska stream
	// early; every fragment must be there, whole.
	r := mkv.NewReader(bytes.NewReader(b))
	r.EmitOnClusterEnd = true
	n := 0
	for {
		f, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading the answer: %w", err)
		}
		if len(f.Frames) > 0 {
			n++
		}
	}
	if n != len(nums) {
		return nil, fmt.Errorf("%d fragments in the answer, asked for %d", n, len(nums))
	}
	return b, nil
}

// getMediaHash reads GetMedia from the stream's earliest fragment until n
// fragments and hashes what a consumer gets of each: its cluster
// timecode, frames and tags. The AWS_KINESISVIDEO_MILLIS_BEHIND_NOW tag
// is left out: it says how long ago the fragment arrived, which changes
// between two reads of the same bytes.
func getMediaHash(ctx context.Context, t *testing.T, url, stream string, n int) (string, []string) {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	resp := postKVSRaw(ctx, t, url+"/getMedia", `{"StreamName":"`+stream+`","StartSelector":{"StartSelectorType":"EARLIEST"}}`)
	defer resp.Body.Close()
	r := mkv.NewReader(resp.Body)
	r.EmitOnClusterEnd = true
	h := sha256.New()
	var nums []string
	for len(nums) < n {
		f, err := r.Next()
		if err != nil {
			t.Fatalf("GetMedia after %d fragments: %v", len(nums), err)
		}
		if len(f.Frames) == 0 {
			if code, ok := f.Tag(mkv.TagErrorCode); ok {
				t.Fatalf("GetMedia after %d fragments: error %s", len(nums), code)
			}
			continue
		}
		num, _ := f.Tag(mkv.TagFragmentNumber)
		nums = append(nums, num)
		fmt.Fprintf(h, "cluster %d\n", f.Timecode)
		for _, tag := range append(slices.Clone(f.PreTags), f.PostTags...) {
			if tag.Name != "AWS_KINESISVIDEO_MILLIS_BEHIND_NOW" {
				fmt.Fprintf(h, "tag %s=%s\n", tag.Name, tag.Value)
			}
		}
		for _, fr := range f.Frames {
			fmt.Fprintf(h, "frame %d %d %v %d\n", fr.Track, fr.Time, fr.Key, len(fr.Data))
			h.Write(fr.Data)
		}
		for _, tr := range f.Tracks {
			fmt.Fprintf(h, "track %d %s %x\n", tr.Number, tr.CodecID, tr.CodecPrivate)
		}
	}
	return hex.EncodeToString(h.Sum(nil)[:8]), nums
}

// hlsHashes opens an HLS session (ON_DEMAND over [from, to], or
// LIVE_REPLAY from from on; producer time) and hashes its master and
// media playlists (the session token in their URIs replaced: each
// session has its own) and every file they name (the init segment and
// the media segments), in order.
func hlsHashes(ctx context.Context, t *testing.T, am *kinesisvideoarchivedmedia.Client, stream string, mode types.HLSPlaybackMode, from, to time.Time) []string {
	t.Helper()
	rng := &types.HLSTimestampRange{StartTimestamp: &from, EndTimestamp: &to}
	if mode == types.HLSPlaybackModeLiveReplay {
		rng.EndTimestamp = nil
	}
	od, err := am.GetHLSStreamingSessionURL(ctx, &kinesisvideoarchivedmedia.GetHLSStreamingSessionURLInput{StreamName: aws.String(stream),
		PlaybackMode: mode, DisplayFragmentTimestamp: types.HLSDisplayFragmentTimestampAlways,
		HLSFragmentSelector: &types.HLSFragmentSelector{FragmentSelectorType: types.HLSFragmentSelectorTypeProducerTimestamp, TimestampRange: rng}})
	if err != nil {
		t.Fatalf("GetHLSStreamingSessionURL: %v", err)
	}
	tok := regexp.MustCompile(`SessionToken=[^&"\s]+`)
	get := func(u string) []byte {
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %v: %.200s", u, resp.StatusCode, err, b)
		}
		return b
	}
	var out []string
	master := get(*od.HLSStreamingSessionURL)
	out = append(out, "master "+sha(tok.ReplaceAll(master, []byte("SessionToken=X"))))
	mediaURL := playlistURIs(*od.HLSStreamingSessionURL, string(master))[0]
	media := get(mediaURL)
	out = append(out, "media "+sha(tok.ReplaceAll(media, []byte("SessionToken=X"))))
	var uris []string
	for _, l := range strings.Split(string(media), "\n") {
		if v, ok := strings.CutPrefix(l, `#EXT-X-MAP:URI="`); ok {
			uris = append(uris, v[:strings.IndexByte(v, '"')])
		}
	}
	uris = append(uris, playlistURIs(mediaURL, string(media))...)
	dir := mediaURL[:strings.LastIndex(mediaURL, "/")+1]
	segments := 0
	for _, u := range uris {
		if !strings.HasPrefix(u, "http") {
			u = dir + u
		}
		b := get(u)
		segments++
		out = append(out, fmt.Sprintf("%s %s", tok.ReplaceAllString(u[len(dir):], "SessionToken=X"), sha(b)))
	}
	if segments < 2 {
		t.Fatalf("ON_DEMAND playlist names %d files:\n%s", segments, media)
	}
	return out
}

// imageHashes asks GetImages for a JPEG every 3 s over [from, to]
// (producer time) and hashes each image with its time.
func imageHashes(ctx context.Context, t *testing.T, am *kinesisvideoarchivedmedia.Client, stream string, from, to time.Time) []string {
	t.Helper()
	imgs, _ := getAllImages(ctx, t, am, &kinesisvideoarchivedmedia.GetImagesInput{StreamName: aws.String(stream),
		ImageSelectorType: types.ImageSelectorTypeProducerTimestamp, StartTimestamp: &from, EndTimestamp: &to,
		SamplingInterval: aws.Int32(3000), Format: types.FormatJpeg, MaxResults: aws.Int64(100)})
	var out []string
	for _, im := range imgs {
		if im.Error != "" || im.ImageContent == nil {
			t.Fatalf("GetImages at %v: error %q", im.TimeStamp, im.Error)
		}
		out = append(out, fmt.Sprintf("%s %s", im.TimeStamp.UTC().Format(time.RFC3339Nano), sha([]byte(*im.ImageContent))))
	}
	if len(out) < 2 {
		t.Fatalf("GetImages: %d images", len(out))
	}
	return out
}

// objChild is the eddy binary serving a data directory (for kill -9).
type objChild struct {
	cmd  *exec.Cmd
	url  string
	out  *objChildLog
	done chan struct{}
	err  error
}

var objReadyLine = regexp.MustCompile(`msg=ready http=(http://\S+)`)

// objChildLog keeps the child's output and finds the ready line.
type objChildLog struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	ready chan string
	sent  bool
}

func (l *objChildLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	if !l.sent {
		if m := objReadyLine.FindSubmatch(l.buf.Bytes()); m != nil {
			l.sent = true
			l.ready <- string(m[1])
		}
	}
	return len(p), nil
}

func (l *objChildLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// buildEddy builds cmd/eddy into a test directory.
func buildEddy(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "eddy")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/eddy").CombinedOutput(); err != nil {
		t.Fatalf("go build ../cmd/eddy: %v\n%s", err, out)
	}
	return bin
}

// objEnv is the environment of the eddy binary: none of the caller's
// EDDY_* settings, which could change the configuration under test.
func objEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "EDDY_") {
			env = append(env, kv)
		}
	}
	return env
}

// startChild runs eddy serve --config cfg --data dir on loopback ports
// and waits until it answers /healthz.
func startChild(t *testing.T, bin, cfg, dir string) *objChild {
	t.Helper()
	out := &objChildLog{ready: make(chan string, 1)}
	cmd := exec.Command(bin, "serve", "--config", cfg, "--data", dir, "--http", "127.0.0.1:0", "--rtsp", "127.0.0.1:0",
		"--rtsp-udp-rtp=", "--rtsp-udp-rtcp=", "--webrtc", "127.0.0.1:0", "--log-level", "info")
	cmd.Env = objEnv()
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start eddy: %v", err)
	}
	c := &objChild{cmd: cmd, out: out, done: make(chan struct{})}
	go func() {
		c.err = cmd.Wait()
		close(c.done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill() // harmless once it exited
		<-c.done
		if t.Failed() {
			t.Logf("eddy (%s) said:\n%s", c.url, tailString(out.String(), 16<<10))
		}
	})
	select {
	case c.url = <-out.ready:
	case <-c.done:
		t.Fatalf("eddy exited before ready: %v\n%s", c.err, out.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("eddy not ready after 30s:\n%s", out.String())
	}
	objWaitUntil(t, 10*time.Second, "/healthz OK", func() (bool, string) {
		resp, err := http.Get(c.url + "/healthz")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status
	})
	return c
}

// kill sends SIGKILL and waits for the process to be gone.
func (c *objChild) kill(t *testing.T) {
	t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("kill: %v", err)
	}
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		t.Fatal("eddy still running 10s after SIGKILL")
	}
}

// stop sends SIGTERM and expects a clean exit.
func (c *objChild) stop(t *testing.T) {
	t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("sigterm: %v", err)
	}
	select {
	case <-c.done:
		if c.err != nil {
			t.Errorf("eddy exited with %v after SIGTERM", c.err)
		}
	case <-time.After(20 * time.Second):
		t.Error("eddy still running 20s after SIGTERM")
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}

func tailString(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// kvClients returns the control-plane and archived-media clients of a
// server URL.
func kvClients(url string) (*kinesisvideo.Client, *kinesisvideoarchivedmedia.Client) {
	e := &servertest.Env{URL: url}
	return e.KinesisVideo(), e.ArchivedMedia()
}

// objStatus is what the status page's API says of object storage, and
// the warnings and errors it shows.
type objStatus struct {
	ObjectStorage *struct {
		Bucket          string
		Available       bool
		PendingSegments int64
	}
	Errors []struct {
		Level, Message string
		Attrs          map[string]string
	}
}

// statusOf reads GET /api/v1/ui/status.
func statusOf(t testing.TB, url string) objStatus {
	t.Helper()
	resp, err := http.Get(url + "/api/v1/ui/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st objStatus
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/v1/ui/status: %s, %v", resp.Status, err)
	}
	if st.ObjectStorage == nil {
		t.Fatal("the status has no objectStorage with storage.object configured")
	}
	return st
}

// upRecordSize reads the size an upload record (<base>.up, JSON) gives.
func upRecordSize(t testing.TB, path string) int64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var u struct {
		Size int64 `json:"size"`
	}
	if err := json.Unmarshal(b, &u); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return u.Size
}
