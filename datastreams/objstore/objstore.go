// Package objstore is Eddy's client of an S3-compatible object store (AWS
// S3, MinIO, Ceph RGW, versitygw, R2, ...): the few operations the
// storage tier needs (conditional and plain PUT, ranged GET, HEAD, LIST,
// batch DELETE, aborting unfinished multipart uploads), over the AWS SDK
// for Go v2's S3 client, with every key under the configured prefix.
//
// It knows objects and keys, never logs, segments or streams.
package objstore

import (
	"context"
	"errors"
	"io"
	"time"
)

// Config is where the bucket is and how to sign for it (the server's
// storage.object section).
type Config struct {
	Endpoint        string // e.g. http://127.0.0.1:7070; empty: AWS S3 of Region
	Bucket          string
	Prefix          string // every key is under it ("" or "site-a/")
	Region          string // default us-east-1
	AccessKeyID     string
	SecretAccessKey string
	PathStyle       bool // http://host/bucket/key instead of http://bucket.host/key
	// Timeout bounds one request (default 30 s; ranged GETs of reads use
	// their own context). A request sending a body (PUT, UploadPart) gets
	// Timeout plus the time to send it at 1 Mbit/s, so that a slow uplink
	// delays uploads instead of failing each one at the deadline.
	Timeout time.Duration
	// PartSize is the multipart part size; objects larger than it are
	// uploaded in parts (default 16 MiB, minimum 5 MiB).
	PartSize int64
}

// Errors a Bucket's methods wrap.
var (
	// ErrExists: PutIfAbsent found an object at the key (412).
	ErrExists = errors.New("objstore: object exists")
	// ErrConflict: AWS's 409 ConditionalRequestConflict, another
	// conditional write or multipart completion at the key in flight. It
	// says nothing of whether an object is there (not ErrExists): the
	// caller retries the whole upload (a multipart one starts again).
	ErrConflict = errors.New("objstore: a conflicting conditional write at the key was in progress (409 ConditionalRequestConflict); retry")
	// ErrNotFound: no object at the key (404 NoSuchKey).
	ErrNotFound = errors.New("objstore: no such object")
	// ErrPastEnd: GetRange's offset is at or past the object's end (416
	// InvalidRange): the server answered, the object is shorter than the
	// caller thought. It does not wrap io.EOF, which a transport error
	// (a connection closed without an answer) can wrap too.
	ErrPastEnd = errors.New("objstore: offset at or past the end of the object")
)

// Object describes one stored object.
type Object struct {
	Key  string // relative to the prefix
	Size int64
	// Meta is the user metadata (x-amz-meta-*, lower-case names without
	// the prefix); set by Head, not by List.
	Meta map[string]string
}

// Bucket is the object store as the tier uses it. Keys are relative to
// Config.Prefix. Implementations are safe for concurrent use.
type Bucket interface {
	// PutIfAbsent stores size bytes from body at key only if no object is
	// there (If-None-Match: *), in parts when larger than the part size,
	// each request with Content-MD5; it wraps ErrExists when one is.
	PutIfAbsent(ctx context.Context, key string, body io.ReaderAt, size int64, meta map[string]string) error
	// Put stores data at key, replacing what is there.
	Put(ctx context.Context, key string, data []byte) error
	// Get returns the whole object.
	Get(ctx context.Context, key string) ([]byte, error)
	// GetRange returns n bytes of the object from off (fewer at its end);
	// an offset at or past the end wraps ErrPastEnd.
	GetRange(ctx context.Context, key string, off, n int64) ([]byte, error)
	// Head returns the object's size and metadata.
	Head(ctx context.Context, key string) (Object, error)
	// List returns up to max objects under prefix whose keys sort after
	// startAfter, in key order, and whether more follow.
	List(ctx context.Context, prefix, startAfter string, max int) (objs []Object, more bool, err error)
	// Delete removes the objects (1000 per request); missing ones are not an error.
	Delete(ctx context.Context, keys []string) error
	// AbortUploads aborts the unfinished multipart uploads under prefix
	// (left by a crash during an upload).
	AbortUploads(ctx context.Context, prefix string) error
}

// New returns the S3 client of cfg as a Bucket; it makes no request.
func New(cfg Config) (Bucket, error) { return newS3(cfg) }
