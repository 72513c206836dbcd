// Package kdsapi serves the Kinesis Data Streams API over HTTP for a
// datastreams.Core: every operation is POST / with X-Amz-Target
// Kinesis_20131202.<Operation>, in awsJson1.1 or its CBOR variant, plus
// SubscribeToShard's event stream. It owns the wire shapes and codecs
// (with a hand-written PutRecords decoder and GetRecords/PutRecords
// encoders on the hot path), request validation in the Kinesis words, the
// one table from core error kinds to AWS error types and HTTP statuses,
// the wire Timestamp, the bookkeeping of live subscriptions (each event's
// write has a deadline: a consumer that stops reading is cut, and one
// taken over is released at once), and which
// stream each operation acts on, so that with API.Auth set every request
// is authenticated (awsauth's SigV4 verifier) before its body is decoded
// and authorized as kinesis:<Operation> on that stream.
//
// It must not know how records are stored (it sees logstore.Record
// values the core returns, never a log), nor what video streams are
// beyond hiding their logs: which names are reserved for
// other layers comes in through API.ReservedSuffix. Stream state changes go
// through the core's methods, never its metadata.
package kdsapi
