package server_test

import (
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eddy-video/eddy/server"
	"github.com/eddy-video/eddy/server/servertest"
)

// syncLog is a server's log output, read while the server writes it.
type syncLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestConsoleHidesCredentials: the passwords of pull sources' URLs — as
// written, percent-encoded, in the query, in a source added by a reload,
// and in a reload refused for a mistyped URL — appear nowhere in the
// stream list, the status page or the server's log, while the sources
// show their (masked) URLs and errors.
func TestConsoleHidesCredentials(t *testing.T) {
	t.Parallel()
	encoded := url.QueryEscape("Gx/4v@k") // Gx%2F4v%40k
	secrets := []string{"Hx7qPw9z", "Gx/4v@k", encoded, "Qz8LmN4", "Pr4chPass", "T0kPorch", "Ty9pSecret"}
	cfg := servertest.Config(t)
	cfg.Video.Sources = []server.SourceConfig{
		{Stream: "door", URL: "rtsp://admin:Hx7qPw9z@127.0.0.1:1/door"},
		{Stream: "gate", URL: "rtsp://admin:" + encoded + "@127.0.0.1:1/gate"},
		{Stream: "yard", URL: "rtsp://127.0.0.1:1/yard?channel=1&user=admin&password=Qz8LmN4"},
	}
	var logs syncLog
	srv := &server.Server{Config: cfg, Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	if err := srv.Initialize(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	c := newUIClient(t, "http://"+srv.HTTPAddr())

	// A reload from a file adds a source; another, with two mistyped
	// URLs, is refused (logged at ERROR, kept for the status page).
	file := filepath.Join(t.TempDir(), "eddy.yaml")
	reloadFile := func(yaml string) error {
		if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := srv.ReloadWith(func() (server.Config, error) {
			next := srv.RunningConfig()
			next.Video.Sources = nil
			return next, next.LoadFile(file)
		})
		return err
	}
	kept := `video:
  sources:
    - {stream: door, url: "rtsp://admin:Hx7qPw9z@127.0.0.1:1/door"}
    - {stream: gate, url: "rtsp://admin:` + encoded + `@127.0.0.1:1/gate"}
    - {stream: yard, url: "rtsp://127.0.0.1:1/yard?channel=1&user=admin&password=Qz8LmN4"}
`
	if err := reloadFile(kept + `    - {stream: porch, url: "rtsp://cam:Pr4chPass@127.0.0.1:1/porch?token=T0kPorch"}` + "\n"); err != nil {
		t.Fatalf("reload adding porch: %v", err)
	}
	err := reloadFile(kept + `    - {stream: porch, url: "rtsp//cam:Ty9pSecret@127.0.0.1:1/porch"}
    - {stream: shed, url: "rtsp://cam:Ty9pSecret @127.0.0.1:1/shed"}
`)
	if err == nil || !strings.Contains(err.Error(), "video.sources[3].url") || !strings.Contains(err.Error(), "video.sources[4].url") {
		t.Fatalf("reload with mistyped URLs: %v", err)
	}

	// Every source has failed once (its camera refuses): its error shows.
	var streams string
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		rows := consoleStreams(t, c, "")
		failed := 0
		for _, n := range []string{"door", "gate", "yard", "porch"} {
			if r := rows[n]; r.Source != nil && r.Source.LastError != "" {
				failed++
			}
		}
		if failed == 4 {
			_, _, streams = c.do("GET", "/api/v1/streams", "")
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sources without an error: %+v", rows)
		}
	}
	_, _, status := c.do("GET", "/api/v1/ui/status", "")
	for _, want := range []string{"rtsp://xxxxx@127.0.0.1:1/door", "rtsp://xxxxx@127.0.0.1:1/gate",
		"rtsp://127.0.0.1:1/yard?channel=1\\u0026user=xxxxx\\u0026password=xxxxx", "rtsp://xxxxx@127.0.0.1:1/porch?token=xxxxx"} {
		if !strings.Contains(streams, want) || !strings.Contains(status, want) {
			t.Errorf("the source URL %s is not shown:\nstreams %s\nstatus %s", want, streams, status)
		}
	}
	if !strings.Contains(status, "video.sources[3].url") || !strings.Contains(status, "refused") {
		t.Errorf("the refused reload is not among the status page's errors: %s", status)
	}
	out := logs.String()
	if !strings.Contains(out, "video.sources[3].url") || !strings.Contains(out, "source stopped") {
		t.Errorf("the log lacks the refused reload or a source's failure:\n%s", out)
	}
	for _, secret := range secrets {
		for what, text := range map[string]string{"stream list": streams, "status page": status, "log": out} {
			if strings.Contains(text, secret) {
				t.Errorf("the %s shows the password %q:\n%s", what, secret, text)
			}
		}
	}
}
