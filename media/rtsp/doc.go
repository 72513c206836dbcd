// Package rtsp is the RTSP edge (RFC 2326) of the media registry: Server
// takes publishers (ANNOUNCE/RECORD) and live readers (DESCRIBE/SETUP/PLAY),
// and Source pulls a camera into the registry, always or on demand. It
// owns RTSP sessions, paths and status codes, and the table that turns
// errors into them.
//
// It must not know codecs beyond handing formats to the RTP codec layer,
// nor what happens to a publication (recording, HLS, WebRTC): it talks to
// media.Registry only.
package rtsp
