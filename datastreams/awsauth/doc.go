// Package awsauth checks who sent a request and what they may do, the way
// AWS does it for the Kinesis APIs: identities are access key ids with a
// secret and allow rules (IAM action names, wildcards allowed, on stream
// name patterns); requests are verified by their Signature Version 4
// signature (Authorization header or presigned query string); failures are
// AWS's own error types and messages (Error), which each API writes in its
// own wire format.
//
// It knows HTTP requests, keys, action names and stream names. It must not
// know streams' contents, storage, or any protocol's request bodies beyond
// their bytes; the APIs decide which action and stream a request is.
package awsauth
