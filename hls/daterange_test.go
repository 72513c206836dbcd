package hls

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/eddy-video/eddy/datastreams"
	"github.com/eddy-video/eddy/fragments"
	"github.com/eddy-video/eddy/fragments/events"
)

// producerLag is how far the fixture camera's clock runs behind the
// server's in the date range tests.
const producerLag = 10 * time.Minute

// addLagging stores n 2-second fragments whose producer times run
// producerLag behind their server times, and returns their server starts.
func (f *fixture) addLagging(n int) []time.Time {
	f.t.Helper()
	var starts []time.Time
	for i := 0; i < n; i++ {
		fr := &fragments.Fragment{ServerTime: f.at.UnixNano(), ProducerTime: f.at.Add(-producerLag).UnixNano(),
			Duration: int64(2 * time.Second), Keyframe: true, InitID: f.initA.ID, Media: []byte("moof+mdat")}
		if _, err := f.st.Append(f.initA, fr); err != nil {
			f.t.Fatal(err)
		}
		starts = append(starts, f.at)
		f.at = f.at.Add(2 * time.Second)
	}
	return starts
}

// putEvents writes records to the stream's event stream and returns the
// event ids (KDS sequence numbers) in order.
func (f *fixture) putEvents(recs ...string) []string {
	f.t.Helper()
	s, err := f.m.Core.Stream("cam.events")
	if err != nil {
		f.t.Fatal(err)
	}
	es := make([]datastreams.PutEntry, len(recs))
	for i, r := range recs {
		es[i] = datastreams.PutEntry{Key: []byte("k"), Data: []byte(r)}
	}
	res, err := s.Put(es)
	if err != nil {
		f.t.Fatal(err)
	}
	ids := make([]string, len(res))
	for i, r := range res {
		if r.Err != nil {
			f.t.Fatalf("record %d: %v", i, r.Err)
		}
		ids[i] = datastreams.EncodeSeq(r.Shard, r.Seq)
	}
	return ids
}

func iso(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

var dateRangeLine = regexp.MustCompile(`(?m)^#EXT-X-DATERANGE:.*$`)

// TestDateRangeTags checks the EXT-X-DATERANGE tags of ON_DEMAND playlists
// on both clocks: the exact text (quoting, percent-encoding of what a
// quoted-string cannot hold), START-DATE mapped through the covering
// segment, the events outside the window absent, EXT-X-PROGRAM-DATE-TIME
// on every segment with DisplayFragmentTimestamp NEVER, and no change for
// a window without events.
func TestDateRangeTags(t *testing.T) {
	f := newFixture(t)
	starts := f.addLagging(5) // server times starts[i], producer times starts[i]-lag
	p := func(srv time.Time) string { return srv.Add(-producerLag).UTC().Format(time.RFC3339Nano) }
	inside := starts[1].Add(500 * time.Millisecond) // in the second fragment
	recs := []string{
		fmt.Sprintf(`{"type":"detection","time":%q,"duration":0.8,"label":"per\"son, 100%%\nx","score":0.91,"box":[0.1,0.2,0.25,0.5],"attributes":{"track":7,"zone":"door"}}`, p(inside)),
		fmt.Sprintf(`{"type":"door","time":%q}`, p(starts[3].Add(1250*time.Millisecond))),
		fmt.Sprintf(`{"type":"early","time":%q}`, p(starts[0].Add(-time.Second))),         // before the range
		fmt.Sprintf(`{"type":"late","time":%q}`, p(starts[4].Add(2500*time.Millisecond))), // after the last fragment
		`{"person":1}`, // not an event: stored, not listed
	}
	ids := f.putEvents(recs...)
	wantDetection := `#EXT-X-DATERANGE:ID="` + ids[0] + `",CLASS="video.eddy.event.detection",START-DATE="` + iso(inside) +
		`",DURATION=0.8,X-TYPE="detection",X-LABEL="per%22son, 100%25%0Ax",X-SCORE=0.91,X-BOX="0.1,0.2,0.25,0.5",X-ATTRIBUTES="{%22track%22:7,%22zone%22:%22door%22}"`
	wantDoor := `#EXT-X-DATERANGE:ID="` + ids[1] + `",CLASS="video.eddy.event.door",START-DATE="` + iso(starts[3].Add(1250*time.Millisecond)) + `",X-TYPE="door"`

	session := func(selector string, from, to time.Time) string {
		t.Helper()
		u, code := f.session(map[string]any{"StreamName": "cam", "PlaybackMode": "ON_DEMAND",
			"HLSFragmentSelector": map[string]any{"FragmentSelectorType": selector,
				"TimestampRange": map[string]any{"StartTimestamp": secs(from), "EndTimestamp": secs(to)}}})
		if code != 200 {
			t.Fatalf("session: %d", code)
		}
		code, pl := f.get(u)
		if code != 200 {
			t.Fatalf("playlist: %d %s", code, pl)
		}
		return pl
	}

	t.Run("server time", func(t *testing.T) {
		pl := session("SERVER_TIMESTAMP", starts[0], starts[4])
		got := dateRangeLine.FindAllString(pl, -1)
		if len(got) != 2 || got[0] != wantDetection || got[1] != wantDoor {
			t.Fatalf("date ranges:\n%s\nwant:\n%s\n%s", strings.Join(got, "\n"), wantDetection, wantDoor)
		}
		if n := strings.Count(pl, "#EXT-X-PROGRAM-DATE-TIME:"); n != 5 {
			t.Errorf("%d program date times for 5 segments:\n%s", n, pl)
		}
		if !strings.Contains(pl, "#EXT-X-PROGRAM-DATE-TIME:"+iso(starts[0])+"\n") {
			t.Errorf("program date time not on the server clock:\n%s", pl)
		}
	})
	t.Run("producer time", func(t *testing.T) {
		pl := session("PRODUCER_TIMESTAMP", starts[0].Add(-producerLag), starts[4].Add(-producerLag))
		got := dateRangeLine.FindAllString(pl, -1)
		shift := func(s string, at time.Time) string {
			return strings.Replace(s, iso(at), iso(at.Add(-producerLag)), 1)
		}
		if len(got) != 2 || got[0] != shift(wantDetection, inside) || got[1] != shift(wantDoor, starts[3].Add(1250*time.Millisecond)) {
			t.Fatalf("date ranges on the producer clock:\n%s", strings.Join(got, "\n"))
		}
		if !strings.Contains(pl, "#EXT-X-PROGRAM-DATE-TIME:"+iso(starts[0].Add(-producerLag))+"\n") {
			t.Errorf("program date time not on the producer clock:\n%s", pl)
		}
	})
	// LIVE: the window reaches one target duration past the newest video,
	// so the event written for the live edge ("late") is listed already.
	t.Run("live", func(t *testing.T) {
		f.clk.Set(f.at)
		u, code := f.session(map[string]any{"StreamName": "cam"})
		if code != 200 {
			t.Fatalf("LIVE session: %d", code)
		}
		_, pl := f.get(u)
		got := dateRangeLine.FindAllString(pl, -1)
		wantLate := `#EXT-X-DATERANGE:ID="` + ids[3] + `",CLASS="video.eddy.event.late",START-DATE="` + iso(starts[4].Add(2500*time.Millisecond)) + `",X-TYPE="late"`
		if len(got) != 3 || got[0] != wantDetection || got[1] != wantDoor || got[2] != wantLate {
			t.Fatalf("LIVE date ranges:\n%s\nin\n%s", strings.Join(got, "\n"), pl)
		}
	})
	// LIVE_REPLAY: an event is listed once the fragment covering it is.
	t.Run("live replay", func(t *testing.T) {
		u, code := f.session(map[string]any{"StreamName": "cam", "PlaybackMode": "LIVE_REPLAY",
			"HLSFragmentSelector": map[string]any{"FragmentSelectorType": "SERVER_TIMESTAMP",
				"TimestampRange": map[string]any{"StartTimestamp": secs(starts[0])}}})
		if code != 200 {
			t.Fatalf("LIVE_REPLAY session: %d", code)
		}
		for _, step := range []struct {
			advance time.Duration
			want    []string
		}{{0, nil}, {2 * time.Second, []string{wantDetection}}, {10 * time.Second, []string{wantDetection, wantDoor}}} {
			f.clk.Advance(step.advance)
			_, pl := f.get(u)
			if got := dateRangeLine.FindAllString(pl, -1); !slices.Equal(got, step.want) {
				t.Fatalf("after %s more: date ranges\n%s\nwant\n%s", step.advance, strings.Join(got, "\n"), strings.Join(step.want, "\n"))
			}
		}
	})
	t.Run("window without events", func(t *testing.T) {
		pl := session("SERVER_TIMESTAMP", starts[2], starts[2].Add(time.Second))
		if strings.Contains(pl, "#EXT-X-DATERANGE") || strings.Contains(pl, "#EXT-X-PROGRAM-DATE-TIME") || strings.Count(pl, "#EXTINF:") != 1 {
			t.Errorf("a window without events changed:\n%s", pl)
		}
	})
}

// TestDateRangeCap writes more events than a playlist carries: ON_DEMAND
// lists the first MaxDateRangesOnDemand, LIVE the newest MaxDateRanges.
func TestDateRangeCap(t *testing.T) {
	f := newFixture(t)
	starts := f.addLagging(3)
	f.clk.Set(f.at)
	n := MaxDateRangesOnDemand + 100
	var ids []string
	for i := 0; i < n; i += 500 {
		recs := make([]string, min(500, n-i))
		for k := range recs {
			at := starts[0].Add(-producerLag).Add(time.Duration(i+k) * 6 * time.Second / time.Duration(n))
			recs[k] = fmt.Sprintf(`{"type":"tick","time":%q}`, at.UTC().Format(time.RFC3339Nano))
		}
		ids = append(ids, f.putEvents(recs...)...)
	}

	u, code := f.session(map[string]any{"StreamName": "cam", "PlaybackMode": "ON_DEMAND",
		"HLSFragmentSelector": map[string]any{"FragmentSelectorType": "SERVER_TIMESTAMP",
			"TimestampRange": map[string]any{"StartTimestamp": secs(starts[0]), "EndTimestamp": secs(f.at)}}})
	if code != 200 {
		t.Fatalf("session: %d", code)
	}
	_, pl := f.get(u)
	got := dateRangeLine.FindAllString(pl, -1)
	if len(got) != MaxDateRangesOnDemand || !strings.Contains(got[0], `ID="`+ids[0]+`"`) ||
		!strings.Contains(got[MaxDateRangesOnDemand-1], `ID="`+ids[MaxDateRangesOnDemand-1]+`"`) {
		t.Errorf("ON_DEMAND: %d date ranges, first %.80s", len(got), got[0])
	}

	u, code = f.session(map[string]any{"StreamName": "cam"})
	if code != 200 {
		t.Fatalf("LIVE session: %d", code)
	}
	_, pl = f.get(u)
	got = dateRangeLine.FindAllString(pl, -1)
	t.Logf("LIVE: the newest %d of %d events", len(got), n)
	if len(got) != MaxDateRanges || !strings.Contains(got[0], `ID="`+ids[n-MaxDateRanges]+`"`) || !strings.Contains(got[len(got)-1], `ID="`+ids[n-1]+`"`) || strings.Contains(pl, `ID="`+ids[0]+`"`) {
		t.Errorf("LIVE: %d date ranges, last %.80s", len(got), got[len(got)-1])
	}
}

// countingQuerier counts the reads of a timeline.
type countingQuerier struct {
	q querier
	n int
}

func (c *countingQuerier) Query(q events.Query) (events.Page, error) {
	c.n++
	return c.q.Query(q)
}

// TestDateRangeBurst writes bursts of events that start at one instant
// (as one PutRecords call of events without a time does) into a LIVE
// window: 1,000 of them are read in one index read and the newest
// MaxDateRanges listed; 3,000 (more than one read holds) take a bounded
// number of reads and list the newest events after the burst and the
// burst's first ones for the rest, as documented.
func TestDateRangeBurst(t *testing.T) {
	f := newFixture(t)
	starts := f.addLagging(3)
	f.clk.Set(f.at)
	burst := starts[1].Add(-producerLag).Add(700 * time.Millisecond)
	put := func(n int, at time.Time, typ string) []string {
		var ids []string
		for i := 0; i < n; i += 500 {
			recs := make([]string, min(500, n-i))
			for k := range recs {
				recs[k] = fmt.Sprintf(`{"type":%q,"time":%q}`, typ, at.UTC().Format(time.RFC3339Nano))
			}
			ids = append(ids, f.putEvents(recs...)...)
		}
		return ids
	}
	u, code := f.session(map[string]any{"StreamName": "cam"})
	if code != 200 {
		t.Fatalf("LIVE session: %d", code)
	}
	from, to := starts[0].Add(-producerLag).UnixNano(), f.at.Add(-producerLag).Add(2*time.Second).UnixNano()
	listed := func() []string {
		t.Helper()
		_, pl := f.get(u)
		var ids []string
		for _, l := range dateRangeLine.FindAllString(pl, -1) {
			ids = append(ids, strings.Split(l, `"`)[1])
		}
		return ids
	}

	first := put(1000, burst, "burst")
	cq := &countingQuerier{q: f.st.Timeline()}
	evs, err := newestEvents(cq, from, to, MaxDateRanges)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ev := range evs {
		got = append(got, ev.ID)
	}
	if want := first[1000-MaxDateRanges:]; !slices.Equal(got, want) || cq.n != 1 {
		t.Fatalf("1,000 at one instant: %d events (%d reads), want the newest %d in one read", len(got), cq.n, len(want))
	}
	if ids := listed(); !slices.Equal(ids, got) {
		t.Fatalf("LIVE playlist lists %d events, not the newest %d", len(ids), MaxDateRanges)
	}

	put(2000, burst, "burst")
	after := put(10, burst.Add(300*time.Millisecond), "after")
	cq.n = 0
	evs, err = newestEvents(cq, from, to, MaxDateRanges)
	if err != nil {
		t.Fatal(err)
	}
	got = got[:0]
	for _, ev := range evs {
		got = append(got, ev.ID)
	}
	t.Logf("3,000 at one instant and 10 after: %d events in %d index reads", len(got), cq.n)
	want := append(slices.Clone(first[:MaxDateRanges-len(after)]), after...)
	if !slices.Equal(got, want) || cq.n > maxProbes+1 {
		t.Fatalf("3,000 at one instant: %d events in %d reads; want the 10 after and the burst's first %d, in at most %d reads", len(got), cq.n, MaxDateRanges-10, maxProbes+1)
	}
	if ids := listed(); !slices.Equal(ids, want) {
		t.Fatalf("LIVE playlist lists %d events, not as newestEvents", len(ids))
	}
}

// appendAt stores a 2-second fragment at the given server and producer times.
func (f *fixture) appendAt(server, producer time.Time) {
	f.t.Helper()
	fr := &fragments.Fragment{ServerTime: server.UnixNano(), ProducerTime: producer.UnixNano(),
		Duration: int64(2 * time.Second), Keyframe: true, InitID: f.initA.ID, Media: []byte("moof+mdat")}
	if _, err := f.st.Append(f.initA, fr); err != nil {
		f.t.Fatal(err)
	}
}

// sameRanges fails when playlist pl lists an ID seen before with other
// attributes (RFC 8216 §4.3.2.7), notes its tags in seen, and returns
// the ids it lists.
func sameRanges(t *testing.T, seen map[string]string, pl, when string) map[string]bool {
	t.Helper()
	ids := map[string]bool{}
	for _, l := range dateRangeLine.FindAllString(pl, -1) {
		id := strings.Split(l, `"`)[1]
		ids[id] = true
		if was, ok := seen[id]; ok && was != l {
			t.Errorf("%s: date range %s changed:\n%s\n%s", when, id, was, l)
		}
		seen[id] = l
	}
	return ids
}

// TestDateRangeLiveFrozen reloads a SERVER_TIMESTAMP LIVE playlist while
// events are written for the live edge, past the newest video, and the
// fragment that covers them arrives later with a jitter that maps them
// elsewhere: no reload lists an event with other attributes than the one
// before. The LL-HLS one also lists events covered by a fragment still
// being recorded, whose producer time changes with its last part.
func TestDateRangeLiveFrozen(t *testing.T) {
	t.Run("live", func(t *testing.T) {
		f := newFixture(t)
		f.addLagging(2)
		f.clk.Set(f.at)
		u, code := f.session(map[string]any{"StreamName": "cam"})
		if code != 200 {
			t.Fatalf("LIVE session: %d", code)
		}
		seen := map[string]string{}
		producer := f.at.Add(-producerLag) // end of the newest fragment
		for r := 0; r < 6; r++ {
			edge := producer.Add(time.Duration(300+100*r) * time.Millisecond)
			id := f.putEvents(fmt.Sprintf(`{"type":"edge","time":%q}`, edge.UTC().Format(time.RFC3339Nano)))[0]
			_, pl := f.get(u)
			if !sameRanges(t, seen, pl, fmt.Sprintf("round %d, before its fragment", r))[id] {
				t.Fatalf("round %d: the live-edge event is not listed:\n%s", r, pl)
			}
			want := `START-DATE="` + iso(f.at.Add(edge.Sub(producer))) + `"`
			// The covering fragment arrives late by a jitter: mapped
			// through it, the event would move by that much.
			jitter := time.Duration(17+23*r) * time.Millisecond
			f.at = f.at.Add(jitter)
			f.appendAt(f.at, producer)
			f.at, producer = f.at.Add(2*time.Second), producer.Add(2*time.Second)
			f.clk.Set(f.at)
			_, pl = f.get(u)
			sameRanges(t, seen, pl, fmt.Sprintf("round %d, after its fragment", r))
			if !strings.Contains(seen[id], want) {
				t.Fatalf("round %d: %s, want %s", r, seen[id], want)
			}
		}
	})
	t.Run("LL-HLS", func(t *testing.T) {
		f := newFixture(t)
		f.m.PartDuration = 500 * time.Millisecond
		f.addLagging(2)
		f.clk.Set(f.at)
		u, code := f.session(map[string]any{"StreamName": "cam"})
		if code != 200 {
			t.Fatalf("LIVE session: %d", code)
		}
		live := f.st.Live()
		run := live.Start(500 * time.Millisecond)
		defer live.Stop(run)
		init := &fragments.InitSegment{ID: f.initA.ID, Bytes: f.initA.Bytes}
		seen := map[string]string{}
		listed := map[string]bool{}
		get := func(when string) {
			t.Helper()
			code, pl := f.get(u)
			if code != 200 || !strings.Contains(pl, "#EXT-X-PART:") {
				t.Fatalf("%s: not an LL-HLS playlist (%d):\n%s", when, code, pl)
			}
			for id := range sameRanges(t, seen, pl, when) {
				listed[id] = true
			}
		}
		producer := f.at.Add(-producerLag)
		var ids []string
		for r := 0; r < 3; r++ {
			// The fragment's producer time is a guess until its last part
			// (the camera's first clock report arrives meanwhile).
			guess := producer.Add(time.Duration(40+30*r) * time.Millisecond)
			seg := fragments.LiveSegment{Seq: f.st.NextSeq(), InitID: f.initA.ID, ServerTime: f.at.UnixNano(), ProducerTime: guess.UnixNano(), Keyframe: true}
			for p := 0; p < 4; p++ {
				last := p == 3
				if last {
					seg.ProducerTime = producer.UnixNano()
				}
				// One event in the part about to be cut, one past it.
				in := guess.Add(time.Duration(500*p+200) * time.Millisecond)
				ids = append(ids, f.putEvents(
					fmt.Sprintf(`{"type":"in","time":%q}`, in.UTC().Format(time.RFC3339Nano)),
					fmt.Sprintf(`{"type":"edge","time":%q}`, in.Add(500*time.Millisecond).UTC().Format(time.RFC3339Nano)))...)
				live.AddPart(seg, init, &fragments.LivePart{Duration: int64(500 * time.Millisecond), Independent: p == 0, Media: []byte("part")}, last)
				get(fmt.Sprintf("fragment %d, part %d", r, p))
			}
			f.appendAt(f.at, producer)
			get(fmt.Sprintf("fragment %d stored", r))
			f.at, producer = f.at.Add(2*time.Second), producer.Add(2*time.Second)
			f.clk.Set(f.at)
		}
		for _, id := range ids {
			if !listed[id] {
				t.Errorf("event %s never listed", id)
			}
		}
	})
}

// TestStartMemoPrune fills a stream's START-DATE memo past its bound: it
// keeps the memoKeep newest events with the dates they were listed with.
func TestStartMemoPrune(t *testing.T) {
	m := &startMemo{m: map[string]memoStart{}}
	n := 2*memoKeep + 1
	for i := 0; i < n; i++ {
		if got := m.freeze(fmt.Sprint(i), int64(i), int64(1000+i)); got != int64(1000+i) {
			t.Fatalf("event %d first listed at %d", i, got)
		}
	}
	m.prune()
	if len(m.m) != memoKeep {
		t.Fatalf("%d events kept, want %d", len(m.m), memoKeep)
	}
	if _, ok := m.m[fmt.Sprint(n-memoKeep-1)]; ok {
		t.Errorf("an event older than the newest %d kept", memoKeep)
	}
	if got := m.freeze(fmt.Sprint(n-memoKeep), 0, 7); got != int64(1000+n-memoKeep) {
		t.Errorf("a kept event listed at %d, not as first (%d)", got, 1000+n-memoKeep)
	}
}
