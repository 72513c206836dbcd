package blockcache

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/eddy-video/eddy/datastreams/objstore"
)

// flight is one fetch of a block, shared by every reader that needs the
// block while it runs (single flight). done is closed once data or err is
// set; the flight stays in Cache.flights until its block is on disk (or
// known not to be kept), so a reader never starts a second fetch of it.
type flight struct {
	done    chan struct{}
	data    []byte
	err     error
	dropped bool // Drop ran for the key: the block is not kept
}

// blockLen is the length of block b of an object of size bytes (the
// last block is short).
func (c *Cache) blockLen(size, b int64) int64 {
	return min(c.cfg.BlockSize, size-b*c.cfg.BlockSize)
}

// readBlock copies block b of key from off into dst: from disk when the
// block is cached, else from the (shared) fetch of it.
func (c *Cache) readBlock(key string, size, b int64, dst []byte, off int64) error {
	id := blockID{key, b}
	for range 2 { // a second pass when a cached file turns out unreadable
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return errClosed
		}
		if e := c.index[id]; e != nil {
			e.refs++
			c.lru.MoveToFront(e.elem)
			c.mu.Unlock()
			err := readFile(e, dst, off)
			c.release(e, err != nil)
			if err == nil {
				c.metrics.hit()
				return nil
			}
			c.log.Warn("cached block unreadable, fetching it again", "key", key, "block", b, "err", err)
			continue
		}
		f := c.flights[id]
		own := f == nil
		if own {
			if err := c.br.openErr(c.cfg.Now()); err != nil {
				c.mu.Unlock()
				return err
			}
			f = c.startLocked(id, c.blockLen(size, b), false)
		}
		c.mu.Unlock()
		// A block this read fetches is a miss even when the fetch was done
		// before the read got here to wait for it.
		select {
		case <-f.done:
			if own {
				c.metrics.miss()
			} else {
				c.metrics.hit() // fetched already, its file being written
			}
		default:
			c.metrics.miss()
			<-f.done
		}
		if f.err != nil {
			return f.err
		}
		copy(dst, f.data[off:])
		return nil
	}
	return fmt.Errorf("blockcache: block %d of %s: its cache file cannot be read", b, key)
}

// noteRead records a read of block b of key; when it follows a read of
// block b-1 (a sequential read) the next Prefetch blocks are fetched in
// the background, as many as there are free background slots.
func (c *Cache) noteRead(key string, size, b int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	prev, ok := c.last[key]
	if !ok && len(c.last) >= maxTracked {
		clear(c.last) // many keys read once: start over rather than grow
	}
	c.last[key] = b
	if !ok || prev != b-1 || c.closed {
		return
	}
	lastBlock := (size - 1) / c.cfg.BlockSize
	for k := b + 1; k <= min(b+int64(c.cfg.Prefetch), lastBlock); k++ {
		id := blockID{key, k}
		if c.index[id] != nil || c.flights[id] != nil {
			continue
		}
		if !c.br.since.IsZero() {
			return // no prefetch while the store is not answering
		}
		select {
		case c.bg <- struct{}{}:
			c.startLocked(id, c.blockLen(size, k), true)
		default:
			return // prefetches are a bonus: never queue behind them
		}
	}
}

// maxTracked bounds the keys whose last block read is remembered.
const maxTracked = 4096

// startLocked starts the fetch of a block n bytes long.
func (c *Cache) startLocked(id blockID, n int64, prefetch bool) *flight {
	f := &flight{done: make(chan struct{})}
	c.flights[id] = f
	c.wg.Add(1)
	go c.fly(id, n, f, prefetch)
	return f
}

// fly fetches a block, hands it to the flight's readers, then keeps it
// on disk.
func (c *Cache) fly(id blockID, n int64, f *flight, prefetch bool) {
	defer c.wg.Done()
	if prefetch {
		defer func() { <-c.bg }()
	}
	start := time.Now()
	data, err := c.fetch(id, n)
	err = c.recordFetch(id, n, data, err, time.Since(start))
	if err != nil {
		f.err = err
		c.mu.Lock()
		c.landedLocked(id, f)
		c.mu.Unlock()
		close(f.done)
		return
	}
	f.data = data[:n]
	close(f.done)

	path, ok := c.writeBlock(id, f.data)
	c.mu.Lock()
	c.landedLocked(id, f)
	var gone []string
	switch {
	case ok && !f.dropped && !c.closed:
		gone = c.insertLocked(id, path, n)
	case ok:
		gone = []string{path}
	}
	c.mu.Unlock()
	removeFiles(gone)
}

// landedLocked forgets a finished flight, unless Drop already did and a
// newer flight of the block took its place (c.mu held).
func (c *Cache) landedLocked(id blockID, f *flight) {
	if c.flights[id] == f {
		delete(c.flights, id)
	}
}

// fetch runs Fetch with the timeout. It returns at the timeout (or at
// Close) even when Fetch does not heed its context.
func (c *Cache) fetch(id blockID, n int64) ([]byte, error) {
	ctx, cancel := context.WithTimeout(c.ctx, c.cfg.Timeout)
	defer cancel()
	type result struct {
		data []byte
		err  error
	}
	ch := make(chan result, 1)
	off := id.block * c.cfg.BlockSize
	go func() {
		data, err := c.cfg.Fetch(ctx, id.key, off, n)
		ch <- result{data, err}
	}()
	var r result
	select {
	case r = <-ch:
		if r.err == nil {
			return r.data, nil
		}
	case <-ctx.Done():
	}
	switch {
	case c.ctx.Err() != nil:
		return nil, errClosed
	case ctx.Err() != nil:
		return nil, fmt.Errorf("fetch of %s bytes %d-%d timed out after %s", id.key, off, off+n-1, c.cfg.Timeout)
	}
	return nil, fmt.Errorf("fetch of %s bytes %d-%d: %w", id.key, off, off+n-1, r.err)
}

// recordFetch feeds a fetch's outcome to the breaker and the metrics; it
// returns the error readers see. The store not answering (an error, a
// timeout) wraps logstore.ErrUnavailable and opens the breaker; the store
// answering that the object is missing or shorter than its size is an
// error of that read alone (and proves the store reachable): it wraps
// objstore.ErrNotFound, or objstore.ErrPastEnd and io.ErrUnexpectedEOF.
func (c *Cache) recordFetch(id blockID, n int64, data []byte, err error, elapsed time.Duration) error {
	var outage error // the store did not answer
	switch {
	case errors.Is(err, errClosed):
		return err
	case errors.Is(err, objstore.ErrNotFound):
		err = fmt.Errorf("blockcache: %w", err)
	case errors.Is(err, objstore.ErrPastEnd):
		// The store answered that the block starts past the object's
		// end: a size that does not match the object, not the store's
		// absence. Only ErrPastEnd says so: a connection closed without
		// an answer wraps io.EOF, and is an outage.
		err = fmt.Errorf("blockcache: block %d of %s: the object is shorter than its recorded size: %w (%w)", id.block, id.key, io.ErrUnexpectedEOF, err)
	case err != nil:
		outage = err
	case int64(len(data)) < n:
		err = fmt.Errorf("blockcache: block %d of %s: the object store returned %d of %d bytes: %w",
			id.block, id.key, len(data), n, io.ErrUnexpectedEOF)
	default:
		c.metrics.coldRead.Observe(elapsed.Seconds())
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if outage != nil {
		return c.br.record(outage, c.cfg, c.log, &c.metrics)
	}
	_ = c.br.record(nil, c.cfg, c.log, &c.metrics)
	return err
}
