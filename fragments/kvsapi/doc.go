// Package kvsapi is the Kinesis Video Streams API layer: the restJson1
// operations of the control plane (CreateStream, DescribeStream, tags, ...)
// and of the archived media (ListFragments, GetMediaForFragmentList,
// GetClip), over the fragment store.
//
// It owns what every Kinesis Video operation shares, written once: the
// request decoder (Decode), the stream name/ARN resolver (Resolver), the
// error type and the one table of AWS error types and HTTP statuses
// (Error, AsError, WriteError), and the wire timestamp (Timestamp). Package
// hls serves GetHLSStreamingSessionURL with them, PutMedia (putmedia*.go:
// producers' Matroska uploads published to the media registry, one
// fragment per Cluster) uses them, and the other media operations
// (GetMedia, GetImages) are to use them too. Operations Eddy does
// not serve answer UnknownOperationException naming the operation.
//
// It must not know how fragments are stored, cut or recorded (it asks
// package fragments), nor anything of HLS playlists, WebRTC or RTSP.
package kvsapi
