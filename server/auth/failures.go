package auth

import (
	"net"
	"time"
)

// addrFailures counts one address's failures in the current minute.
type addrFailures struct {
	minute time.Time
	n      int
}

// logEvery is the least time between two log lines about one address.
const logEvery = 10 * time.Second

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
		if len(a.byAddr) > 65536 {
			clear(a.byAddr) // bounded: a flood of addresses forgets the old ones
		}
		f = &addrFailures{minute: now}
		a.byAddr[host] = f
	}
	f.n++
	n := f.n
	log := now.Sub(a.logged[host]) >= logEvery
	if log {
		if len(a.logged) > 65536 {
			clear(a.logged)
		}
		a.logged[host] = now
	}
	a.mu.Unlock()
	if log {
		a.Logger.Warn("authentication failed", "protocol", protocol, "reason", reason, "address", host, "identity", who, "failures_this_minute", n)
	}
}

// Penalty returns how long a request from addr waits before it is
// answered: FailureDelay once the address failed more than FailureLimit
// times this minute, else 0.
func (a *Auth) Penalty(addr string) time.Duration {
	if a.FailureLimit <= 0 {
		return 0
	}
	host := hostOf(addr)
	a.mu.Lock()
	defer a.mu.Unlock()
	f := a.byAddr[host]
	if f == nil || a.Now().Sub(f.minute) >= time.Minute || f.n <= a.FailureLimit {
		return 0
	}
	return a.FailureDelay
}

func hostOf(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}
