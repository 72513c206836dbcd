package media

// Track conventions: what every protocol adapter publishes (media/rtpcodec
// makes them from RTP) and every reader of a Hub can rely on.
//
//	Codec  Kind   ClockRate          Config                          Payload of a unit
//	H264   Video  90000              {SPS, PPS} from the SDP         the NAL units of one picture (no
//	                                 (sprop-parameter-sets), or nil  Annex-B start codes, no AUD)
//	H265   Video  90000              {VPS, SPS, PPS} from the SDP    as H264
//	                                 (sprop-vps/sps/pps), or nil
//	AAC    Audio  sample rate        {AudioSpecificConfig}           one raw AAC frame (no ADTS, no LATM);
//	                                 (ISO/IEC 14496-3 1.6.2.1)       PTS steps by 1024 per frame
//	Opus   Audio  48000              {OpusHead} (RFC 7845 5.1: 19+   one Opus packet (RFC 6716)
//	                                 bytes, channel count at [9],
//	                                 pre-skip 0)
//	G711U  Audio  sample rate (8000) {{channel count}}               mu-law samples of one RTP packet
//	G711A  Audio  sample rate (8000) {{channel count}}               A-law samples of one RTP packet
//	VP8    Video  90000              nil                             one frame (RFC 6386), as one []byte
//	VP9    Video  90000              nil                             one frame or superframe (VP9
//	                                                                 bitstream spec, Annex B), as one []byte
//	AV1    Video  90000              nil                             the OBUs of one temporal unit, one
//	                                                                 []byte each, with obu_has_size_field
//	                                                                 0 (as the AOM RTP payload format
//	                                                                 for AV1 recommends) and no temporal
//	                                                                 delimiter
//
// Video units are Key on an H264 IDR picture or an H265 IRAP picture (BLA,
// IDR, CRA); a keyframe always carries its parameter sets (VPS,) SPS and
// PPS: those it lacks are added, first, from the SDP or the last in-band
// ones. Units before the first keyframe are dropped. Audio units are all
// Key. DTS equals PTS but for video with B-frames. Parameter sets that
// change in-band are not reflected in Track.Config (immutable once
// published): they travel in the keyframes.
//
// VP8, VP9 and AV1 have no configuration out of band (their SDP carries
// none), so their Track.Config is nil and whoever needs one (the
// fragmenter: picture size, profile, bit depth, the AV1 sequence header)
// takes it from the keyframes, which carry it in-band. A VP8 unit is Key
// when its frame tag says key frame (RFC 6386 9.1); a VP9 unit when its
// first frame is a key frame that is not a show_existing_frame (VP9
// bitstream spec 6.2); an AV1 unit when it holds a sequence header OBU
// (AV1 spec 7.5: a random access point starts with one).

// Codec names of Track.Codec.
const (
	CodecH264  = "H264"
	CodecH265  = "H265"
	CodecAAC   = "AAC"
	CodecOpus  = "Opus"
	CodecG711U = "G711U" // G.711 mu-law (PCMU)
	CodecG711A = "G711A" // G.711 A-law (PCMA)
	CodecVP8   = "VP8"
	CodecVP9   = "VP9"
	CodecAV1   = "AV1"
)

// G711Channels is the channel count of a G.711 track: its Config is
// {{channel count}}, and no Config (or 0) means mono.
func G711Channels(t Track) int {
	if len(t.Config) > 0 && len(t.Config[0]) > 0 && t.Config[0][0] > 0 {
		return int(t.Config[0][0])
	}
	return 1
}
