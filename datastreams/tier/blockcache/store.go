package blockcache

import (
	"container/list"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// The blocks on disk: one file per block, named
// <hash of key and block index>-<generation>.blk. The generation makes a
// block fetched again after its eviction a new file, so removing an old
// file outside the lock can never remove a newer copy.

const blockExt = ".blk"

// blockID names block Block (of BlockSize bytes from Block*BlockSize) of
// object Key.
type blockID struct {
	key   string
	block int64
}

// entry is a block on disk.
type entry struct {
	id   blockID
	path string
	size int64
	elem *list.Element // in Cache.lru, front: most recently used
	refs int           // readers copying from the file now: not evicted
	gone bool          // out of the index; file removed when refs is 0
}

// emptyDir creates dir and removes the block files a previous run left.
func emptyDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("blockcache: %w", err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("blockcache: %w", err)
	}
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), blockExt) && e.Type().IsRegular() {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
				return fmt.Errorf("blockcache: emptying the cache: %w", err)
			}
		}
	}
	return nil
}

// blockPath is the file of a block (generation gen).
func (c *Cache) blockPath(id blockID, gen uint64) string {
	h := sha256.New()
	h.Write([]byte(id.key))
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(id.block))
	h.Write([]byte{0})
	h.Write(b[:])
	sum := h.Sum(nil)
	return filepath.Join(c.cfg.Dir, fmt.Sprintf("%s-%d%s", hex.EncodeToString(sum[:12]), gen, blockExt))
}

// writeBlock writes a fetched block to a new file; false when it cannot
// be kept (the first such failure is logged: a full disk costs cache
// hits, never reads).
func (c *Cache) writeBlock(id blockID, data []byte) (string, bool) {
	c.mu.Lock()
	c.gen++
	path := c.blockPath(id, c.gen)
	c.mu.Unlock()
	err := os.WriteFile(path, data, 0o600)
	if err == nil {
		return path, true
	}
	_ = os.Remove(path)
	c.mu.Lock()
	first := !c.diskErrLogged
	c.diskErrLogged = true
	c.mu.Unlock()
	if first {
		c.log.Error("cannot write a block to the cache directory: cold reads are served but not cached (logged once)",
			"dir", c.cfg.Dir, "err", err)
	}
	return "", false
}

// readFile copies the block's bytes from off into dst.
func readFile(e *entry, dst []byte, off int64) error {
	f, err := os.Open(e.path)
	if err != nil {
		return err
	}
	defer f.Close()
	n, err := f.ReadAt(dst, off)
	if n == len(dst) {
		return nil
	}
	return fmt.Errorf("block file %s: read %d of %d bytes at %d: %w", e.path, n, len(dst), off, err)
}

// insertLocked adds a written block to the index and evicts past the
// budget; it returns the files to remove.
func (c *Cache) insertLocked(id blockID, path string, size int64) []string {
	if old := c.index[id]; old != nil { // cannot happen: one flight per block
		return []string{path}
	}
	e := &entry{id: id, path: path, size: size}
	e.elem = c.lru.PushFront(e)
	c.index[id] = e
	m := c.byKey[id.key]
	if m == nil {
		m = make(map[int64]*entry)
		c.byKey[id.key] = m
	}
	m[id.block] = e
	c.bytes += size
	c.metrics.bytes.Set(float64(c.bytes))
	return c.evictLocked()
}

// evictLocked removes least recently used blocks until the budget holds,
// skipping blocks readers are copying from; it returns the files to
// remove.
func (c *Cache) evictLocked() []string {
	var gone []string
	for el := c.lru.Back(); el != nil && c.bytes > c.cfg.MaxBytes; {
		e := el.Value.(*entry)
		el = el.Prev()
		if e.refs > 0 {
			continue
		}
		if c.removeLocked(e) {
			gone = append(gone, e.path)
		}
	}
	return gone
}

// removeLocked takes a block out of the index; true when its file can be
// removed now (no reader holds it).
func (c *Cache) removeLocked(e *entry) bool {
	if e.gone {
		return false
	}
	e.gone = true
	c.lru.Remove(e.elem)
	delete(c.index, e.id)
	if m := c.byKey[e.id.key]; m != nil {
		delete(m, e.id.block)
		if len(m) == 0 {
			delete(c.byKey, e.id.key)
		}
	}
	c.bytes -= e.size
	c.metrics.bytes.Set(float64(c.bytes))
	return e.refs == 0
}

// release ends a reader's copy from e; bad drops the block (its file was
// missing or short).
func (c *Cache) release(e *entry, bad bool) {
	c.mu.Lock()
	e.refs--
	var gone []string
	if bad {
		c.removeLocked(e)
	}
	if e.gone && e.refs == 0 {
		gone = append(gone, e.path)
	}
	gone = append(gone, c.evictLocked()...)
	c.mu.Unlock()
	removeFiles(gone)
}
