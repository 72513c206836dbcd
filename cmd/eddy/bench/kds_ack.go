package bench

import (
	"sync"
	"time"
)

// Acknowledgement → receive latency. A PutRecords call is acknowledged when
// its response reaches the producer: the records are durable then (Eddy
// answers after the commit's fsync). A consumer often receives a record
// before that moment: Eddy pushes a shard's records at that shard's commit,
// while a call spanning shards is answered after the last of its shards
// commits, and the answer still has to reach the producer. Such a record
// counts as received 0 ms after its acknowledgement, and as early (with by
// how much).

// ackTable maps a PutRecords call, named by the send timestamp its records
// carry, to the time (UnixNano) its successful response reached the
// producer: one entry per call, forgotten ackKeep after the answer (so a
// soak of hours holds minutes of calls). Consumers look up each record
// (runs of records share a call, so consumers cache the last lookup).
type ackTable struct {
	mu     sync.RWMutex
	m      map[uint64]int64
	stores int
}

// ackKeep is how long after its answer a call stays in the table; a record
// received later than that is counted as of an unknown call.
const ackKeep = 10 * time.Minute

func (t *ackTable) store(send uint64, ack int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m == nil {
		t.m = map[uint64]int64{}
	}
	t.m[send] = ack
	if t.stores++; t.stores%4096 == 0 {
		horizon := ack - int64(ackKeep)
		for k, v := range t.m {
			if v < horizon {
				delete(t.m, k)
			}
		}
	}
}

func (t *ackTable) load(send uint64) (int64, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	v, ok := t.m[send]
	return v, ok
}

// uniqueSendTime returns now as UnixNano, raised past every value it
// returned before so that no two PutRecords calls share a send timestamp
// (it moves a send time by nanoseconds at most).
func (b *kdsBench) uniqueSendTime(now time.Time) int64 {
	t := now.UnixNano()
	for {
		last := b.lastSend.Load()
		if t <= last {
			t = last + 1
		}
		if b.lastSend.CompareAndSwap(last, t) {
			return t
		}
	}
}

// pendingAck is a record received before its call's acknowledgement was
// in the table: resolved when the results are computed.
type pendingAck struct {
	send uint64 // the call's send timestamp
	recv int64  // when the record was received (UnixNano)
}

// ackLat accumulates one consumer's acknowledgement → receive latencies.
// One goroutine owns it.
type ackLat struct {
	lat     latHist // per record, clamped at 0
	early   latHist // how long before its ack a record arrived
	late    latHist // records received after their ack only (not clamped)
	unacked int64   // records of no known call
	pending []pendingAck
	// settleAt is the pending count at which record settles next: twice
	// what the last settle kept, so that records of calls that never get
	// an answer (they stay pending up to ackKeep) cost amortized O(1)
	// each instead of a rescan of the whole list per record.
	settleAt int
	// cache of the last lookup
	lastSend uint64
	lastAck  int64
	lastOK   bool
}

// pendingSettle is the least pending count at which record settles what
// it can (most answers arrive within milliseconds), bounding the pending
// list; see ackLat.settleAt for the count above it.
const pendingSettle = 4096

// record accounts for a record of call send received at recv.
func (a *ackLat) record(t *ackTable, send uint64, recv int64) {
	if !a.lastOK || a.lastSend != send {
		a.lastSend = send
		a.lastAck, a.lastOK = t.load(send)
	}
	if !a.lastOK {
		// Not acknowledged yet (or never: a call that failed after the
		// server stored its records); settled later.
		a.pending = append(a.pending, pendingAck{send: send, recv: recv})
		if len(a.pending) >= max(a.settleAt, pendingSettle) {
			a.settle(t, recv, false)
			a.settleAt = 2 * len(a.pending)
		}
		return
	}
	a.recordDelay(recv - a.lastAck)
}

// recordDelay accounts for a record received d after its call's answer
// (d < 0: before it).
func (a *ackLat) recordDelay(d int64) {
	if d < 0 {
		a.early.record(-d)
	} else {
		a.late.record(d)
	}
	a.lat.record(max(d, 0))
}

// settle accounts for the pending records whose call has an answer now.
// Those without one stay pending while younger than ackKeep (at now),
// unless final: then they count as of an unknown call.
func (a *ackLat) settle(t *ackTable, now int64, final bool) {
	kept := a.pending[:0]
	for _, p := range a.pending {
		ack, ok := t.load(p.send)
		switch {
		case ok:
			a.recordDelay(p.recv - ack)
		case final || now-p.recv > int64(ackKeep):
			a.unacked++
		default:
			kept = append(kept, p)
		}
	}
	a.pending = kept
}

// ackResults is the acknowledgement → receive latency of a consumer path.
type ackResults struct {
	Latency latSummary `json:"latency"` // per record, clamped at 0
	// Early counts records received before the producer had their call's
	// answer (recorded as 0 in Latency); EarlyBy is by how much.
	Early   int64      `json:"early"`
	EarlyBy latSummary `json:"early_by"`
	// AfterAck is the latency over the records received after their
	// call's answer only (early ones left out rather than counted as 0).
	AfterAck latSummary `json:"after_ack"`
	// Unacknowledged counts records of no known call (one that failed
	// after the server stored its records, or answered more than ackKeep
	// before); not in Latency.
	Unacknowledged int64 `json:"unacknowledged"`
}
