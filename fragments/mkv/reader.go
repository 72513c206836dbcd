package mkv

// Incremental Matroska reader for KVS PutMedia ingest and for tests of the
// writer. EBML framing per RFC 8794, Matroska semantics per RFC 9559 (element
// IDs in writer.go). The input is untrusted network data: every length is checked
// against a limit before anything is allocated for it, buffers grow with the
// bytes actually received, and only a fixed set of known masters is descended
// into, so nesting is bounded by construction.

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"time"
)

// Sentinel errors wrapped by *Error (besides io.ErrUnexpectedEOF for
// truncated input and the underlying reader's own errors).
var (
	ErrMalformed    = errors.New("malformed Matroska data")
	ErrTooLarge     = errors.New("element exceeds a limit of the Matroska reader")
	ErrUnsupported  = errors.New("unsupported Matroska feature")
	ErrUnknownTrack = errors.New("block for a track not declared in Tracks")
)

// Error reports malformed or unreadable input at a byte offset of the stream.
type Error struct {
	Offset int64  // stream offset of the element (or byte) at fault
	Reason string // what was wrong, for humans
	Err    error  // one of the MKVErr* sentinels, io.ErrUnexpectedEOF, or a read error
}

func (e *Error) Error() string {
	return fmt.Sprintf("mkv: offset %d: %s: %v", e.Offset, e.Reason, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Reader limits on metadata masters, derived from the writer's limits so that
// everything WriteFragment accepts reads back.
const (
	mkvMaxEBMLHeaderSize = 4 << 10
	mkvMaxInfoSize       = 1 << 20
	mkvMaxTracksSize     = MaxTracks * (MaxCodecPrivateSize + 64<<10)
	mkvMaxTagsSize       = MaxTags*(2*MaxStringSize+64) + 64<<10
	mkvMaxBlockOverhead  = 4 << 10  // block header and lace sizes on top of MaxFrameSize
	mkvMaxGroupOverhead  = 64 << 10 // BlockGroup children besides the Block
	mkvReadChunk         = 64 << 10 // body buffers grow by at most this much before data arrives
	mkvMaxTimestampScale = uint64(time.Second)
)

// Reader reads a stream of Matroska data incrementally: EBML header(s),
// Segments of known or unknown size, Info, Tracks, Tags and Clusters of known
// or unknown size. An unknown-size Cluster ends at the next Segment-level or
// top-level element (Cluster, Tags, Info, Tracks, Cues, ..., EBML, Segment) or
// at EOF; an unknown-size Segment ends at the next EBML header or Segment or at
// EOF. SimpleBlock and BlockGroup/Block are read with all lacing kinds (Xiph,
// EBML, fixed-size); laced frames all get the block's timestamp and key flag.
// SeekHead, Cues, Chapters, Attachments, Void, CRC-32 and unknown elements of
// known size are skipped, and so are Tags that target a track (TagTrackUID:
// they describe the track, not a fragment). Tracks with ContentEncodings
// (compression or encryption) and EncryptedBlock are rejected with
// ErrUnsupported.
//
// The stream must start with an EBML header whose DocType is "matroska" or
// "webm". A Segment resets Info (TimestampScale back to 1 ms, Title) and Tracks.
type Reader struct {
	// MaxFrameSize bounds one block's payload; 0 means MaxFrameSize.
	MaxFrameSize int
	// MaxFragmentSize bounds the frame bytes of one fragment plus
	// FrameOverhead per frame; 0 means MaxFragmentSize.
	MaxFragmentSize int
	// EmitOnClusterEnd makes Next return a fragment as soon as its Cluster
	// ends instead of waiting for the next Cluster or the end of the Segment to
	// attach trailing Tags as PostTags (PutMedia acks want the fragment at once).
	// Tags after the last Cluster of a Segment are then returned as a fragment
	// without Frames, with the tags in PreTags.
	EmitOnClusterEnd bool
	// OnCluster, when set, is called as soon as a Cluster's Timestamp has
	// been read, before its blocks (PutMedia acknowledges the first bytes
	// of a fragment), with the Tracks in force (read-only) and the cluster
	// timecode. An error it returns ends the stream: Next returns it as is.
	OnCluster func(tracks []Track, timecode time.Duration) error

	br  *bufio.Reader
	off int64
	err error // sticky

	peeked bool
	hdr    mkvElem

	sawEBML   bool
	inSegment bool
	segEnd    int64 // -1: unknown size
	scale     uint64
	title     string
	tracks    []Track
	pending   []Tag
	held      *Fragment // read cluster waiting for its PostTags
}

type mkvElem struct {
	id   uint32
	size int64 // -1: unknown size
	off  int64 // offset of the element ID
	data int64 // offset of the element data
}

// NewReader returns a reader of the Matroska stream r. It buffers r.
func NewReader(r io.Reader) *Reader {
	br, ok := r.(*bufio.Reader)
	if !ok || br.Size() < 4096 {
		br = bufio.NewReaderSize(r, 64<<10)
	}
	return &Reader{br: br, scale: uint64(time.Millisecond)}
}

// Offset returns how many bytes of the stream have been consumed so far.
func (r *Reader) Offset() int64 { return r.off }

// Next returns the next fragment: one Cluster with the Tracks, Title and
// TimestampScale in force, the Tags seen since the previous Cluster as PreTags
// and, for the last Cluster of a Segment, the Tags after it as PostTags. A
// Segment with Tags but no Cluster (see WriteTagsDocument) yields a fragment
// without Frames, its tags in PreTags. Fragments of one Segment share their
// Tracks slice; treat it as read-only.
//
// Next returns io.EOF at a clean end of the stream (between top-level elements
// or inside an unknown-size Segment) and *Error on malformed or truncated
// data, after first returning a fragment whose Cluster was complete. Errors are
// sticky.
func (r *Reader) Next() (*Fragment, error) {
	if r.err != nil {
		return nil, r.err
	}
	f, err := r.next()
	if err != nil {
		r.err = err
		if r.held != nil {
			f, r.held = r.held, nil
			return f, nil
		}
		return nil, err
	}
	return f, nil
}

func (r *Reader) next() (*Fragment, error) {
	for {
		pos := r.off
		if r.peeked {
			pos = r.hdr.off
		}
		if r.inSegment && r.segEnd >= 0 && pos >= r.segEnd {
			if f := r.endSegment(); f != nil {
				return f, nil
			}
			continue
		}
		h, err := r.peekHeader()
		if err == io.EOF {
			if r.inSegment {
				if r.segEnd >= 0 {
					return nil, r.fail(r.off, io.ErrUnexpectedEOF, "stream ends inside a Segment of size %d", r.segEnd)
				}
				if f := r.endSegment(); f != nil {
					return f, nil
				}
			}
			return nil, io.EOF
		}
		if err != nil {
			return nil, err
		}

		if !r.inSegment {
			r.peeked = false
			switch {
			case h.id == mkvIDEBML:
				if err := r.readEBMLHeader(h); err != nil {
					return nil, err
				}
			case !r.sawEBML:
				return nil, r.fail(h.off, ErrMalformed, "stream does not start with an EBML header (element 0x%X)", h.id)
			case h.id == mkvIDSegment:
				r.startSegment(h)
			default:
				if err := r.skip(h); err != nil {
					return nil, err
				}
			}
			continue
		}

		if h.id == mkvIDEBML || h.id == mkvIDSegment {
			if r.segEnd >= 0 {
				return nil, r.fail(h.off, ErrMalformed, "element 0x%X inside a Segment", h.id)
			}
			if f := r.endSegment(); f != nil {
				return f, nil
			}
			continue
		}
		if h.size < 0 && h.id != mkvIDCluster {
			return nil, r.fail(h.off, ErrMalformed, "element 0x%X has unknown size (allowed only for Segment and Cluster)", h.id)
		}
		if r.segEnd >= 0 && h.size >= 0 && h.size > r.segEnd-h.data {
			return nil, r.fail(h.off, ErrMalformed, "element 0x%X of size %d crosses the end of its Segment", h.id, h.size)
		}
		if h.id == mkvIDCluster && r.held != nil {
			f := r.held
			r.held = nil
			return f, nil // tags read since then stay pending as the next cluster's PreTags
		}
		r.peeked = false
		switch h.id {
		case mkvIDCluster:
			f, err := r.readCluster(h)
			if err != nil {
				return nil, err
			}
			if r.EmitOnClusterEnd {
				return f, nil
			}
			r.held = f
		case mkvIDInfo:
			if err := r.readInfo(h); err != nil {
				return nil, err
			}
		case mkvIDTracks:
			if err := r.readTracks(h); err != nil {
				return nil, err
			}
		case mkvIDTags:
			if err := r.readTags(h); err != nil {
				return nil, err
			}
		default:
			if err := r.skip(h); err != nil {
				return nil, err
			}
		}
	}
}

func (r *Reader) startSegment(h mkvElem) {
	r.inSegment = true
	r.segEnd = -1
	if h.size >= 0 {
		r.segEnd = h.data + h.size
	}
	r.scale = uint64(time.Millisecond)
	r.title = ""
	r.tracks = nil
	r.pending = nil
}

// endSegment closes the current segment and returns the fragment it still owes:
// the held cluster with the trailing tags as PostTags, or a tags-only fragment.
func (r *Reader) endSegment() *Fragment {
	r.inSegment = false
	if r.held != nil {
		f := r.held
		r.held = nil
		f.PostTags, r.pending = r.pending, nil
		return f
	}
	if len(r.pending) > 0 {
		f := &Fragment{Tracks: r.tracks, Title: r.title, PreTags: r.pending}
		r.pending = nil
		return f
	}
	return nil
}

// mkvEndsUnknownCluster reports whether id, met inside an unknown-size
// Cluster, is a sibling or ancestor level element that ends it.
func mkvEndsUnknownCluster(id uint32) bool {
	switch id {
	case mkvIDCluster, mkvIDTags, mkvIDInfo, mkvIDTracks, mkvIDCues, mkvIDSeekHead,
		mkvIDChapters, mkvIDAttachments, mkvIDSegment, mkvIDEBML:
		return true
	}
	return false
}

func (r *Reader) maxFrame() int64 {
	if r.MaxFrameSize > 0 {
		return int64(r.MaxFrameSize)
	}
	return MaxFrameSize
}

func (r *Reader) maxFragment() int64 {
	if r.MaxFragmentSize > 0 {
		return int64(r.MaxFragmentSize)
	}
	return MaxFragmentSize
}

func (r *Reader) readCluster(h mkvElem) (*Fragment, error) {
	f := &Fragment{Tracks: r.tracks, Title: r.title, PreTags: r.pending}
	r.pending = nil
	end := int64(-1)
	if h.size >= 0 {
		end = h.data + h.size
	}
	var (
		tc    uint64
		hasTC bool
		cost  int64
	)
	for {
		var c mkvElem
		if end >= 0 {
			if r.off >= end {
				break
			}
			var err error
			if c, err = r.readHeader(); err != nil {
				if err == io.EOF {
					return nil, r.fail(r.off, io.ErrUnexpectedEOF, "stream ends inside a Cluster")
				}
				return nil, err
			}
			if c.size < 0 || c.size > end-c.data {
				return nil, r.fail(c.off, ErrMalformed, "Cluster child 0x%X does not fit in its Cluster", c.id)
			}
		} else {
			if r.segEnd >= 0 && r.off >= r.segEnd {
				break
			}
			var err error
			if c, err = r.peekHeader(); err == io.EOF {
				break
			} else if err != nil {
				return nil, err
			}
			if mkvEndsUnknownCluster(c.id) {
				break // left peeked for the Segment level
			}
			r.peeked = false
			if c.size < 0 {
				return nil, r.fail(c.off, ErrMalformed, "Cluster child 0x%X has unknown size", c.id)
			}
			if r.segEnd >= 0 && c.size > r.segEnd-c.data {
				return nil, r.fail(c.off, ErrMalformed, "Cluster child 0x%X crosses the end of its Segment", c.id)
			}
		}

		switch c.id {
		case mkvIDTimestamp:
			b, err := r.readBody(c, 8, "Cluster Timestamp")
			if err != nil {
				return nil, err
			}
			tc, hasTC = mkvUint(b), true
			if hi, lo := bits.Mul64(tc, r.scale); r.OnCluster != nil && hi == 0 && lo <= math.MaxInt64 {
				if err := r.OnCluster(r.tracks, time.Duration(lo)); err != nil {
					return nil, err
				}
			}
		case mkvIDSimpleBlock:
			b, err := r.readBody(c, r.maxFrame()+mkvMaxBlockOverhead, "SimpleBlock")
			if err != nil {
				return nil, err
			}
			if f.Frames, cost, err = r.parseBlock(f.Frames, cost, b, c.data, true, false); err != nil {
				return nil, err
			}
		case mkvIDBlockGroup:
			b, err := r.readBody(c, r.maxFrame()+mkvMaxBlockOverhead+mkvMaxGroupOverhead, "BlockGroup")
			if err != nil {
				return nil, err
			}
			if f.Frames, cost, err = r.parseBlockGroup(f.Frames, cost, b, c.data); err != nil {
				return nil, err
			}
		case mkvIDEncryptedBlock:
			return nil, r.fail(c.off, ErrUnsupported, "EncryptedBlock")
		default: // Position, PrevSize, SilentTracks, Void, CRC-32, unknown
			if err := r.skip(c); err != nil {
				return nil, err
			}
		}
	}
	if !hasTC {
		return nil, r.fail(h.off, ErrMalformed, "Cluster without Timestamp")
	}
	hi, lo := bits.Mul64(tc, r.scale)
	if hi != 0 || lo > math.MaxInt64 {
		return nil, r.fail(h.off, ErrMalformed, "Cluster Timestamp %d × TimestampScale %d overflows", tc, r.scale)
	}
	f.Timecode = time.Duration(lo)
	return f, nil
}

func (r *Reader) parseBlockGroup(frames []Frame, cost int64, b []byte, base int64) ([]Frame, int64, error) {
	var block []byte
	blockOff := int64(0)
	key := true
	err := r.children(b, base, func(id uint32, d []byte, off int64) error {
		switch id {
		case mkvIDBlock:
			if block != nil {
				return r.fail(off, ErrMalformed, "BlockGroup with two Blocks")
			}
			block, blockOff = d, off
		case mkvIDReferenceBlock:
			key = false // RFC 9559: a Block without ReferenceBlock is a keyframe
		}
		return nil
	})
	if err != nil {
		return frames, cost, err
	}
	if block == nil {
		return frames, cost, r.fail(base, ErrMalformed, "BlockGroup without Block")
	}
	return r.parseBlock(frames, cost, block, blockOff, false, key)
}

// parseBlock decodes a SimpleBlock or Block (RFC 9559 §10): track number
// VINT, int16 relative timestamp, flags, then the payload, possibly laced
// (§10.4 lacing: 00 none, 01 Xiph, 11 EBML, 10 fixed-size).
func (r *Reader) parseBlock(frames []Frame, cost int64, b []byte, base int64, simple, key bool) ([]Frame, int64, error) {
	track, n, ok := mkvVint(b)
	if !ok || track == 0 {
		return frames, cost, r.fail(base, ErrMalformed, "block with an invalid track number")
	}
	if len(b) < n+3 {
		return frames, cost, r.fail(base, ErrMalformed, "block shorter than its header")
	}
	if !r.hasTrack(track) {
		return frames, cost, r.fail(base, ErrUnknownTrack, "block for track %d", track)
	}
	rel := int64(int16(binary.BigEndian.Uint16(b[n:])))
	t := time.Duration(rel * int64(r.scale)) // |rel| ≤ 2^15, scale ≤ 1e9: no overflow
	flags := b[n+2]
	if simple {
		key = flags&0x80 != 0
	}
	p := b[n+3:]
	pOff := base + int64(n) + 3
	add := func(data []byte) error {
		if int64(len(data)) > r.maxFrame() {
			return r.fail(base, ErrTooLarge, "frame of %d bytes (limit %d)", len(data), r.maxFrame())
		}
		cost += int64(len(data)) + FrameOverhead
		if cost > r.maxFragment() {
			return r.fail(base, ErrTooLarge, "fragment exceeds %d bytes", r.maxFragment())
		}
		frames = append(frames, Frame{Track: track, Time: t, Key: key, Data: data})
		return nil
	}
	lacing := (flags >> 1) & 3
	if lacing == 0 {
		return frames, cost, add(p)
	}
	if len(p) < 1 {
		return frames, cost, r.fail(pOff, ErrMalformed, "laced block without frame count")
	}
	count := int(p[0]) + 1
	p = p[1:]
	var sizes [256]int
	switch lacing {
	case 1: // Xiph: each size but the last as a run of 255s plus a final byte < 255
		for i := range count - 1 {
			s := 0
			for {
				if len(p) == 0 {
					return frames, cost, r.fail(pOff, ErrMalformed, "truncated Xiph lace sizes")
				}
				v := int(p[0])
				p = p[1:]
				s += v
				if v != 255 {
					break
				}
			}
			sizes[i] = s
		}
	case 3: // EBML: first size as VINT, the next ones as signed VINT differences
		if count > 1 {
			v, l, ok := mkvVint(p)
			if !ok {
				return frames, cost, r.fail(pOff, ErrMalformed, "invalid EBML lace size")
			}
			p = p[l:]
			sizes[0] = int(min(v, uint64(len(b))+1))
		}
		for i := 1; i < count-1; i++ {
			d, l, ok := mkvVint(p)
			if !ok {
				return frames, cost, r.fail(pOff, ErrMalformed, "invalid EBML lace size difference")
			}
			p = p[l:]
			// Signed VINT: subtract 2^(7l-1)-1 (RFC 9559 §10.4.4).
			diff := int64(d) - (int64(1)<<(7*l-1) - 1)
			s := int64(sizes[i-1]) + diff
			if s < 0 || s > int64(len(b)) {
				return frames, cost, r.fail(pOff, ErrMalformed, "EBML lace size out of range")
			}
			sizes[i] = int(s)
		}
	case 2: // fixed-size: payload split evenly
		if len(p)%count != 0 {
			return frames, cost, r.fail(pOff, ErrMalformed, "fixed-size lacing: %d bytes do not split into %d frames", len(p), count)
		}
		for i := range count - 1 {
			sizes[i] = len(p) / count
		}
	}
	total := 0
	for i := range count - 1 {
		total += sizes[i]
		if total > len(p) {
			return frames, cost, r.fail(pOff, ErrMalformed, "lace sizes exceed the block")
		}
	}
	sizes[count-1] = len(p) - total
	for i := range count {
		if err := add(p[:sizes[i]:sizes[i]]); err != nil {
			return frames, cost, err
		}
		p = p[sizes[i]:]
	}
	return frames, cost, nil
}

func (r *Reader) hasTrack(n uint64) bool {
	for i := range r.tracks {
		if r.tracks[i].Number == n {
			return true
		}
	}
	return false
}

func (r *Reader) readEBMLHeader(h mkvElem) error {
	if h.size < 0 {
		return r.fail(h.off, ErrMalformed, "EBML header of unknown size")
	}
	b, err := r.readBody(h, mkvMaxEBMLHeaderSize, "EBML header")
	if err != nil {
		return err
	}
	docType := "matroska"
	err = r.children(b, h.data, func(id uint32, d []byte, off int64) error {
		switch id {
		case mkvIDEBMLReadVersion:
			if v := mkvUint(d); len(d) > 8 || v != 1 {
				return r.fail(off, ErrUnsupported, "EBMLReadVersion %d", v)
			}
		case mkvIDEBMLMaxIDLength:
			if v := mkvUint(d); len(d) > 8 || v > 4 {
				return r.fail(off, ErrUnsupported, "EBMLMaxIDLength %d", v)
			}
		case mkvIDEBMLMaxSizeLength:
			if v := mkvUint(d); len(d) > 8 || v > 8 {
				return r.fail(off, ErrUnsupported, "EBMLMaxSizeLength %d", v)
			}
		case mkvIDDocType:
			docType = mkvString(d)
		case mkvIDDocTypeReadVersion:
			if v := mkvUint(d); len(d) > 8 || v > 4 {
				return r.fail(off, ErrUnsupported, "DocTypeReadVersion %d", v)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if docType != "matroska" && docType != "webm" {
		return r.fail(h.off, ErrUnsupported, "DocType %q", docType)
	}
	r.sawEBML = true
	return nil
}

func (r *Reader) readInfo(h mkvElem) error {
	b, err := r.readBody(h, mkvMaxInfoSize, "Info")
	if err != nil {
		return err
	}
	scale := uint64(time.Millisecond)
	title := ""
	err = r.children(b, h.data, func(id uint32, d []byte, off int64) error {
		switch id {
		case mkvIDTimestampScale:
			if len(d) > 8 {
				return r.fail(off, ErrMalformed, "TimestampScale of %d bytes", len(d))
			}
			scale = mkvUint(d)
			if scale == 0 || scale > mkvMaxTimestampScale {
				return r.fail(off, ErrUnsupported, "TimestampScale %d ns outside [1, 1e9]", scale)
			}
		case mkvIDTitle:
			if len(d) > MaxStringSize {
				return r.fail(off, ErrTooLarge, "Title of %d bytes", len(d))
			}
			title = mkvString(d)
		}
		return nil
	})
	if err != nil {
		return err
	}
	r.scale, r.title = scale, title
	return nil
}

func (r *Reader) readTracks(h mkvElem) error {
	b, err := r.readBody(h, mkvMaxTracksSize, "Tracks")
	if err != nil {
		return err
	}
	var tracks []Track
	err = r.children(b, h.data, func(id uint32, d []byte, off int64) error {
		if id != mkvIDTrackEntry {
			return nil
		}
		if len(tracks) == MaxTracks {
			return r.fail(off, ErrTooLarge, "more than %d tracks", MaxTracks)
		}
		t, err := r.parseTrackEntry(d, off)
		if err != nil {
			return err
		}
		for i := range tracks {
			if tracks[i].Number == t.Number {
				return r.fail(off, ErrMalformed, "duplicate track number %d", t.Number)
			}
		}
		tracks = append(tracks, t)
		return nil
	})
	if err != nil {
		return err
	}
	r.tracks = tracks
	return nil
}

func (r *Reader) parseTrackEntry(b []byte, base int64) (Track, error) {
	var t Track
	uintOf := func(d []byte, off int64, what string, max uint64) (uint64, error) {
		v := mkvUint(d)
		if len(d) > 8 || v > max {
			return 0, r.fail(off, ErrMalformed, "%s out of range", what)
		}
		return v, nil
	}
	str := func(d []byte, off int64, what string) (string, error) {
		if len(d) > MaxStringSize {
			return "", r.fail(off, ErrTooLarge, "%s of %d bytes", what, len(d))
		}
		return mkvString(d), nil
	}
	err := r.children(b, base, func(id uint32, d []byte, off int64) error {
		var err error
		var v uint64
		switch id {
		case mkvIDTrackNumber:
			t.Number, err = uintOf(d, off, "TrackNumber", math.MaxUint64)
		case mkvIDTrackUID:
			t.UID, err = uintOf(d, off, "TrackUID", math.MaxUint64)
		case mkvIDTrackType:
			v, err = uintOf(d, off, "TrackType", 255)
			t.Type = int(v)
		case mkvIDName:
			t.Name, err = str(d, off, "Name")
		case mkvIDCodecID:
			t.CodecID, err = str(d, off, "CodecID")
		case mkvIDCodecPrivate:
			if len(d) > MaxCodecPrivateSize {
				return r.fail(off, ErrTooLarge, "CodecPrivate of %d bytes", len(d))
			}
			t.CodecPrivate = d
		case mkvIDCodecDelay:
			t.CodecDelay, err = uintOf(d, off, "CodecDelay", math.MaxUint64)
		case mkvIDSeekPreRoll:
			t.SeekPreRoll, err = uintOf(d, off, "SeekPreRoll", math.MaxUint64)
		case mkvIDContentEncodings:
			return r.fail(off, ErrUnsupported, "ContentEncodings (compressed or encrypted track)")
		case mkvIDVideo:
			return r.children(d, off, func(id uint32, d []byte, off int64) error {
				var err error
				var v uint64
				switch id {
				case mkvIDPixelWidth:
					v, err = uintOf(d, off, "PixelWidth", math.MaxInt32)
					t.Width = int(v)
				case mkvIDPixelHeight:
					v, err = uintOf(d, off, "PixelHeight", math.MaxInt32)
					t.Height = int(v)
				}
				return err
			})
		case mkvIDAudio:
			return r.children(d, off, func(id uint32, d []byte, off int64) error {
				var err error
				var v uint64
				switch id {
				case mkvIDSamplingFrequency:
					switch len(d) {
					case 0:
						t.SampleRate = 0
					case 4:
						t.SampleRate = float64(math.Float32frombits(binary.BigEndian.Uint32(d)))
					case 8:
						t.SampleRate = math.Float64frombits(binary.BigEndian.Uint64(d))
					default:
						return r.fail(off, ErrMalformed, "SamplingFrequency of %d bytes", len(d))
					}
				case mkvIDChannels:
					v, err = uintOf(d, off, "Channels", math.MaxInt32)
					t.Channels = int(v)
				case mkvIDBitDepth:
					v, err = uintOf(d, off, "BitDepth", math.MaxInt32)
					t.BitDepth = int(v)
				}
				return err
			})
		}
		return err
	})
	if err != nil {
		return t, err
	}
	if t.Number == 0 {
		return t, r.fail(base, ErrMalformed, "TrackEntry without a TrackNumber")
	}
	if t.Type == Audio { // RFC 9559 defaults
		if t.SampleRate == 0 {
			t.SampleRate = 8000
		}
		if t.Channels == 0 {
			t.Channels = 1
		}
	}
	return t, nil
}

// readTags appends the SimpleTags of a Tags element to the pending tags.
// Targets are ignored (all tags are taken as segment-level), and so are
// TagBinary, TagLanguage and nested SimpleTags.
func (r *Reader) readTags(h mkvElem) error {
	b, err := r.readBody(h, mkvMaxTagsSize, "Tags")
	if err != nil {
		return err
	}
	return r.children(b, h.data, func(id uint32, d []byte, off int64) error {
		if id != mkvIDTag {
			return nil
		}
		if r.tagsTrack(d, off) {
			return nil // a track's tags (ffmpeg's HANDLER_NAME, DURATION ...), not a fragment's
		}
		return r.children(d, off, func(id uint32, d []byte, off int64) error {
			if id != mkvIDSimpleTag {
				return nil
			}
			var t Tag
			hasName := false
			err := r.children(d, off, func(id uint32, d []byte, off int64) error {
				switch id {
				case mkvIDTagName, mkvIDTagString:
					if len(d) > MaxStringSize {
						return r.fail(off, ErrTooLarge, "tag string of %d bytes", len(d))
					}
					if id == mkvIDTagName {
						t.Name, hasName = mkvString(d), true
					} else {
						t.Value = mkvString(d)
					}
				}
				return nil
			})
			if err != nil {
				return err
			}
			if !hasName {
				return r.fail(off, ErrMalformed, "SimpleTag without TagName")
			}
			if len(r.pending) >= MaxTags {
				return r.fail(off, ErrTooLarge, "more than %d tags before a Cluster", MaxTags)
			}
			r.pending = append(r.pending, t)
			return nil
		})
	})
}

// children calls fn for each child element of the master data b (which starts
// at stream offset base). Children must have known sizes and fit in b.
// mkvIDTagTrackUID is \Segment\Tags\Tag\Targets\TagTrackUID.
const mkvIDTagTrackUID = 0x63C5

// tagsTrack reports whether the Tag d targets a track (a TagTrackUID
// other than 0 in its Targets): its SimpleTags describe that track and are
// left out of the fragments' tags.
func (r *Reader) tagsTrack(d []byte, off int64) bool {
	track := false
	_ = r.children(d, off, func(id uint32, d []byte, off int64) error {
		if id != mkvIDTargets {
			return nil
		}
		return r.children(d, off, func(id uint32, d []byte, _ int64) error {
			if id == mkvIDTagTrackUID && mkvUint(d) != 0 {
				track = true
			}
			return nil
		})
	})
	return track
}

func (r *Reader) children(b []byte, base int64, fn func(id uint32, d []byte, off int64) error) error {
	for p := 0; p < len(b); {
		off := base + int64(p)
		id, n, ok := mkvParseID(b[p:])
		if !ok {
			return r.fail(off, ErrMalformed, "invalid element ID")
		}
		size, m, ok := mkvVint(b[p+n:])
		if !ok {
			return r.fail(off, ErrMalformed, "invalid size of element 0x%X", id)
		}
		if mkvVintUnknown(b[p+n : p+n+m]) {
			return r.fail(off, ErrMalformed, "element 0x%X has unknown size", id)
		}
		p += n + m
		if size > uint64(len(b)-p) {
			return r.fail(off, ErrMalformed, "element 0x%X of size %d does not fit in its parent", id, size)
		}
		d := b[p : p+int(size) : p+int(size)]
		if err := fn(id, d, off); err != nil {
			return err
		}
		p += int(size)
	}
	return nil
}

// mkvParseID parses an element ID (1–4 bytes, marker kept).
func mkvParseID(b []byte) (uint32, int, bool) {
	if len(b) == 0 {
		return 0, 0, false
	}
	l := bits.LeadingZeros8(b[0]) + 1
	if l > 4 || len(b) < l {
		return 0, 0, false
	}
	var id uint32
	for _, c := range b[:l] {
		id = id<<8 | uint32(c)
	}
	return id, l, true
}

// mkvVint parses a variable-size integer (RFC 8794 §4) without its marker.
func mkvVint(b []byte) (uint64, int, bool) {
	if len(b) == 0 {
		return 0, 0, false
	}
	l := bits.LeadingZeros8(b[0]) + 1
	if l > 8 || len(b) < l {
		return 0, 0, false
	}
	v := uint64(b[0]) & (0xFF >> l)
	for _, c := range b[1:l] {
		v = v<<8 | uint64(c)
	}
	return v, l, true
}

// mkvVintUnknown reports whether the VINT b has all VINT_DATA bits set.
func mkvVintUnknown(b []byte) bool {
	l := len(b)
	if b[0]&(0xFF>>l) != 0xFF>>l {
		return false
	}
	for _, c := range b[1:] {
		if c != 0xFF {
			return false
		}
	}
	return true
}

// mkvUint decodes a big-endian unsigned integer element (callers check len ≤ 8).
func mkvUint(b []byte) uint64 {
	var v uint64
	for _, c := range b {
		v = v<<8 | uint64(c)
	}
	return v
}

// mkvString decodes a String/UTF-8 element, dropping the zero padding
// RFC 8794 §7.4 allows at its end.
func mkvString(b []byte) string {
	for len(b) > 0 && b[len(b)-1] == 0 {
		b = b[:len(b)-1]
	}
	return string(b)
}

func (r *Reader) fail(off int64, err error, format string, a ...any) error {
	return &Error{Offset: off, Reason: fmt.Sprintf(format, a...), Err: err}
}

func (r *Reader) peekHeader() (mkvElem, error) {
	if r.peeked {
		return r.hdr, nil
	}
	h, err := r.readHeader()
	if err != nil {
		return h, err
	}
	r.hdr, r.peeked = h, true
	return h, nil
}

// readHeader reads an element ID and size. It returns io.EOF only when the
// stream ends exactly before the element.
func (r *Reader) readHeader() (mkvElem, error) {
	if r.peeked {
		r.peeked = false
		return r.hdr, nil
	}
	h := mkvElem{off: r.off}
	b, err := r.br.ReadByte()
	if err != nil {
		if err == io.EOF {
			return h, io.EOF
		}
		return h, r.fail(r.off, err, "read")
	}
	r.off++
	l := bits.LeadingZeros8(b) + 1
	if l > 4 {
		return h, r.fail(h.off, ErrMalformed, "invalid element ID byte 0x%02X", b)
	}
	h.id = uint32(b)
	for range l - 1 {
		if b, err = r.readByte(); err != nil {
			return h, err
		}
		h.id = h.id<<8 | uint32(b)
	}
	sizeOff := r.off
	if b, err = r.readByte(); err != nil {
		return h, err
	}
	l = bits.LeadingZeros8(b) + 1
	if l > 8 {
		return h, r.fail(sizeOff, ErrMalformed, "invalid size of element 0x%X", h.id)
	}
	mask := byte(0xFF >> l)
	v := uint64(b & mask)
	unknown := b&mask == mask
	for range l - 1 {
		if b, err = r.readByte(); err != nil {
			return h, err
		}
		v = v<<8 | uint64(b)
		unknown = unknown && b == 0xFF
	}
	h.size = int64(v) // < 2^56
	if unknown {
		h.size = -1
	}
	h.data = r.off
	return h, nil
}

func (r *Reader) readByte() (byte, error) {
	b, err := r.br.ReadByte()
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return 0, r.fail(r.off, err, "truncated element header")
	}
	r.off++
	return b, nil
}

// readBody reads the data of h, which must have a known size ≤ limit. The
// buffer grows with the bytes received, so a forged size costs nothing.
func (r *Reader) readBody(h mkvElem, limit int64, what string) ([]byte, error) {
	if h.size < 0 {
		return nil, r.fail(h.off, ErrMalformed, "%s has unknown size", what)
	}
	if h.size > limit {
		return nil, r.fail(h.off, ErrTooLarge, "%s of %d bytes (limit %d)", what, h.size, limit)
	}
	n := int(h.size)
	b := make([]byte, 0, min(n, mkvReadChunk))
	for len(b) < n {
		m := min(n-len(b), mkvReadChunk)
		if cap(b)-len(b) < m {
			b = append(b[:cap(b)], make([]byte, m)...)[:len(b)]
		}
		k, err := io.ReadFull(r.br, b[len(b):len(b)+m])
		b = b[:len(b)+k]
		r.off += int64(k)
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, r.fail(h.off, err, "reading %s of %d bytes", what, h.size)
		}
	}
	return b, nil
}

// skip discards the data of h, which must have a known size.
func (r *Reader) skip(h mkvElem) error {
	if h.size < 0 {
		return r.fail(h.off, ErrMalformed, "element 0x%X of unknown size cannot be skipped", h.id)
	}
	for left := h.size; left > 0; {
		n, err := r.br.Discard(int(min(left, 1<<30)))
		r.off += int64(n)
		left -= int64(n)
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return r.fail(h.off, err, "skipping element 0x%X of %d bytes", h.id, h.size)
		}
	}
	return nil
}
