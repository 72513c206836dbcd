package webrtc

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"
)

// gsoSupported reports whether the kernel segments UDP sends on c: it
// knows the UDP_SEGMENT option (Linux 4.18 on). An older kernel would
// ignore the control message and send one oversized datagram, so it is
// asked first.
func gsoSupported(c *net.UDPConn) bool {
	rc, err := c.SyscallConn()
	if err != nil {
		return false
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		_, serr = unix.GetsockoptInt(int(fd), unix.IPPROTO_UDP, unix.UDP_SEGMENT)
	}); err != nil {
		return false
	}
	return serr == nil
}

// sendSegments sends buf to a as datagrams of seg bytes (the last may be
// shorter) in one sendmsg with a UDP_SEGMENT control message. Its error
// wraps errSegmentsRefused when the datagrams should go one by one
// instead, and errNoGSO too when no segmented send will work (EIO: the
// device has no checksum offload, which segmentation needs).
func sendSegments(c *net.UDPConn, buf []byte, seg int, a netip.AddrPort) error {
	var oob [unix.SizeofCmsghdr + 8]byte // CmsgSpace(2), aligned
	h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
	h.Level, h.Type = unix.SOL_UDP, unix.UDP_SEGMENT
	h.SetLen(unix.CmsgLen(2))
	binary.NativeEndian.PutUint16(oob[unix.CmsgLen(0):], uint16(seg))
	_, _, err := c.WriteMsgUDPAddrPort(buf, oob[:unix.CmsgSpace(2)], a)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.EIO):
		return fmt.Errorf("%w: %w: %w", errNoGSO, errSegmentsRefused, err)
	case errors.Is(err, unix.EINVAL), errors.Is(err, unix.EMSGSIZE):
		return fmt.Errorf("%w: %w", errSegmentsRefused, err)
	}
	return err
}
