package fragments_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eddy-video/eddy/datastreams"
	"github.com/eddy-video/eddy/datastreams/datastreamstest"
	"github.com/eddy-video/eddy/fragments"
	"github.com/eddy-video/eddy/fragments/events"
	"github.com/eddy-video/eddy/fragments/fragmentstest"
)

// coldNode is a core whose logs tier to a fragmentstest.Cold, and its
// video manager.
type coldNode struct {
	core *datastreams.Core
	m    *fragments.Manager
}

func openColdNode(t *testing.T, dir string, clk *datastreamstest.Clock, cold *fragmentstest.Cold, logs *strings.Builder) (*coldNode, error) {
	t.Helper()
	var logger *slog.Logger
	if logs != nil {
		logger = slog.New(slog.NewTextHandler(&lockedWriter{w: logs}, nil))
	}
	n := &coldNode{}
	n.core = &datastreams.Core{Dir: dir, Now: clk.Now, JanitorInterval: time.Hour, OpenLog: cold.OpenLog(32<<10, clk.Now), Logger: logger,
		AfterTrim: func(s *datastreams.Stream) { n.m.Trimmed(s) }}
	if err := n.core.Initialize(); err != nil {
		t.Fatal(err)
	}
	n.m = &fragments.Manager{Core: n.core, Logger: logger}
	if err := n.m.Initialize(); err != nil {
		_ = n.core.Close()
		return nil, err
	}
	return n, nil
}

func (n *coldNode) close() {
	n.m.Close()
	_ = n.core.Close()
}

// listAll returns the seqs the store lists, in order.
func listAll(t *testing.T, st *fragments.Store) []uint64 {
	t.Helper()
	var seqs []uint64
	for from := uint64(0); ; {
		es, next, err := st.List(fragments.IndexServerTime, time.Unix(0, 0), time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC), from, 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			seqs = append(seqs, e.Seq)
		}
		if next == 0 {
			return seqs
		}
		from = next
	}
}

// TestStoreOpensWhileObjectStoreDown: a video stream whose log and event
// log are cold (every sealed segment in the object store only), and whose
// fragment index lags into them (lost here: rebuilt from the log), with
// the timeline lost too (as after a restore) or not. With the object
// store down the manager opens; fragments appended meanwhile are durable
// but listed only after the ones before them; Close during the wait
// returns promptly; once the store is back, the index and the timeline
// catch up in the background and equal what an open with the store up
// gives.
func TestStoreOpensWhileObjectStoreDown(t *testing.T) {
	for _, restore := range []bool{false, true} {
		t.Run(map[bool]string{false: "index-lags", true: "restore"}[restore], func(t *testing.T) {
			clk := datastreamstest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
			cold := fragmentstest.NewCold(t)
			dir := t.TempDir()
			n, err := openColdNode(t, dir, clk, cold, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := n.m.CreateStream("cam", fragments.CreateOptions{RetentionHours: 24}); err != nil {
				t.Fatal(err)
			}
			st, _ := n.m.Store("cam")
			evs, _ := n.core.Stream("cam" + fragments.EventsSuffix)
			var before []uint64
			for range 100 {
				before = append(before, fragmentstest.AppendSynthetic(t, st, clk, 1, 3000)...)
				putEvent(t, evs, clk.Now())
			}
			if got := listAll(t, st); !slices.Equal(got, before) {
				t.Fatalf("listed %v, want %v", got, before)
			}
			eventsBefore := fragmentstest.EventIDs(t, st.Timeline())
			if len(eventsBefore) != 100 {
				t.Fatalf("%d events in the timeline, want 100", len(eventsBefore))
			}
			for _, name := range []string{"cam", "cam" + fragments.EventsSuffix} {
				s, _ := n.core.Stream(name)
				sh, _ := s.Shard(0)
				if k := cold.Tier(t, sh.Log()); k == 0 {
					t.Fatalf("%s: %d cold segments, want some", name, k)
				}
			}
			streamDir := st.Dir()
			eventsDir := evs.Dir()
			n.close()
			if err := os.RemoveAll(filepath.Join(streamDir, "fragments.idx")); err != nil {
				t.Fatal(err)
			}
			if restore {
				if err := os.RemoveAll(filepath.Join(eventsDir, events.TimelineDir)); err != nil {
					t.Fatal(err)
				}
			}

			cold.SetDown(true)
			logs := &strings.Builder{}
			n, err = openColdNode(t, dir, clk, cold, logs)
			if err != nil {
				t.Fatalf("open with the object store down: %v", err)
			}
			st, _ = n.m.Store("cam")
			if !st.CatchingUp() || !st.Timeline().CatchingUp() {
				t.Fatal("no background catch-up with the object store down")
			}
			start := time.Now()
			n.close()
			if d := time.Since(start); d > time.Second {
				t.Fatalf("Close during the catch-up took %v", d)
			}

			n, err = openColdNode(t, dir, clk, cold, logs)
			if err != nil {
				t.Fatalf("open with the object store down: %v", err)
			}
			st, _ = n.m.Store("cam")
			during := fragmentstest.AppendSynthetic(t, st, clk, 5, 3000)
			evs, _ = n.core.Stream("cam" + fragments.EventsSuffix)
			putEvent(t, evs, clk.Now())
			// The event put since open is there at once; the older ones
			// only when the timeline was kept.
			if got, wantN := fragmentstest.EventIDs(t, st.Timeline()), map[bool]int{false: 101, true: 1}[restore]; len(got) != wantN {
				t.Fatalf("timeline during the outage: %d events, want %d", len(got), wantN)
			}
			if got := listAll(t, st); len(got) != 0 {
				t.Fatalf("listed %v while the fragments before them cannot be indexed", got)
			}
			for _, seq := range during {
				if f, err := st.Read(seq); err != nil || f.Seq != seq {
					t.Fatalf("fragment %d appended during the outage: %v", seq, err)
				}
			}
			time.Sleep(1500 * time.Millisecond) // a retry or two, still down
			if !st.CatchingUp() {
				t.Fatal("the catch-up ended while the object store is down")
			}
			cold.SetDown(false)
			deadline := time.Now().Add(15 * time.Second)
			for st.CatchingUp() || st.Timeline().CatchingUp() {
				if time.Now().After(deadline) {
					t.Fatal("no catch-up 15 s after the object store came back")
				}
				time.Sleep(20 * time.Millisecond)
			}
			want := append(slices.Clone(before), during...)
			if got := listAll(t, st); !slices.Equal(got, want) {
				t.Fatalf("listed after the catch-up %v, want %v", got, want)
			}
			// New appends are indexed at once again.
			after := fragmentstest.AppendSynthetic(t, st, clk, 1, 3000)
			want = append(want, after...)
			if got := listAll(t, st); !slices.Equal(got, want) {
				t.Fatalf("listed after an append %v, want %v", got, want)
			}
			// Each fragment announced once: those of the outage by the
			// catch-up, those before it not again.
			if got := fragmentEvents(t, evs); !slices.Equal(got, want) {
				t.Fatalf("fragment events announced %v, want %v", got, want)
			}
			gotEvents := fragmentstest.EventIDs(t, st.Timeline())
			n.close()
			if len(gotEvents) != 101 || !slices.Equal(gotEvents[:100], eventsBefore) {
				t.Fatalf("timeline after the catch-up: %d events, want 101 (the first 100 as before)", len(gotEvents))
			}
			out := logs.String()
			// At most once per open (the first open closed at once, maybe
			// before its first read), and once for the open that waited.
			if k := strings.Count(out, "fragment index: waiting for object storage"); k < 1 || k > 2 {
				t.Fatalf("%d warnings of the fragment index waiting for object storage, want one per open that waited:\n%s", k, out)
			}
			if k := strings.Count(out, "event index: waiting for object storage"); k < 1 || k > 2 {
				t.Fatalf("%d warnings of the event index waiting for object storage, want one per open that waited:\n%s", k, out)
			}
			if !strings.Contains(out, "fragment index caught up") || !strings.Contains(out, "event index caught up") {
				t.Fatalf("no INFO once caught up:\n%s", out)
			}

			// What a normal open gives: the same.
			n, err = openColdNode(t, dir, clk, cold, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer n.close()
			st, _ = n.m.Store("cam")
			if got := listAll(t, st); !slices.Equal(got, want) {
				t.Fatalf("listed after a normal open %v, want %v", got, want)
			}
			if got := fragmentstest.EventIDs(t, st.Timeline()); !slices.Equal(got, gotEvents) {
				t.Fatalf("timeline after a normal open: %d events, want %d", len(got), len(gotEvents))
			}
		})
	}
}

// lockedWriter serializes writes of the logger's goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  *strings.Builder
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// putEvent puts a detection event at time at into the event stream.
func putEvent(t *testing.T, s *datastreams.Stream, at time.Time) {
	t.Helper()
	data := fmt.Sprintf(`{"type":"detection","time":%q,"label":"car"}`, at.Format(time.RFC3339Nano))
	res, err := s.Put([]datastreams.PutEntry{{Key: []byte("k"), Data: []byte(data)}})
	if err != nil || res[0].Err != nil {
		t.Fatalf("put event: %v %v", err, res)
	}
}

// fragmentEvents returns the fragment numbers the event stream announced,
// in order.
func fragmentEvents(t *testing.T, s *datastreams.Stream) []uint64 {
	t.Helper()
	sh, _ := s.Shard(0)
	var seqs []uint64
	for from := uint64(0); ; {
		res, err := s.Read(sh, from, 1000, 1<<20, false)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Records) == 0 {
			return seqs
		}
		for _, r := range res.Records {
			var e fragments.FragmentEvent
			if json.Unmarshal(r.Data, &e) == nil && e.Type == "fragment" {
				seq, ok := fragments.ParseFragmentNumber(e.FragmentNumber)
				if !ok {
					t.Fatalf("fragment event %s", r.Data)
				}
				if !bytes.HasPrefix(r.Data, []byte(`{"type":"fragment",`)) {
					// The timeline recognises a notice by its opening
					// without decoding it (events.isFragmentNotice).
					t.Fatalf("fragment notice %s does not open with its type", r.Data)
				}
				seqs = append(seqs, seq)
			}
		}
		from = res.Next
	}
}

// TestRestoredStoreOpensWithoutColdReads: a restored node (every sealed
// segment cold, the fragment index backup behind the log, no timeline) with
// a slow object store opens at once: the index and timeline catch up in the
// background, and then list what they listed before.
func TestRestoredStoreOpensWithoutColdReads(t *testing.T) {
	clk := datastreamstest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	cold := fragmentstest.NewCold(t)
	dir := t.TempDir()
	n, err := openColdNode(t, dir, clk, cold, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.m.CreateStream("cam", fragments.CreateOptions{RetentionHours: 24}); err != nil {
		t.Fatal(err)
	}
	st, _ := n.m.Store("cam")
	evs, _ := n.core.Stream("cam" + fragments.EventsSuffix)
	for range 100 {
		fragmentstest.AppendSynthetic(t, st, clk, 1, 3000)
		putEvent(t, evs, clk.Now())
	}
	want, wantEvents := listAll(t, st), fragmentstest.EventIDs(t, st.Timeline())
	for _, name := range []string{"cam", "cam" + fragments.EventsSuffix} {
		s, _ := n.core.Stream(name)
		sh, _ := s.Shard(0)
		cold.Tier(t, sh.Log())
	}
	streamDir, eventsDir := st.Dir(), evs.Dir()
	n.close()
	for _, d := range []string{filepath.Join(streamDir, "fragments.idx"), filepath.Join(eventsDir, events.TimelineDir)} {
		if err := os.RemoveAll(d); err != nil {
			t.Fatal(err)
		}
	}
	cold.SetDelay(2 * time.Second)
	start := time.Now()
	n, err = openColdNode(t, dir, clk, cold, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer n.close()
	if d := time.Since(start); d > time.Second {
		t.Fatalf("open took %v: it waited for cold reads", d)
	}
	st, _ = n.m.Store("cam")
	if !st.CatchingUp() || !st.Timeline().CatchingUp() || !slices.Equal(n.m.CatchingUp(), []string{"cam"}) {
		t.Fatalf("no background catch-up for cold segments (streams catching up: %v)", n.m.CatchingUp())
	}
	cold.SetDelay(0)
	deadline := time.Now().Add(15 * time.Second)
	for len(n.m.CatchingUp()) > 0 {
		if time.Now().After(deadline) {
			t.Fatal("no catch-up in 15 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := listAll(t, st); !slices.Equal(got, want) {
		t.Fatalf("listed %v, want %v", got, want)
	}
	if got := fragmentstest.EventIDs(t, st.Timeline()); !slices.Equal(got, wantEvents) {
		t.Fatalf("timeline: %d events, want %d", len(got), len(wantEvents))
	}
}
