package webrtc

// The codec boundary of WebRTC, both ways: a hub track becomes a pion
// codec capability, packetized by media/rtpcodec's RTP packetizer
// (WHEP), and a codec a WHIP publisher offers becomes an RTSP-style media
// that media/rtpcodec ingests. The WebRTC specifics (MIME types, fmtp,
// payload sizes, codec preference) live in the type switches here.

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	pion "github.com/pion/webrtc/v4"

	"github.com/eddy-video/eddy/media"
	"github.com/eddy-video/eddy/media/rtpcodec"
)

// maxPayload keeps RTP packets inside the smallest path MTU WebRTC stacks
// assume (1200 bytes of payload plus RTP, SRTP, UDP and IP headers).
const maxPayload = 1100

// outTrack is how one hub track is sent to a WHEP viewer.
type outTrack struct {
	track media.Track
	cap   pion.RTPCodecCapability
	pack  rtpcodec.Packetizer // RTSP PLAY's, with WebRTC's payload sizes
	size  int                 // its maximum payload
}

// newOutTrack returns the capability and packetizer of a track
// media.WebRTCTrack accepted.
func newOutTrack(t media.Track) (*outTrack, error) {
	o := &outTrack{track: t}
	size := maxPayload
	switch t.Codec {
	case media.CodecH264:
		o.cap = pion.RTPCodecCapability{MimeType: pion.MimeTypeH264, ClockRate: 90000,
			SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=" + h264ProfileLevel(t)}
	case media.CodecH265:
		o.cap = pion.RTPCodecCapability{MimeType: pion.MimeTypeH265, ClockRate: 90000}
	case media.CodecVP8:
		o.cap = pion.RTPCodecCapability{MimeType: pion.MimeTypeVP8, ClockRate: 90000}
	case media.CodecVP9:
		o.cap = pion.RTPCodecCapability{MimeType: pion.MimeTypeVP9, ClockRate: 90000, SDPFmtpLine: "profile-id=0"}
	case media.CodecAV1:
		o.cap = pion.RTPCodecCapability{MimeType: pion.MimeTypeAV1, ClockRate: 90000}
	case media.CodecOpus:
		o.cap = pion.RTPCodecCapability{MimeType: pion.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1"}
		size = 1400 // one Opus packet per RTP packet, never split
	case media.CodecG711U, media.CodecG711A:
		o.cap = pion.RTPCodecCapability{MimeType: pion.MimeTypePCMA, ClockRate: 8000}
		if t.Codec == media.CodecG711U {
			o.cap.MimeType = pion.MimeTypePCMU
		}
		size = 160 // 20 ms per packet, the ptime WebRTC audio stacks expect
	default:
		return nil, fmt.Errorf("webrtc: cannot send %s", t.Codec)
	}
	// pion rewrites the payload type (and SSRC) to the negotiated one.
	pack, err := rtpcodec.NewPacketizer(t, 96, size)
	if err != nil {
		return nil, err
	}
	o.pack, o.size = pack, size
	return o, nil
}

// h264ProfileLevel is the profile-level-id of an H.264 track, from its SPS
// when known; constrained baseline 3.1 otherwise (browsers decode any
// profile they negotiate the codec for).
func h264ProfileLevel(t media.Track) string {
	if len(t.Config) > 0 {
		var sps h264.SPS
		if err := sps.Unmarshal(t.Config[0]); err == nil && len(t.Config[0]) >= 4 {
			return fmt.Sprintf("%02x%02x%02x", t.Config[0][1], t.Config[0][2], t.Config[0][3])
		}
	}
	return "42e01f"
}

// Preference of the codecs a WHIP publisher may send, best first: H.264
// records into every output (HLS, MP4, MKV); the others are live and
// recorded but not all outputs carry them.
var whipVideoPreference = []string{pion.MimeTypeH264, pion.MimeTypeH265, pion.MimeTypeVP9, pion.MimeTypeAV1, pion.MimeTypeVP8}
var whipAudioPreference = []string{pion.MimeTypeOpus, pion.MimeTypePCMU, pion.MimeTypePCMA}

// whipCodecs lists the WHIP codecs for error messages.
const whipCodecs = "H264, H265, VP8, VP9, AV1 video; Opus, PCMU, PCMA audio"

// chooseCodec picks the codec to receive on one transceiver from the
// codecs negotiated for it, by preference.
func chooseCodec(kind pion.RTPCodecType, codecs []pion.RTPCodecParameters) (pion.RTPCodecParameters, bool) {
	pref := whipVideoPreference
	if kind == pion.RTPCodecTypeAudio {
		pref = whipAudioPreference
	}
	for _, mime := range pref {
		var best *pion.RTPCodecParameters
		for i := range codecs {
			c := &codecs[i]
			if !strings.EqualFold(c.MimeType, mime) {
				continue
			}
			if strings.EqualFold(mime, pion.MimeTypeH264) {
				// Packetization mode 1 (FU-A, STAP-A) is what browsers
				// send; mode 0 is single NAL units only.
				if !strings.Contains(c.SDPFmtpLine, "packetization-mode=1") {
					continue
				}
			}
			if best == nil {
				best = c
			}
		}
		if best != nil {
			return *best, true
		}
	}
	return pion.RTPCodecParameters{}, false
}

// ingestMedia describes a negotiated WHIP codec as the RTSP media that
// media/rtpcodec ingests.
func ingestMedia(kind pion.RTPCodecType, c pion.RTPCodecParameters) (*description.Media, error) {
	pt := uint8(c.PayloadType)
	var f format.Format
	switch strings.ToLower(c.MimeType) {
	case strings.ToLower(pion.MimeTypeH264):
		f = &format.H264{PayloadTyp: pt, PacketizationMode: 1}
	case strings.ToLower(pion.MimeTypeH265):
		f = &format.H265{PayloadTyp: pt}
	case strings.ToLower(pion.MimeTypeVP8):
		f = &format.VP8{PayloadTyp: pt}
	case strings.ToLower(pion.MimeTypeVP9):
		f = &format.VP9{PayloadTyp: pt}
	case strings.ToLower(pion.MimeTypeAV1):
		f = &format.AV1{PayloadTyp: pt}
	case strings.ToLower(pion.MimeTypeOpus):
		ch := int(c.Channels)
		if ch == 0 {
			ch = 2
		}
		f = &format.Opus{PayloadTyp: pt, ChannelCount: ch}
	case strings.ToLower(pion.MimeTypePCMU), strings.ToLower(pion.MimeTypePCMA):
		f = &format.G711{PayloadTyp: pt, MULaw: strings.EqualFold(c.MimeType, pion.MimeTypePCMU), SampleRate: 8000, ChannelCount: 1}
	default:
		return nil, &rtpcodec.UnsupportedCodecError{Codec: c.MimeType}
	}
	mt := description.MediaTypeVideo
	if kind == pion.RTPCodecTypeAudio {
		mt = description.MediaTypeAudio
	}
	return &description.Media{Type: mt, Formats: []format.Format{f}}, nil
}

func randUint32() uint32 {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return binary.BigEndian.Uint32(b[:])
}
