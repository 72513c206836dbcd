package server_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideoarchivedmedia"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideoarchivedmedia/types"

	"github.com/eddy-video/eddy/datastreams/objstore/objstoretest"
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
