package hls

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestSessionGaugeForgets checks that idle sessions leave the gauge and
// its map, also on a server nobody scrapes.
func TestSessionGaugeForgets(t *testing.T) {
	g := newSessionGauge(func(name string) string { return name })
	t0 := time.Now().Add(-time.Hour)
	for i := range 1000 {
		g.touch(&session{Stream: "cam", Issued: int64(i)}, t0)
	}
	g.touch(&session{Stream: "cam", Issued: -1}, t0.Add(sessionWindow+time.Second))
	if n := len(g.seen); n != 1 {
		t.Fatalf("%d sessions remembered after the others were idle for %s, want 1", n, sessionWindow)
	}
	g.touch(&session{Stream: "door", Issued: 1}, time.Now())
	if n := testutil.CollectAndCount(g); n != 1 {
		t.Errorf("%d series, want door's only", n)
	}
}
