package cmaf

import (
	"encoding/binary"
	"fmt"
	"iter"
)

// A Box is one box of an ISO-BMFF file (ISO/IEC 14496-12 §4.2): a size,
// a four-character type and a body.
type Box struct {
	b   []byte // the whole box, header included
	hdr int    // the header's size: 8, or 16 with a 64-bit size
}

// Type is the box's four-character type.
func (x Box) Type() string { return string(x.b[4:8]) }

// Is reports whether the box is of type typ.
func (x Box) Is(typ string) bool { return string(x.b[4:8]) == typ }

// Bytes is the whole box, header included.
func (x Box) Bytes() []byte { return x.b }

// Body is the box after its header.
func (x Box) Body() []byte { return x.b[x.hdr:] }

// Boxes yields the boxes of b in order, each with a nil error. A
// malformed box (a header cut short, a size smaller than its header or
// past the end of b) or bytes after the last box too few for a header
// end it with an error. A size of 0 runs to the end of b.
func Boxes(b []byte) iter.Seq2[Box, error] {
	return func(yield func(Box, error) bool) {
		for len(b) > 0 {
			x, err := nextBox(b)
			if err != nil {
				yield(Box{}, err)
				return
			}
			if !yield(x, nil) {
				return
			}
			b = b[len(x.b):]
		}
	}
}

// BoxBodies yields the bodies of the boxes of type typ among the boxes
// of b; a malformed box ends it without an error.
func BoxBodies(b []byte, typ string) iter.Seq[[]byte] {
	return func(yield func([]byte) bool) {
		for x, err := range Boxes(b) {
			if err != nil {
				return
			}
			if x.Is(typ) && !yield(x.Body()) {
				return
			}
		}
	}
}

// nextBox is the box at the start of b.
func nextBox(b []byte) (Box, error) {
	if len(b) < 8 {
		return Box{}, fmt.Errorf("truncated box header")
	}
	size := int(binary.BigEndian.Uint32(b))
	hdr := 8
	switch size {
	case 1:
		if len(b) < 16 {
			return Box{}, fmt.Errorf("truncated box header")
		}
		size64 := binary.BigEndian.Uint64(b[8:])
		if size64 > uint64(len(b)) {
			return Box{}, fmt.Errorf("box %q larger than its parent", b[4:8])
		}
		size, hdr = int(size64), 16
	case 0:
		size = len(b)
	}
	if size < hdr || size > len(b) {
		return Box{}, fmt.Errorf("box %q has a bad size", b[4:8])
	}
	return Box{b: b[:size], hdr: hdr}, nil
}

// walkSampleEntries calls fn with each sample entry box in the moov of
// an ISO-BMFF file (§8.5.2: moov / trak / mdia / minf / stbl / stsd).
// Damaged boxes end the walk.
func walkSampleEntries(b []byte, fn func(entry Box)) {
	var walk func(b []byte, depth int, inStsd bool)
	walk = func(b []byte, depth int, inStsd bool) {
		if depth >= 8 {
			return
		}
		for x, err := range Boxes(b) {
			if err != nil {
				return
			}
			switch {
			case inStsd:
				fn(x)
			case x.Is("moov"), x.Is("trak"), x.Is("mdia"), x.Is("minf"), x.Is("stbl"):
				walk(x.Body(), depth+1, false)
			case x.Is("stsd"):
				if body := x.Body(); len(body) >= 8 { // FullBox header, entry_count
					walk(body[8:], depth+1, true)
				}
			}
		}
	}
	walk(b, 0, false)
}
