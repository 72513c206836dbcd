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
	"sync/atomic"
	"time"
)

// certificate holds the TLS certificate every TLS listener (HTTPS, RTSPS)
// serves, and reads it again on Reload: a renewed certificate is used by
// new connections at once, and open connections are not dropped.
type certificate struct {
	certFile, keyFile string
	cur               atomic.Pointer[tls.Certificate]
}

func loadCertificate(certFile, keyFile string) (*certificate, error) {
	c := &certificate{certFile: certFile, keyFile: keyFile}
	return c, c.reload()
}

func (c *certificate) reload() error {
	pair, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return fmt.Errorf("tls: %w", err)
	}
	c.cur.Store(&pair)
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

// ReloadTLS reads the TLS certificate and key again (eddy serve does on
// SIGHUP); on error the current ones stay.
func (s *Server) ReloadTLS() error {
	if s.cert == nil {
		return nil
	}
	if err := s.cert.reload(); err != nil {
		return err
	}
	s.Logger.Info("tls certificate reloaded", "cert", s.cert.certFile)
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
