package fragments

import (
	"errors"
	"os"
	"path/filepath"
	"unsafe"
)

// Index methods only the tests use: Reset (the owner rebuilds a damaged
// index by removing its directory instead) and MemoryBytes (the in-memory
// size the README states for ten years of fragments).

// Reset deletes every entry and chunk file, before a rebuild from the log.
func (x *Index) Reset() error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.closed {
		return ErrIndexClosed
	}
	if x.active != nil {
		x.active.Close()
		x.active = nil
	}
	x.files.closeAll()
	des, err := os.ReadDir(x.dir)
	if err != nil {
		return err
	}
	for _, de := range des {
		name := de.Name()
		_, chunk := fxParseName(name, fxChunkExt)
		_, summary := fxParseName(name, fxSummaryExt)
		if chunk || summary {
			if err := os.Remove(filepath.Join(x.dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
		}
	}
	x.blocks = x.blocks[:0]
	x.chunks = x.chunks[:0]
	x.last = IndexEntry{}
	x.floor = 0
	x.dirty = true
	return nil
}

// MemoryBytes estimates the memory held by the index: summaries and buffers.
func (x *Index) MemoryBytes() int64 {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return int64(unsafe.Sizeof(*x)) +
		int64(cap(x.blocks))*int64(unsafe.Sizeof(fxBlock{})) +
		int64(cap(x.chunks))*int64(unsafe.Sizeof(fxChunk{})) +
		int64(cap(x.wbuf)) + 4*int64(cap(x.crcs))
}
