//go:build unix

package rtsp

import (
	"io"
	"os"
	"syscall"
)

// nonblockReads: burstReader reads sockets with readNonblock.
const nonblockReads = true

// readNonblock reads from fd, a socket the runtime keeps non-blocking:
// wait is true when it has no bytes yet.
func readNonblock(fd uintptr, p []byte) (n int, wait bool, err error) {
	for {
		n, err := syscall.Read(int(fd), p)
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			return 0, true, nil
		case err != nil:
			return 0, false, os.NewSyscallError("read", err)
		case n == 0:
			return 0, false, io.EOF
		}
		return n, false, nil
	}
}
