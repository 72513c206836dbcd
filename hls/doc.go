// Package hls serves Kinesis Video HLS sessions from the fragment store:
// GetHLSStreamingSessionURL, then master and media playlists (RFC 8216)
// whose segments are the stored CMAF fragments, served as stored, or for
// ContainerFormat MPEG_TS transport stream segments converted from them.
//
// It owns sessions (a signed, stateless SessionToken), playlists (RFC 8216
// and its Low-Latency extension, with parts cut by the recorder) and segment
// serving, including the MPEG-TS muxer. It reads the fragment store and
// speaks the Kinesis Video API through fragments/kvsapi; it must not
// re-mux what the store already holds as CMAF, and knows nothing of WebRTC
// or RTSP. Media playlists carry the events of the stream's timeline
// (fragments/events) in their window as EXT-X-DATERANGE tags (daterange.go).
package hls
