package fragments

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Fragment is one stored fragment: its metadata and its CMAF media
// segment (moof+mdat, every track). Its init segment (ftyp+moov) is
// stored once per codec configuration and named by InitID.
type Fragment struct {
	Seq          uint64 // log sequence; the fragment number is the stream sequence number built from it
	ServerTime   int64  // Unix ns: arrival of the fragment's first byte
	ProducerTime int64  // Unix ns: the producer's clock (RTCP sender reports), else arrival
	Duration     int64  // ns
	Keyframe     bool   // starts on a keyframe (false: a GOP longer than the maximum was cut)
	// Discontinuity marks the first fragment after the producer's
	// timestamps jumped (back, or forward by more than a fragment): the
	// recorder cut the previous fragment there and continued the media
	// timeline, so players should expect a break.
	Discontinuity bool
	InitID        InitID
	Media         []byte

	// record, when set, is Media with recordHeader bytes reserved before
	// it (the fragmenter marshals into it), so storing needs no copy.
	record []byte
}

// InitID names an init segment: the first 16 bytes of its SHA-256.
type InitID [16]byte

func (id InitID) String() string { return fmt.Sprintf("%x", id[:]) }

// The record layout of a fragment in the log (all little-endian):
//
//	magic "EFR1" | server ns i64 | producer ns i64 | duration ns i64 |
//	flags u32 | init id [16] | media (moof+mdat)
const (
	recordMagic       = "EFR1"
	recordHeader      = 4 + 8 + 8 + 8 + 4 + 16
	flagKeyframe      = 1
	flagDiscontinuity = 2
)

// RecordHeaderSize is the length of a fragment record's header. A
// producer that marshals a fragment's media after this many free bytes and
// hands the whole buffer to SetRecord lets the store write the record
// without copying the media.
const RecordHeaderSize = recordHeader

// SetRecord makes f's media rec[RecordHeaderSize:]; the bytes before it
// are free for the record header.
func (f *Fragment) SetRecord(rec []byte) {
	f.Media, f.record = rec[recordHeader:], rec
}

// ErrBadRecord reports a log record that is not a fragment.
var ErrBadRecord = errors.New("fragments: not a fragment record")

// encodeRecord returns f as one log record, in place when the fragmenter
// reserved room for the header.
func encodeRecord(f *Fragment) []byte {
	if len(f.record) == recordHeader+len(f.Media) {
		putHeader(f.record[:0], f)
		return f.record
	}
	return appendRecord(make([]byte, 0, recordHeader+len(f.Media)), f)
}

// appendRecord encodes f's header and media as one log record.
func appendRecord(dst []byte, f *Fragment) []byte {
	return append(putHeader(dst, f), f.Media...)
}

// putHeader appends f's record header to dst.
func putHeader(dst []byte, f *Fragment) []byte {
	dst = append(dst, recordMagic...)
	dst = binary.LittleEndian.AppendUint64(dst, uint64(f.ServerTime))
	dst = binary.LittleEndian.AppendUint64(dst, uint64(f.ProducerTime))
	dst = binary.LittleEndian.AppendUint64(dst, uint64(f.Duration))
	var flags uint32
	if f.Keyframe {
		flags |= flagKeyframe
	}
	if f.Discontinuity {
		flags |= flagDiscontinuity
	}
	dst = binary.LittleEndian.AppendUint32(dst, flags)
	return append(dst, f.InitID[:]...)
}

// parseRecord decodes a log record; Media aliases b.
func parseRecord(seq uint64, b []byte) (*Fragment, error) {
	if len(b) < recordHeader || string(b[:4]) != recordMagic {
		return nil, ErrBadRecord
	}
	f := &Fragment{
		Seq:          seq,
		ServerTime:   int64(binary.LittleEndian.Uint64(b[4:])),
		ProducerTime: int64(binary.LittleEndian.Uint64(b[12:])),
		Duration:     int64(binary.LittleEndian.Uint64(b[20:])),
		Keyframe:     binary.LittleEndian.Uint32(b[28:])&flagKeyframe != 0,
		Media:        b[recordHeader:],
	}
	f.Discontinuity = binary.LittleEndian.Uint32(b[28:])&flagDiscontinuity != 0
	copy(f.InitID[:], b[32:48])
	if err := f.readable(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadRecord, err)
	}
	return f, nil
}

// indexEntry is f's entry in the fragment index.
func (f *Fragment) indexEntry(size int) IndexEntry {
	e := IndexEntry{Seq: f.Seq, ServerTime: f.ServerTime, ProducerTime: f.ProducerTime, Duration: f.Duration, Size: int64(size), InitID: f.InitID}
	if f.Keyframe {
		e.Flags |= IndexKeyframe
	}
	if f.Discontinuity {
		e.Flags |= IndexDiscontinuity
	}
	return e
}

// InitSegment is an fMP4 init segment (ftyp+moov) for one codec
// configuration of a publication.
type InitSegment struct {
	ID    InitID
	Bytes []byte
}
