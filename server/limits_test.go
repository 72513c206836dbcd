package server_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eddy-video/eddy/server"
	"github.com/eddy-video/eddy/server/servertest"
)

// dialFrom opens a TCP connection to addr from a local loopback address.
func dialFrom(t *testing.T, local, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: 2 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// closedSoon reports whether the server closes c within a second.
func closedSoon(c net.Conn) bool {
	_ = c.SetReadDeadline(time.Now().Add(time.Second))
	_, err := c.Read(make([]byte, 1))
	var ne net.Error
	return err != nil && (!errors.As(err, &ne) || !ne.Timeout())
}

func healthz(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestHTTPLimits: no client can take the HTTP listener's memory or file
// descriptors: oversized headers are refused, one address holds at most
// its share of connections, and connections still sending headers are
// capped; other clients keep being served and /healthz says what the caps
// refused.
func TestHTTPLimits(t *testing.T) {
	e := servertest.Start(t, func(c *server.Config) {
		c.Limits.Connections, c.Limits.ConnectionsPerAddress, c.Limits.HeaderBytes = 600, 20, 16<<10
	})
	addr := e.Server.HTTPAddr()

	t.Run("oversized header", func(t *testing.T) {
		c := dialFrom(t, "127.0.0.2", addr)
		req := "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 1<<20) + "\r\n\r\n"
		go func() { _, _ = io.WriteString(c, req) }()
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Fatalf("1 MB header: %v %v, want 431", resp, err)
		}
	})

	t.Run("per address", func(t *testing.T) {
		var idle []net.Conn
		for range 20 {
			idle = append(idle, dialFrom(t, "127.0.0.3", addr))
		}
		if c := dialFrom(t, "127.0.0.3", addr); !closedSoon(c) {
			t.Fatal("a 21st connection from one address was kept")
		}
		if code, body := healthz(t, e.URL); code != 200 || !strings.Contains(body, ", 1 refused") {
			t.Fatalf("another address's /healthz: %d %q", code, body)
		}
		for _, c := range idle {
			c.Close()
		}
	})

	t.Run("connections sending headers", func(t *testing.T) {
		// Slow clients that never finish their headers: at most
		// connections/8 (75) wait at once; each newer one closes the one
		// that has waited longest, so clients that send their request
		// promptly are always served.
		var slow []net.Conn
		for i := range 80 {
			c := dialFrom(t, "127.0.0."+string(rune('4'+i%5)), addr)
			if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\nX-Slow: "); err != nil {
				t.Fatal(err)
			}
			slow = append(slow, c)
			time.Sleep(2 * time.Millisecond) // accepted in this order
		}
		closedNow := func(cs []net.Conn) []int {
			var idx []int
			closed := make([]bool, len(cs))
			var wg sync.WaitGroup
			for i, c := range cs {
				wg.Go(func() { closed[i] = closedSoon(c) })
			}
			wg.Wait()
			for i, ok := range closed {
				if ok {
					idx = append(idx, i)
				}
			}
			return idx
		}
		if got := closedNow(slow); !slices.Equal(got, []int{0, 1, 2, 3, 4}) {
			t.Fatalf("header-sending connections closed: %v; want the 5 oldest", got)
		}
		// A prompt client is served while the 75 wait (the oldest of them
		// makes room).
		if code, body := healthz(t, e.URL); code != 200 || !strings.Contains(body, "http ") {
			t.Fatalf("/healthz during the flood: %d %q", code, body)
		}
		if got := closedNow(slow[5:]); len(got) == 0 || got[0] != 0 {
			t.Fatalf("after a prompt request, closed: %v; want the oldest waiting one first", got)
		}
		for _, c := range slow {
			c.Close()
		}
	})
}
