package server

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestStreamLabelsSweep follows streams through the bounded labels: the
// first ones have their own, a deleted one's series go and free its
// place, and a stream re-created under a deleted one's name keeps the
// series it has since.
func TestStreamLabelsSweep(t *testing.T) {
	streams := map[string]bool{"a": true, "b": true, "c": true}
	l := newStreamLabels(MetricsConfig{PerStream: true, PerStreamLimit: 2}, func(name string) bool { return streams[name] })
	reg := prometheus.NewRegistry()
	v := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "x_total", Help: "x"}, []string{"stream"})
	register{Registerer: reg, labels: l}.MustRegister(v)
	inc := func(name string) { v.WithLabelValues(l.Label(name)).Inc() }

	for _, name := range []string{"a", "b", "c", ""} {
		inc(name)
	}
	if got := l.Label("c"); got != AggregatedStream {
		t.Fatalf("third stream labelled %q, want %q", got, AggregatedStream)
	}
	if n := testutil.CollectAndCount(v); n != 4 {
		t.Fatalf("%d series, want a, b, %s and the stream-less one", n, AggregatedStream)
	}

	delete(streams, "a")
	l.sweep()
	if n := testutil.CollectAndCount(v); n != 3 {
		t.Fatalf("%d series after a's deletion, want b, %s and the stream-less one", n, AggregatedStream)
	}

	// a comes back before the next sweep and takes the free place: its new
	// series stay.
	streams["a"] = true
	inc("a")
	l.sweep()
	if n := testutil.CollectAndCount(v); n != 4 {
		t.Fatalf("%d series after a came back, want 4", n)
	}
	if got := testutil.ToFloat64(v.WithLabelValues("a")); got != 1 {
		t.Errorf("re-created a = %v, want 1", got)
	}
	if got := l.Label("c"); got != AggregatedStream {
		t.Errorf("c labelled %q with a and b holding the places, want %q", got, AggregatedStream)
	}

	// A video stream's events stream goes with it and takes no place.
	if got := l.Label("a.events"); got != "a.events" {
		t.Errorf("a's events stream labelled %q, want its own", got)
	}
	if got := l.Label("c.events"); got != AggregatedStream {
		t.Errorf("c's events stream labelled %q with c aggregated, want %q", got, AggregatedStream)
	}
	delete(streams, "b")
	l.sweep()
	if got := l.Label("c"); got != "c" {
		t.Errorf("after b's deletion c is labelled %q, want its own", got)
	}
}
