package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
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

// TestViewerPage plays a stream published over RTSP in headless Chromium
// with the page, served by this program and opened from disk (Eddy's CORS
// lets a file:// page call WHEP), stops it (the session's DELETE is
// answered), and shows the server's answer for a stream that does not
// exist.
func TestViewerPage(t *testing.T) {
	node, chromium := needBrowser(t)
	e := servertest.Start(t)
	ctx := servertest.Context(t, 2*time.Minute)
	pubCtx, stopPub := context.WithCancel(ctx)
	pub := &rtspclient.FilePublisher{URL: e.RTSPURL("door"), File: filepath.Join("..", "..", "testdata", "cam-h264-aac.mp4"), Loop: true}
	pubDone := make(chan error, 1)
	go func() { pubDone <- pub.Run(pubCtx) }()
	defer func() {
		stopPub()
		if err := <-pubDone; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("publisher: %v", err)
		}
	}()
	viewer := httptest.NewServer(handler())
	defer viewer.Close()
	pageFile, err := filepath.Abs("index.html")
	if err != nil {
		t.Fatal(err)
	}
	webModules, err := filepath.Abs(filepath.Join("..", "..", "web", "node_modules"))
	if err != nil {
		t.Fatal(err)
	}

	shot := filepath.Join(os.TempDir(), "eddy-whep-viewer-failure.png")
	cmd := exec.CommandContext(ctx, node, filepath.Join("testdata", "viewer.cjs"))
	cmd.Env = append(os.Environ(), "NODE_PATH="+webModules, "CHROMIUM="+chromium, "SCREENSHOT="+shot,
		"EDDY_URL="+e.URL, "EDDY_STREAM=door", "VIEWER_URL="+viewer.URL, "PAGE_FILE="+pageFile)
	out, err := cmd.CombinedOutput()
	t.Logf("browser:\n%s", out)
	if err != nil {
		t.Fatalf("browser test: %v (screenshot: %s)", err, shot)
	}
	_, line, ok := strings.Cut(string(out), "RESULT ")
	if !ok {
		t.Fatal("no RESULT line")
	}
	var res struct {
		Served, File struct {
			Width, Height     int
			Status, AfterStop string
		}
		Missing string
	}
	if err := json.Unmarshal([]byte(strings.SplitN(line, "\n", 2)[0]), &res); err != nil {
		t.Fatal(err)
	}
	for how, p := range map[string]struct {
		Width, Height     int
		Status, AfterStop string
	}{"served": res.Served, "from disk": res.File} {
		// testdata/cam-h264-aac.mp4 is 320x240.
		if p.Width != 320 || p.Height != 240 {
			t.Errorf("%s: the video is %dx%d; want 320x240", how, p.Width, p.Height)
		}
		if !strings.HasPrefix(p.Status, "Playing door") {
			t.Errorf("%s: status while playing %q", how, p.Status)
		}
		if p.AfterStop != "Stopped." {
			t.Errorf("%s: status after Stop %q; want the DELETE answered", how, p.AfterStop)
		}
	}
	if !strings.HasPrefix(res.Missing, "WHEP POST 404: ") {
		t.Errorf("a stream that does not exist: %q", res.Missing)
	}
}

// TestViewerServesOnlyThePage: the page at /, 404 elsewhere.
func TestViewerServesOnlyThePage(t *testing.T) {
	srv := httptest.NewServer(handler())
	defer srv.Close()
	for path, want := range map[string]int{"/": 200, "/index.html": 404, "/x": 404} {
		resp, err := srv.Client().Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s: %d; want %d", path, resp.StatusCode, want)
		}
		if want == 200 && resp.Header.Get("Content-Type") != "text/html; charset=utf-8" {
			t.Errorf("GET %s: Content-Type %q", path, resp.Header.Get("Content-Type"))
		}
	}
}

// needBrowser returns node's and Chromium's paths, or skips (fails in CI)
// when node, web/node_modules (npm ci --prefix web) or Chromium are missing.
func needBrowser(t *testing.T) (node, chromium string) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		mediatest.Missing(t, "browser test: node is not installed")
	}
	if _, err := os.Stat(filepath.Join("..", "..", "web", "node_modules", "playwright-core", "package.json")); err != nil {
		mediatest.Missing(t, "browser test: web/node_modules is missing: run npm ci --prefix web")
	}
	chromium = os.Getenv("CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	if _, err := os.Stat(chromium); err != nil {
		mediatest.Missing(t, "browser test: Chromium is not installed at "+chromium)
	}
	return node, chromium
}
