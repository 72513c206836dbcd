package web

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/eddy-video/eddy/fragments"
	"github.com/eddy-video/eddy/fragments/events"
	"github.com/eddy-video/eddy/fragments/kvsapi"
)

// actionEvents is the permission of the event reads: the events and the
// timeline are the stream's archive read by time, as ListFragments reads
// it. The UI's hls:read (which already lists the archive's coverage)
// allows them too.
const actionEvents = "kinesisvideo:ListFragments"

// eventsScan bounds the index entries one timeline page reads to find its
// fragments (as coverage's maxScan): a page whose range holds more is cut
// short, and its nextToken goes on from where it stopped.
var eventsScan = 100_000

// timelinePageBytes bounds the JSON of one timeline page (about; as the
// event index bounds an /events page by events.MaxPageBytes): a page
// whose items would encode to more ends early, with a nextToken.
var timelinePageBytes = 4 << 20

// eventsRange is a parsed events or timeline request.
type eventsRange struct {
	st            *fragments.Store
	tl            *events.Timeline
	from, to      int64 // producer time, Unix ns: [from, to)
	empty         bool  // a server-time range that no fragment covers
	types, labels []string
	limit         int
	after         string
	// Of a timeline: the kinds of items it lists (kinds=fragment,event).
	noFragments, noEvents bool
}

// eventsRequest authorizes r, parses its range and resolves its stream;
// when any of that fails it has answered the error in the Kinesis Video
// shape ({"__type", "message"} and x-amzn-ErrorType), as clip.mp4 does.
//
//	start, end      RFC 3339 (fractional seconds allowed), end after start
//	timestampType   PRODUCER_TIMESTAMP (default) or SERVER_TIMESTAMP
//	type, label     comma-separated lists; an event matches one of each given
//	limit           1 to 10000 (default 1000)
//	nextToken       the nextToken of the previous page of the same request
func (h *Handler) eventsRequest(w http.ResponseWriter, r *http.Request) (*eventsRange, bool) {
	name := chi.URLParam(r, "name")
	if err := kvsapi.CheckName("The stream name", name); err != nil {
		kvsapi.WriteError(w, err)
		return nil, false
	}
	p, ae := h.who(r)
	if ae == nil && !p.Allowed(actionEvents, name) && !p.Allowed(actionHLS, name) {
		ae = h.accessDenied(r, p, actionEvents, name)
	}
	if ae != nil {
		kvsapi.WriteStatus(w, ae.Status, &kvsapi.Error{Code: ae.Code, Message: ae.Message})
		return nil, false
	}
	q := r.URL.Query()
	bad := func(format string, args ...any) (*eventsRange, bool) {
		kvsapi.WriteError(w, kvsapi.Errorf(kvsapi.CodeInvalidArgument, format, args...))
		return nil, false
	}
	start, err1 := time.Parse(time.RFC3339Nano, q.Get("start"))
	end, err2 := time.Parse(time.RFC3339Nano, q.Get("end"))
	if err1 != nil || err2 != nil {
		return bad("start and end must be RFC 3339 times, e.g. 2026-12-06T10:00:01.250Z.")
	}
	if !end.After(start) {
		return bad("end must be after start.")
	}
	server := false
	switch q.Get("timestampType") {
	case "", "PRODUCER_TIMESTAMP":
	case "SERVER_TIMESTAMP":
		server = true
	default:
		return bad("timestampType must be PRODUCER_TIMESTAMP or SERVER_TIMESTAMP.")
	}
	er := &eventsRange{types: list(q.Get("type")), labels: list(q.Get("label")), after: q.Get("nextToken"), limit: events.DefaultLimit}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > events.MaxLimit {
			return bad("limit must be a whole number from 1 to %d.", events.MaxLimit)
		}
		er.limit = n
	}
	st, err := h.Manager.Store(name)
	if err != nil {
		kvsapi.WriteError(w, err)
		return nil, false
	}
	er.st, er.tl = st, st.Timeline()
	if er.tl == nil {
		kvsapi.WriteError(w, kvsapi.Errorf(kvsapi.CodeNotFound, "The stream %s has no event timeline.", name))
		return nil, false
	}
	er.from, er.to = start.UnixNano(), end.UnixNano()
	if server {
		from, to, ok, err := serverToProducer(st, er.from, er.to)
		if err != nil {
			kvsapi.WriteError(w, err)
			return nil, false
		}
		if ok && to < from {
			return bad("The producer clock went back within this server-time range; read it by PRODUCER_TIMESTAMP.")
		}
		er.from, er.to, er.empty = from, to, !ok || to == from
	}
	return er, true
}

// list splits a comma-separated parameter, dropping empty items.
func list(s string) []string {
	var out []string
	for v := range strings.SplitSeq(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// writeQueryError answers an error of a timeline read: the caller's
// (*events.Error: a bad page token or range) is 400.
func writeQueryError(w http.ResponseWriter, err error) {
	var ee *events.Error
	if errors.As(err, &ee) {
		kvsapi.WriteError(w, kvsapi.Errorf(kvsapi.CodeInvalidArgument, "%s", ee.Message))
		return
	}
	kvsapi.WriteError(w, err)
}

// listEvents answers GET /api/v1/streams/{name}/events: the events that
// overlap the range, in time order (start, then id), a page at a time,
// read from the timeline's index and passed on as the index holds them
// (the JSON of events.Event), not decoded and encoded again.
func (h *Handler) listEvents(w http.ResponseWriter, r *http.Request) {
	er, ok := h.eventsRequest(w, r)
	if !ok {
		return
	}
	var page events.Page
	if !er.empty {
		var err error
		page, err = er.tl.Query(events.Query{From: er.from, To: er.to, Types: er.types, Labels: er.labels, Limit: er.limit, After: er.after, Raw: true})
		if err != nil {
			writeQueryError(w, err)
			return
		}
	}
	n := 16
	for _, ev := range page.Raw {
		n += len(ev) + 1
	}
	b := make([]byte, 0, n+64)
	b = append(b, `{"events":[`...)
	for i, ev := range page.Raw {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, ev...)
	}
	b = append(b, ']')
	if page.Next != "" {
		tok, _ := json.Marshal(page.Next)
		b = append(append(append(b, `,"nextToken":`...), tok...), '}', '\n')
	} else {
		b = append(b, '}', '\n')
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(b)
}

// fragmentIndex is what serverToProducer reads of a store (an interface
// so that a test can count the reads).
type fragmentIndex interface {
	List(t fragments.IndexTime, start, end time.Time, fromSeq uint64, limit int) ([]fragments.IndexEntry, uint64, error)
	Lookup(seq uint64) (fragments.IndexEntry, bool)
	Last() (fragments.IndexEntry, bool)
}

// serverToProducer maps the server-time range [s, e) (Unix ns) to
// producer time through the fragments that cover it: s maps through the
// first fragment that overlaps the range, e through the last, each by
// that fragment's offset between the clocks (producer = server -
// ServerTimestamp + ProducerTimestamp), clamped to the fragment (an end in
// a gap after the last fragment maps to its end, a start in a gap before
// the first to its start). ok is false when no fragment overlaps the
// range: no video, so no events, at those server times.
//
// Both ends are found by index lookups (serverAfter, serverBefore), not by
// listing the fragments between them: the cost is O(log n) in the
// fragments of the stream, however long the range and its gaps.
func serverToProducer(st fragmentIndex, s, e int64) (from, to int64, ok bool, err error) {
	overlaps := func(f *fragments.IndexEntry) bool { return f.ServerTime < e && f.ServerTime+f.Duration > s }
	// The first: the last fragment that starts at or before s when it
	// reaches past s, else the first that starts in the range. Server
	// time never decreases along the index.
	first, found, err := serverBefore(st, s+1)
	if err != nil {
		return 0, 0, false, err
	}
	if !found || !overlaps(&first) {
		for next := uint64(0); ; next = first.Seq + 1 { // past an instant fragment at s
			if first, found, err = serverAfter(st, s, e-1, next); err != nil || !found {
				return 0, 0, false, err
			}
			if overlaps(&first) {
				break
			}
		}
	}
	// The last: the last fragment that starts before e (it overlaps the
	// range: it starts at or after the first).
	last, found, err := serverBefore(st, e)
	if err != nil {
		return 0, 0, false, err
	}
	if !found || last.Seq < first.Seq || !overlaps(&last) {
		last = first
	}
	through := func(f *fragments.IndexEntry, t int64) int64 {
		return f.ProducerTime + min(max(t-f.ServerTime, 0), f.Duration)
	}
	return through(&first, s), through(&last, e), true, nil
}

// serverAfter returns the first listed fragment, from sequence fromSeq on,
// whose server time is in [lo, hi]: one index lookup (a binary search over
// the index's block summaries and one block read).
func serverAfter(st fragmentIndex, lo, hi int64, fromSeq uint64) (fragments.IndexEntry, bool, error) {
	for next := fromSeq; ; {
		es, n, err := st.List(fragments.IndexServerTime, time.Unix(0, lo), time.Unix(0, hi), next, 1)
		if err != nil || len(es) > 0 {
			return firstOf(es), len(es) > 0, err
		}
		if n == 0 {
			return fragments.IndexEntry{}, false, nil
		}
		next = n // past an entry the store does not list
	}
}

func firstOf(es []fragments.IndexEntry) fragments.IndexEntry {
	if len(es) == 0 {
		return fragments.IndexEntry{}
	}
	return es[0]
}

// serverBefore returns the last listed fragment whose server time is
// before v. The fragment just before the first at or after v is usually
// the one; when that sequence holds no listed fragment, a binary search
// over sequences (O(log n) lookups) finds it.
func serverBefore(st fragmentIndex, v int64) (fragments.IndexEntry, bool, error) {
	var hi uint64 // no listed fragment before v has a sequence at or after hi
	if x, ok, err := serverAfter(st, v, math.MaxInt64, 0); err != nil {
		return fragments.IndexEntry{}, false, err
	} else if ok {
		hi = x.Seq
	} else if l, ok := st.Last(); ok {
		hi = l.Seq + 1
	}
	if hi > 0 {
		if f, ok := st.Lookup(hi - 1); ok && f.ServerTime < v {
			return f, true, nil
		}
	}
	best, ok, err := serverAfter(st, 0, v-1, 0)
	if err != nil || !ok {
		return best, false, err
	}
	for lo := best.Seq + 1; lo < hi; {
		mid := lo + (hi-lo)/2
		f, ok, err := serverAfter(st, 0, v-1, mid)
		if err != nil {
			return fragments.IndexEntry{}, false, err
		}
		if ok {
			best, lo = f, f.Seq+1
		} else {
			hi = mid
		}
	}
	return best, true, nil
}

// The timeline: GET /api/v1/streams/{name}/timeline answers
//
//	{"items":[{"kind":"fragment","fragment":{"FragmentNumber":"…",
//	   "FragmentSizeInBytes":N,"ProducerTimestamp":"RFC 3339",
//	   "ServerTimestamp":"RFC 3339","FragmentLengthInMilliseconds":N}},
//	  {"kind":"event","event":{…as /events…}}, …],
//	 "nextToken":"…"}
//
// with the fragments that overlap the range (ListFragments' members, the
// timestamps as RFC 3339) and the events that overlap it (filtered by
// type and label), in producer-time order of their starts; at one instant
// a fragment comes before the events that start with it, and events in id
// order. limit counts items of both kinds. kinds=fragment (or event)
// lists only that kind of item; the default, kinds=fragment,event, both.

type timelineFragment struct {
	FragmentNumber               string    `json:"FragmentNumber"`
	FragmentSizeInBytes          int64     `json:"FragmentSizeInBytes"`
	ProducerTimestamp            time.Time `json:"ProducerTimestamp"`
	ServerTimestamp              time.Time `json:"ServerTimestamp"`
	FragmentLengthInMilliseconds int64     `json:"FragmentLengthInMilliseconds"`
}

type timelineItem struct {
	Kind     string            `json:"kind"` // "fragment" or "event"
	Fragment *timelineFragment `json:"fragment,omitempty"`
	Event    *events.Event     `json:"event,omitempty"`

	key timelineKey
}

// size bounds the bytes of it in a page's JSON: the fixed members at
// their longest, a string at 6 bytes a byte (\u escapes), the attributes
// as written (the page is encoded without HTML escaping, so they are
// only compacted).
func (it *timelineItem) size() int {
	if it.Event == nil {
		return 320
	}
	ev := it.Event
	return 400 + len(ev.ID) + 6*(len(ev.Type)+len(ev.Label)) + len(ev.Attributes)
}

// timelineKey orders the items: start (producer Unix ns), then fragments
// (rank 0) before events (rank 1), then sequence.
type timelineKey struct {
	start int64
	rank  int
	seq   uint64
}

func (a timelineKey) cmp(b timelineKey) int {
	return cmp.Or(cmp.Compare(a.start, b.start), cmp.Compare(a.rank, b.rank), cmp.Compare(a.seq, b.seq))
}

// The timeline's page token: "f" or "e", start and sequence of the last
// item of the page.
func (k timelineKey) token() string {
	kind := "f"
	if k.rank == 1 {
		kind = "e"
	}
	return kind + strconv.FormatInt(k.start, 10) + "." + strconv.FormatUint(k.seq, 10)
}

func parseTimelineToken(s string) (timelineKey, bool) {
	if len(s) < 2 || (s[0] != 'f' && s[0] != 'e') {
		return timelineKey{}, false
	}
	a, b, ok := strings.Cut(s[1:], ".")
	start, err1 := strconv.ParseInt(a, 10, 64)
	seq, err2 := strconv.ParseUint(b, 10, 64)
	if !ok || err1 != nil || err2 != nil {
		return timelineKey{}, false
	}
	k := timelineKey{start: start, seq: seq}
	if s[0] == 'e' {
		k.rank = 1
	}
	return k, true
}

type timelineOut struct {
	Items     []timelineItem `json:"items"`
	NextToken string         `json:"nextToken,omitempty"`
}

// timeline answers GET /api/v1/streams/{name}/timeline (see above): "video
// and what was seen" in one read. A SERVER_TIMESTAMP range is mapped to
// producer time as /events maps it.
func (h *Handler) timeline(w http.ResponseWriter, r *http.Request) {
	er, ok := h.eventsRequest(w, r)
	if !ok {
		return
	}
	if k := r.URL.Query().Get("kinds"); k != "" {
		kinds := list(k)
		for _, kind := range kinds {
			if kind != "fragment" && kind != "event" {
				kvsapi.WriteError(w, kvsapi.Errorf(kvsapi.CodeInvalidArgument, "kinds must be fragment, event or fragment,event."))
				return
			}
		}
		er.noFragments, er.noEvents = !slices.Contains(kinds, "fragment"), !slices.Contains(kinds, "event")
		if er.noFragments && er.noEvents {
			kvsapi.WriteError(w, kvsapi.Errorf(kvsapi.CodeInvalidArgument, "kinds must be fragment, event or fragment,event."))
			return
		}
	}
	out := timelineOut{Items: []timelineItem{}}
	if !er.empty {
		var err error
		if out, err = readTimeline(er); err != nil {
			writeQueryError(w, err)
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // as /events passes the events on
	_ = enc.Encode(out)
}

func readTimeline(er *eventsRange) (timelineOut, error) {
	var cursor *timelineKey
	if er.after != "" {
		k, ok := parseTimelineToken(er.after)
		if !ok {
			return timelineOut{}, &events.Error{Message: "The page token is not one this range returned."}
		}
		cursor = &k
	}
	// The events after the cursor: at most a page of them, which also
	// bounds how far the fragments of this page can reach.
	q := events.Query{From: er.from, To: er.to, Types: er.types, Labels: er.labels, Limit: er.limit}
	if cursor != nil {
		if cursor.rank == 0 { // after a fragment: the events that start with it on
			if cursor.start == math.MinInt64 {
				return timelineOut{}, &events.Error{Message: "The page token is not one this range returned."}
			}
			q.After = events.Token(cursor.start-1, math.MaxUint64)
		} else {
			q.After = events.Token(cursor.start, cursor.seq)
		}
	}
	var page events.Page
	if !er.noEvents {
		var err error
		if page, err = er.tl.Query(q); err != nil {
			return timelineOut{}, err
		}
	}
	horizon := er.to - 1 // the last start an item of this page may have
	if page.Next != "" {
		// The page ended (at limit, or at the index's byte bound, with
		// fewer events) at the event its token names.
		start, _, ok := events.ParseToken(page.Next)
		if !ok {
			return timelineOut{}, fmt.Errorf("event index: page token %q", page.Next)
		}
		horizon = start
	}
	lo := er.from - int64(maxFragmentPad)
	if cursor != nil {
		lo = max(lo, cursor.start)
	}
	var frags []fragments.IndexEntry
	if !er.noFragments {
		var cut int64
		var err error
		if frags, cut, err = timelineFragments(er, lo, horizon); err != nil {
			return timelineOut{}, err
		}
		horizon = cut
	}
	items := make([]timelineItem, 0, len(frags)+len(page.Events))
	for _, f := range frags {
		k := timelineKey{start: f.ProducerTime, rank: 0, seq: f.Seq}
		if cursor != nil && k.cmp(*cursor) <= 0 {
			continue
		}
		items = append(items, timelineItem{Kind: "fragment", key: k, Fragment: &timelineFragment{
			FragmentNumber: fragments.FragmentNumber(f.Seq), FragmentSizeInBytes: f.Size,
			ProducerTimestamp: time.Unix(0, f.ProducerTime).UTC(), ServerTimestamp: time.Unix(0, f.ServerTime).UTC(),
			FragmentLengthInMilliseconds: f.Duration / 1e6}})
	}
	for i := range page.Events {
		ev := &page.Events[i]
		if ev.Start() > horizon {
			break
		}
		items = append(items, timelineItem{Kind: "event", key: timelineKey{start: ev.Start(), rank: 1, seq: ev.Seq}, Event: ev})
	}
	slices.SortFunc(items, func(a, b timelineItem) int { return a.key.cmp(b.key) })
	more := page.Next != "" || horizon < er.to-1
	if len(items) > er.limit {
		items, more = items[:er.limit], true
	}
	// At most about timelinePageBytes of JSON (at least one item).
	for i, size := 0, 0; i < len(items); i++ {
		if size += items[i].size(); size > timelinePageBytes && i > 0 {
			items, more = items[:i], true
			break
		}
	}
	out := timelineOut{Items: items}
	switch {
	case !more:
	case len(items) > 0:
		out.NextToken = items[len(items)-1].key.token()
	default: // the scan stopped before any item: go on after the horizon
		out.NextToken = timelineKey{start: horizon, rank: 1, seq: math.MaxUint64}.token()
	}
	return out, nil
}

// timelineFragments lists the fragments that overlap [er.from, er.to) and
// start in [lo, horizon], reading at most eventsScan index entries: when
// the range holds more, the horizon is brought in until it does not, and
// the horizon used is returned.
func timelineFragments(er *eventsRange, lo, horizon int64) ([]fragments.IndexEntry, int64, error) {
	for {
		var all []fragments.IndexEntry
		full := false
		for next := uint64(0); ; {
			es, n, err := er.st.List(fragments.IndexProducerTime, time.Unix(0, lo), time.Unix(0, horizon), next, min(10_000, eventsScan+1-len(all)))
			if err != nil {
				return nil, 0, err
			}
			all = append(all, es...)
			if len(all) > eventsScan {
				full = true
				break
			}
			if n == 0 {
				break
			}
			next = n
		}
		if full && horizon > lo {
			horizon = lo + (horizon-lo)/4
			continue
		}
		if full {
			return nil, 0, fmt.Errorf("more than %d fragments start at one instant", eventsScan)
		}
		kept := all[:0]
		for _, f := range all {
			if f.ProducerTime < er.to && f.ProducerTime+f.Duration > er.from {
				kept = append(kept, f)
			}
		}
		return kept, horizon, nil
	}
}
