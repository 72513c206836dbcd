package objstore_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/eddy-video/eddy/datastreams/objstore"
	"github.com/eddy-video/eddy/datastreams/objstore/objstoretest"
)

// tap is a reverse proxy in front of the test server that records the
// requests' headers.
type tap struct {
	mu   sync.Mutex
	reqs []*http.Request // clones without bodies
	// bodyMD5 is the base64 MD5 of each recorded POST's body.
	bodyMD5 map[*http.Request]string
}

// record keeps a clone of r (and for a POST, its body's MD5).
func (tp *tap) record(t *testing.T, r *http.Request) {
	c := r.Clone(context.Background())
	var sum string
	if r.Method == http.MethodPost {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("tap: read the body of %s %s: %v", r.Method, r.URL, err)
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		h := md5.Sum(body)
		sum = base64.StdEncoding.EncodeToString(h[:])
	}
	tp.mu.Lock()
	defer tp.mu.Unlock()
	tp.reqs = append(tp.reqs, c)
	if tp.bodyMD5 == nil {
		tp.bodyMD5 = map[*http.Request]string{}
	}
	tp.bodyMD5[c] = sum
}

func (tp *tap) find(pred func(*http.Request) bool) []*http.Request {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	var out []*http.Request
	for _, r := range tp.reqs {
		if pred(r) {
			out = append(out, r)
		}
	}
	return out
}

// TestWire checks what goes over the wire: Content-MD5 and no SDK
// checksum on PUTs, parts and DeleteObjects (the settings that keep
// non-AWS servers happy: AWS documents Content-MD5 as required on
// DeleteObjects, and older MinIO refuses one without it), If-None-Match: *
// on the conditional PUT and on the multipart completion, a Range header
// on ranged reads.
func TestWire(t *testing.T) {
	s := objstoretest.Start(t)
	u, err := url.Parse(s.URL())
	if err != nil {
		t.Fatal(err)
	}
	tp := &tap{}
	proxy := httputil.NewSingleHostReverseProxy(u)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tp.record(t, r)
		proxy.ServeHTTP(w, r)
	}))
	defer front.Close()
	cfg := s.Config()
	cfg.Endpoint = front.URL
	cfg.PartSize = objstore.MinPartSize
	b := newBucket(t, cfg)
	ctx := context.Background()

	small := randBytes(8, 1000)
	big := randBytes(9, 6<<20)
	if err := b.PutIfAbsent(ctx, "small", bytes.NewReader(small), int64(len(small)), map[string]string{"crc32c": "00000001"}); err != nil {
		t.Fatal(err)
	}
	if err := b.PutIfAbsent(ctx, "big", bytes.NewReader(big), int64(len(big)), nil); err != nil {
		t.Fatal(err)
	}
	if err := b.Put(ctx, "plain", small); err != nil {
		t.Fatal(err)
	}
	if got, err := b.GetRange(ctx, "big", 10, 20); err != nil || !bytes.Equal(got, big[10:30]) {
		t.Fatalf("GetRange through the tap: %v", err)
	}
	if err := b.Delete(ctx, []string{"small", "big", "plain"}); err != nil {
		t.Fatal(err)
	}
	if objs, _, err := b.List(ctx, "", "", 0); err != nil || len(objs) != 0 {
		t.Fatalf("after Delete through the tap the bucket holds %v (%v)", objs, err)
	}

	noChecksum := func(r *http.Request) {
		t.Helper()
		for name := range r.Header {
			l := strings.ToLower(name)
			if strings.HasPrefix(l, "x-amz-checksum-") || l == "x-amz-sdk-checksum-algorithm" || l == "x-amz-trailer" {
				t.Errorf("%s %s carries %s: %s", r.Method, r.URL, name, r.Header.Get(name))
			}
		}
		if strings.Contains(r.Header.Get("Content-Encoding"), "aws-chunked") {
			t.Errorf("%s %s is aws-chunked", r.Method, r.URL)
		}
		if r.Header.Get("Content-Md5") == "" {
			t.Errorf("%s %s has no Content-MD5", r.Method, r.URL)
		}
	}
	puts := tp.find(func(r *http.Request) bool { return r.Method == http.MethodPut })
	if len(puts) != 4 { // small, 2 parts of big, plain
		t.Fatalf("%d PUTs, want 4", len(puts))
	}
	for _, r := range puts {
		noChecksum(r)
		isPart := r.URL.Query().Get("partNumber") != ""
		isPlain := strings.HasSuffix(r.URL.Path, "/plain")
		if want := !isPart && !isPlain; (r.Header.Get("If-None-Match") == "*") != want {
			t.Errorf("PUT %s: If-None-Match %q", r.URL, r.Header.Get("If-None-Match"))
		}
	}
	completes := tp.find(func(r *http.Request) bool {
		_, ok := r.URL.Query()["uploadId"]
		return r.Method == http.MethodPost && ok
	})
	if len(completes) != 1 || completes[0].Header.Get("If-None-Match") != "*" {
		t.Fatalf("CompleteMultipartUpload requests %d, If-None-Match %v", len(completes), completes)
	}
	heads := tp.find(func(r *http.Request) bool { return r.Method == http.MethodHead })
	if len(heads) != 1 {
		t.Errorf("%d HEADs, want 1 (before the multipart upload)", len(heads))
	}
	deletes := tp.find(func(r *http.Request) bool {
		_, ok := r.URL.Query()["delete"]
		return r.Method == http.MethodPost && ok
	})
	if len(deletes) != 1 {
		t.Fatalf("%d DeleteObjects requests, want 1", len(deletes))
	}
	noChecksum(deletes[0])
	tp.mu.Lock()
	sum := tp.bodyMD5[deletes[0]]
	tp.mu.Unlock()
	if got := deletes[0].Header.Get("Content-Md5"); got != sum {
		t.Errorf("DeleteObjects Content-MD5 %q, the body's MD5 is %q", got, sum)
	}
	if !strings.Contains(deletes[0].Header.Get("Authorization"), "content-md5") {
		t.Errorf("DeleteObjects does not sign Content-MD5: Authorization %q", deletes[0].Header.Get("Authorization"))
	}
	gets := tp.find(func(r *http.Request) bool { return r.Method == http.MethodGet && r.URL.Query().Get("list-type") == "" })
	if len(gets) != 1 || gets[0].Header.Get("Range") != "bytes=10-29" || gets[0].Header.Get("X-Amz-Checksum-Mode") != "" {
		t.Fatalf("GETs %d, Range %q", len(gets), gets[0].Header.Get("Range"))
	}
}
