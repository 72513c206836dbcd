package netlimit

import (
	"errors"
	"log/slog"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/eddy-video/eddy/media/internal/loglimit"
)

// Accept retries: the first after minDelay, doubling up to maxDelay, as
// net/http does.
const (
	minDelay = 5 * time.Millisecond
	maxDelay = time.Second
)

// Listener wraps a net.Listener with connection caps and accept retries.
// Set the exported fields before the first Accept.
type Listener struct {
	net.Listener
	// Name says which listener this is in logs and health ("http", "rtsp").
	Name string
	// Max caps open connections; PerAddress caps those of one client
	// address. 0: no cap.
	Max, PerAddress int
	Logger          *slog.Logger
	// Hooks for metrics, each optional: a connection closed by a cap
	// (perAddress: by the per-address one), a failed accept (retried), a
	// connection counted in and out.
	OnRefused     func(host string, perAddress bool)
	OnAcceptError func(err error)
	OnOpen        func()
	OnClose       func()

	initOnce  sync.Once
	done      chan struct{}
	closeOnce sync.Once
	errLog    loglimit.Limiter
	refuseLog loglimit.Limiter

	mu        sync.Mutex // guards the fields below
	open      int
	byAddr    map[string]int
	refused   int64
	failing   bool
	lastErr   string
	lastErrAt time.Time
}

func (l *Listener) init() {
	l.initOnce.Do(func() {
		l.done = make(chan struct{})
		l.byAddr = map[string]int{}
		if l.Logger == nil {
			l.Logger = slog.Default()
		}
	})
}

// Accept returns the next connection within the caps. Failed accepts
// (file descriptors exhausted, a connection aborted before it was
// accepted) are logged and retried with backoff; Accept fails only once
// the listener is closed.
func (l *Listener) Accept() (net.Conn, error) {
	l.init()
	var delay time.Duration
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil, err
			}
			delay = min(max(2*delay, minDelay), maxDelay)
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
		if tc := l.admit(c); tc != nil {
			return tc, nil
		}
	}
}

func (l *Listener) acceptFailed(err error, delay time.Duration) {
	if l.OnAcceptError != nil {
		l.OnAcceptError(err)
	}
	l.mu.Lock()
	l.failing, l.lastErr, l.lastErrAt = true, err.Error(), time.Now()
	l.mu.Unlock()
	if ok, held := l.errLog.Allow(); ok {
		l.Logger.Error("accept failed; retrying", "listener", l.Name, "error", err, "retry_in", delay, "not_logged", held)
	}
}

// admit counts c in, or closes it when a cap is full (nil).
func (l *Listener) admit(c net.Conn) net.Conn {
	host := hostOf(c.RemoteAddr())
	l.mu.Lock()
	l.failing = false
	total := l.Max > 0 && l.open >= l.Max
	perAddr := !total && l.PerAddress > 0 && l.byAddr[host] >= l.PerAddress
	if total || perAddr {
		l.refused++
		l.mu.Unlock()
		c.Close()
		if l.OnRefused != nil {
			l.OnRefused(host, perAddr)
		}
		if ok, held := l.refuseLog.Allow(); ok {
			l.Logger.Warn("connection refused: cap reached", "listener", l.Name, "address", host, "per_address", perAddr, "not_logged", held)
		}
		return nil
	}
	l.open++
	l.byAddr[host]++
	l.mu.Unlock()
	if l.OnOpen != nil {
		l.OnOpen()
	}
	return &conn{Conn: c, l: l, host: host}
}

func (l *Listener) release(host string) {
	l.mu.Lock()
	l.open--
	if l.byAddr[host]--; l.byAddr[host] <= 0 {
		delete(l.byAddr, host)
	}
	l.mu.Unlock()
	if l.OnClose != nil {
		l.OnClose()
	}
}

// Close stops accepting (a retry in progress ends); open connections stay
// until they close.
func (l *Listener) Close() error {
	l.init()
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// State is a listener's health.
type State struct {
	Name string
	Addr string
	// Accepting is false while accepts fail (they are retried) and once
	// the listener is closed.
	Accepting bool
	Open      int   // connections open now
	Refused   int64 // connections closed by a cap, since start
	// LastError is the last failed accept ("" for none), at LastErrorAt.
	LastError   string
	LastErrorAt time.Time
}

// State reports whether the listener accepts, its open connections and
// what the caps refused.
func (l *Listener) State() State {
	l.init()
	l.mu.Lock()
	defer l.mu.Unlock()
	closed := false
	select {
	case <-l.done:
		closed = true
	default:
	}
	return State{Name: l.Name, Addr: l.Addr().String(), Accepting: !closed && !l.failing, Open: l.open,
		Refused: l.refused, LastError: l.lastErr, LastErrorAt: l.lastErrAt}
}

// conn gives its place under the caps back once, when it closes.
type conn struct {
	net.Conn
	l    *Listener
	host string
	once sync.Once
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c.host) })
	return err
}

// errNoSyscallConn: the wrapped connection is not a socket.
var errNoSyscallConn = errors.New("netlimit: the connection has no file descriptor")

// SyscallConn gives the wrapped socket's raw connection (syscall.Conn),
// so that readers under the cap can read the socket as they would an
// unwrapped one (media/rtsp's burst reader does non-blocking reads).
func (c *conn) SyscallConn() (syscall.RawConn, error) {
	if sc, ok := c.Conn.(syscall.Conn); ok {
		return sc.SyscallConn()
	}
	return nil, errNoSyscallConn
}

// HostOf returns the host part of a connection's remote address.
func HostOf(a net.Addr) string { return hostOf(a) }

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
