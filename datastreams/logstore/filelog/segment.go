package filelog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/eddy-video/eddy/datastreams/logstore"
)

// Segment file layout (all integers big-endian):
//
//	header  : magic "EDDYSEG1" | base seq u64 | created unix-nano i64 | reserved u64   (32 bytes)
//	record* : length u32 | crc32c u32 | body[length]
//	body    : seq u64 | arrival unix-nano i64 | key length u16 | key | data
//
// The CRC (Castagnoli) covers the body. Sequence numbers inside a segment are
// consecutive, starting at the base sequence. A record whose length, CRC or
// sequence does not check out marks the end of the valid data: everything
// from it on is a torn tail and is truncated on recovery.
const (
	segmentMagic      = "EDDYSEG1"
	segmentHeaderSize = 32
	frameHeaderSize   = 8
	bodyFixedSize     = 8 + 8 + 2
	// MaxRecordBody bounds one record body; larger lengths are treated as corruption.
	maxRecordBody = 64 << 20
	segmentExt    = ".seg"
	indexExt      = ".idx"
	uploadExt     = ".up"
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// errCorrupt marks data that fails framing checks.
var errCorrupt = errors.New("corrupt record")

// segment is one file of a shard log. Fields other than the immutable base
// are guarded by the owning Log's mutex.
type segment struct {
	base      uint64 // first sequence number this segment may hold
	next      uint64 // one past the last durable record
	size      int64  // durable byte size (header + records)
	firstTime int64  // arrival time of the first record (0 when empty)
	lastTime  int64  // arrival time of the last record
	created   int64
	sealed    bool
	oldIndex  bool         // Open found a version 1 index file (upgradeIndexes)
	index     []indexEntry // sparse index; nil for sealed segments not loaded
	path      string
	local     bool        // the segment file is on local disk (false: cold, read through Options.Cold)
	up        *Upload     // the upload record (<base>.up), nil until MarkUploaded
	cold      io.ReaderAt // reader of the uploaded object, opened on the first cold read
	gone      bool        // taken out of the log (trimmed, dropped, discarded)
	rf        *os.File    // read-only descriptor, opened on first read (Log.reader)
	rfRefs    int         // reads using rf
	rfDoomed  bool        // close rf when the last read releases it
	rfUsed    time.Time   // last time a read took rf (Log.reader)
}

func segmentPath(dir string, base uint64) string {
	return filepath.Join(dir, fmt.Sprintf("%020d%s", base, segmentExt))
}

func parseSegmentName(name string) (uint64, bool) {
	return parseName(name, segmentExt)
}

// parseName parses the base out of <base><ext>.
func parseName(name, ext string) (uint64, bool) {
	if !strings.HasSuffix(name, ext) {
		return 0, false
	}
	v, err := strconv.ParseUint(strings.TrimSuffix(name, ext), 10, 64)
	return v, err == nil
}

// indexPath and uploadPath name the files beside a segment file.
func indexPath(segPath string) string  { return strings.TrimSuffix(segPath, segmentExt) + indexExt }
func uploadPath(segPath string) string { return strings.TrimSuffix(segPath, segmentExt) + uploadExt }

func (s *segment) count() uint64 { return s.next - s.base }

func encodeSegmentHeader(base uint64, created int64) []byte {
	b := make([]byte, segmentHeaderSize)
	copy(b, segmentMagic)
	binary.BigEndian.PutUint64(b[8:], base)
	binary.BigEndian.PutUint64(b[16:], uint64(created))
	return b
}

func decodeSegmentHeader(b []byte) (base uint64, created int64, err error) {
	if len(b) < segmentHeaderSize || string(b[:8]) != segmentMagic {
		return 0, 0, fmt.Errorf("%w: bad segment header", errCorrupt)
	}
	return binary.BigEndian.Uint64(b[8:]), int64(binary.BigEndian.Uint64(b[16:])), nil
}

// frameSize is the on-disk size of a record with the given key and data.
func frameSize(keyLen, dataLen int) int {
	return frameHeaderSize + bodyFixedSize + keyLen + dataLen
}

// appendFrame appends the framed record to dst.
func appendFrame(dst []byte, seq uint64, t int64, key, data []byte) []byte {
	return append(appendFrameHeader(dst, seq, t, key, data), data...)
}

// appendFrameHeader appends the framed record to dst but for its data,
// which must follow the returned bytes in the segment; the header's
// checksum covers data.
func appendFrameHeader(dst []byte, seq uint64, t int64, key, data []byte) []byte {
	bodyLen := bodyFixedSize + len(key) + len(data)
	start := len(dst)
	dst = binary.BigEndian.AppendUint32(dst, uint32(bodyLen))
	dst = append(dst, 0, 0, 0, 0) // crc placeholder
	dst = binary.BigEndian.AppendUint64(dst, seq)
	dst = binary.BigEndian.AppendUint64(dst, uint64(t))
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(key)))
	dst = append(dst, key...)
	crc := crc32.Update(crc32.Checksum(dst[start+frameHeaderSize:], crcTable), crcTable, data)
	binary.BigEndian.PutUint32(dst[start+4:], crc)
	return dst
}

// decodeFrame decodes one framed record at the start of b. It returns the
// record (slices alias b) and the frame's total size. io.ErrUnexpectedEOF
// means b holds only part of a frame.
func decodeFrame(b []byte) (logstore.Record, int, error) {
	if len(b) < frameHeaderSize {
		return logstore.Record{}, 0, io.ErrUnexpectedEOF
	}
	bodyLen := int(binary.BigEndian.Uint32(b))
	if bodyLen < bodyFixedSize || bodyLen > maxRecordBody {
		return logstore.Record{}, 0, fmt.Errorf("%w: length %d", errCorrupt, bodyLen)
	}
	if len(b) < frameHeaderSize+bodyLen {
		return logstore.Record{}, 0, io.ErrUnexpectedEOF
	}
	body := b[frameHeaderSize : frameHeaderSize+bodyLen]
	if crc32.Checksum(body, crcTable) != binary.BigEndian.Uint32(b[4:]) {
		return logstore.Record{}, 0, fmt.Errorf("%w: checksum mismatch", errCorrupt)
	}
	keyLen := int(binary.BigEndian.Uint16(body[16:]))
	if bodyFixedSize+keyLen > bodyLen {
		return logstore.Record{}, 0, fmt.Errorf("%w: key length %d", errCorrupt, keyLen)
	}
	r := logstore.Record{
		Seq:  binary.BigEndian.Uint64(body),
		Time: int64(binary.BigEndian.Uint64(body[8:])),
		Key:  body[bodyFixedSize : bodyFixedSize+keyLen],
		Data: body[bodyFixedSize+keyLen:],
	}
	return r, frameHeaderSize + bodyLen, nil
}

// scanSegment reads a segment file from the start, validating every frame,
// and returns its state with a freshly built sparse index. validSize is the
// byte length of the valid prefix; anything after it is a torn or corrupt tail.
func scanSegment(path string, indexEvery int64) (*segment, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return scanFrom(f, path, indexEvery)
}

// scanFrom is scanSegment over the segment's bytes read from f (a local
// file, or an uploaded object read through Options.Cold). Only a header
// cut short (io.EOF, io.ErrUnexpectedEOF) makes the segment corrupt; any
// other error reading it (the store unreachable: logstore.ErrUnavailable)
// is returned wrapped as it is.
func scanFrom(f io.Reader, path string, indexEvery int64) (*segment, error) {
	hdr := make([]byte, segmentHeaderSize)
	if _, err := io.ReadFull(f, hdr); err != nil {
		if !errors.Is(err, logstore.ErrUnavailable) && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)) {
			return nil, fmt.Errorf("%w: short header in %s: %v", errCorrupt, path, err)
		}
		return nil, fmt.Errorf("read the header of %s: %w", path, err)
	}
	base, created, err := decodeSegmentHeader(hdr)
	if err != nil {
		return nil, err
	}
	s := &segment{base: base, next: base, size: segmentHeaderSize, created: created, path: path, local: true}
	buf := make([]byte, 0, 1<<20)
	chunk := make([]byte, 1<<20)
	var pos int64 = segmentHeaderSize
	lastIndexed := int64(-indexEvery)
	for {
		n, rerr := f.Read(chunk)
		buf = append(buf, chunk[:n]...)
		for {
			rec, sz, err := decodeFrame(buf)
			if errors.Is(err, io.ErrUnexpectedEOF) {
				break
			}
			if err != nil || rec.Seq != s.next || (s.lastTime != 0 && rec.Time < s.lastTime) {
				return s, nil // corrupt tail: stop at the valid prefix
			}
			if pos-lastIndexed >= indexEvery {
				s.index = append(s.index, indexEntry{seq: rec.Seq, time: rec.Time, pos: pos})
				lastIndexed = pos
			}
			if s.firstTime == 0 {
				s.firstTime = rec.Time
			}
			s.lastTime = rec.Time
			s.next++
			pos += int64(sz)
			s.size = pos
			buf = buf[sz:]
		}
		if rerr != nil {
			if rerr == io.EOF {
				return s, nil
			}
			return nil, rerr
		}
		// Keep the partial frame at the front of a reusable buffer.
		buf = append(make([]byte, 0, max(cap(buf), len(buf)+len(chunk))), buf...)
	}
}
