package fragments

import "os"

// Record encoding and the index, for the tests of the package's users.
var (
	AppendRecord = appendRecord
	ParseRecord  = parseRecord
)

// Index returns the store's fragment index.
func (st *Store) Index() *Index { return st.idx }

// WriteV1IndexChunk writes entries as an index chunk of format version 1.
var WriteV1IndexChunk = writeV1Chunk

// BreakWrites makes the index's writes fail, as a full disk would (its
// last chunk's file is closed under it); repair opens it again.
func (x *Index) BreakWrites() (repair func() error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.active.Close()
	path := x.chunkPath(x.chunks[len(x.chunks)-1].first)
	return func() error {
		x.mu.Lock()
		defer x.mu.Unlock()
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		x.active = f
		return err
	}
}

// Dir returns the directory of the store's stream.
func (st *Store) Dir() string { return st.stream.Dir() }
