// Package mkv writes and reads Matroska (EBML, RFC 8794; Matroska, RFC
// 9559) in the shapes the Kinesis Video media APIs use: one Segment per
// fragment with a single Cluster, KVS tags (AWS_KINESISVIDEO_*) beside it,
// and unknown-size Segments and Clusters as PutMedia producers send them.
//
// The writer serves GetMediaForFragmentList (and GetMedia). The streaming,
// bounded reader is what PutMedia ingest reads producers' uploads with; today
// it also checks the writer's output in tests. No maintained Go library
// writes Matroska, and KVS's exact layout (tag placement, unknown sizes,
// one cluster per fragment) is easiest to keep with a small writer of our
// own; both sides are fuzzed.
//
// It knows EBML elements, tracks, frames and tags. It must not know
// fragments' storage, streams, or HTTP.
package mkv
