package netlimit_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eddy-video/eddy/media/netlimit"
)

// TestWriterDeadlines: a response written through a Writer that the client
// reads is not cut, and its deadline does not outlive it (the next request
// on the keep-alive connection, answered without a Writer after longer
// than the deadline, still gets its answer); a client that stops reading
// a large response is cut once, and the handler returns.
func TestWriterDeadlines(t *testing.T) {
	var cuts atomic.Int32
	done := make(chan struct{}, 4)
	d := netlimit.Deadlines{Write: 300 * time.Millisecond, OnCut: func() { cuts.Add(1) }}
	big := make([]byte, 64<<20)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() { done <- struct{}{} }()
		switch r.URL.Path {
		case "/small":
			dw := d.Writer(w)
			_, _ = dw.Write([]byte("hello"))
			dw.Done()
		case "/slow":
			time.Sleep(600 * time.Millisecond) // longer than the deadline
			_, _ = w.Write([]byte("late"))
		case "/big":
			dw := d.Writer(w)
			_, _ = dw.Write(big)
			dw.Done()
		}
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")

	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	for _, path := range []string{"/small", "/slow"} {
		if _, err := io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		b, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != 200 || len(b) == 0 {
			t.Fatalf("%s: %d %q %v", path, resp.StatusCode, b, err)
		}
		<-done
	}

	dead, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer dead.Close()
	if _, err := io.WriteString(dead, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the handler of a reader that stopped reading did not return")
	}
	if n := cuts.Load(); n != 1 {
		t.Errorf("%d cuts, want 1", n)
	}
}
