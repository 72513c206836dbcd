package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// tokenFlags are `eddy token`'s options.
type tokenFlags struct {
	endpoint, stream, expires, region string
	accessKeyID, secret, caFile       string
	actions                           repeatedFlag
}

// repeatedFlag collects a repeated flag, each value possibly
// comma-separated.
type repeatedFlag []string

func (l *repeatedFlag) String() string { return strings.Join(*l, ",") }

func (l *repeatedFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

// token asks a server for an Eddy bearer token (POST /api/v1/tokens,
// signed with SigV4 as a Kinesis Video call) and prints it.
func token(args []string) error {
	var f tokenFlags
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	fs.StringVar(&f.endpoint, "endpoint", "http://127.0.0.1:8080", "Eddy's HTTP(S) address")
	fs.StringVar(&f.stream, "stream", "", "the stream (a name, or a pattern with * and ?)")
	fs.Var(&f.actions, "action", "an action the token allows: webrtc:read, webrtc:publish, hls:read, eddy:admin (repeat, or separate with commas)")
	fs.StringVar(&f.expires, "expires", "1h", "the token's lifetime (at most the server's auth.max_token_ttl)")
	fs.StringVar(&f.region, "region", envOr("AWS_REGION", envOr("AWS_DEFAULT_REGION", "us-east-1")), "the region the server is configured with")
	fs.StringVar(&f.accessKeyID, "access-key-id", os.Getenv("AWS_ACCESS_KEY_ID"), "access key id (default $AWS_ACCESS_KEY_ID)")
	fs.StringVar(&f.secret, "secret-access-key", "", "secret access key (default $AWS_SECRET_ACCESS_KEY; prefer the variable: flags show in ps)")
	fs.StringVar(&f.caFile, "ca", "", "PEM file of the CA (or self-signed certificate) to trust for https")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: eddy token --stream NAME --action webrtc:read [--expires 1h] [--endpoint http://HOST:8080]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if f.secret == "" {
		f.secret = os.Getenv("AWS_SECRET_ACCESS_KEY")
	}
	if f.stream == "" || len(f.actions) == 0 || f.accessKeyID == "" || f.secret == "" || fs.NArg() != 0 {
		fs.Usage()
		return errors.New("token: want --stream, at least one --action, and credentials (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tok, expires, err := requestToken(ctx, &f)
	if err != nil {
		return err
	}
	fmt.Println(tok)
	fmt.Fprintf(os.Stderr, "eddy token: %s on %s, expires %s\n", strings.Join(f.actions, ", "), f.stream, expires)
	return nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// requestToken signs and sends the token request.
func requestToken(ctx context.Context, f *tokenFlags) (string, string, error) {
	body, err := json.Marshal(map[string]any{"stream": f.stream, "actions": []string(f.actions), "expires": f.expires})
	if err != nil {
		return "", "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(f.endpoint, "/")+"/api/v1/tokens", bytes.NewReader(body))
	if err != nil {
		return "", "", err
	}
	req.Header.Set("Content-Type", "application/json")
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: f.accessKeyID, SecretAccessKey: f.secret} // Eddy issues no session tokens
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "kinesisvideo", f.region, time.Now()); err != nil {
		return "", "", err
	}
	hc, err := tokenClient(f.caFile)
	if err != nil {
		return "", "", err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return "", "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return "", "", err
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Type    string `json:"__type"`
			Message string `json:"message"`
		}
		if json.Unmarshal(b, &e) == nil && e.Type != "" {
			return "", "", fmt.Errorf("token: %s: %s", e.Type, e.Message)
		}
		return "", "", fmt.Errorf("token: %s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	var out struct{ Token, Expires string }
	if err := json.Unmarshal(b, &out); err != nil || out.Token == "" {
		return "", "", fmt.Errorf("token: unexpected answer %.200q", b)
	}
	return out.Token, out.Expires, nil
}

// tokenClient is an HTTP client trusting caFile besides the system's CAs.
func tokenClient(caFile string) (*http.Client, error) {
	if caFile == "" {
		return &http.Client{Timeout: 30 * time.Second}, nil
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
		return nil, fmt.Errorf("token: no certificate in %s", caFile)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return &http.Client{Timeout: 30 * time.Second, Transport: tr}, nil
}
