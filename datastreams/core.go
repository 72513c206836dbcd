package datastreams

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eddy-video/eddy/datastreams/atomicfile"
	"github.com/eddy-video/eddy/datastreams/logstore"
	"github.com/eddy-video/eddy/datastreams/logstore/filelog"
)

// Retention bounds of the log itself (video streams use the whole range)
// and of the Kinesis Data Streams API.
const (
	MinLogRetentionHours  = 1
	MaxLogRetentionHours  = 87600
	MinKDSRetentionHours  = 24
	MaxKDSRetentionHours  = 8760
	DefaultRetentionHours = 24
)

// Core is the shard core: every stream, its shards and their logs, kept
// under one data directory. Configure the exported fields, then call
// Initialize; Close stops the writers and the janitor.
type Core struct {
	Dir             string
	Region          string // for ARNs (default us-east-1)
	AccountID       string // for ARNs and messages (default 000000000000)
	SyncPolicy      string // "always" (fsync before ack, default) or "interval"
	SyncInterval    time.Duration
	SegmentBytes    int64
	SegmentDuration time.Duration
	// Limits are the per-shard throughput limits of provisioned streams.
	Limits Limits
	// TransitionDelay is how long CREATING/UPDATING/consumer CREATING last
	// before ACTIVE (0: at once).
	TransitionDelay time.Duration
	ShardLimit      int // open shards across all streams (default 500)
	// RetentionBytes caps each stream's size (0: no cap) unless the stream
	// sets its own; the oldest records go first (whole segments, with
	// filelog). SetRetentionBytes changes it while the core runs.
	RetentionBytes  int64
	JanitorInterval time.Duration
	// MinFree is the free-space floor of the filesystem holding Dir: below
	// it, the oldest data of all streams is deleted (EnforceFloor) before
	// the disk is full. Zero: no floor, and a full disk fails writes (with
	// an error that says so) until space returns.
	MinFree FreeSpace
	// FloorInterval is how often free space is checked against MinFree
	// (default 1 s); a write that finds the disk full checks at once.
	FloorInterval time.Duration
	// DiskUsage, when set, replaces the statfs of Dir (StatDisk) that the
	// floor and the disk metrics use (tests fake a filesystem with it).
	DiskUsage  func() (free, total uint64, err error)
	Now        func() time.Time
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// LabelStream, when set, gives the stream label of a stream's series
	// (the server bounds how many streams have their own); nil: the name.
	LabelStream func(name string) string
	// AfterTrim, when set, is called after the janitor removed records of
	// a stream, so layers with derived indexes can follow.
	AfterTrim func(s *Stream)
	// OpenLog opens the log of one shard, kept in dir (nil: a filelog
	// with SegmentBytes, SegmentDuration and Now). With
	// func(string) (logstore.Log, error) { return memlog.New(), nil } a
	// core's records live in memory only.
	OpenLog func(dir string) (logstore.Log, error)
	// BeforeDeleteDir and AfterDeleteDir, when set, are told of a stream
	// directory's deletion (the object-storage tier deletes its objects):
	// before the commit (an error fails the delete and changes nothing),
	// and after it, whether it happened.
	BeforeDeleteDir func(dir string) error
	AfterDeleteDir  func(dir string, deleted bool)
	// WrittenBy names the program in the data directory's format marker
	// (default: the main module's path, version and VCS revision).
	WrittenBy string

	mu      sync.RWMutex
	streams map[string]*Stream
	key     []byte // HMAC key for iterators and paging tokens
	metrics *coreMetrics
	stop    chan struct{}
	wg      sync.WaitGroup
	// floorKick wakes the floor at once (a write found the disk full);
	// diskFull is set from the first such write until the next commit.
	floorKick    chan struct{}
	diskFull     atomic.Bool
	floorMetrics *floorMetrics
	timers       sync.WaitGroup

	retentionBytes atomic.Int64 // RetentionBytes as set now (SetRetentionBytes)
	lock           *os.File     // the data directory's lock (datadir.go)
	// failpoint, when set (tests), may fail the named step of a create or
	// delete ("create.meta", "create.rename", "create.open", "delete.rename").
	failpoint func(step string) error
}

// Limits are per-shard throughput limits.
type Limits struct {
	Enabled          bool
	WriteRecordsPerS float64 // 1000
	WriteBytesPerS   float64 // 1 MiB
	ReadCallsPerS    float64 // 5
	ReadBytesPerS    float64 // 2 MiB
}

var namePattern = regexp.MustCompile(`^[a-zA-Z0-9_.-]+$`)

// MaxNameLength is the longest stream name the core keeps. The APIs above
// it allow less (Kinesis Data Streams 128 characters, Kinesis Video 256,
// whose event streams add a suffix); the layout on disk does not depend
// on a name's length (stream_dir.go).
const MaxNameLength = 512

// ValidName reports whether s is a valid stream or consumer name of the
// Kinesis APIs: [a-zA-Z0-9_.-]{1,256}, and never "." or "..".
func ValidName(s string) bool {
	return len(s) <= 256 && validStreamName(s)
}

// validStreamName reports whether the core can keep a stream named s.
func validStreamName(s string) bool {
	return len(s) >= 1 && len(s) <= MaxNameLength && namePattern.MatchString(s) && s != "." && s != ".."
}

// Initialize loads every stream from Dir and starts the janitor.
func (c *Core) Initialize() error {
	if c.Region == "" {
		c.Region = "us-east-1"
	}
	if c.AccountID == "" {
		c.AccountID = "000000000000"
	}
	if c.SyncPolicy == "" {
		c.SyncPolicy = "always"
	}
	if c.SyncPolicy != "always" && c.SyncPolicy != "interval" {
		return fmt.Errorf("sync policy %q: use \"always\" or \"interval\"", c.SyncPolicy)
	}
	if c.SyncInterval <= 0 {
		c.SyncInterval = 100 * time.Millisecond
	}
	if c.ShardLimit <= 0 {
		c.ShardLimit = 500
	}
	if c.JanitorInterval <= 0 {
		c.JanitorInterval = time.Minute
	}
	if c.FloorInterval <= 0 {
		c.FloorInterval = time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.OpenLog == nil {
		c.OpenLog = c.openFileLog
	}
	if c.WrittenBy == "" {
		c.WrittenBy = defaultWrittenBy()
	}
	c.Logger = c.Logger.With("component", "datastreams")
	if err := c.openDataDir(); err != nil {
		return err
	}
	c.retentionBytes.Store(c.RetentionBytes)
	c.metrics = newCoreMetrics(c.Registerer)
	c.floorMetrics = newFloorMetrics(c.Registerer, c.diskUsage, c.MinFree)
	c.streams = map[string]*Stream{}
	c.stop = make(chan struct{})
	c.floorKick = make(chan struct{}, 1)
	if err := c.load(); err != nil {
		for _, s := range c.streams {
			_ = s.close()
		}
		c.unlock()
		return err
	}
	c.wg.Add(2)
	go c.janitor()
	go c.floorLoop()
	return nil
}

// load opens every stream of the data directory, after finishing what a
// crash interrupted: deletions (whatever is in trash/) and creations
// (whatever is in tmp/, and from Eddys of format 1 a stream directory
// without stream.json: nothing was acknowledged in either).
func (c *Core) load() error {
	root := filepath.Join(c.Dir, streamsDir)
	if err := os.MkdirAll(root, 0o755); err != nil {
		return err
	}
	key, err := atomicfile.LoadOrCreateKey(filepath.Join(c.Dir, "token.key"))
	if err != nil {
		return err
	}
	c.key = key
	_ = os.RemoveAll(filepath.Join(c.Dir, trashDir))
	_ = os.RemoveAll(filepath.Join(c.Dir, stagingDir))
	entries, err := os.ReadDir(root)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		dir := filepath.Join(root, e.Name())
		m, err := loadMeta(dir)
		if errors.Is(err, fs.ErrNotExist) {
			c.Logger.Info("removing a stream directory whose creation did not finish", "dir", dir)
			_ = os.RemoveAll(dir)
			continue
		}
		if err != nil {
			return err
		}
		if other, ok := c.streams[m.Name]; ok {
			return fmt.Errorf("stream %s is in two directories, %s and %s: keep one (move the other out of %s)", m.Name, other.dir, dir, root)
		}
		s, err := c.openStream(dir, m)
		if err != nil {
			return fmt.Errorf("stream %s (%s): %w", m.Name, dir, err)
		}
		c.streams[m.Name] = s
	}
	c.metrics.streams.Set(float64(len(c.streams)))
	return nil
}

// openFileLog is the default OpenLog.
func (c *Core) openFileLog(dir string) (logstore.Log, error) {
	l, err := filelog.Open(dir, filelog.Options{SegmentBytes: c.SegmentBytes, SegmentDuration: c.SegmentDuration, Now: c.Now})
	if err != nil {
		return nil, err
	}
	return l, nil
}

// Close stops the janitor and every shard writer (queued appends finish
// first) and releases the data directory.
func (c *Core) Close() error {
	close(c.stop)
	c.wg.Wait()
	c.timers.Wait()
	// Streams close without c.mu held: a reshard holds its stream's lock
	// and then takes c.mu (the lock order is stream, then core).
	c.mu.Lock()
	streams := c.streams
	c.streams = map[string]*Stream{}
	c.mu.Unlock()
	var firstErr error
	for _, s := range streams {
		if err := s.close(); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	c.unlock()
	return firstErr
}

// StreamARN returns the ARN of data stream name.
func (c *Core) StreamARN(name string) string {
	return fmt.Sprintf("arn:aws:kinesis:%s:%s:stream/%s", c.Region, c.AccountID, name)
}

// StreamNameFromARN extracts the stream name from a stream (or consumer) ARN.
func (c *Core) StreamNameFromARN(arn string) (string, bool) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "kinesis" || !strings.HasPrefix(parts[5], "stream/") {
		return "", false
	}
	rest := strings.TrimPrefix(parts[5], "stream/")
	name, _, _ := strings.Cut(rest, "/")
	return name, validStreamName(name)
}

// CreateOptions describe a new stream.
type CreateOptions struct {
	ShardCount     int
	Mode           string
	RetentionHours int
	RetentionBytes int64
	Tags           map[string]string
	Kind           string
	Ext            json.RawMessage
	// Immediate skips the CREATING state (streams other layers create
	// for their own use are ACTIVE at once).
	Immediate bool
}

// CreateStream creates a stream whose shards split the hash key space evenly.
func (c *Core) CreateStream(name string, o CreateOptions) (*Stream, error) {
	if !validStreamName(name) {
		return nil, errf(KindValidation, "Stream name %q is invalid: it must match [a-zA-Z0-9_.-]+ and be 1 to %d characters long.", name, MaxNameLength)
	}
	if o.Mode == "" {
		o.Mode = ModeProvisioned
	}
	if o.RetentionHours == 0 {
		o.RetentionHours = DefaultRetentionHours
	}
	if o.RetentionHours < MinLogRetentionHours || o.RetentionHours > MaxLogRetentionHours {
		return nil, errf(KindInvalidArgument, "Retention period %d hours is outside %d to %d hours.", o.RetentionHours, MinLogRetentionHours, MaxLogRetentionHours)
	}
	if o.ShardCount < 1 {
		return nil, errf(KindInvalidArgument, "ShardCount must be at least 1.")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.streams[name]; ok {
		return nil, errf(KindInUse, "Stream %s under account %s already exists.", name, c.AccountID)
	}
	// The shard limit is the Kinesis Data Streams account limit: the logs
	// of video streams and their event streams do not count against it.
	if open := c.openShardsLocked(); o.Kind == "" && open+o.ShardCount > c.ShardLimit {
		return nil, errf(KindLimit, "This request would exceed the shard limit for the account %s in %s. Current limit of shards is %d. Number of shards that would have resulted from this request is %d.", c.AccountID, c.Region, c.ShardLimit, open+o.ShardCount)
	}
	now := c.Now().UTC()
	m := &streamMeta{
		Name: name, Created: now, Status: StatusActive, Mode: o.Mode,
		RetentionHours: o.RetentionHours, RetentionBytes: o.RetentionBytes, Tags: o.Tags, Kind: o.Kind, Ext: o.Ext,
	}
	if c.TransitionDelay > 0 && !o.Immediate {
		m.Status = StatusCreating
	}
	for i, r := range uniformRanges(o.ShardCount) {
		m.Shards = append(m.Shards, shardMeta{Index: i, Parent: -1, AdjacentParent: -1, Start: r[0].String(), End: r[1].String(), Created: now})
	}
	m.NextShardIndex = o.ShardCount
	s, err := c.createDir(m)
	if err != nil {
		return nil, err
	}
	c.streams[name] = s
	c.metrics.streams.Inc()
	c.Logger.Info("stream created", "stream", name, "shards", o.ShardCount, "mode", o.Mode, "retention_hours", o.RetentionHours)
	if m.Status == StatusCreating {
		c.after(func() { s.setStatus(StatusCreating, StatusActive) })
	}
	return s, nil
}

// after runs fn once TransitionDelay has passed, unless the core closes first.
func (c *Core) after(fn func()) {
	c.timers.Add(1)
	go func() {
		defer c.timers.Done()
		t := time.NewTimer(c.TransitionDelay)
		defer t.Stop()
		select {
		case <-t.C:
			fn()
		case <-c.stop:
		}
	}()
}

func (c *Core) openShardsLocked() int {
	n := 0
	for _, s := range c.streams {
		if s.kind == "" {
			n += int(s.openCount.Load())
		}
	}
	return n
}

// OpenShardCount returns the number of open shards across all streams.
func (c *Core) OpenShardCount() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.openShardsLocked()
}

// Stream returns the named stream.
func (c *Core) Stream(name string) (*Stream, error) {
	c.mu.RLock()
	s, ok := c.streams[name]
	c.mu.RUnlock()
	if !ok {
		return nil, c.StreamNotFound(name)
	}
	return s, nil
}

// StreamNotFound is the error for a stream that does not exist (or, to
// the Kinesis Data Streams API, a stream it must not see).
func (c *Core) StreamNotFound(name string) error {
	return errf(KindNotFound, "Stream %s under account %s not found.", name, c.AccountID)
}

// Streams returns every stream sorted by name.
func (c *Core) Streams() []*Stream {
	c.mu.RLock()
	out := make([]*Stream, 0, len(c.streams))
	for _, s := range c.streams {
		out = append(out, s)
	}
	c.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// DeleteStream removes a stream and all its data. The stream's directory
// moving to trash/ is the commit: before it nothing has changed (a failed
// delete leaves the stream as it was), after it the stream is gone, also
// after a crash (the next start empties trash/).
func (c *Core) DeleteStream(name string, enforceConsumerDeletion bool) error {
	s, err := c.Stream(name)
	if err != nil {
		return err
	}
	// Lock order: stream, then core. Holding the stream's lock keeps
	// every change of it (a reshard creating shard directories, a
	// metadata save) out until it is closed.
	s.mu.Lock()
	defer s.mu.Unlock()
	c.mu.Lock()
	if c.streams[name] != s {
		c.mu.Unlock()
		return c.StreamNotFound(name)
	}
	if len(s.meta.Consumers) > 0 && !enforceConsumerDeletion {
		c.mu.Unlock()
		return errf(KindInUse, "Stream %s under account %s has registered consumers.", name, c.AccountID)
	}
	if c.BeforeDeleteDir != nil {
		if err := c.BeforeDeleteDir(s.dir); err != nil {
			c.mu.Unlock()
			c.Logger.Error("delete stream", "stream", name, "err", err)
			return errf(KindInternal, "Stream %s could not be deleted: %v", name, err)
		}
	}
	dst, err := c.moveToTrash(s.dir)
	if err != nil {
		c.mu.Unlock()
		if c.AfterDeleteDir != nil {
			c.AfterDeleteDir(s.dir, false)
		}
		c.Logger.Error("delete stream", "stream", name, "err", err)
		return errf(KindInternal, "Stream %s could not be deleted: %v", name, err)
	}
	delete(c.streams, name)
	c.mu.Unlock()
	_ = s.closeLocked()
	if c.AfterDeleteDir != nil {
		c.AfterDeleteDir(s.dir, true)
	}
	c.metrics.streams.Dec()
	c.Logger.Info("stream deleted", "stream", name)
	go os.RemoveAll(dst)
	return nil
}

// SetRetentionBytes changes the size cap of the streams that set none of
// their own (0: no cap), as a configuration reload does; the janitor
// applies it on its next pass.
func (c *Core) SetRetentionBytes(n int64) { c.retentionBytes.Store(n) }

// janitor applies retention periodically.
func (c *Core) janitor() {
	defer c.wg.Done()
	t := time.NewTicker(c.JanitorInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			c.EnforceRetention()
		case <-c.stop:
			return
		}
	}
}

// EnforceRetention trims every stream to its retention now.
func (c *Core) EnforceRetention() {
	for _, s := range c.Streams() {
		recs, bytes, err := s.enforceRetention()
		if err != nil {
			c.Logger.Error("retention", "stream", s.name, "err", err)
			continue
		}
		if recs > 0 || bytes > 0 {
			c.metrics.trimmedRecords.Add(float64(recs))
			c.metrics.trimmedBytes.Add(float64(bytes))
			c.Logger.Info("retention trimmed", "stream", s.name, "records", recs, "bytes", bytes)
			if c.AfterTrim != nil {
				c.AfterTrim(s)
			}
		}
	}
}
