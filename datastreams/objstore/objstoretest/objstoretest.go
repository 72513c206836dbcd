// Package objstoretest starts a real S3-compatible server for tests:
// versitygw (github.com/versity/versitygw, Apache-2.0) serving a temporary
// directory on a loopback port, with one bucket made for the test.
//
// The binary is looked up on PATH, then in $(go env GOPATH)/bin. Without
// it a test is skipped with the command that installs it, or fails when
// the CI environment variable is set (CI installs it: .ci/run).
package objstoretest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/eddy-video/eddy/datastreams/datastreamstest"
	"github.com/eddy-video/eddy/datastreams/objstore"
)

// Version is the versitygw release the tests are written against.
const Version = "v1.8.0"

// InstallCommand installs the server the tests use.
const InstallCommand = "go install github.com/versity/versitygw/cmd/versitygw@" + Version

// The credentials and names every Server uses.
const (
	AccessKey  = "eddytestaccess"
	SecretKey  = "eddytestsecret0123456789"
	BucketName = "eddy-test"
	Prefix     = "eddy/"
	Region     = "us-east-1"
)

// readyTimeout bounds how long a started server may take to answer.
const readyTimeout = 20 * time.Second

// Server is one versitygw process serving Dir on a fixed loopback port.
// Stop and Start it to simulate an outage; it is stopped when the test
// ends. Its methods are safe for concurrent use.
type Server struct {
	t    testing.TB
	bin  string
	dir  string
	addr string // 127.0.0.1:port, kept across Stop/Start

	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{} // closed when cmd has been waited for
	waitErr error
	out     *datastreamstest.SyncBuffer
	closed  bool
}

// Start starts a server for t on a free loopback port with an empty
// directory and creates the bucket BucketName. It skips t (fails it in
// CI) when versitygw is not installed.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := findBinary()
	if err != nil {
		missing(t, err.Error())
	}
	s := &Server{t: t, bin: bin, dir: t.TempDir(), out: &datastreamstest.SyncBuffer{}}
	t.Cleanup(s.cleanup)
	// The free port is found by listening and closing: another process
	// may take it in between, so a server that exits at once is retried
	// on a new port.
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		s.addr, err = freePort()
		if err != nil {
			t.Fatalf("objstoretest: %v", err)
		}
		if lastErr = s.start(); lastErr == nil {
			break
		}
	}
	if lastErr != nil {
		t.Fatalf("objstoretest: %v", lastErr)
	}
	if err := s.createBucket(); err != nil {
		t.Fatalf("objstoretest: create bucket %s: %v", BucketName, err)
	}
	return s
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return s.addr }

// URL is the server's endpoint URL.
func (s *Server) URL() string { return "http://" + s.addr }

// Dir is the directory the server serves; the bucket is Dir()/BucketName
// and an object key a/b is the file Dir()/BucketName/a/b.
func (s *Server) Dir() string { return s.dir }

// Config is the objstore configuration for the test bucket, with keys
// under Prefix.
func (s *Server) Config() objstore.Config {
	return objstore.Config{
		Endpoint:        s.URL(),
		Bucket:          BucketName,
		Prefix:          Prefix,
		Region:          Region,
		AccessKeyID:     AccessKey,
		SecretAccessKey: SecretKey,
		PathStyle:       true,
		Timeout:         10 * time.Second,
	}
}

// Bucket is objstore.New(s.Config()).
func (s *Server) Bucket() objstore.Bucket {
	s.t.Helper()
	b, err := objstore.New(s.Config())
	if err != nil {
		s.t.Fatalf("objstoretest: objstore.New: %v", err)
	}
	return b
}

// Stop kills the server and waits for it to exit; requests fail until
// Start. Stopping a stopped server does nothing.
func (s *Server) Stop() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopLocked()
}

// Start starts the stopped server again on the same port and directory
// and waits until it answers. Starting a running server does nothing.
func (s *Server) Start() {
	s.t.Helper()
	if err := s.start(); err != nil {
		s.t.Fatalf("objstoretest: restart: %v", err)
	}
}

// Output is what the server has written to stdout and stderr so far.
func (s *Server) Output() string { return s.out.String() }

func (s *Server) stopLocked() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.exited
	s.cmd = nil
}

func (s *Server) cleanup() {
	s.mu.Lock()
	s.stopLocked()
	s.closed = true
	s.mu.Unlock()
	if s.t.Failed() {
		s.t.Logf("objstoretest: versitygw on %s said:\n%s", s.addr, tail(s.out.String(), 16<<10))
	}
}

// start runs the server on s.addr and waits until it answers HTTP.
func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("server already cleaned up")
	}
	if s.cmd != nil {
		return nil
	}
	cmd := exec.Command(s.bin, "--port", s.addr, "--quiet", "posix", s.dir)
	cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY="+AccessKey, "ROOT_SECRET_KEY="+SecretKey)
	cmd.Stdout = s.out
	cmd.Stderr = s.out
	cmd.SysProcAttr = procAttr()
	fmt.Fprintf(s.out, "---- %s %s\n", time.Now().Format(time.RFC3339Nano), strings.Join(cmd.Args, " "))
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", s.bin, err)
	}
	exited := make(chan struct{})
	go func() {
		err := cmd.Wait()
		s.waitErr = err
		close(exited)
	}()
	s.cmd, s.exited = cmd, exited

	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(readyTimeout)
	for {
		select {
		case <-exited:
			s.cmd = nil
			return fmt.Errorf("versitygw exited before answering (%v):\n%s", s.waitErr, tail(s.out.String(), 4<<10))
		default:
		}
		// Any HTTP answer (403 to an unsigned request) means it serves.
		resp, err := client.Get("http://" + s.addr + "/")
		if err == nil {
			_ = resp.Body.Close()
			return nil
		}
		if time.Now().After(deadline) {
			s.stopLocked()
			return fmt.Errorf("versitygw did not answer on %s within %v: %v", s.addr, readyTimeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// createBucket makes BucketName with a plain S3 client (not objstore's,
// which has no bucket operations).
func (s *Server) createBucket() error {
	client := s3.New(s3.Options{
		BaseEndpoint: aws.String(s.URL()),
		Region:       Region,
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(AccessKey, SecretKey, ""),
	})
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	_, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(BucketName)})
	return err
}

func findBinary() (string, error) {
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p, nil
	}
	gopath := os.Getenv("GOPATH")
	if gopath == "" {
		if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
			gopath = strings.TrimSpace(string(out))
		}
	}
	for _, dir := range filepath.SplitList(gopath) {
		p := filepath.Join(dir, "bin", "versitygw")
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	return "", fmt.Errorf("versitygw (the S3 server of the object storage tests) is not on PATH nor in $(go env GOPATH)/bin; install it with: %s", InstallCommand)
}

// missing ends t for want of the server: a failure in CI (which installs
// it), a skip otherwise.
func missing(t testing.TB, what string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("%s (CI is set, so this fails instead of skipping)", what)
	}
	t.Skipf("skipping: %s", what)
}

func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		return "", err
	}
	return addr, nil
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "...\n" + s[len(s)-n:]
}
