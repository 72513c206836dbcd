// Package rtspclient is client code: FilePublisher reads a progressive MP4
// file (H.264 or H.265 video, AAC audio) and publishes it in real time to
// an RTSP server with ANNOUNCE/RECORD, as a camera would, or hands its RTP
// packets to a caller (the WHIP publisher of the tests and benchmarks). It
// serves `eddy publish`, `eddy bench` and the end-to-end tests.
//
// It knows MP4 demuxing, RTP packetizing and the RTSP client side only: it
// must not know Eddy's server, its media hub or its registry, and no server
// code imports it (only commands and tests do).
package rtspclient
