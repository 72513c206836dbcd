package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideoarchivedmedia"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideoarchivedmedia/types"

	"github.com/eddy-video/eddy/datastreams/objstore/objstoretest"
	"github.com/eddy-video/eddy/media/mediatest"
	"github.com/eddy-video/eddy/server"
	"github.com/eddy-video/eddy/server/servertest"
)

// coldPlayback is what web/test/hls_cold.mjs reports.
type coldPlayback struct {
	FirstFrameMs *float64 `json:"firstFrameMs"`
	Stalls       []struct {
		What     string  `json:"what"`
		At       float64 `json:"at"`
		Buffered float64 `json:"buffered"`
	} `json:"stalls"`
	Fatal       []string  `json:"fatal"`
	Ended       bool      `json:"ended"`
	EndedAt     float64   `json:"endedAt"`
	CurrentTime float64   `json:"currentTime"`
	Duration    float64   `json:"duration"`
	Frames      int       `json:"frames"`
	Dropped     int       `json:"dropped"`
	Rate        float64   `json:"rate"`
	FragsLoaded int       `json:"fragsLoaded"`
	FragLoadMs  []float64 `json:"fragLoadMs"`
}

// TestHLSColdOnDemandPlays: with storage.object (versitygw) and hot 0s,
// two minutes of video are recorded (PutMedia, 2 s GOPs, 1 MiB segments)
// and wait until their sealed segments are uploaded and gone from local
// disk; then hls.js in headless Chromium, with the web UI's archive
// settings, plays an ON_DEMAND session of the first 30 s at 1× from the
// start to the end without a single stall (no waiting event, no hls.js
// stall error) after playback started, every fragment read from the
// bucket through an empty cache. It logs the time from play() to the
// first frame shown.
func TestHLSColdOnDemandPlays(t *testing.T) {
	mediatest.RequireTool(t, "ffmpeg")
	node, chromium := needBrowser(t)
	gw := objstoretest.Start(t)
	oc := gw.Config()
	e := servertest.Start(t, func(c *server.Config) {
		c.Storage.SegmentSize = 1 << 20
		c.Storage.Object = &server.ObjectStorageConfig{Endpoint: oc.Endpoint, Bucket: oc.Bucket, Prefix: oc.Prefix,
			Region: oc.Region, AccessKeyID: oc.AccessKeyID, SecretAccessKey: oc.SecretAccessKey, PathStyle: true,
			Hot: 0, CacheSize: server.MinObjectCacheSize}
	})
	ctx := servertest.Context(t, 4*time.Minute)
	const stream = "cold"
	base := time.Now().Add(-10 * time.Minute).Truncate(time.Millisecond)
	longArchive(ctx, t, e, stream, base, 2)
	waitCold(ctx, t, e.Dir)

	am := e.ArchivedMedia()
	end := base.Add(30 * time.Second)
	sess, err := am.GetHLSStreamingSessionURL(ctx, &kinesisvideoarchivedmedia.GetHLSStreamingSessionURLInput{
		StreamName: aws.String(stream), PlaybackMode: types.HLSPlaybackModeOnDemand,
		HLSFragmentSelector: &types.HLSFragmentSelector{FragmentSelectorType: types.HLSFragmentSelectorTypeProducerTimestamp,
			TimestampRange: &types.HLSTimestampRange{StartTimestamp: &base, EndTimestamp: &end}}})
	if err != nil {
		t.Fatal(err)
	}
	_, _, master := httpGet(t, *sess.HLSStreamingSessionURL)
	_, _, media := httpGet(t, playlistURIs(*sess.HLSStreamingSessionURL, master)[0])
	seconds := 0.0
	for _, m := range regexp.MustCompile(`#EXTINF:([0-9.]+)`).FindAllStringSubmatch(media, -1) {
		d, _ := strconv.ParseFloat(m[1], 64)
		seconds += d
	}
	if seconds < 28 || !strings.Contains(media, "#EXT-X-ENDLIST") {
		t.Fatalf("the session lists %.1f s (want about 30 s, ended):\n%s", seconds, media)
	}
	missesBefore := metricValue(t, e.URL, "eddy_object_cache_misses_total")

	var res coldPlayback
	runColdScript(ctx, t, node, chromium, &res, "EDDY_URL="+e.URL, "HLS_URL="+*sess.HLSStreamingSessionURL,
		"EXPECT_SECONDS="+strconv.FormatFloat(seconds, 'f', 3, 64))
	ff := -1.0
	if res.FirstFrameMs != nil {
		ff = *res.FirstFrameMs
	}
	t.Logf("cold ON_DEMAND session of %.1f s: first frame %.0f ms after play(); %d fragments loaded (load ms %v); ended at %.2f s; %d frames, %d dropped",
		seconds, ff, res.FragsLoaded, res.FragLoadMs, res.EndedAt, res.Frames, res.Dropped)
	misses := metricValue(t, e.URL, "eddy_object_cache_misses_total") - missesBefore
	switch {
	case len(res.Fatal) > 0:
		t.Fatalf("hls.js failed: %v", res.Fatal)
	case len(res.Stalls) > 0:
		t.Errorf("playback stalled %d times after it started: %+v", len(res.Stalls), res.Stalls)
	case !res.Ended || math.Abs(res.EndedAt-seconds) > 0.5:
		t.Errorf("playback did not reach the end: ended %v at %.2f s (current time %.2f s) of %.2f s", res.Ended, res.EndedAt, res.CurrentTime, seconds)
	case res.FirstFrameMs == nil || res.Frames == 0:
		t.Errorf("no frame shown: %+v", res)
	case res.Rate != 1:
		t.Errorf("played at %v×, not 1×", res.Rate)
	}
	if misses <= 0 {
		t.Errorf("the cache counted %v misses during playback: the fragments were not read from the bucket", misses)
	}
}

// waitCold waits until the video stream's log under data has at least
// three cold segments (upload record and sparse index, no segment file)
// and they hold most of its bytes: the first 30 s of the two-minute
// recording (a quarter of its bytes) are then only in the bucket.
func waitCold(ctx context.Context, t *testing.T, data string) {
	t.Helper()
	var cold, local int
	var coldBytes, localBytes int64
	for ctx.Err() == nil {
		cold, local, coldBytes, localBytes = 0, 0, 0, 0
		ups, _ := filepath.Glob(filepath.Join(data, "streams", "*", "shardId-*", "*.up"))
		segs, _ := filepath.Glob(filepath.Join(data, "streams", "*", "shardId-*", "*.seg"))
		for _, s := range segs {
			if fi, err := os.Stat(s); err == nil {
				local++
				localBytes += fi.Size()
			}
		}
		for _, u := range ups {
			b, err := os.ReadFile(u)
			if err != nil {
				continue
			}
			var rec struct {
				Size int64 `json:"size"`
			}
			if json.Unmarshal(b, &rec) != nil {
				continue
			}
			if _, err := os.Stat(strings.TrimSuffix(u, ".up") + ".seg"); os.IsNotExist(err) {
				cold++
				coldBytes += rec.Size
			}
		}
		if cold >= 3 && coldBytes > localBytes {
			t.Logf("%d cold segments (%d bytes) in the bucket only, %d local segment files (%d bytes)", cold, coldBytes, local, localBytes)
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("segments not uploaded and dropped locally in time: %d cold (%d bytes), %d local (%d bytes)", cold, coldBytes, local, localBytes)
}

// metricValue sums a metric's samples on the server's /metrics.
func metricValue(t *testing.T, url, name string) float64 {
	t.Helper()
	st, _, body := httpGet(t, url+"/metrics")
	if st != 200 {
		t.Fatalf("/metrics: %d", st)
	}
	sum, found := 0.0, false
	for line := range strings.Lines(body) {
		f := strings.Fields(line)
		if len(f) == 2 && (f[0] == name || strings.HasPrefix(f[0], name+"{")) {
			v, err := strconv.ParseFloat(f[1], 64)
			if err == nil {
				sum += v
				found = true
			}
		}
	}
	if !found {
		t.Fatalf("/metrics has no %s", name)
	}
	return sum
}

// runColdScript runs web/test/hls_cold.mjs and decodes its RESULT line.
func runColdScript(ctx context.Context, t *testing.T, node, chromium string, out any, env ...string) {
	t.Helper()
	shot := filepath.Join(os.TempDir(), "eddy-hls-cold-failure.png")
	cmd := exec.CommandContext(ctx, node, "test/hls_cold.mjs")
	cmd.Dir = "../web"
	cmd.Env = append(append(os.Environ(), env...), "CHROMIUM="+chromium, "SCREENSHOT="+shot)
	b, err := cmd.CombinedOutput()
	result := ""
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if r, ok := strings.CutPrefix(sc.Text(), "RESULT "); ok {
			result = r
		} else {
			t.Log("browser:", sc.Text())
		}
	}
	if err != nil || result == "" {
		t.Fatalf("web/test/hls_cold.mjs: %v (screenshot, if any: %s)", err, shot)
	}
	if err := json.Unmarshal([]byte(result), out); err != nil {
		t.Fatalf("result %q: %v", result, err)
	}
}
