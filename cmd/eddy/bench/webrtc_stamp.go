package bench

import (
	"encoding/binary"
	"net"
	"net/netip"
	"sync"
)

// stampConn is a WHEP viewer's UDP socket, read through pion's ICE mux,
// that notes when the kernel received each RTP packet (SO_TIMESTAMPNS,
// where the system has it): on loopback the packet is queued to this
// socket inside the server's send, so the stamp is when the server sent
// it, not when the bench — 100 viewers sharing the cores with the server
// — got round to decrypting and reading it.
type stampConn struct {
	*net.UDPConn
	oob []byte // read by the mux's one reading goroutine

	mu    sync.Mutex
	stamp [4096]struct {
		seq uint16
		ok  bool
		at  int64
	}
}

func newStampConn() (*stampConn, error) {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, err
	}
	s := &stampConn{UDPConn: c}
	if enableStamps(c) {
		s.oob = make([]byte, 128)
	}
	return s, nil
}

// ReadFromAddrPort is pion's allocation-free read; it notes the stamp of
// an RTP packet (RFC 5761: first byte 128–191, second byte not 192–223,
// which is RTCP) by sequence number.
func (c *stampConn) ReadFromAddrPort(b []byte) (int, netip.AddrPort, error) {
	if c.oob == nil {
		return c.ReadFromUDPAddrPort(b)
	}
	n, oobn, _, addr, err := c.ReadMsgUDPAddrPort(b, c.oob)
	if err == nil && n >= 12 && b[0]>>6 == 2 && (b[1] < 192 || b[1] > 223) {
		if at, ok := parseStamp(c.oob[:oobn]); ok {
			seq := binary.BigEndian.Uint16(b[2:4])
			c.mu.Lock()
			e := &c.stamp[int(seq)%len(c.stamp)]
			e.seq, e.ok, e.at = seq, true, at
			c.mu.Unlock()
		}
	}
	return n, addr, err
}

// ReadFrom is ReadFromAddrPort for net.PacketConn.
func (c *stampConn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, a, err := c.ReadFromAddrPort(b)
	if err != nil {
		return n, nil, err
	}
	return n, net.UDPAddrFromAddrPort(a), nil
}

// WriteToAddrPort is pion's allocation-free write.
func (c *stampConn) WriteToAddrPort(b []byte, a netip.AddrPort) (int, error) {
	return c.WriteToUDPAddrPort(b, a)
}

// stampOf returns the kernel's receive time (Unix ns) of the RTP packet
// with sequence number seq, when it was stamped.
func (c *stampConn) stampOf(seq uint16) (int64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.stamp[int(seq)%len(c.stamp)]
	return e.at, e.ok && e.seq == seq
}
