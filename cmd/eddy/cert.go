package main

import (
	"flag"
	"fmt"
	"time"

	"github.com/eddy-video/eddy/cmd/eddy/internal/usage"
	"github.com/eddy-video/eddy/datastreams/atomicfile"
	"github.com/eddy-video/eddy/server"
)

// cert writes a self-signed certificate and key for trials of TLS
// (tls_cert, tls_key): HTTPS, HTTP/2 and RTSPS. Clients must be told to
// trust it (AWS_CA_BUNDLE, NODE_EXTRA_CA_CERTS, curl --cacert, ffmpeg
// -tls_verify 0).
func cert(args []string) error {
	fs := flag.NewFlagSet("cert", flag.ContinueOnError)
	var hosts multiFlag
	fs.Var(&hosts, "host", "a host name or IP the certificate is for (repeatable; localhost and 127.0.0.1 are always included)")
	certOut := fs.String("cert", "eddy-cert.pem", "certificate file to write")
	keyOut := fs.String("key", "eddy-key.pem", "private key file to write (mode 0600)")
	days := fs.Int("days", 365, "validity in days")
	usage.Set(fs, "[--host NAME]... [--cert FILE --key FILE] [--days N]",
		`Writes a self-signed TLS certificate and its key for trials of HTTPS, HTTP/2 and RTSPS (eddy
serve --tls-cert FILE --tls-key FILE). Clients must be told to trust it: AWS_CA_BUNDLE,
NODE_EXTRA_CA_CERTS, curl --cacert, ffmpeg -tls_verify 0.`)
	if err := usage.Parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return usage.Errorf("cert", "unexpected argument %q", fs.Arg(0))
	}
	certPEM, keyPEM, err := server.SelfSignedCertificate(append([]string{"localhost", "127.0.0.1"}, hosts...), time.Duration(*days)*24*time.Hour)
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(*keyOut, keyPEM, 0o600); err != nil {
		return err
	}
	if err := atomicfile.WriteFile(*certOut, certPEM, 0o644); err != nil {
		return err
	}
	fmt.Printf("wrote %s and %s (hosts %v, valid %d days)\n", *certOut, *keyOut, append([]string{"localhost", "127.0.0.1"}, hosts...), *days)
	return nil
}

// multiFlag is a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return fmt.Sprint(*m) }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }
