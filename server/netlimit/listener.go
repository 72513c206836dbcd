package netlimit

import (
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Listener wraps a net.Listener with connection caps and accept retries.
type Listener struct {
	net.Listener
	// Name says which listener this is in logs and health ("http", "rtsp").
	Name string
	// Max caps open connections; PerAddress caps those of one client
	// address. 0: no cap.
	Max, PerAddress int
	Logger          *slog.Logger
	// OnRefused, when set, is called for each connection closed by a cap.
	OnRefused func(addr string, perAddress bool)

	mu     sync.Mutex // guards open, byAddr
	open   int
	byAddr map[string]int

	lastErr   atomic.Pointer[acceptError]
	refused   atomic.Int64
	retried   atomic.Int64
	lastLog   atomic.Int64 // unix ns of the last accept-error log line
	closed    atomic.Bool
	closeOnce sync.Once
}

type acceptError struct {
	at  time.Time
	err error
}

// Accept waits for a connection under the caps. Temporary errors (file
// descriptors exhausted, a connection aborted before it was accepted) are
// retried with backoff up to one second; they never end the listener.
func (l *Listener) Accept() (net.Conn, error) {
	delay := 5 * time.Millisecond
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			if l.closed.Load() || errors.Is(err, net.ErrClosed) {
				return nil, err
			}
			l.noteError(err)
			time.Sleep(delay)
			delay = min(2*delay, time.Second)
			continue
		}
		delay = 5 * time.Millisecond
		l.lastErr.Store(nil)
		if tc, ok := l.admit(c); ok {
			return tc, nil
		}
	}
}

// admit counts c in, or closes it when a cap is full.
func (l *Listener) admit(c net.Conn) (net.Conn, bool) {
	host := hostOf(c.RemoteAddr())
	l.mu.Lock()
	if l.byAddr == nil {
		l.byAddr = map[string]int{}
	}
	perAddr := l.PerAddress > 0 && l.byAddr[host] >= l.PerAddress
	total := l.Max > 0 && l.open >= l.Max
	if perAddr || total {
		l.mu.Unlock()
		c.Close()
		l.refused.Add(1)
		if l.OnRefused != nil {
			l.OnRefused(host, perAddr)
		}
		return nil, false
	}
	l.open++
	l.byAddr[host]++
	l.mu.Unlock()
	return &conn{Conn: c, l: l, host: host}, true
}

func (l *Listener) release(host string) {
	l.mu.Lock()
	l.open--
	if l.byAddr[host]--; l.byAddr[host] <= 0 {
		delete(l.byAddr, host)
	}
	l.mu.Unlock()
}

// noteError remembers and logs (at most every 10 s) an accept error.
func (l *Listener) noteError(err error) {
	now := time.Now()
	l.lastErr.Store(&acceptError{at: now, err: err})
	l.retried.Add(1)
	if last := l.lastLog.Load(); now.UnixNano()-last >= int64(10*time.Second) && l.lastLog.CompareAndSwap(last, now.UnixNano()) && l.Logger != nil {
		l.Logger.Error("accept failed; retrying", "listener", l.Name, "err", err, "retries", l.retried.Load())
	}
}

// Close closes the listener; open connections stay until they close.
func (l *Listener) Close() error {
	var err error
	l.closeOnce.Do(func() {
		l.closed.Store(true)
		err = l.Listener.Close()
	})
	return err
}

// State is a listener's health.
type State struct {
	Name      string `json:"name"`
	Addr      string `json:"address"`
	Accepting bool   `json:"accepting"` // no accept error since the last connection
	Error     string `json:"error,omitempty"`
	Open      int    `json:"open"`
	Refused   int64  `json:"refused"` // connections closed by a cap, since start
}

// State reports whether the listener accepts, its open connections and
// what the caps refused.
func (l *Listener) State() State {
	l.mu.Lock()
	open := l.open
	l.mu.Unlock()
	s := State{Name: l.Name, Addr: l.Addr().String(), Accepting: !l.closed.Load(), Open: open, Refused: l.refused.Load()}
	if e := l.lastErr.Load(); e != nil {
		s.Accepting = false
		s.Error = e.err.Error()
	}
	return s
}

// conn releases its place under the caps once, when it closes.
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
