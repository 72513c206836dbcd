package fragmenter

import (
	"time"

	"github.com/eddy-video/eddy/media"
)

// The timestamp guard. Producers' clocks misbehave: cameras reboot, NTP
// steps them, RTP timestamps wrap or are forged. Whatever they send, a
// track's fMP4 timeline only moves forward, by at most MaxDuration per
// sample, so that no fragment gets a negative or unbounded duration; the
// producer timestamps of fragments keep following the producer's clock.

// sample makes au a sample on the track's fMP4 timeline: from the session
// origin, moved by the track's jumps so far. A composition offset beyond
// ±bound (a forged PTS) is dropped.
func (ft *fragTrack) sample(au *media.AccessUnit, data [][]byte, size int, bound int64) *heldSample {
	dts := ft.ticks(au.DTS-ft.origin) + ft.shift
	off := ft.ticks(au.PTS - au.DTS)
	if off < -bound || off > bound {
		off = 0
	}
	// Only the track's held-back sample and the one being pushed are
	// alive at a time: s takes the slot the held-back one does not.
	s := &ft.held[0]
	if ft.pending == s {
		s = &ft.held[1]
	}
	*s = heldSample{dts: dts, pts: dts + off, rawPTS: au.PTS, key: au.Key, data: data, size: size, arrival: au.Arrival}
	return s
}

// Bounds of the guard. A fragment must fit one Matroska cluster, whose
// blocks are at most ±32.767 s from its timecode (GetMediaForFragmentList
// writes one cluster per fragment): fragments.MaxFragmentDuration (30 s)
// plus both of these stays within.
const (
	// maxCompositionOffset bounds PTS − DTS; a larger one (a forged PTS)
	// is dropped (PTS = DTS).
	maxCompositionOffset = time.Second
	// maxTrackSkew bounds how far another track's sample may be from the
	// cutting track's latest one: further, the track is moved to the
	// cutting track's time (counted as a jump) and stays in step after.
	maxTrackSkew = time.Second
)

// anchor keeps a sample s of a track other than the cutting one within
// maxTrackSkew of the cutting track's latest sample, without stepping
// back from the track's own previous sample.
func (fr *Fragmenter) anchor(ft, cutter *fragTrack, s *heldSample) {
	pos := ft.from(cutter, cutter.last)
	skew := ft.durTicks(maxTrackSkew)
	if off := s.dts - pos; off >= -skew && off <= skew {
		return
	}
	if ft.seen {
		pos = max(pos, ft.last+1)
	}
	ft.move(s, pos-s.dts)
	fr.event(EventJump)
}

// move moves s, and the track's later samples, by delta ticks.
func (ft *fragTrack) move(s *heldSample, delta int64) {
	s.dts += delta
	s.pts += delta
	s.moved = true
	ft.shift += delta
}

// durTicks is d in the track's timescale.
func (ft *fragTrack) durTicks(d time.Duration) int64 {
	return int64(d/time.Millisecond) * int64(ft.timescale) / 1000
}

// jumpTicks is the longest step between two samples of a track that is
// not a jump: MaxDuration.
func (fr *Fragmenter) jumpTicks(ft *fragTrack) int64 { return ft.durTicks(fr.MaxDuration) }

// jumped reports whether s steps back from the track's previous sample,
// or forward by more than bound.
func (ft *fragTrack) jumped(s *heldSample, bound int64) bool {
	step := s.dts - ft.last
	return step < 0 || step > bound
}

// rebase moves s, and the track's later samples, to one step after the
// track's previous sample.
func (ft *fragTrack) rebase(s *heldSample) {
	ft.move(s, ft.last+ft.nominalStep()-s.dts)
}

// nudge moves s, and the track's later samples, one tick later: s
// repeats its predecessor's timestamp, and a sample of no duration
// could cut an empty fragment. One tick is not a jump: no cut, no event.
func (ft *fragTrack) nudge(s *heldSample) {
	ft.move(s, 1)
}

// nominalStep is the track's latest step between samples the guard did
// not move, else its codec's frame length, else 1/25 s.
func (ft *fragTrack) nominalStep() int64 {
	switch {
	case ft.step > 0:
		return ft.step
	case ft.frameDur > 0:
		return int64(ft.frameDur)
	}
	return max(int64(ft.timescale)/25, 1)
}

// took records s as the track's latest sample.
func (ft *fragTrack) took(s *heldSample) {
	if ft.seen && !s.moved && s.dts > ft.last {
		ft.step = s.dts - ft.last
	}
	ft.seen, ft.last = true, s.dts
}

// ntpAt maps a PTS (track clock) to the producer clock through the
// latest unit that carried one; zero when none has yet, or when the
// distance is beyond a century (a forged clock). It is evaluated when a
// fragment closes, so a sender report that arrives during the fragment's
// GOP still dates the fragment's start.
func (ft *fragTrack) ntpAt(pts int64) time.Time {
	if ft.ntp.IsZero() {
		return time.Time{}
	}
	return media.ClockAt(ft.ntp, ft.ntpPTS, pts, int64(ft.src.ClockRate))
}

// producerTime is the open fragment's producer timestamp: its first
// unit's time on the producer's clock, else (no clock, or one outside
// 1970–2100, which the store refuses) its arrival.
func (fr *Fragmenter) producerTime(cutter *fragTrack) int64 {
	t := cutter.ntpAt(fr.startPTS)
	if t.IsZero() || t.Year() < 1970 || t.Year() >= 2100 {
		return fr.startArr.UnixNano()
	}
	return t.UnixNano()
}

// from converts v from track o's timescale to ft's.
func (ft *fragTrack) from(o *fragTrack, v int64) int64 {
	a, b := int64(o.timescale), int64(ft.timescale)
	return v/a*b + v%a*b/a
}

// releaseStale puts into the fragment ending at end (cutting track's
// timescale) the held-back sample of every other track that is more
// than maxTrackSkew older than end, with the track's nominal duration: a
// track that paused (audio) must not carry a sample from long before into
// a later fragment. One the fragment has no room for is dropped.
func (fr *Fragmenter) releaseStale(cutter *fragTrack, end int64) {
	for _, ft := range fr.tracks {
		p := ft.pending
		if ft == cutter || p == nil || ft.from(cutter, end)-p.dts <= ft.durTicks(maxTrackSkew) {
			continue
		}
		ft.pending = nil
		if fr.size()+sampleOverhead+p.size > fr.maxBytes {
			fr.event(EventDropped)
			continue
		}
		ft.add(p, uint32(ft.nominalStep()))
	}
}
