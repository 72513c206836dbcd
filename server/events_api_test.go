package server_test

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideoarchivedmedia/types"

	"github.com/eddy-video/eddy/media/mediatest"
	"github.com/eddy-video/eddy/server/servertest"
)

// written is an event as the test wrote it: the model the reads are
// checked against.
type written struct {
	id         string // the sequence number PutRecords returned
	typ, label string
	start, end int64 // producer Unix ns
	data       []byte
}

func (w *written) overlaps(from, to int64) bool {
	return w.start < to && (w.start >= from || w.end > from)
}

// apiEvent is an event as /events and /timeline return it.
type apiEvent struct {
	ID         string      `json:"id"`
	Type       string      `json:"type"`
	Time       time.Time   `json:"time"`
	Duration   float64     `json:"duration"`
	Label      string      `json:"label"`
	Score      *float64    `json:"score"`
	Box        *[4]float64 `json:"box"`
	ServerTime time.Time   `json:"serverTime"`
}

type apiFragment struct {
	FragmentNumber               string
	FragmentSizeInBytes          int64
	ProducerTimestamp            time.Time
	ServerTimestamp              time.Time
	FragmentLengthInMilliseconds int64
}

type apiItem struct {
	Kind     string       `json:"kind"`
	Fragment *apiFragment `json:"fragment"`
	Event    *apiEvent    `json:"event"`
}

// getJSON GETs u and decodes a 200 answer into v; it returns the status
// and the body.
func getJSON(t *testing.T, u string, v any) (int, string) {
	t.Helper()
	status, _, body := httpGet(t, u)
	if status == 200 {
		if err := json.Unmarshal([]byte(body), v); err != nil {
			t.Fatalf("GET %s: %v in %.300s", u, err, body)
		}
	}
	return status, body
}

func rfc(ns int64) string { return time.Unix(0, ns).UTC().Format(time.RFC3339Nano) }

// eventPages reads every page of /events with q, checking that no page
// holds more than limit events; it returns the events and the pages read.
func eventPages(t *testing.T, base string, q url.Values, limit int) ([]apiEvent, int) {
	t.Helper()
	var all []apiEvent
	pages := 0
	for {
		var page struct {
			Events    []apiEvent `json:"events"`
			NextToken string     `json:"nextToken"`
		}
		if status, body := getJSON(t, base+"/events?"+q.Encode(), &page); status != 200 {
			t.Fatalf("events %v: %d %s", q, status, body)
		}
		pages++
		if len(page.Events) > limit {
			t.Fatalf("page of %d events with limit %d", len(page.Events), limit)
		}
		all = append(all, page.Events...)
		if page.NextToken == "" {
			return all, pages
		}
		if pages > 10000 {
			t.Fatal("endless paging")
		}
		q.Set("nextToken", page.NextToken)
	}
}

func timelinePages(t *testing.T, base string, q url.Values, limit int) []apiItem {
	t.Helper()
	var all []apiItem
	for pages := 0; ; pages++ {
		var page struct {
			Items     []apiItem `json:"items"`
			NextToken string    `json:"nextToken"`
		}
		if status, body := getJSON(t, base+"/timeline?"+q.Encode(), &page); status != 200 {
			t.Fatalf("timeline %v: %d %s", q, status, body)
		}
		if len(page.Items) > limit {
			t.Fatalf("page of %d items with limit %d", len(page.Items), limit)
		}
		all = append(all, page.Items...)
		if page.NextToken == "" {
			return all
		}
		if pages > 10000 {
			t.Fatal("endless paging")
		}
		q.Set("nextToken", page.NextToken)
	}
}

// expect is the model's answer: the events that overlap [from, to) and
// pass keep, in time order.
func expect(evs []written, from, to int64, keep func(*written) bool) []string {
	var out []*written
	for i := range evs {
		if evs[i].overlaps(from, to) && (keep == nil || keep(&evs[i])) {
			out = append(out, &evs[i])
		}
	}
	// evs is in the order written, so a stable sort leaves events of one
	// start in sequence (id) order.
	slices.SortStableFunc(out, func(a, b *written) int { return cmp.Compare(a.start, b.start) })
	ids := make([]string, len(out))
	for i, w := range out {
		ids[i] = w.id
	}
	return ids
}

func idsOf(evs []apiEvent) []string {
	ids := make([]string, len(evs))
	for i := range evs {
		ids[i] = evs[i].ID
	}
	return ids
}

// putEvents writes records to {stream}.events with PutRecords, 500 a call,
// and returns their sequence numbers; every record must be accepted.
func putEvents(ctx context.Context, t *testing.T, k *kinesis.Client, stream string, data [][]byte) []string {
	t.Helper()
	var seqs []string
	for len(data) > 0 {
		n := min(len(data), 500)
		in := &kinesis.PutRecordsInput{StreamName: aws.String(stream + ".events")}
		for i, d := range data[:n] {
			in.Records = append(in.Records, ktypes.PutRecordsRequestEntry{Data: d, PartitionKey: aws.String(fmt.Sprint("k", i))})
		}
		out, err := k.PutRecords(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToInt32(out.FailedRecordCount) != 0 {
			for _, r := range out.Records {
				if r.ErrorCode != nil {
					t.Fatalf("PutRecords refused an event: %s: %s", *r.ErrorCode, aws.ToString(r.ErrorMessage))
				}
			}
		}
		for _, r := range out.Records {
			seqs = append(seqs, *r.SequenceNumber)
		}
		data = data[n:]
	}
	return seqs
}

// TestEventsAPI records a real 20 s clip over RTSP, writes events with
// the Go SDK (a few while recording, then 1,000 spread over the clip),
// and reads them back by video time: /events returns exactly those that
// overlap a range, in order and paged; /timeline interleaves them with the
// fragments ListFragments lists; GetRecords on the event stream delivers
// them between the fragment notices.
func TestEventsAPI(t *testing.T) {
	mediatest.RequireTool(t, "ffmpeg")
	t.Parallel()
	e := servertest.Start(t)
	ctx := servertest.Context(t, 3*time.Minute)
	k := e.Kinesis()
	start := time.Now()
	_, _, done := publish(ctx, e.RTSPURL("cam"), 0, "tcp")

	// While recording: a note every 400 ms, timed by the wall clock.
	var evs []written
	ticks := time.NewTicker(400 * time.Millisecond)
	var pubErr error
recording:
	for i := 0; ; i++ {
		select {
		case pubErr = <-done:
			break recording
		case <-ticks.C:
		}
		at := time.Now().Truncate(time.Millisecond)
		d := fmt.Appendf(nil, `{"type":"note","time":%q,"label":"tick"}`, at.UTC().Format(time.RFC3339Nano))
		out, err := k.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("cam.events"), PartitionKey: aws.String("n"), Data: d})
		if err != nil {
			if ctx.Err() != nil {
				t.Fatal(err)
			}
			continue // the stream is created by the first publication
		}
		evs = append(evs, written{id: *out.SequenceNumber, typ: "note", label: "tick", start: at.UnixNano(), end: at.UnixNano(), data: d})
	}
	ticks.Stop()
	if pubErr != nil {
		t.Fatal(pubErr)
	}
	notes := len(evs)
	if notes < 20 {
		t.Fatalf("only %d notes written while recording", notes)
	}
	am := e.ArchivedMedia()
	frags := waitFragments(ctx, t, am, "cam", types.FragmentSelectorTypeServerTimestamp, start, 10, 10*time.Second)
	if len(frags) != 10 {
		t.Fatalf("%d fragments recorded, want 10", len(frags))
	}
	base := e.URL + "/api/v1/streams/cam"

	// The fragments exactly, from the timeline of the whole clip before
	// any detection: ListFragments' fragments, with its members.
	clipFrom := frags[0].ProducerTimestamp.Add(-time.Second).UnixNano()
	clipTo := frags[9].ProducerTimestamp.Add(3 * time.Second).UnixNano()
	var tf []apiFragment
	for _, it := range timelinePages(t, base, url.Values{"start": {rfc(clipFrom)}, "end": {rfc(clipTo)}, "kinds": {"fragment"}}, 1000) {
		if it.Kind != "fragment" || it.Fragment == nil {
			t.Fatalf("timeline item %+v with kinds=fragment", it)
		}
		tf = append(tf, *it.Fragment)
	}
	if len(tf) != 10 {
		t.Fatalf("timeline of the clip has %d fragments, ListFragments %d", len(tf), len(frags))
	}
	for i, f := range tf {
		lf := frags[i]
		if f.FragmentNumber != *lf.FragmentNumber || f.FragmentSizeInBytes != lf.FragmentSizeInBytes ||
			f.FragmentLengthInMilliseconds != lf.FragmentLengthInMilliseconds ||
			f.ProducerTimestamp.Sub(*lf.ProducerTimestamp).Abs() > time.Millisecond || f.ServerTimestamp.Sub(*lf.ServerTimestamp).Abs() > time.Millisecond {
			t.Errorf("timeline fragment %d = %+v, ListFragments %+v", i, f, lf)
		}
	}
	p0 := tf[0].ProducerTimestamp.UnixNano()
	fragEnd := func(f apiFragment) int64 {
		return f.ProducerTimestamp.UnixNano() + f.FragmentLengthInMilliseconds*int64(time.Millisecond)
	}
	span := fragEnd(tf[9]) - p0

	// 1,000 detections spread over the clip, 2 ms apart from each other's
	// grid; some last, and a few sit on the edges of the range read below.
	labels := []string{"person", "car", "dog", "bicycle"}
	base0 := time.Unix(0, p0).Truncate(time.Millisecond)
	step := time.Duration(span/1000).Truncate(time.Millisecond) + time.Millisecond
	const (
		fromIdx = 250
		toIdx   = 600
	)
	from := base0.Add(time.Duration(fromIdx) * step).UnixNano()
	to := base0.Add(time.Duration(toIdx) * step).UnixNano()
	data := make([][]byte, 1000)
	det := make([]written, 1000)
	for i := range data {
		at := base0.Add(time.Duration(i)*step + time.Millisecond) // off the grid of from and to
		dur := 0.0
		switch {
		case i == fromIdx-10: // ends exactly at from: not in [from, to)
			at = time.Unix(0, from).Add(-500 * time.Millisecond)
			dur = 0.5
		case i == fromIdx-11: // reaches past from: in
			at = time.Unix(0, from).Add(-500 * time.Millisecond)
			dur = 0.75
		case i == fromIdx: // starts at from: in
			at = time.Unix(0, from)
		case i == toIdx: // starts at to: out
			at = time.Unix(0, to)
		case i%7 == 0:
			dur = 1.5
		}
		label := labels[i%len(labels)]
		typ := "detection"
		if i%10 == 9 {
			typ = "motion"
		}
		score := float64(i%100) / 100
		data[i] = fmt.Appendf(nil, `{"type":%q,"time":%q,"duration":%g,"label":%q,"score":%g,"box":[0.1,0.2,0.3,0.4],"attributes":{"i":%d}}`,
			typ, at.UTC().Format(time.RFC3339Nano), dur, label, score, i)
		det[i] = written{typ: typ, label: label, start: at.UnixNano(), end: at.UnixNano() + int64(dur*float64(time.Second)), data: data[i]}
	}
	for i, seq := range putEvents(ctx, t, k, "cam", data) {
		det[i].id = seq
	}
	evs = append(evs, det...)

	t.Run("range", func(t *testing.T) {
		want := expect(evs, from, to, nil)
		got, pages := eventPages(t, base, url.Values{"start": {rfc(from)}, "end": {rfc(to)}, "limit": {"37"}}, 37)
		if !slices.Equal(idsOf(got), want) {
			t.Fatalf("events of [%s, %s): %d, want %d\n got %v\nwant %v", rfc(from), rfc(to), len(got), len(want), idsOf(got), want)
		}
		if wantPages := (len(want) + 36) / 37; pages < wantPages || pages > wantPages+1 {
			t.Errorf("%d events in %d pages of 37", len(want), pages)
		}
		has := func(i int) bool { return slices.Contains(want, det[i].id) }
		if !has(fromIdx) || has(toIdx) || has(fromIdx-10) || !has(fromIdx-11) {
			t.Errorf("edges: start at from %v, start at to %v, end at from %v, across from %v", has(fromIdx), has(toIdx), has(fromIdx-10), has(fromIdx-11))
		}
		for i := 1; i < len(got); i++ {
			if got[i].Time.Before(got[i-1].Time) {
				t.Fatalf("event %d at %s after %s", i, got[i].Time, got[i-1].Time)
			}
		}
		// The events are what was written.
		byID := map[string]*written{}
		for i := range evs {
			byID[evs[i].id] = &evs[i]
		}
		for _, g := range got {
			w := byID[g.ID]
			if g.Time.UnixNano() != w.start || g.Type != w.typ || g.Label != w.label || g.ServerTime.IsZero() {
				t.Fatalf("event %+v, written %s", g, w.data)
			}
		}
	})

	t.Run("all", func(t *testing.T) {
		got, _ := eventPages(t, base, url.Values{"start": {rfc(clipFrom - int64(time.Minute))}, "end": {rfc(clipTo + int64(time.Minute))}, "limit": {"10000"}}, 10000)
		if want := expect(evs, clipFrom-int64(time.Minute), clipTo+int64(time.Minute), nil); len(got) != 1000+notes || !slices.Equal(idsOf(got), want) {
			t.Fatalf("%d events of the whole clip, want %d", len(got), 1000+notes)
		}
	})

	t.Run("filters", func(t *testing.T) {
		keep := func(w *written) bool { return w.typ == "detection" && (w.label == "person" || w.label == "dog") }
		want := expect(evs, from, to, keep)
		got, _ := eventPages(t, base, url.Values{"start": {rfc(from)}, "end": {rfc(to)}, "type": {"detection"}, "label": {"person,dog"}, "limit": {"50"}}, 50)
		if len(want) == 0 || !slices.Equal(idsOf(got), want) {
			t.Fatalf("filtered: %d events, want %d", len(got), len(want))
		}
	})

	t.Run("server time", func(t *testing.T) {
		// Mid-fragment server times map through their fragments.
		f2, f5 := tf[2], tf[5]
		half := func(f apiFragment) int64 { return f.FragmentLengthInMilliseconds * int64(time.Millisecond) / 2 }
		s, en := f2.ServerTimestamp.UnixNano()+half(f2), f5.ServerTimestamp.UnixNano()+half(f5)
		pf, pt := f2.ProducerTimestamp.UnixNano()+half(f2), f5.ProducerTimestamp.UnixNano()+half(f5)
		want := expect(evs, pf, pt, nil)
		got, _ := eventPages(t, base, url.Values{"start": {rfc(s)}, "end": {rfc(en)}, "timestampType": {"SERVER_TIMESTAMP"}, "limit": {"100"}}, 100)
		if len(want) == 0 || !slices.Equal(idsOf(got), want) {
			t.Fatalf("server-time range: %d events, want %d", len(got), len(want))
		}
		// Server times without video: no events.
		got, _ = eventPages(t, base, url.Values{"start": {rfc(start.Add(-time.Hour).UnixNano())}, "end": {rfc(start.Add(-time.Minute).UnixNano())}, "timestampType": {"SERVER_TIMESTAMP"}}, 1000)
		if len(got) != 0 {
			t.Fatalf("%d events at server times without video", len(got))
		}
	})

	t.Run("timeline", func(t *testing.T) {
		items := timelinePages(t, base, url.Values{"start": {rfc(from)}, "end": {rfc(to)}, "limit": {"41"}}, 41)
		var gotEvents []string
		var gotFrags []string
		var wantFrags []string
		for _, f := range tf {
			if f.ProducerTimestamp.UnixNano() < to && fragEnd(f) > from {
				wantFrags = append(wantFrags, f.FragmentNumber)
			}
		}
		var last int64
		var cur *apiFragment
		for i, it := range items {
			var at int64
			switch it.Kind {
			case "fragment":
				gotFrags = append(gotFrags, it.Fragment.FragmentNumber)
				at, cur = it.Fragment.ProducerTimestamp.UnixNano(), it.Fragment
			case "event":
				gotEvents = append(gotEvents, it.Event.ID)
				at = it.Event.Time.UnixNano()
				// Inside the clip, the fragment before an event is the one
				// that holds its start.
				if cur != nil && at >= fragEnd(*cur)+int64(time.Millisecond) && at < fragEnd(tf[9]) && at >= from {
					t.Errorf("event %s at %s follows fragment %s (%s + %d ms)", it.Event.ID, it.Event.Time, cur.FragmentNumber, cur.ProducerTimestamp, cur.FragmentLengthInMilliseconds)
				}
			default:
				t.Fatalf("item %d: kind %q", i, it.Kind)
			}
			if at < last {
				t.Fatalf("item %d (%s) at %s before the one before it", i, it.Kind, rfc(at))
			}
			last = at
		}
		if !slices.Equal(gotEvents, expect(evs, from, to, nil)) {
			t.Errorf("timeline has %d events, /events %d", len(gotEvents), len(expect(evs, from, to, nil)))
		}
		if len(wantFrags) < 3 || !slices.Equal(gotFrags, wantFrags) {
			t.Errorf("timeline fragments %v, want %v", gotFrags, wantFrags)
		}
	})

	t.Run("GetRecords", func(t *testing.T) {
		it, err := k.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String("cam.events"), ShardId: aws.String("shardId-000000000000"), ShardIteratorType: ktypes.ShardIteratorTypeTrimHorizon})
		if err != nil {
			t.Fatal(err)
		}
		var kinds []string // "f" a fragment notice, "n" a note, "d" a detection
		byID := map[string]*written{}
		for i := range evs {
			byID[evs[i].id] = &evs[i]
		}
		seen := 0
		iter := it.ShardIterator
		for iter != nil {
			out, err := k.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range out.Records {
				if w, ok := byID[*r.SequenceNumber]; ok {
					if string(r.Data) != string(w.data) {
						t.Fatalf("record %s = %s, written %s", *r.SequenceNumber, r.Data, w.data)
					}
					kinds = append(kinds, w.typ[:1])
					seen++
					continue
				}
				var n struct{ Type string }
				if json.Unmarshal(r.Data, &n) != nil || n.Type != "fragment" {
					t.Fatalf("record %s is neither a notice nor written: %s", *r.SequenceNumber, r.Data)
				}
				kinds = append(kinds, "f")
			}
			if aws.ToInt64(out.MillisBehindLatest) == 0 && len(out.Records) == 0 {
				break
			}
			iter = out.NextShardIterator
		}
		all := strings.Join(kinds, "")
		if seen != len(evs) || strings.Count(all, "f") != 10 {
			t.Fatalf("GetRecords: %d of %d written, %d notices", seen, len(evs), strings.Count(all, "f"))
		}
		// The notes written while recording come between the notices.
		if !strings.Contains(all, "nf") || !strings.Contains(all, "fn") {
			t.Errorf("notices and notes not interleaved: %s", all[:strings.LastIndex(all, "n")+1])
		}
	})
}
