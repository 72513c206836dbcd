package server

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

// TestErrorRing: the ring keeps the last 50 records at WARN or above,
// newest first, with their attributes (those of With and groups
// included), while every record still reaches the wrapped handler at its
// own level.
func TestErrorRing(t *testing.T) {
	var out bytes.Buffer
	ring := &errorRing{}
	log := slog.New(&ringHandler{next: slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelError}), ring: ring})
	log.Info("quiet")
	c := log.With("component", "rtsp")
	for i := range 60 {
		c.Warn("source stopped", "n", i)
	}
	c.WithGroup("req").Error("failed", "path", "/x", slog.Group("peer", "addr", "10.0.0.1"))
	got := ring.Recent()
	if len(got) != recentErrors {
		t.Fatalf("%d records held", len(got))
	}
	if r := got[0]; r.Level != "ERROR" || r.Message != "failed" || r.Attrs["component"] != "rtsp" || r.Attrs["req.path"] != "/x" || r.Attrs["req.peer.addr"] != "10.0.0.1" {
		t.Errorf("newest: %+v", r)
	}
	for i, r := range got[1:] {
		if want := fmt.Sprint(59 - i); r.Level != "WARN" || r.Attrs["n"] != want || r.Attrs["component"] != "rtsp" {
			t.Fatalf("record %d: %+v, want n=%s", i+1, r, want)
		}
	}
	// The wrapped handler's level still rules what it writes.
	if s := out.String(); strings.Contains(s, "quiet") || strings.Contains(s, "source stopped") || !strings.Contains(s, "failed") {
		t.Errorf("written: %s", s)
	}
}

// BenchmarkRingInfo is the cost the ring adds to a record below WARN
// (passed through, not copied), against the bare handler.
func BenchmarkRingInfo(b *testing.B) {
	h := slog.NewTextHandler(discard{}, nil)
	for _, tc := range []struct {
		name string
		log  *slog.Logger
	}{{"bare", slog.New(h)}, {"ring", slog.New(&ringHandler{next: h, ring: &errorRing{}})}} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				tc.log.Info("fragment", "stream", "cam", "n", 1)
			}
		})
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
