package archive

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"sync"
	"time"

	"github.com/eddy-video/eddy/fragments"
	"github.com/eddy-video/eddy/fragments/cmaf"
)

// An Export is the browser's clip of a range of any length: a fragmented
// MP4 made of the stored init segment (ftyp+moov), one segment index
// (sidx, ISO/IEC 14496-12 §8.16.3) of every fragment, the stored
// fragments (moof+mdat) in order, and the events as emsg boxes at the
// end (see EmsgScheme). Its size and every byte of it follow from the
// index, the init segment, the first fragment and the events, so it is
// served with a Content-Length and any byte range without being held in
// memory: a reader holds one fragment at a time.
//
// The stored fragments keep their bytes but for the decode times of
// their tfdt boxes, rewritten so that the export's timeline starts at 0
// and runs without gaps: fragment k starts where the fragments before it
// end by the index's durations (a recording gap is closed up, as GetClip
// does, and a publisher restart does not make time go back). The sidx
// gives players the time and byte offset of every fragment, so that
// seeking reads only what it needs.
//
// One export has one init segment: where the codec configuration
// changes inside the range the export ends before the change (Cut).
type Export struct {
	st       *fragments.Store
	head     []byte // ftyp+moov+sidx
	frags    []exportFragment
	tail     []byte // emsg boxes
	size     int64
	etag     string
	ref      int    // the track whose decode time the index's durations measure
	refScale uint32 // its timescale
	lead     uint64 // ref-track ticks before the first fragment's ref sample
	scales   map[int]uint32

	// pinStart and pinEnd bound a range (both inclusive) that selects
	// exactly these fragments: see Pinned.
	pinStart, pinEnd time.Time

	Start     time.Time // the first fragment's start (the range's kind of time)
	End       time.Time // the last fragment's end
	Fragments int
	Duration  time.Duration // the sum of the fragments' durations
	Events    int
	// Cut is the start of the first fragment of the range left out
	// because its codec configuration differs (zero when none was).
	Cut time.Time
}

type exportFragment struct {
	seq   uint64
	off   int64  // of its moof in the export
	size  int64  // moof+mdat bytes
	ticks uint64 // its decode start on the ref track, before lead
}

// MaxExportFragments is the most fragments one export holds: its sidx
// counts references in 16 bits. A range with more is refused, never cut.
const MaxExportFragments = math.MaxUint16

// maxExportFragments is MaxExportFragments, lowered by tests.
var maxExportFragments = MaxExportFragments

// ErrExportTooLong is the error of a range of more than
// MaxExportFragments fragments.
var ErrExportTooLong = errors.New("archive: range has too many fragments for one export")

// NewExport prepares the export of the fragments whose kind time lies in
// [start, end] (both inclusive), from the first one that starts on a
// keyframe: GetClip's selection without its limits. A range without
// fragments is a KindNotFound error; one of more than MaxExportFragments
// fragments is ErrExportTooLong.
func NewExport(st *fragments.Store, kind fragments.IndexTime, start, end time.Time) (*Export, error) {
	entries, cut, err := selectEntries(st, kind, start, end)
	if err != nil {
		return nil, err
	}
	x := &Export{st: st, scales: map[int]uint32{}, Cut: cut}
	initBytes, err := st.Init(entries[0].InitID)
	if err != nil {
		return nil, err
	}
	if err := x.setTracks(initBytes, entries[0].InitID); err != nil {
		return nil, err
	}
	ptsOffset, err := x.leadOf(entries[0].Seq)
	if err != nil {
		return nil, err
	}
	fragsEnd := x.layout(kind, entries, initBytes, ptsOffset)

	// Events: on the export's timeline, the fragment an event starts in
	// maps it (found by binary search: an export has many fragments; in
	// a server-time range whose producer clock went back, an event maps
	// through a neighbouring fragment).
	present := func(ns int64) float64 {
		k := max(sort.Search(len(entries), func(i int) bool { return entries[i].ProducerTime > ns })-1, 0)
		return float64(ns-entries[k].ProducerTime)/1e9 + float64(x.frags[k].ticks+x.lead)/float64(x.refScale) + ptsOffset
	}
	last := entries[len(entries)-1]
	x.tail, x.Events, err = clipEmsg(st.Timeline(), entries[0].ProducerTime, last.ProducerTime+max(last.Duration, 1), present, x.refScale)
	if err != nil {
		return nil, err
	}
	x.size = fragsEnd + int64(len(x.tail))
	x.etag = etagOf(x.head, x.frags, x.tail)
	return x, nil
}

// selectEntries returns the index entries of NewExport's range: from the
// first that starts on a keyframe up to the first of another init
// segment, whose start is returned as the cut (zero when none).
func selectEntries(st *fragments.Store, kind fragments.IndexTime, start, end time.Time) ([]fragments.IndexEntry, time.Time, error) {
	var entries []fragments.IndexEntry
	var cut time.Time
	from := uint64(0)
list:
	for {
		page, next, err := st.List(kind, start, end, from, 1000)
		if err != nil {
			return nil, time.Time{}, err
		}
		for _, e := range page {
			switch {
			case len(entries) == 0 && e.Flags&fragments.IndexKeyframe == 0:
				continue
			case len(entries) > 0 && e.InitID != entries[0].InitID:
				cut = entryTime(kind, e)
				break list
			case len(entries) == maxExportFragments:
				return nil, time.Time{}, ErrExportTooLong
			}
			entries = append(entries, e)
		}
		if next == 0 {
			break
		}
		from = next
	}
	if len(entries) == 0 {
		return nil, time.Time{}, fragments.Errorf(fragments.KindNotFound, "No fragments found in the stream for the clip request.")
	}
	return entries, cut, nil
}

// setTracks reads the tracks' timescales from the init segment and picks
// the ref track: the first video track, else the first track.
func (x *Export) setTracks(initBytes []byte, id fragments.InitID) error {
	init, err := cmaf.ParseInit(initBytes)
	if err != nil {
		return fragments.Errorf(fragments.KindInvalidCodecPrivate, "init segment %s: %v", id, err)
	}
	for _, it := range init.Tracks {
		x.scales[it.ID] = it.TimeScale
		if x.ref == 0 || (it.Codec.IsVideo() && !init.Track(x.ref).Codec.IsVideo()) {
			x.ref, x.refScale = it.ID, it.TimeScale
		}
	}
	if x.ref == 0 {
		return fragments.Errorf(fragments.KindInvalidCodecPrivate, "init segment %s has no track", id)
	}
	return nil
}

// leadOf reads the first fragment, which fixes how far the other tracks
// start before the ref track (x.lead), and returns when its first ref
// sample is presented, in seconds after the ref track's decode start.
func (x *Export) leadOf(seq uint64) (float64, error) {
	first, err := x.st.Read(seq)
	if err != nil {
		return 0, err
	}
	parts, err := cmaf.Demux(first.Media)
	if err != nil {
		return 0, fragments.Errorf(fragments.KindInvalidMedia, "fragment %s: %v", fragments.FragmentNumber(first.Seq), err)
	}
	var refPTS float64
	havePTS := false
	bases := map[int]float64{}
	for _, p := range parts {
		for _, pt := range p.Tracks {
			ts, ok := x.scales[pt.ID]
			if !ok {
				continue
			}
			if _, seen := bases[pt.ID]; !seen {
				bases[pt.ID] = float64(pt.BaseTime) / float64(ts)
			}
			if pt.ID == x.ref && len(pt.Samples) > 0 && !havePTS {
				refPTS, havePTS = float64(int64(pt.BaseTime)+int64(pt.Samples[0].PTSOffset))/float64(ts), true
			}
		}
	}
	refBase := bases[x.ref]
	for _, b := range bases {
		if b < refBase {
			x.lead = max(x.lead, uint64(math.Ceil((refBase-b)*float64(x.refScale))))
		}
	}
	return refPTS - refBase, nil
}

// layout places the fragments after the init segment and the sidx (their
// offsets and decode times, from the index), sets the export's head (the
// init segment with the movie's duration, and the sidx) and its times,
// and returns where the fragments end. ptsOffset is leadOf's.
func (x *Export) layout(kind fragments.IndexTime, entries []fragments.IndexEntry, initBytes []byte, ptsOffset float64) int64 {
	sidxSize := int64(12 + 4 + 4 + 8 + 8 + 2 + 2 + 12*len(entries))
	off := int64(len(initBytes)) + sidxSize
	var ticks uint64
	x.frags = make([]exportFragment, len(entries))
	for i, e := range entries {
		size := e.Size - fragments.RecordHeaderSize
		x.frags[i] = exportFragment{seq: e.Seq, off: off, size: size, ticks: ticks}
		off += size
		ticks += durationTicks(e.Duration, x.refScale)
		x.Duration += time.Duration(e.Duration)
	}
	last := entries[len(entries)-1]
	x.Fragments = len(entries)
	x.Start = entryTime(kind, entries[0])
	x.End = entryTime(kind, last).Add(time.Duration(last.Duration))
	x.pinStart, x.pinEnd = pinRange(kind, entries, x.End)

	// The earliest presented sample of the ref track, on the export's
	// timeline.
	ept := uint64(max(math.Round(ptsOffset*float64(x.refScale)), 0)) + x.lead
	x.head = append(append(make([]byte, 0, int(sidxSize)+len(initBytes)), initBytes...), x.sidx(entries, ept)...)
	// The movie's duration: an init segment has none, and players that
	// find a sidx take the duration from the moov instead of scanning the
	// fragments (VLC cannot seek without it).
	setMovieDuration(x.head[:len(initBytes)], float64(ticks+x.lead)/float64(x.refScale))
	return off
}

// etagOf is the export's ETag: a hash of its head, the fragments'
// sequence numbers and its tail.
func etagOf(head []byte, frags []exportFragment, tail []byte) string {
	h := sha256.New()
	h.Write([]byte("eddy export 1\x00"))
	h.Write(head)
	var b [8]byte
	for _, f := range frags {
		binary.BigEndian.PutUint64(b[:], f.seq)
		h.Write(b[:])
	}
	h.Write(tail)
	return `"` + hex.EncodeToString(h.Sum(nil)[:16]) + `"`
}

// Pinned returns a range, both ends inclusive, whose export holds exactly
// this export's fragments for as long as they are stored, even as new
// ones are recorded after them (starting where the last one ends, or
// later): from the earliest start of its fragments to just before its
// end (so a fragment that starts where it ends is not in it). Its end
// has a nanosecond that is not a whole millisecond's, so that an API
// reading a millisecond end as its whole millisecond (kvsapi.InclusiveEnd)
// reads it as it is.
func (x *Export) Pinned() (start, end time.Time) { return x.pinStart, x.pinEnd }

// pinRange is Pinned's range of the selected entries ending at end.
func pinRange(kind fragments.IndexTime, entries []fragments.IndexEntry, end time.Time) (time.Time, time.Time) {
	first, last := entryTime(kind, entries[0]), entryTime(kind, entries[0])
	for _, e := range entries[1:] {
		// Producer times need not grow with the fragments' order (a
		// camera's clock set back): the range covers them all.
		t := entryTime(kind, e)
		if t.Before(first) {
			first = t
		}
		if t.After(last) {
			last = t
		}
	}
	pin := end.Add(-time.Nanosecond)
	if pin.UnixNano()%int64(time.Millisecond) == 0 {
		pin = pin.Add(-time.Nanosecond)
	}
	if pin.Before(last) {
		pin = last // a fragment of no duration
	}
	return first, pin
}

// entryTime is an index entry's start on the kind's timeline.
func entryTime(kind fragments.IndexTime, e fragments.IndexEntry) time.Time {
	if kind == fragments.IndexServerTime {
		return time.Unix(0, e.ServerTime)
	}
	return time.Unix(0, e.ProducerTime)
}

// durationTicks converts a fragment's indexed duration (ns, truncated
// from the ref track's ticks by the fragmenter) back to those ticks.
func durationTicks(ns int64, scale uint32) uint64 {
	return uint64(math.Round(float64(ns) * float64(scale) / 1e9))
}

// sidx is the segment index box (version 1) of the fragments, each a
// subsegment of the ref track starting with a SAP when it starts on a
// keyframe.
func (x *Export) sidx(entries []fragments.IndexEntry, ept uint64) []byte {
	b := make([]byte, 0, 40+12*len(entries))
	b = binary.BigEndian.AppendUint32(b, uint32(40+12*len(entries)))
	b = append(b, "sidx"...)
	b = binary.BigEndian.AppendUint32(b, 1<<24) // version 1, flags 0
	b = binary.BigEndian.AppendUint32(b, uint32(x.ref))
	b = binary.BigEndian.AppendUint32(b, x.refScale)
	b = binary.BigEndian.AppendUint64(b, ept)
	b = binary.BigEndian.AppendUint64(b, 0) // first_offset: the fragments follow
	b = binary.BigEndian.AppendUint16(b, 0)
	b = binary.BigEndian.AppendUint16(b, uint16(len(entries)))
	for i, e := range entries {
		b = binary.BigEndian.AppendUint32(b, uint32(x.frags[i].size)) // reference_type 0
		b = binary.BigEndian.AppendUint32(b, uint32(durationTicks(e.Duration, x.refScale)))
		sap := uint32(0)
		if e.Flags&fragments.IndexKeyframe != 0 {
			sap = 1<<31 | 1<<28 // starts_with_SAP, SAP_type 1
		}
		b = binary.BigEndian.AppendUint32(b, sap)
	}
	return b
}

// Size is the export's length in bytes.
func (x *Export) Size() int64 { return x.size }

// ETag is a strong entity tag of the export (RFC 9110 §8.8.3), from what
// its bytes follow from: the same range of the same stored fragments and
// events has the same tag, a changed one (a fragment added or trimmed, an
// event written) another, so a resumed download restarts rather than
// splices.
func (x *Export) ETag() string { return x.etag }

// NewReader returns a reader of the export's bytes that can seek (for
// http.ServeContent). It reads one fragment at a time from the store; a
// fragment that can no longer be read (retention removed it) or that no
// longer matches the index fails the read.
func (x *Export) NewReader() *ExportReader { return &ExportReader{x: x, cur: -1} }

// ExportReader reads an Export; see NewReader.
type ExportReader struct {
	x   *Export
	pos int64
	cur int    // the fragment in buf, -1 for none
	buf []byte // its patched bytes

	// err is the first read error, for the caller's log. It is guarded:
	// http.ServeContent reads a multi-range answer in a goroutine of its
	// own that may still be reading when ServeContent returns (the
	// client went away), while the caller asks Err.
	mu  sync.Mutex
	err error
}

// Err is the error that stopped a read, if any.
func (r *ExportReader) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

func (r *ExportReader) fail(err error) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err == nil {
		r.err = err
	}
	return r.err
}

// Seek implements io.Seeker.
func (r *ExportReader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += r.pos
	case io.SeekEnd:
		offset += r.x.size
	default:
		return 0, fmt.Errorf("archive: bad whence %d", whence)
	}
	if offset < 0 {
		return 0, fmt.Errorf("archive: seek to %d", offset)
	}
	r.pos = offset
	return offset, nil
}

// Read implements io.Reader.
func (r *ExportReader) Read(p []byte) (int, error) {
	x := r.x
	if err := r.Err(); err != nil {
		return 0, err
	}
	if r.pos >= x.size {
		return 0, io.EOF
	}
	var src []byte
	var at int64 // src's offset in the export
	switch {
	case r.pos < int64(len(x.head)):
		src = x.head
	case r.pos >= x.size-int64(len(x.tail)):
		src, at = x.tail, x.size-int64(len(x.tail))
	default:
		i := sort.Search(len(x.frags), func(i int) bool { return x.frags[i].off > r.pos }) - 1
		if i != r.cur {
			if err := r.load(i); err != nil {
				return 0, r.fail(err)
			}
		}
		src, at = r.buf, x.frags[i].off
	}
	n := copy(p, src[r.pos-at:])
	r.pos += int64(n)
	return n, nil
}

// load reads fragment i into buf with its decode times rewritten.
func (r *ExportReader) load(i int) error {
	x, fr := r.x, &r.x.frags[i]
	f, err := x.st.Read(fr.seq)
	if err != nil {
		return fmt.Errorf("fragment %s: %w", fragments.FragmentNumber(fr.seq), err)
	}
	if int64(len(f.Media)) != fr.size {
		return fmt.Errorf("fragment %s: %d bytes, indexed as %d", fragments.FragmentNumber(fr.seq), len(f.Media), fr.size)
	}
	// Store.Read returns bytes of its own (each read of the log is a new
	// buffer), so they are rewritten in place rather than copied.
	r.buf, r.cur = f.Media, -1
	if err := x.retime(r.buf, uint32(i+1), fr.ticks+x.lead); err != nil {
		return fmt.Errorf("fragment %s: %w", fragments.FragmentNumber(fr.seq), err)
	}
	r.cur = i
	return nil
}

// retime rewrites the tfdt of every track fragment of a stored fragment
// (moof+mdat) so that the ref track starts at refTicks and each other
// track keeps its offset to the ref track's start within the fragment,
// and numbers the fragment seq in the export (its mfhd: players warn of
// a gap in the numbers of a file's fragments).
func (x *Export) retime(b []byte, seq uint32, refTicks uint64) error {
	type tfdt struct {
		track int
		at    []byte // the box's body
	}
	var tfdts []tfdt
	moofs := 0
	for moof := range cmaf.BoxBodies(b, "moof") {
		moofs++
		for mfhd := range cmaf.BoxBodies(moof, "mfhd") {
			if len(mfhd) >= 8 {
				binary.BigEndian.PutUint32(mfhd[4:], seq)
			}
		}
		for traf := range cmaf.BoxBodies(moof, "traf") {
			track := -1
			for tfhd := range cmaf.BoxBodies(traf, "tfhd") {
				if len(tfhd) >= 8 {
					track = int(binary.BigEndian.Uint32(tfhd[4:]))
				}
			}
			for body := range cmaf.BoxBodies(traf, "tfdt") {
				tfdts = append(tfdts, tfdt{track, body})
			}
		}
	}
	// A stored fragment is one moof+mdat (the fragmenter cuts one CMAF
	// segment per fragment; its LL-HLS parts are never stored): that is
	// what lets every ref-track tfdt below be set to the fragment's start.
	// A fragment of several would need each moof moved by its own offset.
	if moofs != 1 {
		return fmt.Errorf("%d moof boxes, the export handles fragments of one", moofs)
	}
	decode := func(body []byte) (uint64, error) {
		switch {
		case len(body) >= 12 && body[0] == 1:
			return binary.BigEndian.Uint64(body[4:]), nil
		case len(body) >= 8 && body[0] == 0:
			return uint64(binary.BigEndian.Uint32(body[4:])), nil
		}
		return 0, errors.New("bad tfdt box")
	}
	refBase, haveRef := 0.0, false
	for _, t := range tfdts {
		if t.track == x.ref {
			v, err := decode(t.at)
			if err != nil {
				return err
			}
			refBase, haveRef = float64(v)/float64(x.refScale), true
			break
		}
	}
	refSec := float64(refTicks) / float64(x.refScale)
	for _, t := range tfdts {
		scale, ok := x.scales[t.track]
		if !ok {
			continue
		}
		v, err := decode(t.at)
		if err != nil {
			return err
		}
		var nv uint64
		switch {
		case t.track == x.ref:
			nv = refTicks
		case haveRef:
			nv = uint64(max(math.Round((refSec+float64(v)/float64(scale)-refBase)*float64(scale)), 0))
		default:
			nv = uint64(math.Round(refSec * float64(scale)))
		}
		if t.at[0] == 1 {
			binary.BigEndian.PutUint64(t.at[4:], nv)
		} else if nv <= math.MaxUint32 {
			binary.BigEndian.PutUint32(t.at[4:], uint32(nv))
		} else {
			return errors.New("decode time past a 32-bit tfdt")
		}
	}
	return nil
}

// setMovieDuration sets the duration of the mvhd of an init segment's
// moov (ISO/IEC 14496-12 §8.2.2) in place.
func setMovieDuration(init []byte, seconds float64) {
	for moov := range cmaf.BoxBodies(init, "moov") {
		for mvhd := range cmaf.BoxBodies(moov, "mvhd") {
			switch {
			case len(mvhd) >= 20 && mvhd[0] == 0:
				scale := binary.BigEndian.Uint32(mvhd[12:])
				binary.BigEndian.PutUint32(mvhd[16:], uint32(min(math.Round(seconds*float64(scale)), math.MaxUint32)))
			case len(mvhd) >= 32 && mvhd[0] == 1:
				scale := binary.BigEndian.Uint32(mvhd[20:])
				binary.BigEndian.PutUint64(mvhd[24:], uint64(math.Round(seconds*float64(scale))))
			}
		}
	}
}
