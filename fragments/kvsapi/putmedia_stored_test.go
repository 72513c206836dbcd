package kvsapi

import (
	"testing"

	"github.com/eddy-video/eddy/media/mediatest"
)

// TestPutMediaStoredAtomic: a fragment's PERSISTED is queued by the time
// it leaves flight. The handler ends once nothing is in flight and
// flushes the queue one last time: an ack queued after would be lost (the
// last cluster's PERSISTED of an upload that just ended).
func TestPutMediaStoredAtomic(t *testing.T) {
	pm := &PutMedia{}
	pm.init()
	s := &pmSession{pm: pm, log: mediatest.Logger(), acks: true, persist: true,
		signal: make(chan struct{}, 1), room: make(chan struct{}, 1), units: make(chan struct{}, 1)}
	for i := range 2000 {
		f := &pmFragment{timecode: int64(i)}
		s.room <- struct{}{}
		s.inflight = map[*pmFragment]struct{}{f: {}}
		s.queue = nil
		go s.stored(f, uint64(i), nil)
		for s.pending() > 0 {
		}
		s.mu.Lock()
		n := len(s.queue)
		s.mu.Unlock()
		if n != 1 {
			t.Fatalf("round %d: the fragment left flight with %d acks queued, want its PERSISTED", i, n)
		}
		<-s.signal
	}
}
