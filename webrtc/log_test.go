package webrtc

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
)

// TestPionLogLevels: pion's errors are warnings, except a packet for a
// connection that has just closed (io.ErrClosedPipe, a teardown race),
// which is debug; pion's warnings and infos are debug.
func TestPionLogLevels(t *testing.T) {
	var buf bytes.Buffer
	l := slogFactory{slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))}.NewLogger("ice-udp")
	l.Errorf("Failed to write packet: %v", io.ErrClosedPipe)
	l.Errorf("Failed to write packet: %v", fmt.Errorf("wrapped: %w", io.ErrClosedPipe))
	l.Errorf("Failed to write packet: %v", errors.New("no buffer space"))
	l.Warnf("peer %s gone", "x")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	want := []string{"level=DEBUG", "level=DEBUG", "level=WARN", "level=DEBUG"}
	if len(lines) != len(want) {
		t.Fatalf("got %d lines, want %d:\n%s", len(lines), len(want), buf.String())
	}
	for i, w := range want {
		if !strings.Contains(lines[i], w) || !strings.Contains(lines[i], "pion=ice-udp") {
			t.Errorf("line %d: want %s: %s", i, w, lines[i])
		}
	}
}
