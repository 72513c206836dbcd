package bench

import (
	"slices"
	"testing"
	"time"

	"github.com/pion/rtp"
)

func TestRTPReorder(t *testing.T) {
	var r rtpReorder
	var got []uint16
	emit := func(p *rtp.Packet) { got = append(got, p.SequenceNumber) }
	t0 := time.Unix(0, 0)
	push := func(seq uint16, at time.Duration) {
		r.push(&rtp.Packet{Header: rtp.Header{SequenceNumber: seq}}, t0.Add(at), emit)
	}
	// Across the wrap: 65534 late (a NACK's retransmission), 65535 in
	// order, 0 twice (a duplicate), then 2 never comes.
	push(65533, 0)
	push(65535, 10*time.Millisecond)
	push(0, 20*time.Millisecond)
	push(65534, 50*time.Millisecond)
	push(0, 60*time.Millisecond)
	push(1, 70*time.Millisecond)
	push(3, 80*time.Millisecond)
	push(4, 90*time.Millisecond)
	if want := []uint16{65533, 65534, 65535, 0, 1}; !slices.Equal(got, want) {
		t.Fatalf("emitted %v, want %v (3 and 4 held behind the gap at 2)", got, want)
	}
	push(5, 90*time.Millisecond+reorderWait)
	if want := []uint16{65533, 65534, 65535, 0, 1, 3, 4, 5}; !slices.Equal(got, want) || r.givenUp != 1 || r.reordered != 1 {
		t.Errorf("emitted %v, %d given up, %d reordered; want %v, 1, 1", got, r.givenUp, r.reordered, want)
	}
	push(2, 2*reorderWait) // too late
	if len(got) != 8 {
		t.Errorf("a packet after its gap was given up was emitted: %v", got)
	}
}
