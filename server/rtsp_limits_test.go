package server_test

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/eddy-video/eddy/server"
	"github.com/eddy-video/eddy/server/servertest"
)

// TestRTSPListenerLimits checks that limits.* reach both RTSP listeners
// and that each reports its state (for /healthz).
func TestRTSPListenerLimits(t *testing.T) {
	t.Parallel()
	certFile, keyFile, _ := selfSignedCert(t)
	e := servertest.Start(t, func(c *server.Config) {
		c.TLSCert, c.TLSKey = certFile, keyFile
		c.Limits.Connections, c.Limits.ConnectionsPerAddress = 10, 2
	})
	for _, addr := range []string{e.Server.RTSPAddr(), e.Server.RTSPSAddr()} {
		var closedAtOnce int
		for range 3 {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
			if _, err := c.Read(make([]byte, 1)); err == io.EOF {
				closedAtOnce++
			}
		}
		if closedAtOnce != 1 {
			t.Fatalf("%s: %d of 3 connections from one address closed at once, want 1 (connections_per_address 2)", addr, closedAtOnce)
		}
	}
	st := e.Server.RTSPListeners()
	if len(st) != 2 || st[0].Name != "rtsp" || st[1].Name != "rtsps" {
		t.Fatalf("listeners %+v, want rtsp and rtsps", st)
	}
	for _, l := range st {
		if !l.Accepting || l.Open != 2 || l.LastError != "" {
			t.Fatalf("listener %+v: want accepting, 2 connections, no error", l)
		}
	}
}
