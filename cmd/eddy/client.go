package main

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideoarchivedmedia"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/logging"
)

// defaultEndpoint is where the client commands find Eddy unless told.
const defaultEndpoint = "http://127.0.0.1:8080"

// clientFlags are the options of every command that talks to a server
// (the chores and eddy token): where it is, and whose credentials to sign
// with, found as the AWS SDKs find them.
type clientFlags struct {
	endpoint, region, profile, accessKeyID, secret, caFile string

	creds     aws.CredentialsProvider // set by resolve
	anonymous bool                    // no credentials anywhere: requests go unsigned
}

// register adds the flags to fs, their defaults read with getenv. The
// credentials' flags have no defaults shown: resolve looks further.
func (f *clientFlags) register(fs *flag.FlagSet, getenv func(string) string) {
	fs.StringVar(&f.endpoint, "endpoint", envOrFunc(getenv, "EDDY_ENDPOINT", defaultEndpoint), "Eddy's HTTP(S) address ($EDDY_ENDPOINT when set)")
	fs.StringVar(&f.region, "region", envOrFunc(getenv, "AWS_REGION", getenv("AWS_DEFAULT_REGION")), "the region the server is configured with (default $AWS_REGION, the profile's, or us-east-1)")
	fs.StringVar(&f.profile, "profile", "", "the shared config profile whose credentials sign the requests (default $AWS_PROFILE)")
	fs.StringVar(&f.accessKeyID, "access-key-id", "", "access key id (default $AWS_ACCESS_KEY_ID, then the profile)")
	fs.StringVar(&f.secret, "secret-access-key", "", "secret access key (default $AWS_SECRET_ACCESS_KEY; prefer the variable: flags show in ps)")
	fs.StringVar(&f.caFile, "ca", getenv("AWS_CA_BUNDLE"), "PEM file of the CA (or self-signed certificate) to trust for https (default $AWS_CA_BUNDLE)")
}

// credentialsWait bounds the search of the credential chain (the EC2
// instance metadata service is its last, slowest step).
const credentialsWait = 5 * time.Second

// resolve completes the flags after parsing and finds the credentials, in
// this order: --access-key-id (with --secret-access-key or
// $AWS_SECRET_ACCESS_KEY); --profile; then the SDKs' default chain
// ($AWS_ACCESS_KEY_ID and $AWS_SECRET_ACCESS_KEY, $AWS_PROFILE or the
// default profile of ~/.aws/credentials and ~/.aws/config, web identity,
// the container and instance roles). With none, requests go unsigned,
// which a server without credentials takes.
func (f *clientFlags) resolve(ctx context.Context, getenv func(string) string) error {
	f.endpoint = strings.TrimSuffix(f.endpoint, "/")
	if f.accessKeyID != "" && f.secret == "" {
		f.secret = getenv("AWS_SECRET_ACCESS_KEY")
	}
	if f.profile == "" && f.accessKeyID == "" && f.secret == "" {
		f.accessKeyID, f.secret = getenv("AWS_ACCESS_KEY_ID"), getenv("AWS_SECRET_ACCESS_KEY")
	}
	switch {
	case f.accessKeyID != "" && f.secret != "":
		f.creds = aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider(f.accessKeyID, f.secret, getenv("AWS_SESSION_TOKEN")))
	case f.accessKeyID != "" || f.secret != "":
		return errors.New("credentials: an access key id and its secret access key go together (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)")
	default:
		if err := f.chain(ctx, getenv); err != nil {
			return err
		}
	}
	if f.region == "" {
		f.region = "us-east-1"
	}
	return nil
}

// chain loads the shared config as the SDKs do and tries its credentials:
// a profile that was asked for must have some; otherwise none means
// anonymous.
func (f *clientFlags) chain(ctx context.Context, getenv func(string) string) error {
	opts := []func(*config.LoadOptions) error{config.WithLogger(logging.Nop{})}
	profile := f.profile
	if profile == "" {
		profile = getenv("AWS_PROFILE")
	}
	if profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(profile))
	}
	if p := getenv("AWS_SHARED_CREDENTIALS_FILE"); p != "" {
		opts = append(opts, config.WithSharedCredentialsFiles([]string{p}))
	}
	if p := getenv("AWS_CONFIG_FILE"); p != "" {
		opts = append(opts, config.WithSharedConfigFiles([]string{p}))
	}
	if strings.EqualFold(getenv("AWS_EC2_METADATA_DISABLED"), "true") {
		opts = append(opts, config.WithEC2IMDSClientEnableState(imds.ClientDisabled))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return fmt.Errorf("credentials: %w", err)
	}
	if f.region == "" {
		f.region = cfg.Region
	}
	rctx, cancel := context.WithTimeout(ctx, credentialsWait)
	defer cancel()
	if cfg.Credentials != nil {
		if _, err = cfg.Credentials.Retrieve(rctx); err == nil {
			f.creds = cfg.Credentials
			return nil
		}
	}
	if profile != "" {
		return fmt.Errorf("credentials of profile %s: %w", profile, err)
	}
	f.creds, f.anonymous = aws.AnonymousCredentials{}, true
	return nil
}

func envOrFunc(getenv func(string) string, name, def string) string {
	if v := getenv(name); v != "" {
		return v
	}
	return def
}

// sign signs req with SigV4 (service kinesisvideo, as Eddy's own
// endpoints take it), unless the requests go unsigned.
func (f *clientFlags) sign(ctx context.Context, req *http.Request, payloadHash string) error {
	if f.anonymous {
		return nil
	}
	creds, err := f.creds.Retrieve(ctx)
	if err != nil {
		return fmt.Errorf("credentials: %w", err)
	}
	return v4.NewSigner().SignHTTP(ctx, creds, req, payloadHash, "kinesisvideo", f.region, time.Now())
}

// transport is an HTTP transport trusting caFile besides the system's CAs.
func transport(caFile string) (*http.Transport, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if caFile == "" {
		return tr, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("no certificate in %s", caFile)
	}
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return tr, nil
}

// clients are the SDK clients of one server, and a plain HTTP client for
// its other public endpoints (/metrics, /healthz).
type clients struct {
	flags *clientFlags
	kds   *kinesis.Client
	kvs   *kinesisvideo.Client
	media *kinesisvideoarchivedmedia.Client
	http  *http.Client
}

// newClients builds the clients; rt, when set, replaces the transport
// (tests cut connections with it).
func newClients(f *clientFlags, rt http.RoundTripper) (*clients, error) {
	if rt == nil {
		tr, err := transport(f.caFile)
		if err != nil {
			return nil, err
		}
		rt = tr
	}
	hc := sdkHTTPClient{&http.Client{Transport: rt}}
	creds, ep := f.creds, aws.String(f.endpoint)
	return &clients{
		flags: f,
		kds: kinesis.New(kinesis.Options{Region: f.region, BaseEndpoint: ep, Credentials: creds, HTTPClient: hc,
			RetryMaxAttempts: 2}),
		kvs: kinesisvideo.New(kinesisvideo.Options{Region: f.region, BaseEndpoint: ep, Credentials: creds, HTTPClient: hc,
			RetryMaxAttempts: 2}),
		// Eddy is its own data endpoint (GetDataEndpoint answers its URL).
		media: kinesisvideoarchivedmedia.New(kinesisvideoarchivedmedia.Options{Region: f.region, BaseEndpoint: ep,
			Credentials: creds, HTTPClient: hc, RetryMaxAttempts: 2}),
		http: &http.Client{Transport: rt, Timeout: 30 * time.Second},
	}, nil
}

// sdkHTTPClient hides the request body's WriteTo from net/http: the SDK
// closes the body when the response headers arrive while the transport
// may still probe it, which fails a successful call now and then
// (aws/aws-sdk-go-v2#1825, #2737).
type sdkHTTPClient struct{ hc *http.Client }

func (c sdkHTTPClient) Do(req *http.Request) (*http.Response, error) {
	if req.Body != nil && req.Body != http.NoBody {
		req.Body = struct{ io.ReadCloser }{req.Body}
	}
	return c.hc.Do(req)
}

// get sends a GET to one of the server's own endpoints (signed, as
// /metrics takes it).
func (c *clients) get(ctx context.Context, path string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.flags.endpoint+path, nil)
	if err != nil {
		return nil, err
	}
	empty := sha256.Sum256(nil)
	if err := c.flags.sign(ctx, req, hex.EncodeToString(empty[:])); err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, reachError(c.flags.endpoint, err)
	}
	return resp, nil
}

// httpError is an answer other than 200 from one of the server's own
// endpoints, in AWS terms where the body names an error type ("Type:
// message", as /metrics answers, or the JSON error shape).
type httpError struct {
	Status  int
	Type    string
	Message string
}

func (e *httpError) Error() string {
	if e.Type != "" {
		return e.Type + ": " + e.Message
	}
	return fmt.Sprintf("%d %s: %s", e.Status, http.StatusText(e.Status), e.Message)
}

// readHTTPError reads a failed answer's body into an httpError.
func readHTTPError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	msg := strings.TrimSpace(string(b))
	e := &httpError{Status: resp.StatusCode, Type: resp.Header.Get("x-amzn-ErrorType"), Message: msg}
	if t, m, ok := strings.Cut(msg, ": "); ok && e.Type == "" && strings.HasSuffix(t, "Exception") && !strings.Contains(t, " ") {
		e.Type, e.Message = t, m
	}
	return e
}

// apiError words an SDK error in AWS terms (the error type and message
// the server sent), or says that the server could not be reached.
func (c *clients) apiError(err error) error {
	if err == nil {
		return nil
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return &httpError{Type: ae.ErrorCode(), Message: ae.ErrorMessage()}
	}
	return reachError(c.flags.endpoint, err)
}

// reachError says plainly that a server was not reached.
func reachError(endpoint string, err error) error {
	var ne *net.OpError
	if errors.As(err, &ne) {
		return fmt.Errorf("cannot reach Eddy at %s: %v", endpoint, ne.Err)
	}
	return err
}
