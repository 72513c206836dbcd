package fragments_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/eddy-video/eddy/datastreams/datastreamstest"
	"github.com/eddy-video/eddy/fragments"
	"github.com/eddy-video/eddy/fragments/fragmentstest"
)

func waitStore(t *testing.T, retention int) (*datastreamstest.Clock, *fragments.Manager, *fragments.Store) {
	t.Helper()
	clk := datastreamstest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	_, m := fragmentstest.NewManager(t, t.TempDir(), clk, 1<<20)
	if _, err := m.CreateStream("cam", fragments.CreateOptions{RetentionHours: retention}); err != nil {
		t.Fatal(err)
	}
	st, err := m.Store("cam")
	if err != nil {
		t.Fatal(err)
	}
	return clk, m, st
}

// A reader that asks for each next sequence gets the stored fragments,
// then each new one as it is appended, once and in order.
func TestNextListedFollowsAppends(t *testing.T) {
	clk, _, st := waitStore(t, 1)
	stored := fragmentstest.AppendSynthetic(t, st, clk, 3, 100)

	got := make(chan uint64)
	errc := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		seq := st.FirstSeq()
		for {
			e, err := st.NextListed(ctx, seq)
			if err != nil {
				errc <- err
				return
			}
			got <- e.Seq
			seq = e.Seq + 1
		}
	}()
	var seen []uint64
	for range stored {
		seen = append(seen, <-got)
	}
	// The reader now waits at the live edge; each append wakes it.
	for range 5 {
		select {
		case s := <-got:
			t.Fatalf("fragment %d delivered before it was appended", s)
		case <-time.After(20 * time.Millisecond):
		}
		seq := fragmentstest.AppendSynthetic(t, st, clk, 1, 100)[0]
		stored = append(stored, seq)
		select {
		case s := <-got:
			seen = append(seen, s)
		case <-time.After(5 * time.Second):
			t.Fatalf("fragment %d appended but the waiter did not wake", seq)
		}
	}
	if len(seen) != len(stored) {
		t.Fatalf("saw %v, stored %v", seen, stored)
	}
	for i := range seen {
		if seen[i] != stored[i] {
			t.Fatalf("saw %v, stored %v", seen, stored)
		}
	}
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("after cancel: %v, want context.Canceled", err)
	}
}

// A sequence below the oldest retained fragment is not found; one past
// the newest waits; closing the store (deleting the stream) ends a wait.
func TestNextListedBoundsAndClose(t *testing.T) {
	clk, m, st := waitStore(t, 1)
	seqs := fragmentstest.AppendSynthetic(t, st, clk, 2, 100)
	e, err := st.NextListed(context.Background(), seqs[1])
	if err != nil || e.Seq != seqs[1] {
		t.Fatalf("NextListed(%d) = %d, %v", seqs[1], e.Seq, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if _, err := st.NextListed(ctx, seqs[1]+1); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("past the newest: %v, want the context's deadline", err)
	}

	later := fragmentstest.AppendSynthetic(t, st, clk, 1, 100)
	done := make(chan error, 1)
	go func() {
		_, err := st.NextListed(context.Background(), later[0]+1)
		done <- err
	}()
	time.Sleep(20 * time.Millisecond)
	if err := m.DeleteStream("cam", nil); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, fragments.ErrStoreClosed) {
			t.Fatalf("wait across a delete: %v, want ErrStoreClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("deleting the stream did not end the wait")
	}
}

// A reader that fell behind retention learns that the fragments it asks
// for are gone.
func TestNextListedBehindRetention(t *testing.T) {
	clk := datastreamstest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	core, m := fragmentstest.NewManager(t, t.TempDir(), clk, 1<<20)
	if _, err := m.CreateStream("cam", fragments.CreateOptions{RetentionHours: 1}); err != nil {
		t.Fatal(err)
	}
	st, _ := m.Store("cam")
	old := fragmentstest.AppendSynthetic(t, st, clk, 600, 1000)
	clk.Advance(2 * time.Hour)
	fresh := fragmentstest.AppendSynthetic(t, st, clk, 3, 1000)
	core.EnforceRetention()
	if _, err := st.NextListed(context.Background(), old[0]); !errors.Is(err, fragments.ErrFragmentNotFound) {
		t.Fatalf("trimmed sequence: %v, want ErrFragmentNotFound", err)
	}
	if st.FirstSeq() != fresh[0] {
		t.Fatalf("FirstSeq after retention = %d, want %d", st.FirstSeq(), fresh[0])
	}
	if e, err := st.NextListed(context.Background(), fresh[0]); err != nil || e.Seq != fresh[0] {
		t.Fatalf("retained sequence: %d, %v", e.Seq, err)
	}
}

// A reader waiting at a fragment whose index write failed (the disk
// filled between its record and its entry) is not moved past it: it gets
// that fragment once the index catches up, before the next one, so
// following the live edge loses nothing.
func TestNextListedWaitsForFailedIndexWrite(t *testing.T) {
	clk, _, st := waitStore(t, 1)
	stored := fragmentstest.AppendSynthetic(t, st, clk, 2, 100)
	repair := st.Index().BreakWrites()
	init := &fragments.InitSegment{ID: fragments.InitID{9}, Bytes: []byte("init")}
	f := &fragments.Fragment{ServerTime: clk.Now().UnixNano(), ProducerTime: clk.Now().UnixNano(), Duration: int64(2 * time.Second),
		Keyframe: true, InitID: init.ID, Media: make([]byte, 100)}
	unlisted, err := st.Append(init, f)
	if err == nil {
		t.Fatal("append with a failing index succeeded")
	}
	clk.Advance(2 * time.Second)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan uint64, 8)
	errc := make(chan error, 1)
	go func() {
		seq := stored[len(stored)-1] + 1
		for {
			e, err := st.NextListed(ctx, seq)
			if err != nil {
				errc <- err
				return
			}
			got <- e.Seq
			seq = e.Seq + 1
		}
	}()
	select {
	case s := <-got:
		t.Fatalf("fragment %d delivered while %d is not listed", s, unlisted)
	case <-time.After(50 * time.Millisecond):
	}
	// While the index still fails, appends are refused: nothing is listed
	// past the unlisted fragment.
	if _, err := st.Append(init, &fragments.Fragment{ServerTime: clk.Now().UnixNano(), ProducerTime: clk.Now().UnixNano(),
		Duration: int64(2 * time.Second), Keyframe: true, InitID: init.ID, Media: make([]byte, 100)}); err == nil {
		t.Fatal("append past an unlisted fragment succeeded with the index still failing")
	}
	select {
	case s := <-got:
		t.Fatalf("fragment %d delivered while %d is not listed", s, unlisted)
	case <-time.After(50 * time.Millisecond):
	}
	if err := repair(); err != nil {
		t.Fatal(err)
	}
	later := fragmentstest.AppendSynthetic(t, st, clk, 2, 100)
	want := append([]uint64{unlisted}, later...)
	for _, w := range want {
		select {
		case s := <-got:
			if s != w {
				t.Fatalf("delivered %d, want %d (then %v)", s, w, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("fragment %d not delivered", w)
		}
	}
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("after cancel: %v, want context.Canceled", err)
	}
}
