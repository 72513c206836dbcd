package rtpcodec

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/bluenviron/gortsplib/v4/pkg/format/rtph264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/pion/rtp"

	"github.com/eddy-video/eddy/media"
)

func h264ParamRank(n []byte) int {
	switch h264.NALUType(n[0] & 0x1f) {
	case h264.NALUTypeSPS:
		return 0
	case h264.NALUTypePPS:
		return 1
	}
	return -1
}

// h264Decoder: RFC 6184 packets → pictures (ITU-T H.264).
type h264Decoder struct {
	pm       int
	rtp      *rtph264.Decoder
	dts      h264.DTSExtractor
	sps, pps []byte      // latest parameter sets (SDP or in-band)
	synced   bool        // a keyframe went through: units flow
	pending  *packetTime // time of the first packet buffered in rtp
}

func (d *h264Decoder) reset() {
	d.rtp = &rtph264.Decoder{PacketizationMode: d.pm}
	_ = d.rtp.Init() // PacketizationMode < 2 was checked
	d.pending = nil
}

func (d *h264Decoder) decode(pkt *rtp.Packet, t packetTime) ([]*media.AccessUnit, error) {
	nalus, err := d.rtp.Decode(pkt)
	switch {
	case errors.Is(err, rtph264.ErrMorePacketsNeeded):
		if d.pending == nil {
			d.pending = &t
		}
		return nil, nil
	case errors.Is(err, rtph264.ErrNonStartingPacketAndNoPrevious):
		return nil, nil // joined in the middle of a fragmented NALU
	case err != nil:
		// rtph264 drops the broken fragment or picture and stays usable.
		return nil, fmt.Errorf("H264 RTP: %w", err)
	}
	// rtph264 also ends a picture when the timestamp changes (cameras that
	// do not set the marker): then the returned picture is the buffered
	// one, and this packet starts the next.
	at := t
	if d.pending != nil && d.pending.ts != t.ts {
		at = *d.pending
		d.pending = &t
	} else {
		d.pending = nil
	}

	var hasSPS, hasPPS, key bool
	au := filterNALUs(nalus, func(n []byte) bool {
		if n[0]&0x80 != 0 { // forbidden_zero_bit (H.264 7.4.1)
			return true
		}
		switch h264.NALUType(n[0] & 0x1f) {
		case h264.NALUTypeAccessUnitDelimiter:
			return true
		case h264.NALUTypeSPS:
			hasSPS = true
			if !bytes.Equal(d.sps, n) {
				d.sps = bytes.Clone(n)
			}
		case h264.NALUTypePPS:
			hasPPS = true
			if !bytes.Equal(d.pps, n) {
				d.pps = bytes.Clone(n)
			}
		case h264.NALUTypeIDR:
			key = true
		}
		return false
	})
	if len(au) == 0 {
		return nil, nil
	}
	if key {
		au = withParams(au, [][]byte{d.sps, d.pps}, []bool{hasSPS, hasPPS}, h264ParamRank)
	} else if !d.synced {
		return nil, nil // wait for a keyframe
	}
	dts, err := d.dts.Extract(au, at.pts)
	if err != nil {
		d.synced = false
		d.dts = h264.DTSExtractor{}
		d.dts.Initialize()
		return nil, fmt.Errorf("H264 DTS: %w", err)
	}
	d.synced = true
	return []*media.AccessUnit{{PTS: at.pts, DTS: dts, Key: key, NTP: at.ntp, Arrival: at.arrival, Payload: au}}, nil
}
