// Package rtsp is the RTSP edge (RFC 2326) of the media registry: Server
// takes publishers (ANNOUNCE/RECORD) and live readers (DESCRIBE/SETUP/PLAY,
// sharing one output per stream), and Source pulls a camera into the
// registry, always or on demand (a media.Source). It owns RTSP sessions,
// paths, the table that turns errors into RTSP status codes, and RTSP's
// authentication exchange (Digest, and Basic over TLS: challenges, nonces,
// what a 401 or a 403 closes), and what keeps a listener serving whatever
// clients do: failed accepts retried, connection caps, deadlines for
// connections that authenticate nothing, idle ones and announced streams
// that never record.
//
// It must not know RTP payload formats (media/rtpcodec turns RTP into
// access units and back), nor what becomes of a publication (recording,
// HLS, WebRTC): it talks to media.Registry only. Nor does it know who may
// do what: it asks its hooks (Server.Authenticate, Authorize), which the
// server wires to its authority.
package rtsp
