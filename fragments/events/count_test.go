package events_test

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/eddy-video/eddy/datastreams"
	"github.com/eddy-video/eddy/fragments/events"
)

func entries(recs []string) []datastreams.PutEntry {
	es := make([]datastreams.PutEntry, len(recs))
	for i, r := range recs {
		es[i] = datastreams.PutEntry{Key: []byte("k"), Data: []byte(r)}
	}
	return es
}

// TestCount: Count agrees with the events Query reads for ranges with
// edges inside buckets and events spanning several, and stops at its
// limit.
func TestCount(t *testing.T) {
	c := openCore(t, t.TempDir())
	defer c.Close()
	tl, err := events.Open(eventStream(t, c), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tl.Close()
	base := time.Now().UTC().Truncate(time.Hour).Add(-3 * time.Hour)
	var recs []string
	for i := range 200 {
		at := base.Add(time.Duration(i) * 50 * time.Second) // 0 .. 2.8 h
		recs = append(recs, fmt.Sprintf(`{"type":"detection","time":%q}`, at.Format(time.RFC3339Nano)))
	}
	// Two long events (over many quarter-hours) and a record that is none.
	recs = append(recs, fmt.Sprintf(`{"type":"motion","time":%q,"duration":3600}`, base.Add(10*time.Minute).Format(time.RFC3339Nano)),
		fmt.Sprintf(`{"type":"motion","time":%q,"duration":5400}`, base.Add(80*time.Minute).Format(time.RFC3339Nano)), `plain`)
	for _, r := range put(t, eventStream(t, c), recs...) {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	query := func(from, to int64) int {
		n := 0
		for q := (events.Query{From: from, To: to, Limit: events.MaxLimit}); ; {
			p, err := tl.Query(q)
			if err != nil {
				t.Fatal(err)
			}
			n += len(p.Events)
			if p.Next == "" {
				return n
			}
			q.After = p.Next
		}
	}
	for _, r := range [][2]time.Duration{{0, 3 * time.Hour}, {7 * time.Minute, 9 * time.Minute}, {65 * time.Minute, 66 * time.Minute},
		{31 * time.Minute, 2*time.Hour + 3*time.Minute}, {-time.Hour, 0}, {2 * time.Hour, 10 * time.Hour}} {
		from, to := base.Add(r[0]).UnixNano(), base.Add(r[1]).UnixNano()
		got, err := tl.Count(from, to, math.MaxInt)
		if err != nil {
			t.Fatal(err)
		}
		if want := query(from, to); got != want {
			t.Errorf("Count [%v, %v): %d, Query reads %d", r[0], r[1], got, want)
		}
	}
	if n, _ := tl.Count(base.UnixNano(), math.MaxInt64, math.MaxInt); n != 202 {
		t.Errorf("everything from base on: %d, want 202", n)
	}
	if n, _ := tl.Count(base.UnixNano(), math.MaxInt64, 50); n != 50 {
		t.Errorf("with limit 50: %d", n)
	}
}

// BenchmarkCountDay counts the events of the last 24 hours of a timeline
// holding one event a second over those hours (86,400 events in 96
// quarter-hour files): the work GET /api/v1/streams does per stream for
// its eventsToday, with the buckets in the timeline's cache (the list is
// polled) and with eventsCountCap's limit of 10,000.
//
//	go test -run '^$' -bench BenchmarkCountDay ./fragments/events/
func BenchmarkCountDay(b *testing.B) {
	c := openCore(b, b.TempDir())
	defer c.Close()
	s := eventStream(b, c)
	tl, err := events.Open(s, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer tl.Close()
	now := time.Now().UTC()
	start := now.Add(-24 * time.Hour)
	var recs []string
	for i := range 86400 {
		recs = append(recs, fmt.Sprintf(`{"type":"detection","label":"person","time":%q}`, start.Add(time.Duration(i)*time.Second).Format(time.RFC3339Nano)))
		if len(recs) == 500 || i == 86399 {
			if _, err := s.Put(entries(recs)); err != nil {
				b.Fatal(err)
			}
			recs = recs[:0]
		}
	}
	for _, limit := range []int{math.MaxInt, 10000} {
		b.Run(fmt.Sprint("limit=", limit), func(b *testing.B) {
			for b.Loop() {
				n, err := tl.Count(start.UnixNano(), math.MaxInt64, limit)
				if err != nil || n != min(86400, limit) {
					b.Fatalf("%d %v", n, err)
				}
			}
		})
	}
}
