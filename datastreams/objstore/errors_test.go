package objstore_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/eddy-video/eddy/datastreams/objstore"
	"github.com/eddy-video/eddy/datastreams/objstore/objstoretest"
)

// closingListener accepts connections and closes them after reading the
// request, without an answer (a TCP proxy or load balancer whose backend
// is gone).
func closingListener(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
			_, _ = c.Read(make([]byte, 4096))
			_ = c.Close()
		}
	}()
	return "http://" + ln.Addr().String()
}

// TestClosedConnectionIsNotPastEnd: a connection closed without an answer
// fails GetRange with a transport error that wraps neither ErrPastEnd nor
// ErrNotFound. (It does wrap io.EOF, from net/http: that is why a range
// past the end has its own ErrPastEnd.)
func TestClosedConnectionIsNotPastEnd(t *testing.T) {
	b := newBucket(t, objstore.Config{Endpoint: closingListener(t), Bucket: "b", AccessKeyID: "ak", SecretAccessKey: "sk",
		PathStyle: true, Timeout: 5 * time.Second})
	ctx := context.Background()
	_, err := b.GetRange(ctx, "k", 0, 10)
	if err == nil {
		t.Fatal("GetRange from a server that closes the connection: no error")
	}
	if errors.Is(err, objstore.ErrPastEnd) || errors.Is(err, objstore.ErrNotFound) {
		t.Errorf("GetRange from a server that closes the connection: %v; want a transport error, not ErrPastEnd or ErrNotFound", err)
	}
	if _, err := b.Head(ctx, "k"); err == nil || errors.Is(err, objstore.ErrNotFound) {
		t.Errorf("Head from a server that closes the connection: %v; want a transport error, not ErrNotFound", err)
	}
}

// TestConditionalRequestConflict: AWS answers a conditional write racing
// another at the same key with 409 ConditionalRequestConflict, which asks
// for a retry and says nothing of an object being there: not ErrExists.
// (No S3-compatible server to run in tests answers it; the answer here is
// AWS's documented one, byte for byte in shape.)
func TestConditionalRequestConflict(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/xml")
		w.Header().Set("x-amz-request-id", "4442587FB7D0A2F9")
		w.WriteHeader(http.StatusConflict)
		_, _ = io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>ConditionalRequestConflict</Code><Message>A conflicting operation occurred. If using PutObject you can retry the request. If using multipart upload you should initiate another CreateMultipartUpload request and re-upload each part.</Message><RequestId>4442587FB7D0A2F9</RequestId></Error>`)
	}))
	defer srv.Close()
	b := newBucket(t, objstore.Config{Endpoint: srv.URL, Bucket: "b", AccessKeyID: "ak", SecretAccessKey: "sk", PathStyle: true})
	err := b.PutIfAbsent(context.Background(), "k", strings.NewReader("v"), 1, nil)
	if err == nil {
		t.Fatal("PutIfAbsent answered 409: no error")
	}
	if errors.Is(err, objstore.ErrExists) || !errors.Is(err, objstore.ErrConflict) {
		t.Fatalf("409 ConditionalRequestConflict: %v; want ErrConflict, not ErrExists", err)
	}
	if !strings.Contains(err.Error(), "ConditionalRequestConflict") || !strings.Contains(err.Error(), "retry") {
		t.Errorf("409 ConditionalRequestConflict: %v; want the code and that it is to be retried", err)
	}
}

// TestSlowUpload: the deadline of a PUT covers sending its body at
// 1 Mbit/s, so an uplink slower than size/Timeout delays the upload
// instead of failing it. The body here goes at 200 KB/s through a proxy,
// 300 KB with a 300 ms Timeout: 1.5 s.
func TestSlowUpload(t *testing.T) {
	s := objstoretest.Start(t)
	u, err := url.Parse(s.URL())
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(u)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut {
			r.Body = &slowReader{r: r.Body, rate: 200_000}
		}
		proxy.ServeHTTP(w, r)
	}))
	defer front.Close()
	cfg := s.Config()
	cfg.Endpoint = front.URL
	cfg.Timeout = 300 * time.Millisecond
	b := newBucket(t, cfg)
	ctx := context.Background()
	data := randBytes(11, 300_000)
	start := time.Now()
	if err := b.PutIfAbsent(ctx, "slow", bytes.NewReader(data), int64(len(data)), nil); err != nil {
		t.Fatalf("PutIfAbsent at 200 KB/s with a Timeout of %v: %v", cfg.Timeout, err)
	}
	if d := time.Since(start); d < time.Second {
		t.Fatalf("the upload took %v: the proxy did not slow it down, the test proves nothing", d)
	}
	if err := b.Put(ctx, "slow-plain", data); err != nil {
		t.Fatalf("Put at 200 KB/s with a Timeout of %v: %v", cfg.Timeout, err)
	}
	if got, err := b.Get(ctx, "slow"); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("Get after the slow upload: %d bytes, %v", len(got), err)
	}

	for _, c := range []struct {
		size int64
		want time.Duration
	}{
		{0, 300 * time.Millisecond},
		{125_000, 1300 * time.Millisecond},
		{16 << 20, 300*time.Millisecond + 134217728*time.Second/1_000_000},
	} {
		if got := objstore.UploadTimeout(b, c.size); got != c.want {
			t.Errorf("UploadTimeout(%d) = %v, want %v", c.size, got, c.want)
		}
	}
}

// slowReader reads at about rate bytes per second.
type slowReader struct {
	r    io.ReadCloser
	rate int
}

func (s *slowReader) Read(p []byte) (int, error) {
	const chunk = 10_000
	if len(p) > chunk {
		p = p[:chunk]
	}
	time.Sleep(time.Duration(len(p)) * time.Second / time.Duration(s.rate))
	return s.r.Read(p)
}

func (s *slowReader) Close() error { return s.r.Close() }
