package bench

import (
	"context"
	"math"
	"sync"
	"time"
)

// stallProbe sleeps 10 ms at a time and records oversleeps of 50 ms or
// more: how long this process waited for a CPU (or the whole machine
// stalled).
type stallProbe struct {
	mu     sync.Mutex
	stalls []stall
}

type stall struct {
	at time.Time // when the sleep ended
	d  time.Duration
}

func (sp *stallProbe) run(ctx context.Context) {
	for ctx.Err() == nil {
		t0 := time.Now()
		time.Sleep(10 * time.Millisecond)
		if over := time.Since(t0) - 10*time.Millisecond; over >= 50*time.Millisecond {
			sp.mu.Lock()
			sp.stalls = append(sp.stalls, stall{at: time.Now(), d: over})
			sp.mu.Unlock()
		}
	}
}

// within returns the stalls that ended in [from, to].
func (sp *stallProbe) within(from, to time.Time) []stall {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	var out []stall
	for _, s := range sp.stalls {
		if !s.at.Before(from) && !s.at.After(to) {
			out = append(out, s)
		}
	}
	return out
}

// summary counts the stalls that ended in [from, to] and lasted 100 ms or
// more, and gives the longest, in ms.
func (sp *stallProbe) summary(from, to time.Time) (over100ms int, maxMS float64) {
	for _, st := range sp.within(from, to) {
		if st.d >= 100*time.Millisecond {
			over100ms++
		}
		maxMS = math.Max(maxMS, float64(st.d)/1e6)
	}
	return over100ms, maxMS
}
