package bench

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// Low-Latency HLS side of eddy bench hls (--ll).
//
//   - Part watcher. It follows the LIVE media playlist with blocking
//     reloads (_HLS_msn/_HLS_part of the first part it has not seen), so
//     each answer arrives when the next part is listed. A part's first
//     frame arrived at its segment's #EXT-X-PROGRAM-DATE-TIME (the server
//     time of the segment's first frame, SERVER_TIMESTAMP) plus the
//     durations of the parts before it; the bench reports how long after
//     that the part was listed, and that minus the part's own duration
//     (the part cannot be complete before its last frame). After every
//     fifth part it also asks again for the part it just saw, which
//     exists: that blocking request must be answered at once. It runs
//     in a process of its own (hls_ll_proc.go).
//
//   - Readers (hls.js in low-latency mode): the playlist once, then the
//     init segment and parts from the newest independent part on, each
//     part once, then a blocking reload for the next part, and so on. A
//     reader falls behind when a part it still needs is no longer listed
//     or a part takes longer to download than it lasts.

// hlsPartSeen is a part the part watcher saw listed.
type hlsPartSeen struct {
	first  int64 // its first frame's arrival (Unix ns, from the program date-time)
	dur    time.Duration
	listed int64 // when the blocking reload listing it returned
}

// hlsPartListing summarizes the part watcher.
type hlsPartListing struct {
	Samples          int     `json:"samples"`
	Unmatched        int     `json:"unmatched"` // no program date-time
	PartTargetMS     float64 `json:"part_target_ms"`
	AfterFirstP50MS  float64 `json:"listed_after_first_frame_p50_ms"`
	AfterFirstP99MS  float64 `json:"listed_after_first_frame_p99_ms"`
	AfterFirstMaxMS  float64 `json:"listed_after_first_frame_max_ms"`
	OverDurP50MS     float64 `json:"listed_after_its_duration_p50_ms"`
	OverDurP99MS     float64 `json:"listed_after_its_duration_p99_ms"`
	OverDurMaxMS     float64 `json:"listed_after_its_duration_max_ms"`
	Within20msPc     float64 `json:"within_duration_plus_20ms_percent"`
	ExistingSamples  int     `json:"existing_part_requests"`
	ExistingP50MS    float64 `json:"existing_part_answer_p50_ms"`
	ExistingP99MS    float64 `json:"existing_part_answer_p99_ms"`
	ExistingMaxMS    float64 `json:"existing_part_answer_max_ms"`
	BlockingRequests int     `json:"blocking_requests"`
	Errors           int     `json:"errors"`
}

// blockingURL is a media playlist URL with a blocking-reload request.
func blockingURL(mediaURL string, msn uint64, part int) string {
	return fmt.Sprintf("%s&_HLS_msn=%d&_HLS_part=%d", mediaURL, msn, part)
}

func (b *hlsBench) watchParts(ctx context.Context, master string) {
	fail := func(err error) {
		b.mu.Lock()
		b.pErrs++
		if b.pErrs <= 3 {
			b.logf("part watcher: %v", err)
		}
		b.mu.Unlock()
	}
	mediaURL, err := b.mediaURL(ctx, b.hc, master)
	if err != nil {
		fail(err)
		return
	}
	base, _ := url.Parse(mediaURL)
	var pl *hlsPlaylist
	for pl == nil || pl.partTarget == 0 {
		pl, _, _, err = getPlaylist(ctx, b.hc, mediaURL, base)
		if ctx.Err() != nil {
			return
		}
		if err == nil && pl.partTarget == 0 {
			err = fmt.Errorf("the LIVE playlist has no #EXT-X-PART-INF: LL-HLS is off on the server (--hls-part-duration 0?)")
		}
		if err != nil {
			fail(err)
			if sleepCtx(ctx, time.Second) != nil {
				return
			}
		}
	}
	b.mu.Lock()
	b.partTarget = pl.partTarget
	b.mu.Unlock()
	seen := uint64(0)
	for _, p := range allParts(pl) {
		seen = max(seen, p.part.number)
	}
	for n := 0; ctx.Err() == nil; n++ {
		msn, part := pl.next()
		body, _, _, _, err := hlsGet(ctx, b.hc, blockingURL(mediaURL, msn, part), true)
		listed := time.Now().UnixNano()
		if ctx.Err() != nil {
			return
		}
		var next *hlsPlaylist
		if err == nil {
			next, err = parseHLSMediaPlaylist(base, body)
		}
		if err != nil {
			fail(err)
			if sleepCtx(ctx, 200*time.Millisecond) != nil {
				return
			}
			continue
		}
		pl = next
		var newest *placedPart
		parts := allParts(pl)
		b.mu.Lock()
		b.pBlocking++
		for i := range parts {
			p := &parts[i]
			if p.part.number <= seen {
				continue
			}
			seen = p.part.number
			newest = p
			b.parts = append(b.parts, hlsPartSeen{first: p.first, dur: p.part.dur, listed: listed})
		}
		b.mu.Unlock()
		// A blocking request for a part that exists: answered at once.
		if newest != nil && n%5 == 4 {
			_, _, d, _, err := hlsGet(ctx, b.hc, blockingURL(mediaURL, newest.msn, newest.index), false)
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				fail(err)
				continue
			}
			b.mu.Lock()
			b.existing = append(b.existing, hlsTimed{at: time.Now().UnixNano(), d: d})
			b.mu.Unlock()
		}
	}
}

type hlsTimed struct {
	at int64
	d  time.Duration
}

// placedPart is a part with its place in the playlist.
type placedPart struct {
	part  hlsPart
	msn   uint64
	index int
	first int64 // its first frame's time from the program date-time; 0 = unknown
	init  string
}

// allParts lists a playlist's parts in order, with their segment's
// media sequence number, their index in it and their start time.
func allParts(pl *hlsPlaylist) []placedPart {
	var out []placedPart
	add := func(msn uint64, pdt int64, init string, parts []hlsPart) {
		t := pdt
		for i, p := range parts {
			pp := placedPart{part: p, msn: msn, index: i, init: init}
			if pdt != 0 {
				pp.first = t
			}
			t += int64(p.dur)
			out = append(out, pp)
		}
	}
	for _, s := range pl.segs {
		add(s.seq, s.pdt, s.initURI, s.parts)
	}
	add(pl.seq+uint64(len(pl.segs)), pl.openPDT, pl.openInit, pl.open)
	return out
}

func (b *hlsBench) partListing(from, to int64) hlsPartListing {
	b.mu.Lock()
	parts := append([]hlsPartSeen(nil), b.parts...)
	existing := append([]hlsTimed(nil), b.existing...)
	out := hlsPartListing{PartTargetMS: float64(b.partTarget) / 1e6, BlockingRequests: b.pBlocking, Errors: b.pErrs}
	b.mu.Unlock()
	var after, over, ex []time.Duration
	within := 0
	for _, p := range parts {
		if p.listed < from || p.listed > to {
			continue
		}
		if p.first == 0 {
			out.Unmatched++
			continue
		}
		out.Samples++
		a := time.Duration(p.listed - p.first)
		after = append(after, a)
		over = append(over, a-p.dur)
		if a-p.dur <= 20*time.Millisecond {
			within++
		}
	}
	for _, e := range existing {
		if e.at >= from && e.at <= to {
			ex = append(ex, e.d)
		}
	}
	if out.Samples > 0 {
		out.AfterFirstP50MS, out.AfterFirstP99MS, out.AfterFirstMaxMS = msQuantiles(after)
		out.OverDurP50MS, out.OverDurP99MS, out.OverDurMaxMS = msQuantiles(over)
		out.Within20msPc = 100 * float64(within) / float64(out.Samples)
	}
	out.ExistingSamples = len(ex)
	if len(ex) > 0 {
		out.ExistingP50MS, out.ExistingP99MS, out.ExistingMaxMS = msQuantiles(ex)
	}
	return out
}

// runLL is one reader as hls.js in low-latency mode.
func (r *hlsReader) runLL(ctx context.Context) {
	b := r.b
	mediaURL, base, ok := r.open(ctx)
	if !ok {
		return
	}
	u := mediaURL
	next := uint64(0) // the next part to load; 0 = not started
	inits := map[string]bool{}
	for ctx.Err() == nil {
		pl, ok := r.loadPlaylist(ctx, u, base)
		if !ok {
			return
		}
		if pl == nil {
			u = mediaURL
			continue
		}
		parts := allParts(pl)
		if len(parts) == 0 {
			r.behind("the LIVE playlist lists no parts")
			return
		}
		if next == 0 {
			// Start at the newest independent part, as hls.js does near
			// the live edge.
			next = parts[len(parts)-1].part.number
			for i := len(parts) - 1; i >= 0; i-- {
				if parts[i].part.independent {
					next = parts[i].part.number
					break
				}
			}
		}
		if parts[0].part.number > next {
			r.missed++
			r.behind("parts %d–%d left the playlist before they were loaded", next, parts[0].part.number-1)
			next = parts[0].part.number
		}
		for _, p := range parts {
			if p.part.number < next || ctx.Err() != nil {
				continue
			}
			if !r.loadInit(ctx, p.init, inits) {
				return
			}
			_, n, d, status, err := hlsGet(ctx, b.rc, p.part.uri, false)
			if ctx.Err() != nil {
				return
			}
			r.note('P', d, n, err)
			switch {
			case status == http.StatusNotFound:
				r.missed++
				r.behind("part %d was gone when loaded", p.part.number)
			case err != nil:
			case d > p.part.dur:
				r.slow++
				r.behind("part %d (%.3f s) took %v to load", p.part.number, p.part.dur.Seconds(), d.Round(time.Millisecond))
			}
			next = p.part.number + 1
		}
		msn, part := pl.next()
		u = blockingURL(mediaURL, msn, part)
	}
}
