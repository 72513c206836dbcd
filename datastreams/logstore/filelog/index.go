package filelog

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"sort"

	"github.com/eddy-video/eddy/datastreams/atomicfile"
)

// indexEntry is one point of a segment's sparse index: the record with
// sequence seq, arrived at time, starts at byte pos of the segment file.
type indexEntry struct {
	seq  uint64
	time int64
	pos  int64
}

const indexEntrySize = 24

// Index file layout: entries (seq u64 | time i64 | pos i64)* | segment next u64 |
// segment size i64 | first time i64 | last time i64 | crc32c u32 of everything before.
// Written once when a segment is sealed; a missing or damaged index file is
// rebuilt by scanning the segment.
const indexTrailerSize = 8 + 8 + 8 + 8 + 4

func writeIndexFile(path string, s *segment) error {
	b := make([]byte, 0, len(s.index)*indexEntrySize+indexTrailerSize)
	for _, e := range s.index {
		b = binary.BigEndian.AppendUint64(b, e.seq)
		b = binary.BigEndian.AppendUint64(b, uint64(e.time))
		b = binary.BigEndian.AppendUint64(b, uint64(e.pos))
	}
	b = binary.BigEndian.AppendUint64(b, s.next)
	b = binary.BigEndian.AppendUint64(b, uint64(s.size))
	b = binary.BigEndian.AppendUint64(b, uint64(s.firstTime))
	b = binary.BigEndian.AppendUint64(b, uint64(s.lastTime))
	b = binary.BigEndian.AppendUint32(b, crc32.Checksum(b, crcTable))
	return atomicfile.WriteFile(path, b, 0o644)
}

// readIndexFile loads a sealed segment's summary, and its index entries
// when entries is set. It fails when the file is damaged or disagrees
// with the segment file's size.
func readIndexFile(path string, segSize int64, entries bool) (idx []indexEntry, next uint64, firstTime, lastTime int64, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, 0, 0, 0, err
	}
	if len(b) < indexTrailerSize || (len(b)-indexTrailerSize)%indexEntrySize != 0 {
		return nil, 0, 0, 0, fmt.Errorf("%w: index size", errCorrupt)
	}
	body := b[:len(b)-4]
	if crc32.Checksum(body, crcTable) != binary.BigEndian.Uint32(b[len(b)-4:]) {
		return nil, 0, 0, 0, fmt.Errorf("%w: index checksum", errCorrupt)
	}
	n := (len(b) - indexTrailerSize) / indexEntrySize
	if !entries {
		n = 0 // the summary only
	}
	idx = make([]indexEntry, n)
	for i := range idx {
		e := b[i*indexEntrySize:]
		idx[i] = indexEntry{
			seq:  binary.BigEndian.Uint64(e),
			time: int64(binary.BigEndian.Uint64(e[8:])),
			pos:  int64(binary.BigEndian.Uint64(e[16:])),
		}
	}
	t := b[len(b)-indexTrailerSize:]
	next = binary.BigEndian.Uint64(t)
	size := int64(binary.BigEndian.Uint64(t[8:]))
	firstTime = int64(binary.BigEndian.Uint64(t[16:]))
	lastTime = int64(binary.BigEndian.Uint64(t[24:]))
	if size != segSize {
		return nil, 0, 0, 0, fmt.Errorf("%w: index describes %d bytes, segment has %d", errCorrupt, size, segSize)
	}
	return idx, next, firstTime, lastTime, nil
}

// seekSeq returns the file position of the last index point at or before seq.
func seekSeq(idx []indexEntry, seq uint64) (pos int64, at uint64) {
	i := sort.Search(len(idx), func(i int) bool { return idx[i].seq > seq })
	if i == 0 {
		return segmentHeaderSize, 0
	}
	return idx[i-1].pos, idx[i-1].seq
}

// seekTime returns the position of the last index point whose time is before t,
// so that a forward scan from it finds the first record at or after t.
func seekTime(idx []indexEntry, t int64) (pos int64, at uint64) {
	i := sort.Search(len(idx), func(i int) bool { return idx[i].time >= t })
	if i == 0 {
		return segmentHeaderSize, 0
	}
	return idx[i-1].pos, idx[i-1].seq
}
