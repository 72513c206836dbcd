// Package fragments is the fragment store of Eddy's video streams: a
// video stream is a one-shard stream of the shard core whose records are
// fragments (one GOP of every track as a CMAF media segment, with server
// and producer time), with its init segments beside it and an index by
// server and producer time, so that archive reads (ListFragments,
// playlists, clips) never scan.
//
// It owns the fragment rule (validate.go: the bounds of duration, size and
// timestamps that the recorder checks before it appends and that reads,
// listings and an index rebuild apply), the fragment record format
// (fragment.go), the index and its disk
// format (index.go), the store of one stream (store.go: append, read,
// list, init segments, retention), the live edge that LL-HLS lists before
// a fragment is durable (live.go), the reserved event-stream names
// (names.go), and the Manager of video streams (streams.go: create,
// describe, update, delete, each with its {name}.events data stream).
//
// The packages below it build on the store: fragmenter (GOP to CMAF),
// recorder (hub to store), cmaf (the fMP4 codec boundary), archive (clips
// and MKV out), mkv (Matroska), kvsapi (the Kinesis Video API).
//
// It must not know HTTP, the Kinesis wire formats or the protocols media
// arrives and leaves by; it does not cut fragments or read the live hub.
package fragments
