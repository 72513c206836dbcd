package fragments

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eddy-video/eddy/datastreams"
	"github.com/eddy-video/eddy/datastreams/atomicfile"
	"github.com/eddy-video/eddy/datastreams/logstore"
	"github.com/eddy-video/eddy/fragments/cmaf"
	"github.com/eddy-video/eddy/fragments/events"
)

// Store is the fragment store of one video stream: the stream's log on
// the shard core (one shard; a fragment is one record and its number is
// the record's sequence number), the init segments beside it, and the
// fragment index by server and producer time.
//
// The log is the truth. A fragment is listed (appended to the index) only
// after its record is durable; on open, index entries the log does not
// hold are dropped and records the index lacks are indexed again.
type Store struct {
	name   string
	stream *datastreams.Stream
	shard  *datastreams.Shard
	idx    *Index
	events *datastreams.Stream // the {name}.events stream; nil when absent
	// timeline indexes the events of the event stream by their time; nil
	// when the event stream is absent.
	timeline *events.Timeline

	mu    sync.Mutex // serializes Append; guards inits, behind, cursor, catching and closed
	inits map[InitID][]byte
	// behind is set when fragments are durable in the log but not indexed
	// yet: an index write failed (a full disk), or the records to index
	// could not be read (in cold segments while the object store is
	// down), or there were more than openReindex of them at open. While it
	// is set, appends go to the log only and are indexed (in order) by the
	// catch-up: before the next append or when retention frees space, or
	// by the background catch-up while one runs (catching).
	behind bool
	// cursor is where the catch-up resumes (at least): past records it
	// read that are not fragments.
	cursor   uint64
	catching bool
	waiting  bool // reconcile logged that it waits for object storage
	// announceFrom is the first fragment an index catch-up announces
	// when it lists it: those at or past the index's end at open were
	// never announced (their index write failed, or the process died
	// between the log append and the index write), save those the event
	// stream's tail shows announced (a restored index lags the events).
	announceFrom uint64
	closed       bool
	stop         chan struct{}
	catcher      sync.WaitGroup

	live  *Live
	reads *atomic.Int64 // fragment records read from the log (the manager's count)

	listed listedSignal // wakes NextListed's waiters
	logger *slog.Logger

	created time.Time // the stream's creation, read at open
}

const (
	initDir  = "init"
	indexDir = "fragments.idx"
	// openReindex is the most records openStore indexes before it
	// returns; the rest (an index rebuilt from a long log) is indexed in
	// the background.
	openReindex = 4096
	// retryFirst and retryMax bound the wait between tries of a
	// background catch-up that failed (doubling from the first).
	retryFirst = time.Second
	retryMax   = time.Minute
	// catchUpRecords and catchUpBytes bound a batch of the background
	// catch-up: Close waits for the batch being read (a cold read is not
	// cancellable), and an append waits for the batch being indexed.
	catchUpRecords = 16
	catchUpBytes   = 8 << 20
)

// openStore opens the store of a video stream whose log is s; reads
// counts the fragment records it reads.
func openStore(s *datastreams.Stream, events *datastreams.Stream, reads *atomic.Int64, log *slog.Logger) (*Store, error) {
	sh, err := s.Shard(0)
	if err != nil {
		return nil, err
	}
	st := &Store{name: s.Name(), created: s.Info().Created, stream: s, shard: sh, events: events, inits: map[InitID][]byte{}, reads: reads, logger: log,
		stop: make(chan struct{})}
	if err := os.MkdirAll(filepath.Join(s.Dir(), initDir), 0o755); err != nil {
		return nil, err
	}
	idx, err := OpenIndex(filepath.Join(s.Dir(), indexDir))
	if err != nil {
		// The index is derived data: when it is damaged or of another
		// format version, it is rebuilt from the log.
		log.Info("rebuilding the fragment index from the log", "stream", s.Name(), "reason", err)
		_ = os.RemoveAll(filepath.Join(s.Dir(), indexDir))
		if idx, err = OpenIndex(filepath.Join(s.Dir(), indexDir)); err != nil {
			return nil, err
		}
	}
	st.idx = idx
	if err := st.reconcile(); err != nil {
		_ = idx.Close()
		return nil, err
	}
	if events != nil {
		if st.timeline, err = eventsOpen(events, log); err != nil {
			_ = idx.Close()
			return nil, fmt.Errorf("event timeline of %s: %w", s.Name(), err)
		}
	}
	st.live = newLive(st.NextSeq())
	if st.behind {
		st.mu.Lock()
		st.startCatchUpLocked(st.waiting)
		st.mu.Unlock()
	}
	return st, nil
}

// reconcile makes the index agree with the log after a restart. It
// indexes at most openReindex records, from local segments only; when
// there are more, when the first is in a cold segment, or when they cannot
// be read for want of the object store, it leaves the store behind and
// openStore starts the background catch-up.
func (st *Store) reconcile() error {
	first, next := st.shard.Log().Bounds()
	_, inext := st.idx.Bounds()
	if inext > next {
		if err := st.idx.Truncate(next); err != nil {
			return err
		}
		_, inext = st.idx.Bounds()
	}
	from := max(inext, first)
	st.announceFrom = max(from, next)
	if from < next {
		st.announceFrom = from
		if last, ok := st.lastAnnounced(); ok {
			st.announceFrom = max(from, last+1)
		}
	}
	if from < next && from < events.LocalFrom(st.shard.Log()) {
		// The index lags into cold segments: read in the background, not
		// before the server listens.
		st.behind, st.cursor = true, from
		st.logger.Info("fragment index: indexing fragments of cold segments in the background", "stream", st.name, "from", from, "next", next)
		_, err := st.idx.TrimBefore(first)
		return err
	}
	to := min(next, from+openReindex)
	reached, err := st.indexFrom(from, to, st.announceLate)
	st.cursor = reached
	switch {
	case errors.Is(err, logstore.ErrUnavailable):
		st.behind, st.waiting = true, true
		st.logger.Warn("fragment index: waiting for object storage to index the fragments the index lacks; new fragments are listed once they are",
			"stream", st.name, "from", reached, "next", next, "err", err)
	case err != nil:
		return err
	case reached < next:
		st.behind = true
		st.logger.Info("fragment index: indexing the rest of the log in the background", "stream", st.name, "from", reached, "next", next)
	}
	_, err = st.idx.TrimBefore(first)
	return err
}

// indexFrom indexes the log's records [from, next); the fragments of
// each batch are passed to indexed once their entries are written. It
// returns the sequence it reached (the next to read).
func (st *Store) indexFrom(from, next uint64, indexed func([]*Fragment, []IndexEntry)) (uint64, error) {
	for from < next {
		recs, err := st.shard.Log().Read(from, 256, 64<<20)
		if err != nil {
			return from, fmt.Errorf("reindex %s from %d: %w", st.name, from, err)
		}
		if len(recs) == 0 {
			return next, nil
		}
		if err := st.indexRecords(recs, indexed); err != nil {
			return from, err
		}
		from = recs[len(recs)-1].Seq + 1
	}
	return max(from, next), nil
}

// indexRecords appends the index entries of the fragments among recs and
// passes the fragments and their entries to indexed.
func (st *Store) indexRecords(recs []logstore.Record, indexed func([]*Fragment, []IndexEntry)) error {
	st.reads.Add(int64(len(recs)))
	entries := make([]IndexEntry, 0, len(recs))
	var frags []*Fragment
	for _, r := range recs {
		if f, err := parseRecord(r.Seq, r.Data); err == nil {
			entries = append(entries, f.indexEntry(len(r.Data)))
			frags = append(frags, f)
		}
	}
	if err := st.idx.Append(entries...); err != nil {
		return err
	}
	if len(frags) > 0 {
		indexed(frags, entries)
	}
	return nil
}

// listedLate tells of fragments indexed by a catch-up after open: listed
// now, so announced now (announceLate).
func (st *Store) listedLate(frags []*Fragment, entries []IndexEntry) {
	st.live.stored()
	st.listed.notify()
	st.announceLate(frags, entries)
}

// announceLate announces fragments indexed by a catch-up, as Append would
// have (the event stream's readers would otherwise never hear of them),
// in one put — save those before announceFrom: the fragments an open
// indexes again were announced when appended.
func (st *Store) announceLate(frags []*Fragment, entries []IndexEntry) {
	var puts []datastreams.PutEntry
	for i, f := range frags {
		if f.Seq >= st.announceFrom {
			puts = append(puts, st.notice(f, int(entries[i].Size)))
		}
	}
	st.put(puts)
}

// lastAnnounced returns the newest fragment number this store announced
// on its event stream, looked up in the event log's local segments from
// the newest back; ok is false when none of them holds a notice of this
// store (no event stream, or its tail is cold or trimmed).
func (st *Store) lastAnnounced() (seq uint64, ok bool) {
	if st.events == nil {
		return 0, false
	}
	sh, err := st.events.Shard(0)
	if err != nil {
		return 0, false
	}
	first, end := sh.Log().Bounds()
	low := max(first, events.LocalFrom(sh.Log()))
	for span := uint64(64); end > low; span *= 4 {
		from := low
		if end-low > span {
			from = end - span
		}
		for at := from; at < end; {
			res, err := st.events.Read(sh, at, 1000, 4<<20, false)
			if err != nil || len(res.Records) == 0 {
				break
			}
			for _, r := range res.Records {
				if r.Seq >= end {
					break
				}
				var e FragmentEvent
				if json.Unmarshal(r.Data, &e) != nil || e.Type != "fragment" || e.StreamName != st.name {
					continue
				}
				if n, valid := ParseFragmentNumber(e.FragmentNumber); valid && (!ok || n > seq) {
					seq, ok = n, true
				}
			}
			if at = res.Next; at >= end {
				break
			}
		}
		if ok {
			return seq, true
		}
		end = from
	}
	return 0, false
}

// catchUpFrom is where the catch-up resumes (st.mu held).
func (st *Store) catchUpFrom() (from, next uint64) {
	first, next := st.shard.Log().Bounds()
	_, inext := st.idx.Bounds()
	return max(inext, first, st.cursor), next
}

// catchUpLocked indexes the fragments that are durable in the log but
// missing from the index (st.mu held). A background catch-up, while one
// runs, does it instead: this returns at once.
func (st *Store) catchUpLocked() error {
	if !st.behind || st.catching {
		return nil
	}
	from, next := st.catchUpFrom()
	reached, err := st.indexFrom(from, next, st.listedLate)
	st.cursor = max(st.cursor, reached)
	if err != nil {
		if errors.Is(err, logstore.ErrUnavailable) {
			st.startCatchUpLocked(false) // it logs the wait
		}
		return err
	}
	st.behind = false
	return nil
}

// CatchingUp reports whether the background catch-up runs: fragments
// durable in the log are not all listed yet (List answers those indexed,
// in order; the rest are listed, and announced, as it reaches them).
func (st *Store) CatchingUp() bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.catching
}

// startCatchUpLocked starts the background catch-up (st.mu held): it
// indexes the log from where the index ends to the log's end, one batch
// at a time, reading without the lock (a cold read does not hold up
// appends, which go to the log only while the store is behind). It retries
// with backoff (retryFirst doubling to retryMax) until it reaches the
// log's end, when appends index their fragments again, or Close. warned
// tells that the wait for object storage was logged already.
func (st *Store) startCatchUpLocked(warned bool) {
	if st.catching || st.closed {
		return
	}
	st.catching = true
	st.catcher.Add(1)
	go st.catchUpLoop(warned)
}

func (st *Store) catchUpLoop(warned bool) {
	defer st.catcher.Done()
	wait, indexed := retryFirst, false
	for {
		done, progress, err := st.catchUpStep()
		indexed = indexed || progress
		if done {
			select {
			case <-st.stop:
				return
			default:
			}
			if warned || indexed {
				st.logger.Info("fragment index caught up with the log", "stream", st.name)
			}
			return
		}
		if err == nil {
			wait = retryFirst
			continue
		}
		if !errors.Is(err, logstore.ErrUnavailable) {
			st.logger.Error("fragment index: indexing from the log failed; tried again later", "stream", st.name, "retry", wait, "err", err)
		} else if !warned {
			st.logger.Warn("fragment index: waiting for object storage to index fragments; new fragments are listed once they are", "stream", st.name, "err", err)
			warned = true
		}
		select {
		case <-st.stop:
			st.mu.Lock()
			st.catching = false
			st.mu.Unlock()
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, retryMax)
	}
}

// catchUpStep indexes one batch of the catch-up. done: nothing is left (or
// the store closed; st.catching is then cleared); progress: it indexed
// the batch it read.
func (st *Store) catchUpStep() (done, progress bool, err error) {
	st.mu.Lock()
	from, next := st.catchUpFrom()
	if st.closed || !st.behind || from >= next {
		if !st.closed {
			st.behind = false
		}
		st.catching = false
		st.mu.Unlock()
		return true, false, nil
	}
	st.mu.Unlock()
	recs, err := st.shard.Log().Read(from, catchUpRecords, catchUpBytes)
	if err != nil {
		return false, false, fmt.Errorf("reindex %s from %d: %w", st.name, from, err)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if now, _ := st.catchUpFrom(); now != from || st.closed {
		return false, false, nil // trimmed or closed meanwhile: look again
	}
	if len(recs) == 0 {
		st.cursor = next
		return false, false, nil
	}
	if err := st.indexRecords(recs, st.listedLate); err != nil {
		return false, false, err
	}
	st.cursor = max(st.cursor, recs[len(recs)-1].Seq+1)
	return false, true, nil
}

// Append stores an init segment (once) and a fragment durably, indexes
// it, and announces it on the event stream. It returns the fragment's
// log sequence.
//
// A fragment that breaks the store's rule (Fragment.Validate) is refused
// before anything is written: what a read would refuse is never stored.
func (st *Store) Append(init *InitSegment, f *Fragment) (uint64, error) {
	seq, err := st.append(init, f)
	if err == nil {
		st.enforceCap() // the stream's own size cap, at once
	}
	return seq, err
}

func (st *Store) append(init *InitSegment, f *Fragment) (uint64, error) {
	if err := f.Validate(); err != nil {
		return 0, err
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	// Every step below fails cleanly on a full disk: the init segment
	// is written whole or not at all, the log cuts back a failed append,
	// and an index entry is written only for a durable record.
	if err := st.catchUpLocked(); err != nil && !errors.Is(err, logstore.ErrUnavailable) {
		return 0, fmt.Errorf("index fragments of %s: %w", st.name, err)
	}
	if _, ok := st.inits[init.ID]; !ok {
		if err := st.saveInit(init); err != nil {
			return 0, err
		}
	}
	rec := encodeRecord(f)
	// Straight to the stream's one shard: a video stream's log is not
	// routed by partition key nor throttled like a data stream's.
	seq, _, err := st.shard.Append([]datastreams.Entry{{Key: []byte("fragment"), Data: rec}})
	if err != nil {
		return 0, err
	}
	f.Seq = seq
	if st.behind {
		// Durable; indexed (listed and announced) by the catch-up, after
		// the fragments before it.
		return f.Seq, nil
	}
	if err := st.idx.Append(f.indexEntry(len(rec))); err != nil {
		// The fragment is durable; it is listed once the index catches up.
		st.behind = true
		return f.Seq, fmt.Errorf("index fragment %d of %s: %w", f.Seq, st.name, err)
	}
	st.live.stored()
	st.listed.notify()
	st.announce(f, len(rec))
	return f.Seq, nil
}

// FragmentEvent is the record every persisted fragment appends to the
// video stream's event stream ({name}.events), as JSON.
type FragmentEvent struct {
	Type                         string `json:"type"` // "fragment"
	StreamName                   string `json:"streamName"`
	FragmentNumber               string `json:"fragmentNumber"`
	ProducerTimestampMillis      int64  `json:"producerTimestamp"` // Unix ms
	ServerTimestampMillis        int64  `json:"serverTimestamp"`   // Unix ms
	FragmentLengthInMilliseconds int64  `json:"fragmentLengthInMilliseconds"`
	FragmentSizeInBytes          int64  `json:"fragmentSizeInBytes"`
	Keyframe                     bool   `json:"keyframe"`
}

func (st *Store) announce(f *Fragment, size int) {
	st.put([]datastreams.PutEntry{st.notice(f, size)})
}

// notice is the event stream entry announcing fragment f of size bytes.
func (st *Store) notice(f *Fragment, size int) datastreams.PutEntry {
	b, _ := json.Marshal(FragmentEvent{
		Type: "fragment", StreamName: st.name, FragmentNumber: FragmentNumber(f.Seq),
		ProducerTimestampMillis: f.ProducerTime / 1e6, ServerTimestampMillis: f.ServerTime / 1e6,
		FragmentLengthInMilliseconds: f.Duration / 1e6, FragmentSizeInBytes: int64(size), Keyframe: f.Keyframe,
	})
	return datastreams.PutEntry{Key: []byte(st.name), Data: b}
}

// put appends notices to the event stream, in order, in one put.
func (st *Store) put(entries []datastreams.PutEntry) {
	if st.events == nil || len(entries) == 0 {
		return
	}
	// The event stream is a data stream like any other; a failure there
	// (deleted under us, disk full) must not fail the fragment.
	_, _ = st.events.Put(entries)
}

// FragmentNumber formats a log sequence as the fragment number clients
// see (a decimal sequence number of the video stream's shard).
func FragmentNumber(seq uint64) string { return datastreams.EncodeSeq(0, seq) }

// ParseFragmentNumber is the inverse of FragmentNumber.
func ParseFragmentNumber(s string) (uint64, bool) {
	shard, seq, ok := datastreams.DecodeSeq(s)
	if !ok || shard != 0 {
		return 0, false
	}
	return seq, true
}

func (st *Store) saveInit(init *InitSegment) error {
	p := filepath.Join(st.stream.Dir(), initDir, init.ID.String()+".mp4")
	if _, err := os.Stat(p); err != nil {
		if err := atomicfile.WriteFile(p, init.Bytes, 0o644); err != nil {
			return fmt.Errorf("save init segment: %w", err)
		}
	}
	st.inits[init.ID] = init.Bytes
	return nil
}

// Name returns the video stream's name.
func (st *Store) Name() string { return st.name }

// NextSeq returns the sequence number the next appended fragment gets.
func (st *Store) NextSeq() uint64 {
	_, next := st.shard.Log().Bounds()
	return next
}

// Live returns the stream's live parts (LL-HLS).
func (st *Store) Live() *Live { return st.live }

// Created returns the stream's creation time, as Describe gives it: a
// stream deleted and created again under the same name has a new store
// with a new creation time.
func (st *Store) Created() time.Time { return st.created }

// Init returns an init segment by ID: stored, or that of the fragment
// being recorded (stored with it).
func (st *Store) Init(id InitID) ([]byte, error) {
	if b, ok := st.live.Init(id); ok {
		return b, nil
	}
	st.mu.Lock()
	b, ok := st.inits[id]
	st.mu.Unlock()
	if ok {
		return b, nil
	}
	b, err := os.ReadFile(filepath.Join(st.stream.Dir(), initDir, id.String()+".mp4"))
	if err != nil {
		return nil, fmt.Errorf("init segment %s: %w", id, err)
	}
	if sum := sha256.Sum256(b); [16]byte(sum[:16]) != id {
		return nil, fmt.Errorf("init segment %s: checksum mismatch", id)
	}
	// Init segments stored before Eddy wrote hvc1 say hev1; they are
	// served as hvc1, as new ones are written, and left as they are on
	// disk (their name is the hash of what was stored).
	cmaf.H265SampleEntriesToHVC1(b)
	st.mu.Lock()
	st.inits[id] = b
	st.mu.Unlock()
	return b, nil
}

// ErrFragmentNotFound is returned for a fragment the store does not hold.
var ErrFragmentNotFound = errors.New("fragments: fragment not found")

// Read returns the fragment with log sequence seq.
func (st *Store) Read(seq uint64) (*Fragment, error) {
	first, next := st.shard.Log().Bounds()
	if seq < first || seq >= next {
		return nil, ErrFragmentNotFound
	}
	st.reads.Add(1)
	recs, err := st.shard.Log().Read(seq, 1, 1)
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 || recs[0].Seq != seq {
		return nil, ErrFragmentNotFound
	}
	return parseRecord(seq, recs[0].Data)
}

// List returns index entries whose time (server or producer) lies in
// [start, end], in fragment order, from fromSeq on; next is where to
// resume (0: done). Entries the log has trimmed are never returned, nor
// entries that break the fragment rule (written before it existed: a read
// would refuse their fragment).
func (st *Store) List(t IndexTime, start, end time.Time, fromSeq uint64, limit int) ([]IndexEntry, uint64, error) {
	first, _ := st.shard.Log().Bounds()
	entries, next, err := st.idx.Range(t, start.UnixNano(), end.UnixNano(), max(fromSeq, first), limit)
	valid := entries[:0]
	for i := range entries {
		if validEntry(&entries[i]) {
			valid = append(valid, entries[i])
		}
	}
	return valid, next, err
}

// Lookup returns the index entry of one listed fragment.
func (st *Store) Lookup(seq uint64) (IndexEntry, bool) {
	if first, _ := st.shard.Log().Bounds(); seq < first {
		return IndexEntry{}, false
	}
	e, ok := st.idx.Lookup(seq)
	return e, ok && validEntry(&e)
}

// Last returns the newest fragment's index entry.
func (st *Store) Last() (IndexEntry, bool) { return st.idx.Last() }

// trim drops index entries of fragments retention removed, and indexes
// any fragment whose index write failed for want of the space retention
// has just freed.
func (st *Store) trim() {
	first, _ := st.shard.Log().Bounds()
	_, _ = st.idx.TrimBefore(first)
	st.mu.Lock()
	_ = st.catchUpLocked()
	st.mu.Unlock()
}

// Size returns the bytes the stream's log occupies.
func (st *Store) Size() int64 { return st.shard.Log().Size() }

func (st *Store) close() error {
	st.mu.Lock()
	if !st.closed {
		st.closed = true
		close(st.stop)
	}
	st.mu.Unlock()
	st.catcher.Wait()
	st.listed.close()
	if st.timeline != nil {
		st.timeline.Close()
	}
	return st.idx.Close()
}

// Timeline returns the event timeline of the stream: the events of its
// event stream indexed by their time, and their live feed. It is nil only
// for a store opened without its event stream.
func (st *Store) Timeline() *events.Timeline { return st.timeline }

// eventsOpen opens a timeline (a variable, so tests can fail it).
var eventsOpen = events.Open
