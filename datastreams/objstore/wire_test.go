package objstore_test

import (
	"bytes"
	"context"
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
// checksum on PUTs and parts (the settings that keep non-AWS servers
// happy), If-None-Match: * on the conditional PUT and on the multipart
// completion, a Range header on ranged reads.
func TestWire(t *testing.T) {
	s := objstoretest.Start(t)
	u, err := url.Parse(s.URL())
	if err != nil {
		t.Fatal(err)
	}
	tp := &tap{}
	proxy := httputil.NewSingleHostReverseProxy(u)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tp.mu.Lock()
		tp.reqs = append(tp.reqs, r.Clone(context.Background()))
		tp.mu.Unlock()
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
	gets := tp.find(func(r *http.Request) bool { return r.Method == http.MethodGet })
	if len(gets) != 1 || gets[0].Header.Get("Range") != "bytes=10-29" || gets[0].Header.Get("X-Amz-Checksum-Mode") != "" {
		t.Fatalf("GETs %d, Range %q", len(gets), gets[0].Header.Get("Range"))
	}
}
