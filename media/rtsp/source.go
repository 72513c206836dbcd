package rtsp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"

	"github.com/eddy-video/eddy/media"
	"github.com/eddy-video/eddy/media/internal/loglimit"
	"github.com/eddy-video/eddy/media/redact"
	"github.com/eddy-video/eddy/media/rtpcodec"
)

// Source defaults.
const (
	DefaultSourceMinBackoff   = time.Second
	DefaultSourceMaxBackoff   = 30 * time.Second
	DefaultSourceHealthyAfter = time.Minute
	DefaultOnDemandStopAfter  = 10 * time.Second
)

// Source pulls a stream from an RTSP camera (or server) into a Registry,
// under the name it was added with (Registry.AddSource). It describes the
// URL, sets up every supported media (skipping the others with a log line),
// plays, and publishes what it decodes; on error or end of stream it
// reconnects with exponential backoff.
//
// Set the exported fields before AddSource; they are not changed after.
type Source struct {
	// URL of the camera, e.g. rtsp://user:pass@host:554/path (rtsps too);
	// credentials are taken from it.
	URL string
	// Transport is "tcp" (default: RTP interleaved on the RTSP
	// connection), "udp", or "auto" (UDP, falling back to TCP).
	Transport string
	// OnDemand makes the source run only while viewers read it through
	// Registry.Read: it starts with the first and stops OnDemandStopAfter
	// after the last left. Otherwise it runs from AddSource to RemoveSource.
	OnDemand          bool
	OnDemandStopAfter time.Duration // 0: 10 s
	// Reconnection backoff: MinBackoff doubling up to MaxBackoff, back to
	// MinBackoff after a connection that lasted HealthyAfter.
	MinBackoff   time.Duration // 0: 1 s
	MaxBackoff   time.Duration // 0: 30 s
	HealthyAfter time.Duration // 0: 1 min
	// RTSP read and write timeouts (0: 10 s).
	ReadTimeout  time.Duration
	WriteTimeout time.Duration
	Logger       *slog.Logger

	// set by Attach, then read-only
	reg       *media.Registry
	name      string
	u         *base.URL
	transport *gortsplib.Transport
	log       *slog.Logger

	mu        sync.Mutex // guards the fields below
	viewers   int
	cancel    context.CancelFunc // of the running loop; nil when stopped
	done      chan struct{}      // closed when the last started loop exited
	stopTimer *time.Timer
	removed   bool
	status    SourceStatus
}

// The states of a source (SourceStatus.State).
const (
	SourceConnecting = "connecting" // describing, setting up, waiting for PLAY
	SourceRunning    = "running"    // playing: publishing what it pulls
	SourceRetrying   = "retrying"   // failed; waiting its backoff to connect again
	SourceStopped    = "stopped"    // not running (on demand without viewers, or removed)
)

// SourceStatus is what a source is doing and the last error that stopped
// it (zero LastErrorAt: none yet).
type SourceStatus struct {
	State       string
	LastError   string
	LastErrorAt time.Time
}

// Status returns the source's state and its last error.
func (s *Source) Status() SourceStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.status
	if st.State == "" || s.cancel == nil {
		st.State = SourceStopped
	}
	return st
}

// setState records the loop's state; err, when set, is why it stopped.
func (s *Source) setState(state string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status.State = state
	if err != nil {
		s.status.LastError, s.status.LastErrorAt = err.Error(), time.Now().UTC()
	}
}

// hide returns err with the credentials of every URL its message quotes
// masked (a library's error may quote the camera's URL), so that the log
// line and Status's LastError, made from it, show the same safe text.
func (s *Source) hide(err error) error {
	msg := err.Error()
	if s.URL != "" {
		// The URL as configured first: it may hold what Text cannot
		// delimit (a space in the password).
		msg = strings.ReplaceAll(msg, s.URL, redact.URL(s.URL))
	}
	return &hiddenError{msg: redact.Text(msg), err: err}
}

// hiddenError is an error with its message's credentials masked.
type hiddenError struct {
	msg string
	err error
}

func (e *hiddenError) Error() string { return e.msg }
func (e *hiddenError) Unwrap() error { return e.err }

// Attach validates the configuration and attaches s to reg under name
// (media.Source: Registry.AddSource calls it).
func (s *Source) Attach(reg *media.Registry, name string) error {
	if s.reg != nil {
		return errors.New("media: source already added")
	}
	u, err := base.ParseURL(s.URL)
	if err != nil {
		// url.Parse's error quotes the whole URL, password included: keep
		// only its reason.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("media: source URL %s: %s", redact.URL(s.URL), redact.Text(err.Error()))
	}
	if u.Scheme != "rtsp" && u.Scheme != "rtsps" {
		return fmt.Errorf("media: source URL scheme %q: use rtsp or rtsps", u.Scheme)
	}
	switch s.Transport {
	case "", "tcp":
		v := gortsplib.TransportTCP
		s.transport = &v
	case "udp":
		v := gortsplib.TransportUDP
		s.transport = &v
	case "auto":
	default:
		return fmt.Errorf("media: source transport %q: use tcp, udp or auto", s.Transport)
	}
	if s.MinBackoff <= 0 {
		s.MinBackoff = DefaultSourceMinBackoff
	}
	if s.MaxBackoff <= 0 {
		s.MaxBackoff = DefaultSourceMaxBackoff
	}
	if s.MaxBackoff < s.MinBackoff {
		s.MaxBackoff = s.MinBackoff
	}
	if s.HealthyAfter <= 0 {
		s.HealthyAfter = DefaultSourceHealthyAfter
	}
	if s.OnDemandStopAfter <= 0 {
		s.OnDemandStopAfter = DefaultOnDemandStopAfter
	}
	log := s.Logger
	if log == nil {
		log = reg.Logger
	}
	if log == nil {
		log = slog.Default()
	}
	s.log = log.With("component", "rtsp", "stream", name, "source", redact.URL(s.URL))
	s.reg, s.name, s.u = reg, name, u
	return nil
}

// AlwaysOn reports whether s runs without viewers: it is not OnDemand.
func (s *Source) AlwaysOn() bool { return !s.OnDemand }

// Acquire counts one viewer (starting the source if it is stopped) and
// returns the function that releases it.
func (s *Source) Acquire() func() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.removed {
		return func() {}
	}
	s.viewers++
	if s.stopTimer != nil {
		s.stopTimer.Stop()
		s.stopTimer = nil
	}
	if s.cancel == nil {
		s.startLocked()
	}
	var once sync.Once
	return func() { once.Do(s.release) }
}

func (s *Source) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.viewers--
	if s.viewers > 0 || !s.OnDemand || s.removed || s.cancel == nil {
		return
	}
	if s.stopTimer != nil {
		s.stopTimer.Stop()
	}
	s.stopTimer = time.AfterFunc(s.OnDemandStopAfter, s.stopIfIdle)
}

func (s *Source) stopIfIdle() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.viewers == 0 && s.cancel != nil {
		s.log.Info("on-demand source idle: stopping")
		s.cancel()
		s.cancel = nil
	}
}

// startLocked starts the loop; a new loop waits for the previous one to
// exit (and unpublish) first.
func (s *Source) startLocked() {
	ctx, cancel := context.WithCancel(context.Background())
	prev, done := s.done, make(chan struct{})
	s.cancel, s.done = cancel, done
	go func() {
		defer close(done)
		if prev != nil {
			<-prev
		}
		s.run(ctx)
	}()
}

// Shutdown stops the source for good and waits for it.
func (s *Source) Shutdown() {
	s.mu.Lock()
	s.removed = true
	if s.stopTimer != nil {
		s.stopTimer.Stop()
		s.stopTimer = nil
	}
	if s.cancel != nil {
		s.cancel()
		s.cancel = nil
	}
	done := s.done
	s.mu.Unlock()
	if done != nil {
		<-done
	}
}

// run connects and reconnects until ctx ends.
func (s *Source) run(ctx context.Context) {
	backoff := s.MinBackoff
	for {
		start := time.Now()
		s.setState(SourceConnecting, nil)
		err := s.runOnce(ctx)
		if ctx.Err() != nil {
			s.setState(SourceStopped, nil)
			return
		}
		if time.Since(start) >= s.HealthyAfter {
			backoff = s.MinBackoff
		}
		if err == nil {
			err = errors.New("the stream ended")
		}
		err = s.hide(err)
		s.setState(SourceRetrying, err)
		s.log.Warn("source stopped; reconnecting", "error", err, "retry_in", backoff)
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return
		}
		backoff = min(backoff*2, s.MaxBackoff)
	}
}

// runOnce pulls the stream once, until an error, its end, or ctx.
func (s *Source) runOnce(ctx context.Context) error {
	var limiter loglimit.Limiter
	c := &gortsplib.Client{
		Scheme:       s.u.Scheme,
		Host:         s.u.Host,
		Transport:    s.transport,
		ReadTimeout:  s.ReadTimeout,
		WriteTimeout: s.WriteTimeout,
		OnDecodeError: func(err error) {
			if ok, held := limiter.Allow(); ok {
				s.log.Warn("skipping malformed packet", "error", err, "not_logged", held)
			}
		},
		OnPacketsLost: func(n uint64) {
			if ok, held := limiter.Allow(); ok {
				s.log.Warn("RTP packets lost", "lost", n, "not_logged", held)
			}
		},
		OnTransportSwitch: func(err error) { s.log.Info("transport switch", "reason", err) },
	}
	if err := c.Start2(); err != nil {
		return err
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, c.Close) // unblocks Describe, Setup, Wait
	defer stop()

	desc, _, err := c.Describe(s.u)
	if err != nil {
		return fmt.Errorf("describe: %w", err)
	}
	tracks, err := rtpcodec.SelectTracks(desc.Medias, false, s.log)
	if err != nil {
		return err
	}
	for _, it := range tracks {
		if _, err := c.Setup(desc.BaseURL, it.Media, 0, 0); err != nil {
			return fmt.Errorf("setup: %w", err)
		}
	}
	h, err := s.reg.PublishFrom("rtsp_source", s.name, rtpcodec.TracksOf(tracks))
	if err != nil {
		return err
	}
	defer s.reg.Unpublish(s.name, h)
	// The server may end the publication (its stream deleted, recording
	// failed on a full disk): drop the connection and pull again after
	// the backoff, as after any failure, instead of feeding a hub nobody
	// reads.
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-h.Ended():
			s.log.Warn("publication ended by the server; reconnecting", "reason", h.EndErr())
			c.Close()
		case <-done:
		}
	}()

	in := &rtpcodec.Ingest{Hub: h, Timer: c, Log: s.log, Tracks: tracks}
	for _, it := range tracks {
		c.OnPacketRTP(it.Media, it.Format, func(pkt *rtp.Packet) { in.Handle(it, pkt) })
		c.OnPacketRTCP(it.Media, func(pkt rtcp.Packet) { in.HandleRTCP(it, pkt) })
	}
	if _, err := c.Play(nil); err != nil {
		return fmt.Errorf("play: %w", err)
	}
	s.setState(SourceRunning, nil)
	s.log.Info("source playing", "tracks", media.TrackSummary(rtpcodec.TracksOf(tracks)))
	err = c.Wait()
	select {
	case <-h.Ended():
		return fmt.Errorf("the server ended the publication: %w", h.EndErr())
	default:
		return err
	}
}
