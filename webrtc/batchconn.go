package webrtc

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
)

// batchConn is the ICE port's UDP socket, whose sends to one peer can be
// held and then written together. A WHEP viewer sends the first packet
// of a unit at once and holds the rest (a keyframe is ~50 packets, to
// each of 100 viewers); Flush writes them with UDP generic segmentation
// offload where the kernel has it (Linux UDP_SEGMENT, 4.18 on): up to
// 64 datagrams of one size in one sendmsg and one trip through the
// stack, about a fifth of the CPU of sending each (measured on loopback
// in BenchmarkBatchConn), and, all viewers' sends being serialized on
// the one socket, the fan-out of a keyframe done before the next frame
// arrives. Where the kernel lacks it, or a segmented send fails (a
// device without checksum offload answers EIO), Flush sends them one by
// one: the datagrams the peer receives are the same either way.
//
// Writes to a peer nobody holds go straight out. ICE's reads and the
// mux's other uses see the *net.UDPConn underneath (pion's
// AddrPortReaderWriter).
type batchConn struct {
	*net.UDPConn
	gso     atomic.Bool  // segmented sends work (unset on the first failure)
	holding atomic.Int32 // peers held: 0 skips the lookup on every write
	failed  func(error)  // a held packet could not be sent (logged)
	// segmented counts segmented sends (each several datagrams).
	segmented atomic.Int64

	mu   sync.Mutex
	held map[netip.AddrPort]*heldSends
	pool sync.Pool // of *heldSends, their buffers kept
}

// heldSends are the datagrams written to one peer since it was held, in
// order, back to back in buf.
type heldSends struct {
	holders int
	buf     []byte
	lens    []int
}

// maxSegments and maxSegmentBytes bound one segmented send: the
// kernel's UDP_MAX_SEGMENTS and what fits one IPv6 UDP datagram.
const (
	maxSegments     = 64
	maxSegmentBytes = 65535 - 8 - 40
)

func newBatchConn(c *net.UDPConn, failed func(error)) *batchConn {
	b := &batchConn{UDPConn: c, failed: failed, held: map[netip.AddrPort]*heldSends{}}
	b.gso.Store(gsoSupported(c))
	return b
}

func peerKey(a netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
}

// ReadFromAddrPort is pion's allocation-free read.
func (c *batchConn) ReadFromAddrPort(b []byte) (int, netip.AddrPort, error) {
	return c.ReadFromUDPAddrPort(b)
}

// WriteToAddrPort sends b to a, or keeps a copy for Flush when a is held.
func (c *batchConn) WriteToAddrPort(b []byte, a netip.AddrPort) (int, error) {
	if c.holding.Load() > 0 {
		c.mu.Lock()
		if h := c.held[peerKey(a)]; h != nil {
			h.buf = append(h.buf, b...)
			h.lens = append(h.lens, len(b))
			c.mu.Unlock()
			return len(b), nil
		}
		c.mu.Unlock()
	}
	return c.WriteToUDPAddrPort(b, a)
}

// WriteTo is WriteToAddrPort for a *net.UDPAddr.
func (c *batchConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	if ua, ok := addr.(*net.UDPAddr); ok {
		return c.WriteToAddrPort(b, ua.AddrPort())
	}
	return c.UDPConn.WriteTo(b, addr)
}

// Hold keeps the datagrams written to a until the matching Flush. Holds
// of one peer nest (two sessions of one remote socket): each Flush sends
// what is held so far.
func (c *batchConn) Hold(a netip.AddrPort) {
	k := peerKey(a)
	c.mu.Lock()
	h := c.held[k]
	if h == nil {
		h, _ = c.pool.Get().(*heldSends)
		if h == nil {
			h = &heldSends{}
		}
		c.held[k] = h
		c.holding.Add(1)
	}
	h.holders++
	c.mu.Unlock()
}

// Flush ends one Hold of a and sends what was held, in order.
func (c *batchConn) Flush(a netip.AddrPort) {
	k := peerKey(a)
	c.mu.Lock()
	h := c.held[k]
	if h == nil {
		c.mu.Unlock()
		return
	}
	h.holders--
	out := h
	if h.holders == 0 {
		delete(c.held, k)
		c.holding.Add(-1)
	} else { // still held by another: what was held so far leaves now
		out = &heldSends{buf: h.buf, lens: h.lens}
		h.buf, h.lens = nil, nil
	}
	c.mu.Unlock()
	if err := c.send(out.buf, out.lens, a); err != nil && c.failed != nil {
		c.failed(err)
	}
	if out == h {
		h.buf, h.lens = h.buf[:0], h.lens[:0]
		c.pool.Put(h)
	}
}

// send writes the datagrams back to back in buf (lengths lens) to a:
// runs of one length (the last of a run may be shorter, as the kernel
// allows) as segmented sends, the others one by one.
func (c *batchConn) send(buf []byte, lens []int, a netip.AddrPort) error {
	var first error
	keep := func(err error) {
		if err != nil && first == nil {
			first = err
		}
	}
	for len(lens) > 0 {
		seg := lens[0]
		n, total := 1, seg
		for n < len(lens) && n < maxSegments && lens[n] <= seg && total+lens[n] <= maxSegmentBytes {
			total += lens[n]
			n++
			if lens[n-1] < seg {
				break // a shorter datagram ends a run
			}
		}
		if n > 1 && c.gso.Load() {
			err := segmentedSend(c.UDPConn, buf[:total], seg, a)
			if err == nil {
				c.segmented.Add(1)
			}
			if err == nil || !errors.Is(err, errSegmentsRefused) {
				keep(err)
				buf, lens = buf[total:], lens[n:]
				continue
			}
			if errors.Is(err, errNoGSO) {
				c.gso.Store(false)
			}
			// and this run goes one by one
		}
		for _, l := range lens[:n] {
			_, err := c.WriteToUDPAddrPort(buf[:l], a)
			keep(err)
			buf = buf[l:]
		}
		lens = lens[n:]
	}
	return first
}

var (
	errSegmentsRefused = errors.New("segmented UDP send refused")
	errNoGSO           = errors.New("no UDP segmentation offload")
)

// segmentedSend is sendSegments (tests count its calls).
var segmentedSend = sendSegments
