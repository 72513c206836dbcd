package datastreams

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/eddy-video/eddy/datastreams/logstore"
)

// Entry is a record to append: the log assigns its sequence and time.
type Entry struct {
	Key  []byte
	Data []byte
}

// appendResult reports where a request's entries landed: consecutive
// sequences from first, all with arrival time t.
type appendResult struct {
	first uint64
	t     int64
	err   error
}

type appendReq struct {
	entries []Entry
	seal    bool // close the shard after everything queued before it
	done    chan appendResult
}

// shardWriter is the one goroutine that appends to a shard's log. It takes
// every request queued at the moment it wakes, writes them with one write
// and one fsync (group commit), and only then answers the requests, so an
// acknowledged record is durable. Readers waiting at the tip are woken
// after each commit.
//
// The writer of a data stream's shard runs for the shard's life. That of
// a video or events shard (lazy) runs only while requests wait: such a
// shard is written a record every fragment or events batch, and a
// goroutine parked between them (two per camera) is stack memory, about
// 8 KiB each, for nothing.
type shardWriter struct {
	log      logstore.Log
	syncEach bool // fsync before acknowledging (policy "always")
	now      func() time.Time
	onCommit func(records, bytes int, took time.Duration)
	// onFail classifies a failed commit (a full disk) into the error its
	// requests get.
	onFail func(error) error

	reqs   chan *appendReq
	notify atomic.Pointer[chan struct{}]
	wg     sync.WaitGroup
	stop   chan struct{}

	mu     sync.Mutex // guards sealed and stopped against late submitters
	sealed bool
	closed bool
	// lazy: the goroutine is started by the submit that makes pending
	// (requests queued or being queued, not yet taken) 1, and ends when
	// the requests it took bring it back to 0: one runs at a time.
	lazy    bool
	pending atomic.Int64
}

const (
	// writerQueue bounds the requests waiting for a data stream shard's
	// writer (a submitter waits beyond it). Its channel is allocated whole
	// with the shard: 1024 pointers, 8 KiB (4096 was no faster).
	// videoWriterQueue is the same for the shards of a video stream's
	// log and of its events stream, two per camera, written a record per
	// fragment and per events batch: 64 (512 bytes) is plenty, where 1024
	// was 16 KiB per camera.
	writerQueue      = 1024
	videoWriterQueue = 64
	// videoLogHints is how many recent append positions the log of a
	// video or events shard keeps (filelog.SetHints; a data stream's keep
	// 256, 6 KiB).
	videoLogHints    = 16
	maxCommitRecords = 50000
	maxCommitBytes   = 32 << 20
)

func newShardWriter(log logstore.Log, queue int, lazy, syncEach bool, syncInterval time.Duration, now func() time.Time, onCommit func(int, int, time.Duration), onFail func(error) error) *shardWriter {
	w := &shardWriter{log: log, syncEach: syncEach, now: now, onCommit: onCommit, onFail: onFail,
		reqs: make(chan *appendReq, queue), stop: make(chan struct{}), lazy: lazy}
	ch := make(chan struct{})
	w.notify.Store(&ch)
	if !lazy {
		w.wg.Add(1)
		go w.run()
	}
	if !syncEach && syncInterval > 0 {
		w.wg.Add(1)
		go w.syncLoop(syncInterval)
	}
	return w
}

// Changed returns a channel closed at the next commit. Take it before
// reading the log, then wait on it if the read found nothing new.
func (w *shardWriter) Changed() <-chan struct{} { return *w.notify.Load() }

func (w *shardWriter) wake() {
	ch := make(chan struct{})
	old := w.notify.Swap(&ch)
	close(*old)
}

// submit queues entries and returns the channel that will carry the result.
func (w *shardWriter) submit(entries []Entry, seal bool) (<-chan appendResult, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil, logstore.ErrClosed
	}
	if w.sealed {
		return nil, errShardClosed
	}
	if seal {
		w.sealed = true
	}
	req := &appendReq{entries: entries, seal: seal, done: make(chan appendResult, 1)}
	if w.lazy && w.pending.Add(1) == 1 {
		w.wg.Add(1)
		go w.run()
	}
	w.reqs <- req
	return req.done, nil
}

var errShardClosed = errf(KindInUse, "shard is closed")

func (w *shardWriter) run() {
	defer w.wg.Done()
	var batch []*appendReq
	var recs []logstore.Record
	for {
		var first *appendReq
		if w.lazy {
			first = <-w.reqs // pending counts it: it comes
		} else {
			select {
			case first = <-w.reqs:
			case <-w.stop:
				// Drain what was queued before Close so no submitter hangs.
				for {
					select {
					case r := <-w.reqs:
						batch = append(batch[:0], r)
						w.commit(batch, recs[:0])
					default:
						return
					}
				}
			}
		}
		batch = append(batch[:0], first)
		n, size := len(first.entries), entriesSize(first.entries)
	gather:
		for !first.seal && n < maxCommitRecords && size < maxCommitBytes {
			select {
			case r := <-w.reqs:
				batch = append(batch, r)
				n += len(r.entries)
				size += entriesSize(r.entries)
				if r.seal {
					break gather
				}
			default:
				break gather
			}
		}
		recs = w.commit(batch, recs[:0])
		seal := batch[len(batch)-1].seal
		idle := w.lazy && w.pending.Add(-int64(len(batch))) == 0
		// Drop references to the committed data so it can be freed
		// while the writer waits (a video fragment is megabytes).
		clear(batch)
		clear(recs)
		if seal {
			// Answer nothing more: the stream routes new records to the
			// children.
			if !w.lazy {
				<-w.stop
			}
			return
		}
		if idle {
			return
		}
	}
}

func entriesSize(es []Entry) int {
	n := 0
	for i := range es {
		n += len(es[i].Key) + len(es[i].Data)
	}
	return n
}

// commit appends and commits one group and answers its requests.
func (w *shardWriter) commit(batch []*appendReq, recs []logstore.Record) []logstore.Record {
	start := w.now()
	t := start.UnixNano()
	if last := w.log.LastTime(); t <= last {
		t = last + 1 // arrival times never go backwards within a shard
	}
	_, next := w.log.Bounds()
	seq := next
	firsts := make([]uint64, len(batch))
	for i, r := range batch {
		firsts[i] = seq
		for _, e := range r.entries {
			recs = append(recs, logstore.Record{Seq: seq, Time: t, Key: e.Key, Data: e.Data})
			seq++
		}
	}
	var err error
	if len(recs) > 0 {
		if err = w.log.Append(recs); err == nil {
			err = w.log.Commit(w.syncEach)
		}
		// A failed append or commit leaves the log as it was (the log
		// cuts back what it wrote): the requests fail, and the writer
		// goes on with the next group, which succeeds once space returns.
		if err != nil && w.onFail != nil {
			err = w.onFail(err)
		}
	}
	for i, r := range batch {
		res := appendResult{first: firsts[i], t: t, err: err}
		if r.seal && err == nil {
			res.first = seq // one past the last record: the shard's end
		}
		r.done <- res
	}
	sealed := batch[len(batch)-1].seal
	if err == nil && (len(recs) > 0 || sealed) {
		// Tailing readers learn of new records, or of the shard's end.
		w.wake()
	}
	if err == nil && len(recs) > 0 && w.onCommit != nil {
		w.onCommit(len(recs), entriesSizeRecs(recs), time.Since(start))
	}
	// Drop references to payloads so they can be collected.
	clear(recs)
	return recs
}

func entriesSizeRecs(rs []logstore.Record) int {
	n := 0
	for i := range rs {
		n += len(rs[i].Key) + len(rs[i].Data)
	}
	return n
}

func (w *shardWriter) syncLoop(every time.Duration) {
	defer w.wg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			_ = w.log.Sync()
		case <-w.stop:
			return
		}
	}
}

// close stops the writer after answering everything already queued.
func (w *shardWriter) close() {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return
	}
	w.closed = true
	w.mu.Unlock()
	close(w.stop)
	w.wg.Wait()
	w.wake() // release tailing readers
}
