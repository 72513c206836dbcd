package rtsp

import (
	"crypto/tls"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"

	"github.com/eddy-video/eddy/media/netlimit"
)

// Defaults of Server's connection limits.
const (
	DefaultAuthTimeout    = 10 * time.Second
	DefaultIdleTimeout    = time.Minute
	DefaultPublishTimeout = 5 * time.Second
)

// listener is the TCP listener gortsplib accepts on, made so that no
// client can take it down: gortsplib ends its server at the first failed
// Accept, so a netlimit.Listener underneath retries failures and closes
// connections over the caps; each connection it admits is a guardedConn,
// closed when it overstays its phase.
type listener struct {
	*netlimit.Listener
	authTimeout   time.Duration
	idleTimeout   time.Duration
	authenticates bool // connections must authenticate to be proved
	log           *slog.Logger
	metrics       *metrics
}

// Accept returns the next connection within the caps, guarded; it fails
// only once the listener is closed.
func (l *listener) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return newGuardedConn(l, nc), nil
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
	closeOnce sync.Once
	rd        burstReader

	mu       sync.Mutex // guards the fields below
	phase    phase
	deadline time.Time // of the phase; zero: none
	timer    *time.Timer
	method   base.Method // of the request being answered
}

func newGuardedConn(l *listener, nc net.Conn) *guardedConn {
	g := &guardedConn{Conn: nc, l: l, deadline: time.Now().Add(l.authTimeout)}
	g.rd.conn = nc
	// Hold mu so that a timer firing at once sees g.timer set.
	g.mu.Lock()
	g.timer = time.AfterFunc(l.authTimeout, g.expire)
	g.mu.Unlock()
	return g
}

// Close closes the connection (which gives its place under the caps
// back) and stops its timer.
func (g *guardedConn) Close() error {
	g.closeOnce.Do(func() {
		g.mu.Lock()
		g.timer.Stop()
		g.mu.Unlock()
	})
	return g.Conn.Close()
}

// Read reads through the connection's burstReader.
func (g *guardedConn) Read(p []byte) (int, error) { return g.rd.Read(p) }

// SetReadDeadline sets the read deadline through the burstReader.
func (g *guardedConn) SetReadDeadline(t time.Time) error { return g.rd.SetReadDeadline(t) }

// SetDeadline sets both deadlines, the read one through the burstReader.
func (g *guardedConn) SetDeadline(t time.Time) error {
	if err := g.SetWriteDeadline(t); err != nil {
		return err
	}
	return g.rd.SetReadDeadline(t)
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
	g.l.log.Debug("RTSP connection closed: timed out", "listener", g.l.Name, "remote", g.RemoteAddr().String(), "phase", p.String())
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
