package webrtc

import (
	"sync"
	"testing"

	"github.com/pion/rtp"

	"github.com/eddy-video/eddy/media"
)

// TestSharedPacker: a unit is packetized once however many viewers ask
// for it, at once or later, while it is in the ring; a unit asked for
// with keep false (a replay) is packetized without displacing the ring.
func TestSharedPacker(t *testing.T) {
	var mu sync.Mutex
	calls := map[*media.AccessUnit]int{}
	p := &sharedPacker{pack: func(au *media.AccessUnit) ([]*rtp.Packet, error) {
		mu.Lock()
		calls[au]++
		mu.Unlock()
		return []*rtp.Packet{{Payload: au.Payload[0]}}, nil
	}}
	units := make([]*media.AccessUnit, packRing+10)
	for i := range units {
		units[i] = &media.AccessUnit{Payload: [][]byte{{byte(i)}}}
	}
	for _, au := range units {
		var wg sync.WaitGroup
		got := make([][]*rtp.Packet, 50)
		for v := range got {
			wg.Go(func() {
				pkts, err := p.packets(au, true)
				if err != nil {
					t.Error(err)
				}
				got[v] = pkts
			})
		}
		wg.Wait()
		for v := range got {
			if len(got[v]) != 1 || got[v][0] != got[0][0] || got[v][0].Payload[0] != au.Payload[0][0] {
				t.Fatalf("viewer %d got other packets than viewer 0", v)
			}
		}
	}
	for i, au := range units {
		if calls[au] != 1 {
			t.Errorf("unit %d packetized %d times", i, calls[au])
		}
	}
	// The newest packRing units are kept; older ones are packetized again.
	if _, err := p.packets(units[len(units)-packRing], true); err != nil || calls[units[len(units)-packRing]] != 1 {
		t.Errorf("a unit in the ring packetized again")
	}
	old := units[0]
	if _, err := p.packets(old, false); err != nil || calls[old] != 2 {
		t.Errorf("a unit out of the ring: %d packetizations, want 2", calls[old])
	}
	if _, err := p.packets(old, false); err != nil || calls[old] != 3 {
		t.Errorf("a replayed unit was kept (%d packetizations, want 3)", calls[old])
	}
	if e := p.find(units[len(units)-packRing]); e == nil {
		t.Error("a replay displaced a live unit from the ring")
	}
}
