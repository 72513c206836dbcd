package rtsp

import (
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/eddy-video/eddy/media"
	"github.com/eddy-video/eddy/media/mediatest"
)

// TestSourceHidesCredentials: a source's password — as written, percent-
// encoded, or in the query — reaches neither its log lines nor its
// Status, whether its camera fails (a listener that hangs up), an error
// quotes its URL, or the URL does not parse.
func TestSourceHidesCredentials(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close() // a camera that hangs up
		}
	}()
	addr := ln.Addr().String()
	secrets := []string{"Hq7Zpw", "Kv/3m@t", url.QueryEscape("Kv/3m@t"), "Qz8Lmn"}
	for _, u := range []string{
		"rtsp://admin:Hq7Zpw@" + addr + "/door",
		"rtsp://admin:" + url.QueryEscape("Kv/3m@t") + "@" + addr + "/gate",
		"rtsp://" + addr + "/yard?user=admin&password=Qz8Lmn",
	} {
		var logs lockedBuffer
		reg := &media.Registry{Logger: mediatest.Logger()}
		s := &Source{URL: u, MinBackoff: 10 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(&logs, nil))}
		if err := reg.AddSource("cam", s); err != nil {
			t.Fatal(err)
		}
		mediatest.WaitFor(t, "the source's first failure", func() bool { return s.Status().LastError != "" })
		reg.Close()
		st := s.Status()
		// An error that quotes the URL, as a library's may: raw, quoted,
		// and re-encoded by net/url.
		parsed, _ := url.Parse(u)
		quoting := s.hide(fmt.Errorf("describe %s: failed (%q, %s)", u, u, parsed)).Error()
		for _, secret := range secrets {
			for what, text := range map[string]string{"log": logs.String(), "status": st.LastError, "error": quoting} {
				if strings.Contains(text, secret) {
					t.Errorf("%s: the %s shows %q: %s", u, what, secret, text)
				}
			}
		}
		if !strings.Contains(logs.String(), "source stopped") || !strings.Contains(quoting, addr) {
			t.Errorf("%s: nothing logged, or the error lost its host: %s / %s", u, logs.String(), quoting)
		}
	}

	// A URL that does not parse: the refusal says why, without it.
	reg := &media.Registry{Logger: mediatest.Logger()}
	defer reg.Close()
	err = reg.AddSource("cam", &Source{URL: "rtsp://admin:Hq7 Zpw@cam:554/x"})
	if err == nil || strings.Contains(err.Error(), "Hq7") || strings.Contains(err.Error(), "Zpw") || !strings.Contains(err.Error(), "invalid") {
		t.Errorf("AddSource of an unparsable URL: %v", err)
	}
}
