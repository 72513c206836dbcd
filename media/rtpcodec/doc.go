// Package rtpcodec is the codec boundary of RTP, shared by the RTSP server
// and pull sources (media/rtsp) and by WebRTC (WHIP ingest, WHEP
// playback): RTP packets of each supported format become codec-neutral
// access units on a media.Hub (SelectTracks and Ingest for RTSP sessions,
// RTPIngest for others), and access units become RTP packets again
// (Encoder for RTSP PLAY, NewPacketizer for WHEP). Codec specifics live in
// the two type switches here: newRTPDecoder (format → Track + decoder) and
// newPacketizer (Track → format + packetizer). The units it makes follow
// the Track conventions of package media (codecs.go).
//
// It knows RTP payload formats (RFC 6184, 7798, 3640, 6416, 7587, 3551,
// 7741, 9628, AV1), RTCP sender reports and access units, never RTSP
// sessions, WebRTC peers, storage or playback.
package rtpcodec
