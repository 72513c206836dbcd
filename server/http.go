package server

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"

	"github.com/eddy-video/eddy/media/netlimit"
)

// headerGate closes new connections beyond max that have not yet sent a
// whole request header (http.StateNew): slow clients sending huge headers
// cannot hold more than max × header limit of memory, and the rest are
// refused at once. It is an http.Server ConnState hook.
type headerGate struct {
	max     int
	mu      sync.Mutex
	reading map[net.Conn]struct{}
	refused int64
}

func (g *headerGate) connState(c net.Conn, st http.ConnState) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.reading == nil {
		g.reading = map[net.Conn]struct{}{}
	}
	switch st {
	case http.StateNew:
		if len(g.reading) >= g.max {
			g.refused++
			c.Close()
			return
		}
		g.reading[c] = struct{}{}
	default:
		delete(g.reading, c)
	}
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
