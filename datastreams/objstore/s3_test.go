package objstore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/eddy-video/eddy/datastreams/objstore"
	"github.com/eddy-video/eddy/datastreams/objstore/objstoretest"
)

func randBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func newBucket(t testing.TB, cfg objstore.Config) objstore.Bucket {
	t.Helper()
	b, err := objstore.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return b
}

// TestPutIfAbsent: the object lands at its path under the prefix with its
// bytes and metadata; a second PutIfAbsent at the key wraps ErrExists and
// leaves the first object as it was; Put replaces.
func TestPutIfAbsent(t *testing.T) {
	s := objstoretest.Start(t)
	b := s.Bucket()
	ctx := context.Background()
	data := randBytes(1, 100_000)
	meta := map[string]string{"crc32c": "0badf00d", "Mixed-Case": "v"}
	if err := b.PutIfAbsent(ctx, "streams/a/00000000000000000000.seg", bytes.NewReader(data), int64(len(data)), meta); err != nil {
		t.Fatalf("PutIfAbsent: %v", err)
	}
	onDisk, err := os.ReadFile(filepath.Join(s.Dir(), objstoretest.BucketName, "eddy", "streams", "a", "00000000000000000000.seg"))
	if err != nil || !bytes.Equal(onDisk, data) {
		t.Fatalf("the object's file under the prefix: err %v, equal %v", err, bytes.Equal(onDisk, data))
	}
	got, err := b.Get(ctx, "streams/a/00000000000000000000.seg")
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("Get: err %v, %d bytes, equal %v", err, len(got), bytes.Equal(got, data))
	}
	o, err := b.Head(ctx, "streams/a/00000000000000000000.seg")
	if err != nil {
		t.Fatalf("Head: %v", err)
	}
	if o.Key != "streams/a/00000000000000000000.seg" || o.Size != int64(len(data)) || o.Meta["crc32c"] != "0badf00d" || o.Meta["mixed-case"] != "v" {
		t.Fatalf("Head = %+v", o)
	}

	other := randBytes(2, 5000)
	err = b.PutIfAbsent(ctx, "streams/a/00000000000000000000.seg", bytes.NewReader(other), int64(len(other)), nil)
	if !errors.Is(err, objstore.ErrExists) {
		t.Fatalf("second PutIfAbsent: %v, want ErrExists", err)
	}
	if !strings.Contains(err.Error(), "s3://eddy-test/eddy/streams/a/00000000000000000000.seg") || !strings.Contains(err.Error(), "PreconditionFailed") {
		t.Errorf("the error names neither the object nor the server's code: %v", err)
	}
	if got, _ := b.Get(ctx, "streams/a/00000000000000000000.seg"); !bytes.Equal(got, data) {
		t.Fatal("the refused PutIfAbsent changed the object")
	}
	if o, _ := b.Head(ctx, "streams/a/00000000000000000000.seg"); o.Meta["crc32c"] != "0badf00d" {
		t.Fatalf("the refused PutIfAbsent changed the metadata: %v", o.Meta)
	}

	// Put replaces; an empty object is an object.
	if err := b.Put(ctx, "stream.json", []byte(`{"a":1}`)); err != nil {
		t.Fatal(err)
	}
	if err := b.Put(ctx, "stream.json", []byte(`{"a":2}`)); err != nil {
		t.Fatal(err)
	}
	if got, err := b.Get(ctx, "stream.json"); err != nil || string(got) != `{"a":2}` {
		t.Fatalf("Get after two Puts = %q, %v", got, err)
	}
	if err := b.PutIfAbsent(ctx, "empty", bytes.NewReader(nil), 0, nil); err != nil {
		t.Fatal(err)
	}
	if o, err := b.Head(ctx, "empty"); err != nil || o.Size != 0 {
		t.Fatalf("Head(empty) = %+v, %v", o, err)
	}

	// Missing objects.
	if _, err := b.Get(ctx, "nope"); !errors.Is(err, objstore.ErrNotFound) {
		t.Fatalf("Get(missing) = %v, want ErrNotFound", err)
	}
	if _, err := b.Head(ctx, "nope"); !errors.Is(err, objstore.ErrNotFound) {
		t.Fatalf("Head(missing) = %v, want ErrNotFound", err)
	}
	if _, err := b.GetRange(ctx, "nope", 0, 10); !errors.Is(err, objstore.ErrNotFound) {
		t.Fatalf("GetRange(missing) = %v, want ErrNotFound", err)
	}
}

// TestMultipart: past the part size the object goes up in parts and comes
// back byte for byte; a second upload is refused by the HEAD, and one
// that races past the HEAD is refused by the conditional
// CompleteMultipartUpload, leaving the winner's bytes and no upload
// behind.
func TestMultipart(t *testing.T) {
	s := objstoretest.Start(t)
	cfg := s.Config()
	cfg.PartSize = objstore.MinPartSize
	b := newBucket(t, cfg)
	ctx := context.Background()
	data := randBytes(3, 12<<20) // 3 parts: 5, 5, 2 MiB
	if err := b.PutIfAbsent(ctx, "big.seg", bytes.NewReader(data), int64(len(data)), map[string]string{"crc32c": "01020304"}); err != nil {
		t.Fatalf("PutIfAbsent (multipart): %v", err)
	}
	got, err := b.Get(ctx, "big.seg")
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("Get: err %v, %d bytes, equal %v", err, len(got), bytes.Equal(got, data))
	}
	if o, err := b.Head(ctx, "big.seg"); err != nil || o.Size != int64(len(data)) || o.Meta["crc32c"] != "01020304" {
		t.Fatalf("Head = %+v, %v", o, err)
	}
	err = b.PutIfAbsent(ctx, "big.seg", bytes.NewReader(data), int64(len(data)), nil)
	if !errors.Is(err, objstore.ErrExists) {
		t.Fatalf("second multipart PutIfAbsent: %v, want ErrExists", err)
	}

	// A writer that gets in between the HEAD and the completion.
	winner := []byte("the other writer's object")
	objstore.SetAfterHead(b, func() {
		if err := b.Put(ctx, "race.seg", winner); err != nil {
			t.Errorf("Put in between: %v", err)
		}
	})
	err = b.PutIfAbsent(ctx, "race.seg", bytes.NewReader(data), int64(len(data)), nil)
	if !errors.Is(err, objstore.ErrExists) {
		t.Fatalf("multipart PutIfAbsent raced past its HEAD: %v, want ErrExists from CompleteMultipartUpload", err)
	}
	if !strings.Contains(err.Error(), "complete multipart upload") {
		t.Errorf("the error does not say the completion was refused: %v", err)
	}
	if got, _ := b.Get(ctx, "race.seg"); !bytes.Equal(got, winner) {
		t.Fatalf("the refused multipart upload replaced the object (%d bytes)", len(got))
	}
	if n := countUploads(t, s, ""); n != 0 {
		t.Fatalf("%d multipart uploads left after the refused completion, want 0 (aborted)", n)
	}
}

// TestGetRange reads at the edges of an object.
func TestGetRange(t *testing.T) {
	s := objstoretest.Start(t)
	b := s.Bucket()
	ctx := context.Background()
	const size = 10_000
	data := randBytes(4, size)
	if err := b.Put(ctx, "r", data); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		off, n int64
		want   []byte
	}{
		{0, 1, data[:1]},
		{0, size, data},
		{0, size + 100, data}, // short at the end
		{1234, 4096, data[1234 : 1234+4096]},
		{size - 1, 1, data[size-1:]},
		{size - 1, 4096, data[size-1:]},
		{size - 4096, 4096, data[size-4096:]},
		{500, 0, []byte{}},
	} {
		got, err := b.GetRange(ctx, "r", c.off, c.n)
		if err != nil {
			t.Errorf("GetRange(%d, %d): %v", c.off, c.n, err)
			continue
		}
		if !bytes.Equal(got, c.want) {
			t.Errorf("GetRange(%d, %d): %d bytes, want %d (equal %v)", c.off, c.n, len(got), len(c.want), bytes.Equal(got, c.want))
		}
	}
	for _, off := range []int64{size, size + 1000} {
		if _, err := b.GetRange(ctx, "r", off, 10); !errors.Is(err, objstore.ErrPastEnd) || errors.Is(err, io.EOF) {
			t.Errorf("GetRange(%d, 10) past the end = %v, want ErrPastEnd (not io.EOF)", off, err)
		}
	}
	if _, err := b.GetRange(ctx, "r", -1, 10); err == nil {
		t.Error("GetRange at a negative offset: no error")
	}
}

// TestList pages through a listing with max and startAfter, returns keys
// relative to the prefix, stays under the configured prefix, and lists
// past the server's 1000 keys a page.
func TestList(t *testing.T) {
	s := objstoretest.Start(t)
	b := s.Bucket()
	ctx := context.Background()
	var want []string
	for i := 0; i < 25; i++ {
		k := fmt.Sprintf("streams/s1/shardId-000000000000/%020d.seg", i*1000)
		want = append(want, k)
		if err := b.Put(ctx, k, make([]byte, i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Put(ctx, "streams/s10/x", []byte("x")); err != nil {
		t.Fatal(err)
	}
	// Outside the configured prefix: never listed.
	cfg := s.Config()
	cfg.Prefix = "other"
	if err := newBucket(t, cfg).Put(ctx, "streams/s1/shardId-000000000000/zzz", []byte("z")); err != nil {
		t.Fatal(err)
	}

	var got []string
	after := ""
	for pages := 0; ; pages++ {
		objs, more, err := b.List(ctx, "streams/s1/", after, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(objs) > 10 {
			t.Fatalf("List returned %d objects, max 10", len(objs))
		}
		for _, o := range objs {
			got = append(got, o.Key)
			if want := int64(len(got) - 1); o.Size != want {
				t.Errorf("%s: size %d, want %d", o.Key, o.Size, want)
			}
			if o.Meta != nil {
				t.Errorf("List set Meta: %v", o.Meta)
			}
		}
		if !more {
			if pages != 2 {
				t.Errorf("%d pages of 10 for 25 keys, want 3", pages+1)
			}
			break
		}
		after = objs[len(objs)-1].Key
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("listed\n%v\nwant\n%v", got, want)
	}
	objs, more, err := b.List(ctx, "streams/s1/shardId-000000000000/", want[20], 0)
	if err != nil || more || len(objs) != 4 || objs[0].Key != want[21] {
		t.Fatalf("List after %s = %v, more %v, %v", want[20], objs, more, err)
	}
	// A prefix is a prefix, not a directory: streams/s1 matches s10 too.
	objs, _, err = b.List(ctx, "streams/s1", "", 0)
	if err != nil || len(objs) != 26 {
		t.Fatalf("List(streams/s1) = %d objects, %v; want 26", len(objs), err)
	}
	objs, _, err = b.List(ctx, "", "", 0)
	if err != nil || len(objs) != 26 {
		t.Fatalf("List of the whole prefix = %d objects, %v; want 26", len(objs), err)
	}
	objs, more, err = b.List(ctx, "nothing/", "", 5)
	if err != nil || more || len(objs) != 0 {
		t.Fatalf("List(nothing/) = %v, %v, %v", objs, more, err)
	}
}

// TestDelete removes 2500 objects (three DeleteObjects requests) and
// missing keys without an error; a listing of 2500 keys pages past the
// server's 1000.
func TestDelete(t *testing.T) {
	s := objstoretest.Start(t)
	b := s.Bucket()
	ctx := context.Background()
	const n = 2500
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("d/%05d", i)
	}
	putAll(t, b, keys)
	if err := b.Put(ctx, "keep", []byte("k")); err != nil {
		t.Fatal(err)
	}
	objs, more, err := b.List(ctx, "d/", "", 0)
	if err != nil || more || len(objs) != n {
		t.Fatalf("List = %d objects, more %v, %v; want %d", len(objs), more, err, n)
	}
	objs, more, err = b.List(ctx, "d/", "", 1500)
	if err != nil || !more || len(objs) != 1500 || objs[1499].Key != keys[1499] {
		t.Fatalf("List max 1500 = %d objects, more %v, %v", len(objs), more, err)
	}
	if err := b.Delete(ctx, append(keys, "d/missing", "never/was")); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	objs, _, err = b.List(ctx, "", "", 0)
	if err != nil || len(objs) != 1 || objs[0].Key != "keep" {
		t.Fatalf("after Delete the bucket holds %v (%v), want only keep", objs, err)
	}
	if err := b.Delete(ctx, nil); err != nil {
		t.Fatalf("Delete(nil): %v", err)
	}

	// A key the server refuses to delete is reported, with its code; the
	// others of the batch are deleted. (versitygw's posix backend keeps
	// "a/" as a directory while "a/x" exists.)
	for _, k := range []string{"a/x", "b"} {
		if err := b.Put(ctx, k, []byte(k)); err != nil {
			t.Fatal(err)
		}
	}
	err = b.Delete(ctx, []string{"a/", "b"})
	if err == nil || !strings.Contains(err.Error(), "1 of 2 keys not deleted: s3://eddy-test/eddy/a/: ErrDirectoryNotEmpty") {
		t.Fatalf("Delete of a key the server refuses: %v", err)
	}
	if _, err := b.Head(ctx, "b"); !errors.Is(err, objstore.ErrNotFound) {
		t.Fatalf("the other key of the batch: Head = %v, want ErrNotFound", err)
	}
}

func putAll(t testing.TB, b objstore.Bucket, keys []string) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, len(keys))
	next := make(chan string)
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range next {
				if err := b.PutIfAbsent(context.Background(), k, strings.NewReader(k), int64(len(k)), nil); err != nil {
					errs <- err
				}
			}
		}()
	}
	for _, k := range keys {
		next <- k
	}
	close(next)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// rawClient is a plain SDK client of the test server, for what Bucket
// does not do (leaving an upload unfinished).
func rawClient(s *objstoretest.Server) *s3.Client {
	return s3.New(s3.Options{
		BaseEndpoint: aws.String(s.URL()),
		Region:       objstoretest.Region,
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(objstoretest.AccessKey, objstoretest.SecretKey, ""),
	})
}

func countUploads(t testing.TB, s *objstoretest.Server, prefix string) int {
	t.Helper()
	out, err := rawClient(s).ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{
		Bucket: aws.String(objstoretest.BucketName),
		Prefix: aws.String(prefix),
	})
	if err != nil {
		t.Fatalf("ListMultipartUploads: %v", err)
	}
	return len(out.Uploads)
}

// TestAbortUploads aborts the unfinished uploads under a prefix (as a
// crash mid-upload leaves them) and only those.
func TestAbortUploads(t *testing.T) {
	s := objstoretest.Start(t)
	b := s.Bucket()
	ctx := context.Background()
	c := rawClient(s)
	for _, k := range []string{"eddy/streams/a/1.seg", "eddy/streams/a/2.seg", "eddy/streams/b/1.seg", "elsewhere/1.seg"} {
		up, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(objstoretest.BucketName), Key: aws.String(k)})
		if err != nil {
			t.Fatal(err)
		}
		part := randBytes(5, 1000)
		if _, err := c.UploadPart(ctx, &s3.UploadPartInput{
			Bucket: aws.String(objstoretest.BucketName), Key: aws.String(k), UploadId: up.UploadId,
			PartNumber: aws.Int32(1), Body: bytes.NewReader(part), ContentLength: aws.Int64(int64(len(part))),
		}); err != nil {
			t.Fatal(err)
		}
	}
	if n := countUploads(t, s, ""); n != 4 {
		t.Fatalf("%d uploads before, want 4", n)
	}
	if err := b.AbortUploads(ctx, "streams/a/"); err != nil {
		t.Fatalf("AbortUploads(streams/a/): %v", err)
	}
	if n := countUploads(t, s, "eddy/streams/a/"); n != 0 {
		t.Fatalf("%d uploads left under streams/a/", n)
	}
	if n := countUploads(t, s, ""); n != 2 {
		t.Fatalf("%d uploads left in the bucket, want 2 (streams/b and outside the prefix)", n)
	}
	if err := b.AbortUploads(ctx, ""); err != nil {
		t.Fatal(err)
	}
	if n := countUploads(t, s, ""); n != 1 {
		t.Fatalf("%d uploads left, want 1 (outside the prefix)", n)
	}
	if err := b.AbortUploads(ctx, ""); err != nil {
		t.Fatalf("AbortUploads with none: %v", err)
	}
}

// TestPrefixJoin: prefixes with stray slashes, and none, put keys where
// they belong on the server.
func TestPrefixJoin(t *testing.T) {
	s := objstoretest.Start(t)
	ctx := context.Background()
	for _, c := range []struct{ prefix, key, path string }{
		{"", "a/b", "a/b"},
		{"/", "/c", "c"},
		{"site-a", "d", "site-a/d"},
		{"/x//y/", "/e/f", "x/y/e/f"},
	} {
		cfg := s.Config()
		cfg.Prefix = c.prefix
		b := newBucket(t, cfg)
		if err := b.Put(ctx, c.key, []byte(c.path)); err != nil {
			t.Fatalf("prefix %q key %q: %v", c.prefix, c.key, err)
		}
		got, err := os.ReadFile(filepath.Join(s.Dir(), objstoretest.BucketName, filepath.FromSlash(c.path)))
		if err != nil || string(got) != c.path {
			t.Errorf("prefix %q key %q: not at %s: %v", c.prefix, c.key, c.path, err)
		}
	}
	cfg := s.Config()
	cfg.Prefix = "/x//y"
	objs, _, err := newBucket(t, cfg).List(ctx, "", "", 0)
	if err != nil || len(objs) != 1 || objs[0].Key != "e/f" {
		t.Fatalf("List under /x//y = %v, %v; want [e/f]", objs, err)
	}
}

// TestBadCredentials: a wrong secret or key is a clear error, not a
// missing object.
func TestBadCredentials(t *testing.T) {
	s := objstoretest.Start(t)
	ctx := context.Background()
	if err := s.Bucket().Put(ctx, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		access, secret, code string
		head                 bool // HEAD tells it from a missing object
	}{
		{objstoretest.AccessKey, "wrong-secret", "SignatureDoesNotMatch", true},
		// versitygw answers an unknown key with 404 XAdminUserNotFound
		// (AWS: 403 InvalidAccessKeyId); a HEAD's 404 has no body, so
		// there it looks like a missing object.
		{"nobody", "wrong-secret", "XAdminUserNotFound", false},
	} {
		cfg := s.Config()
		cfg.AccessKeyID, cfg.SecretAccessKey = c.access, c.secret
		b := newBucket(t, cfg)
		_, err := b.Get(ctx, "k")
		if err == nil || errors.Is(err, objstore.ErrNotFound) {
			t.Fatalf("Get with %s: %v", c.code, err)
		}
		for _, want := range []string{"access denied", c.code, "s3://eddy-test/eddy/k"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("Get with %s: the error %q does not say %q", c.code, err, want)
			}
		}
		if _, err := b.Head(ctx, "k"); err == nil || (c.head && errors.Is(err, objstore.ErrNotFound)) {
			t.Errorf("Head with %s: %v", c.code, err)
		}
	}
	cfg := s.Config()
	cfg.Bucket = "no-such-bucket"
	_, err := newBucket(t, cfg).Get(ctx, "k")
	if err == nil || errors.Is(err, objstore.ErrNotFound) || !strings.Contains(err.Error(), "bucket does not exist") {
		t.Fatalf("Get from a missing bucket: %v", err)
	}
}

// TestServerDown: with the server stopped every call fails at once
// (connection refused), and works again once it is back; a server that
// accepts and never answers fails within the timeout.
func TestServerDown(t *testing.T) {
	s := objstoretest.Start(t)
	b := s.Bucket()
	ctx := context.Background()
	if err := b.Put(ctx, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	s.Stop()
	start := time.Now()
	if _, err := b.Get(ctx, "k"); err == nil || errors.Is(err, objstore.ErrNotFound) {
		t.Fatalf("Get with the server stopped: %v", err)
	} else if !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("Get with the server stopped: %v, want it to say connection refused", err)
	}
	err := b.PutIfAbsent(ctx, "k2", strings.NewReader("v"), 1, nil)
	if err == nil || errors.Is(err, objstore.ErrExists) {
		t.Fatalf("PutIfAbsent with the server stopped: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("two calls against a stopped server took %v", d)
	}
	s.Start()
	if got, err := b.Get(ctx, "k"); err != nil || string(got) != "v" {
		t.Fatalf("Get after restart = %q, %v", got, err)
	}

	// A black hole: accepts connections, never answers.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ln.Close() }()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer func() { _ = c.Close() }()
		}
	}()
	cfg := s.Config()
	cfg.Endpoint = "http://" + ln.Addr().String()
	cfg.Timeout = 500 * time.Millisecond
	start = time.Now()
	_, err = newBucket(t, cfg).GetRange(ctx, "k", 0, 1)
	if err == nil {
		t.Fatal("GetRange from a server that never answers: no error")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("GetRange from a server that never answers took %v with a timeout of %v", d, cfg.Timeout)
	}
	if !errors.Is(err, context.DeadlineExceeded) && !strings.Contains(err.Error(), "timeout") {
		t.Errorf("the error does not say it timed out: %v", err)
	}
}

func BenchmarkPutIfAbsent64MiB(b *testing.B) {
	s := objstoretest.Start(b)
	bk := s.Bucket()
	data := randBytes(6, 64<<20)
	ctx := context.Background()
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if err := bk.PutIfAbsent(ctx, fmt.Sprintf("bench/%d.seg", i), bytes.NewReader(data), int64(len(data)), nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGetRange1MiB(b *testing.B) {
	s := objstoretest.Start(b)
	bk := s.Bucket()
	const size, block = 64 << 20, 1 << 20
	data := randBytes(7, size)
	ctx := context.Background()
	if err := bk.PutIfAbsent(ctx, "bench.seg", bytes.NewReader(data), size, nil); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(block)
	for i := 0; b.Loop(); i++ {
		off := int64(i%(size/block)) * block
		got, err := bk.GetRange(ctx, "bench.seg", off, block)
		if err != nil {
			b.Fatal(err)
		}
		if len(got) != block {
			b.Fatalf("%d bytes", len(got))
		}
	}
}
