package objstoretest

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestStartStopStart: the server answers, the bucket is a directory of
// Dir, a stopped server refuses connections, and a restarted one answers
// on the same address with the same bucket.
func TestStartStopStart(t *testing.T) {
	s := Start(t)
	answers := func() error {
		c := &http.Client{Timeout: 2 * time.Second}
		resp, err := c.Get(s.URL() + "/")
		if err == nil {
			_ = resp.Body.Close()
		}
		return err
	}
	if err := answers(); err != nil {
		t.Fatalf("started server does not answer: %v", err)
	}
	if st, err := os.Stat(filepath.Join(s.Dir(), BucketName)); err != nil || !st.IsDir() {
		t.Fatalf("bucket directory: %v", err)
	}
	cfg := s.Config()
	if cfg.Endpoint != "http://"+s.Addr() || cfg.Bucket != BucketName || !cfg.PathStyle || cfg.Prefix != Prefix {
		t.Fatalf("Config() = %+v", cfg)
	}
	addr := s.Addr()
	s.Stop()
	s.Stop() // twice is fine
	if err := answers(); err == nil {
		t.Fatal("stopped server still answers")
	}
	s.Start()
	if s.Addr() != addr {
		t.Fatalf("restarted on %s, was %s", s.Addr(), addr)
	}
	if err := answers(); err != nil {
		t.Fatalf("restarted server does not answer: %v", err)
	}
	if _, err := os.Stat(filepath.Join(s.Dir(), BucketName)); err != nil {
		t.Fatalf("bucket directory after restart: %v", err)
	}
}
