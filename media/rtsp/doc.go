// Package rtsp is the RTSP edge (RFC 2326) of the media registry: Server
// takes publishers (ANNOUNCE/RECORD) and live readers (DESCRIBE/SETUP/PLAY,
// sharing one output per stream), and Source pulls a camera into the
// registry, always or on demand (a media.Source). It owns RTSP sessions,
// paths and the table that turns errors into RTSP status codes.
//
// It must not know RTP payload formats (media/rtpcodec turns RTP into
// access units and back), nor what becomes of a publication (recording,
// HLS, WebRTC): it talks to media.Registry only.
package rtsp
