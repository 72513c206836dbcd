package fragmenter

import "github.com/eddy-video/eddy/fragments"

// Event is something the fragmenter did to keep a bad producer's stream
// storable (Fragmenter.OnEvent).
type Event int

// Events.
const (
	// EventJump: a track's timestamps stepped back, or forward by more
	// than MaxDuration; its timeline continues one step after its previous
	// sample, and on the cutting track the fragment is cut there.
	EventJump Event = iota + 1
	// EventSizeCut: a fragment was cut at MaxBytes before its GOP ended.
	EventSizeCut
	// EventDropped: a unit too large for any fragment was dropped.
	EventDropped
	// EventDurationCut: a video fragment was cut at MaxDuration before
	// its GOP ended (the next one does not start on a keyframe).
	EventDurationCut
	// EventInitChange: the codec configuration changed (a new SPS: a
	// new resolution); the next fragment has a new init segment.
	EventInitChange
)

func (e Event) String() string {
	switch e {
	case EventJump:
		return "timestamp_jump"
	case EventSizeCut:
		return "size_cut"
	case EventDropped:
		return "dropped"
	case EventDurationCut:
		return "duration_cut"
	case EventInitChange:
		return "init_change"
	}
	return "unknown"
}

func (fr *Fragmenter) event(e Event) {
	if fr.OnEvent != nil {
		fr.OnEvent(e)
	}
}

// sampleOverhead is what a sample adds to a media segment beside its
// payload: its trun entry (duration, size, flags, composition offset).
const sampleOverhead = 16

// size bounds the bytes the open fragment's record takes so far: the
// record header, moof and mdat headers and every sample released into it.
func (fr *Fragmenter) size() int {
	n := fragments.RecordHeaderSize + 1024
	for _, t := range fr.tracks {
		n += 64 + t.bytes
	}
	return n
}

// heldBytes is what the track's held-back sample adds to a fragment.
func (ft *fragTrack) heldBytes() int {
	if ft.pending == nil {
		return 0
	}
	return sampleOverhead + ft.pending.size
}

// limitTicks is the longest fragment in the cutting track's timescale:
// MaxDuration, and AudioDuration for an audio-only publication.
func (fr *Fragmenter) limitTicks(cutter *fragTrack) int64 {
	d := fr.MaxDuration
	if !cutter.video {
		d = min(d, fr.AudioDuration)
	}
	return cutter.durTicks(d)
}

// cutRules closes the open fragment where the cutting track's new sample
// s requires it: before the held-back sample when s would take the
// fragment past its longest duration; then at s after a timestamp jump,
// at a keyframe, or when the fragment reached its longest duration or
// would pass its largest size.
func (fr *Fragmenter) cutRules(ft *fragTrack, s *heldSample, jump bool) error {
	if fr.PublisherCuts {
		fr.nextDisc = fr.nextDisc || jump
		return nil
	}
	if p := ft.pending; p != nil && len(ft.samples) > 0 && s.dts-fr.startDTS > fr.limitTicks(ft) {
		fr.durationCut(ft, p)
		if err := fr.cutBefore(ft, p); err != nil {
			return err
		}
	}
	switch {
	case jump:
		fr.nextDisc = true
	case ft.video && s.key:
	case s.dts-fr.startDTS >= fr.limitTicks(ft):
		fr.durationCut(ft, s)
	case fr.size()+ft.heldBytes()+sampleOverhead+s.size > fr.maxBytes:
		fr.event(EventSizeCut)
	default:
		return nil
	}
	return fr.cut(ft, s.dts)
}

// cutBefore closes the open fragment before the cutting track's held-back
// sample p and opens the next one with it.
func (fr *Fragmenter) cutBefore(cutter *fragTrack, p *heldSample) error {
	cutter.pending = nil
	if err := fr.emit(cutter, p.dts); err != nil {
		return err
	}
	if err := fr.openAt(cutter, p); err != nil {
		return err
	}
	cutter.pending = p
	return nil
}

// fitsBeside makes room for the held-back sample of ft (not the cutting
// track) that a new unit releases: when it would take the open fragment
// past its largest size, the fragment is cut before the cutting track's
// held-back sample, or, when that one is alone in it, the new unit is
// dropped (false).
func (fr *Fragmenter) fitsBeside(ft, cutter *fragTrack) (bool, error) {
	if fr.PublisherCuts || !fr.open || fr.size()+ft.heldBytes()+cutter.heldBytes() <= fr.maxBytes {
		return true, nil
	}
	if c := cutter.pending; c != nil && len(cutter.samples) > 0 {
		fr.event(EventSizeCut)
		return true, fr.cutBefore(cutter, c)
	}
	fr.event(EventDropped)
	return false, nil
}

// durationCut counts a cut at the longest duration before the video
// sample s, unless s is a keyframe (the GOP ends there anyway).
func (fr *Fragmenter) durationCut(ft *fragTrack, s *heldSample) {
	if ft.video && !s.key {
		fr.event(EventDurationCut)
	}
}
