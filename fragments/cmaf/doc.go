// Package cmaf is the codec boundary of the archive's container: CMAF /
// fragmented MP4 (ISO/IEC 14496-12, -15; the VP codec and AV1 ISO-BMFF
// bindings). It reads init segments (ParseInit, InitTracks, CodecsString
// for HLS), demuxes stored media segments (Demux), writes media segments
// (AppendSegment: the recording path's moof+mdat writer), and holds what
// the fragmenter needs to write VP8, VP9 and AV1 (their parameters come
// from keyframes, not from the RTP session).
//
// It knows sample entries, boxes and codec configuration records. It must
// not know how fragments are stored or indexed, nor any network protocol.
package cmaf
