package auth

import (
	"context"
	"net"
	"time"
)

// addrFailures counts one address's failures in the current minute.
type addrFailures struct {
	minute time.Time
	n      int
	// turn lets one slowed-down request of the address wait at a time:
	// however many connections it opens, its answers come one per
	// FailureDelay.
	turn chan struct{}
}

// logEvery is the least time between two log lines about one address.
const logEvery = 10 * time.Second

// maxAddrs bounds the addresses whose failures are remembered.
const maxAddrs = 65536

// Failed records a failed authentication or authorization: protocol
// ("kinesis", "kinesisvideo", "rtsp", "webrtc", "hls", "web", "metrics"),
// reason (awsauth.Reason*), the client's address (host:port or host) and
// who it claimed to be ("" when nobody). It is counted, logged at most
// every logEvery per address, and counts toward the address's limit.
func (a *Auth) Failed(protocol, reason, addr, who string) {
	a.failures.WithLabelValues(protocol, reason).Inc()
	host := hostOf(addr)
	now := a.Now()
	a.mu.Lock()
	f := a.byAddr[host]
	if f == nil || now.Sub(f.minute) >= time.Minute {
		if f == nil && len(a.byAddr) >= maxAddrs {
			a.forgetOld(now)
		}
		turn := make(chan struct{}, 1)
		if f != nil {
			turn = f.turn // requests may be waiting their turn
		}
		f = &addrFailures{minute: now, turn: turn}
		a.byAddr[host] = f
	}
	f.n++
	n := f.n
	log := now.Sub(a.logged[host]) >= logEvery
	if log {
		if len(a.logged) >= maxAddrs {
			clear(a.logged)
		}
		a.logged[host] = now
	}
	a.mu.Unlock()
	if log {
		a.Logger.Warn("authentication failed", "protocol", protocol, "reason", reason, "address", host, "identity", who, "failures_this_minute", n)
	}
}

// forgetOld drops the addresses whose minute is over, or, when a flood of
// addresses leaves none such, all of them. a.mu is held.
func (a *Auth) forgetOld(now time.Time) {
	for h, f := range a.byAddr {
		if now.Sub(f.minute) >= time.Minute {
			delete(a.byAddr, h)
		}
	}
	if len(a.byAddr) >= maxAddrs {
		clear(a.byAddr)
	}
}

// penalty returns the address's turn and how long each of its requests
// waits: FailureDelay once it failed more than FailureLimit times this
// minute, else 0.
func (a *Auth) penalty(addr string) (chan struct{}, time.Duration) {
	if a.FailureLimit <= 0 {
		return nil, 0
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	f := a.byAddr[hostOf(addr)]
	if f == nil || a.Now().Sub(f.minute) >= time.Minute || f.n <= a.FailureLimit {
		return nil, 0
	}
	return f.turn, a.FailureDelay
}

// Wait holds a request from addr while the address is slowed down: the
// address's requests take turns, each holding its turn for FailureDelay,
// so that parallel connections do not multiply its attempts. It returns
// at once for other addresses, and when ctx ends.
func (a *Auth) Wait(ctx context.Context, addr string) {
	turn, d := a.penalty(addr)
	if d <= 0 {
		return
	}
	select {
	case turn <- struct{}{}:
	case <-ctx.Done():
		return
	}
	defer func() { <-turn }()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// hostOf is the key of an address's failures: its IP, or for IPv6 its
// /64, which one client holds whole.
func hostOf(addr string) string {
	h := addr
	if host, _, err := net.SplitHostPort(addr); err == nil {
		h = host
	}
	ip := net.ParseIP(h)
	if ip == nil || ip.To4() != nil {
		return h
	}
	return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
}
