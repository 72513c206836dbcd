package objstore

// SetAfterHead makes b's multipart uploads call f between their HEAD and
// their first request, for the test of a writer racing past the HEAD.
func SetAfterHead(b Bucket, f func()) { b.(*s3Bucket).afterHead = f }
