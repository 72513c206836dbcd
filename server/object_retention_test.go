package server_test

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo"
	kvtypes "github.com/aws/aws-sdk-go-v2/service/kinesisvideo/types"

	"github.com/eddy-video/eddy/media/mediatest"
	"github.com/eddy-video/eddy/server"
	"github.com/eddy-video/eddy/server/servertest"
)

// streamDirOf returns the directory (relative to data, slash-separated)
// of the stream called name, from the stream.json files.
func streamDirOf(t *testing.T, data, name string) string {
	t.Helper()
	matches, _ := filepath.Glob(filepath.Join(data, "streams", "*", "stream.json"))
	for _, m := range matches {
		b, err := os.ReadFile(m)
		if err != nil {
			continue
		}
		var meta struct{ Name string }
		if json.Unmarshal(b, &meta) == nil && meta.Name == name {
			rel, _ := filepath.Rel(data, filepath.Dir(m))
			return filepath.ToSlash(rel)
		}
	}
	t.Fatalf("no directory of stream %s in %s", name, data)
	return ""
}

// TestObjectTierRetention records a minute of video into two streams on
// a fake clock with hot 0s and waits until their sealed segments are in
// the bucket (and only there). Two hours later on the clock, decreasing
// the first stream's retention from 24 h to 1 h deletes its objects at
// the next janitor pass: no .seg or .idx object of its log is left, and
// eddy_object_deleted_objects_total counts them. Deleting the second
// stream deletes every object under its directory's prefix (segments,
// indexes and the mirrored files).
func TestObjectTierRetention(t *testing.T) {
	t.Parallel()
	mediatest.RequireTool(t, "ffmpeg")
	store := startObjStore(t)
	clk := servertest.NewClock(time.Now())
	e := servertest.StartWithClock(t, objConfig(t, store.objYAML("0s")), clk)
	ctx := servertest.Context(t, 3*time.Minute)
	kv := e.KinesisVideo()
	base := time.Now().Add(-30 * time.Minute).Truncate(time.Millisecond)
	for _, name := range []string{"cam-retained", "cam-deleted"} {
		createObjStream(ctx, t, kv, name, 24)
		ingestClip(ctx, t, e.URL, name, base, 3)
	}
	// Hot 0s: a segment whose newest record is as old as the clock's now
	// is past it once the clock moves at all.
	clk.Advance(time.Second)
	waitTiered(t, e.URL, e.Dir, 4, time.Minute)
	retained, deleted := streamDirOf(t, e.Dir, "cam-retained"), streamDirOf(t, e.Dir, "cam-deleted")
	objectsOf := func(dir, suffix string) int {
		return len(segKeys(store.list(t, dir+"/"), suffix))
	}
	if n := objectsOf(retained, ".seg"); n < 2 {
		t.Fatalf("%d segments of cam-retained in the bucket, want 2", n)
	}
	if n := len(store.list(t, deleted+"/")); n < 4 {
		t.Fatalf("%d objects of cam-deleted in the bucket, want its segments, indexes and files", n)
	}
	deletedBefore := objMetric(scrapeURL(t, e.URL), "eddy_object_deleted_objects_total")

	clk.Advance(2 * time.Hour)
	desc, err := kv.DescribeStream(ctx, &kinesisvideo.DescribeStreamInput{StreamName: aws.String("cam-retained")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.UpdateDataRetention(ctx, &kinesisvideo.UpdateDataRetentionInput{StreamName: aws.String("cam-retained"),
		CurrentVersion: desc.StreamInfo.Version, Operation: kvtypes.UpdateDataRetentionOperationDecreaseDataRetention,
		DataRetentionChangeInHours: aws.Int32(23)}); err != nil {
		t.Fatal(err)
	}
	objWaitUntil(t, 15*time.Second, "cam-retained's segment objects deleted", func() (bool, string) {
		segs, idxs := objectsOf(retained, ".seg"), objectsOf(retained, ".idx")
		return segs == 0 && idxs == 0, fmt.Sprintf("%d .seg, %d .idx objects left", segs, idxs)
	})
	if v := objMetric(scrapeURL(t, e.URL), "eddy_object_deleted_objects_total"); v-deletedBefore < 4 {
		t.Errorf("eddy_object_deleted_objects_total grew by %v, want the 2 segments and their indexes at least", v-deletedBefore)
	}
	if n := objectsOf(deleted, ".seg"); n < 2 {
		t.Fatalf("cam-deleted (24 h retention) lost its segments: %d left", n)
	}

	del, err := kv.DescribeStream(ctx, &kinesisvideo.DescribeStreamInput{StreamName: aws.String("cam-deleted")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.DeleteStream(ctx, &kinesisvideo.DeleteStreamInput{StreamARN: del.StreamInfo.StreamARN}); err != nil {
		t.Fatal(err)
	}
	objWaitUntil(t, 15*time.Second, "every object of cam-deleted deleted", func() (bool, string) {
		left := store.list(t, deleted+"/")
		return len(left) == 0, fmt.Sprintf("%d objects left: %v", len(left), left)
	})
	if n := len(store.list(t, retained+"/")); n == 0 {
		t.Error("cam-retained's mirrored files went with cam-deleted")
	}
}

// TestObjectStorageBadConfig: a bucket that does not exist, and keys the
// store refuses. The server starts all the same (the object store being
// away must not stop ingest, and a store that refuses is one that is
// away: the tier retries in the background), and says what is wrong: its
// log names the bucket and the store and says "the bucket does not
// exist" or "access denied (check access_key_id, ...)", without the
// secret, and so does the status page (object storage unavailable, the
// warning among its errors); video still records, its sealed segments staying on local
// disk, pending upload, none recorded as uploaded.
func TestObjectStorageBadConfig(t *testing.T) {
	t.Parallel()
	mediatest.RequireTool(t, "ffmpeg")
	store := startObjStore(t)
	for _, c := range []struct {
		name, edit, want string
	}{
		{"no such bucket", "bucket: no-such-bucket", "the bucket does not exist"},
		{"wrong secret", "secret_access_key: not-the-secret-0123456789", "access denied (check access_key_id, secret_access_key"},
		{"unknown access key", "access_key_id: AKIDUNKNOWN", "access denied (check access_key_id, secret_access_key"},
	} {
		t.Run(c.name, func(t *testing.T) {
			yaml := store.objYAML("0s")
			key, _, _ := strings.Cut(c.edit, ":")
			var lines []string
			for _, l := range strings.Split(yaml, "\n") {
				if strings.HasPrefix(strings.TrimSpace(l), key+":") {
					l = "    " + c.edit
				}
				lines = append(lines, l)
			}
			cfg := objConfig(t, strings.Join(lines, "\n"))
			logs := &servertest.SyncBuffer{}
			srv := &server.Server{Config: cfg, Logger: slog.New(slog.NewTextHandler(logs, nil))}
			if err := srv.Initialize(); err != nil {
				t.Fatalf("the server did not start: %v", err)
			}
			t.Cleanup(func() {
				if err := srv.Close(); err != nil {
					t.Errorf("close: %v", err)
				}
				if t.Failed() {
					t.Logf("server log:\n%s", logs.String())
				}
			})
			e := &servertest.Env{URL: "http://" + srv.HTTPAddr(), Dir: cfg.Data, Server: srv, Config: cfg}
			ctx := servertest.Context(t, 2*time.Minute)
			createObjStream(ctx, t, e.KinesisVideo(), "cam-bad", 24)
			ingestClip(ctx, t, e.URL, "cam-bad", time.Now().Add(-time.Hour), 3)
			// The tier's start-up reconciliation (aborting unfinished
			// multipart uploads) is the first request, and uploads wait
			// for it: it is what fails, and says why.
			var said string
			objWaitUntil(t, 20*time.Second, "a warning that says "+c.want+", two sealed segments pending", func() (bool, string) {
				for _, l := range strings.Split(logs.String(), "\n") {
					if strings.Contains(l, c.want) && (strings.Contains(l, "level=WARN") || strings.Contains(l, "level=ERROR")) {
						said = l
						break
					}
				}
				pending := objMetric(scrapeURL(t, e.URL), "eddy_object_pending_segments")
				return said != "" && pending >= 2, fmt.Sprintf("said %q, pending %v", said, pending)
			})
			fams := scrapeURL(t, e.URL)
			if v := objMetric(fams, "eddy_object_uploaded_segments_total"); v != 0 {
				t.Errorf("eddy_object_uploaded_segments_total %v with %s", v, c.name)
			}
			if v := objMetric(fams, "eddy_object_available"); v != 0 {
				t.Errorf("eddy_object_available %v with %s: uploads fail, so the store is not available", v, c.name)
			}
			for dir, lf := range dataLogs(t, e.Dir) {
				if len(lf.ups) > 0 {
					t.Errorf("%s: upload records %v with %s", dir, lf.ups, c.name)
				}
				if len(lf.segs) < 1 {
					t.Errorf("%s: no local segment", dir)
				}
			}
			log := logs.String()
			// The status page says it too: the store unavailable, the
			// bucket named, the warning among its errors.
			st := statusOf(t, e.URL)
			if st.ObjectStorage.Available || !strings.Contains(st.ObjectStorage.Bucket, cfg.Storage.Object.Bucket) {
				t.Errorf("status page: object storage %+v, want unavailable, naming bucket %s", *st.ObjectStorage, cfg.Storage.Object.Bucket)
			}
			shown := false
			for _, r := range st.Errors {
				shown = shown || strings.Contains(r.Message+fmt.Sprint(r.Attrs), c.want)
			}
			if !shown {
				t.Errorf("status page: no error says %q: %+v", c.want, st.Errors)
			}
			bucket := cfg.Storage.Object.Bucket
			if !strings.Contains(said, bucket) {
				t.Errorf("the message does not name the bucket %s: %s", bucket, said)
			}
			if sec := cfg.Storage.Object.SecretAccessKey; strings.Contains(log, sec) {
				t.Errorf("the log holds the secret access key")
			}
			t.Logf("%s: %s", c.name, said)
		})
	}
}
