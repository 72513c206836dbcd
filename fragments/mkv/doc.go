// Package mkv writes and reads Matroska (EBML, RFC 8794; Matroska, RFC
// 9559) in the shapes the Kinesis Video media APIs use: one Segment per
// fragment with a single Cluster, KVS tags (AWS_KINESISVIDEO_*) beside it,
// and unknown-size Segments and Clusters as PutMedia producers send them.
//
// The writer serves GetMediaForFragmentList; the stream muxer (stream.go)
// writes PutMedia uploads, one unknown-size Segment with a Cluster per
// fragment, for `eddy putmedia`. Two parts wait for the media
// API still to be built, and only tests use them until then: the
// streaming, bounded reader, which PutMedia ingest is to read producers'
// uploads with (it also checks the writer's output in tests), and the
// GetMedia error documents (ErrorTags, WriteTagsDocument, FormatTimestamp). No maintained Go library
// writes Matroska, and KVS's exact layout (tag placement, unknown sizes,
// one cluster per fragment) is easiest to keep with a small writer of our
// own; both sides are fuzzed.
//
// It knows EBML elements, tracks, frames and tags. It must not know
// fragments' storage, streams, or HTTP.
package mkv
