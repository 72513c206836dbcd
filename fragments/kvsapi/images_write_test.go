package kvsapi

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/eddy-video/eddy/media/netlimit"
)

// TestImagesWriteDeadline: a GetImages client that stops reading is cut
// at the write deadline and the page's slot is let go (not held for as
// long as the connection stays open).
func TestImagesWriteDeadline(t *testing.T) {
	released := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		// A page far larger than the socket buffers.
		out := &getImagesOut{Images: make([]imageOut, imagesPageSize), release: func() { close(released) },
			deadlines: netlimit.Deadlines{Write: 100 * time.Millisecond}}
		for i := range out.Images {
			out.Images[i] = imageOut{TimeStamp: Timestamp{Time: time.Unix(int64(i), 0)}, ImageContent: make([]byte, 2<<20)}
		}
		out.WriteResponse(w)
	}))
	defer srv.Close()
	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	// Read the status line, then stop reading.
	if line, err := bufio.NewReader(c).ReadString('\n'); err != nil || !strings.Contains(line, "200") {
		t.Fatalf("status line %q: %v", line, err)
	}
	select {
	case <-released:
	case <-time.After(10 * time.Second):
		t.Fatal("the page's slot is still held 10 s after its client stopped reading")
	}
}

func TestAppendJSONString(t *testing.T) {
	for s, want := range map[string]string{"NO_MEDIA": `"NO_MEDIA"`, "a\x7fb": "\"a\x7fb\"", "é\x01": `"é\u0001"`, "\xff": `"\ufffd"`} {
		if got := string(appendJSONString(nil, s)); got != want {
			t.Errorf("%q: %s, want %s", s, got, want)
		}
	}
}
