package main

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestCertCommand: eddy cert writes a key pair that loads, for the hosts
// asked plus localhost and 127.0.0.1, with the key readable by its owner
// only.
func TestCertCommand(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	if err := cert([]string{"--host", "cam.example", "--host", "10.0.0.5", "--cert", certFile, "--key", keyFile, "--days", "30"}); err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(c.DNSNames, "cam.example") || !slices.Contains(c.DNSNames, "localhost") || len(c.IPAddresses) != 2 {
		t.Errorf("names %v, IPs %v", c.DNSNames, c.IPAddresses)
	}
	if days := c.NotAfter.Sub(c.NotBefore).Hours() / 24; days < 29.9 || days > 30.1 {
		t.Errorf("valid %.1f days, want 30", days)
	}
	if err := c.VerifyHostname("10.0.0.5"); err != nil {
		t.Error(err)
	}
	if st, err := os.Stat(keyFile); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, %v", st.Mode(), err)
	}
}
