package server_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo"
	kvtypes "github.com/aws/aws-sdk-go-v2/service/kinesisvideo/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideoarchivedmedia"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideoarchivedmedia/types"

	"github.com/eddy-video/eddy/datastreams/awsauth"
	"github.com/eddy-video/eddy/fragments"
	"github.com/eddy-video/eddy/media/mediatest"
	"github.com/eddy-video/eddy/server"
	"github.com/eddy-video/eddy/server/servertest"
)

// The identities of the Kinesis Video auth tests: an administrator, and a
// reader of cam-* streams.
var (
	kvsAdmin  = aws.Credentials{AccessKeyID: "AKIDKVSADMIN", SecretAccessKey: "kvs-admin-secret-1"}
	kvsReader = aws.Credentials{AccessKeyID: "AKIDKVSREADER", SecretAccessKey: "kvs-reader-secret-1"}
)

// readerRules are the reader's permissions.
var readerRules = []awsauth.Rule{{Actions: []string{"kinesisvideo:Get*", "kinesisvideo:List*", "kinesisvideo:Describe*"}, Streams: []string{"cam-*"}}}

func startKVSAuthServer(t *testing.T) *servertest.Env {
	t.Helper()
	return servertest.Start(t, func(c *server.Config) {
		c.Auth.FailureLimit = 0
		c.Auth.MetricsToken = testMetricsToken
		c.Auth.Credentials = []server.CredentialConfig{
			{AccessKeyID: kvsAdmin.AccessKeyID, SecretAccessKey: kvsAdmin.SecretAccessKey,
				Allow: []server.AllowConfig{{Actions: []string{"kinesisvideo:*", "rtsp:publish", "hls:read", "eddy:admin"}, Streams: []string{"*"}}}},
			{AccessKeyID: kvsReader.AccessKeyID, SecretAccessKey: kvsReader.SecretAccessKey,
				Allow: []server.AllowConfig{{Actions: readerRules[0].Actions, Streams: readerRules[0].Streams}}},
		}
	})
}

func provider(creds aws.Credentials) aws.CredentialsProviderFunc {
	return func(context.Context) (aws.Credentials, error) { return creds, nil }
}

func kvAs(creds aws.Credentials) func(*kinesisvideo.Options) {
	return func(o *kinesisvideo.Options) { o.Credentials = provider(creds) }
}

func amAs(creds aws.Credentials) func(*kinesisvideoarchivedmedia.Options) {
	return func(o *kinesisvideoarchivedmedia.Options) { o.Credentials = provider(creds) }
}

// TestKVSAuthGoSDK drives the Kinesis Video control plane and archived
// media with the AWS SDK for Go v2: each identity can do what it is
// allowed and sees only its streams; wrong credentials get AWS's error
// types through the SDK and change nothing; an HLS session ends with the
// permission of the identity that opened it.
func TestKVSAuthGoSDK(t *testing.T) {
	mediatest.RequireTool(t, "ffmpeg")
	t.Parallel()
	e := startKVSAuthServer(t)
	ctx := servertest.Context(t, 2*time.Minute)
	admin, reader := e.KinesisVideo(kvAs(kvsAdmin)), e.KinesisVideo(kvAs(kvsReader))
	var cam1ARN string
	for _, name := range []string{"cam-1", "lobby"} {
		out, err := admin.CreateStream(ctx, &kinesisvideo.CreateStreamInput{StreamName: aws.String(name), DataRetentionInHours: aws.Int32(2)})
		if err != nil {
			t.Fatal(err)
		}
		if name == "cam-1" {
			cam1ARN = *out.StreamARN
		}
	}

	// The reader lists and describes only cam-*.
	list, err := reader.ListStreams(ctx, &kinesisvideo.ListStreamsInput{})
	if err != nil || len(list.StreamInfoList) != 1 || *list.StreamInfoList[0].StreamName != "cam-1" {
		t.Fatalf("ListStreams as the reader: %+v %v", list, err)
	}
	if _, err := reader.DescribeStream(ctx, &kinesisvideo.DescribeStreamInput{StreamName: aws.String("cam-1")}); err != nil {
		t.Fatalf("DescribeStream cam-1 as the reader: %v", err)
	}
	_, err = reader.DescribeStream(ctx, &kinesisvideo.DescribeStreamInput{StreamName: aws.String("lobby")})
	wantAPIError(t, "DescribeStream lobby as the reader", err, "AccessDeniedException", "User: arn:aws:iam::000000000000:user/AKIDKVSREADER is not authorized to perform: kinesisvideo:DescribeStream on resource: arn:aws:kinesisvideo:us-east-1:000000000000:stream/lobby/* because")

	// Refused calls, each through the SDK's own error, change nothing.
	for _, tc := range badSignings(kvsAdmin, kvsReader, "kinesisvideo") {
		kv := e.KinesisVideo(kvAs(tc.creds), func(o *kinesisvideo.Options) {
			if tc.skew != 0 {
				o.HTTPSignerV4 = skewedSigner{tc.skew}
			}
			if tc.region != "" {
				o.Region = tc.region
			}
		})
		bad := "cam-bad-" + strings.ReplaceAll(tc.name, " ", "-")
		_, err := kv.CreateStream(ctx, &kinesisvideo.CreateStreamInput{StreamName: aws.String(bad)})
		wantAPIError(t, tc.name+": CreateStream", err, tc.code, tc.contains)
		_, err = kv.DeleteStream(ctx, &kinesisvideo.DeleteStreamInput{StreamARN: aws.String(cam1ARN)})
		wantAPIError(t, tc.name+": DeleteStream", err, tc.code, tc.contains)
		_, err = kv.UpdateDataRetention(ctx, &kinesisvideo.UpdateDataRetentionInput{StreamName: aws.String("cam-1"),
			CurrentVersion: aws.String("whatever"), Operation: kvtypes.UpdateDataRetentionOperationIncreaseDataRetention, DataRetentionChangeInHours: aws.Int32(5)})
		wantAPIError(t, tc.name+": UpdateDataRetention", err, tc.code, tc.contains)
		if tc.code == "AccessDeniedException" && !strings.Contains(err.Error(), "kinesisvideo:UpdateDataRetention on resource: arn:aws:kinesisvideo:us-east-1:000000000000:stream/cam-1/* because") {
			t.Errorf("UpdateDataRetention as the reader: %v", err)
		}
		_, err = admin.DescribeStream(ctx, &kinesisvideo.DescribeStreamInput{StreamName: aws.String(bad)})
		wantErr[*kvtypes.ResourceNotFoundException](t, err, "")
	}
	d, err := admin.DescribeStream(ctx, &kinesisvideo.DescribeStreamInput{StreamName: aws.String("cam-1")})
	if err != nil || *d.StreamInfo.DataRetentionInHours != 2 || *d.StreamInfo.StreamARN != cam1ARN {
		t.Fatalf("cam-1 after the refused calls: %+v %v", d, err)
	}

	// Archived media: the reader watches and downloads cam-1, not lobby.
	_, _, done := publish(ctx, "rtsp://"+kvsAdmin.AccessKeyID+":"+kvsAdmin.SecretAccessKey+"@"+e.Server.RTSPAddr()+"/cam-1", 4*time.Second, "tcp")
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	am, amReader := e.ArchivedMedia(amAs(kvsAdmin)), e.ArchivedMedia(amAs(kvsReader))
	frags := waitFragments(ctx, t, am, "cam-1", types.FragmentSelectorTypeProducerTimestamp, time.Now().Add(-time.Hour), 2, 10*time.Second)
	if len(frags) < 2 {
		t.Fatalf("%d fragments", len(frags))
	}
	from, to := *frags[0].ProducerTimestamp, *frags[len(frags)-1].ProducerTimestamp
	sel := &types.HLSFragmentSelector{FragmentSelectorType: types.HLSFragmentSelectorTypeProducerTimestamp,
		TimestampRange: &types.HLSTimestampRange{StartTimestamp: &from, EndTimestamp: &to}}
	hlsIn := func(stream string) *kinesisvideoarchivedmedia.GetHLSStreamingSessionURLInput {
		return &kinesisvideoarchivedmedia.GetHLSStreamingSessionURLInput{StreamName: aws.String(stream),
			PlaybackMode: types.HLSPlaybackModeOnDemand, HLSFragmentSelector: sel}
	}
	readerHLS, err := amReader.GetHLSStreamingSessionURL(ctx, hlsIn("cam-1"))
	if err != nil {
		t.Fatal(err)
	}
	adminHLS, err := am.GetHLSStreamingSessionURL(ctx, hlsIn("cam-1"))
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{*readerHLS.HLSStreamingSessionURL, *adminHLS.HLSStreamingSessionURL} {
		if st, _, body := httpGet(t, u); st != 200 || !strings.Contains(body, "#EXT-X-STREAM-INF") {
			t.Fatalf("master playlist: %d %s", st, body)
		}
	}
	clip, err := amReader.GetClip(ctx, &kinesisvideoarchivedmedia.GetClipInput{StreamName: aws.String("cam-1"),
		ClipFragmentSelector: &types.ClipFragmentSelector{FragmentSelectorType: types.ClipFragmentSelectorTypeProducerTimestamp,
			TimestampRange: &types.ClipTimestampRange{StartTimestamp: &from, EndTimestamp: &to}}})
	if err != nil {
		t.Fatalf("GetClip as the reader: %v", err)
	}
	if b, _ := io.ReadAll(clip.Payload); len(b) < 1000 {
		t.Fatalf("GetClip: %d bytes", len(b))
	}
	// GetImages goes through the same guard (kinesisvideo:GetImages).
	imagesIn := func(stream string) *kinesisvideoarchivedmedia.GetImagesInput {
		return &kinesisvideoarchivedmedia.GetImagesInput{StreamName: aws.String(stream), ImageSelectorType: types.ImageSelectorTypeProducerTimestamp,
			StartTimestamp: &from, EndTimestamp: aws.Time(from.Add(time.Second)), SamplingInterval: aws.Int32(1000), Format: types.FormatJpeg}
	}
	if imgs, err := amReader.GetImages(ctx, imagesIn("cam-1")); err != nil || len(imgs.Images) != 2 || imgs.Images[0].ImageContent == nil {
		t.Fatalf("GetImages as the reader: %+v %v", imgs, err)
	}
	_, err = amReader.GetImages(ctx, imagesIn("lobby"))
	wantAPIError(t, "GetImages lobby as the reader", err, "AccessDeniedException", "kinesisvideo:GetImages on resource: arn:aws:kinesisvideo:us-east-1:000000000000:stream/lobby/")
	_, err = amReader.ListFragments(ctx, &kinesisvideoarchivedmedia.ListFragmentsInput{StreamName: aws.String("lobby")})
	wantAPIError(t, "ListFragments lobby as the reader", err, "AccessDeniedException", "kinesisvideo:ListFragments on resource: arn:aws:kinesisvideo:us-east-1:000000000000:stream/lobby/")
	wrong := kvsAdmin
	wrong.SecretAccessKey = "not-the-secret-1"
	_, err = e.ArchivedMedia(amAs(wrong)).GetHLSStreamingSessionURL(ctx, hlsIn("cam-1"))
	wantAPIError(t, "GetHLSStreamingSessionURL with a wrong secret", err, "InvalidSignatureException", "The request signature we calculated does not match")

	// The reader loses GetHLSStreamingSessionURL: its session ends at the
	// next request; the administrator's goes on.
	creds := e.Server.Auth().Credentials
	adminID, _ := creds.Lookup(kvsAdmin.AccessKeyID)
	narrowed := awsauth.Identity{AccessKeyID: kvsReader.AccessKeyID, Secret: kvsReader.SecretAccessKey,
		Rules: []awsauth.Rule{{Actions: []string{"kinesisvideo:List*"}, Streams: []string{"cam-*"}}}}
	if err := creds.Replace([]awsauth.Identity{*adminID, narrowed}, ".events"); err != nil {
		t.Fatal(err)
	}
	if st, _, body := httpGet(t, *readerHLS.HLSStreamingSessionURL); st != http.StatusForbidden || !strings.Contains(body, "may no longer read the stream") {
		t.Fatalf("the reader's session after its permission went: %d %s", st, body)
	}
	if st, _, _ := httpGet(t, *adminHLS.HLSStreamingSessionURL); st != 200 {
		t.Fatalf("the administrator's session: %d", st)
	}
	forged := strings.Replace(*adminHLS.HLSStreamingSessionURL, "SessionToken=", "SessionToken=AAAA", 1)
	if st, _, body := httpGet(t, forged); st != http.StatusForbidden || !strings.Contains(body, "NotAuthorizedException") {
		t.Fatalf("a forged session token: %d %s", st, body)
	}
	for reason, want := range map[string]int{"access_denied": 1, "signature": 1} {
		if n := authFailures(t, e, "hls", reason); n != want {
			t.Errorf("eddy_auth_failures_total{protocol=hls,reason=%s} = %d, want %d", reason, n, want)
		}
	}
	// The administrator's secret is rotated (it leaked): the sessions
	// opened with the old one end.
	rotated := *adminID
	rotated.Secret = "a-new-admin-secret"
	if err := creds.Replace([]awsauth.Identity{rotated, narrowed}, ".events"); err != nil {
		t.Fatal(err)
	}
	if st, _, _ := httpGet(t, *adminHLS.HLSStreamingSessionURL); st != http.StatusForbidden {
		t.Fatalf("the administrator's session after the secret changed: %d", st)
	}
}

// signedKVS signs a Kinesis Video request (restJson1: POST /<Operation>)
// as creds for service, at a time.
func signedKVS(t *testing.T, e *servertest.Env, creds aws.Credentials, service, op string, body []byte, at time.Time) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.URL+"/"+strings.ToLower(op[:1])+op[1:], bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), service, "us-east-1", at); err != nil {
		t.Fatal(err)
	}
	return req
}

// TestKVSAuthRawNegative: Kinesis Video requests signed wrong, on raw
// HTTP, get AWS's error types with status 403 and create nothing.
func TestKVSAuthRawNegative(t *testing.T) {
	t.Parallel()
	e := startKVSAuthServer(t)
	create := []byte(`{"StreamName":"cam-raw","DataRetentionInHours":1}`)
	now := time.Now()
	for _, tc := range []struct {
		name   string
		req    func() *http.Request
		status int
		typ    string
		msg    string
	}{
		{"unsigned", func() *http.Request {
			r := signedKVS(t, e, kvsAdmin, "kinesisvideo", "CreateStream", create, now)
			r.Header.Del("Authorization")
			return r
		}, 403, "MissingAuthenticationTokenException", "Missing Authentication Token"},
		{"signed for kinesis", func() *http.Request { return signedKVS(t, e, kvsAdmin, "kinesis", "CreateStream", create, now) },
			403, "InvalidSignatureException", "Credential should be scoped to correct service: 'kinesisvideo'."},
		{"tampered body", func() *http.Request {
			r := signedKVS(t, e, kvsAdmin, "kinesisvideo", "CreateStream", create, now)
			r.Body = io.NopCloser(bytes.NewReader(bytes.Replace(create, []byte("cam-raw"), []byte("cam-rax"), 1)))
			return r
		}, 403, "InvalidSignatureException", "The request signature we calculated does not match"},
		{"tampered path", func() *http.Request {
			r := signedKVS(t, e, kvsAdmin, "kinesisvideo", "DescribeStream", create, now)
			r.URL.Path = "/createStream"
			return r
		}, 403, "InvalidSignatureException", "The request signature we calculated does not match"},
		{"not allowed", func() *http.Request { return signedKVS(t, e, kvsReader, "kinesisvideo", "CreateStream", create, now) },
			403, "AccessDeniedException", "is not authorized to perform: kinesisvideo:CreateStream on resource: arn:aws:kinesisvideo:us-east-1:000000000000:stream/cam-raw"},
		{"unimplemented operation, unsigned", func() *http.Request {
			r := signedKVS(t, e, kvsAdmin, "kinesisvideo", "CreateSignalingChannel", []byte(`{"ChannelName":"x"}`), now)
			r.Header.Del("Authorization")
			return r
		}, 403, "MissingAuthenticationTokenException", "Missing Authentication Token"},
	} {
		resp, err := http.DefaultClient.Do(tc.req())
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || resp.Header.Get("X-Amzn-Errortype") != tc.typ || !strings.Contains(string(b), tc.msg) {
			t.Errorf("%s: %d %s %s, want %d %s %q", tc.name, resp.StatusCode, resp.Header.Get("X-Amzn-Errortype"), b, tc.status, tc.typ, tc.msg)
		}
	}
	names := videoNames(e)
	if slices.ContainsFunc(names, func(n string) bool { return strings.HasPrefix(n, "cam-ra") }) {
		t.Fatalf("streams after the refused requests: %v", names)
	}
	resp, err := http.DefaultClient.Do(signedKVS(t, e, kvsAdmin, "kinesisvideo", "CreateStream", create, now))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("CreateStream signed right: %d", resp.StatusCode)
	}
}

const boto3KVS = `
import sys, boto3, botocore
from botocore.config import Config
c = boto3.client("kinesisvideo", endpoint_url=sys.argv[1], config=Config(retries={"max_attempts": 1}))
try:
    c.create_stream(StreamName=sys.argv[2], DataRetentionInHours=1)
    print("OK")
except botocore.exceptions.ClientError as e:
    print(e.response["Error"]["Code"], e.response["Error"]["Message"])
`

// TestKVSAuthBoto3AndCLI: boto3 and the AWS CLI sign Kinesis Video
// requests as Eddy checks them, and read its errors.
func TestKVSAuthBoto3AndCLI(t *testing.T) {
	py := boto3Python(t)
	mediatest.RequireTool(t, "aws")
	t.Parallel()
	e := startKVSAuthServer(t)
	run := func(creds aws.Credentials, name string, args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Env = cliEnv(creds)
		out, _ := cmd.CombinedOutput()
		return strings.TrimSpace(string(out))
	}
	wrong := kvsAdmin
	wrong.SecretAccessKey = "not-the-secret-1"
	for _, tc := range []struct {
		creds  aws.Credentials
		stream string
		want   string
	}{
		{kvsAdmin, "cam-boto3", "OK"},
		{kvsAdmin, "lobby", "OK"},
		{wrong, "cam-wrong", "InvalidSignatureException The request signature we calculated does not match"},
		{kvsReader, "cam-reader", "AccessDeniedException User: arn:aws:iam::000000000000:user/AKIDKVSREADER is not authorized to perform: kinesisvideo:CreateStream"},
	} {
		if out := run(tc.creds, py, "-c", boto3KVS, e.URL, tc.stream); !strings.HasPrefix(out, tc.want) {
			t.Errorf("boto3 create_stream %s as %s: %q, want %q", tc.stream, tc.creds.AccessKeyID, out, tc.want)
		}
	}
	out := run(kvsReader, "aws", "kinesisvideo", "list-streams", "--endpoint-url", e.URL, "--query", "StreamInfoList[].StreamName", "--output", "text")
	if out != "cam-boto3" {
		t.Errorf("aws kinesisvideo list-streams as the reader: %q", out)
	}
	out = run(wrong, "aws", "kinesisvideo", "describe-stream", "--stream-name", "cam-boto3", "--endpoint-url", e.URL)
	if !strings.Contains(out, "An error occurred (InvalidSignatureException) when calling the DescribeStream operation") {
		t.Errorf("aws kinesisvideo describe-stream with a wrong secret: %q", out)
	}
	if names := videoNames(e); !slices.Equal(names, []string{"cam-boto3", "lobby"}) {
		t.Errorf("streams: %v", names)
	}
}

// TestMetricsAuth: with credentials, /metrics answers the scrape token,
// a SigV4 signature, an Eddy token or a UI session of an identity with
// eddy:admin, and nothing else; /healthz stays open and names every
// listener.
func TestMetricsAuth(t *testing.T) {
	t.Parallel()
	e := startKVSAuthServer(t)
	a := e.Server.Auth()
	get := func(path string, prepare func(*http.Request)) (int, http.Header, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, e.URL+path, nil)
		if prepare != nil {
			prepare(req)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, string(b)
	}
	bearer := func(tok string) func(*http.Request) {
		return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
	}
	emptyHash := sha256.Sum256(nil)
	signEmpty := func(creds aws.Credentials) func(*http.Request) {
		return func(r *http.Request) {
			if err := v4.NewSigner().SignHTTP(context.Background(), creds, r, hex.EncodeToString(emptyHash[:]), "kinesisvideo", "us-east-1", time.Now()); err != nil {
				t.Fatal(err)
			}
		}
	}
	ui := newUIClient(t, e.URL)
	if st, _, b := ui.do("POST", "/api/v1/ui/login", loginBody(kvsAdmin.AccessKeyID, kvsAdmin.SecretAccessKey)); st != 200 {
		t.Fatalf("login: %d %s", st, b)
	}
	readerUI := newUIClient(t, e.URL)
	if st, _, b := readerUI.do("POST", "/api/v1/ui/login", loginBody(kvsReader.AccessKeyID, kvsReader.SecretAccessKey)); st != 200 {
		t.Fatalf("reader login: %d %s", st, b)
	}
	for _, tc := range []struct {
		name    string
		prepare func(*http.Request)
		status  int
	}{
		{"nothing", nil, 401},
		{"the scrape token", bearer(testMetricsToken), 200},
		{"another bearer token", bearer("not-the-scrape-token"), 401},
		{"SigV4, eddy:admin", signEmpty(kvsAdmin), 200},
		{"SigV4, no eddy:admin", signEmpty(kvsReader), 403},
		{"SigV4, wrong secret", signEmpty(aws.Credentials{AccessKeyID: kvsAdmin.AccessKeyID, SecretAccessKey: "not-the-secret-1"}), 403},
		{"Eddy token, eddy:admin", bearer(issueToken(t, a, kvsAdmin.AccessKeyID, "*", time.Minute, "eddy:admin")), 200},
		{"Eddy token, hls:read", bearer(issueToken(t, a, kvsAdmin.AccessKeyID, "*", time.Minute, "hls:read")), 403},
	} {
		st, hdr, body := get("/metrics", tc.prepare)
		if st != tc.status || (st == 200) != strings.Contains(body, "eddy_auth_failures_total") {
			t.Errorf("/metrics with %s: %d %q, want %d", tc.name, st, body[:min(len(body), 200)], tc.status)
		}
		if st == 401 && !strings.HasPrefix(hdr.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("/metrics with %s: 401 without a Bearer challenge", tc.name)
		}
	}
	if st, _, _ := ui.do("GET", "/metrics", ""); st != 200 {
		t.Errorf("/metrics with an administrator's UI session: %d", st)
	}
	if st, _, _ := readerUI.do("GET", "/metrics", ""); st != 403 {
		t.Errorf("/metrics with a reader's UI session: %d", st)
	}
	if n := authFailures(t, e, "metrics", "missing"); n < 1 {
		t.Errorf("eddy_auth_failures_total{protocol=metrics,reason=missing} = %d", n)
	}
	st, _, body := get("/healthz", nil)
	for _, want := range []string{"ok\n", "http " + strings.TrimPrefix(e.URL, "http://") + " accepting", "rtsp " + e.Server.RTSPAddr() + " accepting"} {
		if st != 200 || !strings.Contains(body, want) {
			t.Errorf("/healthz without credentials: %d %q, want %q", st, body, want)
		}
	}
	open := servertest.Start(t)
	if st, _, body := func() (int, http.Header, string) {
		resp, err := http.Get(open.URL + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, string(b)
	}(); st != 200 || !strings.Contains(body, "eddy_") {
		t.Errorf("/metrics without credentials configured: %d", st)
	}
}

// videoNames lists the server's video streams.
func videoNames(e *servertest.Env) []string {
	var names []string
	for _, v := range e.Server.Videos().List() {
		names = append(names, v.Name)
	}
	return names
}

// TestUIHLSChecksTheResolvedStream: the web UI's HLS endpoint checks
// hls:read on the stream it serves, however the body names it: a body
// whose StreamName passes the UI's check but resolves (by StreamARN) to
// another stream is refused without saying anything of that stream.
func TestUIHLSChecksTheResolvedStream(t *testing.T) {
	t.Parallel()
	e := servertest.Start(t, withAuth, func(c *server.Config) { c.Auth.FailureLimit = 0 })
	lobby, err := e.Server.Videos().CreateStream("lobby", fragments.CreateOptions{RetentionHours: 1})
	if err != nil {
		t.Fatal(err)
	}
	ui := newUIClient(t, e.URL)
	if st, _, b := ui.do("POST", "/api/v1/ui/login", loginBody(viewKey, viewSecret)); st != 200 {
		t.Fatalf("login: %d %s", st, b)
	}
	if st, _, b := ui.do("POST", "/api/v1/ui/hls", `{"StreamName":"lobby"}`); st != http.StatusForbidden || authFailures(t, e, "web", "access_denied") != 1 {
		t.Errorf("UI HLS session for lobby: %d %s, and counted %d times", st, b, authFailures(t, e, "web", "access_denied"))
	}
	for _, arn := range []string{lobby.ARN, "arn:aws:kinesisvideo:us-east-1:000000000000:stream/nothing/1"} {
		body := `{"StreamName":"cam-1","StreamARN":"` + arn + `","StreamName":null,"PlaybackMode":"LIVE"}`
		st, _, b := ui.do("POST", "/api/v1/ui/hls", body)
		if st != http.StatusForbidden || !strings.Contains(b, "AccessDeniedException") || !strings.Contains(b, "hls:read") {
			t.Errorf("UI HLS session for %s by ARN: %d %s", arn, st, b)
		}
	}
}
