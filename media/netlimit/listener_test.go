package netlimit

import (
	"errors"
	"net"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

func listen(t *testing.T, max, per int) *Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &Listener{Listener: ln, Name: "test", Max: max, PerAddress: per}
	t.Cleanup(func() { l.Close() })
	return l
}

// serve accepts and holds connections, counting them.
func serve(l *Listener, held chan<- net.Conn) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		held <- c
	}
}

// closedByServer reports whether the server closed c (a read sees EOF).
func closedByServer(c net.Conn) bool {
	_ = c.SetReadDeadline(time.Now().Add(time.Second))
	_, err := c.Read(make([]byte, 1))
	var ne net.Error
	return err != nil && (!errors.As(err, &ne) || !ne.Timeout())
}

func TestCaps(t *testing.T) {
	l := listen(t, 5, 3)
	held := make(chan net.Conn, 16)
	go serve(l, held)
	var clients []net.Conn
	dial := func(local string) net.Conn {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
		c, err := d.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
		return c
	}
	for range 3 {
		dial("127.0.0.1")
	}
	over := dial("127.0.0.1") // a fourth from one address
	if !closedByServer(over) {
		t.Fatal("the per-address cap let a fourth connection stay")
	}
	dial("127.0.0.2")
	dial("127.0.0.3")
	if c := dial("127.0.0.4"); !closedByServer(c) {
		t.Fatal("the total cap let a sixth connection stay")
	}
	if st := l.State(); st.Open != 5 || st.Refused != 2 || !st.Accepting {
		t.Fatalf("state %+v", st)
	}
	// A connection that closes frees its place.
	(<-held).Close()
	time.Sleep(50 * time.Millisecond)
	if c := dial("127.0.0.5"); closedByServer(c) {
		t.Fatal("a freed place was not reused")
	}
	for _, c := range clients {
		c.Close()
	}
}

// flaky fails its first accepts as an exhausted process would.
type flaky struct {
	net.Listener
	fails atomic.Int32
}

func (f *flaky) Accept() (net.Conn, error) {
	if f.fails.Add(-1) >= 0 {
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: syscall.EMFILE}
	}
	return f.Listener.Accept()
}

func TestAcceptErrorsAreRetried(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &flaky{Listener: ln}
	f.fails.Store(5)
	var retried atomic.Int32
	l := &Listener{Listener: f, Name: "test", OnAcceptError: func(error) { retried.Add(1) }}
	defer l.Close()
	go func() {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err == nil {
			defer c.Close()
			time.Sleep(time.Second)
		}
	}()
	c, err := l.Accept()
	if err != nil {
		t.Fatalf("Accept after EMFILE: %v", err)
	}
	c.Close()
	if retried.Load() != 5 || l.State().LastError == "" {
		t.Errorf("%d retries (want 5), last error %q", retried.Load(), l.State().LastError)
	}
	if !l.State().Accepting {
		t.Error("not accepting after a connection went through")
	}
	l.Close()
	if _, err := l.Accept(); err == nil {
		t.Error("Accept after Close succeeded")
	}
}
