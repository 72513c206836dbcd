package rtpcodec

// The RTP decoders of the codecs without out-of-band configuration that
// WebRTC publishers send: VP8 (RFC 7741), VP9 (RFC 9628) and AV1 (AOM "RTP
// Payload Format For AV1"), and the bitstream facts Eddy needs of them:
// which frames are keyframes, and the AV1 OBU framing. See the Track
// conventions of package media (codecs.go).

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/bluenviron/gortsplib/v4/pkg/format/rtpav1"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/av1"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/vp9"
	"github.com/pion/rtp"

	"github.com/eddy-video/eddy/media"
)

// frameDecoder: RTP packets → whole frames, for the payload formats whose
// depacketizer returns one frame (VP8, VP9).
type frameDecoder struct {
	codec        string
	reset        func() // sets rtp to a fresh depacketizer
	rtp          func(*rtp.Packet) ([]byte, error)
	more, midway error // the depacketizer's "need more packets" and "joined mid-frame"
	key          func(frame []byte) (bool, error)
	synced       bool        // a keyframe went through: units flow
	pending      *packetTime // time of the first packet of the frame being assembled
}

// newFrameDecoder is the frame decoder over gortsplib's depacketizer D (one
// whole frame per access unit), whose errors more and midway mean "need
// more packets" and "joined mid-frame".
func newFrameDecoder[D any, PD interface {
	*D
	Init() error
	Decode(*rtp.Packet) ([]byte, error)
}](codec string, key func([]byte) (bool, error), more, midway error) *frameDecoder {
	d := &frameDecoder{codec: codec, key: key, more: more, midway: midway}
	d.reset = func() {
		r := PD(new(D))
		_ = r.Init()
		d.rtp = r.Decode
	}
	d.reset()
	return d
}

func (d *frameDecoder) decode(pkt *rtp.Packet, t packetTime) ([]*media.AccessUnit, error) {
	frame, err := d.rtp(pkt)
	switch {
	case errors.Is(err, d.more):
		if d.pending == nil {
			d.pending = &t
		}
		return nil, nil
	case errors.Is(err, d.midway):
		return nil, nil // joined in the middle of a frame
	case err != nil:
		// The depacketizer dropped the frame being assembled.
		d.pending = nil
		return nil, fmt.Errorf("%s RTP: %w", d.codec, err)
	}
	at := t
	if d.pending != nil {
		at = *d.pending
		d.pending = nil
	}
	if len(frame) == 0 {
		return nil, nil
	}
	key, err := d.key(frame)
	if err != nil {
		return nil, fmt.Errorf("%s frame: %w", d.codec, err)
	}
	if !key && !d.synced {
		return nil, nil // wait for a keyframe
	}
	d.synced = true
	return []*media.AccessUnit{{
		PTS: at.pts, DTS: at.pts, Key: key, NTP: at.ntp, Arrival: at.arrival,
		Payload: [][]byte{bytes.Clone(frame)},
	}}, nil
}

// vp8IsKey reads the frame tag of a VP8 frame (RFC 6386 9.1): bit 0 of
// its first byte is 0 on a key frame, which then carries the start code
// 9d 01 2a and its picture size after the 3-byte tag.
func vp8IsKey(frame []byte) (bool, error) {
	if len(frame) < 3 {
		return false, errors.New("frame shorter than its tag")
	}
	if frame[0]&1 != 0 {
		return false, nil
	}
	if len(frame) < 10 || frame[3] != 0x9d || frame[4] != 0x01 || frame[5] != 0x2a {
		return false, errors.New("key frame without its start code")
	}
	return true, nil
}

// vp9IsKey reads the uncompressed header of the first frame of a VP9
// frame or superframe (VP9 bitstream spec 6.2): a key frame has
// show_existing_frame 0 and frame_type KEY_FRAME (NonKeyFrame false);
// show_existing_frame 1 only shows a frame decoded before.
func vp9IsKey(frame []byte) (bool, error) {
	var h vp9.Header
	if err := h.Unmarshal(frame); err != nil {
		return false, err
	}
	return !h.ShowExistingFrame && !h.NonKeyFrame, nil
}

// av1OBUTemporalDelimiter is the OBU type of a temporal delimiter (AV1 spec 6.2.2).
const av1OBUTemporalDelimiter = 2

// av1OBUHeaderLen is the length of an OBU's header: 1 byte, 2 with
// obu_extension_flag (AV1 spec 5.3.1).
func av1OBUHeaderLen(obu []byte) int {
	if obu[0]&0x04 != 0 {
		return 2
	}
	return 1
}

// av1StripSize returns obu with obu_has_size_field 0: the obu_size field
// (leb128, AV1 spec 4.10.5) is removed, and the OBU cut to that size.
// An OBU without the field is returned as is.
func av1StripSize(obu []byte) ([]byte, error) {
	if len(obu) == 0 || obu[0]&0x80 != 0 {
		return nil, errors.New("AV1 OBU: empty or forbidden bit set")
	}
	hl := av1OBUHeaderLen(obu)
	if len(obu) < hl {
		return nil, errors.New("AV1 OBU: truncated header")
	}
	if obu[0]&0x02 == 0 {
		return obu, nil
	}
	var size av1.LEB128
	n, err := size.Unmarshal(obu[hl:])
	if err != nil {
		return nil, fmt.Errorf("AV1 OBU size: %w", err)
	}
	body := obu[hl+n:]
	if uint64(size) > uint64(len(body)) {
		return nil, errors.New("AV1 OBU: shorter than its obu_size")
	}
	out := make([]byte, 0, hl+int(size))
	out = append(out, obu[0]&^0x02)
	out = append(out, obu[1:hl]...)
	return append(out, body[:size]...), nil
}

// av1Decoder: AV1 RTP packets → temporal units.
type av1Decoder struct {
	rtp     *rtpav1.Decoder
	synced  bool
	drop    bool // a packet of the current temporal unit was lost or bad
	pending *packetTime
}

func (d *av1Decoder) reset() {
	d.rtp = &rtpav1.Decoder{}
	_ = d.rtp.Init()
	d.pending = nil
}

func (d *av1Decoder) decode(pkt *rtp.Packet, t packetTime) ([]*media.AccessUnit, error) {
	obus, err := d.rtp.Decode(pkt)
	switch {
	case errors.Is(err, rtpav1.ErrMorePacketsNeeded):
		if d.pending == nil {
			d.pending = &t
		}
		return nil, nil
	case errors.Is(err, rtpav1.ErrNonStartingPacketAndNoPrevious):
		return nil, nil
	case err != nil:
		// rtpav1 keeps the OBUs of the unit it was assembling: start
		// over, and drop what is left of this unit.
		d.reset()
		d.drop = !pkt.Marker
		return nil, fmt.Errorf("AV1 RTP: %w", err)
	}
	at := t
	if d.pending != nil {
		at = *d.pending
		d.pending = nil
	}
	if d.drop {
		d.drop = false
		return nil, nil
	}
	out := make([][]byte, 0, len(obus))
	n := 0
	for _, o := range obus {
		o, err := av1StripSize(o)
		if err != nil {
			return nil, err
		}
		if (o[0]>>3)&0x0f == av1OBUTemporalDelimiter {
			continue
		}
		out = append(out, o)
		n += len(o)
	}
	if len(out) == 0 {
		return nil, nil
	}
	// One allocation for the unit, never aliasing network buffers.
	buf := make([]byte, 0, n)
	for i, o := range out {
		start := len(buf)
		buf = append(buf, o...)
		out[i] = buf[start:len(buf):len(buf)]
	}
	key := av1.IsRandomAccess2(out) // holds a sequence header (AV1 spec 7.5)
	if !key && !d.synced {
		return nil, nil
	}
	d.synced = true
	return []*media.AccessUnit{{PTS: at.pts, DTS: at.pts, Key: key, NTP: at.ntp, Arrival: at.arrival, Payload: out}}, nil
}
