package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/eddy-video/eddy/server"
)

// TestServeReloads runs eddy serve in this process and reloads it the
// ways an operator does: the configuration file edited in place (a pull
// source added), replaced by a rename with an invalid one (refused,
// counted, the running configuration kept) and then with a valid one, and
// a secret file rotated followed by SIGHUP (the configuration file itself
// unchanged, so only the signal reloads it).
func TestServeReloads(t *testing.T) {
	dir := t.TempDir()
	file, secretFile := filepath.Join(dir, "eddy.yaml"), filepath.Join(dir, "op.secret")
	writeTestFile(t, secretFile, "op-secret-old\n")
	base := fmt.Sprintf(`data: %s
auth:
  metrics_token: scrape
  credentials:
    - access_key_id: AKIDSERVEOP
      secret_access_key_file: %s
      allow: [{actions: ["*"], streams: ["*"]}]
`, filepath.Join(dir, "data"), secretFile)
	writeTestFile(t, file, base)
	srv := startServe(t, "--config", file, "--http", "127.0.0.1:0", "--rtsp", "127.0.0.1:0",
		"--rtsp-udp-rtp=", "--rtsp-udp-rtcp=", "--webrtc", "127.0.0.1:0")

	// Edited in place: the watch reloads it.
	withSource := base + "video:\n  sources:\n    - {stream: cam-pulled, url: \"rtsp://127.0.0.1:1/none\"}\n"
	writeTestFile(t, file, withSource)
	waitServe(t, "the added source", func() bool { return len(srv.RunningConfig().Video.Sources) == 1 })
	if n := serveReloads(t, srv, "applied"); n != 1 {
		t.Fatalf("%d applied reloads counted, want 1", n)
	}

	// Replaced by an invalid file: refused, the running configuration stays.
	replaceTestFile(t, file, withSource+"  max_fragment_duration: 0s\n")
	waitServe(t, "the refusal", func() bool { return serveReloads(t, srv, "refused") == 1 })
	if run := srv.RunningConfig(); len(run.Video.Sources) != 1 || run.Video.MaxFragmentDuration == 0 {
		t.Fatalf("after a refused reload: %d sources, max_fragment_duration %s", len(run.Video.Sources), run.Video.MaxFragmentDuration)
	}
	replaceTestFile(t, file, base)
	waitServe(t, "the removed source", func() bool { return len(srv.RunningConfig().Video.Sources) == 0 })

	// A secret file rotated, then SIGHUP.
	writeTestFile(t, secretFile, "op-secret-new\n")
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitServe(t, "the rotated secret", func() bool {
		id, ok := srv.Auth().Credentials.Lookup("AKIDSERVEOP")
		return ok && id.Secret == "op-secret-new"
	})
	if n := serveReloads(t, srv, "applied"); n != 3 {
		t.Fatalf("%d applied reloads counted, want 3", n)
	}
}

// startServe runs eddy serve with args (and no EDDY_* variables) until
// the test ends, then stops it with SIGTERM, as an operator would.
func startServe(t *testing.T, args ...string) *server.Server {
	t.Helper()
	started, done := make(chan *server.Server, 1), make(chan error, 1)
	noEnv := func(string) (string, bool) { return "", false }
	go func() { done <- runServe(args, noEnv, func(s *server.Server) { started <- s }) }()
	select {
	case srv := <-started:
		t.Cleanup(func() {
			if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			if err := <-done; err != nil {
				t.Errorf("serve: %v", err)
			}
		})
		return srv
	case err := <-done:
		t.Fatalf("serve: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("serve not started after 30 s")
	}
	return nil
}

func waitServe(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s after 10 s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func writeTestFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// replaceTestFile replaces path by renaming a new file over it, as
// editors and configuration management do.
func replaceTestFile(t *testing.T, path, content string) {
	t.Helper()
	writeTestFile(t, path+".new", content)
	if err := os.Rename(path+".new", path); err != nil {
		t.Fatal(err)
	}
}

// serveReloads reads eddy_config_reloads_total{result} with the metrics
// token.
func serveReloads(t *testing.T, srv *server.Server, result string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+srv.HTTPAddr()+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer scrape")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`(?m)^eddy_config_reloads_total\{result="` + result + `"\} (\d+)$`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("GET /metrics: %d, no eddy_config_reloads_total{result=%q}", resp.StatusCode, result)
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}
