package rtsp

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/conn"

	"github.com/eddy-video/eddy/media"
	"github.com/eddy-video/eddy/media/mediatest"
)

// testCert is a self-signed certificate for 127.0.0.1 and a pool that
// trusts it.
func testCert(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "eddy-rtsps-test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// startRTSPS starts an RTSPS server with authentication whose
// certificate comes from GetCertificate; it returns the server, the
// authority and a count of handshakes served.
func startRTSPS(t *testing.T, reg *media.Registry) (*Server, *testAuthority, *x509.CertPool, *atomic.Int64) {
	t.Helper()
	cert, pool := testCert(t)
	var served atomic.Int64
	srv, a := startAuthServer(t, reg, func(s *Server) {
		s.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12,
			GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
				served.Add(1)
				return &cert, nil
			}}
	})
	return srv, a, pool, &served
}

func dialRTSPS(t *testing.T, addr string, pool *x509.CertPool) *rtspConn {
	t.Helper()
	nc, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, &tls.Config{RootCAs: pool})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &rtspConn{nc: nc, c: conn.NewConn(nc), addr: addr}
}

// TestRTSPSPublishRead publishes and plays over RTSPS with gortsplib's
// client (Digest), checks the certificate comes from GetCertificate, and
// that Basic, refused on plain RTSP, is accepted over TLS.
func TestRTSPSPublishRead(t *testing.T) {
	reg := &media.Registry{Logger: mediatest.Logger()}
	srv, a, pool, served := startRTSPS(t, reg)
	addr := srv.Addr()

	// A CA pool on one side, no verification on the other: the two ways
	// users trust a self-signed certificate.
	verify := &tls.Config{RootCAs: pool}
	insecure := &tls.Config{InsecureSkipVerify: true}
	if _, err := publishURL(t, "rtsps://"+userAt("AKIDCAM", "wrong-secret", addr)+"/cam1", verify, gortsplib.TransportTCP, h264PubTrack()); statusCode(err) != base.StatusUnauthorized {
		t.Fatalf("wrong password over RTSPS: %v", err)
	}
	if _, err := publishURL(t, "rtsps://"+addr+"/cam1", verify, gortsplib.TransportTCP, h264PubTrack()); statusCode(err) != base.StatusUnauthorized {
		t.Fatalf("no credentials over RTSPS: %v", err)
	}
	a.waitFailures(t, "signature AKIDCAM", "missing ")
	pub, err := publishURL(t, "rtsps://"+userAt("AKIDCAM", "cam-secret/+3", addr)+"/cam1", verify, gortsplib.TransportTCP, h264PubTrack())
	if err != nil {
		t.Fatalf("publish over RTSPS: %v", err)
	}
	v := pub.tracks[0]
	go func() {
		for i := 0; ; i++ {
			if pub.write(v, int64(i)*mediatest.VideoTicks, videoNTP(i), mediatest.H264AU(i)) != nil {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	waitUnits(t, reg, "cam1", 1)
	r, err := readURL(t, "rtsps://"+userAt("AKIDREAD", "read-secret/+2", addr)+"/cam1", insecure, gortsplib.TransportTCP)
	if err != nil {
		t.Fatalf("read over RTSPS: %v", err)
	}
	r.waitVideo(t, 1)
	if served.Load() < 4 {
		t.Fatalf("GetCertificate served %d handshakes, want one per connection", served.Load())
	}

	rc := dialRTSPS(t, addr, pool)
	res, err := rc.do(t, base.Describe, "/cam1", "")
	if err != nil || res.StatusCode != base.StatusUnauthorized {
		t.Fatalf("DESCRIBE without credentials: %v %v", res, err)
	}
	if got, want := challenges(res), []string{"Digest SHA-256", "Digest MD5", "Basic"}; !slices.Equal(got, want) {
		t.Fatalf("RTSPS challenge %q, want %q", got, want)
	}
	res, err = rc.do(t, base.Describe, "/cam1", basic("AKIDREAD", "read-secret/+2"))
	if err != nil || res.StatusCode != base.StatusOK {
		t.Fatalf("Basic over RTSPS: %v %v", res, err)
	}
	res, err = rc.do(t, base.Describe, "/cam1", basic("AKIDREAD", "read-secret/+x"))
	if err != nil || res.StatusCode != base.StatusUnauthorized {
		t.Fatalf("Basic with a wrong password: %v %v", res, err)
	}
	a.waitFailures(t, "signature AKIDREAD")
}
