// Package awsjson holds what the AWS JSON protocols share on the wire:
// the timestamp as epoch seconds with a millisecond fraction, which the
// Kinesis Data Streams API (awsJson 1.1) and the Kinesis Video API
// (restJson1) both use.
//
// It is a leaf: it knows bytes and times, nothing of streams or requests.
package awsjson
