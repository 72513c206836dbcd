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

// Index file, version 2 (written since sealed segments could go cold and
// logs reach ten years):
//
//	entries: (seq u64 | time i64 | pos i64)*
//	trailer: entries' crc32c u32 | entry count u64 | segment next u64 |
//	         segment size i64 | first time i64 | last time i64 |
//	         magic "EIX2" | crc32c u32 of the trailer before it
//
// The trailer, at the end and of a fixed size, holds all Open needs to
// list the segment and has its own checksum: Open reads only it, not the
// entries (tens of thousands of indexes in a long log). The entries are
// read, and their checksum checked, when the index is loaded on demand.
//
// Version 1 (older logs): entries | next u64 | size i64 | first time i64 |
// last time i64 | crc32c u32 of everything before. Its checksum covers the
// entries, so Open reads it whole and rewrites it as version 2.
//
// The two are told apart by their length: 24n+52 bytes for version 2, 24n+36
// for version 1 (4 and 12 modulo 24). Written once, atomically, when a
// segment is sealed; a missing or damaged index file is rebuilt by
// scanning the segment (local) or its object (cold).
const (
	indexTrailerSize   = 4 + 8 + 8 + 8 + 8 + 8 + 4 + 4
	indexV1TrailerSize = 8 + 8 + 8 + 8 + 4
	indexMagic         = "EIX2"
)

// indexSummary is what an index file says of its segment.
type indexSummary struct {
	next                uint64
	size                int64
	firstTime, lastTime int64
}

func writeIndexFile(path string, s *segment) error {
	return atomicfile.WriteFile(path, encodeIndex(s), 0o644)
}

// encodeIndex returns the index file (version 2) of sealed segment s.
func encodeIndex(s *segment) []byte {
	b := make([]byte, 0, len(s.index)*indexEntrySize+indexTrailerSize)
	for _, e := range s.index {
		b = binary.BigEndian.AppendUint64(b, e.seq)
		b = binary.BigEndian.AppendUint64(b, uint64(e.time))
		b = binary.BigEndian.AppendUint64(b, uint64(e.pos))
	}
	t := len(b)
	b = binary.BigEndian.AppendUint32(b, crc32.Checksum(b, crcTable))
	b = binary.BigEndian.AppendUint64(b, uint64(len(s.index)))
	b = binary.BigEndian.AppendUint64(b, s.next)
	b = binary.BigEndian.AppendUint64(b, uint64(s.size))
	b = binary.BigEndian.AppendUint64(b, uint64(s.firstTime))
	b = binary.BigEndian.AppendUint64(b, uint64(s.lastTime))
	b = append(b, indexMagic...)
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b[t:], crcTable))
}

// readIndexFile reads a sealed segment's index file and checks it against
// the segment file's size. Without entries, only a version 2 file's
// trailer is read (idx is nil); a version 1 file is read and checked
// whole, and its entries returned with v1 set, for the caller to rewrite.
// With entries, the whole file is read and checked.
func readIndexFile(path string, segSize int64, entries bool) (idx []indexEntry, sum indexSummary, v1 bool, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, sum, false, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, sum, false, err
	}
	n := fi.Size()
	switch {
	case n >= indexTrailerSize && (n-indexTrailerSize)%indexEntrySize == 0:
		var b []byte
		if entries {
			b = make([]byte, n)
		} else {
			b = make([]byte, indexTrailerSize)
		}
		if _, err := f.ReadAt(b, n-int64(len(b))); err != nil {
			return nil, sum, false, err
		}
		body, t := b[:len(b)-indexTrailerSize], b[len(b)-indexTrailerSize:]
		if string(t[indexTrailerSize-8:indexTrailerSize-4]) != indexMagic {
			return nil, sum, false, fmt.Errorf("%w: index trailer magic", errCorrupt)
		}
		if crc32.Checksum(t[:indexTrailerSize-4], crcTable) != binary.BigEndian.Uint32(t[indexTrailerSize-4:]) {
			return nil, sum, false, fmt.Errorf("%w: index trailer checksum", errCorrupt)
		}
		if count := binary.BigEndian.Uint64(t[4:]); count != uint64((n-indexTrailerSize)/indexEntrySize) {
			return nil, sum, false, fmt.Errorf("%w: index of %d bytes says %d entries", errCorrupt, n, count)
		}
		sum = decodeSummary(t[12:])
		if entries {
			if crc32.Checksum(body, crcTable) != binary.BigEndian.Uint32(t) {
				return nil, sum, false, fmt.Errorf("%w: index entries checksum", errCorrupt)
			}
			idx = decodeEntries(body)
		}
	case n >= indexV1TrailerSize && (n-indexV1TrailerSize)%indexEntrySize == 0:
		b := make([]byte, n)
		if _, err := f.ReadAt(b, 0); err != nil {
			return nil, sum, false, err
		}
		if crc32.Checksum(b[:n-4], crcTable) != binary.BigEndian.Uint32(b[n-4:]) {
			return nil, sum, false, fmt.Errorf("%w: index checksum", errCorrupt)
		}
		idx, sum, v1 = decodeEntries(b[:n-indexV1TrailerSize]), decodeSummary(b[n-indexV1TrailerSize:]), true
	default:
		return nil, sum, false, fmt.Errorf("%w: index size %d", errCorrupt, n)
	}
	if sum.size != segSize {
		return nil, sum, false, fmt.Errorf("%w: index describes %d bytes, segment has %d", errCorrupt, sum.size, segSize)
	}
	return idx, sum, v1, nil
}

func decodeSummary(t []byte) indexSummary {
	return indexSummary{
		next:      binary.BigEndian.Uint64(t),
		size:      int64(binary.BigEndian.Uint64(t[8:])),
		firstTime: int64(binary.BigEndian.Uint64(t[16:])),
		lastTime:  int64(binary.BigEndian.Uint64(t[24:])),
	}
}

func decodeEntries(b []byte) []indexEntry {
	idx := make([]indexEntry, len(b)/indexEntrySize)
	for i := range idx {
		e := b[i*indexEntrySize:]
		idx[i] = indexEntry{
			seq:  binary.BigEndian.Uint64(e),
			time: int64(binary.BigEndian.Uint64(e[8:])),
			pos:  int64(binary.BigEndian.Uint64(e[16:])),
		}
	}
	return idx
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
