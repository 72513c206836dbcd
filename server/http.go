package server

import (
	"container/list"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eddy-video/eddy/media/netlimit"
)

// headerGate bounds the connections that may be reading a request
// header — new ones, and idle keep-alive ones whose next request may be
// arriving — to max: when one more comes, the one that has waited longest
// is closed. Slow clients sending huge headers cannot hold more than max
// × the header limit of memory, and cannot lock anyone out either: a
// client that sends its request promptly is never the oldest. It is an
// http.Server ConnState hook.
type headerGate struct {
	max     int
	evicted prometheus.Counter

	mu      sync.Mutex // guards the fields below
	waiting map[net.Conn]*list.Element
	order   list.List // of net.Conn, longest waiting first
}

func newHeaderGate(max int, reg prometheus.Registerer) *headerGate {
	g := &headerGate{max: max, waiting: map[net.Conn]*list.Element{},
		evicted: prometheus.NewCounter(prometheus.CounterOpts{Name: "eddy_http_header_wait_evictions_total",
			Help: "HTTP connections closed, while waiting for a request header, to make room for a newer one (the cap is limits.connections/8)."})}
	reg.MustRegister(g.evicted)
	return g
}

func (g *headerGate) connState(c net.Conn, st http.ConnState) {
	switch st {
	case http.StateNew, http.StateIdle:
		if victim := g.wait(c); victim != nil {
			g.evicted.Inc()
			closeRaw(victim)
		}
	default:
		g.mu.Lock()
		if e, ok := g.waiting[c]; ok {
			g.order.Remove(e)
			delete(g.waiting, c)
		}
		g.mu.Unlock()
	}
}

// wait counts c as waiting for a header, and returns the connection to
// close to make room for it (nil: none).
func (g *headerGate) wait(c net.Conn) net.Conn {
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, ok := g.waiting[c]; ok {
		return nil
	}
	var victim net.Conn
	if len(g.waiting) >= g.max {
		front := g.order.Front()
		victim = g.order.Remove(front).(net.Conn)
		delete(g.waiting, victim)
	}
	g.waiting[c] = g.order.PushBack(c)
	return victim
}

// closeRaw closes a connection under its TLS layer, if any, so that no
// close_notify write can block the caller.
func closeRaw(c net.Conn) {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	c.Close()
}

// healthz answers 200 "ok" once the server is ready and every listener
// accepts connections, then one line per listener (address, state, open
// connections, connections refused by the caps); 503 while starting or
// when a listener fails to accept (file descriptors exhausted, say).
func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	if !s.ready.Load() {
		http.Error(w, "starting", http.StatusServiceUnavailable)
		return
	}
	states := s.listenerStates()
	status, head := http.StatusOK, "ok"
	for _, st := range states {
		if !st.Accepting {
			status, head = http.StatusServiceUnavailable, "degraded"
		}
	}
	var b strings.Builder
	b.WriteString(head + "\n")
	for _, st := range states {
		state := "accepting"
		if !st.Accepting {
			state = "not accepting: " + st.LastError
		}
		fmt.Fprintf(&b, "%s %s %s, %d open, %d refused\n", st.Name, st.Addr, state, st.Open, st.Refused)
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, b.String())
}

// listenerStates are the health of the TCP listeners that take clients.
func (s *Server) listenerStates() []netlimit.State {
	return append([]netlimit.State{s.httpLn.State()}, s.RTSPListeners()...)
}
