package events_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eddy-video/eddy/datastreams"
	"github.com/eddy-video/eddy/fragments/events"
)

func openCore(t testing.TB, dir string) *datastreams.Core {
	t.Helper()
	c := &datastreams.Core{Dir: dir}
	if err := c.Initialize(); err != nil {
		t.Fatal(err)
	}
	return c
}

func eventStream(t testing.TB, c *datastreams.Core) *datastreams.Stream {
	t.Helper()
	s, err := c.Stream("cam.events")
	if err == nil {
		return s
	}
	s, err = c.CreateStream("cam.events", datastreams.CreateOptions{ShardCount: 1, Mode: datastreams.ModeOnDemand,
		RetentionHours: 24, Kind: datastreams.StreamKindEvents, Immediate: true})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func put(t *testing.T, s *datastreams.Stream, recs ...string) []datastreams.PutResult {
	t.Helper()
	es := make([]datastreams.PutEntry, len(recs))
	for i, r := range recs {
		es[i] = datastreams.PutEntry{Key: []byte("k"), Data: []byte(r)}
	}
	res, err := s.Put(es)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// TestTimeline writes events across three hours (one spanning two), reads
// ranges with edges, filters and pages, and reads them again after a
// restart and after the index is lost.
func TestTimeline(t *testing.T) {
	dir := t.TempDir()
	c := openCore(t, dir)
	s := eventStream(t, c)
	tl, err := events.Open(s, nil)
	if err != nil {
		t.Fatal(err)
	}
	sub := tl.Subscribe(1000)
	base := time.Now().UTC().Truncate(time.Hour).Add(-2 * time.Hour)
	var recs []string
	for i := range 300 {
		at := base.Add(time.Duration(i) * 30 * time.Second) // 0 .. 2.5 h
		recs = append(recs, fmt.Sprintf(`{"type":"detection","time":%q,"label":%q,"score":0.5,"box":[0.1,0.1,0.2,0.2]}`,
			at.Format(time.RFC3339Nano), []string{"person", "car"}[i%2]))
	}
	// One long event from 0:50 for 20 minutes, one non-event, one refused.
	recs = append(recs, fmt.Sprintf(`{"type":"motion","time":%q,"duration":1200}`, base.Add(50*time.Minute).Format(time.RFC3339Nano)),
		`not json`, `{"type":"detection","box":[0.5,0.5,0.6,0.1]}`)
	res := put(t, s, recs...)
	var de *datastreams.Error
	if !errors.As(res[len(res)-1].Err, &de) || de.Kind != datastreams.KindInvalidArgument {
		t.Fatalf("refused record: %v", res[len(res)-1].Err)
	}
	for _, r := range res[:len(res)-1] {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	if got := len(sub.C()); got != 301 {
		t.Fatalf("live events %d, want 301", got)
	}
	check := func(tl *events.Timeline) {
		t.Helper()
		// [1:00, 1:10): 20 detections, and the motion event (0:50–1:10).
		q := events.Query{From: base.Add(time.Hour).UnixNano(), To: base.Add(70 * time.Minute).UnixNano()}
		p, err := tl.Query(q)
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Events) != 21 || p.Events[0].Type != "motion" || p.Next != "" {
			t.Fatalf("got %d events, first %+v", len(p.Events), p.Events[0])
		}
		for i := 1; i < len(p.Events); i++ {
			if p.Events[i].Time.Before(p.Events[i-1].Time) {
				t.Fatal("out of order")
			}
		}
		// Paged, filtered by label, across hours: the 150 cars of 0–2.5 h.
		q = events.Query{From: base.UnixNano(), To: base.Add(3 * time.Hour).UnixNano(), Labels: []string{"car"}, Limit: 40}
		seen := map[string]bool{}
		for pages := 0; ; pages++ {
			p, err := tl.Query(q)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range p.Events {
				if e.Label != "car" || seen[e.ID] {
					t.Fatalf("event %+v", e)
				}
				seen[e.ID] = true
			}
			if p.Next == "" {
				break
			}
			q.After = p.Next
		}
		if len(seen) != 150 {
			t.Fatalf("paged %d cars, want 150", len(seen))
		}
		// End exclusive, start inclusive for instants.
		at := base.Add(30 * time.Second).UnixNano()
		p, _ = tl.Query(events.Query{From: at, To: at + 1})
		if len(p.Events) != 1 {
			t.Fatalf("[at, at+1ns): %d", len(p.Events))
		}
		p, _ = tl.Query(events.Query{From: at - int64(time.Second), To: at})
		if len(p.Events) != 0 {
			t.Fatalf("[at-1s, at): %d", len(p.Events))
		}
	}
	check(tl)
	tl.Close()
	// Restart: the index on disk.
	tl, err = events.Open(s, nil)
	if err != nil {
		t.Fatal(err)
	}
	check(tl)
	tl.Close()
	// A damaged hour file (garbage in the middle, a torn entry at the
	// end) loses nothing: the damaged bytes are skipped and the records
	// are indexed again from the log.
	hourFile := filepath.Join(s.Dir(), "timeline", base.Add(time.Hour).Format("2006/01/02/1504")+".ev")
	b, err := os.ReadFile(hourFile)
	if err != nil {
		t.Fatal(err)
	}
	mid := len(b) / 2
	b = append(append(append([]byte{}, b[:mid]...), []byte("garbage garbage garbage")...), b[mid:]...)
	b = append(b, b[:40]...) // a torn copy of the first entry
	if err := os.WriteFile(hourFile, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if tl, err = events.Open(s, nil); err != nil {
		t.Fatal(err)
	}
	check(tl)
	tl.Close()
	// The index lost altogether is rebuilt from the log.
	if err := os.RemoveAll(filepath.Join(s.Dir(), "timeline")); err != nil {
		t.Fatal(err)
	}
	if tl, err = events.Open(s, nil); err != nil {
		t.Fatal(err)
	}
	check(tl)
	tl.Close()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestRefusedWritesNothing: a refused record takes no sequence number and
// is not delivered; the others of the call are.
func TestRefusedWritesNothing(t *testing.T) {
	c := openCore(t, t.TempDir())
	defer c.Close()
	s := eventStream(t, c)
	tl, err := events.Open(s, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tl.Close()
	res := put(t, s, `{"type":"a"}`, `{"type":"a","score":2}`, `{"type":"a"}`)
	if res[1].Err == nil || res[0].Err != nil || res[2].Err != nil || res[2].Seq != res[0].Seq+1 {
		t.Fatalf("results %+v", res)
	}
	sh, _ := s.Shard(0)
	rr, err := s.Read(sh, 0, 100, 1<<20, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(rr.Records) != 2 {
		t.Fatalf("%d records stored, want 2", len(rr.Records))
	}
	if tl.Refused() != 1 || tl.Indexed() != 2 {
		t.Fatalf("refused %d indexed %d", tl.Refused(), tl.Indexed())
	}
}

// TestSlowSubscriber: a subscriber that never reads loses events beyond
// its buffer (counted) and holds up neither writers nor other readers.
func TestSlowSubscriber(t *testing.T) {
	c := openCore(t, t.TempDir())
	defer c.Close()
	s := eventStream(t, c)
	tl, err := events.Open(s, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tl.Close()
	slow, fast := tl.Subscribe(4), tl.Subscribe(200)
	got := make(chan int)
	go func() {
		n := 0
		for range fast.C() {
			n++
		}
		got <- n
	}()
	changed := tl.Changed()
	for range 100 {
		put(t, s, `{"type":"x"}`)
	}
	select {
	case <-changed:
	default:
		t.Fatal("Changed not closed")
	}
	fast.Close()
	if n := <-got; n != 100 {
		t.Fatalf("fast reader got %d of 100", n)
	}
	if slow.Dropped() != 96 || tl.Dropped() != 96 || len(slow.C()) != 4 {
		t.Fatalf("slow: dropped %d (timeline %d), buffered %d", slow.Dropped(), tl.Dropped(), len(slow.C()))
	}
	slow.Close()
}

// TestTrimFollowsRecords: a bucket file goes when every record it indexes
// is gone from the log, and not before, whatever the producer clock says
// (here it runs three hours behind the server's).
func TestTrimFollowsRecords(t *testing.T) {
	var now atomic.Int64
	now.Store(time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC).UnixNano())
	c := &datastreams.Core{Dir: t.TempDir(), SegmentDuration: time.Minute, Now: func() time.Time { return time.Unix(0, now.Load()) }}
	if err := c.Initialize(); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := c.CreateStream("cam.events", datastreams.CreateOptions{ShardCount: 1, Mode: datastreams.ModeOnDemand,
		RetentionHours: 1, Kind: datastreams.StreamKindEvents, Immediate: true})
	if err != nil {
		t.Fatal(err)
	}
	tl, err := events.Open(s, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tl.Close()
	at := func(h, m int) string {
		return time.Date(2026, 12, 6, h, m, 0, 0, time.UTC).Format(time.RFC3339Nano)
	}
	// Batch A at 12:00, about 09:xx (one event lasting into 10:xx).
	put(t, s, fmt.Sprintf(`{"type":"a","time":%q}`, at(9, 10)), fmt.Sprintf(`{"type":"a","time":%q,"duration":3600}`, at(9, 50)))
	// Batch B two hours later, about 10:xx and 11:xx: three hours behind.
	now.Add(int64(2 * time.Hour))
	put(t, s, fmt.Sprintf(`{"type":"b","time":%q}`, at(10, 20)), fmt.Sprintf(`{"type":"b","time":%q}`, at(11, 20)))
	file := func(hm string) string {
		return filepath.Join(s.Dir(), "timeline", "2026/12/06/"+hm+".ev")
	}
	tl.Trim() // nothing expired yet
	for _, hm := range []string{"0900", "0945", "1000", "1015", "1030", "1045", "1115"} {
		if _, err := os.Stat(file(hm)); err != nil {
			t.Fatalf("%s: %v", hm, err)
		}
	}
	if _, _, err := s.EnforceRetention(); err != nil { // batch A is 2 h old: gone
		t.Fatal(err)
	}
	tl.Trim()
	for _, hm := range []string{"0900", "0945", "1000", "1030", "1045"} { // batch A's alone
		if _, err := os.Stat(file(hm)); !os.IsNotExist(err) {
			t.Fatalf("%s (only expired records) still there: %v", hm, err)
		}
	}
	for _, hm := range []string{"1015", "1115"} { // batch B's, one with A's long event
		if _, err := os.Stat(file(hm)); err != nil {
			t.Fatalf("%s (records retained, producer clock 3 h behind) trimmed: %v", hm, err)
		}
	}
	p, err := tl.Query(events.Query{From: time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC).UnixNano(), To: time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC).UnixNano()})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Events) != 2 || p.Events[0].Type != "b" || p.Events[1].Type != "b" {
		t.Fatalf("after trim: %+v", p.Events)
	}
}

// TestPageBytes: a page ends at MaxPageBytes of events even below the
// limit, and paging still returns every event once.
func TestPageBytes(t *testing.T) {
	c := openCore(t, t.TempDir())
	defer c.Close()
	s := eventStream(t, c)
	tl, err := events.Open(s, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tl.Close()
	big := strings.Repeat("x", 15000)
	base := time.Now().Add(-time.Minute)
	var recs []string
	for i := range 600 { // about 9 MB of event JSON
		recs = append(recs, fmt.Sprintf(`{"type":"big","time":%q,"attributes":{"pad":%q}}`, base.Add(time.Duration(i)*time.Millisecond).Format(time.RFC3339Nano), big))
	}
	for i := 0; i < len(recs); i += 100 {
		put(t, s, recs[i:i+100]...)
	}
	q := events.Query{From: base.UnixNano(), To: time.Now().UnixNano(), Limit: events.MaxLimit, Raw: true}
	seen, pages := 0, 0
	for {
		p, err := tl.Query(q)
		if err != nil {
			t.Fatal(err)
		}
		size := 0
		for _, r := range p.Raw {
			size += len(r)
		}
		if size > events.MaxPageBytes+16<<10 {
			t.Fatalf("page of %d bytes", size)
		}
		seen += len(p.Raw)
		pages++
		if p.Next == "" {
			break
		}
		q.After = p.Next
	}
	if seen != 600 || pages < 3 {
		t.Fatalf("%d events in %d pages", seen, pages)
	}
}

// TestWatermark: the watermark passes only ranges every record of which
// went through the index, so a restart indexes again from the first
// record a crash could have lost.
func TestWatermark(t *testing.T) {
	dir := t.TempDir()
	c := openCore(t, dir)
	s := eventStream(t, c)
	tl, err := events.Open(s, nil)
	if err != nil {
		t.Fatal(err)
	}
	for range 10 {
		put(t, s, `{"type":"x"}`, `{"type":"y"}`)
	}
	tl.Close()
	b, err := os.ReadFile(filepath.Join(s.Dir(), "timeline", "indexed"))
	if err != nil || len(b) != 8 {
		t.Fatalf("watermark %x %v", b, err)
	}
	_, next := mustShard(t, s).Log().Bounds()
	if got := binary.LittleEndian.Uint64(b); got != next {
		t.Fatalf("watermark %d after a clean close, want the log's next %d", got, next)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
}

func mustShard(t *testing.T, s *datastreams.Stream) *datastreams.Shard {
	t.Helper()
	sh, err := s.Shard(0)
	if err != nil {
		t.Fatal(err)
	}
	return sh
}

// TestKilledBeforeFirstFlush: a server killed within the first flush
// period after a timeline was made (its watermark not written by a flush
// yet) lists every acknowledged event as soon as the timeline opens again,
// even when the log holds more records than Open indexes before it
// returns: the index files already hold them (each event is indexed before
// its Put is acknowledged), so they are kept, not rebuilt in the
// background while a reader is told the events are not there.
func TestKilledBeforeFirstFlush(t *testing.T) {
	dir := t.TempDir()
	c := openCore(t, dir)
	s := eventStream(t, c)
	tl, err := events.Open(s, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The watermark file as Open left it, before any flush wrote to it.
	wmPath := filepath.Join(s.Dir(), "timeline", "indexed")
	atOpen, err := os.ReadFile(wmPath)
	if err != nil {
		t.Fatal(err)
	}
	// More records than Open indexes synchronously (twice its margin of
	// 4096), the last in a quarter-hour of its own so that reading it is
	// quick.
	const n, batch = 40000, 1000
	base := time.Now().UTC().Add(-3 * time.Hour).Truncate(time.Hour)
	for i := 0; i < n; i += batch {
		recs := make([]string, batch)
		for k := range recs {
			at := base.Add(time.Duration(i+k) * time.Microsecond)
			if i+k == n-1 {
				at = base.Add(time.Hour)
			}
			recs[k] = fmt.Sprintf(`{"type":"detection","time":%q,"label":"e%d"}`, at.Format(time.RFC3339Nano), i+k)
		}
		for _, r := range put(t, s, recs...) {
			if r.Err != nil {
				t.Fatal(r.Err)
			}
		}
	}
	tl.Close()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	// The kill: the index files hold every event, the watermark is what
	// Open wrote.
	if err := os.WriteFile(wmPath, atOpen, 0o644); err != nil {
		t.Fatal(err)
	}
	c = openCore(t, dir)
	defer c.Close()
	s = eventStream(t, c)
	tl, err = events.Open(s, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tl.Close()
	p, err := tl.Query(events.Query{From: base.Add(time.Hour).UnixNano(), To: base.Add(time.Hour + time.Second).UnixNano()})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Events) != 1 || p.Events[0].Label != fmt.Sprintf("e%d", n-1) {
		t.Fatalf("the last acknowledged event right after the restart: %d events %+v (watermark at open %x)", len(p.Events), p.Events, atOpen)
	}
	q := events.Query{From: base.UnixNano(), To: base.Add(time.Hour).UnixNano(), Limit: events.MaxLimit}
	seen := 0
	for {
		p, err := tl.Query(q)
		if err != nil {
			t.Fatal(err)
		}
		seen += len(p.Events)
		if p.Next == "" {
			break
		}
		q.After = p.Next
	}
	if seen != n-1 {
		t.Fatalf("%d of %d events listed right after the restart", seen, n-1)
	}
}
