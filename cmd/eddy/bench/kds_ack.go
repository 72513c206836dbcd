package bench

import (
	"sync"
	"time"
)

// Acknowledgement → receive latency. A PutRecords call is acknowledged when
// its response reaches the producer: the records are durable then (Eddy
// answers after the commit's fsync). A consumer can receive a record before
// that moment, since the server wakes subscribers at the same commit that
// answers the call, and the answer still has to travel to the producer and
// be decoded; such a record counts as received 0 ms after its
// acknowledgement, and is counted as early.

// ackTable maps a PutRecords call, named by the send timestamp its records
// carry, to the time (UnixNano) its successful response reached the
// producer. Producers add a few hundred entries a second at most; consumers
// look up each record (runs of records share a call, so consumers cache the
// last lookup).
type ackTable struct {
	m sync.Map // uint64 send timestamp → int64 acknowledgement time
}

func (t *ackTable) store(send uint64, ack int64) { t.m.Store(send, ack) }

func (t *ackTable) load(send uint64) (int64, bool) {
	v, ok := t.m.Load(send)
	if !ok {
		return 0, false
	}
	return v.(int64), true
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
	pending []pendingAck
	// cache of the last lookup
	lastSend uint64
	lastAck  int64
	lastOK   bool
}

// record accounts for a record of call send received at recv.
func (a *ackLat) record(t *ackTable, send uint64, recv int64) {
	if !a.lastOK || a.lastSend != send {
		a.lastSend = send
		a.lastAck, a.lastOK = t.load(send)
	}
	if !a.lastOK {
		// Not acknowledged yet (or never: a call that failed after the
		// server stored its records); settled in resolve.
		a.pending = append(a.pending, pendingAck{send: send, recv: recv})
		return
	}
	a.lat.record(max(recv-a.lastAck, 0))
}

// ackResults is the acknowledgement → receive latency of a consumer path.
type ackResults struct {
	Latency latSummary `json:"latency"` // per record, clamped at 0
	// Early counts records received before the producer had their call's
	// answer (recorded as 0 in Latency); EarlyBy is by how much.
	Early   int64      `json:"early"`
	EarlyBy latSummary `json:"early_by"`
	// Unacknowledged counts records whose call never had a successful
	// answer (it failed after the server stored them); not in Latency.
	Unacknowledged int64 `json:"unacknowledged"`
}

// resolve settles the pending records against the table and adds them to
// lat (clamped at 0), their earliness to early, and returns how many had no
// acknowledgement at all.
func (a *ackLat) resolve(t *ackTable, lat, early *latHist) (unacked int64) {
	for _, p := range a.pending {
		ack, ok := t.load(p.send)
		if !ok {
			unacked++
			continue
		}
		d := p.recv - ack
		if d < 0 {
			early.record(-d)
		}
		lat.record(max(d, 0))
	}
	a.pending = nil
	return unacked
}
