package objstore

import "time"

// SetAfterHead makes b's multipart uploads call f between their HEAD and
// their first request, for the test of a writer racing past the HEAD.
func SetAfterHead(b Bucket, f func()) { b.(*s3Bucket).afterHead = f }

// UploadTimeout is the deadline b gives a request sending size bytes.
func UploadTimeout(b Bucket, size int64) time.Duration { return b.(*s3Bucket).uploadTimeout(size) }
