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
// each of 100 viewers); at Flush they go to the socket's one sender
// goroutine, which writes them with UDP generic segmentation offload
// where the kernel has it (Linux UDP_SEGMENT, 4.18 on): up to 64
// datagrams of one size in one sendmsg and one trip through the stack,
// about a fifth of the CPU of sending each (measured on loopback in
// BenchmarkBatchConn). Where the kernel lacks it, or a segmented send
// fails (a device without checksum offload answers EIO), they go one by
// one: the datagrams the peer receives are the same either way.
//
// Writes on one socket are serialized (Go's descriptor lock, in arrival
// order). With one sender for the held packets, a viewer's first packet
// waits behind one of those sendmsgs at most, not behind every other
// viewer's keyframe; and a peer's datagrams still leave in the order they
// were written: while a peer has held packets not yet sent, its next
// writes are held behind them.
//
// Writes to a peer nobody holds go straight out. ICE's reads and the
// mux's other uses see the *net.UDPConn underneath (pion's
// AddrPortReaderWriter).
type batchConn struct {
	*net.UDPConn
	gso     atomic.Bool  // segmented sends work (unset on the first failure)
	holding atomic.Int32 // peers in peers: 0 skips the lookup on every write
	failed  func(error)  // a held packet could not be sent (logged)
	// segmented counts segmented sends (each several datagrams).
	segmented atomic.Int64

	mu    sync.Mutex
	peers map[netip.AddrPort]*peerSends
	queue []*heldSends // batches for the sender, in order
	wake  chan struct{}
	done  chan struct{}
	wg    sync.WaitGroup
	pool  sync.Pool // of *heldSends, their buffers kept
}

// peerSends is a peer with held datagrams: it stays in batchConn.peers
// while it is held, or has held datagrams not yet sent.
type peerSends struct {
	holders int        // Holds not yet flushed
	cur     *heldSends // datagrams held since the last batch was queued
	queued  int        // its batches queued for the sender or being sent
}

// heldSends are datagrams to one peer, in order, back to back in buf,
// and the functions to run once they are sent (Sent).
type heldSends struct {
	to    netip.AddrPort
	buf   []byte
	lens  []int
	after []func()
}

// maxSegments and maxSegmentBytes bound one segmented send: the
// kernel's UDP_MAX_SEGMENTS and what fits one IPv6 UDP datagram.
const (
	maxSegments     = 64
	maxSegmentBytes = 65535 - 8 - 40
)

func newBatchConn(c *net.UDPConn, failed func(error)) *batchConn {
	b := &batchConn{UDPConn: c, failed: failed, peers: map[netip.AddrPort]*peerSends{},
		wake: make(chan struct{}, 1), done: make(chan struct{})}
	b.gso.Store(gsoSupported(c))
	b.wg.Add(1)
	go b.sender()
	return b
}

// Close stops the sender (what is still queued is not sent) and closes
// the socket.
func (c *batchConn) Close() error {
	c.mu.Lock()
	select {
	case <-c.done:
	default:
		close(c.done)
	}
	c.mu.Unlock()
	c.wg.Wait()
	return c.UDPConn.Close()
}

func peerKey(a netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
}

// ReadFromAddrPort is pion's allocation-free read.
func (c *batchConn) ReadFromAddrPort(b []byte) (int, netip.AddrPort, error) {
	return c.ReadFromUDPAddrPort(b)
}

// WriteToAddrPort sends b to a, or keeps a copy when a is held or has
// held datagrams not yet sent.
func (c *batchConn) WriteToAddrPort(b []byte, a netip.AddrPort) (int, error) {
	if c.holding.Load() > 0 {
		c.mu.Lock()
		if p := c.peers[peerKey(a)]; p != nil {
			if p.cur == nil {
				p.cur = c.batch(a)
			}
			p.cur.buf = append(p.cur.buf, b...)
			p.cur.lens = append(p.cur.lens, len(b))
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
// of one peer nest (two sessions of one remote socket): what they held
// leaves at the last Flush.
func (c *batchConn) Hold(a netip.AddrPort) {
	k := peerKey(a)
	c.mu.Lock()
	p := c.peers[k]
	if p == nil {
		p = &peerSends{}
		c.peers[k] = p
		c.holding.Add(1)
	}
	p.holders++
	c.mu.Unlock()
}

// Flush ends one Hold of a; at the last, what was held goes to the
// sender, and leaves after what the sender has of a already.
func (c *batchConn) Flush(a netip.AddrPort) {
	k := peerKey(a)
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.peers[k]
	if p == nil || p.holders == 0 {
		return
	}
	p.holders--
	c.releaseLocked(k, p)
}

// Sent runs f once every datagram written to a so far has been handed to
// the kernel: at once when none waits (f must not call into c).
func (c *batchConn) Sent(a netip.AddrPort, f func()) {
	k := peerKey(a)
	c.mu.Lock()
	p := c.peers[k]
	if p == nil {
		c.mu.Unlock()
		f()
		return
	}
	if p.cur == nil {
		p.cur = c.batch(a)
	}
	p.cur.after = append(p.cur.after, f)
	c.mu.Unlock()
}

// releaseLocked queues p's held datagrams for the sender once nothing of
// p is held or queued, and forgets p when it has none (c.mu held).
func (c *batchConn) releaseLocked(k netip.AddrPort, p *peerSends) {
	if p.holders > 0 || p.queued > 0 {
		return
	}
	if p.cur == nil || len(p.cur.lens) == 0 {
		if p.cur != nil {
			for _, f := range p.cur.after {
				f()
			}
			c.recycle(p.cur)
		}
		delete(c.peers, k)
		c.holding.Add(-1)
		return
	}
	p.queued++
	c.queue = append(c.queue, p.cur)
	p.cur = nil
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func (c *batchConn) batch(to netip.AddrPort) *heldSends {
	h, _ := c.pool.Get().(*heldSends)
	if h == nil {
		h = &heldSends{}
	}
	h.to = to
	return h
}

func (c *batchConn) recycle(h *heldSends) {
	clear(h.after)
	h.buf, h.lens, h.after = h.buf[:0], h.lens[:0], h.after[:0]
	c.pool.Put(h)
}

// sender writes the queued batches, in order, until Close.
func (c *batchConn) sender() {
	defer c.wg.Done()
	for {
		select {
		case <-c.wake:
		case <-c.done:
			return
		}
		c.mu.Lock()
		q := c.queue
		c.queue = nil
		c.mu.Unlock()
		for _, h := range q {
			if err := c.send(h.buf, h.lens, h.to); err != nil && c.failed != nil {
				c.failed(err)
			}
			for _, f := range h.after {
				f()
			}
			k := peerKey(h.to)
			c.mu.Lock()
			if p := c.peers[k]; p != nil {
				p.queued--
				c.releaseLocked(k, p)
			}
			c.mu.Unlock()
			c.recycle(h)
		}
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
