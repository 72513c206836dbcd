// Package tier moves sealed log segments to an S3-compatible bucket and
// reads them back: the object-storage tier under filelog (it implements
// filelog.Cold).
//
// Bucket layout (keys under the configured prefix) mirrors the data
// directory: a log kept in <data>/<rel> has its sealed segments at
// <rel>/<base>.seg and their sparse indexes at <rel>/<base>.idx; every
// other file of a stream directory (stream.json, init segments, the
// fragment index, ...) but those Config.MirrorSkip names is mirrored at
// its path, and <data>/FORMAT at FORMAT. Restore builds a data directory
// from that alone.
//
// Upload: a sealed segment is PUT with a conditional PUT (If-None-Match:
// *, multipart past the part size) and its CRC32C (Castagnoli) in the
// metadata; an object already at the key (an upload whose record a crash
// lost) is HEADed and accepted when size and checksum match, else counted
// as a failure and the segment stays local. Then its index (conditional
// too, an identical one accepted) and the stream directory's changed
// small files are PUT. Only then is the upload recorded (filelog's .up), and the
// segment's local copy may go once its newest record is older than the
// hot time. Failures are retried per segment with backoff (1 s doubling
// to 1 min); ingest never waits. Past Config.QueueBytes of waiting
// segments the oldest is discarded and counted as lost.
//
// Deletes: retention's trimmed segments lose their objects in batches;
// a stream's deletion is journaled in <data>/tier/deleting/<dir id>
// before the core's commit and its objects deleted after it. In the
// background after Start (which never waits for the store), what a stop
// interrupted is repaired: unfinished multipart uploads are aborted and
// the objects of segments discarded by the queue bound
// (<data>/tier/pending-deletes) deleted, both before any upload;
// journaled deletions are finished; each log's objects below its first
// segment (one listing from the start) and those of shard directories
// gone from existing stream directories are deleted, except the keys a
// restore left out (<data>/tier/restore-skipped.json). It never deletes a
// stream directory's objects because the directory is missing locally
// (a fresh or restored node must not empty the bucket), and trusts a
// listing only under the prefix it asked for.
//
// The mirror uploads a file when its size or modification time changed
// since its last upload (a file of 256 KiB or more, such as the growing
// fragment index, at most every MirrorLargeEvery); <data>/tier/mirror.json
// keeps that across restarts (Restore writes it too), so ten years of
// index chunks are not uploaded again.
//
// It knows logs, segments and files, never video or the Kinesis APIs.
package tier

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eddy-video/eddy/datastreams/logstore"
	"github.com/eddy-video/eddy/datastreams/logstore/filelog"
	"github.com/eddy-video/eddy/datastreams/objstore"
	"github.com/eddy-video/eddy/datastreams/tier/blockcache"
)

// Config configures a Tier. Zero values take the defaults.
type Config struct {
	Bucket objstore.Bucket
	Cache  *blockcache.Cache // reads of cold segments (keys as Bucket's)
	Root   string            // the data directory; keys are paths under it
	// Hot is how long a segment stays on local disk once uploaded,
	// counted from its newest record (0: deleted locally as soon as the
	// upload is verified).
	Hot time.Duration
	// HotOf, when set, overrides Hot for the log in dir (the server reads
	// the stream's eddy:hot tag); ok false: Hot applies.
	HotOf func(logDir string) (hot time.Duration, ok bool)
	// QueueBytes bounds the sealed bytes waiting for upload across all
	// logs (0: only the disk bounds them); past it the oldest waiting
	// segment is discarded and counted as lost.
	QueueBytes int64
	// Uploads is how many segments upload at once (default 4).
	Uploads int
	// Interval is how often logs are looked at for sealed segments and
	// hot segments past their time (default 1 s); MirrorInterval how often
	// the stream directories' other files are mirrored (default 1 min;
	// a stream's files are also mirrored after each upload of its segments).
	Interval       time.Duration
	MirrorInterval time.Duration
	// MirrorSkip names directories (base names) inside stream directories
	// that are not mirrored (derived data the server rebuilds).
	MirrorSkip []string
	// MirrorLargeEvery is how often a changed file of 256 KiB or more (a
	// growing fragment index) is mirrored again (default 10 min); smaller
	// files are mirrored whenever they changed.
	MirrorLargeEvery time.Duration
	Now              func() time.Time
	Logger           *slog.Logger
	Registerer       prometheus.Registerer // eddy_object_* series
}

// Tier is the object-storage tier of one data directory.
//
// Work happens in the background: a scanner looks at every attached log
// each Interval (uploads sealed segments through a pool of Uploads
// workers, applies the hot policy and the queue bound), a mirror copies
// the stream directories' other files, and a deleter removes the objects
// of trimmed segments and deleted streams. mu guards the registry and the
// queues; the bucket is never called with it held.
type Tier struct {
	cfg     Config
	log     *slog.Logger
	m       *metrics
	clockFn atomic.Pointer[func() time.Time] // of backoffs and scans (real time: they are about the network)

	mu        sync.Mutex
	logs      map[*filelog.Log]*logState
	inflight  map[string]chan struct{} // segment key → closed when its upload ends
	retry     map[string]backoff       // segment key → when it may be tried again
	deleting  map[string]bool          // stream dirs (rel) journaled for deletion: no more uploads there
	dirQ      []string                 // stream dirs (rel) deleted, whose objects are to go
	delQ      []string                 // keys of objects to delete
	dirty     map[string]bool          // stream dirs (rel) to mirror soon
	detached  map[string]bool          // log dirs (rel) detached: if removed, their objects go
	started   bool
	closed    bool
	needAbort bool // AbortUploads not done yet since Start (uploads wait for it)
	needDirs  bool // the shard directories of the stream directories not reconciled yet
	recRetry  backoff
	skip      map[string]bool // keys a restore left out: never deleted by reconciliation
	durable   map[string]bool // keys of tier/pending-deletes
	replay    []string        // pending-deletes found at Start: deleted before uploads begin

	mirrorMu sync.Mutex // one mirror pass at a time (its walks and deletes)
	manMu    sync.Mutex // guards mirrored and largeAt (never held across a bucket call)
	mirrored map[string]stamp
	largeAt  map[string]time.Time   // when a large file was last mirrored
	dirMu    map[string]*sync.Mutex // stream dir (rel) → its PUTs' lock (t.mu guards the map)
	delMu    sync.Mutex             // one delete run at a time
	pdMu     sync.Mutex             // tier/pending-deletes
	passMu   sync.Mutex             // one scan pass at a time

	kick, mirrorKick, delKick chan struct{}
	jobs                      chan pending
	ctx                       context.Context
	cancel                    context.CancelFunc
	wg                        sync.WaitGroup
}

// logState is an attached log.
type logState struct {
	l          *filelog.Log
	rel        string // its directory under Root, slash-separated: the key prefix
	reconciled bool   // its objects below the first base looked for
	kicked     bool   // to be scanned at the next pass (t.mu)
	gen        uint64 // uploads of it ended well (t.mu)
	// From its last scan (passMu): when it is next due, and its sealed
	// local segments waiting for upload.
	nextScan time.Time
	pending  []pending
}

// backoff is a segment's (or the deleter's) retry state.
type backoff struct {
	delay time.Duration
	next  time.Time
}

const (
	minBackoff = time.Second
	maxBackoff = time.Minute
	deleteMax  = 1000 // keys per Delete request
)

// after returns the next backoff after a failure at now.
func (b backoff) after(now time.Time) backoff {
	d := b.delay * 2
	if d < minBackoff {
		d = minBackoff
	}
	if d > maxBackoff {
		d = maxBackoff
	}
	return backoff{delay: d, next: now.Add(d)}
}

var _ filelog.Cold = (*Tier)(nil)

// New returns a tier; Start begins its work.
func New(cfg Config) (*Tier, error) {
	if cfg.Bucket == nil {
		return nil, errors.New("tier: no bucket")
	}
	if cfg.Root == "" {
		return nil, errors.New("tier: no data directory")
	}
	root, err := filepath.Abs(cfg.Root)
	if err != nil {
		return nil, err
	}
	cfg.Root = root
	if cfg.Uploads <= 0 {
		cfg.Uploads = 4
	}
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	if cfg.MirrorInterval <= 0 {
		cfg.MirrorInterval = time.Minute
	}
	if cfg.MirrorLargeEvery <= 0 {
		cfg.MirrorLargeEvery = 10 * time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	t := &Tier{
		cfg:        cfg,
		log:        cfg.Logger.With("component", "tier"),
		m:          newMetrics(cfg.Registerer),
		logs:       map[*filelog.Log]*logState{},
		inflight:   map[string]chan struct{}{},
		retry:      map[string]backoff{},
		deleting:   map[string]bool{},
		dirty:      map[string]bool{},
		detached:   map[string]bool{},
		mirrored:   map[string]stamp{},
		largeAt:    map[string]time.Time{},
		dirMu:      map[string]*sync.Mutex{},
		durable:    map[string]bool{},
		kick:       make(chan struct{}, 1),
		mirrorKick: make(chan struct{}, 1),
		delKick:    make(chan struct{}, 1),
		jobs:       make(chan pending),
	}
	t.setClock(time.Now)
	t.ctx, t.cancel = context.WithCancel(context.Background())
	return t, nil
}

// clock is the time of backoffs and scan gaps; setClock replaces it
// (tests).
func (t *Tier) clock() time.Time { return (*t.clockFn.Load())() }

func (t *Tier) setClock(f func() time.Time) { t.clockFn.Store(&f) }

// signal wakes a loop without blocking.
func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// Start reconciles with the bucket (aborts unfinished multipart uploads,
// finishes journaled stream deletions, deletes objects of trimmed
// segments) and starts uploading, mirroring and deleting in the background.
// The reconciliation runs in the background (Start never waits for the
// store), retried while the bucket cannot be reached; uploads wait for the
// multipart abort and the replay of tier/pending-deletes. Only local
// errors (the data directory's tier/ files) fail Start.
func (t *Tier) Start(_ context.Context) error {
	t.mu.Lock()
	if t.started || t.closed {
		t.mu.Unlock()
		return errors.New("tier: started twice or closed")
	}
	t.started, t.needAbort, t.needDirs = true, true, true
	t.mu.Unlock()
	if err := t.loadMirrored(); err != nil {
		return err
	}
	if err := t.loadJournal(); err != nil {
		return err
	}
	if err := t.loadSkipped(); err != nil {
		return err
	}
	if err := t.loadPendingDeletes(); err != nil {
		return err
	}
	for range t.cfg.Uploads {
		t.wg.Add(1)
		go t.worker()
	}
	t.wg.Add(3)
	go t.scanner()
	go t.mirrorer()
	go t.deleter()
	signal(t.kick)    // the first pass reconciles
	signal(t.delKick) // journaled deletions, retried until they succeed
	return nil
}

// Close stops the background work (uploads in flight are abandoned; the
// next start redoes them).
func (t *Tier) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	t.mu.Unlock()
	t.cancel()
	t.wg.Wait()
	return nil
}

// rel returns a log directory's key prefix.
func (t *Tier) rel(dir string) (string, bool) {
	dir, err := filepath.Abs(dir) // Root is absolute; a core may have a relative Dir
	if err != nil {
		return "", false
	}
	r, err := filepath.Rel(t.cfg.Root, dir)
	if err != nil || !filepath.IsLocal(r) {
		return "", false
	}
	return filepath.ToSlash(r), true
}

// Attach implements filelog.Cold.
func (t *Tier) Attach(l *filelog.Log) {
	rel, ok := t.rel(l.Dir())
	if !ok {
		t.log.Error("log outside the data directory: not tiered", "dir", l.Dir())
		return
	}
	t.mu.Lock()
	t.logs[l] = &logState{l: l, rel: rel}
	delete(t.detached, rel)
	t.mu.Unlock()
	signal(t.kick)
}

// Detach implements filelog.Cold.
func (t *Tier) Detach(l *filelog.Log) {
	t.mu.Lock()
	defer t.mu.Unlock()
	ls, ok := t.logs[l]
	if !ok {
		return
	}
	delete(t.logs, l)
	t.detached[ls.rel] = true
	for k := range t.retry {
		if under(k, ls.rel) {
			delete(t.retry, k)
		}
	}
}

// segKey and idxKey are the keys of a segment and its sparse index.
func segKey(rel string, base uint64) string { return fmt.Sprintf("%s/%020d.seg", rel, base) }
func idxKey(rel string, base uint64) string { return fmt.Sprintf("%s/%020d.idx", rel, base) }

// OpenSegment implements filelog.Cold.
func (t *Tier) OpenSegment(l *filelog.Log, base uint64, size int64) (io.ReaderAt, error) {
	rel, ok := t.rel(l.Dir())
	if !ok {
		return nil, fmt.Errorf("tier: log %s is outside the data directory", l.Dir())
	}
	key := segKey(rel, base)
	if t.cfg.Cache != nil {
		return t.cfg.Cache.ReaderAt(key, size), nil
	}
	return &bucketReader{ctx: t.ctx, b: t.cfg.Bucket, key: key, size: size}, nil
}

// bucketReader reads an object with ranged GETs (no Cache configured).
type bucketReader struct {
	ctx  context.Context
	b    objstore.Bucket
	key  string
	size int64
}

func (r *bucketReader) ReadAt(p []byte, off int64) (int, error) {
	if off >= r.size {
		return 0, io.EOF
	}
	b, err := r.b.GetRange(r.ctx, r.key, off, int64(len(p)))
	switch {
	case errors.Is(err, objstore.ErrPastEnd):
		// The store answered: the object is shorter than its record.
		return 0, fmt.Errorf("tier: %s is shorter than its recorded %d bytes: %w (%w)", r.key, r.size, io.ErrUnexpectedEOF, err)
	case errors.Is(err, objstore.ErrNotFound):
		return 0, fmt.Errorf("tier: %s: %w", r.key, err)
	case err != nil:
		return 0, fmt.Errorf("%w: %s: %w", logstore.ErrUnavailable, r.key, err)
	}
	n := copy(p, b)
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// Trimmed implements filelog.Cold: the segments' objects are queued for
// the deleter (it neither blocks nor calls the log).
func (t *Tier) Trimmed(l *filelog.Log, segs []filelog.SegmentInfo) {
	rel, ok := t.rel(l.Dir())
	if !ok || len(segs) == 0 {
		return
	}
	t.mu.Lock()
	for _, s := range segs {
		t.delQ = append(t.delQ, segKey(rel, s.Base), idxKey(rel, s.Base))
	}
	if ls, ok := t.logs[l]; ok {
		ls.kicked = true
	}
	t.mu.Unlock()
	signal(t.delKick)
}

// attached returns the attached logs.
func (t *Tier) attached() []*logState {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]*logState, 0, len(t.logs))
	for _, ls := range t.logs {
		out = append(out, ls)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].rel < out[j].rel })
	return out
}

// streamDirOf returns the stream directory (rel) that holds a log's
// directory: the first two components of a path under streams/.
func streamDirOf(rel string) (string, bool) {
	parts := strings.SplitN(rel, "/", 3)
	if len(parts) < 2 || parts[0] != streamsDir {
		return "", false
	}
	return parts[0] + "/" + parts[1], true
}

// under reports whether rel is dir or inside it.
func under(rel, dir string) bool {
	return rel == dir || strings.HasPrefix(rel, dir+"/")
}

// Usage is how much of a stream directory's logs is on local disk and
// how much is in the bucket.
type Usage struct {
	LocalBytes    int64 // segment bytes on local disk
	BucketBytes   int64 // uploaded segment bytes (hot or cold)
	PendingBytes  int64 // sealed bytes waiting for upload
	ColdSegments  int   // segments only in the bucket
	OldestPending time.Time
}

// Usage returns the usage of the logs under a stream directory.
// OldestPending is the newest record's time of the oldest waiting segment.
func (t *Tier) Usage(streamDir string) Usage {
	var u Usage
	sd, ok := t.rel(streamDir)
	if !ok {
		return u
	}
	for _, ls := range t.attached() {
		if !under(ls.rel, sd) {
			continue
		}
		u.LocalBytes += ls.l.LocalSize()
		st := ls.l.Tiering() // O(1)
		u.BucketBytes += st.UploadedBytes
		u.ColdSegments += st.ColdSegments
		u.PendingBytes += st.PendingBytes
		if st.PendingSegments == 0 {
			continue
		}
		for _, s := range ls.l.LocalSealed() { // O(local segments)
			if s.Uploaded == nil {
				if lt := time.Unix(0, s.LastTime); u.OldestPending.IsZero() || lt.Before(u.OldestPending) {
					u.OldestPending = lt
				}
				break // the oldest waiting segment of this log
			}
		}
	}
	return u
}

// Flush uploads every sealed segment and mirrors every stream directory
// now, and applies the hot policy; it returns the first error.
func (t *Tier) Flush(ctx context.Context) error {
	err := t.pass(ctx, true)
	if merr := t.mirrorAll(ctx, true); err == nil {
		err = merr
	}
	if herr := t.pass(ctx, false); err == nil {
		err = herr // the hot policy for what the first pass uploaded
	}
	if derr := t.runDeletes(ctx); err == nil {
		err = derr
	}
	return err
}
