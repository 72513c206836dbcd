package fragments_test

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/eddy-video/eddy/datastreams"
	"github.com/eddy-video/eddy/datastreams/datastreamstest"
	"github.com/eddy-video/eddy/fragments"
	"github.com/eddy-video/eddy/fragments/fragmentstest"
)

// TestStoreIndexCatchesUp: a fragment whose record is durable but whose
// index entry could not be written (the disk filled between the two) is
// not listed, and the append reports the failure; the next append indexes
// it first, so both are listed, in order.
func TestStoreIndexCatchesUp(t *testing.T) {
	clk := datastreamstest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	_, m := fragmentstest.NewManager(t, t.TempDir(), clk, 1<<20)
	if _, err := m.CreateStream("cam", fragments.CreateOptions{RetentionHours: 24}); err != nil {
		t.Fatal(err)
	}
	st, _ := m.Store("cam")
	fragmentstest.AppendSynthetic(t, st, clk, 3, 1000)
	repair := st.Index().BreakWrites()
	init := &fragments.InitSegment{ID: fragments.InitID{9}, Bytes: []byte("init")}
	f := &fragments.Fragment{ServerTime: clk.Now().UnixNano(), ProducerTime: clk.Now().UnixNano(), Duration: int64(2 * time.Second),
		Keyframe: true, InitID: init.ID, Media: make([]byte, 1000)}
	seq, err := st.Append(init, f)
	if err == nil {
		t.Fatal("append with a failing index succeeded")
	}
	if _, ok := st.Lookup(seq); ok {
		t.Fatalf("fragment %d listed though its index entry failed", seq)
	}
	if err := repair(); err != nil {
		t.Fatal(err)
	}
	clk.Advance(2 * time.Second)
	next := fragmentstest.AppendSynthetic(t, st, clk, 1, 1000)
	all, _, err := st.List(fragments.IndexServerTime, time.Unix(0, 0), clk.Now(), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 5 || all[3].Seq != seq || all[4].Seq != next[0] {
		t.Fatalf("listed %d fragments (%v), want 5 with %d and %d last", len(all), all, seq, next[0])
	}
}

// TestStoreFullDisk fills a real tmpfs under a video stream: the append
// that finds no space fails with ENOSPC, and every fragment listed before
// and after reads back (no half-written record, no entry for a record the
// log lacks); once space returns, appends continue and a reopened store
// lists exactly what the log holds.
func TestStoreFullDisk(t *testing.T) {
	dir := datastreamstest.Tmpfs(t, 8<<20)
	data := filepath.Join(dir, "data")
	clk := datastreamstest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	core := &datastreams.Core{Dir: data, Now: clk.Now, SegmentBytes: 1 << 20, JanitorInterval: time.Hour}
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
	st, _ := m.Store("cam")
	fragmentstest.AppendSynthetic(t, st, clk, 10, 20_000)
	filler := filepath.Join(dir, "filler")
	datastreamstest.Fill(t, filler, 300_000)
	init := &fragments.InitSegment{ID: fragments.InitID{9}, Bytes: []byte("init")}
	var failed error
	for i := 0; i < 100 && failed == nil; i++ {
		f := &fragments.Fragment{ServerTime: clk.Now().UnixNano(), ProducerTime: clk.Now().UnixNano(), Duration: int64(2 * time.Second),
			Keyframe: true, InitID: init.ID, Media: make([]byte, 20_000)}
		_, failed = st.Append(init, f)
		clk.Advance(2 * time.Second)
	}
	if !errors.Is(failed, syscall.ENOSPC) || !datastreams.IsNoSpace(failed) {
		t.Fatalf("append on a full disk: %v, want ENOSPC", failed)
	}
	checkListed(t, st, clk)
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	fragmentstest.AppendSynthetic(t, st, clk, 5, 20_000)
	before := checkListed(t, st, clk)
	m.Close()
	core.Close()

	_, m2 := fragmentstest.NewManager(t, data, clk, 1<<20)
	st2, _ := m2.Store("cam")
	if after := checkListed(t, st2, clk); after != before {
		t.Fatalf("after reopening %d fragments listed, before %d", after, before)
	}
	if _, next := st2.Index().Bounds(); next != st2.NextSeq() {
		t.Fatalf("index ends at %d, log at %d", next, st2.NextSeq())
	}
}

// checkListed reads every listed fragment and returns how many there are.
func checkListed(t *testing.T, st *fragments.Store, clk *datastreamstest.Clock) int {
	t.Helper()
	all, _, err := st.List(fragments.IndexServerTime, time.Unix(0, 0), clk.Now(), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range all {
		if f, err := st.Read(e.Seq); err != nil || len(f.Media) != 20_000 {
			t.Fatalf("listed fragment %d: %v", e.Seq, err)
		}
	}
	return len(all)
}
