package bench

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/eddy-video/eddy/fragments"
)

// hlsReader is one client polling like hls.js.
type hlsReader struct {
	id   int
	b    *hlsBench
	live *hlsLive // running totals shared with other readers; nil = none

	// Owned by the reader's goroutine until it returns.
	reqs       []hlsReq
	fellBehind bool
	behindAt   []int64 // when it fell behind (Unix ns), each time
	missed     int     // segments that left the window before the reader fetched them
	slow       int     // segment downloads longer than the segment
	errs       []string
	started    bool
}

// hlsReq is one request a reader made.
type hlsReq struct {
	kind  byte // 'p' media playlist, 's' segment, 'i' init, 'm' master, 'u' session URL
	end   int64
	d     time.Duration
	bytes int64
	err   bool
}

// hlsLive counts what readers did so far, for progress lines while they
// run (their own records are theirs until they return).
type hlsLive struct {
	requests, errors, behind atomic.Int64
}

func (r *hlsReader) note(kind byte, d time.Duration, n int64, err error) {
	r.reqs = append(r.reqs, hlsReq{kind: kind, end: time.Now().UnixNano(), d: d, bytes: n, err: err != nil})
	if r.live != nil {
		r.live.requests.Add(1)
		if err != nil {
			r.live.errors.Add(1)
		}
	}
	if err != nil && len(r.errs) < 5 {
		r.errs = append(r.errs, time.Now().Format("15:04:05.000")+" "+err.Error())
	}
}

func (r *hlsReader) behind(format string, args ...any) {
	r.fellBehind = true
	r.behindAt = append(r.behindAt, time.Now().UnixNano())
	if r.live != nil {
		r.live.behind.Add(1)
	}
	if len(r.errs) < 5 {
		r.errs = append(r.errs, time.Now().Format("15:04:05.000")+" "+fmt.Sprintf(format, args...))
	}
}

// open starts a reader's session as a player does: the session URL,
// then the master playlist; it returns the media playlist's URL.
func (r *hlsReader) open(ctx context.Context) (mediaURL string, base *url.URL, ok bool) {
	t0 := time.Now()
	master, err := r.b.sessionURL(ctx, false, 0)
	r.note('u', time.Since(t0), 0, err)
	if err != nil {
		return "", nil, false
	}
	t0 = time.Now()
	mediaURL, err = r.b.mediaURL(ctx, r.b.rc, master)
	r.note('m', time.Since(t0), 0, err)
	if err != nil {
		return "", nil, false
	}
	base, _ = url.Parse(mediaURL)
	r.started = true
	return mediaURL, base, true
}

// loadPlaylist loads the media playlist at u and notes the request; after
// a failure it waits a second and returns no playlist. ok is false when
// ctx ended.
func (r *hlsReader) loadPlaylist(ctx context.Context, u string, base *url.URL) (pl *hlsPlaylist, ok bool) {
	pl, n, d, err := getPlaylist(ctx, r.b.rc, u, base)
	if ctx.Err() != nil {
		return nil, false
	}
	r.note('p', d, n, err)
	if err != nil {
		return nil, sleepCtx(ctx, time.Second) == nil
	}
	return pl, true
}

// loadInit loads an init segment once: inits holds those loaded. It
// reports false when ctx ended.
func (r *hlsReader) loadInit(ctx context.Context, uri string, inits map[string]bool) bool {
	if inits[uri] {
		return true
	}
	_, n, d, _, err := hlsGet(ctx, r.b.rc, uri, false)
	if ctx.Err() != nil {
		return false
	}
	r.note('i', d, n, err)
	if err == nil {
		inits[uri] = true
	}
	return true
}

func (r *hlsReader) run(ctx context.Context) {
	b := r.b
	mediaURL, base, ok := r.open(ctx)
	if !ok {
		return
	}
	var next uint64 // next segment to fetch; 0 = first load
	var newest uint64
	inits := map[string]bool{}
	for ctx.Err() == nil {
		start := time.Now()
		pl, ok := r.loadPlaylist(ctx, mediaURL, base)
		if !ok {
			return
		}
		if pl == nil {
			continue
		}
		updated := false
		if len(pl.segs) > 0 {
			last := pl.segs[len(pl.segs)-1]
			updated = last.seq > newest
			newest = max(newest, last.seq)
			for _, s := range pl.segs {
				if s.number != "" && s.number != fragments.FragmentNumber(s.seq) {
					r.behind("playlist numbering: media sequence %d is FragmentNumber %s", s.seq, s.number)
					break
				}
			}
			switch {
			case next == 0:
				// hls.js starts liveSyncDurationCount (3) segments from the end.
				next = pl.segs[max(0, len(pl.segs)-3)].seq
			case next < pl.seq:
				r.missed += int(pl.seq - next)
				r.behind("segments %d–%d left the playlist before they were fetched", next, pl.seq-1)
				next = pl.seq
			}
		}
		for _, s := range pl.segs {
			if s.seq < next || ctx.Err() != nil {
				continue
			}
			if s.initURI != "" && !r.loadInit(ctx, s.initURI, inits) {
				return
			}
			_, n, d, status, err := hlsGet(ctx, b.rc, s.uri, false)
			if ctx.Err() != nil {
				return
			}
			r.note('s', d, n, err)
			switch {
			case status == http.StatusNotFound:
				r.missed++
				r.behind("segment %d was gone when fetched: %v", s.seq, err)
			case err != nil:
			case d > s.dur:
				r.slow++
				r.behind("segment %d (%.3f s) took %v to download", s.seq, s.dur.Seconds(), d.Round(time.Millisecond))
			}
			next = s.seq + 1
		}
		// hls.js computeReloadInterval: the target duration, or the last
		// segment's duration if shorter, when the playlist changed; half
		// the target duration when it did not.
		interval := pl.target
		if updated && len(pl.segs) > 0 {
			interval = min(interval, pl.segs[len(pl.segs)-1].dur)
		} else {
			interval /= 2
		}
		if interval <= 0 {
			interval = time.Second
		}
		if sleepCtx(ctx, time.Until(start.Add(interval))) != nil {
			return
		}
	}
}
