package fragmenter

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/g711"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4/seekablebuffer"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4"

	"github.com/eddy-video/eddy/fragments"
	"github.com/eddy-video/eddy/fragments/cmaf"
	"github.com/eddy-video/eddy/media"
)

// Fragmenter defaults.
const (
	DefaultMaxFragmentDuration   = 10 * time.Second
	DefaultAudioFragmentDuration = 2 * time.Second
)

// ErrNoTracks is returned when a publication has no track Eddy can store.
var ErrNoTracks = errors.New("fragments: no supported track")

// Fragmenter cuts a publication's access units into fragments: one per
// GOP, cut on video keyframes; a GOP longer than MaxDuration is cut there
// (the next fragment is marked as not starting on a keyframe); audio-only
// publications are cut every AudioDuration. Each fragment is one CMAF
// media segment holding every track.
//
// The cut rules keep every fragment within what the store accepts
// (fragments.Fragment.Validate), whatever the producer sends: a fragment
// is never longer than MaxDuration (when a sample would take it past, it
// is cut before the sample held back) nor larger than MaxBytes; a
// timestamp that steps back, or forward by more than MaxDuration, is a
// jump: the track's timeline continues one step after its previous sample
// (so media time never runs backwards), and on the cutting track the
// fragment is cut there and the next one marked as a discontinuity.
//
// Every track keeps one sample back until the next one arrives, because
// an fMP4 sample's duration is the distance to its successor. Audio keeps
// its held-back sample across a cut, so every sample has an exact duration.
//
// Fragmenter is not safe for concurrent use: one recorder goroutine feeds it.
type Fragmenter struct {
	Tracks        []media.Track
	MaxDuration   time.Duration
	AudioDuration time.Duration
	// Emit receives each completed fragment and the init segment it needs
	// (the same *fragments.InitSegment until the codec configuration changes).
	Emit func(init *fragments.InitSegment, f *fragments.Fragment) error
	// PartTarget, when set, also cuts each fragment into parts (LL-HLS
	// partial segments) of at most this duration as its frames arrive;
	// EmitPart receives them, the last one just before Emit gets the
	// fragment they make up.
	PartTarget time.Duration
	EmitPart   func(init *fragments.InitSegment, p *PartCut)
	// PartsWanted, when set, is asked at each part boundary of a
	// fragment whose parts are not being emitted yet: while it reports
	// false the boundaries are only noted (a part costs a copy of its
	// samples and nobody would fetch it); once it reports true every part
	// of the open fragment so far is emitted at once, and the fragment's
	// later parts as they are cut. Nil: parts are always emitted.
	PartsWanted func() bool
	// MaxBytes is the largest fragment (0 or more than
	// fragments.MaxFragmentBytes: that); a unit larger than a quarter of
	// it is dropped.
	MaxBytes int
	// OnEvent, when set, is told of each timestamp jump, size cut and
	// dropped unit (for the recorder's counters).
	OnEvent func(Event)
	// PublisherCuts makes the publisher's marks the only cuts
	// (media.Hub.CutsFragments): a fragment ends right after a unit marked
	// FragmentEnd, its held-back samples getting their track's last
	// duration, and never at a keyframe, a size or a duration. The
	// publisher keeps its fragments within the store's limits; one that
	// is not is refused by the store whole. Timestamps are still guarded.
	PublisherCuts bool

	maxBytes int
	tracks   []*fragTrack
	byHub    map[int]*fragTrack
	video    *fragTrack // the track that cuts fragments (nil: audio-only)
	init     *fragments.InitSegment
	dirty    bool // codec configuration changed: new init segment at the next cut
	seqNo    uint32
	started  bool
	originS  float64 // session origin, seconds of media time

	// The open fragment.
	open     bool
	keyStart bool
	disc     bool  // follows a timestamp jump
	nextDisc bool  // the next fragment to open follows one
	startDTS int64 // in the cutting track's timescale
	startPTS int64 // first unit's PTS in the cutting track's clock
	startArr time.Time

	// The open part.
	partStart int64 // cutting track's timescale
	partArr   time.Time
	partKey   bool
	partFirst bool // the fragment's first part
	partSeq   uint32
	lastDTS   int64 // the cutting track's previous sample
	partsOn   bool  // the open fragment's parts are emitted as they are cut
	marks     []partMark
	markEnds  []int // per mark, len(tracks) sample counts: where it ends in each track
	runs      []cmaf.TrackRun
	recHead   [fragments.RecordHeaderSize]byte // the room a fragment's record is appended to
}

// partMark is a part boundary of the open fragment whose part is not
// emitted yet (PartsWanted reported false). It keeps what the part
// would have carried had it been emitted at its boundary, so a part
// emitted later is the very part a fragmenter always emitting parts
// emits.
type partMark struct {
	seq        uint32 // the part's mfhd sequence number
	start, end int64  // cutting track's timescale
	arrival    time.Time
	// producer is the fragment's producer time as known at the boundary:
	// the NTP mapping it is read through moves with later units.
	producer   int64
	key, first bool
}

// PartCut is one part of the open fragment: a moof+mdat on the
// fragment's timeline, holding the samples released since the previous part.
type PartCut struct {
	Media       []byte
	Duration    int64 // ns
	Independent bool  // starts with a keyframe
	First       bool  // the fragment's first part
	Last        bool  // the fragment's last part; Media is nil if it holds nothing
	Arrival     time.Time
	// The fragment's times, as the stored fragment will have them
	// (ProducerTime is final on the last part only).
	ServerTime   int64
	ProducerTime int64
	Keyframe     bool
}

type fragTrack struct {
	id        int // fMP4 track ID, from 1
	src       media.Track
	codec     mp4.Codec
	timescale uint32
	video     bool
	pcmFrom   string // G.711 law ("u"/"a") converted to LPCM for fMP4
	frameDur  uint32 // nominal sample duration (audio), for the final sample

	origin   int64 // media time (track clock) of the session origin
	avcc     bool  // samples are NAL units written with AVCC length prefixes
	pending  *heldSample
	held     [2]heldSample // pending and the sample being pushed point here: no allocation a unit
	samples  []cmaf.Sample
	partAt   int    // samples[partAt:] are not in an emitted part yet
	partBase uint64 // tfdt of samples[partAt]
	base     uint64 // tfdt of samples[0]
	next     uint64 // tfdt of the next sample to add
	have     bool   // next is set

	// NTP mapping from the latest unit that carried a producer clock.
	ntpPTS int64
	ntp    time.Time

	// Timestamp guard (timing.go).
	shift int64 // added to the track's media time since its jumps
	last  int64 // DTS of the latest sample taken
	seen  bool  // a sample was taken
	step  int64 // the latest forward step between samples
	bytes int   // what samples hold in the open fragment (payload + 16 each)
}

type heldSample struct {
	dts, pts int64 // on the fMP4 timeline (timescale, from the origin)
	rawPTS   int64 // the unit's PTS in its track's clock (for the NTP mapping)
	moved    bool  // the timestamp guard moved it (its step is not the track's)
	key      bool
	// data is the sample's payload: the unit's NAL units or frame pieces
	// themselves (never modified once published), or a converted copy.
	data    [][]byte
	size    int // its size in the mdat
	arrival time.Time
}

// Initialize sets up the tracks; it fails with ErrNoTracks when none is
// storable.
func (fr *Fragmenter) Initialize() error {
	if fr.MaxDuration <= 0 {
		fr.MaxDuration = DefaultMaxFragmentDuration
	}
	fr.MaxDuration = min(fr.MaxDuration, fragments.MaxFragmentDuration)
	if fr.AudioDuration <= 0 {
		fr.AudioDuration = DefaultAudioFragmentDuration
	}
	fr.maxBytes = fragments.MaxFragmentBytes
	if fr.MaxBytes > 0 {
		fr.maxBytes = min(fr.MaxBytes, fr.maxBytes)
	}
	fr.byHub = map[int]*fragTrack{}
	for _, t := range fr.Tracks {
		ft, err := newFragTrack(t)
		if err != nil || ft == nil {
			continue // unsupported tracks are left out of the recording
		}
		if ft.video && fr.video != nil {
			continue // one video track per fragment log
		}
		ft.id = len(fr.tracks) + 1
		fr.tracks = append(fr.tracks, ft)
		fr.byHub[t.ID] = ft
		if ft.video {
			fr.video = ft
		}
	}
	if len(fr.tracks) == 0 {
		return ErrNoTracks
	}
	fr.dirty = true
	return nil
}

// newFragTrack maps a hub track to an fMP4 track; nil for codecs the
// store does not keep.
func newFragTrack(t media.Track) (*fragTrack, error) {
	ft := &fragTrack{src: t}
	switch codec := strings.ToUpper(t.Codec); codec {
	case "H264":
		ft.video, ft.timescale, ft.avcc = true, 90000, true
		c := &mp4.CodecH264{}
		if len(t.Config) >= 2 {
			c.SPS, c.PPS = t.Config[0], t.Config[1]
		}
		ft.codec = c
	case "H265":
		ft.video, ft.timescale, ft.avcc = true, 90000, true
		c := &mp4.CodecH265{}
		if len(t.Config) >= 3 {
			c.VPS, c.SPS, c.PPS = t.Config[0], t.Config[1], t.Config[2]
		}
		ft.codec = c
	case "VP8":
		ft.video, ft.timescale = true, 90000
		ft.codec = &cmaf.CodecVP8{}
	case "VP9":
		ft.video, ft.timescale = true, 90000
		ft.codec = &mp4.CodecVP9{}
	case "AV1":
		ft.video, ft.timescale = true, 90000
		ft.codec = &mp4.CodecAV1{}
	case "AAC", "MPEG4AUDIO":
		if len(t.Config) < 1 {
			return nil, fmt.Errorf("AAC track without AudioSpecificConfig")
		}
		var asc mpeg4audio.AudioSpecificConfig
		if err := asc.Unmarshal(t.Config[0]); err != nil {
			return nil, err
		}
		ft.codec = &mp4.CodecMPEG4Audio{Config: asc}
		ft.timescale = uint32(asc.SampleRate)
		ft.frameDur = 1024
		if asc.FrameLengthFlag {
			ft.frameDur = 960
		}
	case "OPUS":
		// Config holds the RFC 7845 OpusHead (channel count at byte 9) or
		// just a channel count.
		ch := 2
		if len(t.Config) > 0 {
			switch c := t.Config[0]; {
			case len(c) >= 19 && string(c[:8]) == "OpusHead" && c[9] > 0:
				ch = int(c[9])
			case len(c) == 1 && c[0] > 0:
				ch = int(c[0])
			}
		}
		ft.codec = &mp4.CodecOpus{ChannelCount: ch}
		ft.timescale = 48000
		ft.frameDur = 960
	case "G711", "G711U", "G711A", "PCMU", "PCMA":
		ch := 1
		if len(t.Config) > 0 && len(t.Config[0]) == 1 && t.Config[0][0] > 0 {
			ch = int(t.Config[0][0])
		}
		rate := t.ClockRate
		if rate <= 0 {
			rate = 8000
		}
		ft.codec = &mp4.CodecLPCM{BitDepth: 16, SampleRate: rate, ChannelCount: ch}
		ft.timescale = uint32(rate)
		ft.pcmFrom = "u"
		if codec == "G711A" || codec == "PCMA" {
			ft.pcmFrom = "a"
		}
		ft.frameDur = uint32(rate / 50)
	default:
		return nil, nil
	}
	if ft.timescale == 0 || t.ClockRate <= 0 {
		return nil, fmt.Errorf("track %d: no clock rate", t.ID)
	}
	return ft, nil
}

// ticks converts a unit's media time to the track's fMP4 timescale
// (without overflow for any media time).
func (ft *fragTrack) ticks(v int64) int64 {
	cr, ts := int64(ft.src.ClockRate), int64(ft.timescale)
	if cr == ts {
		return v
	}
	return v/cr*ts + v%cr*ts/cr
}

// ready reports whether the track's codec configuration is complete.
func (ft *fragTrack) ready() bool {
	switch c := ft.codec.(type) {
	case *mp4.CodecH264:
		return c.SPS != nil && c.PPS != nil
	case *mp4.CodecH265:
		return c.VPS != nil && c.SPS != nil && c.PPS != nil
	case *cmaf.CodecVP8:
		return c.Width > 0
	case *mp4.CodecVP9:
		return c.Width > 0
	case *mp4.CodecAV1:
		return c.SequenceHeader != nil
	}
	return true
}

// params picks up in-band parameter sets, and the configuration of VP8,
// VP9 and AV1 keyframes; it reports whether the codec configuration
// changed.
func (ft *fragTrack) params(au *media.AccessUnit) bool {
	nalus := au.Payload
	changed := false
	set := func(dst *[]byte, n []byte) {
		if !bytes.Equal(*dst, n) {
			*dst = append([]byte(nil), n...)
			changed = true
		}
	}
	switch c := ft.codec.(type) {
	case *mp4.CodecH264:
		for _, n := range nalus {
			if len(n) == 0 {
				continue
			}
			switch h264.NALUType(n[0] & 0x1f) {
			case h264.NALUTypeSPS:
				set(&c.SPS, n)
			case h264.NALUTypePPS:
				set(&c.PPS, n)
			}
		}
	case *mp4.CodecH265:
		for _, n := range nalus {
			if len(n) < 2 {
				continue
			}
			switch h265.NALUType((n[0] >> 1) & 0x3f) {
			case h265.NALUType_VPS_NUT:
				set(&c.VPS, n)
			case h265.NALUType_SPS_NUT:
				set(&c.SPS, n)
			case h265.NALUType_PPS_NUT:
				set(&c.PPS, n)
			}
		}
	case *cmaf.CodecVP8:
		if !au.Key {
			break
		}
		if p, ok := cmaf.VP8KeyParams(joinPayload(nalus)); ok && p != c.CodecVP9 {
			c.CodecVP9, changed = p, true
		}
	case *mp4.CodecVP9:
		if !au.Key {
			break
		}
		if p, ok := cmaf.VP9KeyParams(joinPayload(nalus)); ok && p != *c {
			*c, changed = p, true
		}
	case *mp4.CodecAV1:
		if !au.Key {
			break
		}
		if sh, ok := cmaf.AV1SequenceHeader(nalus); ok {
			set(&c.SequenceHeader, sh)
		}
	}
	return changed
}

// joinPayload returns a unit's payload as one slice.
func joinPayload(p [][]byte) []byte {
	if len(p) == 1 {
		return p[0]
	}
	return bytes.Join(p, nil)
}

// payload is a unit's fMP4 sample payload, as the pieces the segment
// writer concatenates, and its size: the unit's own NAL units (behind AVCC
// length prefixes, for H.265 too) or frame pieces, not copied; AV1 (OBU
// sizes added) and G.711 (converted to LPCM) as a new buffer.
func (ft *fragTrack) payload(au *media.AccessUnit) ([][]byte, int, error) {
	switch ft.codec.(type) {
	case *mp4.CodecH264, *mp4.CodecH265:
		n := 0
		for _, nalu := range au.Payload {
			n += 4 + len(nalu)
		}
		return au.Payload, n, nil
	case *cmaf.CodecVP8, *mp4.CodecVP9:
		if len(au.Payload) == 0 || len(au.Payload[0]) == 0 {
			return nil, 0, fmt.Errorf("empty frame")
		}
	case *mp4.CodecAV1:
		b, err := cmaf.AV1Sample(au.Payload)
		return [][]byte{b}, len(b), err
	}
	if ft.pcmFrom != "" {
		raw := joinPayload(au.Payload)
		var pcm []byte
		if ft.pcmFrom == "u" {
			var m g711.Mulaw
			m.Unmarshal(raw)
			pcm = m
		} else {
			var a g711.Alaw
			a.Unmarshal(raw)
			pcm = a
		}
		return [][]byte{pcm}, len(pcm), nil
	}
	n := 0
	for _, p := range au.Payload {
		n += len(p)
	}
	return au.Payload, n, nil
}

// Push adds one access unit; completed fragments go to Emit.
func (fr *Fragmenter) Push(au *media.AccessUnit) error {
	if err := fr.push(au); err != nil {
		return err
	}
	if fr.PublisherCuts && au.FragmentEnd {
		return fr.Flush() // the fragment ends with au, whatever became of au itself
	}
	return nil
}

func (fr *Fragmenter) push(au *media.AccessUnit) error {
	ft := fr.byHub[au.Track]
	if ft == nil {
		return nil
	}
	if !au.NTP.IsZero() {
		ft.ntpPTS, ft.ntp = au.PTS, au.NTP
	}
	// New in-band parameter sets take effect from the next fragment that
	// opens (the init segment is taken when a fragment opens, so the one
	// being closed keeps the init segment it was recorded with).
	if ft.video && ft.params(au) {
		fr.dirty = true
	}
	data, size, err := ft.payload(au)
	if err != nil {
		return nil // a malformed unit is skipped, not fatal
	}
	if size > fr.maxBytes/4 {
		fr.event(EventDropped) // no fragment could hold it with its neighbours
		return nil
	}
	if !fr.started && !fr.start(ft, au) {
		return nil
	}
	if !ft.seen && au.DTS < ft.origin {
		return nil // before the session origin (audio ahead of the first keyframe)
	}
	s := ft.sample(au, data, size, ft.durTicks(maxCompositionOffset))
	jump := ft.seen && ft.jumped(s, fr.jumpTicks(ft))
	switch {
	case jump:
		ft.rebase(s)
		fr.event(EventJump)
	case ft.seen && s.dts == ft.last:
		ft.nudge(s)
	}
	cutter := fr.cutter()
	if ft == cutter {
		return fr.pushCutter(ft, s, jump)
	}
	fr.anchor(ft, cutter, s)
	if ok, err := fr.fitsBeside(ft, cutter); !ok || err != nil {
		return err
	}
	if !ft.have {
		ft.next, ft.have = uint64(s.dts), true
	}
	ft.took(s)
	fr.hold(ft, s)
	return nil
}

// start starts the session at the first unit it can start at: a video
// keyframe with a complete configuration (or the first audio unit of an
// audio-only publication); it reports whether au is that unit.
func (fr *Fragmenter) start(ft *fragTrack, au *media.AccessUnit) bool {
	if fr.video != nil && (ft != fr.video || !au.Key || !ft.ready()) {
		return false
	}
	fr.started = true
	fr.originS = float64(au.DTS) / float64(ft.src.ClockRate)
	for _, t := range fr.tracks {
		t.origin = int64(fr.originS * float64(t.src.ClockRate))
	}
	ft.origin = au.DTS // exactly: the first sample is at 0
	return true
}

// cutter is the track whose samples cut fragments: the video track, or
// the first audio track of an audio-only publication.
func (fr *Fragmenter) cutter() *fragTrack {
	if fr.video != nil {
		return fr.video
	}
	return fr.tracks[0]
}

// pushCutter applies the cut rules to a sample s of the cutting track,
// then holds it (in the fragment it opens, when it cuts) and cuts a part
// when one is due.
func (fr *Fragmenter) pushCutter(ft *fragTrack, s *heldSample, jump bool) error {
	if fr.open {
		if err := fr.cutRules(ft, s, jump); err != nil {
			return err
		}
	}
	if !fr.open {
		if err := fr.openAt(ft, s); err != nil {
			return err
		}
	}
	ft.took(s)
	fr.hold(ft, s)
	if fr.PartTarget > 0 && fr.open && s.dts > fr.partStart {
		// Cut the part before s when it reached the target, or when one
		// more frame like the last would take it past the target.
		target := int64(fr.PartTarget) * int64(ft.timescale) / int64(time.Second)
		span, step := s.dts-fr.partStart, s.dts-fr.lastDTS
		if span >= target || span+step > target {
			fr.markPart(s.dts)
			if err := fr.flushParts(); err != nil {
				return err
			}
			fr.partStart, fr.partArr, fr.partKey = s.dts, s.arrival, s.key || !ft.video
		}
	}
	fr.lastDTS = s.dts
	return nil
}

// openAt opens a fragment that starts with the cutting track's sample s,
// with a new init segment when the codec configuration changed.
func (fr *Fragmenter) openAt(ft *fragTrack, s *heldSample) error {
	if fr.dirty || fr.init == nil {
		init, err := fr.buildInit()
		if err != nil {
			return err
		}
		if fr.init != nil && init.ID != fr.init.ID {
			fr.event(EventInitChange)
		}
		fr.init, fr.dirty = init, false
	}
	fr.open = true
	fr.keyStart = s.key || !ft.video
	fr.disc, fr.nextDisc = fr.nextDisc, false
	fr.startDTS, fr.startPTS, fr.startArr = s.dts, s.rawPTS, s.arrival
	fr.partStart, fr.partArr, fr.partKey, fr.partFirst = s.dts, s.arrival, fr.keyStart, true
	fr.partsOn = false
	return nil
}

// unmarked reports whether a track has samples released since the last
// part boundary.
func (fr *Fragmenter) unmarked() bool {
	prev := fr.markEnds[max(len(fr.markEnds)-len(fr.tracks), 0):]
	for i, ft := range fr.tracks {
		from := ft.partAt
		if len(fr.marks) > 0 {
			from = prev[i]
		}
		if len(ft.samples) > from {
			return true
		}
	}
	return false
}

// markPart notes a part boundary at end (cutting track's timescale): the
// samples released since the previous boundary make a part, numbered
// whether or not it is emitted (a part's bytes do not depend on whether
// the ones before it were wanted). A boundary with no new sample in any
// track makes none.
func (fr *Fragmenter) markPart(end int64) {
	if !fr.unmarked() {
		return
	}
	fr.partSeq++
	fr.marks = append(fr.marks, partMark{seq: fr.partSeq, start: fr.partStart, end: end, arrival: fr.partArr,
		producer: fr.producerTime(fr.cutter()), key: fr.partKey, first: fr.partFirst})
	for _, ft := range fr.tracks {
		fr.markEnds = append(fr.markEnds, len(ft.samples))
	}
	fr.partFirst = false
}

// wantParts reports whether the open fragment's parts are emitted:
// once PartsWanted said so during the fragment, until it ends.
func (fr *Fragmenter) wantParts() bool {
	if !fr.partsOn && (fr.PartsWanted == nil || fr.PartsWanted()) {
		fr.partsOn = true
	}
	return fr.partsOn
}

// flushParts emits the parts of the noted boundaries, when parts are
// wanted.
func (fr *Fragmenter) flushParts() error {
	if len(fr.marks) == 0 || !fr.wantParts() {
		return nil
	}
	for i := range fr.marks {
		if err := fr.emitPart(&fr.marks[i], fr.markEnds[i*len(fr.tracks):], false); err != nil {
			return err
		}
	}
	fr.marks, fr.markEnds = fr.marks[:0], fr.markEnds[:0]
	return nil
}

// lastPart emits the open fragment's parts still to be emitted, the last
// ending at end (cutting track's timescale) and completing fragment f
// (even empty); when parts are not wanted, it drops the noted boundaries.
func (fr *Fragmenter) lastPart(end int64, f *fragments.Fragment) error {
	last := partMark{start: fr.partStart, end: end, arrival: fr.partArr, producer: f.ProducerTime, key: fr.partKey, first: fr.partFirst}
	if fr.unmarked() {
		fr.partSeq++
		last.seq = fr.partSeq
	}
	if !fr.wantParts() {
		fr.marks, fr.markEnds = fr.marks[:0], fr.markEnds[:0]
		return nil
	}
	if err := fr.flushParts(); err != nil {
		return err
	}
	ends := make([]int, len(fr.tracks))
	for i, ft := range fr.tracks {
		ends[i] = len(ft.samples)
	}
	return fr.emitPart(&last, ends, true)
}

// emitPart emits the part of mark m: each track's samples from the
// previous part up to ends[track]; last: the part completes the fragment.
func (fr *Fragmenter) emitPart(m *partMark, ends []int, last bool) error {
	runs := fr.runs[:0]
	for i, ft := range fr.tracks {
		smp := ft.samples[ft.partAt:ends[i]]
		if len(smp) == 0 {
			continue
		}
		runs = append(runs, cmaf.TrackRun{ID: ft.id, BaseTime: ft.partBase, Samples: smp})
		for j := range smp {
			ft.partBase += uint64(smp[j].Duration)
		}
		ft.partAt = ends[i]
	}
	cutter := fr.cutter()
	p := &PartCut{
		Duration:     int64(time.Duration(m.end-m.start) * time.Second / time.Duration(cutter.timescale)),
		Independent:  m.key,
		First:        m.first,
		Arrival:      m.arrival,
		ServerTime:   fr.startArr.UnixNano(),
		ProducerTime: m.producer,
		Keyframe:     fr.keyStart,
		Last:         last,
	}
	if len(runs) > 0 {
		p.Media = cmaf.AppendSegment(nil, m.seq, runs) // allocated at its exact size
	}
	clear(runs)
	fr.runs = runs[:0]
	fr.EmitPart(fr.init, p)
	return nil
}

// hold makes s the track's held-back sample, releasing the previous one
// with its exact duration.
func (fr *Fragmenter) hold(ft *fragTrack, s *heldSample) {
	if p := ft.pending; p != nil {
		d := s.dts - p.dts
		if d < 0 {
			d = 0
		}
		ft.add(p, uint32(d))
	}
	ft.pending = s
}

func (ft *fragTrack) add(p *heldSample, dur uint32) {
	if !ft.have || len(ft.samples) == 0 {
		// A fragment's first sample starts at its own time: a track that
		// paused (audio) starts again in step with the others. Without a
		// pause this is where the previous sample ended anyway.
		ft.next, ft.have = uint64(max(p.dts, 0)), true
		ft.base = ft.next
	}
	if len(ft.samples) == 0 {
		ft.partBase = ft.next
	}
	ft.bytes += sampleOverhead + p.size
	ft.samples = append(ft.samples, cmaf.Sample{
		Data:           p.data,
		Duration:       dur,
		PTSOffset:      int32(p.pts - p.dts),
		NonSync:        ft.video && !p.key,
		LengthPrefixed: ft.avcc,
	})
	ft.next += uint64(dur)
}

// cut closes the open fragment at time end (cutting track's timescale),
// its held-back sample included.
func (fr *Fragmenter) cut(cutter *fragTrack, end int64) error {
	if p := cutter.pending; p != nil {
		cutter.add(p, uint32(max(end-p.dts, 0)))
		cutter.pending = nil
	}
	return fr.emit(cutter, end)
}

// Flush ends the publication (or, with PublisherCuts, the fragment):
// held-back samples get their track's last (or nominal) duration and the
// open fragment is emitted.
func (fr *Fragmenter) Flush() error {
	if !fr.open {
		return nil
	}
	cutter := fr.cutter()
	for _, ft := range fr.tracks {
		if p := ft.pending; p != nil {
			d := uint32(ft.nominalStep())
			if n := len(ft.samples); n > 0 && ft.samples[n-1].Duration > 0 {
				d = ft.samples[n-1].Duration
			}
			if ft == cutter {
				// The last sample must not take the fragment past its limit.
				d = uint32(min(int64(d), max(fr.limitTicks(ft)-(p.dts-fr.startDTS), 1)))
			}
			ft.add(p, d)
			ft.pending = nil
		}
	}
	end := fr.startDTS
	if cutter.have {
		end = int64(cutter.next)
	}
	return fr.emit(cutter, end)
}

func (fr *Fragmenter) emit(cutter *fragTrack, end int64) error {
	fr.open = false
	if len(cutter.samples) == 0 {
		return nil
	}
	fr.releaseStale(cutter, end)
	fr.seqNo++
	runs := fr.runs[:0]
	for _, ft := range fr.tracks {
		if len(ft.samples) == 0 {
			continue
		}
		runs = append(runs, cmaf.TrackRun{ID: ft.id, BaseTime: ft.base, Samples: ft.samples})
	}
	// Written into a fresh buffer of exactly the record's size (AppendSegment
	// grows fr.recHead, too small for any segment, to that), with room for
	// the record header in front: the store writes it without a copy and
	// nothing large stays referenced between fragments.
	rec := cmaf.AppendSegment(fr.recHead[:], fr.seqNo, runs)
	clear(runs)
	fr.runs = runs[:0]
	dur := time.Duration(end-fr.startDTS) * time.Second / time.Duration(cutter.timescale)
	f := &fragments.Fragment{
		ServerTime:    fr.startArr.UnixNano(),
		ProducerTime:  fr.producerTime(cutter),
		Duration:      int64(dur),
		Keyframe:      fr.keyStart,
		Discontinuity: fr.disc,
		InitID:        fr.init.ID,
	}
	f.SetRecord(rec)
	if fr.PartTarget > 0 {
		if err := fr.lastPart(end, f); err != nil {
			return err
		}
	}
	for _, ft := range fr.tracks {
		// The samples' memory is kept for the next fragment, their
		// payloads are not.
		clear(ft.samples)
		ft.samples, ft.partAt, ft.bytes = ft.samples[:0], 0, 0
	}
	return fr.Emit(fr.init, f)
}

func (fr *Fragmenter) buildInit() (*fragments.InitSegment, error) {
	var init fmp4.Init
	for _, ft := range fr.tracks {
		if !ft.ready() {
			continue
		}
		init.Tracks = append(init.Tracks, &fmp4.InitTrack{ID: ft.id, TimeScale: ft.timescale, Codec: ft.codec})
	}
	var buf seekablebuffer.Buffer
	if err := cmaf.MarshalInit(&init, &buf); err != nil {
		return nil, fmt.Errorf("init segment: %w", err)
	}
	b := buf.Bytes()
	sum := sha256.Sum256(b)
	seg := &fragments.InitSegment{Bytes: b}
	copy(seg.ID[:], sum[:16])
	return seg, nil
}
