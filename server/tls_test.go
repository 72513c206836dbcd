package server_test

import (
	"crypto/tls"
	"io"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/eddy-video/eddy/server"
	"github.com/eddy-video/eddy/server/servertest"
)

// TestTLSReload: a new certificate written over the files is served to new
// connections after ReloadTLS (SIGHUP in eddy serve), while an open
// connection goes on; a broken file keeps the current certificate.
func TestTLSReload(t *testing.T) {
	certFile, keyFile, pool := servertest.SelfSignedCert(t)
	e := servertest.Start(t, func(c *server.Config) { c.TLSCert, c.TLSKey = certFile, keyFile })
	serial := func(c *tls.Conn) string { return c.ConnectionState().PeerCertificates[0].SerialNumber.String() }
	dial := func() *tls.Conn {
		c, err := tls.Dial("tcp", e.Server.HTTPAddr(), &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	// An HTTPS client that keeps its connection open across the reload.
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	defer tr.CloseIdleConnections()
	get := func() {
		resp, err := (&http.Client{Transport: tr}).Get(e.URL + "/healthz")
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET /healthz: %v %v", resp, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	get()
	old := dial()
	defer old.Close()
	before := serial(old)

	certPEM, keyPEM, err := server.SelfSignedCertificate([]string{"127.0.0.1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := e.Server.ReloadTLS(); err != nil {
		t.Fatal(err)
	}
	fresh := dial()
	defer fresh.Close()
	if serial(fresh) == before {
		t.Fatal("a new connection still gets the old certificate after the reload")
	}
	if _, err := old.Write([]byte("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		t.Fatalf("the connection opened before the reload was dropped: %v", err)
	}
	buf := make([]byte, 64)
	if n, err := old.Read(buf); err != nil || string(buf[:12]) != "HTTP/1.1 200" {
		t.Fatalf("old connection after reload: %q %v", buf[:n], err)
	}
	// Now the pool trusts the old certificate only: the kept-alive client
	// connection still works, since nothing dropped it.
	get()

	// A broken pair on disk: the reload fails and the new certificate stays.
	if err := os.WriteFile(keyFile, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := e.Server.ReloadTLS(); err == nil {
		t.Fatal("a broken key reloaded")
	}
	again := dial()
	defer again.Close()
	if serial(again) != serial(fresh) {
		t.Fatal("a failed reload changed the certificate")
	}
}
