package hls

import (
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/eddy-video/eddy/fragments"
	"github.com/eddy-video/eddy/fragments/events"
)

// Events in playlists. Every media playlist carries an EXT-X-DATERANGE tag
// (RFC 8216 §4.3.2.7) for each event of the stream's event timeline whose
// start lies in the playlist's window: from the start of its first segment
// to the end of its last, on the producer clock (where events live). A
// LIVE playlist's window also reaches one target duration past its newest
// video, so an event written for the live edge is listed in the playlist
// of the next part rather than the one after the part that covers it.
//
// The tag's START-DATE is on the clock of the playlist's
// EXT-X-PROGRAM-DATE-TIME: the producer time as written in a
// PRODUCER_TIMESTAMP session; in a SERVER_TIMESTAMP session, the producer
// time mapped through the segment that covers it (the last one starting at
// or before it): segment server time + (event time − segment producer
// time). A playlist that carries DATERANGE tags carries
// EXT-X-PROGRAM-DATE-TIME on every segment, as DisplayFragmentTimestamp
// ALWAYS does, whatever the session's DisplayFragmentTimestamp: the RFC
// requires it, and a player places the range by it. A stream without
// events answers exactly as KVS does.

// MaxDateRanges caps the EXT-X-DATERANGE tags of one playlist: an
// ON_DEMAND playlist carries the first MaxDateRanges events of its window,
// LIVE and LIVE_REPLAY ones the newest MaxDateRanges.
const MaxDateRanges = 256

// maxXAttributes is the longest X-ATTRIBUTES value (escaped) a tag
// carries; an event with larger attributes is listed without them.
const maxXAttributes = 1024

// DateRangeClassPrefix begins the CLASS of an event's date range; the
// event's type follows ("video.eddy.event.detection").
const DateRangeClassPrefix = "video.eddy.event."

// eventWindow returns the events a playlist of segs lists, in time order.
func (s *Server) eventWindow(sess *session, st *fragments.Store, segs []segment) ([]events.Event, error) {
	tl := st.Timeline()
	if tl == nil || len(segs) == 0 {
		return nil, nil
	}
	from, to := int64(math.MaxInt64), int64(math.MinInt64)
	target := int64(time.Second)
	for i := range segs {
		e := &segs[i].e
		from = min(from, e.ProducerTime)
		to = max(to, e.ProducerTime+e.Duration)
		target = max(target, e.Duration)
	}
	if to <= from {
		to = from + 1
	}
	if sess.Mode == ModeLive {
		to += target
	}
	if sess.Mode == ModeOnDemand {
		return eventsFrom(tl, from, to, MaxDateRanges)
	}
	return newestEvents(tl, from, to, MaxDateRanges)
}

// newestEvents returns the newest n events starting in [from, to), in
// time order: when more than n start there, the newest n of the later
// half and, if those are fewer, the newest of the earlier half for the
// rest. Each read returns at most n events.
func newestEvents(tl *events.Timeline, from, to int64, n int) ([]events.Event, error) {
	evs, full, err := eventsFromFull(tl, from, to, n)
	if err != nil || !full || to-from < 2 {
		return evs, err
	}
	mid := from + (to-from)/2
	right, err := newestEvents(tl, mid, to, n)
	if err != nil || len(right) == n {
		return right, err
	}
	left, err := newestEvents(tl, from, mid, n-len(right))
	if err != nil {
		return nil, err
	}
	return append(left, right...), nil
}

// eventsFrom returns at most limit events starting in [from, to).
func eventsFrom(tl *events.Timeline, from, to int64, limit int) ([]events.Event, error) {
	evs, _, err := eventsFromFull(tl, from, to, limit)
	return evs, err
}

// eventsFromFull is eventsFrom, and reports whether more than limit
// events start in the range.
func eventsFromFull(tl *events.Timeline, from, to int64, limit int) ([]events.Event, bool, error) {
	// The page token after (from−1, the highest sequence) skips the
	// events that start before from (the range read returns those that
	// overlap it).
	p, err := tl.Query(events.Query{From: from, To: to, Limit: limit, After: events.Token(from-1, math.MaxUint64)})
	if err != nil {
		return nil, false, err
	}
	return p.Events, p.Next != "", nil
}

// dateRanges renders the EXT-X-DATERANGE tags of evs for a playlist of segs.
func dateRanges(sess *session, segs []segment, evs []events.Event) string {
	if len(evs) == 0 {
		return ""
	}
	// Segments by producer time, to find the one covering an event.
	byProducer := make([]*fragments.IndexEntry, len(segs))
	for i := range segs {
		byProducer[i] = &segs[i].e
	}
	sort.SliceStable(byProducer, func(i, j int) bool { return byProducer[i].ProducerTime < byProducer[j].ProducerTime })
	var b strings.Builder
	b.Grow(len(evs) * 200)
	for i := range evs {
		ev := &evs[i]
		start := ev.Start()
		if !sess.Producer {
			k := sort.Search(len(byProducer), func(k int) bool { return byProducer[k].ProducerTime > start }) - 1
			k = max(k, 0)
			e := byProducer[k]
			start = e.ServerTime + (start - e.ProducerTime)
		}
		writeDateRange(&b, ev, start)
	}
	return b.String()
}

// writeDateRange writes one event's tag, its START-DATE at start (Unix ns).
func writeDateRange(b *strings.Builder, ev *events.Event, start int64) {
	b.WriteString("#EXT-X-DATERANGE:ID=")
	quoted(b, ev.ID)
	b.WriteString(",CLASS=")
	quoted(b, DateRangeClassPrefix+ev.Type)
	b.WriteString(",START-DATE=\"")
	b.WriteString(time.Unix(0, start).UTC().Format("2006-01-02T15:04:05.000Z"))
	b.WriteByte('"')
	if ev.Duration > 0 {
		b.WriteString(",DURATION=")
		b.WriteString(strconv.FormatFloat(ev.Duration, 'f', -1, 64))
	}
	b.WriteString(",X-TYPE=")
	quoted(b, ev.Type)
	if ev.Label != "" {
		b.WriteString(",X-LABEL=")
		quoted(b, ev.Label)
	}
	if ev.Score != nil {
		b.WriteString(",X-SCORE=")
		b.WriteString(strconv.FormatFloat(*ev.Score, 'f', -1, 64))
	}
	if ev.Box != nil {
		b.WriteString(",X-BOX=\"")
		for i, v := range ev.Box {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.FormatFloat(v, 'f', -1, 64))
		}
		b.WriteByte('"')
	}
	if len(ev.Attributes) > 0 {
		var a strings.Builder
		quoted(&a, string(ev.Attributes))
		if a.Len() <= maxXAttributes {
			b.WriteString(",X-ATTRIBUTES=")
			b.WriteString(a.String())
		}
	}
	b.WriteByte('\n')
}

// quoted writes s as an HLS quoted-string. The format has no escapes, and
// a quoted-string may not hold a double quote, CR or LF: those, '%' and
// the other control characters are percent-encoded, so a client gets the
// value back with decodeURIComponent (or any percent-decoder).
func quoted(b *strings.Builder, s string) {
	const hex = "0123456789ABCDEF"
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '"' || c == '%' || c < 0x20 || c == 0x7f {
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
			continue
		}
		b.WriteByte(c)
	}
	b.WriteByte('"')
}
