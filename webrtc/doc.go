// Package webrtc plays live streams to browsers over WebRTC (WHEP,
// draft-ietf-wish-whep) and takes publications from browsers, OBS and
// GStreamer (WHIP, RFC 9725), with pion/webrtc. Every peer connection's ICE
// traffic goes through one UDP port and one TCP port.
//
// It owns sessions and their HTTP resources (http.go, whep.go, whip.go),
// the events data channel of WHEP sessions (events.go: a stream's live
// events, reached through fragments/events, and clock messages), and the
// WebRTC codec boundary (codecs.go); the RTP (de)packetizers are
// media/rtpcodec's, and which codec may play is media's rule. It must not
// transcode, nor import hls or web; the client side is webrtc/whepclient.
// Who may play or publish is a hook (Server.Authorize, auth.go) that the
// server wires to its identities: the bearer token of the WHIP/WHEP
// specifications is checked there, and this package knows only its
// principal's name, to keep each session's resource for its maker.
package webrtc
