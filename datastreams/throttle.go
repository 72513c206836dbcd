package datastreams

import (
	"sync"
	"time"
)

// bucket is a token bucket holding at most one second of its rate. force
// may take it below zero (a large read is paid for after the fact), which
// then refuses callers until it refills.
type bucket struct {
	mu     sync.Mutex
	rate   float64
	have   float64
	last   time.Time
	active bool
}

func newBucket(rate float64) *bucket {
	return &bucket{rate: rate, have: rate, active: rate > 0}
}

func (b *bucket) refillLocked(now time.Time) {
	if !b.last.IsZero() {
		b.have += now.Sub(b.last).Seconds() * b.rate
		if b.have > b.rate {
			b.have = b.rate
		}
	}
	b.last = now
}

// take removes n tokens if that many are there.
func (b *bucket) take(n float64, now time.Time) bool {
	if !b.active {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refillLocked(now)
	if b.have < n {
		return false
	}
	b.have -= n
	return true
}

// force removes n tokens, going into debt if needed.
func (b *bucket) force(n float64, now time.Time) {
	if !b.active {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refillLocked(now)
	b.have -= n
}

func (b *bucket) tokens(now time.Time) float64 {
	if !b.active {
		return 1
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refillLocked(now)
	return b.have
}
