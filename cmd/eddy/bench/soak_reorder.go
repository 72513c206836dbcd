package bench

import (
	"time"

	"github.com/pion/rtp"
)

// rtpReorder puts a track's RTP packets back in sequence-number order, as
// a receiver's jitter buffer does, so that a packet a NACK recovered (it
// comes after the ones sent later) counts as received. A gap not filled
// within reorderWait, or with more than reorderMax packets held behind
// it, is given up: the frames it cut short are then lost.
type rtpReorder struct {
	started   bool
	next      uint16                 // the sequence number due
	held      map[uint16]*rtp.Packet // packets after the gap
	gapSince  time.Time              // when the current gap was seen
	reordered int64                  // packets that filled a gap
	givenUp   int64                  // sequence numbers never received
}

const (
	reorderWait = time.Second // NACK retransmissions on loopback take a few RTTs
	reorderMax  = 2048
)

// push takes one packet received at now and hands every packet it makes
// due to emit, in order.
func (r *rtpReorder) push(p *rtp.Packet, now time.Time, emit func(*rtp.Packet)) {
	if !r.started {
		r.started, r.next, r.held = true, p.SequenceNumber, map[uint16]*rtp.Packet{}
	}
	switch d := int16(p.SequenceNumber - r.next); {
	case d < 0:
		return // a duplicate, or too late: its gap was given up
	case d > 0:
		if len(r.held) == 0 {
			r.gapSince = now
		}
		r.held[p.SequenceNumber] = p
		if now.Sub(r.gapSince) > reorderWait || len(r.held) > reorderMax {
			r.skip(now, emit)
		}
		return
	}
	if len(r.held) > 0 {
		r.reordered++
	}
	emit(p)
	r.next++
	r.drain(now, emit)
}

// skip gives up the gap: it moves on to the first packet held.
func (r *rtpReorder) skip(now time.Time, emit func(*rtp.Packet)) {
	first := true
	var min uint16
	for seq := range r.held {
		if first || int16(seq-min) < 0 {
			first, min = false, seq
		}
	}
	r.givenUp += int64(uint16(min - r.next))
	r.next = min
	r.drain(now, emit)
}

// drain emits the held packets that are now due.
func (r *rtpReorder) drain(now time.Time, emit func(*rtp.Packet)) {
	for {
		p, ok := r.held[r.next]
		if !ok {
			break
		}
		delete(r.held, r.next)
		emit(p)
		r.next++
	}
	if len(r.held) > 0 {
		r.gapSince = now // the next gap's wait starts now
	}
}
