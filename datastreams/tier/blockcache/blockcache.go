// Package blockcache is the read cache of cold segments: objects are read
// in aligned blocks by ranged GETs and the blocks kept in files under a
// directory, least recently used first out past a byte budget. Concurrent
// readers of a block share one fetch (single flight), and a sequential
// read prefetches the blocks after it. While fetches fail the cache
// answers at once with an error wrapping logstore.ErrUnavailable (a
// short circuit breaker), never with a hang; an object the store says
// is missing (objstore.ErrNotFound) fails only its own reads.
//
// The cache is a cache only: its directory is emptied when it opens (a
// restart starts cold), nothing in it is durable, and a block that cannot
// be written to disk (a full disk) is still handed to its readers, just
// not kept. It knows keys and byte ranges, never segments or video.
package blockcache

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Fetch reads n bytes of object key from off (fewer at its end).
type Fetch func(ctx context.Context, key string, off, n int64) ([]byte, error)

// Config configures a Cache. Zero values take the defaults.
type Config struct {
	Dir       string // where blocks are kept (created; emptied on New)
	MaxBytes  int64  // budget of the blocks on disk (default 10 GB)
	BlockSize int64  // default 1 MiB
	Prefetch  int    // blocks fetched ahead of a sequential read (default 2)
	Fetch     Fetch
	Timeout   time.Duration // per fetch (default 10 s)
	// Backoff is how long after a failed fetch reads fail at once
	// (default 2 s, doubling to 30 s while failures continue).
	Backoff    time.Duration
	Now        func() time.Time
	Logger     *slog.Logger
	Registerer prometheus.Registerer // eddy_object_cache_* series
}

// Defaults of Config.
const (
	DefaultMaxBytes  = 10_000_000_000
	DefaultBlockSize = 1 << 20
	DefaultPrefetch  = 2
	DefaultTimeout   = 10 * time.Second
	DefaultBackoff   = 2 * time.Second
	// MaxBackoff bounds the doubling of Backoff while fetches keep failing.
	MaxBackoff = 30 * time.Second
)

// Cache is a bounded block cache over an object store.
//
// One mutex guards the index (blocks on disk, in LRU order), the fetches
// in flight, the sequential-read tracker and the breaker; no file
// operation and no fetch runs under it.
type Cache struct {
	cfg     Config
	log     *slog.Logger
	metrics metrics

	ctx    context.Context // cancelled by Close: stops fetches in flight
	cancel context.CancelFunc
	wg     sync.WaitGroup // fetches in flight (readers' and prefetches')
	bg     chan struct{}  // slots of background prefetches

	mu      sync.Mutex
	closed  bool
	index   map[blockID]*entry
	byKey   map[string]map[int64]*entry
	lru     *list.List // of *entry, front: most recently used
	bytes   int64
	gen     uint64 // makes every block file's name unique
	flights map[blockID]*flight
	last    map[string]int64 // per key, the block read last (prefetch)
	br      breaker

	diskErrLogged bool
}

// errClosed is the error of reads after Close (and of fetches Close
// cancelled): not the object store's fault, so not ErrUnavailable.
var errClosed = errors.New("blockcache: closed")

// New opens the cache. Block files a previous run left in Dir (names
// ending in .blk) are removed; other files there are left alone.
func New(cfg Config) (*Cache, error) {
	if cfg.Fetch == nil {
		return nil, errors.New("blockcache: Config.Fetch is required")
	}
	if cfg.Dir == "" {
		return nil, errors.New("blockcache: Config.Dir is required")
	}
	setDefaults(&cfg)
	if err := emptyDir(cfg.Dir); err != nil {
		return nil, err
	}
	c := &Cache{
		cfg:     cfg,
		log:     cfg.Logger.With("component", "blockcache"),
		index:   make(map[blockID]*entry),
		byKey:   make(map[string]map[int64]*entry),
		flights: make(map[blockID]*flight),
		last:    make(map[string]int64),
		lru:     list.New(),
		bg:      make(chan struct{}, max(4, 2*cfg.Prefetch)),
	}
	if err := c.metrics.register(cfg.Registerer); err != nil {
		return nil, err
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	return c, nil
}

func setDefaults(cfg *Config) {
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = DefaultMaxBytes
	}
	if cfg.BlockSize <= 0 {
		cfg.BlockSize = DefaultBlockSize
	}
	if cfg.Prefetch == 0 {
		cfg.Prefetch = DefaultPrefetch
	}
	cfg.Prefetch = max(cfg.Prefetch, 0) // negative: no prefetch
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = DefaultBackoff
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
}

// ReaderAt reads object key (size bytes) through the cache.
func (c *Cache) ReaderAt(key string, size int64) io.ReaderAt {
	return &reader{c: c, key: key, size: size}
}

// Drop forgets the blocks of an object (deleted from the store). A block
// a reader is copying from is removed from disk once it is done; a fetch
// in flight for the object is not kept.
func (c *Cache) Drop(key string) {
	c.mu.Lock()
	var gone []string
	for _, e := range c.byKey[key] {
		if c.removeLocked(e) {
			gone = append(gone, e.path)
		}
	}
	for id, f := range c.flights {
		if id.key == key {
			// Its readers get their bytes; later reads fetch again.
			f.dropped = true
			delete(c.flights, id)
		}
	}
	delete(c.last, key)
	c.mu.Unlock()
	removeFiles(gone)
}

// Stats are the cache's counters since New.
type Stats struct {
	Hits, Misses int64 // block reads served from disk / fetched
	Bytes        int64 // bytes held now
}

// Stats returns the counters.
func (c *Cache) Stats() Stats {
	c.mu.Lock()
	b := c.bytes
	c.mu.Unlock()
	return Stats{Hits: c.metrics.hitCount.Load(), Misses: c.metrics.missCount.Load(), Bytes: b}
}

// Close stops prefetches in flight, and the fetches readers wait for
// (they get an error that does not blame the object store); later reads
// fail. The block files stay until the next New.
func (c *Cache) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.cancel()
	c.mu.Unlock()
	c.wg.Wait()
	return nil
}

// reader is the io.ReaderAt of one object.
type reader struct {
	c    *Cache
	key  string
	size int64
}

// ReadAt reads len(p) bytes at off, as io.ReaderAt: fewer only at the
// object's end (with io.EOF) or with an error.
func (r *reader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("blockcache: read of %s at negative offset %d", r.key, off)
	}
	if off >= r.size {
		return 0, io.EOF
	}
	end := min(off+int64(len(p)), r.size)
	bs := r.c.cfg.BlockSize
	n := 0
	for pos := off; pos < end; {
		b := pos / bs
		stop := min((b+1)*bs, end)
		r.c.noteRead(r.key, r.size, b)
		if err := r.c.readBlock(r.key, r.size, b, p[n:n+int(stop-pos)], pos-b*bs); err != nil {
			return n, err
		}
		n += int(stop - pos)
		pos = stop
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func removeFiles(paths []string) {
	for _, p := range paths {
		_ = os.Remove(p) // a cache file: a leftover is removed at the next New
	}
}
