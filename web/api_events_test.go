package web

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/eddy-video/eddy/datastreams"
	"github.com/eddy-video/eddy/datastreams/datastreamstest"
	"github.com/eddy-video/eddy/fragments"
	"github.com/eddy-video/eddy/fragments/events"
	"github.com/eddy-video/eddy/fragments/fragmentstest"
)

// timelineFixture is a stream whose producer clock runs 3 h behind the
// server's, with 30 fragments of 2 s and a 10 s gap after the 16th, and
// events around and on the fragments' starts.
type timelineFixture struct {
	srv     *httptest.Server
	es      *datastreams.Stream // the event stream
	frags   []fragments.IndexEntry
	evs     []modelItem
	maxPage int               // bytes of the largest page read
	attrs   map[string]string // the attributes read, by event id
}

type modelItem struct {
	kind       string // "fragment" or "event"
	id         string // fragment number or event id
	start, end int64  // producer Unix ns
	seq        uint64
}

const clockOffset = -3 * time.Hour

func newTimelineFixture(t *testing.T) *timelineFixture {
	t.Helper()
	t0 := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	clk := datastreamstest.NewClock(t0.Add(2 * time.Minute))
	core, m := fragmentstest.NewManager(t, t.TempDir(), clk, 1<<20)
	if _, err := m.CreateStream("cam", fragments.CreateOptions{RetentionHours: 24}); err != nil {
		t.Fatal(err)
	}
	st, err := m.Store("cam")
	if err != nil {
		t.Fatal(err)
	}
	fx := &timelineFixture{}
	init := &fragments.InitSegment{ID: fragments.InitID{9}, Bytes: []byte("init")}
	for i := range 30 {
		s := t0.Add(time.Duration(i) * 2 * time.Second)
		if i >= 16 {
			s = s.Add(10 * time.Second)
		}
		f := &fragments.Fragment{ServerTime: s.UnixNano(), ProducerTime: s.Add(clockOffset).UnixNano(), Duration: int64(2 * time.Second),
			Keyframe: true, InitID: init.ID, Media: make([]byte, 100+i)}
		seq, err := st.Append(init, f)
		if err != nil {
			t.Fatal(err)
		}
		e, ok := st.Lookup(seq)
		if !ok {
			t.Fatalf("fragment %d not listed", seq)
		}
		fx.frags = append(fx.frags, e)
	}
	// Events: one every 700 ms (some lasting 1.5 s), one on each of a few
	// fragment starts, and two with one start.
	p0 := t0.Add(clockOffset)
	type ev struct {
		at  time.Time
		dur float64
	}
	var in []ev
	for i := range 110 {
		d := 0.0
		if i%5 == 0 {
			d = 1.5
		}
		in = append(in, ev{p0.Add(-time.Second + time.Duration(i)*700*time.Millisecond), d})
	}
	for _, i := range []int{3, 4, 17, 20} {
		in = append(in, ev{time.Unix(0, fx.frags[i].ProducerTime), 0})
	}
	in = append(in, ev{p0.Add(9 * time.Second), 0.2}, ev{p0.Add(9 * time.Second), 0})
	es, err := core.Stream("cam.events")
	if err != nil {
		t.Fatal(err)
	}
	fx.es = es
	for i, e := range in {
		data := fmt.Appendf(nil, `{"type":"detection","time":%q,"duration":%g,"label":"l%d"}`, e.at.Format(time.RFC3339Nano), e.dur, i%3)
		res, err := es.Put([]datastreams.PutEntry{{Key: []byte("k"), Data: data}})
		if err != nil || res[0].Err != nil {
			t.Fatalf("put: %v %v", err, res[0].Err)
		}
		fx.evs = append(fx.evs, modelItem{kind: "event", id: datastreams.EncodeSeq(0, res[0].Seq), seq: res[0].Seq,
			start: e.at.UnixNano(), end: e.at.UnixNano() + int64(e.dur*float64(time.Second))})
	}
	r := chi.NewRouter()
	(&Handler{Manager: m}).Mount(r)
	fx.srv = httptest.NewServer(r)
	t.Cleanup(fx.srv.Close)
	return fx
}

func overlaps(start, end, from, to int64) bool { return start < to && (start >= from || end > from) }

// want is the model's timeline of [from, to): fragments, then events, at
// one start; events by sequence.
func (fx *timelineFixture) want(from, to int64, withFragments bool) []string {
	var items []modelItem
	if withFragments {
		for _, f := range fx.frags {
			if overlaps(f.ProducerTime, f.ProducerTime+f.Duration, from, to) {
				items = append(items, modelItem{kind: "fragment", id: fragments.FragmentNumber(f.Seq), start: f.ProducerTime, seq: f.Seq})
			}
		}
	}
	for _, e := range fx.evs {
		if overlaps(e.start, e.end, from, to) {
			items = append(items, e)
		}
	}
	rank := map[string]int{"fragment": 0, "event": 1}
	slices.SortFunc(items, func(a, b modelItem) int {
		return cmp.Or(cmp.Compare(a.start, b.start), cmp.Compare(rank[a.kind], rank[b.kind]), cmp.Compare(a.seq, b.seq))
	})
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.kind + " " + it.id
	}
	return out
}

// read pages through an endpoint and returns "kind id" per item.
func (fx *timelineFixture) read(t *testing.T, path string, q url.Values) ([]string, int) {
	t.Helper()
	var out []string
	fx.maxPage, fx.attrs = 0, map[string]string{}
	for pages := 1; ; pages++ {
		resp, err := http.Get(fx.srv.URL + "/api/v1/streams/cam/" + path + "?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		var page struct {
			Items []struct {
				Kind     string
				Fragment *struct{ FragmentNumber string }
				Event    *events.Event
			}
			Events    []events.Event
			NextToken string
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err == nil {
			err = json.Unmarshal(body, &page)
		}
		fx.maxPage = max(fx.maxPage, len(body))
		if resp.StatusCode != 200 || err != nil {
			t.Fatalf("%s %v: %d %v", path, q, resp.StatusCode, err)
		}
		for _, it := range page.Items {
			if it.Kind == "fragment" {
				out = append(out, "fragment "+it.Fragment.FragmentNumber)
			} else {
				out = append(out, "event "+it.Event.ID)
				fx.attrs[it.Event.ID] = string(it.Event.Attributes)
			}
		}
		for _, e := range page.Events {
			out = append(out, "event "+e.ID)
			fx.attrs[e.ID] = string(e.Attributes)
		}
		if page.NextToken == "" {
			return out, pages
		}
		if pages > 1000 {
			t.Fatal("endless paging")
		}
		q.Set("nextToken", page.NextToken)
	}
}

func ts(ns int64) string { return time.Unix(0, ns).UTC().Format(time.RFC3339Nano) }

// TestTimelinePages: the timeline of a range is the same list however it
// is paged, fragments before the events that start with them, and when
// the fragment scan is cut short (eventsScan) the pages go on where it
// stopped.
func TestTimelinePages(t *testing.T) {
	fx := newTimelineFixture(t)
	p := func(i int) int64 { return fx.frags[i].ProducerTime }
	from, to := p(2)+300*int64(time.Millisecond), p(25)+int64(time.Second)
	want := fx.want(from, to, true)
	if len(want) < 100 {
		t.Fatalf("the fixture's range holds %d items", len(want))
	}
	for _, scan := range []int{100_000, 3} {
		for _, limit := range []int{1, 2, 5, 10000} {
			t.Run(fmt.Sprintf("scan %d limit %d", scan, limit), func(t *testing.T) {
				defer func(old int) { eventsScan = old }(eventsScan)
				eventsScan = scan
				got, pages := fx.read(t, "timeline", url.Values{"start": {ts(from)}, "end": {ts(to)}, "limit": {fmt.Sprint(limit)}})
				if !slices.Equal(got, want) {
					t.Fatalf("%d items in %d pages, want %d:\n got %v\nwant %v", len(got), pages, len(want), got, want)
				}
				// One page holds it all, unless the fragment scan was cut.
				if limit == 10000 && (scan == 100_000) != (pages == 1) {
					t.Errorf("%d pages with a scan of %d", pages, scan)
				}
			})
		}
	}
}

// TestEventsServerTime: a server-time range maps to producer time through
// the fragments that cover its ends, clamped across gaps.
func TestEventsServerTime(t *testing.T) {
	fx := newTimelineFixture(t)
	f := fx.frags
	sec := int64(time.Second)
	gapStart := f[15].ServerTime + f[15].Duration // 10 s without video
	for _, tc := range []struct {
		name             string
		sFrom, sTo       int64 // server time
		pFrom, pTo       int64 // the producer range it maps to
		empty            bool
		withoutFragments bool
	}{
		{name: "inside fragments", sFrom: f[3].ServerTime + sec/2, sTo: f[20].ServerTime + sec, pFrom: f[3].ProducerTime + sec/2, pTo: f[20].ProducerTime + sec},
		{name: "from in the gap", sFrom: gapStart + 3*sec, sTo: f[20].ServerTime + sec, pFrom: f[16].ProducerTime, pTo: f[20].ProducerTime + sec},
		{name: "to in the gap", sFrom: f[3].ServerTime + sec/2, sTo: gapStart + 6*sec, pFrom: f[3].ProducerTime + sec/2, pTo: f[15].ProducerTime + f[15].Duration},
		{name: "before the video", sFrom: f[0].ServerTime - 60*sec, sTo: f[1].ServerTime, pFrom: f[0].ProducerTime, pTo: f[1].ProducerTime},
		{name: "only the gap", sFrom: gapStart + sec, sTo: gapStart + 9*sec, empty: true},
		{name: "long before", sFrom: f[0].ServerTime - 3600*sec, sTo: f[0].ServerTime - 120*sec, empty: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := url.Values{"start": {ts(tc.sFrom)}, "end": {ts(tc.sTo)}, "timestampType": {"SERVER_TIMESTAMP"}, "limit": {"7"}}
			var want []string
			if !tc.empty {
				want = fx.want(tc.pFrom, tc.pTo, false)
				if len(want) == 0 {
					t.Fatal("the model has no events in the range")
				}
			}
			got, _ := fx.read(t, "events", maps.Clone(q))
			if !slices.Equal(got, want) {
				t.Fatalf("got %d events, want %d:\n got %v\nwant %v", len(got), len(want), got, want)
			}
			var wantTimeline []string
			if !tc.empty {
				wantTimeline = fx.want(tc.pFrom, tc.pTo, true)
			}
			if got, _ := fx.read(t, "timeline", maps.Clone(q)); !slices.Equal(got, wantTimeline) {
				t.Fatalf("timeline: got %d items, want %d", len(got), len(wantTimeline))
			}
		})
	}
}

// TestEventsServerTimeClockBack: a server-time range in which the
// producer clock went back cannot be one producer range, and is refused.
func TestEventsServerTimeClockBack(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	clk := datastreamstest.NewClock(t0.Add(time.Minute))
	_, m := fragmentstest.NewManager(t, t.TempDir(), clk, 1<<20)
	if _, err := m.CreateStream("cam", fragments.CreateOptions{RetentionHours: 24}); err != nil {
		t.Fatal(err)
	}
	st, err := m.Store("cam")
	if err != nil {
		t.Fatal(err)
	}
	init := &fragments.InitSegment{ID: fragments.InitID{9}, Bytes: []byte("init")}
	for i := range 10 {
		s := t0.Add(time.Duration(i) * 2 * time.Second)
		offset := clockOffset
		if i >= 5 {
			offset -= 2 * time.Hour // the camera's clock was reset
		}
		if _, err := st.Append(init, &fragments.Fragment{ServerTime: s.UnixNano(), ProducerTime: s.Add(offset).UnixNano(),
			Duration: int64(2 * time.Second), Keyframe: true, InitID: init.ID, Media: make([]byte, 100)}); err != nil {
			t.Fatal(err)
		}
	}
	r := chi.NewRouter()
	(&Handler{Manager: m}).Mount(r)
	for _, tc := range []struct {
		from, to time.Duration // from t0, server time
		status   int
	}{
		{time.Second, 19 * time.Second, http.StatusBadRequest}, // across the reset
		{time.Second, 9 * time.Second, http.StatusOK},          // before it
		{11 * time.Second, 19 * time.Second, http.StatusOK},    // after it
	} {
		q := url.Values{"start": {ts(t0.Add(tc.from).UnixNano())}, "end": {ts(t0.Add(tc.to).UnixNano())}, "timestampType": {"SERVER_TIMESTAMP"}}
		for _, path := range []string{"events", "timeline"} {
			rec := httptest.NewRecorder()
			r.ServeHTTP(rec, httptest.NewRequest("GET", "/api/v1/streams/cam/"+path+"?"+q.Encode(), nil))
			if rec.Code != tc.status || (tc.status == 400 && !strings.Contains(rec.Body.String(), "The producer clock went back within this server-time range")) {
				t.Errorf("%s %v: %d %s", path, q, rec.Code, rec.Body)
			}
		}
	}
}

// countingIndex counts serverToProducer's index reads; without lookup
// its Lookup finds nothing, as when the sequence before a fragment holds
// no listed one, so the binary search does the work.
type countingIndex struct {
	st            *fragments.Store
	lookup        bool
	calls, listed int
}

func (c *countingIndex) List(t fragments.IndexTime, start, end time.Time, fromSeq uint64, limit int) ([]fragments.IndexEntry, uint64, error) {
	es, next, err := c.st.List(t, start, end, fromSeq, limit)
	c.calls++
	c.listed += len(es)
	return es, next, err
}

func (c *countingIndex) Lookup(seq uint64) (fragments.IndexEntry, bool) {
	c.calls++
	if !c.lookup {
		return fragments.IndexEntry{}, false
	}
	return c.st.Lookup(seq)
}

func (c *countingIndex) Last() (fragments.IndexEntry, bool) {
	c.calls++
	return c.st.Last()
}

// TestEventsServerTimeLongGap: a server-time range of ten years whose ends
// fall in long gaps (years without video before, between and after the
// fragments) maps through the right fragments with a few index lookups
// (O(log n)), not by listing the fragments of the range.
func TestEventsServerTimeLongGap(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	clk := datastreamstest.NewClock(t0)
	core, m := fragmentstest.NewManager(t, t.TempDir(), clk, 64<<20)
	if _, err := m.CreateStream("cam", fragments.CreateOptions{RetentionHours: 24}); err != nil {
		t.Fatal(err)
	}
	st, err := m.Store("cam")
	if err != nil {
		t.Fatal(err)
	}
	init := &fragments.InitSegment{ID: fragments.InitID{9}, Bytes: []byte("init")}
	year := 365 * 24 * time.Hour
	const n = 3000 // one second each, then 6 years without video, then one more
	var frags []fragments.IndexEntry
	for i := range n + 1 {
		s := t0.Add(time.Duration(i) * time.Second)
		if i == n {
			s = t0.Add(6 * year)
		}
		seq, err := st.Append(init, &fragments.Fragment{ServerTime: s.UnixNano(), ProducerTime: s.Add(clockOffset).UnixNano(),
			Duration: int64(time.Second), Keyframe: true, InitID: init.ID, Media: make([]byte, 10)})
		if err != nil {
			t.Fatal(err)
		}
		e, _ := st.Lookup(seq)
		frags = append(frags, e)
	}
	sec := int64(time.Second)
	end := func(f fragments.IndexEntry) int64 { return f.ProducerTime + f.Duration }
	for _, tc := range []struct {
		name     string
		s, e     int64
		from, to int64
	}{
		{"ten years around the video", t0.Add(-5 * year).UnixNano(), t0.Add(5 * year).UnixNano(), frags[0].ProducerTime, end(frags[n-1])},
		{"from inside, to in the gap", frags[1200].ServerTime + sec/2, t0.Add(5 * year).UnixNano(), frags[1200].ProducerTime + sec/2, end(frags[n-1])},
		{"from in the gap before, to inside", t0.Add(-5 * year).UnixNano(), frags[17].ServerTime + sec/4, frags[0].ProducerTime, frags[17].ProducerTime + sec/4},
		{"from in the long gap, to past the last", t0.Add(year).UnixNano(), t0.Add(11 * year).UnixNano(), frags[n].ProducerTime, end(frags[n])},
		{"all of it", t0.Add(-year).UnixNano(), t0.Add(9 * year).UnixNano(), frags[0].ProducerTime, end(frags[n])},
	} {
		for _, lookup := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s lookup %v", tc.name, lookup), func(t *testing.T) {
				ci := &countingIndex{st: st, lookup: lookup}
				from, to, ok, err := serverToProducer(ci, tc.s, tc.e)
				if err != nil || !ok || from != tc.from || to != tc.to {
					t.Fatalf("got [%d, %d) %v %v, want [%d, %d)", from, to, ok, err, tc.from, tc.to)
				}
				// Two ends, each a lookup or a binary search over n fragments.
				if bound := 2 * (12 + 4); ci.calls > bound || ci.listed > ci.calls {
					t.Errorf("%d index calls listing %d entries for %d fragments; want at most %d calls of one entry", ci.calls, ci.listed, n+1, bound)
				}
			})
		}
	}
	ci := &countingIndex{st: st, lookup: true}
	if _, _, ok, err := serverToProducer(ci, t0.Add(2*year).UnixNano(), t0.Add(3*year).UnixNano()); ok || err != nil {
		t.Errorf("a range inside the gap maps to video: %v %v", ok, err)
	}
	// Over HTTP, the ten years read the events of the video.
	es, err := core.Stream("cam.events")
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for i := range 5 {
		at := time.Unix(0, frags[i*700].ProducerTime)
		res, err := es.Put([]datastreams.PutEntry{{Key: []byte("k"), Data: fmt.Appendf(nil, `{"type":"note","time":%q}`, at.Format(time.RFC3339Nano))}})
		if err != nil || res[0].Err != nil {
			t.Fatalf("put: %v %v", err, res[0].Err)
		}
		want = append(want, "event "+datastreams.EncodeSeq(0, res[0].Seq))
	}
	r := chi.NewRouter()
	(&Handler{Manager: m}).Mount(r)
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	fx := &timelineFixture{srv: srv}
	q := url.Values{"start": {ts(t0.Add(-5 * year).UnixNano())}, "end": {ts(t0.Add(5 * year).UnixNano())}, "timestampType": {"SERVER_TIMESTAMP"}}
	if got, _ := fx.read(t, "events", q); !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

// TestEventsPagesByBytes: events with large attributes end pages before
// their limit (the event index bounds a page's bytes, and the timeline
// its own), and paging still returns every event and fragment exactly
// once, in order, attributes as written.
func TestEventsPagesByBytes(t *testing.T) {
	fx := newTimelineFixture(t)
	p := func(i int) int64 { return fx.frags[i].ProducerTime }
	from, to := p(0)-5*int64(time.Second), p(29)+3*int64(time.Second)
	// 600 events of 16 KiB attributes (about 9.6 MB), spread over the
	// fixture's range, some on fragment starts; written 50 a call.
	big := map[string]string{}
	var batch []datastreams.PutEntry
	var starts []int64
	for i := range 600 {
		at := from + int64(i)*(to-from)/600
		if i%50 == 7 {
			at = p(i / 50)
		}
		attrs := fmt.Sprintf(`{"i":%d,"blob":"<%s>"}`, i, strings.Repeat(string(rune('a'+i%26)), events.MaxAttributesBytes-40))
		batch = append(batch, datastreams.PutEntry{Key: []byte("k"), Data: fmt.Appendf(nil, `{"type":"frame","time":%q,"label":"big","attributes":%s}`,
			time.Unix(0, at).UTC().Format(time.RFC3339Nano), attrs)})
		starts = append(starts, at)
		if len(batch) < 50 {
			continue
		}
		res, err := fx.es.Put(batch)
		if err != nil {
			t.Fatal(err)
		}
		for j, r := range res {
			if r.Err != nil {
				t.Fatalf("put: %v", r.Err)
			}
			id := datastreams.EncodeSeq(0, r.Seq)
			fx.evs = append(fx.evs, modelItem{kind: "event", id: id, seq: r.Seq, start: starts[j], end: starts[j]})
			var ev struct{ Attributes json.RawMessage }
			if err := json.Unmarshal(batch[j].Data, &ev); err != nil {
				t.Fatal(err)
			}
			big[id] = string(ev.Attributes)
		}
		batch, starts = batch[:0], starts[:0]
	}
	const slack = 64 << 10 // one event and the page's frame past a bound
	check := func(t *testing.T, path string, bound int, withFragments bool) {
		t.Helper()
		want := fx.want(from, to, withFragments)
		got, pages := fx.read(t, path, url.Values{"start": {ts(from)}, "end": {ts(to)}, "limit": {"10000"}})
		if !slices.Equal(got, want) {
			t.Fatalf("%d items in %d pages, want %d", len(got), pages, len(want))
		}
		if fx.maxPage > bound+slack {
			t.Errorf("a page of %d bytes; the bound is %d", fx.maxPage, bound)
		}
		if min := 9_600_000 / (bound + slack); pages <= min {
			t.Errorf("%d pages of at most %d bytes hold 9.6 MB of attributes", pages, fx.maxPage)
		}
		for id, a := range big {
			var got, wrote struct {
				I    int
				Blob string
			}
			if err := json.Unmarshal([]byte(fx.attrs[id]), &got); err != nil || json.Unmarshal([]byte(a), &wrote) != nil || got != wrote {
				t.Fatalf("event %s: attributes of %d bytes, written %d (%v)", id, len(fx.attrs[id]), len(a), err)
			}
		}
	}
	t.Run("events", func(t *testing.T) { check(t, "events", events.MaxPageBytes, false) })
	t.Run("timeline", func(t *testing.T) { check(t, "timeline", timelinePageBytes, true) })
	t.Run("timeline by 256 KiB", func(t *testing.T) {
		defer func(old int) { timelinePageBytes = old }(timelinePageBytes)
		timelinePageBytes = 256 << 10
		check(t, "timeline", timelinePageBytes, true)
	})
}

// TestTimelineKinds: kinds=fragment lists only the fragments (an event of
// type "none" is an event like any other), kinds=event only the events,
// paged as the whole timeline is; another kind is refused.
func TestTimelineKinds(t *testing.T) {
	fx := newTimelineFixture(t)
	p := func(i int) int64 { return fx.frags[i].ProducerTime }
	from, to := p(2), p(25)
	res, err := fx.es.Put([]datastreams.PutEntry{{Key: []byte("k"), Data: fmt.Appendf(nil, `{"type":"none","time":%q}`, ts(p(4)+1))}})
	if err != nil || res[0].Err != nil {
		t.Fatalf("put: %v %v", err, res)
	}
	fx.evs = append(fx.evs, modelItem{kind: "event", id: datastreams.EncodeSeq(0, res[0].Seq), seq: res[0].Seq, start: p(4) + 1, end: p(4) + 1})
	all := fx.want(from, to, true)
	only := func(kind string) []string {
		var out []string
		for _, it := range all {
			if strings.HasPrefix(it, kind+" ") {
				out = append(out, it)
			}
		}
		return out
	}
	for _, tc := range []struct {
		kinds string
		want  []string
	}{
		{"fragment", only("fragment")},
		{"event", only("event")},
		{"event,fragment", all},
		{"", all},
	} {
		for _, limit := range []string{"3", "10000"} {
			q := url.Values{"start": {ts(from)}, "end": {ts(to)}, "limit": {limit}}
			if tc.kinds != "" {
				q.Set("kinds", tc.kinds)
			}
			if got, _ := fx.read(t, "timeline", q); !slices.Equal(got, tc.want) || len(got) == 0 {
				t.Errorf("kinds=%s limit %s: %d items, want %d:\n got %v\nwant %v", tc.kinds, limit, len(got), len(tc.want), got, tc.want)
			}
		}
	}
	if n := len(only("fragment")); n != 23 {
		t.Errorf("the range holds %d fragments", n)
	}
	for _, kinds := range []string{"none", "fragments", "fragment,none", ","} {
		resp, err := http.Get(fx.srv.URL + "/api/v1/streams/cam/timeline?" + url.Values{"start": {ts(from)}, "end": {ts(to)}, "kinds": {kinds}}.Encode())
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "kinds must be fragment, event or fragment,event.") {
			t.Errorf("kinds=%q: %d %s", kinds, resp.StatusCode, body)
		}
	}
}
