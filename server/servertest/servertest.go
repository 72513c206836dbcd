package servertest

import (
	"context"
	"crypto/x509"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideoarchivedmedia"

	"github.com/eddy-video/eddy/datastreams/datastreamstest"
	"github.com/eddy-video/eddy/server"
)

// Env is a running server.
type Env struct {
	URL    string // http://127.0.0.1:PORT
	Dir    string // data directory
	Server *server.Server
	Config server.Config
}

// Clock is a settable clock for a server (see StartWithClock): the
// project's one fake clock, datastreamstest.Clock.
type Clock = datastreamstest.Clock

// NewClock returns a clock at t.
func NewClock(t time.Time) *Clock { return datastreamstest.NewClock(t) }

// Config returns the default config with a fresh data directory and
// OS-chosen loopback ports (RTSP over TCP only; tests that need UDP set
// RTSPUDPRTP/RTSPUDPRTCP).
func Config(t testing.TB) server.Config {
	cfg := server.DefaultConfig()
	cfg.Data = t.TempDir()
	cfg.HTTP = "127.0.0.1:0"
	cfg.RTSP = "127.0.0.1:0"
	cfg.RTSPS = "127.0.0.1:0"
	cfg.WebRTC = "127.0.0.1:0"
	cfg.RTSPUDPRTP, cfg.RTSPUDPRTCP = "", ""
	return cfg
}

// Start runs a server with a fresh data directory; mutate adjusts the
// config before start. The server is closed when the test ends.
func Start(t testing.TB, mutate ...func(*server.Config)) *Env {
	t.Helper()
	cfg := Config(t)
	for _, m := range mutate {
		m(&cfg)
	}
	return StartConfig(t, cfg)
}

// StartConfig runs a server with exactly cfg.
func StartConfig(t testing.TB, cfg server.Config) *Env {
	return StartWithClock(t, cfg, nil)
}

// StartWithClock runs a server with cfg whose clock is clk (nil: real time).
func StartWithClock(t testing.TB, cfg server.Config, clk *Clock) *Env {
	t.Helper()
	out := io.Writer(io.Discard)
	if os.Getenv("EDDY_TEST_LOG") != "" {
		out = os.Stderr
	}
	srv := &server.Server{Config: cfg, Logger: slog.New(slog.NewTextHandler(out, nil))}
	if clk != nil {
		srv.Clock = clk.Now
	}
	if err := srv.Initialize(); err != nil {
		t.Fatalf("start server: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("close server: %v", err)
		}
	})
	scheme := "http://"
	if cfg.TLSCert != "" {
		scheme = "https://"
	}
	return &Env{URL: scheme + srv.HTTPAddr(), Dir: cfg.Data, Server: srv, Config: cfg}
}

// Credentials are static test credentials, for servers configured
// without credentials (which check none); a test of authentication signs
// with the identities it configures instead.
var Credentials = aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
	return aws.Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "secret", Source: "servertest"}, nil
})

// Kinesis returns a Kinesis Data Streams client for the server.
func (e *Env) Kinesis(opts ...func(*kinesis.Options)) *kinesis.Client {
	return KinesisAt(e.URL, opts...)
}

// KinesisAt returns a Kinesis client for any endpoint. Its HTTP client
// (the SDK's default, or one set with WithHTTPClient) is wrapped by
// GuardRequestBody.
func KinesisAt(url string, opts ...func(*kinesis.Options)) *kinesis.Client {
	opts = append(opts, func(o *kinesis.Options) { o.HTTPClient = GuardRequestBody(o.HTTPClient) })
	return kinesis.New(kinesis.Options{
		Region:       "us-east-1",
		Credentials:  Credentials,
		BaseEndpoint: aws.String(url),
	}, opts...)
}

// GuardRequestBody works around a client-side race between aws-sdk-go-v2
// and net/http (aws/aws-sdk-go-v2#1825, #2737): the SDK closes the request
// body once response headers arrive while the transport's write loop may
// still probe the body through WriteTo; smithy-go's closed body answers
// io.EOF there, and the transport closes the connection under the response
// being read ("deserialization failed ... use of closed network
// connection" on a 200). Hiding WriteTo turns the probe into a Read, which
// returns a clean EOF. Without it, about one test run in ten fails while
// the server did nothing wrong.
func GuardRequestBody(hc kinesis.HTTPClient) kinesis.HTTPClient {
	if hc == nil {
		hc = awshttp.NewBuildableClient()
	}
	return guardedClient{hc}
}

type guardedClient struct{ hc kinesis.HTTPClient }

func (c guardedClient) Do(req *http.Request) (*http.Response, error) {
	if req.Body != nil && req.Body != http.NoBody {
		req.Body = struct{ io.ReadCloser }{req.Body} // Read and Close only
	}
	return c.hc.Do(req)
}

// NoRetries makes a client surface every error, throttles included.
func NoRetries(o *kinesis.Options) { o.RetryMaxAttempts = 1 }

// WithHTTPClient makes a client use hc.
func WithHTTPClient(hc *http.Client) func(*kinesis.Options) {
	return func(o *kinesis.Options) { o.HTTPClient = hc }
}

// Context returns a context that ends with the test or after d.
func Context(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// RTSPURL returns the RTSP URL of a stream on the server.
func (e *Env) RTSPURL(stream string) string {
	return "rtsp://" + e.Server.RTSPAddr() + "/" + stream
}

// RTSPSURL returns the RTSPS URL of a stream on the server (with TLS
// configured).
func (e *Env) RTSPSURL(stream string) string {
	return "rtsps://" + e.Server.RTSPSAddr() + "/" + stream
}

// KinesisVideo returns a Kinesis Video control-plane client for the server.
func (e *Env) KinesisVideo(opts ...func(*kinesisvideo.Options)) *kinesisvideo.Client {
	return kinesisvideo.New(kinesisvideo.Options{
		Region: "us-east-1", Credentials: Credentials, BaseEndpoint: aws.String(e.URL),
		HTTPClient: GuardRequestBody(nil), RetryMaxAttempts: 1,
	}, opts...)
}

// ArchivedMedia returns a Kinesis Video archived-media client for the
// server (its data endpoint is the server itself).
func (e *Env) ArchivedMedia(opts ...func(*kinesisvideoarchivedmedia.Options)) *kinesisvideoarchivedmedia.Client {
	return kinesisvideoarchivedmedia.New(kinesisvideoarchivedmedia.Options{
		Region: "us-east-1", Credentials: Credentials, BaseEndpoint: aws.String(e.URL),
		HTTPClient: GuardRequestBody(nil), RetryMaxAttempts: 1,
	}, opts...)
}

// SelfSignedCert writes a certificate and key for 127.0.0.1 and localhost
// into a test directory and returns the file paths and a pool trusting it.
func SelfSignedCert(t testing.TB) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	certPEM, keyPEM, err := server.SelfSignedCertificate([]string{"localhost", "127.0.0.1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	return certFile, keyFile, pool
}

// WaitStreamActive waits, with the SDK's StreamExistsWaiter, until a data
// stream is ACTIVE (after CreateStream, or after a reshard's UPDATING),
// polling every 20 to 500 ms for at most 30 s, and fails the test
// otherwise.
func WaitStreamActive(t testing.TB, kc *kinesis.Client, stream string) {
	t.Helper()
	w := kinesis.NewStreamExistsWaiter(kc, func(o *kinesis.StreamExistsWaiterOptions) {
		o.MinDelay, o.MaxDelay = 20*time.Millisecond, 500*time.Millisecond
	})
	if err := w.Wait(context.Background(), &kinesis.DescribeStreamInput{StreamName: aws.String(stream)}, 30*time.Second); err != nil {
		t.Fatalf("data stream %s not ACTIVE: %v", stream, err)
	}
}
