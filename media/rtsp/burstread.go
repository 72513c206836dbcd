package rtsp

import (
	"errors"
	"net"
	"os"
	"sync"
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
//     waiting: the next read takes all of them at once into a pooled
//     64 KiB buffer and hands them out without further system calls. A read
//     that does not fill its buffer drained the socket; the next one reads
//     straight into the caller's buffer again, holding no pooled buffer
//     while it waits for the next burst. Bytes are passed on as soon as a
//     read returns them, as a direct read would.
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
			burstBuffers.Put(r.buf)
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
	b := burstBuffers.Get().(*[]byte)
	n, err := r.readSocket(*b)
	r.burst = n == len(*b)
	if n <= len(p) {
		copy(p, (*b)[:n])
		burstBuffers.Put(b)
		return n, err
	}
	copy(p, (*b)[:len(p)])
	r.buf, r.bufN, r.off = b, n, len(p)
	// An error after n > 0 bytes is the socket's next one: returned by
	// the read after the buffered bytes.
	return len(p), nil
}

// readSocket reads from the socket, retrying a timeout of the socket's
// deadline when the deadline last set is later.
func (r *burstReader) readSocket(p []byte) (int, error) {
	for {
		n, err := r.conn.Read(p)
		if n > 0 || err == nil || !errors.Is(err, os.ErrDeadlineExceeded) {
			return n, err
		}
		r.mu.Lock()
		want := r.want
		if want.Equal(r.onSocket) || (!want.IsZero() && !time.Now().Before(want)) {
			r.mu.Unlock()
			return n, err
		}
		serr := r.conn.SetReadDeadline(want)
		r.onSocket = want
		r.mu.Unlock()
		if serr != nil {
			return n, err
		}
	}
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
