package datastreams

import (
	"sort"
	"time"
)

// Resharding closes parent shards and opens children that inherit their
// hash key ranges, keeping lineage (ParentShardId, AdjacentParentShardId).
// Parents stay readable to their end; their EndingSequenceNumber is set.

func (s *Stream) checkReshardLocked() error {
	if s.closed {
		return s.core.StreamNotFound(s.name)
	}
	if s.meta.Status != StatusActive {
		return errf(KindInUse, "Stream %s under account %s not ACTIVE, instead in state %s", s.name, s.core.AccountID, s.meta.Status)
	}
	return nil
}

func (s *Stream) openShardLocked(sh *Shard) (*Shard, error) {
	for _, o := range s.open {
		if o == sh {
			return sh, nil
		}
	}
	return nil, errf(KindInvalidArgument, "Shard %s in stream %s under account %s has already been merged or split, and thus is not eligible for merging or splitting.", sh.ID(), s.name, s.core.AccountID)
}

// sealLocked closes an open shard after everything queued to it.
func (s *Stream) sealLocked(sh *Shard, now time.Time) error {
	ch, err := sh.w.submit(nil, true)
	if err != nil {
		return err
	}
	res := <-ch
	if res.err != nil {
		return res.err
	}
	sh.EndSeq = res.first - 1
	sh.Closed = now
	for i := range s.meta.Shards {
		if s.meta.Shards[i].Index == sh.Index {
			s.meta.Shards[i].Closed = now
			s.meta.Shards[i].EndSeq = sh.EndSeq
		}
	}
	return nil
}

func (s *Stream) newChildLocked(start, end HashKey, parent, adjacent int, now time.Time) (*Shard, error) {
	sm := shardMeta{Index: s.meta.NextShardIndex, Parent: parent, AdjacentParent: adjacent,
		Start: start.String(), End: end.String(), Created: now}
	sh, err := s.openShard(sm)
	if err != nil {
		return nil, err
	}
	s.meta.NextShardIndex++
	s.meta.Shards = append(s.meta.Shards, sm)
	s.shards = append(s.shards, sh)
	return sh, nil
}

func (s *Stream) finishReshardLocked() error {
	s.reindexLocked()
	if s.core.TransitionDelay > 0 {
		s.meta.Status = StatusUpdating
		s.core.after(func() { s.setStatus(StatusUpdating, StatusActive) })
	}
	return saveMeta(s.dir, s.meta)
}

func (s *Stream) shardLimitLocked(extra int) error {
	// Only this stream's lock is held; the others are counted without
	// theirs (two reshards must not wait for each other's lock).
	open := len(s.open)
	for _, o := range s.core.Streams() {
		if o != s && o.kind == "" {
			open += int(o.openCount.Load())
		}
	}
	if open+extra > s.core.ShardLimit {
		return errf(KindLimit, "This request would exceed the shard limit for the account %s in %s. Current limit of shards is %d. Number of shards that would have resulted from this request is %d.",
			s.core.AccountID, s.core.Region, s.core.ShardLimit, open+extra)
	}
	return nil
}

// Split splits an open shard at newStart into two children.
func (s *Stream) Split(shardIndex int, newStart HashKey) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.checkReshardLocked(); err != nil {
		return err
	}
	sh, err := s.findLocked(shardIndex)
	if err != nil {
		return err
	}
	if _, err := s.openShardLocked(sh); err != nil {
		return err
	}
	if !sh.Start.Less(newStart) || sh.End.Less(newStart) {
		return errf(KindInvalidArgument, "NewStartingHashKey %s used in SplitShard() on shard %s in stream %s under account %s is not both greater than one plus the shard's StartingHashKey %s and less than the shard's EndingHashKey %s.",
			newStart, sh.ID(), s.name, s.core.AccountID, sh.Start, sh.End)
	}
	if err := s.shardLimitLocked(1); err != nil {
		return err
	}
	now := s.core.Now().UTC()
	if err := s.sealLocked(sh, now); err != nil {
		return err
	}
	if _, err := s.newChildLocked(sh.Start, newStart.Sub(HashKey{0, 1}), sh.Index, -1, now); err != nil {
		return err
	}
	if _, err := s.newChildLocked(newStart, sh.End, sh.Index, -1, now); err != nil {
		return err
	}
	s.core.Logger.Info("shard split", "stream", s.name, "shard", sh.ID())
	return s.finishReshardLocked()
}

// Merge merges two open shards with adjacent hash key ranges.
func (s *Stream) Merge(a, b int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.checkReshardLocked(); err != nil {
		return err
	}
	return s.mergeLocked(a, b, s.core.Now().UTC())
}

func (s *Stream) mergeLocked(a, b int, now time.Time) error {
	sa, err := s.findLocked(a)
	if err != nil {
		return err
	}
	sb, err := s.findLocked(b)
	if err != nil {
		return err
	}
	for _, sh := range []*Shard{sa, sb} {
		if _, err := s.openShardLocked(sh); err != nil {
			return err
		}
	}
	lo, hi := sa, sb
	if sb.Start.Less(sa.Start) {
		lo, hi = sb, sa
	}
	if lo.End.Add(HashKey{0, 1}) != hi.Start {
		return errf(KindInvalidArgument, "Shards %s and %s in stream %s under account %s are not an adjacent pair of shards eligible for merging", sa.ID(), sb.ID(), s.name, s.core.AccountID)
	}
	if err := s.sealLocked(sa, now); err != nil {
		return err
	}
	if err := s.sealLocked(sb, now); err != nil {
		return err
	}
	if _, err := s.newChildLocked(lo.Start, hi.End, sa.Index, sb.Index, now); err != nil {
		return err
	}
	s.core.Logger.Info("shards merged", "stream", s.name, "shard", sa.ID(), "adjacent", sb.ID())
	return s.finishReshardLocked()
}

func (s *Stream) findLocked(index int) (*Shard, error) {
	for _, sh := range s.shards {
		if sh.Index == index {
			return sh, nil
		}
	}
	return nil, errf(KindNotFound, "Could not find shard %s in stream %s under account %s.", ShardID(index), s.name, s.core.AccountID)
}

// UpdateShardCount rescales the stream to target shards of uniform size
// (UNIFORM_SCALING), as a series of splits then merges so that every new
// shard has at most two parents. It returns the previous open shard count.
func (s *Stream) UpdateShardCount(target int) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.checkReshardLocked(); err != nil {
		return 0, err
	}
	cur := len(s.open)
	if target > 2*cur {
		return cur, errf(KindLimit, "UpdateShardCount cannot scale up over double your current open shard count. Current open shard count: %d Target shard count: %d", cur, target)
	}
	if target*2 < cur {
		return cur, errf(KindLimit, "UpdateShardCount cannot scale down below half your current open shard count. Current open shard count: %d Target shard count: %d", cur, target)
	}
	if target == cur {
		return cur, nil
	}
	if err := s.shardLimitLocked(target - cur); err != nil {
		return cur, err
	}
	now := s.core.Now().UTC()
	ranges := uniformRanges(target)
	// 1. Split wherever a target boundary falls inside an open shard.
	for _, r := range ranges[1:] {
		b := r[0]
		sh := s.route(b)
		if sh.Start == b {
			continue
		}
		if err := s.sealLocked(sh, now); err != nil {
			return cur, err
		}
		if _, err := s.newChildLocked(sh.Start, b.Sub(HashKey{0, 1}), sh.Index, -1, now); err != nil {
			return cur, err
		}
		if _, err := s.newChildLocked(b, sh.End, sh.Index, -1, now); err != nil {
			return cur, err
		}
		s.reindexLocked()
	}
	// 2. Merge, pairwise, the open shards lying inside one target range.
	for _, r := range ranges {
		for {
			var in []*Shard
			for _, sh := range s.open {
				if !sh.Start.Less(r[0]) && !r[1].Less(sh.End) {
					in = append(in, sh)
				}
			}
			if len(in) <= 1 {
				break
			}
			sort.Slice(in, func(i, j int) bool { return in[i].Start.Less(in[j].Start) })
			if err := s.mergeLocked(in[0].Index, in[1].Index, now); err != nil {
				return cur, err
			}
			s.reindexLocked()
		}
	}
	s.core.Logger.Info("shard count updated", "stream", s.name, "from", cur, "to", target)
	return cur, s.finishReshardLocked()
}
