package datastreams

import (
	"fmt"
	"strconv"
	"syscall"
	"time"

	"github.com/eddy-video/eddy/datastreams/logstore"
)

// FreeSpace is a free-space floor: a number of bytes, or a share of the
// filesystem. The zero value is no floor.
type FreeSpace struct {
	Bytes   int64   // keep at least this many bytes free
	Percent float64 // keep at least this share (0–100) of the filesystem free
}

// Of returns the floor in bytes on a filesystem of total bytes: the
// larger of Bytes and Percent of total.
func (f FreeSpace) Of(total uint64) uint64 {
	pct := uint64(f.Percent / 100 * float64(total))
	return max(uint64(max(f.Bytes, 0)), pct)
}

// IsZero reports whether f sets no floor.
func (f FreeSpace) IsZero() bool { return f.Bytes <= 0 && f.Percent <= 0 }

func (f FreeSpace) String() string {
	if f.Percent > 0 {
		return strconv.FormatFloat(f.Percent, 'f', -1, 64) + "%"
	}
	return strconv.FormatInt(f.Bytes, 10)
}

// StatDisk returns the bytes available to Eddy (not those reserved for
// root) and the size of the filesystem holding dir.
func StatDisk(dir string) (free, total uint64, err error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, 0, fmt.Errorf("statfs %s: %w", dir, err)
	}
	bs := uint64(st.Bsize)
	return st.Bavail * bs, st.Blocks * bs, nil
}

// diskUsage returns the free and total bytes of the data directory's
// filesystem.
func (c *Core) diskUsage() (free, total uint64, err error) {
	if c.DiskUsage != nil {
		return c.DiskUsage()
	}
	return StatDisk(c.Dir)
}

// committed is every shard writer's successful commit: counted, and the
// end of a full-disk episode when one was going on.
func (c *Core) committed(records, bytes int, took time.Duration) {
	c.metrics.observeCommit(records, bytes, took)
	if c.diskFull.Load() && c.diskFull.CompareAndSwap(true, false) {
		c.Logger.Info("writes succeed again: the disk has space")
	}
}

// commitFailed classifies a shard writer's failed commit. A full disk
// becomes an error in the Kinesis API's terms, is counted, logged once
// per episode (not per request: producers retry), and wakes the floor so
// that it frees space at once rather than at its next tick.
func (c *Core) commitFailed(err error) error {
	if !IsNoSpace(err) {
		return err
	}
	c.floorMetrics.diskFullErrors.Inc()
	if c.diskFull.CompareAndSwap(false, true) {
		free, total, _ := c.diskUsage()
		c.Logger.Error("disk full: writes are refused until space is freed", "err", err, "dir", c.Dir,
			"free_bytes", free, "size_bytes", total, "min_free", c.MinFree.String())
	}
	c.kickFloor()
	return noSpace(err)
}

func (c *Core) kickFloor() {
	select {
	case c.floorKick <- struct{}{}:
	default:
	}
}

// floorLoop keeps the free-space floor: it checks free space every
// FloorInterval (a statfs: microseconds) and whenever a write finds the
// disk full, so a realistic fill rate never outruns it.
func (c *Core) floorLoop() {
	defer c.wg.Done()
	t := time.NewTicker(c.FloorInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-c.floorKick:
		case <-c.stop:
			return
		}
		c.EnforceFloor()
	}
}

// floorUnit is the oldest unit of one shard's log, a candidate for the floor.
type floorUnit struct {
	s      *Stream
	sh     *Shard
	r      logstore.Reclaimer
	newest int64
}

// EnforceFloor deletes the oldest data until the filesystem has MinFree
// free again: one unit at a time (filelog: a segment), always the one
// whose newest record is the oldest across all streams and shards, the
// segment being written included (it is sealed first) when nothing older
// is left. A unit already uploaded to object storage loses only its local
// copy (0 records, its bytes freed). It returns the records lost and the
// bytes freed.
func (c *Core) EnforceFloor() (records uint64, bytes int64) {
	if c.MinFree.IsZero() {
		return 0, 0
	}
	free, total, err := c.diskUsage()
	if err != nil {
		c.Logger.Warn("free-space floor: cannot read free space", "err", err)
		return 0, 0
	}
	floor := c.MinFree.Of(total)
	if free >= floor {
		return 0, 0
	}
	trimmed := map[*Stream]bool{}
	skip := map[*Shard]bool{}
	for free < floor {
		u, ok := c.oldestUnit(skip)
		if !ok {
			c.Logger.Error("free space is below storage.min_free and no stream has data left to delete", "free_bytes", free, "min_free_bytes", floor)
			break
		}
		r, b, err := u.r.DropOldest()
		if err != nil || (r == 0 && b == 0) {
			// Being written to, closed, or failing: try the next oldest.
			skip[u.sh] = true
			continue
		}
		records, bytes = records+r, bytes+b
		free += uint64(b) // measured again at the next check
		if r == 0 {
			// An uploaded segment (object storage): only its local copy
			// went, every record is still readable from the bucket.
			c.floorMetrics.localDrops.Inc()
			c.floorMetrics.localBytes.Add(float64(b))
			c.Logger.Warn("free space below storage.min_free: dropped the local copy of uploaded data (still in the bucket)",
				"stream", u.s.name, "shard", u.sh.ID(), "bytes", b, "newest_dropped", time.Unix(0, u.newest).UTC(),
				"free_bytes", free, "min_free_bytes", floor)
			continue
		}
		trimmed[u.s] = true
		c.floorMetrics.deletions.Inc()
		c.floorMetrics.records.Add(float64(r))
		c.floorMetrics.bytes.Add(float64(b))
		c.Logger.Warn("free space below storage.min_free: deleted the oldest data", "stream", u.s.name, "shard", u.sh.ID(),
			"records", r, "bytes", b, "newest_deleted", time.Unix(0, u.newest).UTC(), "free_bytes", free, "min_free_bytes", floor)
	}
	if c.AfterTrim != nil {
		for s := range trimmed {
			c.AfterTrim(s)
		}
	}
	return records, bytes
}

// oldestUnit finds the unit, across every stream's shards, whose newest
// record is the oldest.
func (c *Core) oldestUnit(skip map[*Shard]bool) (floorUnit, bool) {
	var best floorUnit
	found := false
	for _, s := range c.Streams() {
		s.mu.RLock()
		shards := append([]*Shard(nil), s.shards...)
		closed := s.closed
		s.mu.RUnlock()
		if closed {
			continue
		}
		for _, sh := range shards {
			r, ok := sh.log.(logstore.Reclaimer)
			if !ok || skip[sh] {
				continue
			}
			newest, _, _, ok := r.Oldest()
			if ok && (!found || newest < best.newest) {
				best, found = floorUnit{s: s, sh: sh, r: r, newest: newest}, true
			}
		}
	}
	return best, found
}
