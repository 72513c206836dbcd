package awsauth

import (
	"bufio"
	"bytes"
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// FuzzParseAuthorization feeds arbitrary Authorization, X-Amz-Date and
// Date headers to the verifier: it may refuse, never panic, and what it
// accepts as well-formed is well-formed.
func FuzzParseAuthorization(f *testing.F) {
	f.Add("AWS4-HMAC-SHA256 Credential=AKIDFULL/20240506/us-east-1/kinesis/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31", "20240506T070809Z", "")
	f.Add("AWS4-HMAC-SHA256 Credential=AKIDFULL/20240506/us-east-1/kinesis/aws4_request,SignedHeaders=host,Signature=00", "", "Mon, 06 May 2024 07:08:09 GMT")
	f.Add("Bearer abc", "", "")
	f.Add("AWS4-HMAC-SHA256 Credential=/////, SignedHeaders=;;host;, Signature=", "99991231T235959Z", "")
	f.Add("AWS4-HMAC-SHA256 Credential==, Credential=x, =", "20240506T070809Z", "x")
	f.Fuzz(func(t *testing.T, auth, amzDate, date string) {
		h := http.Header{}
		h.Set("Authorization", auth)
		if amzDate != "" {
			h.Set("X-Amz-Date", amzDate)
		}
		if date != "" {
			h.Set("Date", date)
		}
		s, fl := parseAuthorization(auth, h)
		if fl == nil {
			if len(s.date) != len(amzDateFormat) || !s.signs("host") && !s.signs(":authority") {
				t.Fatalf("accepted %q as signed at %q, headers %q", auth, s.date, s.signedHeaders)
			}
		} else if fl.Type == "" || fl.Message == "" || fl.Reason == "" {
			t.Fatalf("an empty failure: %+v", fl)
		}
		r := &http.Request{Method: "POST", URL: &url.URL{Path: "/"}, Host: "h", Header: h}
		if id, fl := testVerifier(t, t0).Verify(r, "kinesis", []byte("{}")); fl == nil {
			t.Fatalf("a fuzzed header authenticated as %s", id.AccessKeyID)
		}
	})
}

// FuzzParsePresigned feeds arbitrary query strings to the verifier.
func FuzzParsePresigned(f *testing.F) {
	f.Add("X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDFULL%2F20240506%2Fus-east-1%2Fkinesis%2Faws4_request&X-Amz-Date=20240506T070809Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Signature=00")
	f.Add("X-Amz-Algorithm=&X-Amz-Expires=-1")
	f.Add("X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=a&X-Amz-Date=x&X-Amz-Expires=604800&X-Amz-SignedHeaders=host;x-amz-security-token&X-Amz-Signature=&X-Amz-Security-Token=t")
	f.Add("a=%zz&X-Amz-Algorithm=AWS4-HMAC-SHA256;b=c")
	f.Fuzz(func(t *testing.T, raw string) {
		r := &http.Request{Method: "GET", URL: &url.URL{Path: "/", RawQuery: raw}, Host: "h", Header: http.Header{}}
		s, fl := parseSigned(r)
		if fl == nil && s.presigned && (s.expires <= 0 || s.expires > maxExpires*1e9) {
			t.Fatalf("expiry %v accepted", s.expires)
		}
		_ = appendCanonicalQuery(nil, raw, true)
		if id, fl := testVerifier(t, t0).Verify(r, "kinesis", nil); fl == nil {
			t.Fatalf("a fuzzed query authenticated as %s", id.AccessKeyID)
		}
	})
}

// specialHeaders are those net/http or the signer treat on their own:
// the fuzzer leaves them to the request.
var specialHeaders = map[string]bool{"Host": true, "Content-Length": true, "Transfer-Encoding": true, "Trailer": true,
	"Authorization": true, "User-Agent": true, "X-Amzn-Trace-Id": true, "Expect": true, "Connection": true,
	"X-Amz-Date": true, "X-Amz-Security-Token": true, "X-Amz-Content-Sha256": true}

// FuzzCanonical is a differential test of the canonicalisation: whatever
// request the AWS SDK's signer signs (header or presigned form), written
// to the wire and read back by net/http as a server would, verifies; with
// its body changed, it does not.
func FuzzCanonical(f *testing.F) {
	f.Add("POST", "/", "", "X-Amz-Target", "Kinesis_20131202.PutRecords", []byte(putBody), false)
	f.Add("GET", "/hls/a%20b/x~y.m3u8", "b=2&a=%2F&a=-&c=x+y", "X-Multi", "  one   two ", []byte{}, true)
	f.Add("PUT", "/%E2%82%AC/./../a//b", "k&j=&%41=1", "Content-Type", "application/json; charset=utf-8", []byte("x"), false)
	f.Add("DELETE", "/v1/connect", "X-Amz-ChannelARN=arn:aws:kinesisvideo:us-east-1:1:channel/c/1", "Accept", "*/*", []byte(nil), true)
	f.Fuzz(func(t *testing.T, method, path, rawQuery, name, value string, body []byte, presigned bool) {
		name = http.CanonicalHeaderKey(name)
		if !validRequestParts(method, path, rawQuery, name, value) {
			return
		}
		cr, err := http.NewRequest(method, "http://example.test:8080"+path+"?"+rawQuery, bytes.NewReader(body))
		if err != nil {
			return
		}
		cr.Header.Set(name, value)
		hash := hashOf(string(body))
		if presigned {
			q := cr.URL.Query()
			q.Set("X-Amz-Expires", "60")
			cr.URL.RawQuery = q.Encode()
			signedURL, hdr, err := v4.NewSigner().PresignHTTP(context.Background(), fullCreds, cr, hash, "kinesis", "us-east-1", t0)
			if err != nil {
				t.Fatal(err)
			}
			if cr, err = http.NewRequest(method, signedURL, bytes.NewReader(body)); err != nil {
				return
			}
			for k, v := range hdr {
				if k != "Host" {
					cr.Header[k] = v
				}
			}
		} else {
			sign(t, cr, fullCreds, hash, "kinesis", "us-east-1", t0)
		}
		r := overTheWire(cr)
		if r == nil {
			return
		}
		v := testVerifier(t, t0)
		got := bodyOf(t, r)
		if _, fl := v.Verify(r, "kinesis", got); fl != nil {
			t.Fatalf("the SDK's signature is refused: %s %s\nrequest: %s %s\nheaders: %q", fl.Type, fl.Message, r.Method, r.URL.RequestURI(), r.Header)
		}
		if _, fl := v.Verify(r, "kinesis", append(got, 'x')); fl == nil {
			t.Fatal("a changed body verifies")
		}
	})
}

// validRequestParts keeps the requests HTTP can carry and the signer
// signs as AWS does: ASCII header values (the SDKs disagree on non-ASCII
// white space; none sends any), no X-Amz-* query parameters (the
// presigned form's own), a token for a name.
func validRequestParts(method, path, rawQuery, name, value string) bool {
	if method == "" || name == "" || !strings.HasPrefix(path, "/") || specialHeaders[name] ||
		strings.Contains(strings.ToLower(rawQuery), "x-amz-") || strings.ContainsAny(path+rawQuery, "#? ") {
		return false
	}
	for _, s := range []string{method, name} {
		for _, c := range []byte(s) {
			if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
				return false
			}
		}
	}
	for _, c := range []byte(value) {
		if c < ' ' || c >= 0x7f {
			return false
		}
	}
	return true
}

// overTheWire writes a client request as HTTP/1.1 and reads it back as
// the server sees it (nil if net/http will not carry it).
func overTheWire(cr *http.Request) *http.Request {
	var wire bytes.Buffer
	if err := cr.Write(&wire); err != nil {
		return nil
	}
	r, err := http.ReadRequest(bufio.NewReader(&wire))
	if err != nil {
		return nil
	}
	return r
}
