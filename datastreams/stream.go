package datastreams

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eddy-video/eddy/datastreams/logstore"
)

// Stream is one stream of the core: its metadata and shards.
//
// mu guards meta, shards and open. Appends take it shared while they route
// and queue records, so a reshard (exclusive) sees every queued append land
// in the parent before it seals it.
type Stream struct {
	core *Core
	name string
	dir  string
	kind string // meta.Kind, which never changes
	// openCount is len(open), readable without mu: shard limits count
	// every stream's open shards while holding one stream's lock.
	openCount atomic.Int32

	mu     sync.RWMutex
	meta   *streamMeta
	shards []*Shard // every retained shard, by index
	open   []*Shard // open shards, by starting hash key
	closed bool
	done   chan struct{} // closed with the stream

	hook atomic.Pointer[putHookBox] // SetPutHook
}

// PutHook sees the records of a stream's Put calls: a layer above the core
// that derives something from a stream's records (Eddy: the event
// timeline of a video stream) checks each record before it is written and
// learns of the durable ones before Put returns.
type PutHook interface {
	// CheckRecord is called for each record before it is appended, with
	// the time Put started; an error refuses that record alone (it is
	// written nothing) and is its result's Err. A *Error keeps its kind;
	// any other error is reported as an invalid argument.
	CheckRecord(data []byte, now time.Time) error
	// Committed is called with the durable records of one Put call (in
	// order within each shard) before Put returns; calls from concurrent
	// Puts may overlap.
	Committed(recs []CommittedRecord)
}

// CommittedRecord is one durable record given to PutHook.Committed.
type CommittedRecord struct {
	Shard int
	Seq   uint64 // log sequence within the shard
	Time  int64  // arrival, Unix ns
	Data  []byte
}

type putHookBox struct{ h PutHook }

// ClearPutHook removes h if it is the stream's PutHook (another installed
// since stays).
func (s *Stream) ClearPutHook(h PutHook) {
	if b := s.hook.Load(); b != nil && b.h == h {
		s.hook.CompareAndSwap(b, nil)
	}
}

// SetPutHook installs h (nil: none) for the Put calls that start after it.
func (s *Stream) SetPutHook(h PutHook) {
	if h == nil {
		s.hook.Store(nil)
		return
	}
	s.hook.Store(&putHookBox{h})
}

func (c *Core) openStream(dir string, m *streamMeta) (*Stream, error) {
	s := &Stream{core: c, name: m.Name, dir: dir, kind: m.Kind, meta: m, done: make(chan struct{})}
	for _, sm := range m.Shards {
		sh, err := s.openShard(sm)
		if err != nil {
			s.close()
			return nil, err
		}
		s.shards = append(s.shards, sh)
	}
	s.sizeSegmentsLocked()
	s.reindexLocked()
	return s, nil
}

// minCapSegmentBytes bounds how small sizeSegmentsLocked makes segments:
// each is a file with an index file of its own.
const minCapSegmentBytes = 64 << 10

// sizeSegmentsLocked sets the segment size of the stream's logs from its
// own size cap: a quarter of each shard's share, so that trimming whole
// segments (the active one stays) leaves the stream at most its cap and
// at least about three quarters of it. Without a cap of its own a stream
// keeps the core's segment size.
func (s *Stream) sizeSegmentsLocked() {
	var n int64
	if c := s.meta.RetentionBytes; c > 0 {
		n = max(c/int64(4*max(1, len(s.shards))), minCapSegmentBytes)
	}
	for _, sh := range s.shards {
		if l, ok := sh.log.(logstore.SegmentSizer); ok {
			l.SetSegmentBytes(n)
		}
	}
}

func (s *Stream) openShard(sm shardMeta) (*Shard, error) {
	c := s.core
	start, ok1 := ParseHashKey(sm.Start)
	end, ok2 := ParseHashKey(sm.End)
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("shard %d: bad hash key range", sm.Index)
	}
	log, err := c.OpenLog(filepath.Join(s.dir, ShardID(sm.Index)))
	if err != nil {
		return nil, err
	}
	sh := &Shard{Index: sm.Index, Parent: sm.Parent, AdjacentParent: sm.AdjacentParent, Start: start, End: end,
		Created: sm.Created, Closed: sm.Closed, EndSeq: sm.EndSeq, stream: s, log: log}
	l := c.Limits
	sh.writeR = newBucket(l.WriteRecordsPerS)
	sh.writeB = newBucket(l.WriteBytesPerS)
	sh.readC = newBucket(l.ReadCallsPerS)
	sh.readB = newBucket(l.ReadBytesPerS)
	queue := writerQueue
	if s.kind != "" {
		queue = videoWriterQueue
		// Appended a record per fragment or events batch, read by
		// sequence number from an index of its own: few recent positions.
		if h, ok := log.(interface{ SetHints(int) }); ok {
			h.SetHints(videoLogHints)
		}
	}
	sh.w = newShardWriter(log, queue, s.kind != "", c.SyncPolicy == "always", c.SyncInterval, c.Now, c.committed, c.commitFailed)
	if !sh.IsOpen() {
		if _, err := sh.w.submit(nil, true); err != nil {
			return nil, err
		}
	}
	return sh, nil
}

// reindexLocked rebuilds the open-shard routing table.
func (s *Stream) reindexLocked() {
	s.open = s.open[:0]
	for _, sh := range s.shards {
		if sh.IsOpen() {
			s.open = append(s.open, sh)
		}
	}
	sort.Slice(s.open, func(i, j int) bool { return s.open[i].Start.Less(s.open[j].Start) })
	s.openCount.Store(int32(len(s.open)))
}

func (s *Stream) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closeLocked()
}

func (s *Stream) closeLocked() error {
	if s.closed {
		return nil
	}
	s.closed = true
	close(s.done)
	var firstErr error
	for _, sh := range s.shards {
		sh.w.close()
		if err := sh.log.Close(); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return firstErr
}

// Name returns the stream's name.
func (s *Stream) Name() string { return s.name }

// Done returns a channel closed when the stream closes: deleted, or the
// core closed. Long-lived readers (subscriptions) end with it.
func (s *Stream) Done() <-chan struct{} { return s.done }

// Info is a snapshot of a stream's description.
type Info struct {
	Name           string
	ARN            string
	Status         string
	Mode           string
	Created        time.Time
	RetentionHours int
	RetentionBytes int64
	EncryptionType string
	KeyID          string
	Metrics        []string
	OpenShards     int
	ConsumerCount  int
	Kind           string
	Shards         []ShardInfo // every retained shard, by index
	Tags           map[string]string
	Consumers      []Consumer // in registration order
}

// ShardInfo describes one shard.
type ShardInfo struct {
	Index                   int
	ID                      string
	ParentID, AdjacentID    string
	Start, End              HashKey
	StartSeq                string
	EndSeq                  string // empty while open
	Created, Closed         time.Time
	FirstLogSeq, NextLogSeq uint64
}

// Encrypted reports whether records are reported as KMS-encrypted.
func (s *Stream) Encrypted() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.meta.EncryptionType == "KMS"
}

// Created returns the stream's creation time; it tells a stream from an
// earlier one of the same name.
func (s *Stream) Created() time.Time {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.meta.Created
}

// Info returns a snapshot of the stream's description.
func (s *Stream) Info() Info {
	s.mu.RLock()
	defer s.mu.RUnlock()
	m := s.meta
	in := Info{Name: m.Name, ARN: s.core.StreamARN(m.Name), Status: m.Status, Mode: m.Mode, Created: m.Created,
		RetentionHours: m.RetentionHours, RetentionBytes: m.RetentionBytes, EncryptionType: m.EncryptionType, KeyID: m.KeyID,
		Metrics: append([]string(nil), m.Metrics...), OpenShards: len(s.open), ConsumerCount: len(m.Consumers), Kind: m.Kind,
		Tags: make(map[string]string, len(m.Tags)), Consumers: append([]Consumer(nil), m.Consumers...)}
	for k, v := range m.Tags {
		in.Tags[k] = v
	}
	for _, sh := range s.shards {
		in.Shards = append(in.Shards, sh.info())
	}
	return in
}

// Shard returns the shard with the given index, open or closed.
func (s *Stream) Shard(index int) (*Shard, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, sh := range s.shards {
		if sh.Index == index {
			return sh, nil
		}
	}
	return nil, errf(KindNotFound, "Shard %s in stream %s under account %s does not exist", ShardID(index), s.name, s.core.AccountID)
}

// Children returns the shards that have sh as a parent.
func (s *Stream) Children(sh *Shard) []ShardInfo {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []ShardInfo
	for _, c := range s.shards {
		if c.Parent == sh.Index || c.AdjacentParent == sh.Index {
			out = append(out, c.info())
		}
	}
	return out
}

func (s *Stream) setStatus(from, to string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.meta.Status != from {
		return
	}
	s.meta.Status = to
	if err := saveMeta(s.dir, s.meta); err != nil {
		s.core.Logger.Error("save stream", "stream", s.name, "err", err)
	}
}

// checkWritableLocked returns an error unless records may be written/read.
func (s *Stream) checkReadyLocked() error {
	if s.closed {
		return s.core.StreamNotFound(s.name)
	}
	if st := s.meta.Status; st != StatusActive && st != StatusUpdating {
		return s.core.StreamNotFound(s.name)
	}
	return nil
}

// PutEntry is one record offered to Put.
type PutEntry struct {
	Key          []byte
	Data         []byte
	ExplicitHash *HashKey
}

// PutResult is where one record landed, or why it did not.
type PutResult struct {
	Shard int
	Seq   uint64
	Time  int64
	Err   error
}

// Put appends records, each to the open shard owning its hash key, and
// returns once every accepted record is durable. Records of one call that
// go to one shard keep their order. Throttled records fail alone.
func (s *Stream) Put(entries []PutEntry) ([]PutResult, error) {
	results := make([]PutResult, len(entries))
	s.mu.RLock()
	if err := s.checkReadyLocked(); err != nil {
		s.mu.RUnlock()
		return nil, err
	}
	limited := s.core.Limits.Enabled && s.meta.Mode == ModeProvisioned
	now := s.core.Now()
	type group struct {
		sh      *Shard
		idx     []int
		entries []Entry
	}
	var groups []*group
	byShard := map[*Shard]*group{}
	throttled, accepted, acceptedBytes := 0, 0, 0
	var hook PutHook
	if b := s.hook.Load(); b != nil {
		hook = b.h
	}
	for i := range entries {
		e := &entries[i]
		if hook != nil {
			if err := hook.CheckRecord(e.Data, now); err != nil {
				if _, ok := err.(*Error); !ok {
					err = &Error{Kind: KindInvalidArgument, Message: err.Error()}
				}
				results[i].Err = err
				continue
			}
		}
		h := PartitionHash(e.Key)
		if e.ExplicitHash != nil {
			h = *e.ExplicitHash
		}
		sh := s.route(h)
		results[i].Shard = sh.Index
		if limited && (!sh.writeR.take(1, now) || !sh.writeB.take(float64(len(e.Key)+len(e.Data)), now)) {
			results[i].Err = errf(KindThroughput, "Rate exceeded for shard %s in stream %s under account %s.", sh.ID(), s.name, s.core.AccountID)
			throttled++
			continue
		}
		g := byShard[sh]
		if g == nil {
			g = &group{sh: sh}
			byShard[sh] = g
			groups = append(groups, g)
		}
		g.idx = append(g.idx, i)
		g.entries = append(g.entries, Entry{Key: e.Key, Data: e.Data})
	}
	waits := make([]<-chan appendResult, len(groups))
	for gi, g := range groups {
		ch, err := g.sh.w.submit(g.entries, false)
		if err != nil {
			for _, i := range g.idx {
				results[i].Err = err
			}
			continue
		}
		waits[gi] = ch
	}
	s.mu.RUnlock()
	for gi, g := range groups {
		if waits[gi] == nil {
			continue
		}
		res := <-waits[gi]
		for k, i := range g.idx {
			if res.err != nil {
				results[i].Err = res.err
				continue
			}
			results[i].Seq = res.first + uint64(k)
			results[i].Time = res.t
			accepted++
			acceptedBytes += len(entries[i].Key) + len(entries[i].Data)
		}
	}
	s.observePut(accepted, acceptedBytes, throttled)
	if hook != nil && accepted > 0 {
		recs := make([]CommittedRecord, 0, accepted)
		for _, g := range groups {
			for _, i := range g.idx {
				if r := results[i]; r.Err == nil {
					recs = append(recs, CommittedRecord{Shard: r.Shard, Seq: r.Seq, Time: r.Time, Data: entries[i].Data})
				}
			}
		}
		hook.Committed(recs)
	}
	return results, nil
}

// route returns the open shard whose range holds h. Open shards always
// cover the whole key space, so there is exactly one.
func (s *Stream) route(h HashKey) *Shard {
	i := sort.Search(len(s.open), func(i int) bool { return h.Less(s.open[i].Start) })
	return s.open[i-1]
}

// ReadResult is what Read returns.
type ReadResult struct {
	Records []logstore.Record
	Next    uint64 // log sequence to read from next
	// AtEnd is true when the shard is closed and everything was read.
	AtEnd bool
	// BehindMillis is how far the returned position is behind the shard's tip.
	BehindMillis int64
}

// Read reads up to limit records (and about maxBytes) of a shard from log
// sequence from; positions before the trim horizon read from the horizon.
func (s *Stream) Read(sh *Shard, from uint64, limit, maxBytes int, throttle bool) (ReadResult, error) {
	now := s.core.Now()
	s.mu.RLock()
	err := s.checkReadyLocked()
	limited := throttle && s.core.Limits.Enabled && s.meta.Mode == ModeProvisioned
	s.mu.RUnlock()
	if err != nil {
		return ReadResult{}, err
	}
	if limited {
		if !sh.readC.take(1, now) || sh.readB.tokens(now) < 0 {
			s.core.metrics.throttled.Inc()
			s.core.metrics.readExceeded.WithLabelValues(s.core.StreamLabel(s.name)).Inc()
			return ReadResult{}, errf(KindThroughput, "Rate exceeded for shard %s in stream %s under account %s.", sh.ID(), s.name, s.core.AccountID)
		}
	}
	first, next := sh.log.Bounds()
	if from < first {
		from = first
	}
	var recs []logstore.Record
	if from < next {
		recs, err = sh.log.Read(from, limit, maxBytes)
		if err != nil {
			return ReadResult{}, err
		}
	}
	res := ReadResult{Records: recs, Next: from}
	if n := len(recs); n > 0 {
		res.Next = recs[n-1].Seq + 1
	}
	if limited {
		size := 0
		for _, r := range recs {
			size += len(r.Key) + len(r.Data)
		}
		sh.readB.force(float64(size), now)
	}
	_, next = sh.log.Bounds()
	if res.Next < next {
		if len(recs) > 0 {
			res.BehindMillis = max(0, (now.UnixNano()-recs[len(recs)-1].Time)/1e6)
		} else if t, ok := sh.log.TimeOf(res.Next); ok {
			res.BehindMillis = max(0, (now.UnixNano()-t)/1e6)
		}
	}
	s.mu.RLock()
	closed := !sh.IsOpen()
	endSeq := sh.EndSeq
	s.mu.RUnlock()
	res.AtEnd = closed && res.Next > endSeq
	return res, nil
}

// SeqAtTime returns the log sequence of the first record of sh that
// arrived at or after t.
func (s *Stream) SeqAtTime(sh *Shard, t time.Time) uint64 {
	return sh.log.SeqAtTime(t.UnixNano())
}

// Tip returns one past the last committed log sequence of sh.
func (s *Stream) Tip(sh *Shard) uint64 {
	_, next := sh.log.Bounds()
	return next
}

// SetRetention changes the retention period in hours and applies it at once.
func (s *Stream) SetRetention(hours int, increase bool) error {
	s.mu.Lock()
	if err := s.checkReadyLocked(); err != nil {
		s.mu.Unlock()
		return err
	}
	cur := s.meta.RetentionHours
	if increase && hours < cur {
		s.mu.Unlock()
		return errf(KindInvalidArgument, "Requested retention period (%d hours) for stream %s can not be shorter than existing retention period (%d hours). Use DecreaseRetentionPeriod API.", hours, s.name, cur)
	}
	if !increase && hours > cur {
		s.mu.Unlock()
		return errf(KindInvalidArgument, "Requested retention period (%d hours) for stream %s can not be longer than existing retention period (%d hours). Use IncreaseRetentionPeriod API.", hours, s.name, cur)
	}
	s.meta.RetentionHours = hours
	err := saveMeta(s.dir, s.meta)
	s.mu.Unlock()
	if err != nil {
		return err
	}
	if !increase {
		_, _, err = s.enforceRetention()
	}
	return err
}

// enforceRetention trims each shard's log to the stream's retention and
// forgets closed shards whose every record has expired.
func (s *Stream) enforceRetention() (uint64, int64, error) {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return 0, 0, nil
	}
	horizon := s.core.Now().Add(-time.Duration(s.meta.RetentionHours) * time.Hour)
	var perShardBytes int64
	capBytes := s.meta.RetentionBytes
	if capBytes == 0 {
		capBytes = s.core.retentionBytes.Load()
	}
	if capBytes > 0 {
		withData := 0
		for _, sh := range s.shards {
			if f, n := sh.log.Bounds(); n > f || sh.IsOpen() {
				withData++
			}
		}
		perShardBytes = capBytes / int64(max(1, withData))
	}
	shards := append([]*Shard(nil), s.shards...)
	closedAt := make([]time.Time, len(shards)) // Closed is guarded by s.mu
	for i, sh := range shards {
		closedAt[i] = sh.Closed
	}
	s.mu.RUnlock()
	var recs uint64
	var bytes int64
	var expired []*Shard
	for i, sh := range shards {
		r, b, err := sh.log.Trim(horizon.UnixNano(), perShardBytes)
		recs += r
		bytes += b
		if err != nil {
			return recs, bytes, err
		}
		if !closedAt[i].IsZero() && closedAt[i].Before(horizon) {
			expired = append(expired, sh)
		}
	}
	if len(expired) > 0 {
		s.removeShards(expired)
	}
	return recs, bytes, nil
}

// removeShards drops closed, fully expired shards from the stream.
func (s *Stream) removeShards(gone []*Shard) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	drop := map[int]bool{}
	for _, sh := range gone {
		drop[sh.Index] = true
	}
	kept := s.shards[:0]
	for _, sh := range s.shards {
		if !drop[sh.Index] {
			kept = append(kept, sh)
		}
	}
	s.shards = kept
	ms := s.meta.Shards[:0]
	for _, m := range s.meta.Shards {
		if !drop[m.Index] {
			ms = append(ms, m)
		}
	}
	s.meta.Shards = ms
	if err := saveMeta(s.dir, s.meta); err != nil {
		s.core.Logger.Error("save stream", "stream", s.name, "err", err)
		return
	}
	for _, sh := range gone {
		sh.w.close()
		_ = sh.log.Close()
		_ = os.RemoveAll(filepath.Join(s.dir, sh.ID()))
	}
}

// update changes metadata under the stream's lock and persists it.
func (s *Stream) update(fn func(m *streamMeta) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return s.core.StreamNotFound(s.name)
	}
	if err := fn(s.meta); err != nil {
		return err
	}
	return saveMeta(s.dir, s.meta)
}

// Kind returns the stream's kind: "" for a data stream, StreamKindVideo or
// StreamKindEvents.
func (s *Stream) Kind() string { return s.kind }

// Dir returns the stream's directory. Packages layered on the core keep
// derived files (indexes, init segments) there; they go with the stream.
func (s *Stream) Dir() string { return s.dir }

// Ext returns the stream's extension metadata (see streamMeta.Ext).
func (s *Stream) Ext() json.RawMessage {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return append(json.RawMessage(nil), s.meta.Ext...)
}

// UpdateExt replaces the extension metadata with what fn returns, under
// the stream's lock, and persists it; an error from fn changes nothing.
func (s *Stream) UpdateExt(fn func(old json.RawMessage) (json.RawMessage, error)) error {
	return s.update(func(m *streamMeta) error {
		b, err := fn(append(json.RawMessage(nil), m.Ext...))
		if err != nil {
			return err
		}
		m.Ext = b
		return nil
	})
}

// RetentionHours returns the stream's retention period.
func (s *Stream) RetentionHours() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.meta.RetentionHours
}

// SetRetentionBytes changes the stream's size cap (0: the core's default).
func (s *Stream) SetRetentionBytes(n int64) error {
	return s.update(func(m *streamMeta) error {
		m.RetentionBytes = n
		s.sizeSegmentsLocked()
		return nil
	})
}

// OwnRetentionBytes returns the stream's own size cap (0: none; the
// core's default cap, if any, then applies).
func (s *Stream) OwnRetentionBytes() int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.meta.RetentionBytes
}

// EnforceRetention applies the stream's retention now and returns the
// records and bytes removed, counted with the janitor's.
func (s *Stream) EnforceRetention() (uint64, int64, error) {
	recs, bytes, err := s.enforceRetention()
	if recs > 0 || bytes > 0 {
		s.core.metrics.trimmedRecords.Add(float64(recs))
		s.core.metrics.trimmedBytes.Add(float64(bytes))
	}
	return recs, bytes, err
}

// UpdateTags changes the stream's tags through fn, which gets a copy; an
// error from fn changes nothing.
func (s *Stream) UpdateTags(fn func(tags map[string]string) error) error {
	return s.update(func(m *streamMeta) error {
		cp := make(map[string]string, len(m.Tags))
		for k, v := range m.Tags {
			cp[k] = v
		}
		if err := fn(cp); err != nil {
			return err
		}
		m.Tags = cp
		return nil
	})
}

// SetMode changes the capacity mode (ModeProvisioned or ModeOnDemand).
func (s *Stream) SetMode(mode string) error {
	return s.update(func(m *streamMeta) error { m.Mode = mode; return nil })
}

// SetEncryption records the stream's encryption type ("KMS", or "" for
// none) and KMS key id. Records are then reported as KMS-encrypted; Eddy
// does not encrypt data at rest itself.
func (s *Stream) SetEncryption(typ, keyID string) error {
	return s.update(func(m *streamMeta) error {
		m.EncryptionType, m.KeyID = typ, keyID
		return nil
	})
}

// UpdateMetrics changes the enabled shard-level metrics to what fn
// returns for a copy of the current ones, under the stream's lock.
func (s *Stream) UpdateMetrics(fn func(cur []string) []string) error {
	return s.update(func(m *streamMeta) error {
		m.Metrics = fn(append([]string(nil), m.Metrics...))
		return nil
	})
}
