package datastreams

import (
	"time"

	"github.com/eddy-video/eddy/datastreams/logstore"
)

// Shard is one shard of a stream.
type Shard struct {
	Index          int
	Parent         int // -1: none
	AdjacentParent int // -1: none
	Start, End     HashKey
	Created        time.Time
	// Closed and EndSeq change when the shard is sealed; they are guarded
	// by the stream's mu.
	Closed time.Time // zero while open
	EndSeq uint64    // last log sequence of a closed shard

	stream *Stream
	log    logstore.Log
	w      *shardWriter
	writeR *bucket
	writeB *bucket
	readC  *bucket
	readB  *bucket
}

// ID returns the shard's Kinesis id.
func (sh *Shard) ID() string { return ShardID(sh.Index) }

// IsOpen reports whether the shard still takes records.
func (sh *Shard) IsOpen() bool { return sh.Closed.IsZero() }

// Log returns the shard's log.
func (sh *Shard) Log() logstore.Log { return sh.log }

// Changed returns a channel closed at the shard's next commit.
func (sh *Shard) Changed() <-chan struct{} { return sh.w.Changed() }

func (sh *Shard) info() ShardInfo {
	first, next := sh.log.Bounds()
	si := ShardInfo{Index: sh.Index, ID: sh.ID(), Start: sh.Start, End: sh.End, StartSeq: EncodeSeq(sh.Index, 0),
		Created: sh.Created, Closed: sh.Closed, FirstLogSeq: first, NextLogSeq: next}
	if sh.Parent >= 0 {
		si.ParentID = ShardID(sh.Parent)
	}
	if sh.AdjacentParent >= 0 {
		si.AdjacentID = ShardID(sh.AdjacentParent)
	}
	if !sh.IsOpen() {
		si.EndSeq = EncodeSeq(sh.Index, sh.EndSeq)
	}
	return si
}

// Append appends entries to this shard, in order, and returns once they
// are acknowledged as Put acknowledges (durable under the core's sync
// policy): they hold consecutive log sequences from first, all with
// arrival time t. It is the store-level write for layers that address a
// shard themselves (the video layer): no partition-key routing, no
// throttling. A stream that is not ACTIVE or UPDATING, or closed, answers
// with Put's error; a sealed shard refuses.
func (sh *Shard) Append(entries []Entry) (first uint64, t int64, err error) {
	s := sh.stream
	s.mu.RLock()
	if err := s.checkReadyLocked(); err != nil {
		s.mu.RUnlock()
		return 0, 0, err
	}
	// Submitted under the stream's lock, as Put does, so a reshard sees
	// this append land before it seals the shard.
	ch, err := sh.w.submit(entries, false)
	s.mu.RUnlock()
	if err != nil {
		return 0, 0, err
	}
	res := <-ch
	if res.err != nil {
		return 0, 0, res.err
	}
	return res.first, res.t, nil
}
