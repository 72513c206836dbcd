package main

import (
	"bytes"
	"context"
	"crypto/sha256"
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

	"github.com/eddy-video/eddy/cmd/eddy/internal/usage"
)

// tokenFlags are `eddy token`'s options.
type tokenFlags struct {
	clientFlags
	stream, expires string
	actions         repeatedFlag
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
	f.register(fs, os.Getenv)
	fs.StringVar(&f.stream, "stream", "", "the stream (a name, or a pattern with * and ?)")
	fs.Var(&f.actions, "action", "an action the token allows: webrtc:read, webrtc:publish, hls:read, eddy:admin (repeat, or separate with commas)")
	fs.StringVar(&f.expires, "expires", "1h", "the token's lifetime (at most the server's auth.max_token_ttl)")
	usage.Set(fs, "--stream NAME --action webrtc:read [--expires 1h] [--endpoint http://HOST:8080]",
		`Asks a running server for a bearer token (POST /api/v1/tokens, signed with SigV4) that allows
the actions on the stream, for WHIP/WHEP clients and HLS players that cannot sign requests, and
prints it. Credentials as the AWS SDKs find them (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY,
--profile, ~/.aws/credentials); the token allows at most what they allow.`)
	if err := usage.Parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return usage.Errorf("token", "unexpected argument %q", fs.Arg(0))
	}
	if f.stream == "" || len(f.actions) == 0 {
		return usage.Errorf("token", "want --stream and at least one --action")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := f.resolve(ctx, os.Getenv); err != nil {
		return err
	}
	if f.anonymous {
		return errors.New("token: want credentials (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or a --profile)")
	}
	tok, expires, err := requestToken(ctx, &f)
	if err != nil {
		return err
	}
	fmt.Println(tok)
	fmt.Fprintf(os.Stderr, "eddy token: %s on %s, expires %s\n", strings.Join(f.actions, ", "), f.stream, expires)
	return nil
}

// requestToken signs and sends the token request.
func requestToken(ctx context.Context, f *tokenFlags) (string, string, error) {
	body, err := json.Marshal(map[string]any{"stream": f.stream, "actions": []string(f.actions), "expires": f.expires})
	if err != nil {
		return "", "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.endpoint+"/api/v1/tokens", bytes.NewReader(body))
	if err != nil {
		return "", "", err
	}
	req.Header.Set("Content-Type", "application/json")
	sum := sha256.Sum256(body)
	if err := f.sign(ctx, req, hex.EncodeToString(sum[:])); err != nil {
		return "", "", err
	}
	tr, err := transport(f.caFile)
	if err != nil {
		return "", "", err
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second, Transport: tr}).Do(req)
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
