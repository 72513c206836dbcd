package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eddy-video/eddy/media/mediatest"
	"github.com/eddy-video/eddy/media/rtspclient"
	"github.com/eddy-video/eddy/server/servertest"
)

// needBrowser returns node's path, or skips (fails in CI) when node, the
// web/ node modules (npm ci --prefix web) or Chromium are missing.
func needBrowser(t *testing.T) (node, chromium string) {
	t.Helper()
	missing := func(what string) { mediatest.Missing(t, "browser test: "+what) }
	node, err := exec.LookPath("node")
	if err != nil {
		missing("node is not installed")
	}
	if _, err := os.Stat("../web/node_modules/playwright-core/package.json"); err != nil {
		missing("web/node_modules is missing: run npm ci --prefix web")
	}
	chromium = os.Getenv("CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	if _, err := os.Stat(chromium); err != nil {
		missing("Chromium is not installed at " + chromium + " (apt-get install chromium, or set CHROMIUM)")
	}
	return node, chromium
}

func TestWebUIStatic(t *testing.T) {
	t.Parallel()
	e := servertest.Start(t)
	status, hdr, body := httpGet(t, e.URL+"/")
	if status != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "text/html") || !strings.Contains(body, "/assets/app-") {
		t.Fatalf("GET / = %d %v\n%s", status, hdr, body)
	}
	js := body[strings.Index(body, "/assets/app-"):]
	js = js[:strings.Index(js, `"`)]
	status, hdr, _ = httpGet(t, e.URL+js)
	if status != 200 || !strings.Contains(hdr.Get("Cache-Control"), "immutable") || (!strings.HasSuffix(js, ".js") && !strings.HasSuffix(js, ".css")) {
		t.Fatalf("GET %s = %d %v", js, status, hdr)
	}
	if status, _, _ := httpGet(t, e.URL+"/assets/nope.js"); status != 404 {
		t.Errorf("missing asset: %d", status)
	}
	for _, tc := range []struct {
		name, path string
		status     int
	}{
		{"no streams", "/api/v1/streams", 200},
		{"unknown stream", "/api/v1/streams/nope/coverage", 404},
		{"bad name", "/api/v1/streams/a%20b/coverage", 400},
		{"bad time", "/api/v1/streams/cam/coverage?from=yesterday", 400},
		{"reversed", "/api/v1/streams/cam/coverage?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z", 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, hdr, body := httpGet(t, e.URL+tc.path)
			if status != tc.status || hdr.Get("Content-Type") != "application/json" {
				t.Fatalf("%d %s: %s", status, hdr.Get("Content-Type"), body)
			}
			if status != 200 && !strings.Contains(body, `"error"`) {
				t.Errorf("error body: %s", body)
			}
		})
	}
}

// TestWebUIBrowser drives the UI in headless Chromium (web/test/e2e.mjs):
// stream list, live playback over WebRTC (WHEP) and LL-HLS, archive
// playback from the timeline, clip, and publishing Chromium's fake camera
// over WHIP from the publish page.
func TestWebUIBrowser(t *testing.T) {
	node, chromium := needBrowser(t)
	e := servertest.Start(t)
	ctx := servertest.Context(t, 120*time.Second)
	pubCtx, stop := context.WithCancel(ctx)
	pubDone := make(chan error, 1)
	go func() {
		p := &rtspclient.FilePublisher{URL: e.RTSPURL("cam"), File: testClip, Loop: true}
		pubDone <- p.Run(pubCtx)
	}()
	defer func() {
		stop()
		if err := <-pubDone; err != nil && !errors.Is(err, context.Canceled) && ctx.Err() == nil {
			t.Logf("publisher: %v", err)
		}
	}()

	// The streams API sees the publication and, soon, its fragments.
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		resp, err := http.Get(e.URL + "/api/v1/streams")
		if err != nil {
			t.Fatal(err)
		}
		var ss []struct {
			Name       string   `json:"name"`
			Live       bool     `json:"live"`
			Codecs     []string `json:"codecs"`
			BitrateBps int64    `json:"bitrateBps"`
		}
		err = json.NewDecoder(resp.Body).Decode(&ss)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if len(ss) == 1 && ss[0].Live && ss[0].BitrateBps > 0 {
			if strings.Join(ss[0].Codecs, ",") != "H264,AAC" {
				t.Errorf("codecs %v", ss[0].Codecs)
			}
			t.Logf("stream: %+v", ss[0])
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("streams: %+v", ss)
		}
	}

	// Long spans come back as per-hour ratios.
	status, _, body := httpGet(t, e.URL+"/api/v1/streams/cam/coverage?from="+time.Now().Add(-7*24*time.Hour).UTC().Format(time.RFC3339)+"&to="+time.Now().Add(time.Minute).UTC().Format(time.RFC3339))
	if status != 200 || !strings.Contains(body, `"mode":"buckets"`) || !strings.Contains(body, `"bucket":"hour"`) || !strings.Contains(body, `"ratio":0.`) {
		t.Errorf("7-day coverage (%d): %.300s", status, body)
	}

	runBrowserTest(ctx, t, node, chromium, "test/e2e.mjs", "EDDY_URL="+e.URL, "EDDY_STREAM=cam", "EDDY_PUBLISH_STREAM=webcam")
}

// runBrowserTest runs a playwright-core script of web/test with env
// (besides CHROMIUM and SCREENSHOT), logs its output, and on failure keeps
// its screenshots (one per page) where the test's log says.
func runBrowserTest(ctx context.Context, t *testing.T, node, chromium, script string, env ...string) {
	t.Helper()
	shot := filepath.Join(t.TempDir(), "web-e2e-failure.png")
	cmd := exec.CommandContext(ctx, node, script)
	cmd.Dir = "../web"
	cmd.Env = append(append(os.Environ(), env...), "CHROMIUM="+chromium, "SCREENSHOT="+shot)
	out, err := cmd.CombinedOutput()
	t.Logf("browser test output:\n%s", out)
	if err != nil {
		// t.TempDir is removed after the test: keep copies where
		// browserArtifacts says.
		dir := browserArtifacts(t)
		shots, _ := filepath.Glob(strings.TrimSuffix(shot, ".png") + "*.png")
		for _, s := range shots {
			keep := filepath.Join(dir, filepath.Base(s))
			if b, rerr := os.ReadFile(s); rerr == nil && os.MkdirAll(dir, 0o755) == nil && os.WriteFile(keep, b, 0o644) == nil {
				t.Logf("screenshot: %s", keep)
			}
		}
		t.Fatalf("browser test %s: %v", script, err)
	}
}
