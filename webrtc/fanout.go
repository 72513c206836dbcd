package webrtc

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	pion "github.com/pion/webrtc/v4"

	"github.com/eddy-video/eddy/media"
	"github.com/eddy-video/eddy/media/rtpcodec"
)

// The WHEP fan-out: every viewer of a publication sends the same access
// units, so each unit is packetized once per hub track and its RTP
// packets are shared by the viewers, each writing them with its own
// sequence numbers, timestamp, SSRC and payload type. Before, each viewer
// ran its own packetizer: with 100 viewers of a 2 Mbit/s camera that was
// 48% of the server's allocations (rtph264 FU-A payloads, 100 copies of
// each) and the packets' payload bytes were copied again per viewer into
// the NACK responder's buffers (85 MB of live heap, 0.85 MB per viewer).
// Shared payloads are never written to (SRTP encrypts into its own
// buffer), so the NACK responder keeps references to them instead of
// copies (nack.DisableCopy, see newAPI).

// packRing is how many recent units of a track keep their packets for
// the viewers that have not sent them yet: 2.5 s of 25 fps video, more
// than a live viewer lags on a loaded server (one that lags more
// packetizes again; 16 units missed often with 100 viewers on two busy
// cores). The packets of a large unit are its bytes again (FU-A payloads
// are copies): at 2 Mbit/s about 640 KB per track, shared by all viewers.
const packRing = 64

// firstPhase bounds how long a viewer that has sent its first packet of
// a unit waits for the other viewers to send theirs (see
// sharedPacker.sentFirst).
const firstPhase = 3 * time.Millisecond

// packed is one unit's packets, timestamps relative to the unit.
type packed struct {
	au   *media.AccessUnit
	pkts []*rtp.Packet
	err  error

	// firsts counts the viewers that have sent their first packet of the
	// unit; gate is closed once every playing viewer has, or firstPhase
	// after the unit was packetized (open); nil for a unit of one packet.
	firsts atomic.Int32
	gate   chan struct{}
	opened atomic.Bool
}

func (e *packed) open() {
	if e.opened.CompareAndSwap(false, true) {
		close(e.gate)
	}
}

// sharedPacker packetizes the units of one hub track once for all of
// its WHEP viewers, with a packetizer of its own that only ever sees the
// live units, in order. A unit only one viewer sends (the replay of a GOP
// to a viewer joining, a unit a lagging viewer asks for after it left the
// ring) is packetized with that viewer's packetizer and not kept: the
// shared packetizer and the ring are not moved by one viewer's past.
// Codecs whose packetizer numbers the units in the payload (VP9's picture
// ID) are not shared at all (see shareable).
type sharedPacker struct {
	key  packerKey
	refs int // guarded by Server.packMu

	// playing counts the viewers sending live units (sentFirst waits for
	// them); phase, when set, replaces firstPhase (tests).
	playing atomic.Int32
	phase   time.Duration

	mu   sync.Mutex // serializes the packetizer and ring writes
	pack rtpcodec.Packetizer
	ring [packRing]atomic.Pointer[packed]
	next atomic.Uint32 // units stored; written under mu
}

type packerKey struct {
	hub   *media.Hub
	track int
	size  int // the payload size of the outTrack's packetizer
}

// packets returns au's packets, made once and shared: they, their
// headers and payloads must not be modified. keep is false for a unit
// only this viewer sends (a replay); such a unit, and one older than the
// ring's newest that is no longer in it, is packetized with own, the
// viewer's packetizer, and not stored.
func (p *sharedPacker) packets(au *media.AccessUnit, keep bool, own rtpcodec.Packetizer) ([]*rtp.Packet, error) {
	if e := p.find(au); e != nil {
		return e.pkts, e.err
	}
	if !keep {
		return own(au)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if e := p.find(au); e != nil { // made while this one waited for the lock
		return e.pkts, e.err
	}
	n := p.next.Load()
	if e := p.ring[(n-1)%packRing].Load(); e != nil && au.DTS <= e.au.DTS {
		// Older than the newest unit: it left the ring.
		return own(au)
	}
	pkts, err := p.pack(au)
	e := &packed{au: au, pkts: pkts, err: err}
	if len(pkts) > 1 { // a unit of one packet has no rest to hold back
		e.gate = make(chan struct{})
		d := p.phase
		if d == 0 {
			d = firstPhase
		}
		time.AfterFunc(d, e.open)
	}
	p.ring[n%packRing].Store(e)
	p.next.Store(n + 1)
	return pkts, err
}

// sentFirst is called by a viewer that has sent the first packet of the
// live unit au, before it sends the rest: it waits until every playing
// viewer has sent its first packet of au (at most until firstPhase after
// au was packetized). The first packets are what a viewer's latency is
// measured by, and the rest of a unit is most of its cost (a keyframe is
// ~50 packets a viewer, each encrypted for that viewer): on a few cores,
// viewers that went on to their rest would delay the first packets of
// those not yet woken (Go's scheduler runs a yielding goroutine again
// before it steals another core's work), while viewers that wait leave
// both to the first packets. It reports false when au is not in the ring
// (the caller yields instead).
func (p *sharedPacker) sentFirst(au *media.AccessUnit) bool {
	e := p.find(au)
	if e == nil || e.gate == nil {
		return false
	}
	if e.firsts.Add(1) >= p.playing.Load() {
		e.open()
		return true
	}
	<-e.gate
	return true
}

// find looks au up in the ring, newest first (where live viewers find
// theirs).
func (p *sharedPacker) find(au *media.AccessUnit) *packed {
	n := p.next.Load()
	for i := uint32(1); i <= packRing; i++ {
		if e := p.ring[(n-i)%packRing].Load(); e != nil && e.au == au {
			return e
		}
	}
	return nil
}

// shareable reports whether the packets of a codec's units can be
// shared by viewers. rtpvp9's packetizer writes a picture ID into every
// payload, one more for each unit it packetizes, and a VP9 frame that is
// not a keyframe refers to the previous picture ID: each viewer must see
// consecutive IDs, so each VP9 viewer packetizes its units itself (as
// every viewer did before the fan-out). The other packetizers keep no
// per-stream state in the payload (sequence numbers and timestamps are
// rewritten per viewer by localTrack.write).
func shareable(codec string) bool {
	return codec != media.CodecVP9
}

// packer returns the shared packer of o's hub track, or nil when o's
// codec is not shared (each viewer packetizes with o.pack); release it
// when the session ends.
func (s *Server) packer(hub *media.Hub, o *outTrack) (*sharedPacker, error) {
	if !shareable(o.track.Codec) {
		return nil, nil
	}
	k := packerKey{hub: hub, track: o.track.ID, size: o.size}
	s.packMu.Lock()
	defer s.packMu.Unlock()
	if s.packers == nil {
		s.packers = map[packerKey]*sharedPacker{}
	}
	p := s.packers[k]
	if p == nil {
		pack, err := rtpcodec.NewPacketizer(o.track, 96, o.size)
		if err != nil {
			return nil, err
		}
		p = &sharedPacker{key: k, pack: pack}
		s.packers[k] = p
	}
	p.refs++
	return p, nil
}

func (s *Server) releasePacker(p *sharedPacker) {
	if p == nil {
		return
	}
	s.packMu.Lock()
	defer s.packMu.Unlock()
	p.refs--
	if p.refs == 0 && s.packers[p.key] == p {
		delete(s.packers, p.key)
	}
}

// localTrack is a WHEP session's sending track. It binds like pion's
// TrackLocalStaticRTP (the embedded track matches the codec) and writes
// shared packets straight to the peer connection's stream, each with a
// header of its own: the NACK responder keeps the header and payload it
// was given, so neither may be reused (TrackLocalStaticRTP reuses its
// header, which is why the responder copied before).
type localTrack struct {
	*pion.TrackLocalStaticRTP
	bound atomic.Pointer[trackBinding]
}

type trackBinding struct {
	id   string
	ssrc uint32
	pt   uint8
	w    pion.TrackLocalWriter
}

func newLocalTrack(c pion.RTPCodecCapability, id, streamID string) (*localTrack, error) {
	t, err := pion.NewTrackLocalStaticRTP(c, id, streamID)
	if err != nil {
		return nil, err
	}
	return &localTrack{TrackLocalStaticRTP: t}, nil
}

// Bind implements pion.TrackLocal.
func (t *localTrack) Bind(ctx pion.TrackLocalContext) (pion.RTPCodecParameters, error) {
	c, err := t.TrackLocalStaticRTP.Bind(ctx)
	if err == nil {
		t.bound.Store(&trackBinding{id: ctx.ID(), ssrc: uint32(ctx.SSRC()), pt: uint8(c.PayloadType), w: ctx.WriteStream()})
	}
	return c, err
}

// Unbind implements pion.TrackLocal.
func (t *localTrack) Unbind(ctx pion.TrackLocalContext) error {
	if b := t.bound.Load(); b != nil && b.id == ctx.ID() {
		t.bound.CompareAndSwap(b, nil)
	}
	return t.TrackLocalStaticRTP.Unbind(ctx)
}

// write sends the shared packet p with sequence number seq and timestamp
// p's plus ts. Before the track is bound (negotiation) nothing is sent,
// as with TrackLocalStaticRTP.
func (t *localTrack) write(p *rtp.Packet, seq uint16, ts uint32) error {
	b := t.bound.Load()
	if b == nil {
		return nil
	}
	h := &rtp.Header{Version: 2, Marker: p.Marker, PayloadType: b.pt, SequenceNumber: seq,
		Timestamp: p.Timestamp + ts, SSRC: b.ssrc, Padding: p.Padding}
	// As pion's Packet.Marshal: Header.PaddingSize, else the deprecated
	// Packet.PaddingSize (the packetizers emit no padding; this keeps any).
	h.PaddingSize = p.Header.PaddingSize
	if h.PaddingSize == 0 {
		h.PaddingSize = p.PaddingSize
	}
	_, err := b.w.WriteRTP(h, p.Payload)
	return err
}
