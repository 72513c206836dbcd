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

	mu    sync.Mutex // serializes Append; guards inits and behind
	inits map[InitID][]byte
	// behind is set when a fragment is durable in the log but its index
	// entry could not be written (a full disk): the index catches up
	// before the next append, or when retention frees space.
	behind bool

	live  *Live
	reads *atomic.Int64 // fragment records read from the log (the manager's count)

	listed listedSignal // wakes NextListed's waiters
	logger *slog.Logger
}

const (
	initDir  = "init"
	indexDir = "fragments.idx"
)

// openStore opens the store of a video stream whose log is s; reads
// counts the fragment records it reads.
func openStore(s *datastreams.Stream, events *datastreams.Stream, reads *atomic.Int64, log *slog.Logger) (*Store, error) {
	sh, err := s.Shard(0)
	if err != nil {
		return nil, err
	}
	st := &Store{name: s.Name(), stream: s, shard: sh, events: events, inits: map[InitID][]byte{}, reads: reads, logger: log}
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
	return st, nil
}

// reconcile makes the index agree with the log after a restart.
func (st *Store) reconcile() error {
	first, next := st.shard.Log().Bounds()
	_, inext := st.idx.Bounds()
	if inext > next {
		if err := st.idx.Truncate(next); err != nil {
			return err
		}
		_, inext = st.idx.Bounds()
	}
	if err := st.indexFrom(max(inext, first), next, nil); err != nil {
		return err
	}
	_, err := st.idx.TrimBefore(first)
	return err
}

// indexFrom indexes the log's records [from, next); each is passed to
// indexed (when set) once its entry is written.
func (st *Store) indexFrom(from, next uint64, indexed func(f *Fragment, size int)) error {
	for from < next {
		recs, err := st.shard.Log().Read(from, 256, 64<<20)
		if err != nil {
			return fmt.Errorf("reindex %s from %d: %w", st.name, from, err)
		}
		if len(recs) == 0 {
			break
		}
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
		if indexed != nil {
			for i, f := range frags {
				indexed(f, int(entries[i].Size))
			}
		}
		from = recs[len(recs)-1].Seq + 1
	}
	return nil
}

// catchUpLocked indexes the fragments that are durable in the log but
// missing from the index because their index write failed (st.mu held).
func (st *Store) catchUpLocked() error {
	if !st.behind {
		return nil
	}
	first, next := st.shard.Log().Bounds()
	_, inext := st.idx.Bounds()
	// Listed now: announced now, as Append would have (the event stream's
	// readers would otherwise never hear of them).
	err := st.indexFrom(max(inext, first), next, func(f *Fragment, size int) {
		st.live.stored()
		st.listed.notify()
		st.announce(f, size)
	})
	if err != nil {
		return err
	}
	st.behind = false
	return nil
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
	if err := st.catchUpLocked(); err != nil {
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
	if st.events == nil {
		return
	}
	b, _ := json.Marshal(FragmentEvent{
		Type: "fragment", StreamName: st.name, FragmentNumber: FragmentNumber(f.Seq),
		ProducerTimestampMillis: f.ProducerTime / 1e6, ServerTimestampMillis: f.ServerTime / 1e6,
		FragmentLengthInMilliseconds: f.Duration / 1e6, FragmentSizeInBytes: int64(size), Keyframe: f.Keyframe,
	})
	// The event stream is a data stream like any other; a failure there
	// (deleted under us, disk full) must not fail the fragment.
	_, _ = st.events.Put([]datastreams.PutEntry{{Key: []byte(st.name), Data: b}})
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
