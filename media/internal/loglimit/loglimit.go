package loglimit

import (
	"sync"
	"time"
)

// Limiter lets one message through per period and counts the rest. The
// zero value is ready; it is safe for concurrent use.
type Limiter struct {
	mu         sync.Mutex
	next       time.Time
	suppressed int
}

// period is how often a Limiter lets a message through.
const period = 10 * time.Second

// Allow reports whether to log now, and how many messages were held back
// since the last one.
func (l *Limiter) Allow() (bool, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if now.Before(l.next) {
		l.suppressed++
		return false, 0
	}
	n := l.suppressed
	l.suppressed = 0
	l.next = now.Add(period)
	return true, n
}
