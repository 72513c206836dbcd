package recorder

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eddy-video/eddy/fragments"
	"github.com/eddy-video/eddy/media"
)

// Recorder records every publication whose video stream keeps data: it
// reads the publication's hub like any other reader, cuts the units into
// fragments (and LL-HLS parts) and appends them to the stream's store.
// The wiring (server) calls OnPublish when a publication starts.
//
// Set the exported fields, then call Initialize; Close stops every
// recording after it flushed its open fragment.
type Recorder struct {
	Videos              *fragments.Manager
	MaxFragmentDuration time.Duration
	Logger              *slog.Logger
	Registerer          prometheus.Registerer
	// EndPublication ends a publication whose fragments can no longer be
	// stored (a full disk), telling its publisher (server: the registry's
	// End), so that a camera reconnects and records again once the store
	// takes fragments; nil: the hub is ended directly.
	EndPublication func(name string, h *media.Hub, reason error)

	mu      sync.Mutex // guards running and closed
	running map[string]*recording
	closed  bool
	metrics *metrics
}

// Initialize registers the metrics.
func (r *Recorder) Initialize() error {
	if r.Logger == nil {
		r.Logger = slog.Default()
	}
	r.Logger = r.Logger.With("component", "recorder")
	r.running = map[string]*recording{}
	r.metrics = newMetrics(r.Registerer)
	return nil
}

// OnPublish starts recording a publication, unless its stream keeps no
// data (retention 0: live only).
func (r *Recorder) OnPublish(name string, h *media.Hub) {
	// The store is looked up under r.mu: a stream being deleted has left
	// the manager by the time its Stop runs, so either this finds no store
	// or Stop finds the recording started here.
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	d, err := r.Videos.Describe(name)
	if err != nil || d.DataRetentionInHours == 0 {
		return
	}
	st, err := r.Videos.Store(name)
	if err != nil {
		return
	}
	if old := r.running[name]; old != nil {
		go old.stop()
	}
	// The first reader is attached here, before the publisher publishes
	// anything (OnPublish runs before Publish returns): a publisher that
	// waits for its fragments to be stored must not lose its first one to
	// a reader that joined late.
	first, err := h.NewFirstReader()
	if err != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	rc := &recording{rec: r, name: name, hub: h, store: st, cancel: cancel, done: make(chan struct{}), first: first}
	r.running[name] = rc
	r.metrics.recorders.Inc()
	go rc.run(ctx)
}

// OnUnpublish does nothing: the hub's readers get EOF, and the recording
// flushes its last fragment and leaves by itself.
func (r *Recorder) OnUnpublish(string, *media.Hub) {}

// Stop stops recording a stream and waits for it (before the stream is
// deleted).
func (r *Recorder) Stop(name string) {
	r.mu.Lock()
	rc := r.running[name]
	r.mu.Unlock()
	if rc != nil {
		rc.stop()
	}
}

// closeGrace bounds how long Close waits for recordings to store what
// their publications queued.
const closeGrace = 10 * time.Second

// Close stops every recording; each flushes its open fragment first. The
// publications should have ended before (the server's shutdown ends them):
// a recording then stores everything still queued for it, up to and with
// the fragment in progress, before it leaves by itself. Stopping it at
// once instead would drop what a lagging recording (a burst, a slow
// fsync) had not read yet. One that has not left after closeGrace is
// stopped.
func (r *Recorder) Close() {
	r.mu.Lock()
	r.closed = true
	recs := make([]*recording, 0, len(r.running))
	for _, rc := range r.running {
		recs = append(recs, rc)
	}
	r.mu.Unlock()
	grace, cancel := context.WithTimeout(context.Background(), closeGrace)
	defer cancel()
	for _, rc := range recs {
		select {
		case <-rc.done:
		case <-grace.Done():
		}
		rc.stop()
	}
}
