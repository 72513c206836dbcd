package server

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eddy-video/eddy/datastreams"
	"github.com/eddy-video/eddy/datastreams/logstore"
	"github.com/eddy-video/eddy/datastreams/logstore/filelog"
	"github.com/eddy-video/eddy/datastreams/objstore"
	"github.com/eddy-video/eddy/datastreams/tier"
	"github.com/eddy-video/eddy/datastreams/tier/blockcache"
	"github.com/eddy-video/eddy/fragments"
	"github.com/eddy-video/eddy/fragments/events"
	"github.com/eddy-video/eddy/media/redact"
	"github.com/eddy-video/eddy/web"
)

// Object storage (storage.object): sealed segments of every log move to
// a bucket and are read back through a local block cache. The tier sits
// under the core's file logs; nothing above them knows, but for the
// errors of reads that need the bucket while it cannot be reached
// (logstore.ErrUnavailable), which each protocol answers as a retryable
// service error.

// BucketConfig is the objstore configuration of the section, with the
// secret read from its file when it is in one.
func (o *ObjectStorageConfig) BucketConfig() (objstore.Config, error) {
	secret, err := o.LoadSecret()
	if err != nil {
		return objstore.Config{}, err
	}
	return objstore.Config{Endpoint: o.Endpoint, Bucket: o.Bucket, Prefix: o.Prefix, Region: o.Region,
		AccessKeyID: o.AccessKeyID, SecretAccessKey: secret, PathStyle: o.PathStyle}, nil
}

// Where names the bucket for messages: "bucket B at ENDPOINT" (never a
// secret; an endpoint's user information is masked).
func (o *ObjectStorageConfig) Where() string {
	where := "bucket " + o.Bucket
	if o.Prefix != "" {
		where += " (prefix " + o.Prefix + ")"
	}
	if o.Endpoint == "" {
		region := o.Region
		if region == "" {
			region = "us-east-1"
		}
		return where + " on AWS S3 in " + region
	}
	return where + " at " + redact.URL(o.Endpoint)
}

// openTier opens the bucket, the cache and the tier of storage.object
// and hooks them to the core (before it is initialized); without the
// section it does nothing.
func (s *Server) openTier(reg prometheus.Registerer) error {
	o := s.Config.Storage.Object
	if o == nil {
		return nil
	}
	bc, err := o.BucketConfig()
	if err != nil {
		return err
	}
	b, err := objstore.New(bc)
	if err != nil {
		return fmt.Errorf("storage.object: %w", err)
	}
	bucket := &watchedBucket{Bucket: b}
	if err := bucket.registerAvailable(reg); err != nil {
		return err
	}
	// The cache empties its directory when it opens: another eddy's
	// (on this data directory, or sharing cache_dir) is refused first.
	if s.cacheLock, err = lockCacheDir(o.CacheDirOf(s.Config.Data)); err != nil {
		return err
	}
	// The cache's clock times its backoff after failed fetches: real
	// time, even when the server's is a test's fake one.
	cache, err := blockcache.New(blockcache.Config{Dir: o.CacheDirOf(s.Config.Data), MaxBytes: int64(o.CacheSize),
		Fetch: bucket.GetRange, Logger: s.Logger, Registerer: reg})
	if err != nil {
		return fmt.Errorf("storage.object.cache_dir: %w", err)
	}
	s.objectHot.Store(int64(o.Hot))
	t, err := tier.New(tier.Config{Bucket: bucket, Cache: cache, Root: s.Config.Data,
		Hot: time.Duration(o.Hot), HotOf: (&hotIndex{s: s}).hotOf, QueueBytes: int64(o.QueueSize),
		MirrorSkip: []string{events.TimelineDir}, Now: s.Clock,
		Logger: s.Logger.With("component", "object-storage"), Registerer: reg})
	if err != nil {
		_ = cache.Close()
		return fmt.Errorf("storage.object: %w", err)
	}
	s.bucket, s.cache, s.tier = bucket, cache, t
	c := s.core
	// The tier keys objects by paths under its (absolute) root: the
	// core's directories, and so every log's, are made absolute too
	// (data: ./eddy-data is relative).
	if abs, err := filepath.Abs(c.Dir); err == nil {
		c.Dir = abs
	}
	c.OpenLog = func(dir string) (logstore.Log, error) {
		l, err := filelog.Open(dir, filelog.Options{SegmentBytes: c.SegmentBytes, SegmentDuration: c.SegmentDuration, Now: c.Now, Cold: t})
		if err != nil {
			return nil, err
		}
		return l, nil
	}
	c.BeforeDeleteDir, c.AfterDeleteDir = t.DeletingDir, t.DeletedDir
	s.Logger.Info("object storage: "+o.Where()+", hot "+shortHot(o.Hot), "cache_dir", o.CacheDirOf(s.Config.Data),
		"cache_size", o.CacheSize.String(), "queue_size", o.QueueSize.String())
	return nil
}

// cacheLockFile is the lock of a cache directory (the cache removes only
// its block files).
const cacheLockFile = "LOCK"

// lockCacheDir takes the cache directory's lock with flock(2), held
// until the server closes (the kernel drops it if the process dies).
func lockCacheDir(dir string) (*os.File, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("storage.object.cache_dir: %w", err)
	}
	p := filepath.Join(dir, cacheLockFile)
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("storage.object.cache_dir: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("storage.object.cache_dir %s is %w (%s is locked): one eddy per cache directory", dir, datastreams.ErrLocked, p)
		}
		return nil, fmt.Errorf("storage.object.cache_dir: lock %s: %w", p, err)
	}
	return f, nil
}

// unlockCache releases the cache directory.
func (s *Server) unlockCache() {
	if s.cacheLock != nil {
		_ = s.cacheLock.Close()
		s.cacheLock = nil
	}
}

// startTier starts the tier's work once the core has opened every log.
func (s *Server) startTier() error {
	if s.tier == nil {
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.tierStop = cancel
	if err := s.tier.Start(ctx); err != nil {
		return fmt.Errorf("object storage (%s): %w", s.Config.Storage.Object.Where(), err)
	}
	return nil
}

// closeTier stops uploads (those in flight are redone at the next start);
// the logs still read through the cache until the core closes.
func (s *Server) closeTier() error {
	if s.tier == nil {
		return nil
	}
	if s.tierStop != nil {
		s.tierStop()
	}
	return s.tier.Close()
}

// hotIndex is the tier's HotOf: the eddy:hot tag of the stream whose
// directory holds a log's (an events stream follows its video stream's),
// else storage.object.hot as it is now (a reload changes it). The
// directory → stream map is built once and rebuilt only when a directory
// is not in it (a stream created since); a stream's tags are read at each
// call, so a tag change applies at the next pass.
type hotIndex struct {
	s      *Server
	mu     sync.Mutex
	byDir  map[string]*datastreams.Stream
	absent map[string]time.Time // directories of no stream: looked for again after a while
}

func (h *hotIndex) stream(dir string) *datastreams.Stream {
	h.mu.Lock()
	defer h.mu.Unlock()
	if st, ok := h.byDir[dir]; ok {
		return st
	}
	now := time.Now()
	if at, ok := h.absent[dir]; ok && now.Sub(at) < time.Minute {
		return nil
	}
	h.byDir = map[string]*datastreams.Stream{}
	for _, st := range h.s.core.Streams() {
		h.byDir[st.Dir()] = st
	}
	if st, ok := h.byDir[dir]; ok {
		return st
	}
	if h.absent == nil || len(h.absent) > 1024 {
		h.absent = map[string]time.Time{}
	}
	h.absent[dir] = now
	return nil
}

func (h *hotIndex) hotOf(logDir string) (time.Duration, bool) {
	var name string
	var tags map[string]string
	if st := h.stream(filepath.Dir(logDir)); st != nil {
		name = st.Name()
		tags = st.Info().Tags
	}
	v, ok := tags[fragments.HotTag]
	if video, isEvents := strings.CutSuffix(name, fragments.EventsSuffix); !ok && isEvents && video != "" {
		if st, err := h.s.core.Stream(video); err == nil {
			v, ok = st.Info().Tags[fragments.HotTag]
		}
	}
	if ok {
		if d, err := fragments.ParseHot(v); err == nil {
			return d, true
		}
	}
	return time.Duration(h.s.objectHot.Load()), true
}

// shortHot writes a hot duration as the configuration would: 24h, 0s.
func shortHot(d Duration) string {
	out := d.String()
	if strings.HasSuffix(out, "m0s") {
		out = strings.TrimSuffix(out, "0s")
	}
	if strings.HasSuffix(out, "h0m") {
		out = strings.TrimSuffix(out, "0m")
	}
	return out
}

// Tier returns the object-storage tier (nil without storage.object):
// tests flush it.
func (s *Server) Tier() *tier.Tier { return s.tier }

// tierUsage is the web UI's Tiering: a video stream's bytes on disk, in
// the bucket and waiting for upload, its events stream's included.
func (s *Server) tierUsage(name string) (web.TierUsage, bool) {
	if s.tier == nil {
		return web.TierUsage{}, false
	}
	var out web.TierUsage
	found := false
	for _, n := range []string{name, name + fragments.EventsSuffix} {
		st, err := s.core.Stream(n)
		if err != nil {
			continue
		}
		found = true
		u := s.tier.Usage(st.Dir())
		out.LocalBytes += u.LocalBytes
		out.BucketBytes += u.BucketBytes
		out.PendingBytes += u.PendingBytes
	}
	return out, found
}

// objectStatus is the status page's object storage: the eddy_object_*
// series /metrics serves, summed (nil without storage.object).
func (s *Server) objectStatus() *web.ObjectStorage {
	o := s.Config.Storage.Object
	if s.tier == nil || o == nil {
		return nil
	}
	v := map[string]float64{}
	mfs, _ := s.gather.Gather()
	for _, mf := range mfs {
		name := mf.GetName()
		if !strings.HasPrefix(name, "eddy_object_") {
			continue
		}
		for _, m := range mf.GetMetric() {
			switch {
			case m.GetCounter() != nil:
				v[name] += m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				v[name] += m.GetGauge().GetValue()
			}
		}
	}
	return &web.ObjectStorage{
		Bucket:          o.Where(),
		Available:       s.bucket.available(), // the last request to the store, uploads and reads
		Hot:             shortHot(Duration(s.objectHot.Load())),
		PendingBytes:    int64(v["eddy_object_pending_bytes"]),
		PendingSegments: int64(v["eddy_object_pending_segments"]),
		LagSeconds:      v["eddy_object_upload_lag_seconds"],
		UploadedBytes:   int64(v["eddy_object_uploaded_bytes_total"]),
		UploadFailures:  int64(v["eddy_object_upload_failures_total"]),
		LostBytes:       int64(v["eddy_object_lost_bytes_total"]),
		CacheHits:       int64(v["eddy_object_cache_hits_total"]),
		CacheMisses:     int64(v["eddy_object_cache_misses_total"]),
		CacheBytes:      int64(v["eddy_object_cache_bytes"]),
	}
}
