package fragments_test

import (
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/eddy-video/eddy/datastreams"
	"github.com/eddy-video/eddy/datastreams/datastreamstest"
	"github.com/eddy-video/eddy/fragments"
	"github.com/eddy-video/eddy/fragments/fragmentstest"
)

// listed returns the sequence numbers the stream lists.
func listed(t *testing.T, st *fragments.Store, clk *datastreamstest.Clock) []uint64 {
	t.Helper()
	all, _, err := st.List(fragments.IndexServerTime, time.Unix(0, 0), clk.Now(), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var seqs []uint64
	for _, e := range all {
		seqs = append(seqs, e.Seq)
	}
	return seqs
}

// TestMaxBytesTag: the eddy:max-bytes tag caps a stream's stored size
// after every fragment, with the core's 64 MiB segments (the capped
// stream rolls smaller ones), keeping the newest fragments; TagStream
// lowers it at once, UntagStream removes it, bad values are refused with
// nothing written, and a start applies the tag.
func TestMaxBytesTag(t *testing.T) {
	dir := t.TempDir()
	clk := datastreamstest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	core := &datastreams.Core{Dir: dir, Now: clk.Now, JanitorInterval: time.Hour}
	if err := core.Initialize(); err != nil {
		t.Fatal(err)
	}
	m := &fragments.Manager{Core: core}
	if err := m.Initialize(); err != nil {
		t.Fatal(err)
	}
	const capBytes = 2 << 20
	if _, err := m.CreateStream("cam", fragments.CreateOptions{RetentionHours: 24,
		Tags: map[string]string{fragments.MaxBytesTag: strconv.Itoa(capBytes)}}); err != nil {
		t.Fatal(err)
	}
	if got := m.MaxBytes("cam"); got != capBytes {
		t.Fatalf("MaxBytes = %d, want %d", got, capBytes)
	}
	st, _ := m.Store("cam")
	const size = 50_000
	var seqs []uint64
	for range 200 { // 10 MB, five times the cap
		seqs = append(seqs, fragmentstest.AppendSynthetic(t, st, clk, 1, size)...)
		if st.Size() > capBytes {
			t.Fatalf("after fragment %d the stream holds %d bytes, cap %d", len(seqs), st.Size(), capBytes)
		}
	}
	got := listed(t, st, clk)
	if len(got) == 0 || got[len(got)-1] != seqs[len(seqs)-1] || got[0] == seqs[0] {
		t.Fatalf("listed %d fragments (%v…), want the newest ones only", len(got), got[:min(3, len(got))])
	}
	if kept := st.Size(); kept < capBytes/2 {
		t.Errorf("the cap kept %d bytes of %d", kept, capBytes)
	}
	for _, seq := range got {
		if _, err := st.Read(seq); err != nil {
			t.Fatalf("listed fragment %d unreadable: %v", seq, err)
		}
	}

	// Lowered with TagStream: applied at once, without another fragment.
	// The active segment (a quarter of the old cap) stays.
	if err := m.Tag("cam", map[string]string{fragments.MaxBytesTag: strconv.Itoa(1 << 20)}); err != nil {
		t.Fatal(err)
	}
	if st.Size() > 1<<20+capBytes/4 {
		t.Errorf("after lowering the cap to 1 MiB the stream holds %d bytes", st.Size())
	}
	fragmentstest.AppendSynthetic(t, st, clk, 30, size)
	if st.Size() > 1<<20 {
		t.Errorf("with a 1 MiB cap the stream holds %d bytes", st.Size())
	}

	// Bad values: refused with InvalidArgument, nothing written.
	for _, v := range []string{"", "abc", "0", "-1", "1048575", "1.5e9", "10GB", " 2097152"} {
		err := m.Tag("cam", map[string]string{fragments.MaxBytesTag: v, "other": "x"})
		var fe *fragments.Error
		if !errors.As(err, &fe) || fe.Kind != fragments.KindInvalidArgument {
			t.Errorf("Tag %q: %v, want InvalidArgument", v, err)
		}
		_, err = m.CreateStream("bad", fragments.CreateOptions{RetentionHours: 24, Tags: map[string]string{fragments.MaxBytesTag: v}})
		if !errors.As(err, &fe) || fe.Kind != fragments.KindInvalidArgument {
			t.Errorf("CreateStream with %q: %v, want InvalidArgument", v, err)
		}
	}
	if d, _ := m.Describe("cam"); d.Tags["other"] != "" || d.Tags[fragments.MaxBytesTag] != strconv.Itoa(1<<20) || m.MaxBytes("cam") != 1<<20 {
		t.Errorf("a refused Tag changed the stream: %v, cap %d", d.Tags, m.MaxBytes("cam"))
	}
	if _, err := m.Describe("bad"); err == nil {
		t.Error("a refused CreateStream created the stream")
	}

	// A cap the tag says but the stream lost (a stop between the two
	// writes) is applied on start.
	s, _ := core.Stream("cam")
	if err := s.SetRetentionBytes(0); err != nil {
		t.Fatal(err)
	}
	m.Close()
	core.Close()
	core2, m2 := fragmentstest.NewManager(t, dir, clk, 0)
	_ = core2
	if got := m2.MaxBytes("cam"); got != 1<<20 {
		t.Fatalf("after a start MaxBytes = %d, want the tag's %d", got, 1<<20)
	}

	// UntagStream removes the cap.
	if err := m2.Untag("cam", []string{fragments.MaxBytesTag}); err != nil {
		t.Fatal(err)
	}
	if got := m2.MaxBytes("cam"); got != 0 {
		t.Errorf("after UntagStream MaxBytes = %d", got)
	}
	st2, _ := m2.Store("cam")
	fragmentstest.AppendSynthetic(t, st2, clk, 60, size)
	if st2.Size() < 2<<20 {
		t.Errorf("uncapped stream holds only %d bytes after 3 MB more", st2.Size())
	}
}
