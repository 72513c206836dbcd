package fragments

// Record encoding and the index, for the tests of the package's users.
var (
	AppendRecord = appendRecord
	ParseRecord  = parseRecord
)

// Index returns the store's fragment index.
func (st *Store) Index() *Index { return st.idx }

// WriteV1IndexChunk writes entries as an index chunk of format version 1.
var WriteV1IndexChunk = writeV1Chunk

// Dir returns the directory of the store's stream.
func (st *Store) Dir() string { return st.stream.Dir() }
