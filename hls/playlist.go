package hls

import (
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/eddy-video/eddy/fragments"
	"github.com/eddy-video/eddy/fragments/cmaf"
	"github.com/eddy-video/eddy/fragments/kvsapi"
)

func (s *Server) master(w http.ResponseWriter, r *http.Request) {
	sess, st, ok := s.open(w, r)
	if !ok {
		return
	}
	entries, err := s.window(sess, st)
	if err != nil {
		kvsapi.WriteError(w, err)
		return
	}
	codecs, bw := "", 0
	if len(entries) > 0 {
		if init, err := st.Init(entries[len(entries)-1].InitID); err == nil {
			codecs = cmaf.CodecsString(init)
		}
		var bytes, dur int64
		for _, e := range entries {
			bytes += e.Size
			dur += e.Duration
		}
		if dur > 0 {
			bw = int(float64(bytes*8) / (float64(dur) / 1e9))
		}
	}
	if bw == 0 {
		bw = 1_000_000
	}
	var b strings.Builder
	fmt.Fprintf(&b, "#EXTM3U\n#EXT-X-VERSION:%d\n#EXT-X-INDEPENDENT-SEGMENTS\n", sess.version())
	fmt.Fprintf(&b, "#EXT-X-STREAM-INF:BANDWIDTH=%d", bw)
	if codecs != "" {
		fmt.Fprintf(&b, ",CODECS=\"%s\"", codecs)
	}
	fmt.Fprintf(&b, "\n%s?SessionToken=%s\n", pathMedia, url.QueryEscape(r.URL.Query().Get("SessionToken")))
	writePlaylist(w, b.String())
}

func writePlaylist(w http.ResponseWriter, body string) {
	h := w.Header()
	h.Set("Content-Type", "application/vnd.apple.mpegurl")
	h.Set("Cache-Control", "no-cache")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	_, _ = io.WriteString(w, body)
}

// window returns the fragments a media playlist lists now.
func (s *Server) window(sess *session, st *fragments.Store) ([]fragments.IndexEntry, error) {
	limit := int(sess.MaxResults)
	switch sess.Mode {
	case ModeLive:
		last, ok := st.Last()
		if !ok {
			return nil, nil
		}
		from := last.Seq - uint64(min(uint64(limit-1), last.Seq-1))
		from = max(from, sess.Anchor)
		entries, _, err := st.List(fragments.IndexServerTime, time.Unix(0, 0), time.Unix(0, math.MaxInt64), from, limit)
		return entries, err
	case ModeOnDemand:
		entries, _, err := st.List(sess.kind(), time.Unix(0, sess.Start), time.Unix(0, sess.End), 0, limit)
		return entries, err
	}
	// LIVE_REPLAY: from Start, one more fragment each time the previous
	// one's duration has elapsed since the session began; the newest
	// MaxResults of those.
	end := sess.End
	if end == 0 {
		end = math.MaxInt64
	}
	elapsed := s.Now().UnixNano() - sess.Issued
	var out []fragments.IndexEntry
	var played int64
	from := uint64(0)
	for {
		page, next, err := st.List(sess.kind(), time.Unix(0, sess.Start), time.Unix(0, end), from, 256)
		if err != nil {
			return nil, err
		}
		for _, e := range page {
			if played > elapsed {
				return out, nil
			}
			out = append(out, e)
			if len(out) > limit {
				out = out[1:]
			}
			played += e.Duration
		}
		if next == 0 {
			return out, nil
		}
		from = next
	}
}

func (s *Server) media(w http.ResponseWriter, r *http.Request) {
	sess, st, ok := s.open(w, r)
	if !ok {
		return
	}
	if s.lowLatency(sess) {
		s.llMedia(w, r, sess, st)
		return
	}
	entries, err := s.window(sess, st)
	if err != nil {
		kvsapi.WriteError(w, err)
		return
	}
	kvsapi.Consumed(r, 0, len(entries))
	tok := url.QueryEscape(r.URL.Query().Get("SessionToken"))
	body, err := s.mediaPlaylist(sess, st, s.stored(entries), tok, nil)
	if err != nil {
		kvsapi.WriteError(w, err)
		return
	}
	writePlaylist(w, body)
}

// segment is one media segment of a playlist: a stored fragment or, for
// LL-HLS, one being recorded, with its parts when they are still known.
type segment struct {
	e     fragments.IndexEntry
	init  fragments.InitID
	parts []*fragments.LivePart
	open  bool // still being recorded: listed as its parts only
}

// stored makes the segments of stored fragments: the index entries carry
// their init segment ids, so no fragment is read.
func (s *Server) stored(entries []fragments.IndexEntry) []segment {
	segs := make([]segment, 0, len(entries)+1)
	for _, e := range entries {
		segs = append(segs, segment{e: e, init: e.InitID})
	}
	return segs
}

// mediaPlaylist writes an RFC 8216 media playlist of segs; ll adds the
// Low-Latency HLS tags (parts, preload hint, server control).
func (s *Server) mediaPlaylist(sess *session, st *fragments.Store, segs []segment, tok string, ll *llInfo) (string, error) {
	target := int64(1)
	var end int64 // the playlist's end, on the session's clock
	for _, g := range segs {
		target = max(target, int64(math.Round(float64(g.e.Duration)/1e9+0.4999)))
		end = max(end, sess.timeOf(&g.e)+g.e.Duration)
	}
	first := uint64(0)
	var d discState
	if len(segs) > 0 {
		first = segs[0].e.Seq
		var err error
		if d, err = s.discBefore(sess, st, first); err != nil {
			return "", err
		}
	}
	evs, err := s.eventWindow(sess, st, segs)
	if err != nil {
		// The video plays without its events rather than not at all.
		s.log.Warn("events of a playlist's window unreadable; listed without them", "stream", sess.Stream, "err", err)
		evs = nil
	}
	ranges := s.dateRanges(sess, segs, evs)
	// EXT-X-DATERANGE needs EXT-X-PROGRAM-DATE-TIME (see daterange.go).
	showTime := sess.ShowTime || ranges != ""
	var b strings.Builder
	b.Grow(256 + len(segs)*(160+len(tok)) + len(ranges))
	fmt.Fprintf(&b, "#EXTM3U\n#EXT-X-VERSION:%d\n", sess.version())
	fmt.Fprintf(&b, "#EXT-X-TARGETDURATION:%d\n", target)
	if ll != nil {
		// PART-HOLD-BACK: three part targets, as the specification advises.
		fmt.Fprintf(&b, "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=%.3f\n", 3*ll.target.Seconds())
		fmt.Fprintf(&b, "#EXT-X-PART-INF:PART-TARGET=%.3f\n", ll.target.Seconds())
	}
	fmt.Fprintf(&b, "#EXT-X-MEDIA-SEQUENCE:%d\n", first)
	if d.count > 0 {
		fmt.Fprintf(&b, "#EXT-X-DISCONTINUITY-SEQUENCE:%d\n", d.count)
	}
	if sess.Mode == ModeOnDemand {
		b.WriteString("#EXT-X-PLAYLIST-TYPE:VOD\n")
	}
	b.WriteString(ranges)
	prev, prevInit := d.prev, d.prevInit
	for i := range segs {
		g := &segs[i]
		newInit := prev != nil && g.init != prevInit
		if sess.discontinuity(prev, &g.e, newInit) {
			b.WriteString("#EXT-X-DISCONTINUITY\n")
		}
		if i == 0 || g.init != segs[i-1].init {
			// TS segments carry their own PAT/PMT and parameter sets.
			if sess.Container == ContainerFMP4 {
				fmt.Fprintf(&b, "#EXT-X-MAP:URI=\"%s?SessionToken=%s&InitId=%s\"\n", pathInit, tok, g.init)
			}
		}
		prevInit = g.init
		if showTime {
			fmt.Fprintf(&b, "#EXT-X-PROGRAM-DATE-TIME:%s\n", time.Unix(0, sess.timeOf(&g.e)).UTC().Format("2006-01-02T15:04:05.000Z"))
		}
		// Parts are listed for the last three target durations.
		if ll != nil && len(g.parts) > 0 && sess.timeOf(&g.e)+g.e.Duration >= end-3*target*int64(time.Second) {
			for _, p := range g.parts {
				fmt.Fprintf(&b, "#EXT-X-PART:DURATION=%.3f,URI=\"%s?SessionToken=%s&PartNumber=%d\"", float64(p.Duration)/1e9, pathPart, tok, p.Number)
				if p.Independent {
					b.WriteString(",INDEPENDENT=YES")
				}
				b.WriteByte('\n')
			}
		}
		if g.open {
			break // the last segment, still being recorded
		}
		seg := pathFrag
		if sess.Container == ContainerTS {
			seg = pathTS
		}
		fmt.Fprintf(&b, "#EXTINF:%.3f,\n%s?SessionToken=%s&FragmentNumber=%s\n", float64(g.e.Duration)/1e9, seg, tok, fragments.FragmentNumber(g.e.Seq))
		prev = &g.e
	}
	if ll != nil && ll.active {
		fmt.Fprintf(&b, "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"%s?SessionToken=%s&PartNumber=%d\"\n", pathPart, tok, ll.next)
	}
	if sess.Mode == ModeOnDemand || (sess.Mode == ModeReplay && sess.End != 0 && len(segs) > 0 && s.replayDone(sess, st, segs[len(segs)-1].e)) {
		b.WriteString("#EXT-X-ENDLIST\n")
	}
	return b.String(), nil
}

// discontinuity reports whether a discontinuity tag goes before e.
func (sess *session) discontinuity(prev, e *fragments.IndexEntry, newInit bool) bool {
	if prev == nil {
		return false
	}
	switch sess.Disc {
	case DiscAlways:
		return true
	case DiscNever:
		return newInit // a new init segment always needs one (RFC 8216 §4.3.2.3)
	}
	if e.Flags&fragments.IndexDiscontinuity != 0 {
		return true // the recorder cut at a jump of the producer's timestamps
	}
	gap := sess.timeOf(e) - (sess.timeOf(prev) + prev.Duration)
	return newInit || gap > int64(50*time.Millisecond) || gap < -int64(50*time.Millisecond)
}

// replayDone reports whether a LIVE_REPLAY session has listed its last fragment.
func (s *Server) replayDone(sess *session, st *fragments.Store, last fragments.IndexEntry) bool {
	more, _, err := st.List(sess.kind(), time.Unix(0, sess.Start), time.Unix(0, sess.End), last.Seq+1, 1)
	return err == nil && len(more) == 0
}
