package media

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Errors of the Registry. Callers translate them at the protocol edge
// (RTSP status, HTTP status) with errors.Is.
var (
	// ErrAlreadyPublishing refuses a second publisher of a name: the first
	// one keeps going.
	ErrAlreadyPublishing = errors.New("media: stream is already being published")
	// ErrNotFound is returned for a name with neither a publication nor a
	// source; Admit may wrap it to refuse an unknown stream.
	ErrNotFound = errors.New("media: stream not found")
	// ErrInvalidName refuses a name outside [a-zA-Z0-9_.-]{1,256}, "." and
	// "..", or one Registry.CheckName refuses.
	ErrInvalidName = errors.New("media: invalid stream name")
	// ErrForbidden may be wrapped by Admit to refuse a publication by policy.
	ErrForbidden = errors.New("media: forbidden")
	// ErrRegistryClosed is returned after Registry.Close.
	ErrRegistryClosed = errors.New("media: registry closed")
	// ErrSourceExists refuses a second source for a name.
	ErrSourceExists = errors.New("media: a source already exists for this stream")
)

var nameRE = regexp.MustCompile(`^[a-zA-Z0-9_.-]{1,256}$`)

// ValidateName checks the syntax of a stream name coming from the network.
// Names the layer above reserves are Registry.CheckName's to refuse: use
// Registry.ValidateName at the protocol edges.
func ValidateName(name string) error {
	if !nameRE.MatchString(name) || name == "." || name == ".." {
		return fmt.Errorf("%w %q: use 1-256 characters of [a-zA-Z0-9_.-]", ErrInvalidName, name)
	}
	return nil
}

// Registry is the set of live publications by stream name, and of the pull
// sources that feed some of them. Publish is exclusive per name.
//
// Set the exported fields before the first call. All state is guarded by mu;
// callbacks (Admit, OnPublish, OnUnpublish) run without it.
type Registry struct {
	// QueueSize is the per-reader queue of created hubs (0: Hub default).
	QueueSize int
	// Admit is called before a publication is accepted (nil: accept). It
	// may create the stream (auto-create) or refuse: the publisher gets its
	// error (wrap ErrNotFound, ErrForbidden, ... to choose the status).
	Admit func(name string, tracks []Track) error
	// OnPublish is called when a publication starts (after Admit), e.g. to
	// start the recorder that reads the hub; OnUnpublish when it ends.
	// Both run without locks held and must not block long.
	OnPublish   func(name string, h *Hub)
	OnUnpublish func(name string, h *Hub)
	// CheckName refuses the names the layer above reserves (nil: none),
	// after ValidateName's syntax: its error should wrap ErrInvalidName.
	// Publish, Read, AddSource and Registry.ValidateName apply it.
	CheckName func(name string) error
	Logger    *slog.Logger
	// Registerer receives the publications' series (nil: none), labelled
	// with StreamLabel's value for a stream (nil: its name).
	Registerer  prometheus.Registerer
	StreamLabel func(name string) string

	mu      sync.Mutex
	pubs    map[string]*Hub // nil value: a publication being admitted
	sources map[string]Source
	changed chan struct{} // closed and replaced when a publication starts
	// endedDrops sums the reader drops of hubs whose publication ended.
	endedDrops int64
	closed     bool

	metricsOnce sync.Once
	metrics     *registryMetrics
}

// logger is Logger (default: slog's) naming the component: the one place
// it is named, so the loggers handed to a Registry carry none.
func (r *Registry) logger() *slog.Logger {
	return cmp.Or(r.Logger, slog.Default()).With("component", "media")
}

// ValidateName checks a stream name coming from the network: its syntax
// (the package's ValidateName), then CheckName. The protocol edges call it
// before anything else, so a reserved name gets the same answer as a
// malformed one.
func (r *Registry) ValidateName(name string) error {
	if err := ValidateName(name); err != nil {
		return err
	}
	if r != nil && r.CheckName != nil {
		return r.CheckName(name)
	}
	return nil
}

func (r *Registry) initLocked() {
	if r.pubs == nil {
		r.pubs = map[string]*Hub{}
		r.sources = map[string]Source{}
		r.changed = make(chan struct{})
	}
}

// Publish starts a publication of name with tracks and returns its hub. A
// second publisher of the same name gets ErrAlreadyPublishing. The caller
// publishes units to the hub and calls Unpublish when done.
func (r *Registry) Publish(name string, tracks []Track) (*Hub, error) {
	return r.PublishFrom("", name, tracks)
}

// PublishFrom is Publish for a publisher that names its protocol ("rtsp",
// "whip", ...): the label of the publication's series, and Hub.Protocol.
func (r *Registry) PublishFrom(protocol, name string, tracks []Track) (*Hub, error) {
	return r.PublishRetry(protocol, name, tracks, nil)
}

// PublishRetry is PublishFrom for a publisher that may free the name when
// it is refused (retry, when set, reports that it did: an RTSP takeover of
// a stale ANNOUNCE), then tries once more; only the last refusal counts.
func (r *Registry) PublishRetry(protocol, name string, tracks []Track, retry func(error) bool) (*Hub, error) {
	return r.publishCounted(protocol, name, tracks, retry, false)
}

// PublishCutting is PublishFrom for a publisher that cuts its own
// fragments (Hub.CutsFragments): it marks the last unit of each with
// AccessUnit.FragmentEnd, and the hub says so before OnPublish runs.
func (r *Registry) PublishCutting(protocol, name string, tracks []Track) (*Hub, error) {
	return r.publishCounted(protocol, name, tracks, nil, true)
}

func (r *Registry) publishCounted(protocol, name string, tracks []Track, retry func(error) bool, cuts bool) (*Hub, error) {
	r.initMetrics()
	h, err := r.publish(protocol, name, tracks, cuts)
	if err != nil && retry != nil && retry(err) {
		h, err = r.publish(protocol, name, tracks, cuts)
	}
	if err != nil {
		r.metrics.refused.WithLabelValues(protocol, refusedReason(err)).Inc()
	}
	return h, err
}

func (r *Registry) publish(protocol, name string, tracks []Track, cuts bool) (*Hub, error) {
	if err := r.ValidateName(name); err != nil {
		return nil, err
	}
	if len(tracks) == 0 {
		return nil, errors.New("media: a publication needs at least one track")
	}
	r.mu.Lock()
	r.initLocked()
	if r.closed {
		r.mu.Unlock()
		return nil, ErrRegistryClosed
	}
	if _, busy := r.pubs[name]; busy {
		r.mu.Unlock()
		return nil, fmt.Errorf("%w: %q", ErrAlreadyPublishing, name)
	}
	r.pubs[name] = nil // reserved while Admit runs
	r.mu.Unlock()

	tracks = append([]Track(nil), tracks...)
	if r.Admit != nil {
		if err := r.Admit(name, tracks); err != nil {
			r.mu.Lock()
			delete(r.pubs, name)
			r.mu.Unlock()
			return nil, err
		}
	}

	h := &Hub{Tracks: tracks, QueueSize: r.QueueSize, Protocol: protocol, CutsFragments: cuts}
	r.mu.Lock()
	if r.closed {
		delete(r.pubs, name)
		r.mu.Unlock()
		return nil, ErrRegistryClosed
	}
	r.pubs[name] = h
	close(r.changed)
	r.changed = make(chan struct{})
	r.mu.Unlock()

	// Counted once let in; outside mu, as the label hook has locks of its
	// own. Units come only after Publish returns.
	r.instrument(h, name)
	r.logger().Info("publication started", "stream", name, "tracks", TrackSummary(tracks))
	if r.OnPublish != nil {
		r.OnPublish(name, h)
	}
	return h, nil
}

// Unpublish ends the publication h of name: its readers get io.EOF after
// what is queued. It does nothing more if h is no longer the current one.
func (r *Registry) Unpublish(name string, h *Hub) {
	if h == nil {
		return
	}
	r.mu.Lock()
	current := r.pubs[name] == h
	if current {
		delete(r.pubs, name)
		// Close under mu (registry before hub, never the reverse) so the
		// hub's drops move to the total without Dropped ever dipping.
		h.Close()
		r.endedDrops += h.Dropped()
	}
	r.mu.Unlock()
	if !current {
		h.Close()
		return
	}
	r.logger().Info("publication ended", "stream", name, "units", h.Units())
	if r.OnUnpublish != nil {
		r.OnUnpublish(name, h)
	}
}

// End ends the current publication of name from the server's side (its
// stream deleted, its recording failed) with reason: readers get io.EOF,
// the publisher is told through its hub's Ended and closes its session,
// and the name is free. It reports whether there was a publication.
func (r *Registry) End(name string, reason error) bool {
	return r.EndHub(name, nil, reason)
}

// EndHub is End for the publication h only (nil: whichever is current):
// a publication that replaced h meanwhile (its camera reconnected) goes on.
func (r *Registry) EndHub(name string, h *Hub, reason error) bool {
	r.mu.Lock()
	cur := r.pubs[name]
	r.mu.Unlock()
	if cur == nil || (h != nil && cur != h) {
		return false
	}
	r.logger().Warn("publication ended by the server", "stream", name, "reason", reason)
	cur.End(reason)
	r.Unpublish(name, cur)
	return true
}

// Dropped returns how many readers the hubs of this registry have dropped
// for falling a whole queue behind, over its lifetime.
func (r *Registry) Dropped() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := r.endedDrops
	for _, h := range r.pubs {
		if h != nil {
			n += h.Dropped()
		}
	}
	return n
}

// Hub returns the current publication of name.
func (r *Registry) Hub(name string) (*Hub, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	h := r.pubs[name]
	return h, h != nil
}

// Names returns the names with a live publication, sorted.
func (r *Registry) Names() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	names := make([]string, 0, len(r.pubs))
	for n, h := range r.pubs {
		if h != nil {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

// Viewer is a live reader of a publication obtained with Registry.Read.
// Close it when done: that releases the viewer's demand on an on-demand
// source.
type Viewer struct {
	// Tracks of the publication being read.
	Tracks []Track
	// Hub is the publication being read.
	Hub *Hub

	reader  *Reader
	release func()
	once    sync.Once
}

// Only queues for the viewer, from now on, only the units of the given
// tracks (see Reader.Only).
func (v *Viewer) Only(tracks ...int) { v.reader.Only(tracks...) }

// Read returns the next access unit (see Reader.Read): io.EOF once the
// publication ended.
func (v *Viewer) Read(ctx context.Context) (*AccessUnit, error) {
	return v.reader.Read(ctx)
}

// Backlog returns how many units were replayed to the viewer when it
// attached (see Reader.Backlog).
func (v *Viewer) Backlog() int { return v.reader.Backlog() }

// Close detaches the viewer and releases its demand. It is idempotent.
func (v *Viewer) Close() {
	v.once.Do(func() {
		v.reader.Close()
		if v.release != nil {
			v.release()
		}
	})
}

// Read attaches a viewer to the publication of name. If the name has a
// source, Read counts the viewer's demand (starting an on-demand source) and
// waits, until ctx ends, for the publication to start; otherwise a name
// without a publication gives ErrNotFound at once.
func (r *Registry) Read(ctx context.Context, name string) (*Viewer, error) {
	if err := r.ValidateName(name); err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.initLocked()
	if r.closed {
		r.mu.Unlock()
		return nil, ErrRegistryClosed
	}
	src := r.sources[name]
	r.mu.Unlock()

	var release func()
	if src != nil {
		release = src.Acquire()
	}
	for {
		r.mu.Lock()
		h, closed, changed := r.pubs[name], r.closed, r.changed
		r.mu.Unlock()
		if closed {
			if release != nil {
				release()
			}
			return nil, ErrRegistryClosed
		}
		if h != nil {
			rd, err := h.NewReader()
			if err == nil {
				return &Viewer{Tracks: h.Tracks, Hub: h, reader: rd, release: release}, nil
			}
			// The publication just ended: wait for the next one if a
			// source will bring it.
		}
		if src == nil {
			return nil, fmt.Errorf("%w: %q has no publication", ErrNotFound, name)
		}
		select {
		case <-changed:
		case <-ctx.Done():
			release()
			return nil, fmt.Errorf("media: waiting for source of %q: %w", name, ctx.Err())
		}
	}
}

// AddSource registers a pull source for name. An always-on source starts
// at once and runs until RemoveSource or Close; an on-demand one runs
// while Read has viewers for it.
func (r *Registry) AddSource(name string, s Source) error {
	if err := r.ValidateName(name); err != nil {
		return err
	}
	if err := s.Attach(r, name); err != nil {
		return err
	}
	r.mu.Lock()
	r.initLocked()
	if r.closed {
		r.mu.Unlock()
		return ErrRegistryClosed
	}
	if _, ok := r.sources[name]; ok {
		r.mu.Unlock()
		return fmt.Errorf("%w: %q", ErrSourceExists, name)
	}
	r.sources[name] = s
	r.mu.Unlock()
	if s.AlwaysOn() {
		s.Acquire() // never released but by RemoveSource
	}
	return nil
}

// RemoveSource stops and forgets the source of name, ending its
// publication; it waits until the source has stopped.
func (r *Registry) RemoveSource(name string) {
	r.mu.Lock()
	s := r.sources[name]
	delete(r.sources, name)
	r.mu.Unlock()
	if s != nil {
		s.Shutdown()
	}
}

// Sources returns the pull sources, by name.
func (r *Registry) Sources() map[string]Source {
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps.Clone(r.sources)
}

// HasSource reports whether name has a pull source.
func (r *Registry) HasSource(name string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.sources[name]
	return ok
}

// Close stops every source and ends every publication.
func (r *Registry) Close() {
	r.mu.Lock()
	r.initLocked()
	r.closed = true
	srcs := r.sources
	r.sources = map[string]Source{}
	close(r.changed) // wake waiting readers
	r.changed = make(chan struct{})
	r.mu.Unlock()

	for _, s := range srcs {
		s.Shutdown()
	}

	r.mu.Lock()
	pubs := r.pubs
	r.pubs = map[string]*Hub{}
	r.mu.Unlock()
	for name, h := range pubs {
		if h == nil {
			continue
		}
		h.Close()
		if r.OnUnpublish != nil {
			r.OnUnpublish(name, h)
		}
	}
}

// TrackSummary describes tracks for logs and errors, as "ID:codec/clock"
// each ("0:H264/90000, 1:AAC/48000").
func TrackSummary(tracks []Track) string {
	var b strings.Builder
	for i, t := range tracks {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%d:%s/%d", t.ID, t.Codec, t.ClockRate)
	}
	return b.String()
}
