package server

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// certificate holds the TLS certificate every TLS listener (HTTPS, RTSPS)
// serves, and reads it again on reload: a renewed certificate is used by
// new connections at once, and open connections are not dropped.
type certificate struct {
	mu                sync.Mutex // guards the file names
	certFile, keyFile string
	cur               atomic.Pointer[tls.Certificate]
}

func loadCertificate(certFile, keyFile string) (*certificate, error) {
	pair, err := readKeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	c := &certificate{}
	c.set(certFile, keyFile, pair)
	return c, nil
}

// readKeyPair reads and checks a certificate and its key.
func readKeyPair(certFile, keyFile string) (*tls.Certificate, error) {
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("tls_cert %s, tls_key %s: %w", certFile, keyFile, err)
	}
	return &pair, nil
}

// set makes pair, read from certFile and keyFile, the served certificate.
func (c *certificate) set(certFile, keyFile string, pair *tls.Certificate) {
	c.mu.Lock()
	c.certFile, c.keyFile = certFile, keyFile
	c.cur.Store(pair)
	c.mu.Unlock()
}

// reload reads the current files again.
func (c *certificate) reload() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	pair, err := readKeyPair(c.certFile, c.keyFile)
	if err != nil {
		return err
	}
	c.cur.Store(pair)
	return nil
}

// get is a tls.Config GetCertificate.
func (c *certificate) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return c.cur.Load(), nil
}

// config is the TLS configuration of a listener; next lists its ALPN
// protocols.
func (c *certificate) config(next ...string) *tls.Config {
	return &tls.Config{GetCertificate: c.get, MinVersion: tls.VersionTLS12, NextProtos: next}
}

// ReloadTLS reads the TLS certificate and key again; on error the current
// ones stay. Reload does it too, with the rest of the configuration.
func (s *Server) ReloadTLS() error {
	if s.cert == nil {
		return nil
	}
	if err := s.cert.reload(); err != nil {
		return err
	}
	s.Logger.Info("tls certificate reloaded")
	return nil
}

// SelfSignedCertificate makes a self-signed ECDSA P-256 certificate (and
// its key, PEM) for hosts (names and IPs), valid from an hour ago for
// valid: `eddy cert` writes one for trials, and tests serve TLS with it.
func SelfSignedCertificate(hosts []string, valid time.Duration) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: hosts[len(hosts)-1], Organization: []string{"Eddy (self-signed)"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(valid),
		// A leaf, not a CA: clients trust exactly this certificate, and
		// whoever reads its key can sign nothing else they would accept.
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  false,
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), nil
}
