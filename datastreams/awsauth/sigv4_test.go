package awsauth

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// t0 is the time every test request is signed at and verified at (unless
// the case moves one of them).
var t0 = time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)

var (
	fullCreds  = aws.Credentials{AccessKeyID: "AKIDFULL", SecretAccessKey: "full-secret-1"}
	otherCreds = aws.Credentials{AccessKeyID: "AKIDOTHER", SecretAccessKey: "other-secret-2"}
)

func testVerifier(t testing.TB, now time.Time) *Verifier {
	t.Helper()
	c, err := NewCredentials([]Identity{
		{AccessKeyID: fullCreds.AccessKeyID, Secret: fullCreds.SecretAccessKey, Rules: []Rule{{Actions: []string{"*"}, Streams: []string{"*"}}}},
		{AccessKeyID: otherCreds.AccessKeyID, Secret: otherCreds.SecretAccessKey, Rules: []Rule{{Actions: []string{"kinesis:List*"}, Streams: []string{"*"}}}},
	}, "")
	if err != nil {
		t.Fatal(err)
	}
	return &Verifier{Credentials: c, Region: "us-east-1", Now: func() time.Time { return now }}
}

const putBody = `{"StreamName":"s1","Records":[{"Data":"aGVsbG8=","PartitionKey":"k"}]}`

// kinesisRequest is a PutRecords request as the Go SDK sends it, seen by
// the server.
func kinesisRequest(body string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:4567/", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-amz-json-1.1")
	r.Header.Set("X-Amz-Target", "Kinesis_20131202.PutRecords")
	r.Header.Set("Amz-Sdk-Invocation-Id", "6f7d4d3c-0e42-4a5e-9c1b-2f1f5d4a9b10")
	return r
}

func hashOf(b string) string {
	s := sha256.Sum256([]byte(b))
	return hex.EncodeToString(s[:])
}

// sign signs r with the AWS SDK for Go v2's signer.
func sign(t testing.TB, r *http.Request, creds aws.Credentials, payloadHash, service, region string, at time.Time) {
	t.Helper()
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, r, payloadHash, service, region, at); err != nil {
		t.Fatal(err)
	}
}

// presign returns the server's view of a request made to a URL presigned
// with the SDK's signer (X-Amz-Expires set to expires seconds).
func presign(t testing.TB, method, target, expires string, creds aws.Credentials, service string, at time.Time) *http.Request {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("X-Amz-Expires", expires)
	u.RawQuery = q.Encode()
	cr, _ := http.NewRequest(method, u.String(), nil)
	signed, hdr, err := v4.NewSigner().PresignHTTP(context.Background(), creds, cr, emptyHash, service, "us-east-1", at)
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest(method, signed, nil)
	for k, v := range hdr {
		if !strings.EqualFold(k, "host") {
			r.Header[k] = v
		}
	}
	return r
}

func bodyOf(t testing.TB, r *http.Request) []byte {
	t.Helper()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestVerifyAccepts(t *testing.T) {
	v := testVerifier(t, t0)
	for name, tc := range map[string]struct {
		req     func(t *testing.T) (*http.Request, []byte)
		service string
		want    string
	}{
		"header": {func(t *testing.T) (*http.Request, []byte) {
			r := kinesisRequest(putBody)
			sign(t, r, fullCreds, hashOf(putBody), "kinesis", "us-east-1", t0)
			return r, bodyOf(t, r)
		}, "kinesis", "AKIDFULL"},
		"header, signed 14 min ago": {func(t *testing.T) (*http.Request, []byte) {
			r := kinesisRequest(putBody)
			sign(t, r, otherCreds, hashOf(putBody), "kinesis", "us-east-1", t0.Add(-14*time.Minute))
			return r, bodyOf(t, r)
		}, "kinesis", "AKIDOTHER"},
		"header, signed 14 min ahead": {func(t *testing.T) (*http.Request, []byte) {
			r := kinesisRequest(putBody)
			sign(t, r, fullCreds, hashOf(putBody), "kinesis", "us-east-1", t0.Add(14*time.Minute))
			return r, bodyOf(t, r)
		}, "kinesis", "AKIDFULL"},
		"header, X-Amz-Content-Sha256": {func(t *testing.T) (*http.Request, []byte) {
			r := kinesisRequest(putBody)
			r.Header.Set("X-Amz-Content-Sha256", hashOf(putBody))
			sign(t, r, fullCreds, hashOf(putBody), "kinesis", "us-east-1", t0)
			return r, bodyOf(t, r)
		}, "kinesis", "AKIDFULL"},
		"header, UNSIGNED-PAYLOAD": {func(t *testing.T) (*http.Request, []byte) {
			r := kinesisRequest(putBody)
			r.Header.Set("X-Amz-Content-Sha256", unsignedPayload)
			sign(t, r, fullCreds, unsignedPayload, "kinesis", "us-east-1", t0)
			return r, bodyOf(t, r)
		}, "kinesis", "AKIDFULL"},
		"streaming body signed empty": {func(t *testing.T) (*http.Request, []byte) {
			r := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:4567/putMedia", nil)
			r.Header.Set("X-Amzn-Stream-Name", "cam1")
			sign(t, r, fullCreds, emptyHash, "kinesisvideo", "us-east-1", t0)
			return r, nil
		}, "kinesisvideo", "AKIDFULL"},
		"streaming body signed UNSIGNED-PAYLOAD": {func(t *testing.T) (*http.Request, []byte) {
			r := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:4567/putMedia", nil)
			sign(t, r, fullCreds, unsignedPayload, "kinesisvideo", "us-east-1", t0)
			return r, nil
		}, "kinesisvideo", "AKIDFULL"},
		"query string and odd path": {func(t *testing.T) (*http.Request, []byte) {
			r := httptest.NewRequest(http.MethodGet, "http://h:1/hls/a%20b/x~y.m3u8?b=2&a=%2F&a=-&c=x%20y&Z=1", nil)
			r.Header.Add("X-Multi", "  one   two ")
			r.Header.Add("X-Multi", "three")
			sign(t, r, fullCreds, emptyHash, "kinesisvideo", "us-east-1", t0)
			return r, []byte{}
		}, "kinesisvideo", "AKIDFULL"},
		"presigned": {func(t *testing.T) (*http.Request, []byte) {
			return presign(t, http.MethodGet, "http://127.0.0.1:4567/v1/connect?X-Amz-ChannelARN=arn%3Aaws%3Akinesisvideo%3Aus-east-1%3A1%3Achannel%2Fc%2F1", "300", fullCreds, "kinesisvideo", t0.Add(-4*time.Minute)), nil
		}, "kinesisvideo", "AKIDFULL"},
		"presigned with a body hashed empty": {func(t *testing.T) (*http.Request, []byte) {
			return presign(t, http.MethodGet, "http://127.0.0.1:4567/x", "60", fullCreds, "kinesisvideo", t0), []byte{}
		}, "kinesisvideo", "AKIDFULL"},
	} {
		t.Run(name, func(t *testing.T) {
			r, body := tc.req(t)
			id, f := v.Verify(r, tc.service, body)
			if f != nil {
				t.Fatalf("refused: %s %s (%s)", f.Type, f.Message, f.Reason)
			}
			if id.AccessKeyID != tc.want {
				t.Errorf("identity %s, want %s", id.AccessKeyID, tc.want)
			}
		})
	}
}

// TestVerifyOverTheWire signs requests on a real HTTP client (HTTP/1.1
// and HTTP/2) and verifies what the server receives: net/http moves Host
// and Content-Length out of the header map on the way.
func TestVerifyOverTheWire(t *testing.T) {
	v := testVerifier(t, time.Now())
	var got []string
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if _, f := v.Verify(r, "kinesis", body); f != nil {
			got = append(got, r.Proto+": "+f.Message)
		}
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	for _, h2 := range []bool{false, true} {
		tr := srv.Client().Transport.(*http.Transport).Clone()
		tr.ForceAttemptHTTP2 = h2
		if !h2 {
			tr.TLSClientConfig.NextProtos = []string{"http/1.1"}
		}
		hc := &http.Client{Transport: tr}
		// One header-signed POST, one presigned GET.
		r, _ := http.NewRequest(http.MethodPost, srv.URL+"/", strings.NewReader(putBody))
		r.Header.Set("X-Amz-Target", "Kinesis_20131202.PutRecords")
		sign(t, r, fullCreds, hashOf(putBody), "kinesis", "us-east-1", time.Now())
		resp, err := hc.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		g, _ := http.NewRequest(http.MethodGet, srv.URL+"/x?X-Amz-Expires=60&q=a+b", nil)
		signedURL, hdr, err := v4.NewSigner().PresignHTTP(context.Background(), fullCreds, g, emptyHash, "kinesis", "us-east-1", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		g, _ = http.NewRequest(http.MethodGet, signedURL, nil)
		for k, vv := range hdr {
			if k != "Host" {
				g.Header[k] = vv
			}
		}
		if resp, err = hc.Do(g); err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if len(got) > 0 {
		t.Errorf("refused: %q", got)
	}
}

// TestVerifyKnownAnswer checks the get-vanilla case of AWS's SigV4 test
// suite, whose signature AWS publishes.
func TestVerifyKnownAnswer(t *testing.T) {
	at := time.Date(2015, 8, 30, 12, 36, 0, 0, time.UTC)
	c, _ := NewCredentials([]Identity{{AccessKeyID: "AKIDEXAMPLE", Secret: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
		Rules: []Rule{{Actions: []string{"*"}, Streams: []string{"*"}}}}}, "")
	v := &Verifier{Credentials: c, Region: "us-east-1", Now: func() time.Time { return at }}
	r := httptest.NewRequest(http.MethodGet, "http://example.amazonaws.com/", nil)
	r.Header.Set("X-Amz-Date", "20150830T123600Z")
	r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31")
	if _, f := v.Verify(r, "service", []byte{}); f != nil {
		t.Fatalf("refused: %s", f.Message)
	}
}

// TestVerifyDateHeader checks a request timed by Date instead of
// X-Amz-Date, which no SDK sends any more: it is signed by refSign, a
// test-only signer that first proves it agrees with the SDK's.
func TestVerifyDateHeader(t *testing.T) {
	v := testVerifier(t, t0)
	r := kinesisRequest(putBody)
	sign(t, r, fullCreds, hashOf(putBody), "kinesis", "us-east-1", t0)
	sdkAuth := r.Header.Get("Authorization")
	r.Header.Del("Authorization")
	if got := refSign(r, fullCreds, hashOf(putBody), t0.Format(amzDateFormat), "amz-sdk-invocation-id;content-length;content-type;host;x-amz-date;x-amz-target"); got != sdkAuth {
		t.Fatalf("the reference signer disagrees with the SDK:\n%s\n%s", got, sdkAuth)
	}
	r.Header.Del("X-Amz-Date")
	r.Header.Set("Date", t0.Format(http.TimeFormat))
	r.Header.Set("Authorization", refSign(r, fullCreds, hashOf(putBody), t0.Format(amzDateFormat), "content-type;date;host;x-amz-target"))
	if _, f := v.Verify(r, "kinesis", []byte(putBody)); f != nil {
		t.Fatalf("refused: %s", f.Message)
	}
}

// TestVerifyAuthority: the JS SDK signs HTTP/2's :authority instead of
// host.
func TestVerifyAuthority(t *testing.T) {
	v := testVerifier(t, t0)
	r := kinesisRequest(putBody)
	r.Header.Set("X-Amz-Date", t0.Format(amzDateFormat))
	r.Header.Set("Authorization", refSign(r, fullCreds, hashOf(putBody), t0.Format(amzDateFormat), ":authority;content-type;x-amz-date;x-amz-target"))
	if _, f := v.Verify(r, "kinesis", []byte(putBody)); f != nil {
		t.Fatalf("refused: %s", f.Message)
	}
	r.Host = "other:4567"
	if _, f := v.Verify(r, "kinesis", []byte(putBody)); f == nil || f.Reason != ReasonSignature {
		t.Fatalf("another :authority: %v", f)
	}
}

// refSign signs r's listed headers as the SigV4 documentation describes
// (service kinesis, us-east-1), without Eddy's code.
func refSign(r *http.Request, creds aws.Credentials, payloadHash, amzDate, signedHeaders string) string {
	var canon strings.Builder
	canon.WriteString(r.Method + "\n/\n\n")
	for _, h := range strings.Split(signedHeaders, ";") {
		v := r.Header.Get(h)
		switch h {
		case "host", ":authority":
			v = r.Host
		case "content-length":
			v = strconv.FormatInt(r.ContentLength, 10)
		}
		canon.WriteString(h + ":" + v + "\n")
	}
	canon.WriteString("\n" + signedHeaders + "\n" + payloadHash)
	scopeStr := amzDate[:8] + "/us-east-1/kinesis/aws4_request"
	mac := func(k []byte, s string) []byte { m := hmac.New(sha256.New, k); m.Write([]byte(s)); return m.Sum(nil) }
	key := mac(mac(mac(mac([]byte("AWS4"+creds.SecretAccessKey), amzDate[:8]), "us-east-1"), "kinesis"), "aws4_request")
	sts := "AWS4-HMAC-SHA256\n" + amzDate + "\n" + scopeStr + "\n" + hashOf(canon.String())
	return "AWS4-HMAC-SHA256 Credential=" + creds.AccessKeyID + "/" + scopeStr + ", SignedHeaders=" + signedHeaders + ", Signature=" + hex.EncodeToString(mac(key, sts))
}

const mismatch = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."

// replaceParam rewrites one parameter of a signed Authorization header.
func replaceParam(r *http.Request, param, value string) {
	auth := r.Header.Get("Authorization")
	i := strings.Index(auth, param+"=")
	j := strings.IndexByte(auth[i:], ',')
	if j < 0 {
		j = len(auth) - i
	}
	r.Header.Set("Authorization", auth[:i]+param+"="+value+auth[i+j:])
}

func signedPut(t testing.TB, creds aws.Credentials, service, region string, at time.Time) *http.Request {
	r := kinesisRequest(putBody)
	sign(t, r, creds, hashOf(putBody), service, region, at)
	return r
}

func TestVerifyRefuses(t *testing.T) {
	wrongSecret := fullCreds
	wrongSecret.SecretAccessKey = "not-the-secret"
	unknown := aws.Credentials{AccessKeyID: "AKIDNOBODY", SecretAccessKey: "whatever1"}
	for name, tc := range map[string]struct {
		req     func(t *testing.T) *http.Request
		body    string // "" = the request's own body
		typ     string
		reason  string
		message string // "" = any
	}{
		"unsigned": {func(t *testing.T) *http.Request { return kinesisRequest(putBody) }, "",
			TypeMissingToken, ReasonMissing, "Missing Authentication Token"},
		"wrong secret": {func(t *testing.T) *http.Request { return signedPut(t, wrongSecret, "kinesis", "us-east-1", t0) }, "",
			TypeInvalidSignature, ReasonSignature, mismatch},
		"unknown key": {func(t *testing.T) *http.Request { return signedPut(t, unknown, "kinesis", "us-east-1", t0) }, "",
			TypeUnrecognizedClient, ReasonUnknownKey, "The security token included in the request is invalid."},
		"tampered body": {func(t *testing.T) *http.Request { return signedPut(t, fullCreds, "kinesis", "us-east-1", t0) },
			strings.Replace(putBody, "s1", "s2", 1), TypeInvalidSignature, ReasonSignature, mismatch},
		"tampered header": {func(t *testing.T) *http.Request {
			r := signedPut(t, fullCreds, "kinesis", "us-east-1", t0)
			r.Header.Set("X-Amz-Target", "Kinesis_20131202.DeleteStream")
			return r
		}, "", TypeInvalidSignature, ReasonSignature, mismatch},
		"tampered query": {func(t *testing.T) *http.Request {
			r := signedPut(t, fullCreds, "kinesis", "us-east-1", t0)
			r.URL.RawQuery = "a=b"
			return r
		}, "", TypeInvalidSignature, ReasonSignature, mismatch},
		"tampered path": {func(t *testing.T) *http.Request {
			r := signedPut(t, fullCreds, "kinesis", "us-east-1", t0)
			r.URL.Path = "/other"
			return r
		}, "", TypeInvalidSignature, ReasonSignature, mismatch},
		"tampered host": {func(t *testing.T) *http.Request {
			r := signedPut(t, fullCreds, "kinesis", "us-east-1", t0)
			r.Host = "evil.example:4567"
			return r
		}, "", TypeInvalidSignature, ReasonSignature, mismatch},
		"host not signed": {func(t *testing.T) *http.Request {
			r := signedPut(t, fullCreds, "kinesis", "us-east-1", t0)
			replaceParam(r, "SignedHeaders", "content-type;x-amz-date;x-amz-target")
			return r
		}, "", TypeInvalidSignature, ReasonMalformed, "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."},
		"duplicate signed header": {func(t *testing.T) *http.Request {
			r := signedPut(t, fullCreds, "kinesis", "us-east-1", t0)
			r.Header.Add("X-Amz-Target", "Kinesis_20131202.DeleteStream")
			return r
		}, "", TypeInvalidSignature, ReasonSignature, mismatch},
		"duplicate X-Amz-Date": {func(t *testing.T) *http.Request {
			r := signedPut(t, fullCreds, "kinesis", "us-east-1", t0)
			r.Header.Add("X-Amz-Date", t0.Add(time.Hour).Format(amzDateFormat))
			return r
		}, "", TypeInvalidSignature, ReasonSignature, mismatch},
		"duplicate Authorization": {func(t *testing.T) *http.Request {
			r := signedPut(t, fullCreds, "kinesis", "us-east-1", t0)
			r.Header.Add("Authorization", r.Header.Get("Authorization"))
			return r
		}, "", TypeIncompleteSignature, ReasonMalformed, ""},
		"wrong region": {func(t *testing.T) *http.Request { return signedPut(t, fullCreds, "kinesis", "eu-west-1", t0) }, "",
			TypeInvalidSignature, ReasonScope, "Credential should be scoped to a valid region. "},
		"wrong service": {func(t *testing.T) *http.Request { return signedPut(t, fullCreds, "kinesisvideo", "us-east-1", t0) }, "",
			TypeInvalidSignature, ReasonScope, "Credential should be scoped to correct service: 'kinesis'. "},
		"scope date": {func(t *testing.T) *http.Request {
			r := signedPut(t, fullCreds, "kinesis", "us-east-1", t0)
			replaceParam(r, "Credential", "AKIDFULL/20240505/us-east-1/kinesis/aws4_request")
			return r
		}, "", TypeInvalidSignature, ReasonScope, "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '20240505' != '20240506', from '20240506T070809Z'. "},
		"terminator": {func(t *testing.T) *http.Request {
			r := signedPut(t, fullCreds, "kinesis", "us-east-1", t0)
			replaceParam(r, "Credential", "AKIDFULL/20240506/us-east-1/kinesis/aws5_request")
			return r
		}, "", TypeInvalidSignature, ReasonScope, "Credential should be scoped with a valid terminator: 'aws4_request', not 'aws5_request'. "},
		"skew -16 min": {func(t *testing.T) *http.Request {
			return signedPut(t, fullCreds, "kinesis", "us-east-1", t0.Add(-16*time.Minute))
		}, "", TypeInvalidSignature, ReasonExpired, "Signature expired: 20240506T065209Z is now earlier than 20240506T065309Z (20240506T070809Z - 15 min.)"},
		"skew +16 min": {func(t *testing.T) *http.Request {
			return signedPut(t, fullCreds, "kinesis", "us-east-1", t0.Add(16*time.Minute))
		}, "", TypeInvalidSignature, ReasonExpired, "Signature not yet current: 20240506T072409Z is still later than 20240506T072309Z (20240506T070809Z + 15 min.)"},
		"both forms": {func(t *testing.T) *http.Request {
			r := presign(t, http.MethodGet, "http://127.0.0.1:4567/x", "60", fullCreds, "kinesis", t0)
			r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=x")
			return r
		}, "", TypeInvalidSignature, ReasonMalformed, "Found both 'X-Amz-Algorithm' as a query-string param and 'Authorization' as HTTP header."},
		"bearer": {func(t *testing.T) *http.Request {
			r := kinesisRequest(putBody)
			r.Header.Set("Authorization", "Bearer abc.def")
			return r
		}, "", TypeIncompleteSignature, ReasonMalformed, "'abc.def' not a valid key=value pair (missing equal-sign) in Authorization header: 'Bearer abc.def'."},
		"bare token": {func(t *testing.T) *http.Request {
			r := kinesisRequest(putBody)
			r.Header.Set("Authorization", "token")
			return r
		}, "", TypeIncompleteSignature, ReasonMalformed, "Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization=token"},
		"no signature": {func(t *testing.T) *http.Request {
			r := kinesisRequest(putBody)
			r.Header.Set("X-Amz-Date", t0.Format(amzDateFormat))
			r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDFULL/20240506/us-east-1/kinesis/aws4_request, SignedHeaders=host")
			return r
		}, "", TypeIncompleteSignature, ReasonMalformed, "Authorization header requires 'Signature' parameter. Authorization=AWS4-HMAC-SHA256 Credential=AKIDFULL/20240506/us-east-1/kinesis/aws4_request, SignedHeaders=host"},
		"other algorithm": {func(t *testing.T) *http.Request {
			r := signedPut(t, fullCreds, "kinesis", "us-east-1", t0)
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "SHA256", "SHA512", 1))
			return r
		}, "", TypeIncompleteSignature, ReasonMalformed, "Unsupported AWS 'algorithm': 'AWS4-HMAC-SHA512'."},
		"credential in parts": {func(t *testing.T) *http.Request {
			r := signedPut(t, fullCreds, "kinesis", "us-east-1", t0)
			replaceParam(r, "Credential", "AKIDFULL/20240506/us-east-1")
			return r
		}, "", TypeIncompleteSignature, ReasonMalformed, "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got 'AKIDFULL/20240506/us-east-1'"},
		"bad date": {func(t *testing.T) *http.Request {
			r := signedPut(t, fullCreds, "kinesis", "us-east-1", t0)
			r.Header.Set("X-Amz-Date", "2024-05-06T07:08:09Z")
			return r
		}, "", TypeIncompleteSignature, ReasonMalformed, "Date must be in ISO-8601 'basic format'. Got '2024-05-06T07:08:09Z'. See http://en.wikipedia.org/wiki/ISO_8601"},
		"session token": {func(t *testing.T) *http.Request {
			c := fullCreds
			c.SessionToken = "FwoGZXIvYXdzEAYaDH"
			return signedPut(t, c, "kinesis", "us-east-1", t0)
		}, "", TypeUnrecognizedClient, ReasonUnknownKey, "The security token included in the request is invalid."},
		"session token not signed": {func(t *testing.T) *http.Request {
			r := signedPut(t, fullCreds, "kinesis", "us-east-1", t0)
			r.Header.Set("X-Amz-Security-Token", "FwoGZXIvYXdzEAYaDH")
			return r
		}, "", TypeInvalidSignature, ReasonMalformed, "'X-Amz-Security-Token' must be a 'SignedHeader' in the AWS Authorization."},
		"content hash of another body": {func(t *testing.T) *http.Request {
			r := kinesisRequest(putBody)
			r.Header.Set("X-Amz-Content-Sha256", hashOf("{}"))
			sign(t, r, fullCreds, hashOf("{}"), "kinesis", "us-east-1", t0)
			return r
		}, "", TypeInvalidSignature, ReasonSignature, "The provided 'x-amz-content-sha256' header does not match what was computed."},
		"presigned, expired": {func(t *testing.T) *http.Request {
			return presign(t, http.MethodGet, "http://127.0.0.1:4567/x", "60", fullCreds, "kinesis", t0.Add(-61*time.Second))
		}, "", TypeInvalidSignature, ReasonExpired, "Signature expired: 20240506T070708Z is now earlier than 20240506T070709Z (20240506T070809Z - 1 min.)"},
		"presigned, expires altered": {func(t *testing.T) *http.Request {
			r := presign(t, http.MethodGet, "http://127.0.0.1:4567/x", "60", fullCreds, "kinesis", t0.Add(-61*time.Second))
			r.URL.RawQuery = strings.Replace(r.URL.RawQuery, "X-Amz-Expires=60", "X-Amz-Expires=600", 1)
			return r
		}, "", TypeInvalidSignature, ReasonSignature, mismatch},
		"presigned, on another path": {func(t *testing.T) *http.Request {
			r := presign(t, http.MethodGet, "http://127.0.0.1:4567/x", "60", fullCreds, "kinesis", t0)
			r.URL.Path = "/y"
			return r
		}, "", TypeInvalidSignature, ReasonSignature, mismatch},
		"presigned, parameter added": {func(t *testing.T) *http.Request {
			r := presign(t, http.MethodGet, "http://127.0.0.1:4567/x", "60", fullCreds, "kinesis", t0)
			r.URL.RawQuery += "&extra=1"
			return r
		}, "", TypeInvalidSignature, ReasonSignature, mismatch},
		"presigned, no expiry": {func(t *testing.T) *http.Request {
			r := presign(t, http.MethodGet, "http://127.0.0.1:4567/x", "60", fullCreds, "kinesis", t0)
			r.URL.RawQuery = strings.Replace(r.URL.RawQuery, "X-Amz-Expires=60&", "", 1)
			return r
		}, "", TypeIncompleteSignature, ReasonMalformed, "AWS query-string parameters must include 'X-Amz-Expires'. Re-examine the query-string parameters."},
		"presigned, expiry over a week": {func(t *testing.T) *http.Request {
			return presign(t, http.MethodGet, "http://127.0.0.1:4567/x", "604801", fullCreds, "kinesis", t0)
		}, "", TypeIncompleteSignature, ReasonMalformed, "X-Amz-Expires must be less than a week (in seconds) that is 604800"},
	} {
		t.Run(name, func(t *testing.T) {
			v := testVerifier(t, t0)
			r := tc.req(t)
			body := []byte(tc.body)
			if tc.body == "" {
				body = bodyOf(t, r)
			}
			id, f := v.Verify(r, "kinesis", body)
			if f == nil {
				t.Fatalf("accepted as %s", id.AccessKeyID)
			}
			if f.Type != tc.typ || f.Reason != tc.reason || tc.message != "" && f.Message != tc.message {
				t.Errorf("got %s (%s): %q\nwant %s (%s): %q", f.Type, f.Reason, f.Message, tc.typ, tc.reason, tc.message)
			}
		})
	}
}

// TestVerifyKeyCache checks that a replaced secret takes effect at once
// even though signing keys are cached.
func TestVerifyKeyCache(t *testing.T) {
	v := testVerifier(t, t0)
	if _, f := v.Verify(signedPut(t, fullCreds, "kinesis", "us-east-1", t0), "kinesis", []byte(putBody)); f != nil {
		t.Fatal(f.Message)
	}
	if err := v.Credentials.Replace([]Identity{{AccessKeyID: "AKIDFULL", Secret: "a-new-secret", Rules: []Rule{{Actions: []string{"*"}, Streams: []string{"*"}}}}}, ""); err != nil {
		t.Fatal(err)
	}
	if _, f := v.Verify(signedPut(t, fullCreds, "kinesis", "us-east-1", t0), "kinesis", []byte(putBody)); f == nil || f.Reason != ReasonSignature {
		t.Fatalf("the old secret still works: %v", f)
	}
	renewed := aws.Credentials{AccessKeyID: "AKIDFULL", SecretAccessKey: "a-new-secret"}
	if _, f := v.Verify(signedPut(t, renewed, "kinesis", "us-east-1", t0), "kinesis", []byte(putBody)); f != nil {
		t.Fatal(f.Message)
	}
}

func TestCanonicalQuery(t *testing.T) {
	for raw, want := range map[string]string{
		"":                              "",
		"b=2&a=1":                       "a=1&b=2",
		"a=2&a=1&a=10":                  "a=1&a=10&a=2",
		"x=a+b&y=a%20b&z=%7e":           "x=a%20b&y=a%20b&z=~",
		"k&j=":                          "j=&k=",
		"a%2Fb=1&a-b=1":                 "a%2Fb=1&a-b=1", // sorted after encoding
		"X-Amz-Signature=abc&s=%zz":     "X-Amz-Signature=abc&s=%25zz",
		"%E2%82%AC=%E2%82%AC&&plain=ok": "%E2%82%AC=%E2%82%AC&plain=ok",
	} {
		if got := string(appendCanonicalQuery(nil, raw, false)); got != want {
			t.Errorf("%q → %q, want %q", raw, got, want)
		}
	}
	if got := string(appendCanonicalQuery(nil, "X-Amz-Signature=abc&b=1", true)); got != "b=1" {
		t.Errorf("presigned: %q", got)
	}
}

func TestAppendValue(t *testing.T) {
	for in, want := range map[string]string{
		"":              "",
		"  a  ":         "a",
		"a   b\t\tc":    "a b c",
		"\t x y \t":     "x y",
		"already clean": "already clean",
	} {
		if got := string(appendValue(nil, in)); got != want {
			t.Errorf("%q → %q, want %q", in, got, want)
		}
	}
}

// BenchmarkVerifyPutRecords500 is the whole verification of a signed
// 500-record PutRecords, body hash included, for records of 10, 100 and
// 1,000 bytes.
func BenchmarkVerifyPutRecords500(b *testing.B) {
	for _, size := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("record=%dB", size), func(b *testing.B) {
			body := putRecordsBody(500, size)
			r := kinesisRequest(string(body))
			sign(b, r, fullCreds, hashOf(string(body)), "kinesis", "us-east-1", t0)
			v := testVerifier(b, t0)
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if _, f := v.Verify(r, "kinesis", body); f != nil {
					b.Fatal(f.Message)
				}
			}
		})
	}
}

// BenchmarkBodyHash500 is the part of BenchmarkVerifyPutRecords500 that
// no verifier can skip: SHA-256 of the body.
func BenchmarkBodyHash500(b *testing.B) {
	for _, size := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("record=%dB", size), func(b *testing.B) {
			body := putRecordsBody(500, size)
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				_ = sha256.Sum256(body)
			}
		})
	}
}

// putRecordsBody is a PutRecords JSON body as the SDKs write it: n records
// of size bytes each, base64 in JSON.
func putRecordsBody(n, size int) []byte {
	var buf bytes.Buffer
	buf.WriteString(`{"Records":[`)
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(i * 7)
	}
	enc := make([]byte, 0, size*2)
	for i := range n {
		if i > 0 {
			buf.WriteByte(',')
		}
		enc = enc[:0]
		enc = base64.StdEncoding.AppendEncode(enc, data)
		buf.WriteString(`{"Data":"` + string(enc) + `","PartitionKey":"pk-` + strings.Repeat("x", i%7) + `"}`)
	}
	buf.WriteString(`],"StreamName":"bench"}`)
	return buf.Bytes()
}
