package server_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/eddy-video/eddy/server"
	"github.com/eddy-video/eddy/server/servertest"
)

// signedTokenRequest POSTs body to /api/v1/tokens signed with SigV4 (nil
// creds: unsigned) for service at time at.
func signedTokenRequest(ctx context.Context, t *testing.T, e *servertest.Env, creds *aws.Credentials, service string, at time.Time, body string) (int, http.Header, string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "POST", e.URL+"/api/v1/tokens", bytes.NewReader([]byte(body)))
	req.Header.Set("Content-Type", "application/json")
	if creds != nil {
		sum := sha256.Sum256([]byte(body))
		if err := v4.NewSigner().SignHTTP(ctx, *creds, req, hex.EncodeToString(sum[:]), service, "us-east-1", at); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// TestTokenEndpoint: POST /api/v1/tokens issues a token to a SigV4-signed
// identity for what it holds, and refuses anything else in Kinesis
// Video's error shape.
func TestTokenEndpoint(t *testing.T) {
	t.Parallel()
	e := servertest.Start(t, withAuth, func(c *server.Config) { c.Auth.FailureLimit = 0 })
	ctx := servertest.Context(t, 30*time.Second)
	now := time.Now()
	view := &aws.Credentials{AccessKeyID: viewKey, SecretAccessKey: viewSecret}
	read := `{"stream":"cam-1","actions":["webrtc:read"],"expires":"1h"}`

	status, hdr, body := signedTokenRequest(ctx, t, e, view, "kinesisvideo", now, read)
	var out struct{ Token, Expires string }
	if status != 200 || json.Unmarshal([]byte(body), &out) != nil || out.Token == "" || hdr.Get("Cache-Control") != "no-store" {
		t.Fatalf("%d %s", status, body)
	}
	exp, err := time.Parse(time.RFC3339, out.Expires)
	if err != nil || exp.Sub(now) < 59*time.Minute || exp.Sub(now) > 61*time.Minute {
		t.Errorf("expires %q", out.Expires)
	}
	if id, d := e.Server.Auth().VerifyToken(out.Token, "webrtc:read", "cam-1"); d != nil || id.AccessKeyID != viewKey {
		t.Errorf("the issued token: %v", d)
	}

	for _, tc := range []struct {
		name    string
		creds   *aws.Credentials
		service string
		at      time.Time
		body    string
		status  int
		errType string
	}{
		{"unsigned", nil, "kinesisvideo", now, read, 403, "MissingAuthenticationTokenException"},
		{"wrong secret", &aws.Credentials{AccessKeyID: viewKey, SecretAccessKey: "wrongsecret"}, "kinesisvideo", now, read, 403, "InvalidSignatureException"},
		{"unknown key", &aws.Credentials{AccessKeyID: "AKIDNOBODY", SecretAccessKey: viewSecret}, "kinesisvideo", now, read, 403, "UnrecognizedClientException"},
		{"other service", view, "kinesis", now, read, 403, "InvalidSignatureException"},
		{"skewed clock", view, "kinesisvideo", now.Add(-16 * time.Minute), read, 403, "InvalidSignatureException"},
		{"action not held", view, "kinesisvideo", now, `{"stream":"cam-1","actions":["webrtc:read","webrtc:publish"],"expires":"1h"}`, 403, "AccessDeniedException"},
		{"stream not held", view, "kinesisvideo", now, `{"stream":"lobby","actions":["webrtc:read"],"expires":"1h"}`, 403, "AccessDeniedException"},
		{"wider pattern", view, "kinesisvideo", now, `{"stream":"*","actions":["webrtc:read"],"expires":"1h"}`, 403, "AccessDeniedException"},
		{"too long", view, "kinesisvideo", now, `{"stream":"cam-1","actions":["webrtc:read"],"expires":"25h"}`, 400, "InvalidArgumentException"},
		{"not a token action", view, "kinesisvideo", now, `{"stream":"cam-1","actions":["kinesisvideo:GetClip"],"expires":"1h"}`, 400, "InvalidArgumentException"},
		{"unknown field", view, "kinesisvideo", now, `{"stream":"cam-1","actions":["webrtc:read"],"expires":"1h","x":1}`, 400, "InvalidArgumentException"},
		{"bad duration", view, "kinesisvideo", now, `{"stream":"cam-1","actions":["webrtc:read"],"expires":"soon"}`, 400, "InvalidArgumentException"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, hdr, body := signedTokenRequest(ctx, t, e, tc.creds, tc.service, tc.at, tc.body)
			var eb struct {
				Type    string `json:"__type"`
				Message string `json:"message"`
			}
			_ = json.Unmarshal([]byte(body), &eb)
			if status != tc.status || hdr.Get("x-amzn-ErrorType") != tc.errType || eb.Type != tc.errType || eb.Message == "" {
				t.Fatalf("%d %s: %s", status, hdr.Get("x-amzn-ErrorType"), body)
			}
			t.Logf("%d %s: %s", status, eb.Type, eb.Message)
		})
	}
}

// TestTokenEndpointOpen: without credentials there is nothing to issue.
func TestTokenEndpointOpen(t *testing.T) {
	t.Parallel()
	e := servertest.Start(t)
	status, hdr, body := signedTokenRequest(servertest.Context(t, 10*time.Second), t, e, nil, "", time.Now(), `{}`)
	if status != 400 || hdr.Get("x-amzn-ErrorType") != "InvalidArgumentException" {
		t.Fatalf("%d %s", status, body)
	}
}
