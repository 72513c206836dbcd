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
// lists the first MaxDateRanges, LIVE the newest.
func TestDateRangeCap(t *testing.T) {
	f := newFixture(t)
	starts := f.addLagging(3)
	f.clk.Set(f.at)
	n := MaxDateRanges + 100
	recs := make([]string, n)
	for i := range recs {
		at := starts[0].Add(-producerLag).Add(time.Duration(i) * 6 * time.Second / time.Duration(n))
		recs[i] = fmt.Sprintf(`{"type":"tick","time":%q}`, at.UTC().Format(time.RFC3339Nano))
	}
	ids := f.putEvents(recs...)

	u, code := f.session(map[string]any{"StreamName": "cam", "PlaybackMode": "ON_DEMAND",
		"HLSFragmentSelector": map[string]any{"FragmentSelectorType": "SERVER_TIMESTAMP",
			"TimestampRange": map[string]any{"StartTimestamp": secs(starts[0]), "EndTimestamp": secs(f.at)}}})
	if code != 200 {
		t.Fatalf("session: %d", code)
	}
	_, pl := f.get(u)
	got := dateRangeLine.FindAllString(pl, -1)
	if len(got) != MaxDateRanges || !strings.Contains(got[0], `ID="`+ids[0]+`"`) || !strings.Contains(got[MaxDateRanges-1], `ID="`+ids[MaxDateRanges-1]+`"`) {
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
