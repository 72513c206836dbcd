package bench

import (
	"context"
	"errors"
	"sort"
	"sync"
	"time"

	"github.com/eddy-video/eddy/media/rtspclient"
)

// publisher is one looping file publisher of a bench and what it sent.
type publisher struct {
	name string
	pub  *rtspclient.FilePublisher

	mu       sync.Mutex
	units    []int64 // NTP time (Unix ns) of every video access unit sent
	keys     []int64 // the same, of keyframes
	connects int
	errs     []string
	errAt    []time.Time
	// Lateness of units handed to the RTSP client (now − due time): the
	// bench process's own scheduling delay.
	lateMax   time.Duration
	lateMaxAt time.Time
	late200   int // units 200 ms or more late
}

func (p *publisher) onUnit(_ time.Duration, key bool, ntp time.Time) {
	t := ntp.UnixNano()
	now := time.Now()
	late := now.Sub(ntp)
	p.mu.Lock()
	p.units = append(p.units, t)
	if key {
		p.keys = append(p.keys, t)
	}
	if late > p.lateMax {
		p.lateMax, p.lateMaxAt = late, now
	}
	if late >= 200*time.Millisecond {
		p.late200++
	}
	p.mu.Unlock()
}

// run publishes until ctx ends, reconnecting a second after a failure
// (each failure is counted: the server dropped or refused the publisher).
func (p *publisher) run(ctx context.Context, delay time.Duration, log func(string, ...any)) {
	if sleepCtx(ctx, delay) != nil {
		return
	}
	for {
		p.mu.Lock()
		p.connects++
		p.mu.Unlock()
		err := p.pub.Run(ctx)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			err = errors.New("publisher ended")
		}
		now := time.Now()
		p.mu.Lock()
		p.errs = append(p.errs, now.Format("15:04:05.000")+" "+err.Error())
		p.errAt = append(p.errAt, now)
		p.mu.Unlock()
		log("publisher %s: %v (reconnecting in 1s)", p.name, err)
		if sleepCtx(ctx, time.Second) != nil {
			return
		}
	}
}

// gop is the keyframe interval sent (median spacing); 0 before two
// keyframes were sent.
func (p *publisher) gop() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return medianSpacing(p.keys)
}

// lastKey is when the last keyframe was sent (zero before the first).
func (p *publisher) lastKey() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.keys) == 0 {
		return time.Time{}
	}
	return time.Unix(0, p.keys[len(p.keys)-1])
}

func medianSpacing(ts []int64) time.Duration {
	if len(ts) < 2 {
		return 0
	}
	d := make([]int64, 0, len(ts)-1)
	for i := 1; i < len(ts); i++ {
		d = append(d, ts[i]-ts[i-1])
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return time.Duration(d[len(d)/2])
}
