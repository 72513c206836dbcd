//go:build !linux

package webrtc

import (
	"errors"
	"net"
	"net/netip"
)

func gsoSupported(*net.UDPConn) bool { return false }

func sendSegments(*net.UDPConn, []byte, int, netip.AddrPort) error {
	return errors.Join(errNoGSO, errSegmentsRefused)
}
