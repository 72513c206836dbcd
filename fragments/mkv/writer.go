package mkv

// Streaming Matroska writer for the Kinesis Video GetMedia and
// GetMediaForFragmentList response format: one self-contained MKV document
// per fragment, its KVS tags (AWS_KINESISVIDEO_*) before its Cluster.
//
// Specifications: EBML is RFC 8794, Matroska is RFC 9559. Element IDs below
// are given with their RFC 9559 path (\Segment\Info\TimestampScale, ...).

import (
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"
)

// EBML and Matroska element IDs (marker bits included, as they appear on the wire).
const (
	// EBML header, RFC 8794 §11.2.
	mkvIDEBML               = 0x1A45DFA3 // \EBML
	mkvIDEBMLVersion        = 0x4286     // \EBML\EBMLVersion
	mkvIDEBMLReadVersion    = 0x42F7     // \EBML\EBMLReadVersion
	mkvIDEBMLMaxIDLength    = 0x42F2     // \EBML\EBMLMaxIDLength
	mkvIDEBMLMaxSizeLength  = 0x42F3     // \EBML\EBMLMaxSizeLength
	mkvIDDocType            = 0x4282     // \EBML\DocType
	mkvIDDocTypeVersion     = 0x4287     // \EBML\DocTypeVersion
	mkvIDDocTypeReadVersion = 0x4285     // \EBML\DocTypeReadVersion

	// Global elements, RFC 8794 §11.3.
	mkvIDCRC32 = 0xBF // CRC-32
	mkvIDVoid  = 0xEC // Void

	// Matroska, RFC 9559 §5.1.
	mkvIDSegment     = 0x18538067 // \Segment
	mkvIDSeekHead    = 0x114D9B74 // \Segment\SeekHead
	mkvIDInfo        = 0x1549A966 // \Segment\Info
	mkvIDTracks      = 0x1654AE6B // \Segment\Tracks
	mkvIDCluster     = 0x1F43B675 // \Segment\Cluster
	mkvIDCues        = 0x1C53BB6B // \Segment\Cues
	mkvIDChapters    = 0x1043A770 // \Segment\Chapters
	mkvIDAttachments = 0x1941A469 // \Segment\Attachments
	mkvIDTags        = 0x1254C367 // \Segment\Tags

	mkvIDTimestampScale = 0x2AD7B1 // \Segment\Info\TimestampScale (TimecodeScale)
	mkvIDTitle          = 0x7BA9   // \Segment\Info\Title
	mkvIDMuxingApp      = 0x4D80   // \Segment\Info\MuxingApp
	mkvIDWritingApp     = 0x5741   // \Segment\Info\WritingApp

	mkvIDTrackEntry        = 0xAE   // \Segment\Tracks\TrackEntry
	mkvIDTrackNumber       = 0xD7   // \Segment\Tracks\TrackEntry\TrackNumber
	mkvIDTrackUID          = 0x73C5 // \Segment\Tracks\TrackEntry\TrackUID
	mkvIDTrackType         = 0x83   // \Segment\Tracks\TrackEntry\TrackType
	mkvIDName              = 0x536E // \Segment\Tracks\TrackEntry\Name
	mkvIDCodecID           = 0x86   // \Segment\Tracks\TrackEntry\CodecID
	mkvIDCodecPrivate      = 0x63A2 // \Segment\Tracks\TrackEntry\CodecPrivate
	mkvIDCodecDelay        = 0x56AA // \Segment\Tracks\TrackEntry\CodecDelay
	mkvIDSeekPreRoll       = 0x56BB // \Segment\Tracks\TrackEntry\SeekPreRoll
	mkvIDVideo             = 0xE0   // \Segment\Tracks\TrackEntry\Video
	mkvIDPixelWidth        = 0xB0   // \Segment\Tracks\TrackEntry\Video\PixelWidth
	mkvIDPixelHeight       = 0xBA   // \Segment\Tracks\TrackEntry\Video\PixelHeight
	mkvIDAudio             = 0xE1   // \Segment\Tracks\TrackEntry\Audio
	mkvIDSamplingFrequency = 0xB5   // \Segment\Tracks\TrackEntry\Audio\SamplingFrequency
	mkvIDChannels          = 0x9F   // \Segment\Tracks\TrackEntry\Audio\Channels
	mkvIDBitDepth          = 0x6264 // \Segment\Tracks\TrackEntry\Audio\BitDepth
	mkvIDContentEncodings  = 0x6D80 // \Segment\Tracks\TrackEntry\ContentEncodings (rejected by the reader)

	mkvIDTimestamp      = 0xE7   // \Segment\Cluster\Timestamp (Timecode)
	mkvIDSilentTracks   = 0x5854 // \Segment\Cluster\SilentTracks
	mkvIDPosition       = 0xA7   // \Segment\Cluster\Position
	mkvIDPrevSize       = 0xAB   // \Segment\Cluster\PrevSize
	mkvIDSimpleBlock    = 0xA3   // \Segment\Cluster\SimpleBlock
	mkvIDBlockGroup     = 0xA0   // \Segment\Cluster\BlockGroup
	mkvIDBlock          = 0xA1   // \Segment\Cluster\BlockGroup\Block
	mkvIDReferenceBlock = 0xFB   // \Segment\Cluster\BlockGroup\ReferenceBlock
	mkvIDEncryptedBlock = 0xAF   // \Segment\Cluster\EncryptedBlock

	mkvIDTag       = 0x7373 // \Segment\Tags\Tag
	mkvIDTargets   = 0x63C0 // \Segment\Tags\Tag\Targets
	mkvIDSimpleTag = 0x67C8 // \Segment\Tags\Tag\SimpleTag
	mkvIDTagName   = 0x45A3 // \Segment\Tags\Tag\SimpleTag\TagName
	mkvIDTagString = 0x4487 // \Segment\Tags\Tag\SimpleTag\TagString
)

// Matroska TrackType values (RFC 9559, \Segment\Tracks\TrackEntry\TrackType).
const (
	Video = 1
	Audio = 2
)

// Tag names KVS puts into GetMedia / GetMediaForFragmentList output (the
// Kinesis Video GetMedia and GetMediaForFragmentList API references).
const (
	TagFragmentNumber    = "AWS_KINESISVIDEO_FRAGMENT_NUMBER"
	TagServerTimestamp   = "AWS_KINESISVIDEO_SERVER_TIMESTAMP"
	TagProducerTimestamp = "AWS_KINESISVIDEO_PRODUCER_TIMESTAMP"
	TagMillisBehindNow   = "AWS_KINESISVIDEO_MILLIS_BEHIND_NOW"
	TagContinuationToken = "AWS_KINESISVIDEO_CONTINUATION_TOKEN"
	TagErrorCode         = "AWS_KINESISVIDEO_ERROR_CODE"
	TagErrorID           = "AWS_KINESISVIDEO_ERROR_ID"

	// GetMediaForFragmentList spellings as its API reference documents them
	// (not checked against the service).
	TagServerSideTimestamp   = "AWS_KINESISVIDEO_SERVER_SIDE_TIMESTAMP"
	TagProducerSideTimestamp = "AWS_KINESISVIDEO_PRODUCER_SIDE_TIMESTAMP"
	TagExceptionErrorCode    = "AWS_KINESISVIDEO_EXCEPTION_ERROR_CODE"
	TagExceptionMessage      = "AWS_KINESISVIDEO_EXCEPTION_MESSAGE"
)

// Tag names of Eddy's own, before the Cluster after the KVS tags (user
// metadata must not start with AWS, so these cannot clash with KVS's).
const (
	// TagEvent carries one event of the stream's timeline that overlaps
	// the fragment: its TagString is the event's JSON, as the events API
	// returns it (id, type, time, duration, label, score, box, attributes,
	// serverTime). A fragment has one such tag per event, in time order.
	TagEvent = "EDDY_EVENT"
	// TagEventsTruncated is present (value "true") when more events
	// overlap the fragment than one fragment carries; the events API has
	// them all.
	TagEventsTruncated = "EDDY_EVENTS_TRUNCATED"
)

// Limits enforced by the writer (as input validation) and by the reader (against
// hostile input). A document the writer accepts is always within the reader's limits.
const (
	MaxFrameSize        = 64 << 20  // bytes of one frame (block payload)
	MaxFragmentSize     = 256 << 20 // frame bytes + FrameOverhead per frame, per fragment
	FrameOverhead       = 64        // accounting cost of one frame in MaxFragmentSize
	MaxCodecPrivateSize = 1 << 20   // bytes of CodecPrivate
	MaxStringSize       = 64 << 10  // bytes of a CodecID, Name, Title, TagName or TagString
	MaxTracks           = 64        // tracks per segment
	MaxTags             = 1024      // tags in PreTags, and in PostTags, of one fragment
)

// MuxingApp / WritingApp written into Info.
const mkvAppName = "eddy"

// ErrInvalidFragment is wrapped by every input validation error of the writer.
var ErrInvalidFragment = errors.New("mkv: invalid fragment")

// Track is one Matroska TrackEntry.
type Track struct {
	Number       uint64
	UID          uint64
	Type         int    // Video=1, Audio=2 (Matroska TrackType values)
	CodecID      string // V_MPEG4/ISO/AVC, V_MPEGH/ISO/HEVC, A_AAC, A_OPUS, A_PCM/INT/LIT, A_MS/ACM
	CodecPrivate []byte // AVCDecoderConfigurationRecord / HEVCDecoderConfigurationRecord / AudioSpecificConfig / OpusHead / WAVEFORMATEX
	Name         string

	Width, Height int // video

	SampleRate float64 // audio
	Channels   int     // audio
	BitDepth   int     // audio, 0 = absent

	CodecDelay, SeekPreRoll uint64 // ns, Opus; 0 = absent
}

// Frame is one frame, written as one SimpleBlock.
type Frame struct {
	Track uint64
	Time  time.Duration // presentation time relative to the cluster timecode, [-32768 ms, +32767 ms]
	Key   bool
	Data  []byte
}

// Tag is one SimpleTag{TagName, TagString}.
type Tag struct{ Name, Value string }

// Fragment is one Cluster with the tracks and segment-level tags around it.
type Fragment struct {
	Tracks   []Track
	Timecode time.Duration // cluster timecode (absolute, e.g. producer time since the Unix epoch)
	Frames   []Frame       // in decode order
	PreTags  []Tag         // Segment-level Tags before the Cluster
	PostTags []Tag         // Segment-level Tags after the Cluster
	Title    string        // Info/Title (optional)
}

// Tag returns the value of the first tag called name, searching PreTags then PostTags.
func (f *Fragment) Tag(name string) (string, bool) {
	for _, t := range f.PreTags {
		if t.Name == name {
			return t.Value, true
		}
	}
	for _, t := range f.PostTags {
		if t.Name == name {
			return t.Value, true
		}
	}
	return "", false
}

// TagValues returns the values of all tags called name, PreTags first, in
// document order (for example every TagEvent of a fragment).
func (f *Fragment) TagValues(name string) []string {
	var vs []string
	for _, ts := range [][]Tag{f.PreTags, f.PostTags} {
		for _, t := range ts {
			if t.Name == name {
				vs = append(vs, t.Value)
			}
		}
	}
	return vs
}

// ErrorTags returns the tags KVS GetMedia sends when it cannot deliver a
// fragment (the GetMedia API reference: AWS_KINESISVIDEO_ERROR_CODE, AWS_KINESISVIDEO_ERROR_ID;
// ids 3002 write error, 4000 fragment not found, 4500–4506 KMS, 5000 internal).
//
// A response that has to end with an error after some good fragments writes the
// good fragments with WriteFragment, then
//
//	WriteTagsDocument(w, tracks, ErrorTags("INTERNAL_ERROR", 5000))
//
// and ends the body. The error is a document of its own (EBML header, Segment,
// Info, Tracks, Tags and no Cluster), so the fragments before it stay complete
// and byte-identical to a successful response, and a consumer that splits the
// stream per document sees the error as one more "fragment" without frames.
// Reader returns it as an Fragment with no Frames and the tags in PreTags.
func ErrorTags(code string, id int) []Tag {
	return []Tag{
		{Name: TagErrorCode, Value: code},
		{Name: TagErrorID, Value: strconv.Itoa(id)},
	}
}

// FormatTimestamp formats t the way KVS writes timestamp tags: decimal
// seconds since the Unix epoch with millisecond precision ("1530115740.845").
func FormatTimestamp(t time.Time) string {
	ms := t.UnixMilli()
	sign := ""
	if ms < 0 {
		sign, ms = "-", -ms
	}
	return fmt.Sprintf("%s%d.%03d", sign, ms/1000, ms%1000)
}

// WriteFragment writes one self-contained MKV document:
//
//	EBML header (DocType "matroska", DocTypeVersion 4, DocTypeReadVersion 2)
//	Segment, unknown size (0x01FFFFFFFFFFFFFF)
//	  Info{TimestampScale 1000000, MuxingApp, WritingApp, Title}
//	  Tracks
//	  Tags (PreTags, omitted when empty)
//	  Cluster (known size){Timestamp, SimpleBlock...}
//	  Tags (PostTags, omitted when empty)
//
// Concatenating documents is how KVS GetMedia / GetMediaForFragmentList answer.
// Times are written in milliseconds: the cluster timecode is rounded to the
// nearest millisecond, and each frame's absolute time (Timecode+Time) too, so
// sub-millisecond inputs do not accumulate drift. All validation happens before
// the first byte is written; errors wrap ErrInvalidFragment. Frames are
// written in the given order, one SimpleBlock each, without lacing.
func WriteFragment(w io.Writer, f *Fragment) error {
	if f == nil {
		return fmt.Errorf("%w: nil fragment", ErrInvalidFragment)
	}
	if err := mkvValidateTracks(f.Tracks); err != nil {
		return err
	}
	if err := mkvValidateTags("PreTags", f.PreTags); err != nil {
		return err
	}
	if err := mkvValidateTags("PostTags", f.PostTags); err != nil {
		return err
	}
	if err := mkvValidateString("Title", f.Title); err != nil {
		return err
	}
	clusterMs, clusterSize, err := mkvValidateFrames(f)
	if err != nil {
		return err
	}

	e := mkvGetEncoder(w)
	defer mkvPutEncoder(e)
	e.header(f.Title, f.Tracks)
	e.tags(f.PreTags)
	e.flushIfFull()

	e.cluster(f, clusterMs, clusterSize, false)
	e.tags(f.PostTags)
	e.flush()
	return e.err
}

// cluster writes the Cluster of f (validated by mkvValidateFrames, which
// gave clusterMs and clusterSize), with the unknown size when unknown.
func (e *mkvEncoder) cluster(f *Fragment, clusterMs, clusterSize uint64, unknown bool) {
	e.buf = mkvAppendID(e.buf, mkvIDCluster)
	if unknown {
		e.buf = append(e.buf, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF)
	} else {
		e.buf = mkvAppendSize(e.buf, clusterSize)
	}
	e.uint(mkvIDTimestamp, clusterMs)
	for i := range f.Frames {
		fr := &f.Frames[i]
		rel := mkvMillis(f.Timecode+fr.Time) - int64(clusterMs)
		e.buf = mkvAppendID(e.buf, mkvIDSimpleBlock)
		e.buf = mkvAppendSize(e.buf, mkvBlockSize(fr))
		e.buf = mkvAppendSize(e.buf, fr.Track)
		e.buf = append(e.buf, byte(uint16(int16(rel))>>8), byte(uint16(int16(rel))))
		var flags byte
		if fr.Key {
			flags |= 0x80 // keyframe
		}
		e.buf = append(e.buf, flags)
		e.payload(fr.Data)
	}
}

// WriteTagsDocument writes a document without a Cluster: EBML header,
// Segment (unknown size), Info, Tracks (omitted when tracks is empty) and one
// Tags element. It carries GetMedia error tags (see ErrorTags). Reader
// returns it as an Fragment without Frames, with the tags in PreTags.
func WriteTagsDocument(w io.Writer, tracks []Track, tags []Tag) error {
	if len(tracks) > 0 {
		if err := mkvValidateTracks(tracks); err != nil {
			return err
		}
	}
	if len(tags) == 0 {
		return fmt.Errorf("%w: tags document without tags", ErrInvalidFragment)
	}
	if err := mkvValidateTags("tags", tags); err != nil {
		return err
	}
	e := mkvGetEncoder(w)
	defer mkvPutEncoder(e)
	e.header("", tracks)
	e.tags(tags)
	e.flush()
	return e.err
}

// mkvMillis rounds d to the nearest millisecond (halves away from zero).
func mkvMillis(d time.Duration) int64 {
	return int64(d.Round(time.Millisecond) / time.Millisecond)
}

func mkvBlockSize(fr *Frame) uint64 {
	return uint64(mkvSizeLen(fr.Track)) + 3 + uint64(len(fr.Data))
}

func mkvValidateString(what, s string) error {
	if len(s) > MaxStringSize {
		return fmt.Errorf("%w: %s is %d bytes, limit %d", ErrInvalidFragment, what, len(s), MaxStringSize)
	}
	// EBML strings may be zero-padded (RFC 8794 §7.4), so a reader strips
	// trailing NULs: reject NULs so that every value reads back unchanged.
	if strings.IndexByte(s, 0) >= 0 {
		return fmt.Errorf("%w: %s contains a NUL byte", ErrInvalidFragment, what)
	}
	return nil
}

func mkvValidateTracks(tracks []Track) error {
	if len(tracks) == 0 {
		return fmt.Errorf("%w: no tracks", ErrInvalidFragment)
	}
	if len(tracks) > MaxTracks {
		return fmt.Errorf("%w: %d tracks, limit %d", ErrInvalidFragment, len(tracks), MaxTracks)
	}
	for i := range tracks {
		t := &tracks[i]
		bad := func(format string, a ...any) error {
			return fmt.Errorf("%w: track %d (number %d): %s", ErrInvalidFragment, i, t.Number, fmt.Sprintf(format, a...))
		}
		if t.Number == 0 || t.Number >= 1<<56-1 {
			return bad("track number must be in [1, 2^56-2]")
		}
		if t.UID == 0 {
			return bad("track UID must not be 0 (RFC 9559 TrackUID)")
		}
		for j := range i {
			if tracks[j].Number == t.Number {
				return bad("duplicate track number")
			}
			if tracks[j].UID == t.UID {
				return bad("duplicate track UID %d", t.UID)
			}
		}
		if t.Type < 1 || t.Type > 254 {
			return bad("track type %d outside [1, 254]", t.Type)
		}
		if t.CodecID == "" {
			return bad("empty CodecID")
		}
		if err := mkvValidateString("CodecID", t.CodecID); err != nil {
			return bad("%v", err)
		}
		if err := mkvValidateString("Name", t.Name); err != nil {
			return bad("%v", err)
		}
		if len(t.CodecPrivate) > MaxCodecPrivateSize {
			return bad("CodecPrivate is %d bytes, limit %d", len(t.CodecPrivate), MaxCodecPrivateSize)
		}
		if t.Type == Video {
			if t.Width <= 0 || t.Height <= 0 || t.Width > math.MaxUint32 || t.Height > math.MaxUint32 {
				return bad("video track needs Width and Height > 0, got %dx%d", t.Width, t.Height)
			}
		} else if t.Width != 0 || t.Height != 0 {
			return bad("Width/Height set on a non-video track")
		}
		if t.Type == Audio {
			if !(t.SampleRate > 0) || math.IsInf(t.SampleRate, 0) {
				return bad("audio track needs a finite SampleRate > 0, got %v", t.SampleRate)
			}
			if t.Channels <= 0 || t.Channels > 255 {
				return bad("audio track needs Channels in [1, 255], got %d", t.Channels)
			}
			if t.BitDepth < 0 || t.BitDepth > 255 {
				return bad("BitDepth %d outside [0, 255]", t.BitDepth)
			}
		} else if t.SampleRate != 0 || t.Channels != 0 || t.BitDepth != 0 {
			return bad("SampleRate/Channels/BitDepth set on a non-audio track")
		}
	}
	return nil
}

func mkvValidateTags(what string, tags []Tag) error {
	if len(tags) > MaxTags {
		return fmt.Errorf("%w: %d %s, limit %d", ErrInvalidFragment, len(tags), what, MaxTags)
	}
	for i, t := range tags {
		if t.Name == "" {
			return fmt.Errorf("%w: %s[%d]: empty tag name", ErrInvalidFragment, what, i)
		}
		if err := mkvValidateString("tag name", t.Name); err != nil {
			return fmt.Errorf("%s[%d]: %w", what, i, err)
		}
		if err := mkvValidateString("tag value", t.Value); err != nil {
			return fmt.Errorf("%s[%d]: %w", what, i, err)
		}
	}
	return nil
}

// mkvValidateFrames checks the frames and returns the cluster timecode in ms
// and the size of the Cluster element's data.
func mkvValidateFrames(f *Fragment) (clusterMs, clusterSize uint64, err error) {
	if f.Timecode < 0 || f.Timecode > math.MaxInt64-2*time.Hour {
		return 0, 0, fmt.Errorf("%w: cluster timecode %v outside [0, MaxInt64-2h]", ErrInvalidFragment, f.Timecode)
	}
	if len(f.Frames) == 0 {
		return 0, 0, fmt.Errorf("%w: no frames (use WriteTagsDocument for a document without a cluster)", ErrInvalidFragment)
	}
	ms := mkvMillis(f.Timecode)
	clusterMs = uint64(ms)
	clusterSize = 1 + 1 + uint64(mkvUintLen(clusterMs))
	var cost uint64
	for i := range f.Frames {
		fr := &f.Frames[i]
		if fr.Track == 0 {
			return 0, 0, fmt.Errorf("%w: frame %d: track number 0", ErrInvalidFragment, i)
		}
		known := false
		for j := range f.Tracks {
			if f.Tracks[j].Number == fr.Track {
				known = true
				break
			}
		}
		if !known {
			return 0, 0, fmt.Errorf("%w: frame %d: unknown track %d", ErrInvalidFragment, i, fr.Track)
		}
		if len(fr.Data) > MaxFrameSize {
			return 0, 0, fmt.Errorf("%w: frame %d: %d bytes, limit %d", ErrInvalidFragment, i, len(fr.Data), MaxFrameSize)
		}
		// Overflow-safe: |Time| beyond ~292 years would wrap the sum.
		if fr.Time > time.Hour || fr.Time < -time.Hour {
			return 0, 0, fmt.Errorf("%w: frame %d: relative time %v outside [-32768ms, 32767ms]", ErrInvalidFragment, i, fr.Time)
		}
		rel := mkvMillis(f.Timecode+fr.Time) - ms
		if rel < math.MinInt16 || rel > math.MaxInt16 {
			return 0, 0, fmt.Errorf("%w: frame %d: relative time %v outside [-32768ms, 32767ms]", ErrInvalidFragment, i, fr.Time)
		}
		cost += uint64(len(fr.Data)) + FrameOverhead
		if cost > MaxFragmentSize {
			return 0, 0, fmt.Errorf("%w: fragment exceeds %d bytes", ErrInvalidFragment, MaxFragmentSize)
		}
		bs := mkvBlockSize(fr)
		clusterSize += 1 + uint64(mkvSizeLen(bs)) + bs
	}
	return clusterMs, clusterSize, nil
}

// mkvEncoder buffers small elements and writes large payloads straight
// through, so a fragment costs a handful of Write calls and no allocation
// in steady state (the buffer comes from a pool).
type mkvEncoder struct {
	w   io.Writer
	buf []byte
	err error
}

const (
	mkvEncoderBuf   = 32 << 10 // flush threshold and initial capacity
	mkvDirectWrite  = 8 << 10  // payloads at least this big bypass the buffer
	mkvEncoderKeep  = 1 << 20  // larger buffers (big CodecPrivate) are not pooled
	mkvSizePlacehdr = 8        // bytes reserved for a master's size until it is known
)

var mkvEncoderPool = sync.Pool{New: func() any { return &mkvEncoder{buf: make([]byte, 0, mkvEncoderBuf)} }}

func mkvGetEncoder(w io.Writer) *mkvEncoder {
	e := mkvEncoderPool.Get().(*mkvEncoder)
	e.w, e.err, e.buf = w, nil, e.buf[:0]
	return e
}

func mkvPutEncoder(e *mkvEncoder) {
	if cap(e.buf) > mkvEncoderKeep {
		return
	}
	e.w, e.err = nil, nil
	mkvEncoderPool.Put(e)
}

func (e *mkvEncoder) flush() {
	if e.err == nil && len(e.buf) > 0 {
		_, e.err = e.w.Write(e.buf)
	}
	e.buf = e.buf[:0]
}

func (e *mkvEncoder) flushIfFull() {
	if len(e.buf) >= mkvEncoderBuf {
		e.flush()
	}
}

func (e *mkvEncoder) payload(p []byte) {
	if len(p) < mkvDirectWrite {
		e.buf = append(e.buf, p...)
		e.flushIfFull()
		return
	}
	e.flush()
	if e.err == nil {
		_, e.err = e.w.Write(p)
	}
}

// begin opens a master element whose size is patched in by end.
func (e *mkvEncoder) begin(id uint32) int {
	e.buf = mkvAppendID(e.buf, id)
	e.buf = append(e.buf, make([]byte, mkvSizePlacehdr)...)
	return len(e.buf)
}

// end writes the minimal size of the master opened at start and moves its
// data down over the unused placeholder bytes.
func (e *mkvEncoder) end(start int) {
	n := len(e.buf) - start
	hdr := start - mkvSizePlacehdr
	sized := mkvAppendSize(e.buf[:hdr], uint64(n))
	l := len(sized) - hdr
	copy(e.buf[hdr+l:], e.buf[start:])
	e.buf = e.buf[:hdr+l+n]
}

func (e *mkvEncoder) uint(id uint32, v uint64) {
	e.buf = mkvAppendID(e.buf, id)
	l := mkvUintLen(v)
	e.buf = append(e.buf, byte(0x80|l))
	for i := l - 1; i >= 0; i-- {
		e.buf = append(e.buf, byte(v>>(8*i)))
	}
}

func (e *mkvEncoder) float(id uint32, f float64) {
	e.buf = mkvAppendID(e.buf, id)
	b := math.Float64bits(f)
	e.buf = append(e.buf, 0x88, byte(b>>56), byte(b>>48), byte(b>>40), byte(b>>32), byte(b>>24), byte(b>>16), byte(b>>8), byte(b))
}

func (e *mkvEncoder) str(id uint32, s string) {
	e.buf = mkvAppendID(e.buf, id)
	e.buf = mkvAppendSize(e.buf, uint64(len(s)))
	e.buf = append(e.buf, s...)
}

func (e *mkvEncoder) bin(id uint32, b []byte) {
	e.buf = mkvAppendID(e.buf, id)
	e.buf = mkvAppendSize(e.buf, uint64(len(b)))
	e.buf = append(e.buf, b...)
}

// mkvEBMLHeader is the fixed EBML header (RFC 8794 §11.2): EBMLVersion 1,
// EBMLReadVersion 1, EBMLMaxIDLength 4, EBMLMaxSizeLength 8, DocType
// "matroska", DocTypeVersion 4, DocTypeReadVersion 2 (RFC 9559 §4.2).
var mkvEBMLHeader = []byte{
	0x1A, 0x45, 0xDF, 0xA3, 0xA3, // EBML, size 35
	0x42, 0x86, 0x81, 0x01, // EBMLVersion 1
	0x42, 0xF7, 0x81, 0x01, // EBMLReadVersion 1
	0x42, 0xF2, 0x81, 0x04, // EBMLMaxIDLength 4
	0x42, 0xF3, 0x81, 0x08, // EBMLMaxSizeLength 8
	0x42, 0x82, 0x88, 'm', 'a', 't', 'r', 'o', 's', 'k', 'a', // DocType
	0x42, 0x87, 0x81, 0x04, // DocTypeVersion 4
	0x42, 0x85, 0x81, 0x02, // DocTypeReadVersion 2
}

// mkvSegmentUnknown is a Segment header with the reserved unknown size
// (RFC 8794 §6.2: all VINT_DATA bits set).
var mkvSegmentUnknown = []byte{0x18, 0x53, 0x80, 0x67, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}

// header writes the EBML header, the Segment start, Info and Tracks.
func (e *mkvEncoder) header(title string, tracks []Track) {
	e.buf = append(e.buf, mkvEBMLHeader...)
	e.buf = append(e.buf, mkvSegmentUnknown...)

	info := e.begin(mkvIDInfo)
	e.uint(mkvIDTimestampScale, uint64(time.Millisecond))
	e.str(mkvIDMuxingApp, mkvAppName)
	e.str(mkvIDWritingApp, mkvAppName)
	if title != "" {
		e.str(mkvIDTitle, title)
	}
	e.end(info)

	if len(tracks) == 0 {
		return
	}
	tr := e.begin(mkvIDTracks)
	for i := range tracks {
		t := &tracks[i]
		te := e.begin(mkvIDTrackEntry)
		e.uint(mkvIDTrackNumber, t.Number)
		e.uint(mkvIDTrackUID, t.UID)
		e.uint(mkvIDTrackType, uint64(t.Type))
		if t.Name != "" {
			e.str(mkvIDName, t.Name)
		}
		e.str(mkvIDCodecID, t.CodecID)
		if len(t.CodecPrivate) > 0 {
			e.bin(mkvIDCodecPrivate, t.CodecPrivate)
		}
		if t.CodecDelay != 0 {
			e.uint(mkvIDCodecDelay, t.CodecDelay)
		}
		if t.SeekPreRoll != 0 {
			e.uint(mkvIDSeekPreRoll, t.SeekPreRoll)
		}
		switch t.Type {
		case Video:
			v := e.begin(mkvIDVideo)
			e.uint(mkvIDPixelWidth, uint64(t.Width))
			e.uint(mkvIDPixelHeight, uint64(t.Height))
			e.end(v)
		case Audio:
			a := e.begin(mkvIDAudio)
			e.float(mkvIDSamplingFrequency, t.SampleRate)
			e.uint(mkvIDChannels, uint64(t.Channels))
			if t.BitDepth != 0 {
				e.uint(mkvIDBitDepth, uint64(t.BitDepth))
			}
			e.end(a)
		}
		e.end(te)
	}
	e.end(tr)
}

// tags writes Tags{Tag{Targets{}, SimpleTag{TagName, TagString}...}}: one Tag
// with an empty Targets (TargetTypeValue 50, the whole segment) holding all
// SimpleTags, as GetMedia tags are not tied to a track.
func (e *mkvEncoder) tags(tags []Tag) {
	if len(tags) == 0 {
		return
	}
	ts := e.begin(mkvIDTags)
	tag := e.begin(mkvIDTag)
	e.buf = append(e.buf, 0x63, 0xC0, 0x80) // Targets, empty
	for _, t := range tags {
		st := e.begin(mkvIDSimpleTag)
		e.str(mkvIDTagName, t.Name)
		e.str(mkvIDTagString, t.Value)
		e.end(st)
	}
	e.end(tag)
	e.end(ts)
	e.flushIfFull()
}

// mkvIDLen is the encoded length of an element ID (the ID keeps its VINT marker).
func mkvIDLen(id uint32) int {
	switch {
	case id < 1<<8:
		return 1
	case id < 1<<16:
		return 2
	case id < 1<<24:
		return 3
	}
	return 4
}

func mkvAppendID(b []byte, id uint32) []byte {
	for i := mkvIDLen(id) - 1; i >= 0; i-- {
		b = append(b, byte(id>>(8*i)))
	}
	return b
}

// mkvSizeLen is the shortest VINT length for n; all-ones VINT_DATA is
// reserved for "unknown size" (RFC 8794 §6.2), so 127 needs two bytes.
func mkvSizeLen(n uint64) int {
	for l := 1; l < 8; l++ {
		if n < 1<<(7*l)-1 {
			return l
		}
	}
	return 8
}

// mkvAppendSize appends n as a minimal-length VINT (RFC 8794 §4). n < 2^56-1.
func mkvAppendSize(b []byte, n uint64) []byte {
	l := mkvSizeLen(n)
	v := n | 1<<(7*l)
	for i := l - 1; i >= 0; i-- {
		b = append(b, byte(v>>(8*i)))
	}
	return b
}

// mkvUintLen is the number of bytes for an unsigned integer element; zero
// is written as one byte (RFC 8794 allows zero bytes, not every reader does).
func mkvUintLen(v uint64) int {
	l := 1
	for v > 0xFF {
		v >>= 8
		l++
	}
	return l
}
