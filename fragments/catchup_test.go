package fragments_test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/eddy-video/eddy/datastreams/datastreamstest"
	"github.com/eddy-video/eddy/fragments"
	"github.com/eddy-video/eddy/fragments/fragmentstest"
)

// waitCaughtUp waits for the store's background catch-up to end.
func waitCaughtUp(t *testing.T, st *fragments.Store) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for st.CatchingUp() {
		if time.Now().After(deadline) {
			t.Fatal("no catch-up in 10 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestStoreAnnouncesUnindexedFragmentAfterRestart: a fragment durable in
// the log whose index write failed (a full disk) before a stop was never
// announced; the restart indexes it and announces it then, exactly once.
func TestStoreAnnouncesUnindexedFragmentAfterRestart(t *testing.T) {
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
	seqs := fragmentstest.AppendSynthetic(t, st, clk, 3, 1000)
	repair := st.Index().BreakWrites()
	init := &fragments.InitSegment{ID: fragments.InitID{9}, Bytes: []byte("init")}
	now := clk.Now()
	f := &fragments.Fragment{ServerTime: now.UnixNano(), ProducerTime: now.UnixNano(), Duration: int64(2 * time.Second), Keyframe: true, InitID: init.ID, Media: make([]byte, 1000)}
	seq, err := st.Append(init, f)
	if err == nil {
		t.Fatal("append with broken index writes: no error")
	}
	seqs = append(seqs, seq)
	if err := repair(); err != nil {
		t.Fatal(err)
	}
	n.close() // a stop before any further append or trim

	n, err = openColdNode(t, dir, clk, cold, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer n.close()
	st, _ = n.m.Store("cam")
	waitCaughtUp(t, st)
	if got := listAll(t, st); !slices.Equal(got, seqs) {
		t.Fatalf("listed %v, want %v", got, seqs)
	}
	evs, _ := n.core.Stream("cam" + fragments.EventsSuffix)
	if got := fragmentEvents(t, evs); !slices.Equal(got, seqs) {
		t.Fatalf("announced %v, want %v", got, seqs)
	}
}

// TestStoreRebuiltIndexDoesNotAnnounceAgain: an index that lags fragments
// the event stream announced already (lost, as the index a restore brings
// back lags the events) is rebuilt from the log, from local segments at
// open and from cold ones in the background, without announcing any
// fragment a second time.
func TestStoreRebuiltIndexDoesNotAnnounceAgain(t *testing.T) {
	for _, tiered := range []bool{false, true} {
		t.Run(map[bool]string{false: "local", true: "cold"}[tiered], func(t *testing.T) {
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
			seqs := fragmentstest.AppendSynthetic(t, st, clk, 40, 3000)
			if tiered {
				sh, _ := n.core.Stream("cam")
				s0, _ := sh.Shard(0)
				if c := cold.Tier(t, s0.Log()); c == 0 {
					t.Fatal("no cold segment")
				}
			}
			sd := st.Dir()
			n.close()
			if err := os.RemoveAll(filepath.Join(sd, "fragments.idx")); err != nil {
				t.Fatal(err)
			}

			n, err = openColdNode(t, dir, clk, cold, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer n.close()
			st, _ = n.m.Store("cam")
			waitCaughtUp(t, st)
			if got := listAll(t, st); !slices.Equal(got, seqs) {
				t.Fatalf("listed %v, want %v", got, seqs)
			}
			seqs = append(seqs, fragmentstest.AppendSynthetic(t, st, clk, 2, 1000)...)
			evs, _ := n.core.Stream("cam" + fragments.EventsSuffix)
			if got := fragmentEvents(t, evs); !slices.Equal(got, seqs) {
				t.Fatalf("announced %v, want %v", got, seqs)
			}
		})
	}
}

// TestStoreCloseDuringSlowColdCatchUp: Close while the background catch-up
// reads cold segments from a slow object store returns promptly (it waits
// for one small batch, the read not being cancellable).
func TestStoreCloseDuringSlowColdCatchUp(t *testing.T) {
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
	fragmentstest.AppendSynthetic(t, st, clk, 300, 3000)
	sh, _ := n.core.Stream("cam")
	s0, _ := sh.Shard(0)
	cold.Tier(t, s0.Log())
	sd := st.Dir()
	n.close()
	if err := os.RemoveAll(filepath.Join(sd, "fragments.idx")); err != nil {
		t.Fatal(err)
	}
	cold.SetDelay(100 * time.Millisecond)
	n, err = openColdNode(t, dir, clk, cold, nil)
	if err != nil {
		t.Fatal(err)
	}
	for cold.Reads() == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	start := time.Now()
	n.close()
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Fatalf("Close during a slow cold catch-up took %v (%d cold reads)", d, cold.Reads())
	}
}

// TestStoreAppendsRaceCatchUpEnd: appends race the end of the background
// catch-up: every fragment is listed once, in order; each appended since
// open is announced once, in order, after those before it.
func TestStoreAppendsRaceCatchUpEnd(t *testing.T) {
	for round := range 3 {
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
		all := fragmentstest.AppendSynthetic(t, st, clk, 60, 3000)
		sh, _ := n.core.Stream("cam")
		s0, _ := sh.Shard(0)
		cold.Tier(t, s0.Log())
		sd := st.Dir()
		n.close()
		if err := os.RemoveAll(filepath.Join(sd, "fragments.idx")); err != nil {
			t.Fatal(err)
		}
		cold.SetDown(true)
		n, err = openColdNode(t, dir, clk, cold, nil)
		if err != nil {
			t.Fatal(err)
		}
		st, _ = n.m.Store("cam")
		since := fragmentstest.AppendSynthetic(t, st, clk, 3, 1000)
		cold.SetDown(false) // the next retry (1 s) catches up while we append
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) && (st.CatchingUp() || len(since) < 200) {
			since = append(since, fragmentstest.AppendSynthetic(t, st, clk, 1, 1000)...)
			if round == 1 {
				time.Sleep(time.Millisecond)
			}
		}
		if st.CatchingUp() {
			t.Fatal("still catching up")
		}
		want := append(slices.Clone(all), since...)
		if got := listAll(t, st); !slices.Equal(got, want) {
			t.Fatalf("round %d: listed %d, want %d", round, len(got), len(want))
		}
		evs, _ := n.core.Stream("cam" + fragments.EventsSuffix)
		if got := fragmentEvents(t, evs); !slices.Equal(got, want) {
			t.Fatalf("round %d: announced %d, want %d", round, len(got), len(want))
		}
		n.close()
	}
}
