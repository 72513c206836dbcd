package hls

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
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
// time mapped through the segment that covers it (the earliest listed one
// that does; else the last one starting at or before it): segment server
// time + (event time − segment producer time). A LIVE playlist lists
// events the segment covering them is not complete for (its producer time
// is final only with its last part), or not there at all: their mapping
// would move once it is. The RFC wants a date range's attributes never to
// change from one reload to the next, so a SERVER_TIMESTAMP LIVE
// playlist's START-DATE is frozen the first time the stream's LIVE
// playlists list the event (see startMemo).
//
// A playlist that carries DATERANGE tags carries EXT-X-PROGRAM-DATE-TIME
// on every segment, as DisplayFragmentTimestamp ALWAYS does, whatever the
// session's DisplayFragmentTimestamp: the RFC requires it, and a player
// places the range by it. A stream without events answers exactly as KVS
// does.

// Caps on the EXT-X-DATERANGE tags of one playlist. An ON_DEMAND playlist
// is read once: it carries the first MaxDateRangesOnDemand events of its
// window. LIVE and LIVE_REPLAY playlists are read again every target
// duration (every part with LL-HLS) by every viewer: they carry the
// newest MaxDateRanges, which keeps each reload small (a tag is about
// 200 bytes).
const (
	MaxDateRanges         = 256
	MaxDateRangesOnDemand = 5000
)

// maxXAttributes is the longest X-ATTRIBUTES value (escaped) a tag
// carries; an event with larger attributes is listed without them.
const maxXAttributes = 1024

// DateRangeClassPrefix begins the CLASS of an event's date range; the
// event's type follows ("video.eddy.event.detection").
const DateRangeClassPrefix = "video.eddy.event."

// querier reads a timeline (an *events.Timeline).
type querier interface {
	Query(events.Query) (events.Page, error)
}

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
		return eventsFrom(tl, from, to, MaxDateRangesOnDemand)
	}
	return newestEvents(tl, from, to, MaxDateRanges)
}

// Reading the newest events. The timeline reads forward only, so
// newestEvents looks for a start lo such that [lo, to) holds between n and
// probeLimit events, halving [from, to) from its end: each probe reads at
// most probeLimit+1 index entries and decodes none; the n events returned
// are the only ones decoded. It stops when the candidates for lo are
// within one millisecond (START-DATE's resolution) or after maxProbes
// reads: then more than probeLimit−n events start within that interval
// (a burst, such as one PutRecords call of events without a time, which
// share the arrival time), and the playlist carries the newest events
// after it and the earliest within it.
const (
	probeLimit = 4 * MaxDateRanges
	maxProbes  = 40
)

// newestEvents returns the newest n (at most probeLimit) events starting
// in [from, to), in time order (see above).
func newestEvents(q querier, from, to int64, n int) ([]events.Event, error) {
	raws, more, err := readRaw(q, from, to, probeLimit)
	if err != nil {
		return nil, err
	}
	if !more {
		return decodeEvents(raws[max(0, len(raws)-n):])
	}
	// [big, to) holds more than probeLimit events, [small, to) fewer than
	// n: tail.
	big, small := from, to
	var tail []json.RawMessage
	for probes := 1; small-big > int64(time.Millisecond) && probes < maxProbes; probes++ {
		mid := big + (small-big)/2
		raws, more, err := readRaw(q, mid, to, probeLimit)
		switch {
		case err != nil:
			return nil, err
		case more:
			big = mid
		case len(raws) < n:
			small, tail = mid, raws
		default:
			return decodeEvents(raws[len(raws)-n:])
		}
	}
	head, _, err := readRaw(q, big, small, n-len(tail))
	if err != nil {
		return nil, err
	}
	return decodeEvents(append(head, tail...))
}

// readRaw reads the JSON of at most limit events starting in [from, to),
// and reports whether more start there.
// A page may end before limit (at events.MaxPageBytes of events), so the
// pages are followed until limit events are read or none is left.
func readRaw(q querier, from, to int64, limit int) ([]json.RawMessage, bool, error) {
	var raws []json.RawMessage
	after := startsFrom(from)
	for {
		p, err := q.Query(events.Query{From: from, To: to, Limit: limit - len(raws), After: after, Raw: true})
		if err != nil {
			return nil, false, err
		}
		raws = append(raws, p.Raw...)
		if p.Next == "" {
			return raws, false, nil
		}
		if len(raws) >= limit {
			return raws, true, nil
		}
		after = p.Next
	}
}

// startsFrom is the page token that skips the events starting before
// from: a range read returns those that overlap it too.
func startsFrom(from int64) string { return events.Token(from-1, math.MaxUint64) }

func decodeEvents(raws []json.RawMessage) ([]events.Event, error) {
	evs := make([]events.Event, len(raws))
	for i, r := range raws {
		if err := json.Unmarshal(r, &evs[i]); err != nil {
			return nil, fmt.Errorf("event index: %w", err)
		}
	}
	return evs, nil
}

// eventsFrom returns at most limit events starting in [from, to).
func eventsFrom(q querier, from, to int64, limit int) ([]events.Event, error) {
	var evs []events.Event
	after := startsFrom(from)
	for len(evs) < limit {
		p, err := q.Query(events.Query{From: from, To: to, Limit: limit - len(evs), After: after})
		if err != nil {
			return nil, err
		}
		evs = append(evs, p.Events...)
		if p.Next == "" {
			break
		}
		after = p.Next
	}
	return evs, nil
}

// dateRanges renders the EXT-X-DATERANGE tags of evs for a playlist of segs.
func (s *Server) dateRanges(sess *session, segs []segment, evs []events.Event) string {
	if len(evs) == 0 {
		return ""
	}
	// Segments by producer time, to find the one covering an event.
	byProducer := make([]*fragments.IndexEntry, len(segs))
	longest := int64(0)
	for i := range segs {
		byProducer[i] = &segs[i].e
		longest = max(longest, segs[i].e.Duration)
	}
	sort.SliceStable(byProducer, func(i, j int) bool { return byProducer[i].ProducerTime < byProducer[j].ProducerTime })
	var memo *startMemo
	if !sess.Producer && sess.Mode == ModeLive {
		memo = s.startMemo(sess)
		memo.mu.Lock()
		defer memo.mu.Unlock()
	}
	var b strings.Builder
	b.Grow(len(evs) * 200)
	for i := range evs {
		ev := &evs[i]
		start := ev.Start()
		if !sess.Producer {
			start = serverStart(byProducer, longest, start)
			if memo != nil {
				start = memo.freeze(ev.ID, ev.Start(), start)
			}
		}
		writeDateRange(&b, ev, start)
	}
	if memo != nil {
		memo.prune()
	}
	return b.String()
}

// serverStart maps producer time t through the playlist segment that
// covers it: the earliest listed one (a later one overlapping it, after a
// jump of the producer's clock, changes nothing), else the last one
// starting at or before t (t in a gap), else the first. byProducer holds
// the segments by producer time; longest is the longest's duration.
func serverStart(byProducer []*fragments.IndexEntry, longest, t int64) int64 {
	k := max(sort.Search(len(byProducer), func(k int) bool { return byProducer[k].ProducerTime > t })-1, 0)
	at := byProducer[k]
	for j := k; j >= 0 && byProducer[j].ProducerTime > t-longest; j-- {
		if e := byProducer[j]; e.ProducerTime <= t && t < e.ProducerTime+e.Duration && (at.ProducerTime+at.Duration <= t || e.Seq < at.Seq) {
			at = e
		}
	}
	return at.ServerTime + (t - at.ProducerTime)
}

// startMemo holds the START-DATEs the SERVER_TIMESTAMP LIVE playlists of
// one stream have listed, by event id, so that a reload lists each event
// as the first one did. It keeps the memoKeep newest events (by producer
// time) at least: a LIVE playlist lists the MaxDateRanges newest of its
// window, which ends at the live edge, so an event with memoKeep listed
// events after it is not listed again.
type startMemo struct {
	mu sync.Mutex
	m  map[string]memoStart
	// used orders the memos by last use (Server.memoMu guards it).
	used int64
}

type memoStart struct{ at, start int64 } // the event's producer time; its START-DATE

const memoKeep = 4 * MaxDateRanges

// freeze returns the START-DATE already listed for event id (producer
// time at), else notes and returns start.
func (m *startMemo) freeze(id string, at, start int64) int64 {
	if v, ok := m.m[id]; ok {
		return v.start
	}
	m.m[id] = memoStart{at: at, start: start}
	return start
}

// prune keeps the memoKeep newest events once the memo holds twice as many.
func (m *startMemo) prune() {
	if len(m.m) <= 2*memoKeep {
		return
	}
	ats := make([]int64, 0, len(m.m))
	for _, v := range m.m {
		ats = append(ats, v.at)
	}
	slices.Sort(ats)
	cut := ats[len(ats)-memoKeep]
	for id, v := range m.m {
		if v.at < cut {
			delete(m.m, id)
		}
	}
}

// memoKey names a stream's memo: a stream created again under the same
// name starts another (its event ids start over).
type memoKey struct {
	stream  string
	created int64
}

// maxMemos bounds the streams with a memo.
const maxMemos = 256

func (s *Server) startMemo(sess *session) *startMemo {
	k := memoKey{sess.Stream, sess.Created}
	s.memoMu.Lock()
	defer s.memoMu.Unlock()
	m := s.memos[k]
	if m == nil {
		if s.memos == nil {
			s.memos = map[memoKey]*startMemo{}
		}
		if len(s.memos) >= maxMemos {
			// The memo of the stream watched longest ago goes.
			var oldest memoKey
			var at int64 = math.MaxInt64
			for k, m := range s.memos {
				if m.used < at {
					oldest, at = k, m.used
				}
			}
			delete(s.memos, oldest)
		}
		m = &startMemo{m: map[string]memoStart{}}
		s.memos[k] = m
	}
	s.memoTick++
	m.used = s.memoTick
	return m
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
