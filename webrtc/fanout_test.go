package webrtc

import (
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/eddy-video/eddy/media"
	"github.com/eddy-video/eddy/media/rtpcodec"
)

// countingPacker returns a packetizer of one packet per unit that counts
// its calls per unit.
func countingPacker() (rtpcodec.Packetizer, func(*media.AccessUnit) int) {
	var mu sync.Mutex
	calls := map[*media.AccessUnit]int{}
	pack := func(au *media.AccessUnit) ([]*rtp.Packet, error) {
		mu.Lock()
		calls[au]++
		mu.Unlock()
		return []*rtp.Packet{{Payload: au.Payload[0]}}, nil
	}
	return pack, func(au *media.AccessUnit) int {
		mu.Lock()
		defer mu.Unlock()
		return calls[au]
	}
}

// TestSharedPacker: a unit is packetized once however many viewers ask
// for it, at once or later, while it is in the ring; a unit asked for
// with keep false (a replay), or one that left the ring, is packetized
// with the viewer's own packetizer, not the shared one, and not stored.
func TestSharedPacker(t *testing.T) {
	pack, calls := countingPacker()
	own, ownCalls := countingPacker()
	p := &sharedPacker{pack: pack}
	units := make([]*media.AccessUnit, packRing+10)
	for i := range units {
		units[i] = &media.AccessUnit{DTS: int64(i) * 3600, Payload: [][]byte{{byte(i)}}}
	}
	for _, au := range units {
		var wg sync.WaitGroup
		got := make([][]*rtp.Packet, 50)
		for v := range got {
			wg.Go(func() {
				pkts, err := p.packets(au, true, own)
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
		if calls(au) != 1 || ownCalls(au) != 0 {
			t.Errorf("unit %d packetized %d times shared, %d own", i, calls(au), ownCalls(au))
		}
	}
	// The newest packRing units are kept; older ones are packetized again,
	// by the viewer.
	if _, err := p.packets(units[len(units)-packRing], true, own); err != nil || calls(units[len(units)-packRing]) != 1 {
		t.Errorf("a unit in the ring packetized again")
	}
	old := units[0]
	for i, keep := range []bool{false, true, true} { // a replay, a lagging viewer
		if _, err := p.packets(old, keep, own); err != nil || calls(old) != 1 || ownCalls(old) != i+1 {
			t.Errorf("a unit out of the ring (keep %v): %d shared, %d own packetizations, want 1, %d", keep, calls(old), ownCalls(old), i+1)
		}
	}
	// A replay of a unit never seen live is not kept either.
	replay := &media.AccessUnit{DTS: units[len(units)-1].DTS + 3600, Payload: [][]byte{{0xff}}}
	if _, err := p.packets(replay, false, own); err != nil || calls(replay) != 0 || ownCalls(replay) != 1 || p.find(replay) != nil {
		t.Errorf("a replay packetized by the shared packetizer or kept")
	}
	if e := p.find(units[len(units)-packRing]); e == nil {
		t.Error("an old unit displaced a live unit from the ring")
	}
	if n := p.next.Load(); n != uint32(len(units)) {
		t.Errorf("%d units stored, want %d: an old unit was inserted as newest", n, len(units))
	}
}

func vp9PictureID(t *testing.T, payload []byte) uint16 {
	t.Helper()
	if len(payload) < 3 || payload[0]&0x80 == 0 || payload[1]&0x80 == 0 {
		t.Fatalf("no 15-bit picture ID in % x", payload[:min(len(payload), 4)])
	}
	return uint16(payload[1]&0x7f)<<8 | uint16(payload[2])
}

var vp9Track = media.Track{ID: 0, Kind: media.Video, Codec: media.CodecVP9, ClockRate: 90000}

func vp9Frame(dts int64) *media.AccessUnit {
	return &media.AccessUnit{Track: 0, DTS: dts, PTS: dts, Payload: [][]byte{append([]byte{0x86, 0x00, 0x40, 0x92, 0x88}, make([]byte, 100)...)}}
}

// A live viewer's consecutive VP9 units carry consecutive picture IDs; a
// GOP replay for a viewer joining does not advance the live packetizer.
func TestSharedPackerReplayKeepsPictureIDs(t *testing.T) {
	pack, err := rtpcodec.NewPacketizer(vp9Track, 96, 1200)
	if err != nil {
		t.Fatal(err)
	}
	own, err := rtpcodec.NewPacketizer(vp9Track, 96, 1200) // the joining viewer's
	if err != nil {
		t.Fatal(err)
	}
	p := &sharedPacker{pack: pack}
	live1, live2 := vp9Frame(0), vp9Frame(3600*11)
	pk1, err := p.packets(live1, true, own)
	if err != nil || len(pk1) == 0 {
		t.Fatalf("packets: %v (%d)", err, len(pk1))
	}
	for i := range 10 { // a new viewer's GOP replay (keep false)
		if _, err := p.packets(vp9Frame(3600*int64(i+1)), false, own); err != nil {
			t.Fatal(err)
		}
	}
	pk2, err := p.packets(live2, true, own)
	if err != nil || len(pk2) == 0 {
		t.Fatalf("packets: %v (%d)", err, len(pk2))
	}
	id1, id2 := vp9PictureID(t, pk1[0].Payload), vp9PictureID(t, pk2[0].Payload)
	if id2 != (id1+1)&0x7fff {
		t.Errorf("live units' picture IDs %d then %d: a replay for another viewer advanced the shared packetizer", id1, id2)
	}
}

// TestWHEPVP9PictureIDsPerViewer: with a viewer already watching, a
// viewer joining gets the GOP replay then the live units with picture
// IDs one apart throughout (a VP9 frame refers to the previous picture
// ID), and the first viewer's IDs stay consecutive across the join. The
// GOP is longer than the ring: its first units are packetized again.
func TestWHEPVP9PictureIDsPerViewer(t *testing.T) {
	srv := &Server{}
	hub := &media.Hub{}
	newSender := func() *sender {
		t.Helper()
		o, err := newOutTrack(vp9Track)
		if err != nil {
			t.Fatal(err)
		}
		s := &sender{out: o}
		if s.pack, err = srv.packer(hub, o); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { srv.releasePacker(s.pack) })
		return s
	}
	// ids returns the picture IDs of au's packets as s sends them.
	ids := func(s *sender, au *media.AccessUnit, live bool) []uint16 {
		t.Helper()
		pkts, err := s.packets(au, live)
		if err != nil || len(pkts) == 0 {
			t.Fatalf("packets: %v (%d)", err, len(pkts))
		}
		var ids []uint16
		for _, p := range pkts {
			ids = append(ids, vp9PictureID(t, p.Payload))
		}
		return ids
	}
	const gop = packRing + 16
	units := make([]*media.AccessUnit, gop+20)
	for i := range units {
		units[i] = vp9Frame(int64(i) * 3600)
	}
	// check wants each unit's packets to share a picture ID, one more
	// than the previous unit's.
	check := func(name string, got [][]uint16) {
		t.Helper()
		for i, u := range got {
			for _, id := range u {
				if id != u[0] {
					t.Errorf("%s: unit %d's packets carry picture IDs %v", name, i, u)
				}
			}
			if i > 0 && u[0] != (got[i-1][0]+1)&0x7fff {
				t.Errorf("%s: unit %d has picture ID %d after %d", name, i, u[0], got[i-1][0])
			}
		}
	}
	a, b := newSender(), newSender()
	var gotA, gotB [][]uint16
	for _, au := range units[:gop] {
		gotA = append(gotA, ids(a, au, true))
	}
	for _, au := range units[:gop] { // b joins: the GOP replay
		gotB = append(gotB, ids(b, au, false))
	}
	for _, au := range units[gop:] {
		gotA = append(gotA, ids(a, au, true))
		gotB = append(gotB, ids(b, au, true))
	}
	check("first viewer", gotA)
	check("joining viewer", gotB)
}

// TestWHEPSharesH264Packets: the live units of an H.264 track are
// packetized once for all viewers; a replay is the joining viewer's own.
func TestWHEPSharesH264Packets(t *testing.T) {
	srv := &Server{}
	hub := &media.Hub{}
	tr := media.Track{ID: 0, Kind: media.Video, Codec: media.CodecH264, ClockRate: 90000}
	var senders []*sender
	for range 2 {
		o, err := newOutTrack(tr)
		if err != nil {
			t.Fatal(err)
		}
		s := &sender{out: o}
		if s.pack, err = srv.packer(hub, o); err != nil || s.pack == nil {
			t.Fatalf("packer: %v", err)
		}
		defer srv.releasePacker(s.pack)
		senders = append(senders, s)
	}
	if senders[0].pack != senders[1].pack {
		t.Fatal("two viewers of a hub track got different packers")
	}
	au := &media.AccessUnit{Track: 0, DTS: 3600, Key: true, Payload: [][]byte{{0x65, 1, 2, 3}}}
	p0, err0 := senders[0].packets(au, true)
	p1, err1 := senders[1].packets(au, true)
	if err0 != nil || err1 != nil || len(p0) != 1 || len(p1) != 1 || p0[0] != p1[0] {
		t.Errorf("live unit not shared: %v %v %v %v", p0, p1, err0, err1)
	}
	old := &media.AccessUnit{Track: 0, DTS: 0, Key: true, Payload: [][]byte{{0x65, 4, 5, 6}}}
	r, err := senders[1].packets(old, false)
	if err != nil || len(r) != 1 || senders[0].pack.find(old) != nil {
		t.Errorf("replay: %v %v, kept %v", r, err, senders[0].pack.find(old) != nil)
	}
}

// twoPackets is a packetizer of two packets per unit.
func twoPackets(au *media.AccessUnit) ([]*rtp.Packet, error) {
	return []*rtp.Packet{{Payload: au.Payload[0]}, {Payload: au.Payload[0]}}, nil
}

// TestSharedPackerFirstPhase: a viewer that has sent its first packet of
// a live unit waits until every playing viewer has sent theirs; when one
// never does (it left, or lags), the others go on firstPhase after the
// unit was packetized; a unit of one packet, or one not in the ring, is
// not waited for (the caller yields).
func TestSharedPackerFirstPhase(t *testing.T) {
	// A phase far longer than the test: only the last viewer releases.
	p := &sharedPacker{pack: twoPackets, phase: time.Hour}
	p.playing.Store(3)
	au := &media.AccessUnit{DTS: 1, Payload: [][]byte{{1}}}
	if _, err := p.packets(au, true, twoPackets); err != nil {
		t.Fatal(err)
	}
	released := make(chan int, 3)
	for v := range 2 {
		go func() {
			if !p.sentFirst(au) {
				t.Error("a unit in the ring was not waited for")
			}
			released <- v
		}()
	}
	select {
	case v := <-released:
		t.Fatalf("viewer %d went on before the third sent its first packet", v)
	case <-time.After(50 * time.Millisecond):
	}
	if !p.sentFirst(au) { // the third: opens the gate, does not wait
		t.Fatal("the last viewer's first packet was not counted")
	}
	for range 2 {
		select {
		case <-released:
		case <-time.After(5 * time.Second):
			t.Fatal("the waiting viewers were not released by the last one")
		}
	}

	// A viewer that never sends: the others go on after the phase.
	p.phase = 20 * time.Millisecond
	au2 := &media.AccessUnit{DTS: 2, Payload: [][]byte{{2}}}
	start := time.Now()
	if _, err := p.packets(au2, true, twoPackets); err != nil {
		t.Fatal(err)
	}
	p.sentFirst(au2)
	p.sentFirst(au2)
	if d := time.Since(start); d < p.phase || d > 5*time.Second {
		t.Fatalf("two of three viewers went on after %v, want about %v", d, p.phase)
	}

	// One packet: nothing to wait for.
	one := &sharedPacker{pack: func(au *media.AccessUnit) ([]*rtp.Packet, error) {
		return []*rtp.Packet{{Payload: au.Payload[0]}}, nil
	}}
	one.playing.Store(2)
	if _, err := one.packets(au, true, twoPackets); err != nil {
		t.Fatal(err)
	}
	if one.sentFirst(au) {
		t.Fatal("a unit of one packet was waited for")
	}
	if p.sentFirst(&media.AccessUnit{DTS: 3}) {
		t.Fatal("a unit not in the ring was waited for")
	}
}
