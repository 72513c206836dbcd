package objstore

import (
	"bytes"
	"context"
	"crypto/md5" // Content-MD5 is S3's integrity check of a request body, not a security measure.
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// maxAttempts is the SDK retryer's attempts per request: a connection
// reset or a 503 is tried again at once, a longer outage is the caller's
// to retry (the tier backs off on its own).
const maxAttempts = 3

// maxBackoff bounds the SDK retryer's wait between attempts.
const maxBackoff = time.Second

// deleteBatch is S3's limit of keys in one DeleteObjects.
const deleteBatch = 1000

// s3Bucket is Bucket over the AWS SDK's S3 client.
type s3Bucket struct {
	cfg    Config // with defaults
	client *s3.Client
	// afterHead, when set (by tests), runs between the multipart
	// upload's HEAD and its first request.
	afterHead func()
}

func newS3(cfg Config) (*s3Bucket, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()

	var creds aws.CredentialsProvider
	if cfg.AccessKeyID != "" {
		creds = credentials.NewStaticCredentialsProvider(cfg.AccessKeyID, cfg.SecretAccessKey, "")
	} else {
		// The default chain resolves lazily: no request is made here.
		ac, err := awsconfig.LoadDefaultConfig(context.Background(), awsconfig.WithRegion(cfg.Region))
		if err != nil {
			return nil, fmt.Errorf("objstore: no access_key_id given and the AWS default credentials cannot be loaded: %w", err)
		}
		creds = ac.Credentials
	}

	httpClient := awshttp.NewBuildableClient().
		WithDialerOptions(func(d *net.Dialer) {
			d.Timeout = 5 * time.Second
			d.KeepAlive = 30 * time.Second
		}).
		WithTransportOptions(func(t *http.Transport) {
			t.TLSHandshakeTimeout = 10 * time.Second
			// No ResponseHeaderTimeout: it starts once the body is in
			// the socket's buffer, megabytes before the server has it
			// on a slow uplink; each request's context bounds the wait
			// (uploadTimeout for the requests that send a body).
			t.ExpectContinueTimeout = time.Second
			t.IdleConnTimeout = 90 * time.Second
			// Cold reads fetch blocks in parallel from one host.
			t.MaxIdleConns = 256
			t.MaxIdleConnsPerHost = 64
		}).
		// No read timeout (and none of the SDK's defaults): it is one
		// per connection, and during an upload the connection delivers
		// nothing until the body is sent, which on a slow uplink takes
		// longer than any read timeout fit for GETs. Each request's
		// context bounds it instead (uploadTimeout for PUTs and parts).
		WithReadTimeout(0)

	opts := s3.Options{
		Region:       cfg.Region,
		Credentials:  creds,
		UsePathStyle: cfg.PathStyle,
		HTTPClient:   httpClient,
		// Since s3 v1.73 the SDK adds CRC32 checksums to every upload and
		// validates them on download unless told otherwise; several
		// S3-compatible servers refuse or mangle them. Content-MD5 (set
		// here on every PUT and part) is the check every server knows.
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
		Retryer: retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = maxAttempts
			o.MaxBackoff = maxBackoff
			// No client-side retry quota: during an outage every call
			// should fail with the server's or the network's error, not
			// with "retry quota exceeded".
			o.RateLimiter = ratelimit.None
		}),
	}
	if cfg.Endpoint != "" {
		opts.BaseEndpoint = aws.String(cfg.Endpoint)
	}
	return &s3Bucket{cfg: cfg, client: s3.New(opts)}, nil
}

func (b *s3Bucket) key(k string) string { return fullKey(b.cfg.Prefix, k) }

// ctx bounds one request by the configured timeout.
func (b *s3Bucket) ctx(parent context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(parent, b.cfg.Timeout)
}

// minUploadRate is the slowest upload (bytes per second) a PUT or a part
// is given time for: 1 Mbit/s.
const minUploadRate = 125_000

// uploadTimeout is the deadline of a request sending size bytes: the
// configured timeout (for the answer) plus the time to send the body at
// minUploadRate; a 16 MiB part gets 30 s + 134 s, a 64 MiB PUT
// 30 s + 537 s. A deadline of Timeout alone would fail every upload on a
// link slower than size/Timeout (16 MiB in 30 s is 4.5 Mbit/s) and retry
// it forever.
func (b *s3Bucket) uploadTimeout(size int64) time.Duration {
	return b.cfg.Timeout + time.Duration(size)*time.Second/minUploadRate
}

// uploadCtx bounds one request sending size bytes by uploadTimeout.
func (b *s3Bucket) uploadCtx(parent context.Context, size int64) (context.Context, context.CancelFunc) {
	return context.WithTimeout(parent, b.uploadTimeout(size))
}

func (b *s3Bucket) PutIfAbsent(ctx context.Context, key string, body io.ReaderAt, size int64, meta map[string]string) error {
	if size < 0 {
		return fmt.Errorf("objstore: put-if-absent %s: negative size %d", b.where(key), size)
	}
	if size > b.cfg.PartSize {
		return b.putMultipart(ctx, key, body, size, meta)
	}
	sum, err := md5Of(io.NewSectionReader(body, 0, size))
	if err != nil {
		return fmt.Errorf("objstore: put-if-absent %s: read the body: %w", b.where(key), err)
	}
	rctx, cancel := b.uploadCtx(ctx, size)
	defer cancel()
	_, err = b.client.PutObject(rctx, &s3.PutObjectInput{
		Bucket:        aws.String(b.cfg.Bucket),
		Key:           aws.String(b.key(key)),
		Body:          io.NewSectionReader(body, 0, size),
		ContentLength: aws.Int64(size),
		ContentMD5:    aws.String(sum),
		Metadata:      meta,
		IfNoneMatch:   aws.String("*"),
	})
	return b.wrap("put-if-absent", key, err)
}

// putMultipart uploads body in parts. S3 has no conditional
// CreateMultipartUpload, so a HEAD first saves uploading what is there
// already; the CompleteMultipartUpload carries If-None-Match: * (versitygw
// v1.8.0 and AWS S3 honour it), which is what makes the upload
// conditional when two writers race past the HEAD.
func (b *s3Bucket) putMultipart(ctx context.Context, key string, body io.ReaderAt, size int64, meta map[string]string) error {
	const op = "put-if-absent"
	if _, err := b.Head(ctx, key); err == nil {
		return &opError{op: op, where: b.where(key), kind: ErrExists, err: errors.New("found by HEAD before the multipart upload")}
	} else if !errors.Is(err, ErrNotFound) {
		return err
	}
	if b.afterHead != nil {
		b.afterHead()
	}

	partSize := b.cfg.PartSize
	if n := (size + partSize - 1) / partSize; n > maxParts {
		partSize = (size + maxParts - 1) / maxParts
	}
	full := b.key(key)
	rctx, cancel := b.ctx(ctx)
	created, err := b.client.CreateMultipartUpload(rctx, &s3.CreateMultipartUploadInput{
		Bucket:   aws.String(b.cfg.Bucket),
		Key:      aws.String(full),
		Metadata: meta,
	})
	cancel()
	if err != nil {
		return b.wrap(op+" (create multipart upload)", key, err)
	}
	uploadID := created.UploadId

	var parts []types.CompletedPart
	err = func() error {
		for num, off := int32(1), int64(0); off < size; num, off = num+1, off+partSize {
			n := min(partSize, size-off)
			sum, err := md5Of(io.NewSectionReader(body, off, n))
			if err != nil {
				return fmt.Errorf("objstore: %s %s: read part %d: %w", op, b.where(key), num, err)
			}
			rctx, cancel := b.uploadCtx(ctx, n)
			out, err := b.client.UploadPart(rctx, &s3.UploadPartInput{
				Bucket:        aws.String(b.cfg.Bucket),
				Key:           aws.String(full),
				UploadId:      uploadID,
				PartNumber:    aws.Int32(num),
				Body:          io.NewSectionReader(body, off, n),
				ContentLength: aws.Int64(n),
				ContentMD5:    aws.String(sum),
			})
			cancel()
			if err != nil {
				return b.wrap(fmt.Sprintf("%s (part %d)", op, num), key, err)
			}
			parts = append(parts, types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(num)})
		}
		rctx, cancel := b.ctx(ctx)
		defer cancel()
		_, err := b.client.CompleteMultipartUpload(rctx, &s3.CompleteMultipartUploadInput{
			Bucket:          aws.String(b.cfg.Bucket),
			Key:             aws.String(full),
			UploadId:        uploadID,
			MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
			IfNoneMatch:     aws.String("*"),
		})
		return b.wrap(op+" (complete multipart upload)", key, err)
	}()
	if err != nil {
		// Abort even when ctx is done: parts left behind cost storage
		// until AbortUploads.
		actx, cancel := b.ctx(context.WithoutCancel(ctx))
		_, aerr := b.client.AbortMultipartUpload(actx, &s3.AbortMultipartUploadInput{
			Bucket:   aws.String(b.cfg.Bucket),
			Key:      aws.String(full),
			UploadId: uploadID,
		})
		cancel()
		if aerr != nil && !isCode(aerr, "NoSuchUpload") {
			return fmt.Errorf("%w (and aborting the upload failed: %v)", err, aerr)
		}
	}
	return err
}

func (b *s3Bucket) Put(ctx context.Context, key string, data []byte) error {
	sum, _ := md5Of(bytes.NewReader(data))
	rctx, cancel := b.uploadCtx(ctx, int64(len(data)))
	defer cancel()
	_, err := b.client.PutObject(rctx, &s3.PutObjectInput{
		Bucket:        aws.String(b.cfg.Bucket),
		Key:           aws.String(b.key(key)),
		Body:          bytes.NewReader(data),
		ContentLength: aws.Int64(int64(len(data))),
		ContentMD5:    aws.String(sum),
	})
	return b.wrap("put", key, err)
}

func (b *s3Bucket) Get(ctx context.Context, key string) ([]byte, error) {
	rctx, cancel := b.ctx(ctx)
	defer cancel()
	out, err := b.client.GetObject(rctx, &s3.GetObjectInput{
		Bucket: aws.String(b.cfg.Bucket),
		Key:    aws.String(b.key(key)),
	})
	if err != nil {
		return nil, b.wrap("get", key, err)
	}
	defer func() { _ = out.Body.Close() }()
	var buf bytes.Buffer
	if out.ContentLength != nil && *out.ContentLength > 0 {
		buf.Grow(int(*out.ContentLength))
	}
	if _, err := buf.ReadFrom(out.Body); err != nil {
		return nil, b.wrap("get (body)", key, err)
	}
	if out.ContentLength != nil && int64(buf.Len()) != *out.ContentLength {
		return nil, fmt.Errorf("objstore: get %s: got %d bytes, Content-Length said %d", b.where(key), buf.Len(), *out.ContentLength)
	}
	return buf.Bytes(), nil
}

// GetRange: a range starting at or past the end of the object is an error
// wrapping ErrPastEnd (the server's 416 InvalidRange). Nothing else wraps
// ErrPastEnd: a connection closed before or during the answer is a
// transport error.
func (b *s3Bucket) GetRange(ctx context.Context, key string, off, n int64) ([]byte, error) {
	if off < 0 || n < 0 {
		return nil, fmt.Errorf("objstore: get-range %s: negative offset %d or length %d", b.where(key), off, n)
	}
	if n == 0 {
		return []byte{}, nil
	}
	rctx, cancel := b.ctx(ctx)
	defer cancel()
	out, err := b.client.GetObject(rctx, &s3.GetObjectInput{
		Bucket: aws.String(b.cfg.Bucket),
		Key:    aws.String(b.key(key)),
		Range:  aws.String(fmt.Sprintf("bytes=%d-%d", off, off+n-1)),
	})
	if err != nil {
		if isCode(err, "InvalidRange") || httpStatus(err) == http.StatusRequestedRangeNotSatisfiable {
			return nil, fmt.Errorf("objstore: get-range %s: offset %d: %w", b.where(key), off, ErrPastEnd)
		}
		return nil, b.wrap("get-range", key, err)
	}
	defer func() { _ = out.Body.Close() }()
	want := n // the bytes the answer should hold
	if out.ContentRange == nil {
		// The server ignored Range and sent the whole object (200).
		if out.ContentLength != nil && *out.ContentLength <= off {
			return nil, fmt.Errorf("objstore: get-range %s: offset %d of a %d-byte object: %w", b.where(key), off, *out.ContentLength, ErrPastEnd)
		}
		if _, err := io.CopyN(io.Discard, out.Body, off); err != nil {
			if errors.Is(err, io.EOF) && out.ContentLength == nil {
				// A body without a length ended before off: the whole
				// object was sent (a cut connection errs otherwise).
				return nil, fmt.Errorf("objstore: get-range %s: offset %d: %w", b.where(key), off, ErrPastEnd)
			}
			return nil, b.wrap("get-range (body)", key, err)
		}
		if out.ContentLength != nil {
			want = min(n, *out.ContentLength-off)
		}
	} else if out.ContentLength != nil {
		want = min(n, *out.ContentLength)
	}
	buf := bytes.NewBuffer(make([]byte, 0, want))
	if _, err := buf.ReadFrom(io.LimitReader(out.Body, n)); err != nil {
		return nil, b.wrap("get-range (body)", key, err)
	}
	if int64(buf.Len()) != want {
		return nil, fmt.Errorf("objstore: get-range %s: got %d bytes at %d, the answer's length said %d", b.where(key), buf.Len(), off, want)
	}
	return buf.Bytes(), nil
}

func (b *s3Bucket) Head(ctx context.Context, key string) (Object, error) {
	rctx, cancel := b.ctx(ctx)
	defer cancel()
	out, err := b.client.HeadObject(rctx, &s3.HeadObjectInput{
		Bucket: aws.String(b.cfg.Bucket),
		Key:    aws.String(b.key(key)),
	})
	if err != nil {
		return Object{}, b.wrap("head", key, err)
	}
	o := Object{Key: key, Size: aws.ToInt64(out.ContentLength), Meta: make(map[string]string, len(out.Metadata))}
	for k, v := range out.Metadata {
		o.Meta[strings.ToLower(k)] = v
	}
	return o, nil
}

// List: max <= 0 lists everything under prefix.
func (b *s3Bucket) List(ctx context.Context, prefix, startAfter string, max int) ([]Object, bool, error) {
	in := &s3.ListObjectsV2Input{
		Bucket: aws.String(b.cfg.Bucket),
		Prefix: aws.String(b.key(prefix)),
	}
	if startAfter != "" {
		in.StartAfter = aws.String(b.key(startAfter))
	}
	var objs []Object
	for {
		page := int32(1000)
		if max > 0 && max-len(objs) < int(page) {
			page = int32(max - len(objs))
		}
		in.MaxKeys = aws.Int32(page)
		rctx, cancel := b.ctx(ctx)
		out, err := b.client.ListObjectsV2(rctx, in)
		cancel()
		if err != nil {
			return nil, false, b.wrap("list", prefix, err)
		}
		for _, o := range out.Contents {
			k := aws.ToString(o.Key)
			rel, ok := strings.CutPrefix(k, b.cfg.Prefix)
			if !ok {
				return nil, false, fmt.Errorf("objstore: list %s: the server returned key %q outside the prefix", b.where(prefix), k)
			}
			objs = append(objs, Object{Key: rel, Size: aws.ToInt64(o.Size)})
		}
		truncated := aws.ToBool(out.IsTruncated)
		if !truncated {
			return objs, false, nil
		}
		if max > 0 && len(objs) >= max {
			return objs, true, nil
		}
		if out.NextContinuationToken == nil || *out.NextContinuationToken == "" {
			return nil, false, fmt.Errorf("objstore: list %s: the server said more follow but gave no continuation token", b.where(prefix))
		}
		in.ContinuationToken = out.NextContinuationToken
	}
}

func (b *s3Bucket) Delete(ctx context.Context, keys []string) error {
	for len(keys) > 0 {
		batch := keys[:min(len(keys), deleteBatch)]
		keys = keys[len(batch):]
		ids := make([]types.ObjectIdentifier, len(batch))
		for i, k := range batch {
			ids[i] = types.ObjectIdentifier{Key: aws.String(b.key(k))}
		}
		rctx, cancel := b.ctx(ctx)
		out, err := b.client.DeleteObjects(rctx, &s3.DeleteObjectsInput{
			Bucket: aws.String(b.cfg.Bucket),
			Delete: &types.Delete{Objects: ids, Quiet: aws.Bool(true)},
		}, withContentMD5)
		cancel()
		if err != nil {
			return b.wrap(fmt.Sprintf("delete (%d keys)", len(batch)), batch[0], err)
		}
		var failed []string
		for _, e := range out.Errors {
			if aws.ToString(e.Code) == "NoSuchKey" {
				continue
			}
			failed = append(failed, fmt.Sprintf("s3://%s/%s: %s: %s", b.cfg.Bucket, aws.ToString(e.Key), aws.ToString(e.Code), aws.ToString(e.Message)))
		}
		if len(failed) > 0 {
			more := ""
			if len(failed) > 5 {
				more = fmt.Sprintf(" (and %d more)", len(failed)-5)
				failed = failed[:5]
			}
			return fmt.Errorf("objstore: delete: %d of %d keys not deleted: %s%s",
				len(failed), len(batch), strings.Join(failed, "; "), more)
		}
	}
	return nil
}

// sdkInputChecksum is the ID of the SDK's middleware that computes the
// x-amz-checksum-* header of a request whose operation requires a
// checksum (service/internal/checksum's ComputeInputPayloadChecksum).
const sdkInputChecksum = "AWSChecksum:ComputeInputPayloadChecksum"

// withContentMD5 makes a DeleteObjects carry Content-MD5 instead of the
// SDK's x-amz-checksum-crc32. DeleteObjects requires an integrity header;
// with RequestChecksumCalculationWhenRequired the SDK (s3 v1.73 and later)
// sends x-amz-checksum-crc32 and no Content-MD5, but AWS documents
// Content-MD5 as required for general-purpose buckets, and older MinIO
// releases and other S3-compatible servers refuse the request without it.
// The option swaps the SDK's checksum middleware (finalize step, after
// the body is serialized) for smithy's Content-MD5 one (build step, before
// signing, so the header is signed).
func withContentMD5(o *s3.Options) {
	o.APIOptions = append(o.APIOptions, func(stack *middleware.Stack) error {
		if _, err := stack.Finalize.Remove(sdkInputChecksum); err != nil {
			return fmt.Errorf("objstore: delete: the SDK's checksum middleware %q is not in the stack (was the SDK upgraded?): %w", sdkInputChecksum, err)
		}
		return smithyhttp.AddContentChecksumMiddleware(stack)
	})
}

func (b *s3Bucket) AbortUploads(ctx context.Context, prefix string) error {
	in := &s3.ListMultipartUploadsInput{
		Bucket: aws.String(b.cfg.Bucket),
		Prefix: aws.String(b.key(prefix)),
	}
	for {
		rctx, cancel := b.ctx(ctx)
		out, err := b.client.ListMultipartUploads(rctx, in)
		cancel()
		if err != nil {
			return b.wrap("abort-uploads (list)", prefix, err)
		}
		for _, u := range out.Uploads {
			rctx, cancel := b.ctx(ctx)
			_, err := b.client.AbortMultipartUpload(rctx, &s3.AbortMultipartUploadInput{
				Bucket:   aws.String(b.cfg.Bucket),
				Key:      u.Key,
				UploadId: u.UploadId,
			})
			cancel()
			if err != nil && !isCode(err, "NoSuchUpload") {
				rel := strings.TrimPrefix(aws.ToString(u.Key), b.cfg.Prefix)
				return b.wrap("abort-uploads (upload "+aws.ToString(u.UploadId)+")", rel, err)
			}
		}
		if !aws.ToBool(out.IsTruncated) {
			return nil
		}
		if aws.ToString(out.NextKeyMarker) == "" && aws.ToString(out.NextUploadIdMarker) == "" {
			return fmt.Errorf("objstore: abort-uploads %s: the server said more follow but gave no marker", b.where(prefix))
		}
		in.KeyMarker, in.UploadIdMarker = out.NextKeyMarker, out.NextUploadIdMarker
	}
}

// where names a key for errors: s3://bucket/prefix/key.
func (b *s3Bucket) where(key string) string {
	return "s3://" + b.cfg.Bucket + "/" + b.key(key)
}

// errAccess wraps the server's refusal of the credentials or the bucket.
var errAccess = errors.New("access denied (check access_key_id, secret_access_key, region and the bucket's policy)")

// errNoBucket wraps the server's NoSuchBucket.
var errNoBucket = errors.New("the bucket does not exist")

// wrap turns an SDK error into an *opError naming op and key, classified
// as ErrExists, ErrConflict, ErrNotFound, access or bucket refusals, or
// none of them; nil stays nil.
func (b *s3Bucket) wrap(op, key string, err error) error {
	if err == nil {
		return nil
	}
	e := &opError{op: op, where: b.where(key), err: err}
	code, status := errCode(err), httpStatus(err)
	switch {
	case code == "PreconditionFailed" || status == http.StatusPreconditionFailed:
		e.kind = ErrExists
	case code == "ConditionalRequestConflict":
		e.kind = ErrConflict
	case code == "NoSuchBucket":
		e.kind = errNoBucket
	case code == "NoSuchKey" || code == "NotFound" || (status == http.StatusNotFound && code == ""):
		// Only these: versitygw answers an unknown access key with 404
		// XAdminUserNotFound, which is no missing object.
		e.kind = ErrNotFound
	case status == http.StatusForbidden || code == "InvalidAccessKeyId" || code == "SignatureDoesNotMatch" ||
		code == "AccessDenied" || code == "XAdminUserNotFound":
		e.kind = errAccess
	}
	return e
}

// opError is a failed operation: what, on which key, of which kind
// (ErrExists, ErrConflict, ErrNotFound, one of the unexported kinds above,
// or nil) and the SDK's error with the server's code, message and request
// id.
type opError struct {
	op, where string
	kind      error
	err       error
}

func (e *opError) Error() string {
	if e.kind == nil {
		return fmt.Sprintf("objstore: %s %s: %v", e.op, e.where, e.err)
	}
	kind := strings.TrimPrefix(e.kind.Error(), "objstore: ")
	return fmt.Sprintf("objstore: %s %s: %s: %v", e.op, e.where, kind, e.err)
}

func (e *opError) Unwrap() []error {
	if e.kind == nil {
		return []error{e.err}
	}
	return []error{e.kind, e.err}
}

func errCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func isCode(err error, code string) bool { return errCode(err) == code }

func httpStatus(err error) int {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// md5Of is the base64 MD5 of r, the Content-MD5 header's value.
func md5Of(r io.Reader) (string, error) {
	h := md5.New()
	if _, err := io.Copy(h, r); err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(h.Sum(nil)), nil
}
