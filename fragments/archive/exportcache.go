package archive

import (
	"container/list"
	"sync"
	"time"

	"github.com/eddy-video/eddy/fragments"
)

// An ExportCache keeps the exports built recently, so that the many
// Range requests of one player or download (a <video> asks for a few
// hundred kilobytes at a time) do not each list the range's index, demux
// its first fragment and encode its events again. Its zero value is
// ready; it is safe for concurrent use.
//
// A kept export is given again only while it is still the export the
// store would build: none of its fragments trimmed (the log's first
// fragment is not after its first), no fragment listed since in its range
// (those listed since it was built are looked up by number, a short read
// of the index), and no event indexed on the stream since (the timeline's
// count of indexed events). An event trimmed by the event stream's own
// retention is not seen; ExportCacheTTL bounds how long such an export is
// given. A fragment trimmed while a kept export is being read fails that
// read, as it does for a new export: never other bytes.
type ExportCache struct {
	mu      sync.Mutex
	entries map[exportKey]*list.Element // of *cachedExport
	lru     list.List                   // most recently used first
	bytes   int64

	now func() time.Time // time.Now, or a test's clock
}

// ExportCacheTTL is the longest an export is kept.
const ExportCacheTTL = time.Minute

// Bounds of an ExportCache: exports, and their bytes in memory (an
// export's index, init segment, segment index and event boxes).
const (
	exportCacheEntries = 32
	exportCacheBytes   = 64 << 20
)

type exportKey struct {
	st         *fragments.Store
	kind       fragments.IndexTime
	start, end int64
}

type cachedExport struct {
	key     exportKey
	x       *Export
	built   time.Time
	listed  uint64 // the newest listed fragment when x was last known current
	indexed uint64 // the timeline's indexed events when x was built
	cost    int64
}

// Export returns the export of [start, end] as NewExport builds it, kept
// from an earlier call when it is still current (see ExportCache).
func (c *ExportCache) Export(st *fragments.Store, kind fragments.IndexTime, start, end time.Time) (*Export, error) {
	k := exportKey{st: st, kind: kind, start: start.UnixNano(), end: end.UnixNano()}
	// What the store holds is read before the export is built, so that a
	// change made while it is built makes it stale, never current.
	listed, indexed := newestListed(st), indexedEvents(st)
	if x := c.lookup(k, listed, indexed); x != nil {
		return x, nil
	}
	x, err := NewExport(st, kind, start, end)
	if err != nil {
		return nil, err
	}
	e := &cachedExport{key: k, x: x, built: c.clock(), listed: listed, indexed: indexed, cost: x.memory()}
	c.add(e)
	// A range open past the export's end (up to now, or later) is asked
	// again pinned (Pinned): the same fragments, so the same export.
	if ps, pe := x.Pinned(); x.Cut.IsZero() && ps.UnixNano() >= k.start && pe.UnixNano() < k.end {
		pinned := *e
		pinned.key = exportKey{st: st, kind: kind, start: ps.UnixNano(), end: pe.UnixNano()}
		c.add(&pinned)
	}
	return x, nil
}

func (c *ExportCache) clock() time.Time {
	if c.now != nil {
		return c.now()
	}
	return time.Now()
}

// lookup returns the kept export of k if it is still current.
func (c *ExportCache) lookup(k exportKey, listed, indexed uint64) *Export {
	c.mu.Lock()
	el, ok := c.entries[k]
	if !ok {
		c.mu.Unlock()
		return nil
	}
	e := el.Value.(*cachedExport)
	stale := c.clock().Sub(e.built) >= ExportCacheTTL || e.indexed != indexed ||
		k.st.FirstSeq() > e.x.frags[0].seq || listed < e.listed
	since := e.listed
	c.mu.Unlock()
	if !stale && listed != since {
		// Fragments listed since: current if none of them is in the range.
		page, _, err := k.st.List(k.kind, time.Unix(0, k.start), time.Unix(0, k.end), since+1, 1)
		stale = err != nil || len(page) > 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el2, ok := c.entries[k]; !ok || el2 != el {
		return nil // replaced or dropped meanwhile: build anew
	}
	if stale {
		c.removeLocked(el)
		return nil
	}
	e.listed = max(e.listed, listed)
	c.lru.MoveToFront(el)
	return e.x
}

func (c *ExportCache) add(e *cachedExport) {
	if e.cost > exportCacheBytes {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = map[exportKey]*list.Element{}
	}
	if old, ok := c.entries[e.key]; ok {
		c.removeLocked(old)
	}
	c.entries[e.key] = c.lru.PushFront(e)
	c.bytes += e.cost
	for c.lru.Len() > exportCacheEntries || c.bytes > exportCacheBytes {
		c.removeLocked(c.lru.Back())
	}
}

func (c *ExportCache) removeLocked(el *list.Element) {
	e := c.lru.Remove(el).(*cachedExport)
	delete(c.entries, e.key)
	c.bytes -= e.cost
}

// Len is the number of exports kept.
func (c *ExportCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}

// newestListed is the number of the newest listed fragment (0: none).
func newestListed(st *fragments.Store) uint64 {
	if e, ok := st.Last(); ok {
		return e.Seq
	}
	return 0
}

// indexedEvents is the count of events the stream's timeline indexed.
func indexedEvents(st *fragments.Store) uint64 {
	if tl := st.Timeline(); tl != nil {
		return tl.Indexed()
	}
	return 0
}

// memory is about the bytes an export holds.
func (x *Export) memory() int64 {
	const perFragment = 32 // an exportFragment
	return int64(len(x.head)+len(x.tail)) + perFragment*int64(len(x.frags)) + 256
}
