//go:build !linux

package bench

import "net"

func enableStamps(*net.UDPConn) bool { return false }

func parseStamp([]byte) (int64, bool) { return 0, false }
