package rtsp

import (
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"

	"github.com/eddy-video/eddy/media/internal/loglimit"
)

// Defaults of Server's connection limits.
const (
	DefaultAuthTimeout    = 10 * time.Second
	DefaultIdleTimeout    = time.Minute
	DefaultPublishTimeout = 5 * time.Second
)

// Accept retries: the first after minAcceptDelay, doubling up to
// maxAcceptDelay, as net/http does.
const (
	minAcceptDelay = 5 * time.Millisecond
	maxAcceptDelay = time.Second
)

// ListenerState is what /healthz reports of an RTSP listener.
type ListenerState struct {
	Listener string // "rtsp" or "rtsps"
	Address  string
	// Accepting is false while accepts fail (they are retried) and once
	// the listener is closed.
	Accepting   bool
	Connections int
	// LastAcceptError is the last failed accept ("" for none) and
	// LastAcceptErrorTime when it happened.
	LastAcceptError     string
	LastAcceptErrorTime time.Time
}

// listener is the TCP listener gortsplib accepts on, made so that no
// client can take it down. gortsplib ends its server at the first failed
// Accept: here a failure (EMFILE "too many open files", ENFILE, ENOBUFS)
// is logged and retried with backoff, and never reaches it. Connections
// over a cap (in all, or from one address) are closed as soon as they are
// accepted, which keeps file descriptors for publishers; each connection
// is a guardedConn, closed when it overstays.
type listener struct {
	net.Listener
	name          string // "rtsp" or "rtsps"
	max, perAddr  int    // caps; 0: none
	authTimeout   time.Duration
	idleTimeout   time.Duration
	authenticates bool // connections must authenticate to be proved
	log           *slog.Logger
	metrics       *metrics
	done          chan struct{}
	closeOnce     sync.Once
	errLog        loglimit.Limiter
	refuseLog     loglimit.Limiter

	mu        sync.Mutex // guards the fields below
	open      int
	perHost   map[string]int
	failing   bool
	lastErr   string
	lastErrAt time.Time
}

// Accept returns the next connection within the caps; it fails only once
// the listener is closed.
func (l *listener) Accept() (net.Conn, error) {
	var delay time.Duration
	for {
		nc, err := l.Listener.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil, err
			}
			delay = min(max(2*delay, minAcceptDelay), maxAcceptDelay)
			l.acceptFailed(err, delay)
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-l.done:
				t.Stop()
				return nil, net.ErrClosed
			}
			continue
		}
		delay = 0
		if c := l.admit(nc); c != nil {
			return c, nil
		}
	}
}

func (l *listener) acceptFailed(err error, delay time.Duration) {
	l.metrics.acceptErrors.Inc()
	l.mu.Lock()
	l.failing, l.lastErr, l.lastErrAt = true, err.Error(), time.Now()
	l.mu.Unlock()
	if ok, held := l.errLog.Allow(); ok {
		l.log.Error("RTSP accept failed; retrying", "listener", l.name, "error", err, "retry_in", delay, "not_logged", held)
	}
}

// admit counts nc against the caps: a guardedConn, or nil when a cap is
// full and nc was closed.
func (l *listener) admit(nc net.Conn) net.Conn {
	host := hostOf(nc.RemoteAddr())
	l.mu.Lock()
	l.failing = false
	reason := ""
	switch {
	case l.max > 0 && l.open >= l.max:
		reason = refusedTotal
	case l.perAddr > 0 && l.perHost[host] >= l.perAddr:
		reason = refusedPerAddress
	default:
		l.open++
		l.perHost[host]++
	}
	l.mu.Unlock()
	if reason != "" {
		nc.Close()
		l.metrics.refused.WithLabelValues(reason).Inc()
		if ok, held := l.refuseLog.Allow(); ok {
			l.log.Warn("RTSP connection refused: cap reached", "listener", l.name, "address", host, "cap", reason, "not_logged", held)
		}
		return nil
	}
	l.metrics.open.Inc()
	return newGuardedConn(l, nc, host)
}

func (l *listener) release(host string) {
	l.mu.Lock()
	l.open--
	if l.perHost[host]--; l.perHost[host] <= 0 {
		delete(l.perHost, host)
	}
	l.mu.Unlock()
	l.metrics.open.Dec()
}

// Close stops accepting; open connections stay.
func (l *listener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}

func (l *listener) state() ListenerState {
	l.mu.Lock()
	defer l.mu.Unlock()
	closed := false
	select {
	case <-l.done:
		closed = true
	default:
	}
	return ListenerState{Listener: l.name, Address: l.Addr().String(), Accepting: !closed && !l.failing,
		Connections: l.open, LastAcceptError: l.lastErr, LastAcceptErrorTime: l.lastErrAt}
}

func hostOf(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	h, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return h
}

// phase is where a connection is in its life; each bounds how long it may
// last.
type phase int

const (
	// phaseAuth: until a request authenticates (with authentication off,
	// until a whole request arrives); at most authTimeout after accept.
	phaseAuth phase = iota
	// phaseIdle: proved, between requests; at most idleTimeout after the
	// last request arrived. A request sent byte by byte never arrives.
	phaseIdle
	// phaseStreaming: playing or recording; gortsplib's own timeouts
	// apply (RTP read timeouts, UDP session timeouts, write timeouts).
	phaseStreaming
)

func (p phase) String() string {
	return [...]string{"auth", "idle", "streaming"}[p]
}

// guardedConn is one accepted connection: it closes itself when it
// overstays its phase, and gives its place under the caps back when
// closed.
type guardedConn struct {
	net.Conn
	l         *listener
	host      string
	closeOnce sync.Once

	mu       sync.Mutex // guards the fields below
	phase    phase
	deadline time.Time // of the phase; zero: none
	timer    *time.Timer
	method   base.Method // of the request being answered
}

func newGuardedConn(l *listener, nc net.Conn, host string) *guardedConn {
	g := &guardedConn{Conn: nc, l: l, host: host, deadline: time.Now().Add(l.authTimeout)}
	g.timer = time.AfterFunc(l.authTimeout, g.expire)
	return g
}

// Close closes the connection and gives its place back, once.
func (g *guardedConn) Close() error {
	g.closeOnce.Do(func() {
		g.mu.Lock()
		g.timer.Stop()
		g.mu.Unlock()
		g.l.release(g.host)
	})
	return g.Conn.Close()
}

// expire closes the connection when its phase's deadline has passed; a
// timer that fires early (the deadline moved) is set again.
func (g *guardedConn) expire() {
	g.mu.Lock()
	if g.deadline.IsZero() {
		g.mu.Unlock()
		return
	}
	if left := time.Until(g.deadline); left > 0 {
		g.timer.Reset(left)
		g.mu.Unlock()
		return
	}
	p := g.phase
	g.mu.Unlock()
	g.l.metrics.timeouts.WithLabelValues(p.String()).Inc()
	g.l.log.Debug("RTSP connection closed: timed out", "listener", g.l.name, "remote", g.RemoteAddr().String(), "phase", p.String())
	g.Close()
}

// enter moves the connection to phase p, which lasts at most d (0: no
// limit).
func (g *guardedConn) enter(p phase, d time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.phase = p
	if d <= 0 {
		g.deadline = time.Time{}
		g.timer.Stop()
		return
	}
	g.deadline = time.Now().Add(d)
	g.timer.Reset(d)
}

// requested sees a whole request arrive.
func (g *guardedConn) requested(method base.Method) {
	g.mu.Lock()
	g.method = method
	p := g.phase
	g.mu.Unlock()
	switch {
	case p == phaseIdle, p == phaseAuth && !g.l.authenticates:
		g.enter(phaseIdle, g.l.idleTimeout)
	}
}

// proved sees a request authenticate.
func (g *guardedConn) proved() {
	g.mu.Lock()
	p := g.phase
	g.mu.Unlock()
	if p == phaseAuth {
		g.enter(phaseIdle, g.l.idleTimeout)
	}
}

// responded sees the answer to the current request: a successful PLAY or
// RECORD starts streaming, a PAUSE or TEARDOWN ends it. Only an
// authorized session can play or record, so an answer never proves more
// than its request did.
func (g *guardedConn) responded(code base.StatusCode) {
	if code < 200 || code > 299 {
		return
	}
	g.mu.Lock()
	m := g.method
	g.mu.Unlock()
	switch m {
	case base.Play, base.Record:
		g.enter(phaseStreaming, 0)
	case base.Pause, base.Teardown:
		g.mu.Lock()
		streaming := g.phase == phaseStreaming
		g.mu.Unlock()
		if streaming {
			g.enter(phaseIdle, g.l.idleTimeout)
		}
	}
}

// guardOf returns the guardedConn under a gortsplib connection (through
// TLS on RTSPS).
func guardOf(sc *gortsplib.ServerConn) *guardedConn {
	nc := sc.NetConn()
	if tc, ok := nc.(*tls.Conn); ok {
		nc = tc.NetConn()
	}
	g, _ := nc.(*guardedConn)
	return g
}
