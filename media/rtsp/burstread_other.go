//go:build !unix

package rtsp

// nonblockReads: burstReader reads sockets with readNonblock (not here:
// its burst reads block in their pooled buffer).
const nonblockReads = false

func readNonblock(uintptr, []byte) (int, bool, error) { panic("unreachable") }
