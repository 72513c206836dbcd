package server_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	kdstypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideoarchivedmedia"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideoarchivedmedia/types"
	"github.com/aws/smithy-go"

	"github.com/eddy-video/eddy/datastreams"
	"github.com/eddy-video/eddy/datastreams/objstore/objstoretest"
	"github.com/eddy-video/eddy/fragments"
	"github.com/eddy-video/eddy/fragments/fragmentstest"
	"github.com/eddy-video/eddy/server"
	"github.com/eddy-video/eddy/server/servertest"
)

// objectConfig is storage.object for the versitygw server s3.
func objectConfig(s3 *objstoretest.Server, hot time.Duration) *server.ObjectStorageConfig {
	bc := s3.Config()
	return &server.ObjectStorageConfig{Endpoint: bc.Endpoint, Bucket: bc.Bucket, Prefix: bc.Prefix, Region: bc.Region,
		AccessKeyID: bc.AccessKeyID, SecretAccessKey: bc.SecretAccessKey, PathStyle: true,
		Hot: server.Duration(hot), CacheSize: server.MinObjectCacheSize}
}

// fragmentList fetches GetMediaForFragmentList of nums.
func fragmentList(ctx context.Context, t *testing.T, am *kinesisvideoarchivedmedia.Client, stream string, nums []string) []byte {
	t.Helper()
	out, err := am.GetMediaForFragmentList(ctx, &kinesisvideoarchivedmedia.GetMediaForFragmentListInput{StreamName: aws.String(stream), Fragments: nums})
	if err != nil {
		t.Fatalf("GetMediaForFragmentList: %v", err)
	}
	defer out.Payload.Close()
	b, err := io.ReadAll(out.Payload)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// coldSegments counts the segments of the logs under dir that are only
// in the bucket (an upload record, no local file).
func coldSegments(t *testing.T, dir string) int {
	t.Helper()
	ups, err := filepath.Glob(filepath.Join(dir, "*", "*.up"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, up := range ups {
		if _, err := os.Stat(strings.TrimSuffix(up, ".up") + ".seg"); os.IsNotExist(err) {
			n++
		}
	}
	return n
}

// TestObjectStorageColdRead: a server with storage.object and hot 0s
// uploads a video stream's sealed segment to a real S3 server
// (versitygw), drops the local copy once it is verified, and answers
// GetMediaForFragmentList of the now cold fragments with the bytes it
// answered before; the stream list, the status page and the UI (in
// headless Chromium) show the bucket.
func TestObjectStorageColdRead(t *testing.T) {
	t.Parallel()
	s3 := objstoretest.Start(t)
	cfg := servertest.Config(t)
	cfg.Storage.Object = objectConfig(s3, 0)
	clk := servertest.NewClock(time.Now())
	e := servertest.StartWithClock(t, cfg, clk)
	ctx := servertest.Context(t, 2*time.Minute)
	am := e.ArchivedMedia()

	// 6 s (three fragments) go to the first segment; past the segment
	// duration, the next publish's first append seals it.
	_, _, done := publish(ctx, e.RTSPURL("cam"), 6*time.Second, "tcp")
	stopped(t, done)
	var frags []types.Fragment
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline) && len(frags) < 3; time.Sleep(100 * time.Millisecond) {
		frags = listAll(ctx, t, am, "cam", types.FragmentSelectorTypeServerTimestamp, clk.Now().Add(-time.Hour), clk.Now().Add(time.Hour))
	}
	if len(frags) < 3 {
		t.Fatalf("%d fragments listed, want 3", len(frags))
	}
	var nums []string
	for _, f := range frags {
		nums = append(nums, *f.FragmentNumber)
	}
	before := fragmentList(ctx, t, am, "cam", nums)

	clk.Advance(2 * time.Hour)
	_, _, done = publish(ctx, e.RTSPURL("cam"), 2*time.Second, "tcp")
	stopped(t, done)

	st, err := e.Server.Core().Stream("cam")
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		up, _ := sample(scrape(t, e), "eddy_object_uploaded_segments_total", nil)
		if up >= 1 && coldSegments(t, st.Dir()) >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 30 s: %v segments uploaded, %d cold", up, coldSegments(t, st.Dir()))
		}
	}
	if err := e.Server.Tier().Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}

	after := fragmentList(ctx, t, am, "cam", nums)
	if !bytes.Equal(before, after) {
		t.Fatalf("GetMediaForFragmentList of the cold fragments: %d bytes differ from the %d before tiering", len(after), len(before))
	}
	if hits, _ := sample(scrape(t, e), "eddy_object_cache_misses_total", nil); hits < 1 {
		t.Errorf("the cold read fetched no block from the bucket (%v misses)", hits)
	}
	objs, _, err := s3.Bucket().List(ctx, "", "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	var segs int
	for _, o := range objs {
		if strings.HasSuffix(o.Key, ".seg") {
			segs++
		}
	}
	if segs < 1 {
		t.Fatalf("no segment object in the bucket: %v", objs)
	}

	// The stream list shows the bucket's share, the status page the bucket.
	var list []struct {
		Name        string `json:"name"`
		LocalBytes  *int64 `json:"localBytes"`
		BucketBytes *int64 `json:"bucketBytes"`
	}
	if code, body := getJSON(t, e.URL+"/api/v1/streams", &list); code != http.StatusOK {
		t.Fatalf("GET /api/v1/streams: %d %s", code, body)
	}
	if len(list) != 1 || list[0].BucketBytes == nil || *list[0].BucketBytes <= 0 || list[0].LocalBytes == nil {
		t.Errorf("stream list: %+v", list)
	}
	var status struct {
		ObjectStorage *struct {
			Bucket    string `json:"bucket"`
			Available bool   `json:"available"`
			Hot       string `json:"hot"`
		} `json:"objectStorage"`
	}
	if code, body := getJSON(t, e.URL+"/api/v1/ui/status", &status); code != http.StatusOK {
		t.Fatalf("GET /api/v1/ui/status: %d %s", code, body)
	}
	if o := status.ObjectStorage; o == nil || !strings.Contains(o.Bucket, objstoretest.BucketName) || !o.Available || o.Hot != "0s" {
		t.Errorf("status object storage: %+v", o)
	}

	// The UI shows the same (web/test/object_storage.mjs).
	t.Run("browser", func(t *testing.T) {
		node, chromium := needBrowser(t)
		runBrowserTest(ctx, t, node, chromium, "test/object_storage.mjs", "EDDY_URL="+e.URL, "EDDY_STREAM=cam",
			"EDDY_BUCKET="+objstoretest.BucketName)
	})
}

// TestObjectStorageOutageAnswers: with the object store stopped, reads
// of cold data answer at once in each protocol's terms: an HLS segment
// and the browser's clip.mp4 503 with Retry-After, Kinesis Data Streams'
// GetRecords 500 InternalFailureException naming object storage; the
// playlists (the local index) still answer 200. The status page says the
// store is unavailable until it answers again.
func TestObjectStorageOutageAnswers(t *testing.T) {
	t.Parallel()
	s3 := objstoretest.Start(t)
	cfg := servertest.Config(t)
	cfg.Storage.Object = objectConfig(s3, 0)
	start := time.Now().Truncate(time.Second)
	clk := servertest.NewClock(start)
	e := servertest.StartWithClock(t, cfg, clk)
	ctx := servertest.Context(t, 2*time.Minute)
	am := e.ArchivedMedia()

	orders, err := e.Server.Core().CreateStream("orders", datastreams.CreateOptions{ShardCount: 1, Immediate: true})
	if err != nil {
		t.Fatal(err)
	}
	put := func() {
		if _, err := orders.Put([]datastreams.PutEntry{{Key: []byte("k"), Data: []byte("order")}}); err != nil {
			t.Fatal(err)
		}
	}
	for range 10 {
		put()
	}
	_, _, done := publish(ctx, e.RTSPURL("cam"), 4*time.Second, "tcp")
	stopped(t, done)
	clk.Advance(2 * time.Hour) // the next appends seal both logs' segments
	put()
	_, _, done = publish(ctx, e.RTSPURL("cam"), 2*time.Second, "tcp")
	stopped(t, done)
	cam, err := e.Server.Core().Stream("cam")
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); coldSegments(t, cam.Dir()) < 1 || coldSegments(t, orders.Dir()) < 1; time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("after 30 s: %d cold segments of cam, %d of orders", coldSegments(t, cam.Dir()), coldSegments(t, orders.Dir()))
		}
	}
	from, to := start.Add(-time.Minute), start.Add(time.Minute)
	od, err := am.GetHLSStreamingSessionURL(ctx, &kinesisvideoarchivedmedia.GetHLSStreamingSessionURLInput{StreamName: aws.String("cam"),
		PlaybackMode: types.HLSPlaybackModeOnDemand,
		HLSFragmentSelector: &types.HLSFragmentSelector{FragmentSelectorType: types.HLSFragmentSelectorTypeServerTimestamp,
			TimestampRange: &types.HLSTimestampRange{StartTimestamp: &from, EndTimestamp: &to}}})
	if err != nil {
		t.Fatal(err)
	}
	s3.Stop()

	unavailable := func(what, u string) {
		t.Helper()
		began := time.Now()
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "5" || !strings.Contains(string(b), "object storage") {
			t.Errorf("%s during the outage: %s, Retry-After %q, %.200s; want 503, Retry-After 5, a reason naming object storage",
				what, resp.Status, resp.Header.Get("Retry-After"), b)
		}
		if took := time.Since(began); took > 5*time.Second {
			t.Errorf("%s during the outage took %v", what, took)
		}
	}
	status, _, master := httpGet(t, *od.HLSStreamingSessionURL)
	if status != http.StatusOK {
		t.Fatalf("HLS master playlist during the outage: %d", status)
	}
	mediaURL := playlistURIs(*od.HLSStreamingSessionURL, master)[0]
	status, _, media := httpGet(t, mediaURL)
	var segment string
	for _, u := range playlistURIs(mediaURL, media) {
		if strings.Contains(u, "getMP4MediaFragment") || strings.Contains(u, "getTSFragment") {
			segment = u
			break
		}
	}
	if status != http.StatusOK || segment == "" {
		t.Fatalf("HLS media playlist during the outage (%d):\n%s", status, media)
	}
	unavailable("an HLS segment", segment)
	unavailable("clip.mp4", e.URL+"/api/v1/streams/cam/clip.mp4?timestamps=server&start="+from.UTC().Format(time.RFC3339)+"&end="+to.UTC().Format(time.RFC3339))

	kc := e.Kinesis(servertest.NoRetries)
	it, err := kc.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String("orders"), ShardId: aws.String("shardId-000000000000"),
		ShardIteratorType: kdstypes.ShardIteratorTypeTrimHorizon})
	if err != nil {
		t.Fatal(err)
	}
	_, err = kc.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it.ShardIterator})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "InternalFailureException" || !strings.Contains(ae.ErrorMessage(), "object storage") {
		t.Errorf("GetRecords of cold records during the outage: %v; want InternalFailureException naming object storage", err)
	}

	// The status page says the store does not answer, then that it does.
	available := func() bool {
		var st struct {
			ObjectStorage struct{ Available bool } `json:"objectStorage"`
		}
		if code, body := getJSON(t, e.URL+"/api/v1/ui/status", &st); code != http.StatusOK {
			t.Fatalf("status: %d %s", code, body)
		}
		return st.ObjectStorage.Available
	}
	if available() {
		t.Error("the status page says the stopped store is available")
	}
	// Once back, the next request to it (a cold read, past the cache's
	// short backoff) answers: available again, and the clip whole.
	s3.Start()
	clip := e.URL + "/api/v1/streams/cam/clip.mp4?timestamps=server&start=" + from.UTC().Format(time.RFC3339) + "&end=" + to.UTC().Format(time.RFC3339)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(500 * time.Millisecond) {
		status, _, _ := httpGet(t, clip)
		if status == http.StatusOK && available() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("30 s after the store is back: clip.mp4 %d, available %v", status, available())
		}
	}
}

// TestObjectStorageRelativeDataDir: with data a relative path (the
// default is ./eddy-data) the logs still tier: a sealed segment is
// uploaded, dropped locally with hot 0s, read back whole, and the stream
// list counts it in the bucket.
func TestObjectStorageRelativeDataDir(t *testing.T) {
	s3 := objstoretest.Start(t)
	t.Chdir(t.TempDir())
	cfg := servertest.Config(t)
	cfg.Data = "eddy-data"
	cfg.Storage.Object = objectConfig(s3, 0)
	clk := servertest.NewClock(time.Now())
	e := servertest.StartWithClock(t, cfg, clk)
	ctx := servertest.Context(t, time.Minute)
	if _, err := e.Server.Videos().CreateStream("cam", fragments.CreateOptions{RetentionHours: 24}); err != nil {
		t.Fatal(err)
	}
	st, err := e.Server.Videos().Store("cam")
	if err != nil {
		t.Fatal(err)
	}
	seqs := fragmentstest.AppendSynthetic(t, st, clk, 5, 20_000)
	before, err := st.Read(seqs[0])
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(2 * time.Hour)
	fragmentstest.AppendSynthetic(t, st, clk, 1, 20_000) // seals the first segment
	if err := e.Server.Tier().Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	cam, err := e.Server.Core().Stream("cam")
	if err != nil {
		t.Fatal(err)
	}
	if n := coldSegments(t, cam.Dir()); n != 1 {
		t.Fatalf("%d cold segments under %s, want 1", n, cam.Dir())
	}
	after, err := st.Read(seqs[0])
	if err != nil || !bytes.Equal(after.Media, before.Media) {
		t.Fatalf("the cold fragment reads %d bytes (%v), %d before", len(after.Media), err, len(before.Media))
	}
	var list []struct {
		BucketBytes *int64 `json:"bucketBytes"`
	}
	if code, body := getJSON(t, e.URL+"/api/v1/streams", &list); code != http.StatusOK || len(list) != 1 || list[0].BucketBytes == nil || *list[0].BucketBytes <= 0 {
		t.Fatalf("stream list: %d %s", code, body)
	}
}

// uploads counts the upload records of the logs under dir.
func uploads(t *testing.T, dir string) int {
	t.Helper()
	ups, err := filepath.Glob(filepath.Join(dir, "*", "*.up"))
	if err != nil {
		t.Fatal(err)
	}
	return len(ups)
}

// TestObjectStorageHotTag: a stream's eddy:hot tag overrides
// storage.object.hot: with hot 24h, the stream tagged 0s loses its
// local copy once uploaded while an untagged one keeps it; tagging the
// latter 1h (its data is 2 h old) drops it at the next pass.
func TestObjectStorageHotTag(t *testing.T) {
	t.Parallel()
	s3 := objstoretest.Start(t)
	cfg := servertest.Config(t)
	cfg.Storage.Object = objectConfig(s3, 24*time.Hour)
	clk := servertest.NewClock(time.Now())
	e := servertest.StartWithClock(t, cfg, clk)
	ctx := servertest.Context(t, time.Minute)
	v := e.Server.Videos()
	if _, err := v.CreateStream("door", fragments.CreateOptions{RetentionHours: 24, Tags: map[string]string{fragments.HotTag: "0s"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := v.CreateStream("yard", fragments.CreateOptions{RetentionHours: 24}); err != nil {
		t.Fatal(err)
	}
	stores := map[string]*fragments.Store{}
	for _, name := range []string{"door", "yard"} {
		st, err := v.Store(name)
		if err != nil {
			t.Fatal(err)
		}
		stores[name] = st
		fragmentstest.AppendSynthetic(t, st, clk, 3, 10_000)
	}
	clk.Advance(2 * time.Hour)
	for _, st := range stores {
		fragmentstest.AppendSynthetic(t, st, clk, 1, 10_000) // seals the first segment
	}
	if err := e.Server.Tier().Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	dirOf := func(name string) string {
		st, err := e.Server.Core().Stream(name)
		if err != nil {
			t.Fatal(err)
		}
		return st.Dir()
	}
	door, yard := dirOf("door"), dirOf("yard")
	if up, cold := uploads(t, door), coldSegments(t, door); up != 1 || cold != 1 {
		t.Errorf("door (eddy:hot 0s): %d uploaded, %d cold; want 1 and 1", up, cold)
	}
	if up, cold := uploads(t, yard), coldSegments(t, yard); up != 1 || cold != 0 {
		t.Errorf("yard (hot 24h): %d uploaded, %d cold; want 1 and 0", up, cold)
	}
	if err := v.Tag("yard", map[string]string{fragments.HotTag: "1h"}); err != nil {
		t.Fatal(err)
	}
	if err := e.Server.Tier().Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	if cold := coldSegments(t, yard); cold != 1 {
		t.Errorf("yard tagged eddy:hot 1h, its data 2 h old: %d cold segments, want 1", cold)
	}
}
