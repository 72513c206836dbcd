package bench

import (
	"context"
	"net/url"
	"time"
)

// watch polls the media playlist every cfg.Poll and records when each
// media sequence number first appears.
func (b *hlsBench) watch(ctx context.Context, master string) {
	mediaURL, err := b.mediaURL(ctx, b.hc, master)
	if err != nil {
		b.logf("watcher: %v", err)
		b.mu.Lock()
		b.wErrs++
		b.mu.Unlock()
		return
	}
	base, _ := url.Parse(mediaURL)
	var newest uint64
	seen := false
	tick := time.NewTicker(b.cfg.Poll)
	defer tick.Stop()
	for {
		t0 := time.Now()
		body, _, _, _, err := hlsGet(ctx, b.hc, mediaURL, true)
		t1 := time.Now()
		if ctx.Err() != nil {
			return
		}
		var pl *hlsPlaylist
		if err == nil {
			pl, err = parseHLSMediaPlaylist(base, body)
		}
		b.mu.Lock()
		b.wPolls++
		if b.wStart.IsZero() {
			b.wStart = t0
		}
		b.wLast = t0
		if err != nil {
			b.wErrs++
			if b.wErrs <= 3 {
				b.logf("watcher: %v", err)
			}
		} else {
			for _, s := range pl.segs {
				if !seen || s.seq > newest {
					// The first poll's segments were listed before it: not timed.
					if seen {
						b.listed = append(b.listed, hlsListed{seq: s.seq, pdt: s.pdt, listed: t1.UnixNano(), polled: t0.UnixNano()})
					}
					newest = max(newest, s.seq)
				}
			}
			if len(pl.segs) > 0 {
				seen = true
			}
		}
		b.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
