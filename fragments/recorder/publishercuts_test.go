package recorder_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/eddy-video/eddy/datastreams/datastreamstest"
	"github.com/eddy-video/eddy/fragments"
	"github.com/eddy-video/eddy/fragments/fragmentstest"
	"github.com/eddy-video/eddy/fragments/recorder"
	"github.com/eddy-video/eddy/media"
	"github.com/eddy-video/eddy/media/mediatest"
)

// TestStoredHook: a publication that cuts its own fragments
// (Registry.PublishCutting) gets each fragment's Stored hook called once,
// after the store appended it, with the sequence number the store lists;
// a fragment end that could not be recorded (before the first keyframe)
// is told so with an error.
func TestStoredHook(t *testing.T) {
	_, m := fragmentstest.NewManager(t, t.TempDir(), datastreamstest.NewClock(time.Now()), 64<<20)
	if _, err := m.CreateStream("cam", fragments.CreateOptions{RetentionHours: 24}); err != nil {
		t.Fatal(err)
	}
	rec := &recorder.Recorder{Videos: m, MaxFragmentDuration: 10 * time.Second, Logger: mediatest.Logger()}
	if err := rec.Initialize(); err != nil {
		t.Fatal(err)
	}
	defer rec.Close()
	reg := &media.Registry{QueueSize: 1 << 12, OnPublish: rec.OnPublish, OnUnpublish: rec.OnUnpublish}
	h, err := reg.PublishCutting("putmedia", "cam", fragmentstest.Tracks())
	if err != nil {
		t.Fatal(err)
	}
	if !h.CutsFragments || h.Readers() != 1 {
		t.Fatalf("hub: CutsFragments %v, %d readers; want true and the recorder attached by OnPublish", h.CutsFragments, h.Readers())
	}
	type result struct {
		seq uint64
		err error
	}
	var mu sync.Mutex
	var got []result
	hook := func(seq uint64, err error) {
		mu.Lock()
		got = append(got, result{seq, err})
		mu.Unlock()
	}
	ntp0 := time.Unix(1_800_000_000, 0)
	aus := fragmentstest.Synth(6, 25, ntp0) // 1 s GOPs, one fragment each
	// An audio unit before the first keyframe, ending a fragment of its
	// own: nothing of it can be recorded.
	var early media.AccessUnit
	for _, au := range aus {
		if au.Track == 1 {
			early = *au
			break
		}
	}
	early.PTS, early.DTS, early.FragmentEnd, early.Stored = -44100, -44100, true, hook
	h.Publish(&early)
	keyed := false
	for i, au := range aus {
		keyed = keyed || (au.Track == 0 && au.Key)
		last := i == len(aus)-1
		if keyed && (last || (aus[i+1].Track == 0 && aus[i+1].Key)) {
			au.FragmentEnd, au.Stored = true, hook
		}
		h.Publish(au)
	}
	mediatest.WaitFor(t, "every Stored hook", func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == 7 })
	st, err := m.Store("cam")
	if err != nil {
		t.Fatal(err)
	}
	list, _, err := st.List(fragments.IndexServerTime, time.Unix(0, 0), ntp0.Add(time.Hour), 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if got[0].err == nil {
		t.Errorf("the fragment ended before the first keyframe was reported stored as %d", got[0].seq)
	}
	if len(list) != 6 {
		t.Fatalf("%d fragments stored, want 6", len(list))
	}
	for i, e := range list {
		if r := got[i+1]; r.err != nil || r.seq != e.Seq {
			t.Errorf("fragment %d: Stored(%d, %v), store lists %d", i, r.seq, r.err, e.Seq)
		}
		if time.Duration(e.Duration) != time.Second {
			t.Errorf("fragment %d: %v long, want 1 s", i, time.Duration(e.Duration))
		}
	}
	reg.Unpublish("cam", h)
}

// TestStoredHookOverflow: when the recorder falls a queue behind a
// publication that cuts its own fragments, the fragment ends it lost
// would never be answered: it ends the publication instead (its
// publisher is told at once, and reconnects), and answers each end it
// saw once.
func TestStoredHookOverflow(t *testing.T) {
	_, m := fragmentstest.NewManager(t, t.TempDir(), datastreamstest.NewClock(time.Now()), 64<<20)
	if _, err := m.CreateStream("cam", fragments.CreateOptions{RetentionHours: 24}); err != nil {
		t.Fatal(err)
	}
	rec := &recorder.Recorder{Videos: m, MaxFragmentDuration: 10 * time.Second, Logger: mediatest.Logger()}
	if err := rec.Initialize(); err != nil {
		t.Fatal(err)
	}
	defer rec.Close()
	reg := &media.Registry{QueueSize: 8, OnPublish: rec.OnPublish, OnUnpublish: rec.OnUnpublish}
	h, err := reg.PublishCutting("putmedia", "cam", fragmentstest.Tracks())
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Unpublish("cam", h)
	var mu sync.Mutex
	calls := map[int]int{}
	aus := fragmentstest.Synth(10, 5, time.Unix(1_800_000_000, 0)) // 0.2 s GOPs
	for i, au := range aus {
		if i == len(aus)-1 || (aus[i+1].Track == 0 && aus[i+1].Key) {
			au.FragmentEnd, au.Stored = true, func(uint64, error) { mu.Lock(); calls[i]++; mu.Unlock() }
		}
	}
	// Published in one burst: the recorder's queue of 8 overflows.
	for _, au := range aus {
		h.Publish(au)
	}
	select {
	case <-h.Ended():
	case <-time.After(10 * time.Second):
		t.Fatal("the publication did not end after its recorder fell behind")
	}
	if err := h.EndErr(); !errors.Is(err, media.ErrOverflow) {
		t.Fatalf("ended for %v, want ErrOverflow", err)
	}
	if reg.Dropped() == 0 {
		t.Fatal("no reader dropped: the test did not overflow the recorder")
	}
	time.Sleep(100 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	for i, n := range calls {
		if n != 1 {
			t.Errorf("the fragment end at unit %d was answered %d times", i, n)
		}
	}
}
