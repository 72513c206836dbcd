package fragments_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/eddy-video/eddy/datastreams"
	"github.com/eddy-video/eddy/datastreams/datastreamstest"
	"github.com/eddy-video/eddy/fragments"
	"github.com/eddy-video/eddy/fragments/fragmentstest"
)

func TestRetentionByAge(t *testing.T) {
	clk := datastreamstest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	core, m := fragmentstest.NewManager(t, t.TempDir(), clk, 1<<20)
	if _, err := m.CreateStream("cam", fragments.CreateOptions{RetentionHours: 1}); err != nil {
		t.Fatal(err)
	}
	st, _ := m.Store("cam")
	old := fragmentstest.AppendSynthetic(t, st, clk, 600, 1000) // 20 minutes
	clk.Advance(2 * time.Hour)
	fresh := fragmentstest.AppendSynthetic(t, st, clk, 30, 1000)
	core.EnforceRetention()

	all, _, err := st.List(fragments.IndexServerTime, time.Unix(0, 0), clk.Now(), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(fresh) || all[0].Seq != fresh[0] {
		t.Fatalf("after retention: %d fragments listed (first %d), want the %d fresh ones from %d", len(all), all[0].Seq, len(fresh), fresh[0])
	}
	if _, err := st.Read(old[0]); err != fragments.ErrFragmentNotFound {
		t.Fatalf("read of an expired fragment: %v", err)
	}
	if _, ok := st.Lookup(old[len(old)-1]); ok {
		t.Fatal("expired fragment still looked up")
	}
	if f, err := st.Read(fresh[0]); err != nil || len(f.Media) != 1000 {
		t.Fatalf("fresh fragment: %v", err)
	}

	// A decrease to 0 hours keeps nothing older than the log's minimum
	// (1 h) and is visible at once.
	d, _ := m.Describe("cam")
	clk.Advance(90 * time.Minute)
	fragmentstest.AppendSynthetic(t, st, clk, 1, 1000)
	if err := m.UpdateRetention("cam", &d.Version, false, 1); err != nil {
		t.Fatal(err)
	}
	all, _, _ = st.List(fragments.IndexServerTime, time.Unix(0, 0), clk.Now(), 0, 0)
	for _, e := range all {
		if e.Seq <= fresh[len(fresh)-1] {
			t.Fatalf("fragment %d older than the retention still listed", e.Seq)
		}
	}
}

func TestRetentionBySize(t *testing.T) {
	clk := datastreamstest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	core, m := fragmentstest.NewManager(t, t.TempDir(), clk, 1<<20)
	const capBytes = 3 << 20
	if _, err := m.CreateStream("cam", fragments.CreateOptions{RetentionHours: 24, RetentionBytes: capBytes}); err != nil {
		t.Fatal(err)
	}
	st, _ := m.Store("cam")
	seqs := fragmentstest.AppendSynthetic(t, st, clk, 200, 50_000) // 10 MB
	core.EnforceRetention()
	if size := st.Size(); size > capBytes+1<<20 {
		t.Fatalf("stream holds %d bytes, cap %d (+ one segment)", size, capBytes)
	}
	all, _, _ := st.List(fragments.IndexServerTime, time.Unix(0, 0), clk.Now(), 0, 0)
	if len(all) == 0 || all[len(all)-1].Seq != seqs[len(seqs)-1] || len(all) > 80 {
		t.Fatalf("after the size cap: %d fragments listed", len(all))
	}
	for _, e := range all {
		if _, err := st.Read(e.Seq); err != nil {
			t.Fatalf("listed fragment %d unreadable: %v", e.Seq, err)
		}
	}
}

// openCam opens a core and a manager over dir and creates the stream
// "cam" (24 h retention); stop closes both, as a server stopping would.
func openCam(t *testing.T, dir string, clk *datastreamstest.Clock) (st *fragments.Store, stop func()) {
	t.Helper()
	core := &datastreams.Core{Dir: dir, Now: clk.Now}
	if err := core.Initialize(); err != nil {
		t.Fatal(err)
	}
	m := &fragments.Manager{Core: core}
	if err := m.Initialize(); err != nil {
		t.Fatal(err)
	}
	if _, err := m.CreateStream("cam", fragments.CreateOptions{RetentionHours: 24}); err != nil {
		t.Fatal(err)
	}
	st, err := m.Store("cam")
	if err != nil {
		t.Fatal(err)
	}
	return st, func() {
		m.Close()
		core.Close()
	}
}

// TestStoreReopenReindexes checks the log is the truth: a lost index is
// rebuilt from the log on open, and entries past the log are dropped.
func TestStoreReopenReindexes(t *testing.T) {
	dir := t.TempDir()
	clk := datastreamstest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	st, stop := openCam(t, dir, clk)
	seqs := fragmentstest.AppendSynthetic(t, st, clk, 50, 100)
	// Lose the index tail: drop the last 20 entries as a crash between
	// the log commit and the index append would.
	if err := st.Index().Truncate(seqs[30]); err != nil {
		t.Fatal(err)
	}
	stop()

	_, m2 := fragmentstest.NewManager(t, dir, clk, 0)
	st2, err := m2.Store("cam")
	if err != nil {
		t.Fatal(err)
	}
	all, _, _ := st2.List(fragments.IndexProducerTime, time.Unix(0, 0), clk.Now(), 0, 0)
	if len(all) != 50 || all[49].Seq != seqs[49] {
		t.Fatalf("after reopen: %d fragments listed, want 50", len(all))
	}
}

// TestStoreUpgradesOldIndex: a store whose index was written in format
// version 1 (no init segment ids) rebuilds it from the log on open, so
// every entry carries its fragment's init segment id and playlists need no
// fragment read.
func TestStoreUpgradesOldIndex(t *testing.T) {
	dir := t.TempDir()
	clk := datastreamstest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	st, stop := openCam(t, dir, clk)
	seqs := fragmentstest.AppendSynthetic(t, st, clk, 30, 100)
	old, _, _ := st.List(fragments.IndexServerTime, time.Unix(0, 0), clk.Now(), 0, 0)
	idx := filepath.Join(st.Dir(), "fragments.idx")
	stop()
	// Replace the index with the same entries in format version 1.
	if err := os.RemoveAll(idx); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(idx, 0o755); err != nil {
		t.Fatal(err)
	}
	fragments.WriteV1IndexChunk(t, idx, old)

	_, m2 := fragmentstest.NewManager(t, dir, clk, 0)
	st2, err := m2.Store("cam")
	if err != nil {
		t.Fatal(err)
	}
	all, _, _ := st2.List(fragments.IndexServerTime, time.Unix(0, 0), clk.Now(), 0, 0)
	if len(all) != len(seqs) {
		t.Fatalf("after the upgrade: %d fragments listed, want %d", len(all), len(seqs))
	}
	for i, e := range all {
		if e.Seq != seqs[i] || e.InitID != (fragments.InitID{9}) || e != old[i] {
			t.Fatalf("entry %d after the upgrade: %+v, want %+v", i, e, old[i])
		}
	}
	if n := m2.MediaReads(); n != int64(len(seqs)) {
		t.Errorf("the rebuild read %d fragment records, want %d (each once)", n, len(seqs))
	}
}
