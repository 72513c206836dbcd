package events

import (
	"testing"
	"time"

	"github.com/eddy-video/eddy/datastreams"
)

// TestMarkMerges: ranges finished out of order are merged, so the
// watermark moves over them when the hole fills, and a hole that stays
// open costs one range, not one per Put.
func TestMarkMerges(t *testing.T) {
	tl := &Timeline{low: 1}
	tl.mark(5, 6)
	tl.mark(3, 4)
	tl.mark(6, 9)
	tl.mark(4, 5) // [3, 9) now, with 1 and 2 missing
	if tl.low != 1 || len(tl.done) != 1 || tl.done[0] != [2]uint64{3, 9} {
		t.Fatalf("low %d done %v", tl.low, tl.done)
	}
	for a := uint64(10); a < 10000; a++ { // a hole at 9 that stays
		tl.mark(a, a+1)
	}
	if len(tl.done) != 2 {
		t.Fatalf("%d ranges kept for one hole", len(tl.done))
	}
	tl.mark(1, 3)
	tl.mark(9, 10)
	if tl.low != 10000 || len(tl.done) != 0 {
		t.Fatalf("low %d done %v", tl.low, tl.done)
	}
}

// TestHoleFilled: a record that went by without the hook (a Put that
// raced the timeline's open) is indexed from the log within two flush
// periods.
func TestHoleFilled(t *testing.T) {
	c := &datastreams.Core{Dir: t.TempDir()}
	if err := c.Initialize(); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := c.CreateStream("cam.events", datastreams.CreateOptions{ShardCount: 1, Mode: datastreams.ModeOnDemand,
		RetentionHours: 24, Kind: datastreams.StreamKindEvents, Immediate: true})
	if err != nil {
		t.Fatal(err)
	}
	tl, err := Open(s, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tl.Close()
	s.SetPutHook(nil)
	if _, err := s.Put([]datastreams.PutEntry{{Key: []byte("k"), Data: []byte(`{"type":"unseen"}`)}}); err != nil {
		t.Fatal(err)
	}
	s.SetPutHook(tl)
	if _, err := s.Put([]datastreams.PutEntry{{Key: []byte("k"), Data: []byte(`{"type":"seen"}`)}}); err != nil {
		t.Fatal(err)
	}
	from, to := time.Now().Add(-time.Minute).UnixNano(), time.Now().Add(time.Minute).UnixNano()
	for deadline := time.Now().Add(3*flushEvery + time.Second); ; {
		p, err := tl.Query(Query{From: from, To: to})
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Events) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d events indexed; the one that went by the hook is missing", len(p.Events))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if tl.Indexed() != 1 {
		t.Fatalf("indexed %d: a record indexed again is not news", tl.Indexed())
	}
}
