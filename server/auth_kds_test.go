package server_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"
	"github.com/fxamacker/cbor/v2"

	"github.com/eddy-video/eddy/media/mediatest"
	"github.com/eddy-video/eddy/server"
	"github.com/eddy-video/eddy/server/servertest"
)

// Two identities: one may do anything with Kinesis, the other only read
// cam-* streams.
var (
	fullCreds    = aws.Credentials{AccessKeyID: "AKIDFULL", SecretAccessKey: "full-secret-0001"}
	limitedCreds = aws.Credentials{AccessKeyID: "AKIDLIMITED", SecretAccessKey: "limited-secret-01"}
)

// startAuthServer runs a server with both identities (the limited one's
// secret in a file) and no slow-down, unless mutate says otherwise.
func startAuthServer(t *testing.T, mutate ...func(*server.Config)) *servertest.Env {
	t.Helper()
	secretFile := filepath.Join(t.TempDir(), "limited.secret")
	if err := os.WriteFile(secretFile, []byte(limitedCreds.SecretAccessKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return servertest.Start(t, append([]func(*server.Config){func(c *server.Config) {
		c.Streams.Throttle = false
		c.Auth.FailureLimit = 0
		c.Auth.MetricsToken = testMetricsToken
		c.Auth.Credentials = []server.CredentialConfig{
			{AccessKeyID: fullCreds.AccessKeyID, SecretAccessKey: fullCreds.SecretAccessKey,
				Allow: []server.AllowConfig{{Actions: []string{"kinesis:*"}, Streams: []string{"*"}}}},
			{AccessKeyID: limitedCreds.AccessKeyID, SecretAccessKeyFile: secretFile,
				Allow: []server.AllowConfig{{Actions: []string{"kinesis:Describe*", "kinesis:List*", "kinesis:Get*", "kinesis:SubscribeToShard"}, Streams: []string{"cam-*"}}}},
		}
	}}, mutate...)...)
}

// as makes a client sign with creds.
func as(creds aws.Credentials) func(*kinesis.Options) {
	return func(o *kinesis.Options) {
		o.Credentials = aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) { return creds, nil })
	}
}

// skewedSigner is the SDK's signer with a clock off by d.
type skewedSigner struct{ d time.Duration }

func (s skewedSigner) SignHTTP(ctx context.Context, c aws.Credentials, r *http.Request, payloadHash, service, region string, at time.Time, opts ...func(*v4.SignerOptions)) error {
	return v4.NewSigner().SignHTTP(ctx, c, r, payloadHash, service, region, at.Add(s.d), opts...)
}

// badSigning is a client that signs wrong: with creds, a clock off by
// skew, for region (when not ""); and what AWS answers it.
type badSigning struct {
	name           string
	creds          aws.Credentials
	skew           time.Duration
	region         string
	code, contains string
}

// badSignings are the wrong ways to sign of the auth tests: a wrong
// secret, an unknown key, a clock 16 minutes off either way and the wrong
// region (as good), and an identity without the permission (limited),
// on service's actions.
func badSignings(good, limited aws.Credentials, service string) []badSigning {
	wrong := good
	wrong.SecretAccessKey = "not-the-secret-1"
	const mismatch = "The request signature we calculated does not match"
	return []badSigning{
		{name: "wrong secret", creds: wrong, code: "InvalidSignatureException", contains: mismatch},
		{name: "unknown key", creds: aws.Credentials{AccessKeyID: "AKIDNOBODY", SecretAccessKey: "nobody-secret-1"},
			code: "UnrecognizedClientException", contains: "The security token included in the request is invalid."},
		{name: "clock 16 min slow", creds: good, skew: -16 * time.Minute, code: "InvalidSignatureException", contains: "Signature expired: "},
		{name: "clock 16 min fast", creds: good, skew: 16 * time.Minute, code: "InvalidSignatureException", contains: "Signature not yet current: "},
		{name: "wrong region", creds: good, region: "eu-west-1", code: "InvalidSignatureException", contains: "Credential should be scoped to a valid region."},
		{name: "missing permission", creds: limited, code: "AccessDeniedException",
			contains: "User: arn:aws:iam::000000000000:user/" + limited.AccessKeyID + " is not authorized to perform: " + service + ":"},
	}
}

// wantAPIError checks that err is the AWS error code, as the SDK reports it.
func wantAPIError(t *testing.T, what string, err error, code, contains string) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("%s: error %v (%T), want %s", what, err, err, code)
	}
	if ae.ErrorCode() != code || !strings.Contains(ae.ErrorMessage(), contains) {
		t.Fatalf("%s: %s %q, want %s containing %q", what, ae.ErrorCode(), ae.ErrorMessage(), code, contains)
	}
}

// records returns the data of every record of a stream's shard 0.
func records(t *testing.T, kc *kinesis.Client, stream string) []string {
	t.Helper()
	recs, _ := readShard(t, kc, iterator(t, kc, stream, "shardId-000000000000", types.ShardIteratorTypeTrimHorizon, nil, nil))
	var out []string
	for _, r := range recs {
		out = append(out, string(r.Data))
	}
	return out
}

func putOne(ctx context.Context, kc *kinesis.Client, stream, data string) error {
	_, err := kc.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(stream),
		Records: []types.PutRecordsRequestEntry{{Data: []byte(data), PartitionKey: aws.String("k"), ExplicitHashKey: aws.String("0")}}})
	return err
}

// TestKDSAuthGoSDK drives the API with the AWS SDK for Go v2: the right
// credentials work (SubscribeToShard too, over HTTP/1.1 and h2c); wrong
// ones get AWS's error types through the SDK, and change nothing.
func TestKDSAuthGoSDK(t *testing.T) {
	env := startAuthServer(t)
	ctx := servertest.Context(t, 2*time.Minute)
	good := env.Kinesis(as(fullCreds), servertest.NoRetries)
	createStream(t, good, "cam-1", 1)
	if err := putOne(ctx, good, "cam-1", "good-1"); err != nil {
		t.Fatal(err)
	}
	carn := registerConsumer(t, good, "cam-1", "efo")
	limited := env.Kinesis(as(limitedCreds), servertest.NoRetries)
	if got := records(t, limited, "cam-1"); !slices.Equal(got, []string{"good-1"}) {
		t.Fatalf("records read with the limited identity: %v", got)
	}
	for name, transport := range map[string]*http.Transport{"http1.1": {}, "h2c": h2cTransport()} {
		kc := env.Kinesis(as(limitedCreds), servertest.NoRetries, servertest.WithHTTPClient(&http.Client{Transport: transport}))
		out, err := subscribe(t, kc, carn, types.ShardIteratorTypeTrimHorizon, nil)
		if err != nil {
			t.Fatalf("SubscribeToShard over %s: %v", name, err)
		}
		ev := <-out.GetStream().Events()
		e, ok := ev.(*types.SubscribeToShardEventStreamMemberSubscribeToShardEvent)
		if !ok || len(e.Value.Records) != 1 || string(e.Value.Records[0].Data) != "good-1" {
			t.Fatalf("SubscribeToShard over %s: %#v (%v)", name, ev, out.GetStream().Err())
		}
		out.GetStream().Close()
		time.Sleep(5100 * time.Millisecond) // one subscription per consumer and shard every 5 s
	}

	for _, tc := range badSignings(fullCreds, limitedCreds, "kinesis") {
		kc := env.Kinesis(as(tc.creds), servertest.NoRetries, func(o *kinesis.Options) {
			if tc.skew != 0 {
				o.HTTPSignerV4 = skewedSigner{tc.skew}
			}
			if tc.region != "" {
				o.Region = tc.region
			}
		})
		bad := "cam-bad-" + strings.ReplaceAll(tc.name, " ", "-")
		_, err := kc.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String(bad), ShardCount: aws.Int32(1)})
		wantAPIError(t, tc.name+": CreateStream", err, tc.code, tc.contains)
		err = putOne(ctx, kc, "cam-1", bad)
		wantAPIError(t, tc.name+": PutRecords", err, tc.code, tc.contains)
		if tc.code == "AccessDeniedException" {
			// The SDK's own modeled type, with the stream in the message.
			wantErr[*types.AccessDeniedException](t, err, "kinesis:PutRecords on resource: arn:aws:kinesis:us-east-1:000000000000:stream/cam-1 because")
		}
		_, err = good.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(bad)})
		wantErr[*types.ResourceNotFoundException](t, err, "")
	}
	if got := records(t, good, "cam-1"); !slices.Equal(got, []string{"good-1"}) {
		t.Fatalf("records after the refused calls: %v", got)
	}
	list, err := good.ListStreams(ctx, &kinesis.ListStreamsInput{})
	if err != nil || !slices.Equal(list.StreamNames, []string{"cam-1"}) {
		t.Fatalf("streams after the refused calls: %v %v", list, err)
	}
}

func h2cTransport() *http.Transport {
	p := new(http.Protocols)
	p.SetUnencryptedHTTP2(true)
	return &http.Transport{Protocols: p}
}

// TestKDSAuthListStreams: ListStreams lists what the identity may list.
func TestKDSAuthListStreams(t *testing.T) {
	env := startAuthServer(t)
	ctx := servertest.Context(t, time.Minute)
	good := env.Kinesis(as(fullCreds))
	for _, s := range []string{"cam-1", "cam-2", "lobby"} {
		createStream(t, good, s, 1)
	}
	out, err := env.Kinesis(as(limitedCreds)).ListStreams(ctx, &kinesis.ListStreamsInput{})
	if err != nil || !slices.Equal(out.StreamNames, []string{"cam-1", "cam-2"}) {
		t.Fatalf("limited ListStreams: %v %v", out, err)
	}
	if out, err = good.ListStreams(ctx, &kinesis.ListStreamsInput{}); err != nil || len(out.StreamNames) != 3 {
		t.Fatalf("full ListStreams: %v %v", out, err)
	}
}

// TestKDSAuthSlowDown: an address over the failure limit waits before it
// is told; its signed requests are not delayed.
func TestKDSAuthSlowDown(t *testing.T) {
	env := startAuthServer(t, func(c *server.Config) {
		c.Auth.FailureLimit = 2
		c.Auth.FailureDelay = server.Duration(400 * time.Millisecond)
	})
	ctx := servertest.Context(t, time.Minute)
	bad := env.Kinesis(as(aws.Credentials{AccessKeyID: "AKIDNOBODY", SecretAccessKey: "nobody-secret-1"}), servertest.NoRetries)
	var took []time.Duration
	for range 4 {
		start := time.Now()
		_, err := bad.ListStreams(ctx, &kinesis.ListStreamsInput{})
		wantAPIError(t, "unknown key", err, "UnrecognizedClientException", "")
		took = append(took, time.Since(start))
	}
	if took[0] > 300*time.Millisecond || took[1] > 300*time.Millisecond || took[2] < 400*time.Millisecond || took[3] < 400*time.Millisecond {
		t.Errorf("failures took %v: want the third and later delayed 400 ms", took)
	}
	start := time.Now()
	if _, err := env.Kinesis(as(fullCreds)).ListStreams(ctx, &kinesis.ListStreamsInput{}); err != nil || time.Since(start) > 300*time.Millisecond {
		t.Errorf("a signed request: %v after %v", err, time.Since(start))
	}
	if n := authFailures(t, env, "kinesis", "unknown_key"); n != 4 {
		t.Errorf("eddy_auth_failures_total{protocol=kinesis,reason=unknown_key} = %d, want 4", n)
	}
}

// cliEnv is the environment for the Python and Node clients: none of the
// caller's AWS_* settings, a given key pair.
func cliEnv(creds aws.Credentials, extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") && !strings.HasPrefix(kv, "NODE_") {
			env = append(env, kv)
		}
	}
	return append(append(env, "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "PYTHONDONTWRITEBYTECODE=1",
		"AWS_ACCESS_KEY_ID="+creds.AccessKeyID, "AWS_SECRET_ACCESS_KEY="+creds.SecretAccessKey, "AWS_DEFAULT_REGION=us-east-1",
		"AWS_EC2_METADATA_DISABLED=true", "AWS_PAGER="), extra...)
}

const boto3Put = `
import os, sys, logging, boto3, botocore
from botocore.config import Config
if os.environ.get("EDDY_BOTO_DEBUG"):
    boto3.set_stream_logger("botocore.auth", logging.DEBUG)
c = boto3.client("kinesis", endpoint_url=sys.argv[1], config=Config(retries={"max_attempts": 1}))
try:
    c.put_record(StreamName="cam-1", Data=sys.argv[2].encode(), PartitionKey="k", ExplicitHashKey="0")
    print("OK")
except botocore.exceptions.ClientError as e:
    print(e.response["Error"]["Code"], e.response["Error"]["Message"])
`

// TestKDSAuthBoto3AndCLI: boto3 and the AWS CLI sign as AWS expects, and
// read AWS's errors.
func TestKDSAuthBoto3AndCLI(t *testing.T) {
	py := boto3Python(t)
	mediatest.RequireTool(t, "aws")
	env := startAuthServer(t)
	good := env.Kinesis(as(fullCreds))
	createStream(t, good, "cam-1", 1)
	run := func(creds aws.Credentials, name string, args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Env = cliEnv(creds)
		out, _ := cmd.CombinedOutput()
		return strings.TrimSpace(string(out))
	}
	wrong := fullCreds
	wrong.SecretAccessKey = "not-the-secret-1"
	for _, tc := range []struct {
		creds aws.Credentials
		data  string
		want  string
	}{
		{fullCreds, "boto3-ok", "OK"},
		{wrong, "boto3-wrong", "InvalidSignatureException The request signature we calculated does not match"},
		{limitedCreds, "boto3-limited", "AccessDeniedException User: arn:aws:iam::000000000000:user/AKIDLIMITED is not authorized to perform: kinesis:PutRecord on resource"},
	} {
		if out := run(tc.creds, py, "-c", boto3Put, env.URL, tc.data); !strings.HasPrefix(out, tc.want) {
			t.Errorf("boto3 as %s: %q, want %q", tc.creds.AccessKeyID, out, tc.want)
		}
	}
	out := run(limitedCreds, "aws", "kinesis", "describe-stream-summary", "--stream-name", "cam-1", "--endpoint-url", env.URL)
	var summary struct{ StreamDescriptionSummary struct{ StreamName string } }
	if err := json.Unmarshal([]byte(out), &summary); err != nil || summary.StreamDescriptionSummary.StreamName != "cam-1" {
		t.Errorf("aws kinesis describe-stream-summary: %q", out)
	}
	out = run(wrong, "aws", "kinesis", "list-streams", "--endpoint-url", env.URL)
	if !strings.Contains(out, "An error occurred (InvalidSignatureException) when calling the ListStreams operation: The request signature we calculated does not match") {
		t.Errorf("aws kinesis list-streams with a wrong secret: %q", out)
	}
	if got := records(t, good, "cam-1"); !slices.Equal(got, []string{"boto3-ok"}) {
		t.Errorf("records: %v", got)
	}
}

// jsSDK returns node and the test-local JS SDK directory, or skips (fails
// in CI) when either is missing.
func jsSDK(t *testing.T) (node, dir string) {
	t.Helper()
	mediatest.RequireTool(t, "node")
	node, _ = exec.LookPath("node")
	dir, err := filepath.Abs(filepath.Join("..", "testdata", "jssdk"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@aws-sdk", "client-kinesis", "package.json")); err != nil {
		mediatest.Missing(t, "the JS SDK is not installed: run npm install --prefix testdata/jssdk --no-save @aws-sdk/client-kinesis@"+jsSDKVersion)
	}
	return node, dir
}

// jsSDKVersion is the @aws-sdk/client-kinesis the tests use (.ci/run
// installs the same).
const jsSDKVersion = "3.1143.0"

// jsResult is what testdata/jssdk/kds_auth.mjs prints.
type jsResult struct {
	Handler  string
	Put      *struct{ Failed, N int }
	PutError *struct{ Name, Message, Class string }
	Records  []string
	SubError *struct{ Name, Message string }
}

func runJS(t *testing.T, endpoint string, creds aws.Credentials, consumerARN string, extraEnv ...string) jsResult {
	t.Helper()
	node, dir := jsSDK(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join(dir, "kds_auth.mjs"), endpoint, creds.AccessKeyID, creds.SecretAccessKey, "cam-1", consumerARN)
	cmd.Env = cliEnv(creds, extraEnv...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, stderr.String())
	}
	var r jsResult
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("node printed %q: %v\n%s", out, err, stderr.String())
	}
	return r
}

// TestKDSAuthJSSDK: the JS SDK v3 puts records and subscribes (over h2c,
// and over HTTPS with HTTP/2), and reads a wrong secret's error.
func TestKDSAuthJSSDK(t *testing.T) {
	jsSDK(t)
	for _, tc := range []struct {
		name string
		tls  bool
	}{{"h2c", false}, {"https h2", true}} {
		t.Run(tc.name, func(t *testing.T) {
			var pool *x509.CertPool
			var certFile string
			env := startAuthServer(t, func(c *server.Config) {
				if tc.tls {
					c.TLSCert, c.TLSKey, pool = selfSignedCert(t)
					certFile = c.TLSCert
				}
			})
			hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
			good := env.Kinesis(as(fullCreds), servertest.WithHTTPClient(hc))
			createStream(t, good, "cam-1", 1)
			carn := registerConsumer(t, good, "cam-1", "js")
			var extra []string
			if tc.tls {
				extra = append(extra, "NODE_EXTRA_CA_CERTS="+certFile)
			}
			r := runJS(t, env.URL, fullCreds, *carn, extra...)
			if r.Handler != "NodeHttp2Handler" || r.Put == nil || r.Put.Failed != 0 || r.Put.N != 1 || !slices.Equal(r.Records, []string{"js-1"}) {
				t.Fatalf("JS SDK with the right credentials: %+v %+v %+v", r, r.PutError, r.SubError)
			}
			wrong := fullCreds
			wrong.SecretAccessKey = "not-the-secret-1"
			r = runJS(t, env.URL, wrong, "", extra...)
			if r.PutError == nil || r.PutError.Name != "InvalidSignatureException" || !strings.HasPrefix(r.PutError.Message, "The request signature we calculated does not match") {
				t.Fatalf("JS SDK with a wrong secret: %+v %+v", r, r.PutError)
			}
			r = runJS(t, env.URL, limitedCreds, "", extra...)
			if r.PutError == nil || r.PutError.Class != "AccessDeniedException" {
				t.Fatalf("JS SDK without the permission: %+v %+v", r, r.PutError)
			}
			if got := records(t, good, "cam-1"); !slices.Equal(got, []string{"js-1"}) {
				t.Fatalf("records: %v", got)
			}
		})
	}
}

// rawRequest is a PutRecords (or other) request built, signed and
// tampered with by hand.
type rawRequest struct {
	method, path, query string
	header              http.Header
	body                []byte
}

func (r *rawRequest) httpRequest(t *testing.T, base string) *http.Request {
	t.Helper()
	u := base + r.path
	if r.query != "" {
		u += "?" + r.query
	}
	req, err := http.NewRequest(r.method, u, bytes.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = r.header.Clone()
	return req
}

func bodyHash(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// TestKDSAuthRawNegative refuses tampered and malformed signatures on raw
// HTTP, in JSON and CBOR, with AWS's error types; nothing they ask for
// happens.
func TestKDSAuthRawNegative(t *testing.T) {
	env := startAuthServer(t)
	good := env.Kinesis(as(fullCreds))
	createStream(t, good, "cam-1", 1)
	host := strings.TrimPrefix(env.URL, "http://")
	for _, format := range []string{"json", "cbor"} {
		contentType := "application/x-amz-json-1.1"
		encode := json.Marshal
		if format == "cbor" {
			contentType, encode = cborType, cbor.Marshal
		}
		// request returns an operation's request, signed (presigned: for
		// presign seconds) on path.
		request := func(op, path string, in any, presign int, at time.Time) *rawRequest {
			body, err := encode(in)
			if err != nil {
				t.Fatal(err)
			}
			req, _ := http.NewRequest(http.MethodPost, "http://"+host+path, bytes.NewReader(body))
			req.Header.Set("Content-Type", contentType)
			req.Header.Set("X-Amz-Target", "Kinesis_20131202."+op)
			r := &rawRequest{method: http.MethodPost, path: "/", body: body}
			if presign > 0 {
				q := url.Values{"X-Amz-Expires": {strconv.Itoa(presign)}}
				req.URL.RawQuery = q.Encode()
				signed, hdr, err := v4.NewSigner().PresignHTTP(context.Background(), fullCreds, req, bodyHash(body), "kinesis", "us-east-1", at,
					func(o *v4.SignerOptions) { o.DisableHeaderHoisting = true })
				if err != nil {
					t.Fatal(err)
				}
				su, _ := url.Parse(signed)
				r.query, r.header = su.RawQuery, hdr
				r.header.Del("Host")
				return r
			}
			if err := v4.NewSigner().SignHTTP(context.Background(), fullCreds, req, bodyHash(body), "kinesis", "us-east-1", at); err != nil {
				t.Fatal(err)
			}
			r.header = req.Header
			return r
		}
		put := func(tag string) map[string]any {
			return map[string]any{"StreamName": "cam-1", "Records": []map[string]any{{"Data": []byte("raw-" + tag), "PartitionKey": "k"}}}
		}
		now := time.Now()
		for _, tc := range []struct {
			name string
			req  func() *rawRequest
			typ  string
		}{
			{"unsigned", func() *rawRequest {
				r := request("PutRecords", "/", put("unsigned"), 0, now)
				r.header.Del("Authorization")
				return r
			}, "MissingAuthenticationTokenException"},
			{"tampered body", func() *rawRequest {
				r := request("PutRecords", "/", put("body1"), 0, now)
				r.body, _ = encode(put("body2"))
				return r
			}, "InvalidSignatureException"},
			{"tampered header", func() *rawRequest {
				r := request("DescribeStreamSummary", "/", map[string]any{"StreamName": "cam-1"}, 0, now)
				r.header.Set("X-Amz-Target", "Kinesis_20131202.DeleteStream")
				return r
			}, "InvalidSignatureException"},
			{"tampered query", func() *rawRequest {
				r := request("PutRecords", "/", put("query"), 0, now)
				r.query = "x=1"
				return r
			}, "InvalidSignatureException"},
			{"tampered path", func() *rawRequest { return request("PutRecords", "/other", put("path"), 0, now) }, "InvalidSignatureException"},
			{"host not signed", func() *rawRequest {
				r := request("PutRecords", "/", put("host"), 0, now)
				r.header.Set("Authorization", strings.Replace(r.header.Get("Authorization"), "host;", "", 1))
				return r
			}, "InvalidSignatureException"},
			{"duplicate signed header", func() *rawRequest {
				r := request("DescribeStreamSummary", "/", map[string]any{"StreamName": "cam-1"}, 0, now)
				r.header.Add("X-Amz-Target", "Kinesis_20131202.DeleteStream")
				return r
			}, "InvalidSignatureException"},
			{"duplicate Authorization", func() *rawRequest {
				r := request("PutRecords", "/", put("dupauth"), 0, now)
				r.header.Add("Authorization", r.header.Get("Authorization"))
				return r
			}, "IncompleteSignatureException"},
			{"presigned, expired", func() *rawRequest {
				return request("PutRecords", "/", put("expired"), 5, now.Add(-10*time.Second))
			}, "InvalidSignatureException"},
			{"presigned, altered", func() *rawRequest {
				r := request("PutRecords", "/", put("altered"), 5, now.Add(-10*time.Second))
				r.query = strings.Replace(r.query, "X-Amz-Expires=5", "X-Amz-Expires=500", 1)
				return r
			}, "InvalidSignatureException"},
			{"presigned, another path", func() *rawRequest { return request("PutRecords", "/other", put("presigned-path"), 60, now) }, "InvalidSignatureException"},
			{"presigned and a header", func() *rawRequest {
				r := request("PutRecords", "/", put("both"), 60, now)
				r.header.Set("Authorization", request("PutRecords", "/", put("both"), 0, now).header.Get("Authorization"))
				return r
			}, "InvalidSignatureException"},
		} {
			req := tc.req().httpRequest(t, env.URL)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var eb struct {
				Type    string `json:"__type" cbor:"__type"`
				Message string `json:"message" cbor:"message"`
			}
			dec := json.Unmarshal
			if format == "cbor" {
				dec = cbor.Unmarshal
			}
			if err := dec(b, &eb); err != nil || resp.StatusCode != http.StatusBadRequest || eb.Type != tc.typ ||
				resp.Header.Get("X-Amzn-Errortype") != tc.typ || resp.Header.Get("Content-Type") != contentType {
				t.Errorf("%s %s: %d %s %q (%v), want %s", format, tc.name, resp.StatusCode, resp.Header, b, err, tc.typ)
			}
		}
		// Signed right, a presigned request works.
		req := request("PutRecords", "/", put("presigned-ok-"+format), 60, now).httpRequest(t, env.URL)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s presigned: %d", format, resp.StatusCode)
		}
	}
	got := records(t, good, "cam-1")
	if !slices.Equal(got, []string{"raw-presigned-ok-json", "raw-presigned-ok-cbor"}) {
		t.Errorf("records after the raw requests: %v", got)
	}
}
