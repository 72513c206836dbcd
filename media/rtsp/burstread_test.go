package rtsp

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/eddy-video/eddy/media/netlimit"
)

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (client, server net.Conn) {
	return acceptPair(t, func(ln net.Listener) net.Listener { return ln })
}

// acceptPair returns both ends of a loopback TCP connection whose server
// end is accepted through wrap's listener.
func acceptPair(t *testing.T, wrap func(net.Listener) net.Listener) (client, server net.Conn) {
	t.Helper()
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := wrap(raw)
	defer ln.Close()
	ch := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(ch)
			return
		}
		ch <- c
	}()
	client, err = net.Dial("tcp", raw.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-ch
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// countingConn counts the reads that reach the socket.
type countingConn struct {
	net.Conn
	reads int
}

func (c *countingConn) Read(p []byte) (int, error) {
	c.reads++
	return c.Conn.Read(p)
}

// TestBurstReaderBytesIntact: bursts of every size read through a 4 KiB
// bufio.Reader (as gortsplib does) arrive whole and in order.
func TestBurstReaderBytesIntact(t *testing.T) {
	client, server := tcpPair(t)
	r := &burstReader{conn: server}
	br := bufio.NewReaderSize(r, 4096)
	rng := rand.New(rand.NewPCG(1, 2))
	var sent bytes.Buffer
	for range 200 {
		b := make([]byte, rng.IntN(150<<10)+1)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		sent.Write(b)
	}
	go func() {
		w := sent.Bytes()
		for len(w) > 0 {
			n := min(len(w), rand.IntN(200<<10)+1)
			if _, err := client.Write(w[:n]); err != nil {
				return
			}
			w = w[n:]
		}
		client.Close()
	}()
	var got bytes.Buffer
	buf := make([]byte, 1500)
	for {
		n := rng.IntN(len(buf)) + 1
		k, err := io.ReadFull(br, buf[:n])
		got.Write(buf[:k])
		if err != nil {
			break
		}
	}
	if !bytes.Equal(got.Bytes(), sent.Bytes()) {
		t.Fatalf("read %d bytes, not the %d sent (or not in order)", got.Len(), sent.Len())
	}
}

// TestBurstReaderFewerReads: a 60 KiB burst read through a 4 KiB
// bufio.Reader takes a few reads of the socket, not one per 4 KiB; and a
// small write is returned at once, not held for more.
func TestBurstReaderFewerReads(t *testing.T) {
	client, server := tcpPair(t)
	cc := &countingConn{Conn: server}
	r := &burstReader{conn: cc}
	br := bufio.NewReaderSize(r, 4096)
	burst := bytes.Repeat([]byte("0123456789abcdef"), 60<<10/16)
	if _, err := client.Write(burst); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // the whole burst is in the socket
	got := make([]byte, len(burst))
	if _, err := io.ReadFull(br, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, burst) {
		t.Fatal("burst altered")
	}
	if cc.reads > 3 {
		t.Errorf("%d socket reads for a 60 KiB burst, want ≤ 3 (4 KiB bufio alone takes 15)", cc.reads)
	}
	if r.buf != nil {
		t.Error("a pooled buffer is still held with nothing buffered")
	}

	done := make(chan []byte)
	go func() {
		b := make([]byte, 10)
		n, _ := br.Read(b)
		done <- b[:n]
	}()
	time.Sleep(20 * time.Millisecond)
	if _, err := client.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	select {
	case b := <-done:
		if string(b) != "hello" {
			t.Fatalf("read %q", b)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("a small write was not returned")
	}
}

// TestBurstReaderDeadlines: a read fails when the deadline last set
// passes, not at an earlier one it replaced, and not before; an earlier
// deadline set while a read waits unblocks it; a cleared deadline
// clears.
func TestBurstReaderDeadlines(t *testing.T) {
	_, server := tcpPair(t)
	r := &burstReader{conn: server}
	start := time.Now()
	if err := r.SetReadDeadline(start.Add(50 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	last := start.Add(300 * time.Millisecond)
	if err := r.SetReadDeadline(last); err != nil {
		t.Fatal(err)
	}
	_, err := r.Read(make([]byte, 100))
	el := time.Since(start)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read: %v, want a timeout", err)
	}
	if el < 300*time.Millisecond || el > 2*time.Second {
		t.Fatalf("timed out after %v, want at the last deadline (300ms)", el)
	}

	// An earlier deadline set from another goroutine unblocks a read.
	if err := r.SetReadDeadline(time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(50 * time.Millisecond)
		_ = r.SetReadDeadline(time.Now())
	}()
	start = time.Now()
	if _, err := r.Read(make([]byte, 100)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read: %v, want a timeout", err)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Fatalf("unblocked after %v", el)
	}

	// Cleared: a read waits past the old deadlines.
	if err := r.SetReadDeadline(time.Now().Add(30 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if err := r.SetReadDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}
	res := make(chan error, 1)
	go func() {
		_, err := r.Read(make([]byte, 100))
		res <- err
	}()
	select {
	case err := <-res:
		t.Fatalf("read returned %v with no deadline", err)
	case <-time.After(200 * time.Millisecond):
	}
	server.Close()
	if err := <-res; err == nil {
		t.Error("read on a closed connection succeeded")
	}
}

// TestBurstReaderWaitsWithoutBuffer: a read that filled gortsplib's 4 KiB
// buffer with all the socket held is followed by a burst read that waits;
// it waits holding no pooled buffer, then returns the next bytes (a burst
// bigger than the caller's buffer: the rest is handed out from the pooled
// one) and fails at the deadline last set.
func TestBurstReaderWaitsWithoutBuffer(t *testing.T) {
	t.Run("tcp", func(t *testing.T) {
		client, server := tcpPair(t)
		burstReaderWaits(t, client, server)
	})
	// The connections the RTSP listener reads are netlimit's, which wrap
	// the socket: the burst reader must still find it.
	t.Run("netlimit", func(t *testing.T) {
		client, server := acceptPair(t, func(ln net.Listener) net.Listener {
			return &netlimit.Listener{Listener: ln, Name: "rtsp"}
		})
		if _, ok := server.(syscall.Conn); !ok {
			t.Fatal("netlimit's connection hides its socket (no SyscallConn)")
		}
		burstReaderWaits(t, client, server)
	})
}

// burstReaderWaits: a burst read waits for bytes without a pooled buffer,
// returns them intact, times out at the last deadline set and ends at EOF.
func burstReaderWaits(t *testing.T, client, server net.Conn) {
	r := &burstReader{conn: server}
	first := bytes.Repeat([]byte{1}, 4096)
	if _, err := client.Write(first); err != nil {
		t.Fatal(err)
	}
	p := make([]byte, 4096)
	if _, err := io.ReadFull(r, p); err != nil {
		t.Fatal(err)
	}
	if !r.burst {
		t.Fatal("a read that filled its buffer did not start a burst")
	}
	held := burstsHeld.Load()
	done := make(chan []byte)
	go func() {
		b := make([]byte, 4096)
		n, err := r.Read(b)
		if err != nil {
			t.Error(err)
		}
		done <- b[:n]
	}()
	time.Sleep(100 * time.Millisecond) // the read waits
	if h := burstsHeld.Load(); h != held {
		t.Fatalf("%d pooled buffers held by a waiting read, want none", h-held)
	}
	next := bytes.Repeat([]byte("0123456789abcdef"), 1024) // 16 KiB
	if _, err := client.Write(next); err != nil {
		t.Fatal(err)
	}
	var got []byte
	select {
	case got = <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("the waiting read did not return the next bytes")
	}
	for len(got) < len(next) {
		n, err := r.Read(p)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, p[:n]...)
	}
	if !bytes.Equal(got, next) {
		t.Fatal("the bytes after the wait altered")
	}
	if h := burstsHeld.Load(); h != held || r.buf != nil {
		t.Fatalf("%d pooled buffers held once all was read", h-held)
	}

	// A burst read waits until the deadline last set, not an earlier one.
	if _, err := client.Write(first); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(r, p); err != nil || !r.burst {
		t.Fatalf("read %v, burst %v", err, r.burst)
	}
	start := time.Now()
	if err := r.SetReadDeadline(start.Add(50 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if err := r.SetReadDeadline(start.Add(300 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	_, err := r.Read(p)
	if el := time.Since(start); !errors.Is(err, os.ErrDeadlineExceeded) || el < 300*time.Millisecond || el > 2*time.Second {
		t.Fatalf("burst read: %v after %v, want a timeout at 300ms", err, el)
	}
	if h := burstsHeld.Load(); h != held {
		t.Fatalf("%d pooled buffers held after a timeout", h-held)
	}
	if err := r.SetReadDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Write(first); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(r, p); err != nil || !r.burst {
		t.Fatalf("read %v, burst %v", err, r.burst)
	}
	client.Close()
	if _, err := r.Read(p); err != io.EOF {
		t.Fatalf("burst read after the peer closed: %v, want EOF", err)
	}
}
