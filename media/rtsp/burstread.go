package rtsp

import (
	"errors"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// burstBufferSize is the size of the buffers a burstReader reads a burst
// into: a keyframe's worth of interleaved packets at the bitrates cameras
// send, read by one read(2).
const burstBufferSize = 64 << 10

// burstBuffers are shared by every connection: a connection holds one only
// while it has unread bytes of a burst, so their number is about the
// number of connections being read at the same time, not of connections.
var burstBuffers = sync.Pool{New: func() any { b := make([]byte, burstBufferSize); return &b }}

// burstsHeld counts the pooled buffers taken and not put back (tests
// read it).
var burstsHeld atomic.Int64

func getBurst() *[]byte {
	burstsHeld.Add(1)
	return burstBuffers.Get().(*[]byte)
}

func putBurst(b *[]byte) {
	burstsHeld.Add(-1)
	burstBuffers.Put(b)
}

// burstReader is what gortsplib reads an RTSP connection through. Two of
// gortsplib's per-packet costs are in the socket layer underneath it: its
// connection reads through a 4 KiB bufio.Reader, so that a burst of
// interleaved RTP packets (a video frame) takes several read(2) calls, and
// while recording it sets a read deadline before every packet (a runtime
// timer update each time). Measured at 100 published streams, read(2)
// was ~10% of the server's CPU and deadline updates ~1.7%. burstReader
// cuts both without delaying anything:
//
//   - A read that fills gortsplib's buffer whole means more bytes are
//     probably waiting: the next read takes all of them at once into a
//     pooled 64 KiB buffer and hands them out without further system
//     calls. That read holds no pooled buffer while it waits: on a socket
//     (the connections Eddy accepts) it is a non-blocking read(2) through
//     the runtime's poller, which takes a buffer only once the socket has
//     bytes and puts it back when it has none; so an idle camera whose
//     last read happened to fill gortsplib's buffer holds none. (On a
//     connection that is not a socket, the read blocks in the pooled
//     buffer.) A read that does not fill its buffer drained the socket;
//     the next one reads straight into the caller's buffer again. Bytes
//     are passed on as soon as a read returns them, as a direct read
//     would.
//   - A read deadline later than the one already on the socket is only
//     recorded. When the socket's earlier deadline expires before the
//     recorded one, the read is retried with the recorded deadline, so a
//     read still fails exactly when the last deadline set has passed (one
//     spurious timer wake-up per read timeout period instead of one timer
//     update per packet). Earlier or cleared deadlines are set at once, so
//     a deadline set to unblock a read works as on a net.Conn.
type burstReader struct {
	conn net.Conn

	// buf[off:] is what remains of the last burst (buf is nil when none).
	buf   *[]byte
	bufN  int
	off   int
	burst bool // the last direct read filled its buffer: more is waiting

	// raw is conn's socket for non-blocking reads (nil: conn is not a
	// socket); rawFn is readFd, bound once; rb, rn and rerr are what
	// readFd read.
	raw        syscall.RawConn
	rawChecked bool
	rawFn      func(fd uintptr) bool
	rb         *[]byte
	rn         int
	rerr       error

	mu       sync.Mutex // guards the deadlines: SetReadDeadline may come from another goroutine
	want     time.Time  // the read deadline last set by the caller
	onSocket time.Time  // the read deadline set on the socket
}

// Read reads into p what is buffered, or else from the socket.
func (r *burstReader) Read(p []byte) (int, error) {
	if r.buf != nil {
		n := copy(p, (*r.buf)[r.off:r.bufN])
		r.off += n
		if r.off == r.bufN {
			putBurst(r.buf)
			r.buf = nil
		}
		return n, nil
	}
	if len(p) == 0 {
		return 0, nil
	}
	if !r.burst || len(p) >= burstBufferSize {
		n, err := r.readSocket(p)
		r.burst = n == len(p)
		return n, err
	}
	b, n, err := r.readBurst()
	r.burst = n == burstBufferSize
	if n <= len(p) {
		if b != nil {
			copy(p, (*b)[:n])
			putBurst(b)
		}
		return n, err
	}
	copy(p, (*b)[:len(p)])
	r.buf, r.bufN, r.off = b, n, len(p)
	// An error after n > 0 bytes is the socket's next one: returned by
	// the read after the buffered bytes.
	return len(p), nil
}

// readBurst reads what the socket holds into a pooled buffer (nil when
// no byte was read), waiting for bytes without one when conn is a
// socket.
func (r *burstReader) readBurst() (*[]byte, int, error) {
	if !r.rawChecked {
		r.rawChecked = true
		if sc, ok := r.conn.(syscall.Conn); ok && nonblockReads {
			r.raw, _ = sc.SyscallConn()
			r.rawFn = r.readFd
		}
	}
	if r.raw == nil {
		b := getBurst()
		n, err := r.readSocket(*b)
		if n == 0 {
			putBurst(b)
			b = nil
		}
		return b, n, err
	}
	for {
		r.rb, r.rn, r.rerr = nil, 0, nil
		err := r.raw.Read(r.rawFn) // waits for the socket to be readable, with conn's read deadline
		if err == nil {
			err = r.rerr
		}
		b, n := r.rb, r.rn
		r.rb = nil
		if n > 0 || err == nil || !r.retryTimeout(err) {
			return b, n, err
		}
	}
}

// readFd is raw.Read's function: it reads the socket without blocking
// into a pooled buffer, and reports false (wait for bytes) with the
// buffer put back when the socket has none.
func (r *burstReader) readFd(fd uintptr) bool {
	b := getBurst()
	n, wait, err := readNonblock(fd, *b)
	if wait || n == 0 {
		putBurst(b)
		r.rerr = err
		return !wait
	}
	r.rb, r.rn = b, n
	return true
}

// readSocket reads from the socket, retrying a timeout of the socket's
// deadline when the deadline last set is later.
func (r *burstReader) readSocket(p []byte) (int, error) {
	for {
		n, err := r.conn.Read(p)
		if n > 0 || err == nil || !r.retryTimeout(err) {
			return n, err
		}
	}
}

// retryTimeout reports whether a read that failed with err is to be
// tried again: err is the timeout of the socket's deadline and the
// deadline last set is later (then set on the socket).
func (r *burstReader) retryTimeout(err error) bool {
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	want := r.want
	if want.Equal(r.onSocket) || (!want.IsZero() && !time.Now().Before(want)) {
		return false
	}
	if r.conn.SetReadDeadline(want) != nil {
		return false
	}
	r.onSocket = want
	return true
}

// SetReadDeadline records t as the read deadline, and sets it on the
// socket unless the socket's is earlier (see burstReader).
func (r *burstReader) SetReadDeadline(t time.Time) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.want = t
	if !t.IsZero() && !r.onSocket.IsZero() && !t.Before(r.onSocket) {
		return nil
	}
	r.onSocket = t
	return r.conn.SetReadDeadline(t)
}
