package events_test

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/eddy-video/eddy/datastreams"
	"github.com/eddy-video/eddy/datastreams/datastreamstest"
	"github.com/eddy-video/eddy/fragments/events"
	"github.com/eddy-video/eddy/fragments/fragmentstest"
)

func putEvents(t *testing.T, s *datastreams.Stream, base time.Time, from, n int) []string {
	t.Helper()
	recs := make([]string, n)
	for i := range n {
		recs[i] = fmt.Sprintf(`{"type":"detection","time":%q,"label":"car"}`, base.Add(time.Duration(from+i)*time.Second).Format(time.RFC3339Nano))
	}
	var ids []string
	for _, r := range put(t, s, recs...) {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
		ids = append(ids, datastreams.EncodeSeq(0, r.Seq))
	}
	return ids
}

// TestTimelineOpensWhileObjectStoreDown: an event log whose sealed
// segments are all cold, the object store down. Open (after a restart,
// and after the timeline directory is lost as by a restore) does not
// fail: it logs once that it waits for object storage and catches up in
// the background; events put meanwhile are indexed at once; Close during
// the wait returns promptly; once the store answers, the timeline holds
// exactly what it held before, plus the new events, and says so at INFO.
func TestTimelineOpensWhileObjectStoreDown(t *testing.T) {
	for _, lost := range []bool{false, true} {
		t.Run(map[bool]string{false: "restart", true: "rebuild"}[lost], func(t *testing.T) {
			cold := fragmentstest.NewCold(t)
			c := &datastreams.Core{Dir: t.TempDir(), OpenLog: cold.OpenLog(4<<10, nil)}
			if err := c.Initialize(); err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			s := eventStream(t, c)
			tl, err := events.Open(s, nil)
			if err != nil {
				t.Fatal(err)
			}
			base := time.Now().UTC().Truncate(time.Hour).Add(-3 * time.Hour)
			var want []string
			for i := range 40 {
				want = append(want, putEvents(t, s, base, i*50, 50)...)
			}
			if got := fragmentstest.EventIDs(t, tl); !slices.Equal(got, want) {
				t.Fatalf("%d events indexed, want %d", len(got), len(want))
			}
			tl.Close()
			sh, _ := s.Shard(0)
			if n := cold.Tier(t, sh.Log()); n < 5 {
				t.Fatalf("%d cold segments, want several", n)
			}
			if lost {
				if err := os.RemoveAll(filepath.Join(s.Dir(), events.TimelineDir)); err != nil {
					t.Fatal(err)
				}
			}
			cold.SetDown(true)
			logs := &datastreamstest.SyncBuffer{}
			logger := slog.New(slog.NewTextHandler(logs, nil))

			// Close while waiting returns at once.
			tl, err = events.Open(s, logger)
			if err != nil {
				t.Fatalf("Open with the object store down: %v", err)
			}
			if !tl.CatchingUp() {
				t.Fatal("Open with the object store down does not catch up in the background")
			}
			start := time.Now()
			tl.Close()
			if d := time.Since(start); d > time.Second {
				t.Fatalf("Close during the catch-up took %v", d)
			}

			tl, err = events.Open(s, logger)
			if err != nil {
				t.Fatalf("Open with the object store down: %v", err)
			}
			defer tl.Close()
			fresh := putEvents(t, s, base, 2000, 10)
			got := fragmentstest.EventIDs(t, tl)
			for _, id := range fresh {
				if !slices.Contains(got, id) {
					t.Fatalf("event %s put during the outage is not indexed at once", id)
				}
			}
			time.Sleep(1500 * time.Millisecond) // a retry or two, still down
			if !tl.CatchingUp() {
				t.Fatal("the catch-up ended while the object store is down")
			}
			cold.SetDown(false)
			deadline := time.Now().Add(10 * time.Second)
			for tl.CatchingUp() {
				if time.Now().After(deadline) {
					t.Fatal("no catch-up 10 s after the object store came back")
				}
				time.Sleep(20 * time.Millisecond)
			}
			want = append(want, fresh...)
			if got := fragmentstest.EventIDs(t, tl); !slices.Equal(got, want) {
				t.Fatalf("after the catch-up: %d events, want %d", len(got), len(want))
			}
			out := logs.String()
			// At most once per Open (the first closed at once, maybe before
			// its first read), and once for the Open that waited.
			if n := strings.Count(out, "waiting for object storage"); n < 1 || n > 2 {
				t.Fatalf("%d warnings of waiting for object storage, want one per open that waited:\n%s", n, out)
			}
			if !strings.Contains(out, "level=INFO msg=\"event index caught up") {
				t.Fatalf("no INFO once caught up:\n%s", out)
			}
		})
	}
}

// TestTimelineLongRebuildInBackground: a timeline rebuilt from a log
// longer than Open reads before it returns (all local here) indexes the
// rest in the background, says so, and ends with every event indexed.
func TestTimelineLongRebuildInBackground(t *testing.T) {
	c := openCore(t, t.TempDir())
	defer c.Close()
	s := eventStream(t, c)
	tl, err := events.Open(s, nil)
	if err != nil {
		t.Fatal(err)
	}
	base := time.Now().UTC().Truncate(time.Hour).Add(-4 * time.Hour)
	var want []string
	for i := range 20 {
		want = append(want, putEvents(t, s, base, i*500, 500)...)
	}
	tl.Close()
	if err := os.RemoveAll(filepath.Join(s.Dir(), events.TimelineDir)); err != nil {
		t.Fatal(err)
	}
	logs := &datastreamstest.SyncBuffer{}
	tl, err = events.Open(s, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer tl.Close()
	deadline := time.Now().Add(10 * time.Second)
	for tl.CatchingUp() {
		if time.Now().After(deadline) {
			t.Fatal("no catch-up in 10 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := fragmentstest.EventIDs(t, tl); !slices.Equal(got, want) {
		t.Fatalf("%d events indexed, want %d", len(got), len(want))
	}
	if out := logs.String(); !strings.Contains(out, "indexing the rest of the event log in the background") || !strings.Contains(out, "event index caught up") {
		t.Fatalf("the background rebuild is not logged:\n%s", out)
	}
}

// TestTimelineCloseDuringSlowColdCatchUp: Close while the background
// catch-up reads cold segments from a slow object store returns promptly
// (it waits for one small batch, the read not being cancellable).
func TestTimelineCloseDuringSlowColdCatchUp(t *testing.T) {
	cold := fragmentstest.NewCold(t)
	c := &datastreams.Core{Dir: t.TempDir(), OpenLog: cold.OpenLog(4<<10, nil)}
	if err := c.Initialize(); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s := eventStream(t, c)
	tl, err := events.Open(s, nil)
	if err != nil {
		t.Fatal(err)
	}
	base := time.Now().UTC().Truncate(time.Hour).Add(-3 * time.Hour)
	for i := range 10 {
		putEvents(t, s, base, i*500, 500)
	}
	tl.Close()
	sh, _ := s.Shard(0)
	if n := cold.Tier(t, sh.Log()); n < 2 {
		t.Fatalf("%d cold segments, want several", n)
	}
	if err := os.RemoveAll(filepath.Join(s.Dir(), events.TimelineDir)); err != nil {
		t.Fatal(err)
	}
	cold.SetDelay(100 * time.Millisecond)
	tl, err = events.Open(s, nil)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for cold.Reads() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no cold read in 10 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	start := time.Now()
	tl.Close()
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Fatalf("Close during a slow cold catch-up took %v (%d cold reads)", d, cold.Reads())
	}
}
