package fragments_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/eddy-video/eddy/datastreams"
	"github.com/eddy-video/eddy/datastreams/datastreamstest"
	"github.com/eddy-video/eddy/fragments"
	"github.com/eddy-video/eddy/fragments/fragmentstest"
)

// openManager opens a core and a manager over dir; close them with the
// returned func (or let the test's end do it).
func openManager(t *testing.T, dir string) (*datastreams.Core, *fragments.Manager, func()) {
	t.Helper()
	core := &datastreams.Core{Dir: dir}
	if err := core.Initialize(); err != nil {
		t.Fatal(err)
	}
	m := &fragments.Manager{Core: core}
	if err := m.Initialize(); err != nil {
		core.Close()
		t.Fatal(err)
	}
	closed := false
	stop := func() {
		if !closed {
			closed = true
			m.Close()
			core.Close()
		}
	}
	t.Cleanup(stop)
	return core, m, stop
}

// TestVideoNameLengths: a video stream of every valid name length works
// end to end with its event stream (256 characters and the suffix): create,
// append, list, delete, create again.
func TestVideoNameLengths(t *testing.T) {
	clk := datastreamstest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	core, m := fragmentstest.NewManager(t, t.TempDir(), clk, 0)
	for _, n := range []int{1, 228, 229, 249, 250, 256} {
		name := strings.Repeat("v", n)
		for round := 0; round < 2; round++ {
			if _, err := m.CreateStream(name, fragments.CreateOptions{RetentionHours: 24}); err != nil {
				t.Fatalf("%d characters, round %d: %v", n, round, err)
			}
			st, err := m.Store(name)
			if err != nil {
				t.Fatal(err)
			}
			fragmentstest.AppendSynthetic(t, st, clk, 2, 10)
			if all, _, _ := st.List(fragments.IndexServerTime, time.Unix(0, 0), clk.Now(), 0, 0); len(all) != 2 {
				t.Fatalf("%d characters: %d fragments listed", n, len(all))
			}
			ev, err := core.Stream(name + fragments.EventsSuffix)
			if err != nil || len(readEvents(t, ev)) != 2 {
				t.Fatalf("%d characters: event stream %v", n, err)
			}
			if err := m.DeleteStream(name, nil); err != nil {
				t.Fatalf("%d characters, round %d: delete: %v", n, round, err)
			}
			if _, err := core.Stream(name + fragments.EventsSuffix); err == nil {
				t.Fatalf("%d characters: the event stream outlived its video stream", n)
			}
		}
	}
}

func readEvents(t *testing.T, s *datastreams.Stream) []string {
	t.Helper()
	sh, err := s.Shard(0)
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.Read(sh, 0, 100, 1<<20, false)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range res.Records {
		out = append(out, string(r.Data))
	}
	return out
}

// TestRepairHalfDone: what a crash leaves between a video stream and its
// event stream is repaired at the next start: an event stream without
// its video stream is deleted (the create had not committed, or the
// delete had), a video stream without its event stream gets one.
func TestRepairHalfDone(t *testing.T) {
	dir := t.TempDir()
	core, _, stop := openManager(t, dir)
	if _, err := core.CreateStream("orphan"+fragments.EventsSuffix, datastreams.CreateOptions{ShardCount: 1, Kind: datastreams.StreamKindEvents}); err != nil {
		t.Fatal(err)
	}
	ext, _ := json.Marshal(map[string]any{"version": "v1", "dataRetentionInHours": 48})
	if _, err := core.CreateStream("lonely", datastreams.CreateOptions{ShardCount: 1, Kind: datastreams.StreamKindVideo, Ext: ext}); err != nil {
		t.Fatal(err)
	}
	stop()

	core, m, _ := openManager(t, dir)
	if _, err := core.Stream("orphan" + fragments.EventsSuffix); err == nil {
		t.Error("the orphan event stream survived the start")
	}
	ev, err := core.Stream("lonely" + fragments.EventsSuffix)
	if err != nil || ev.Kind() != datastreams.StreamKindEvents || ev.RetentionHours() != 48 {
		t.Fatalf("the missing event stream: %v", err)
	}
	st, err := m.Store("lonely")
	if err != nil {
		t.Fatal(err)
	}
	clk := datastreamstest.NewClock(time.Now())
	fragmentstest.AppendSynthetic(t, st, clk, 1, 10)
	if n := len(readEvents(t, ev)); n != 1 {
		t.Fatalf("the repaired event stream has %d records, want 1", n)
	}
}

// TestCreateOverOrphanEvents: an event stream left by an unfinished
// delete does not block creating its video stream again.
func TestCreateOverOrphanEvents(t *testing.T) {
	core, m, _ := openManager(t, t.TempDir())
	if _, err := core.CreateStream("cam"+fragments.EventsSuffix, datastreams.CreateOptions{ShardCount: 1, Kind: datastreams.StreamKindEvents}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.CreateStream("cam", fragments.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := core.CreateStream("data"+fragments.EventsSuffix, datastreams.CreateOptions{ShardCount: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.CreateStream("data", fragments.CreateOptions{}); err == nil {
		t.Fatal("a data stream of the event stream's name was taken over")
	}
}
