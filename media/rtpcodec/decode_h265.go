package rtpcodec

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/bluenviron/gortsplib/v4/pkg/format/rtph265"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
	"github.com/pion/rtp"

	"github.com/eddy-video/eddy/media"
)

func h265ParamRank(n []byte) int {
	switch h265.NALUType((n[0] >> 1) & 0x3f) {
	case h265.NALUType_VPS_NUT:
		return 0
	case h265.NALUType_SPS_NUT:
		return 1
	case h265.NALUType_PPS_NUT:
		return 2
	}
	return -1
}

// h265Decoder: RFC 7798 packets → pictures (ITU-T H.265).
type h265Decoder struct {
	rtp           *rtph265.Decoder
	dts           h265.DTSExtractor
	vps, sps, pps []byte
	synced        bool
	pending       *packetTime
}

func (d *h265Decoder) reset() {
	d.rtp = &rtph265.Decoder{}
	_ = d.rtp.Init()
	d.pending = nil
}

// h265IsIRAP reports an intra random access point picture (BLA, IDR, CRA:
// H.265 7.4.2.2, NAL unit types 16 to 21).
func h265IsIRAP(typ h265.NALUType) bool {
	return typ >= h265.NALUType_BLA_W_LP && typ <= h265.NALUType_CRA_NUT
}

func (d *h265Decoder) decode(pkt *rtp.Packet, t packetTime) ([]*media.AccessUnit, error) {
	nalus, err := d.rtp.Decode(pkt)
	switch {
	case errors.Is(err, rtph265.ErrMorePacketsNeeded):
		if d.pending == nil {
			d.pending = &t
		}
		return nil, nil
	case errors.Is(err, rtph265.ErrNonStartingPacketAndNoPrevious):
		return nil, nil
	case err != nil:
		// rtph265 drops the broken fragment or picture and stays usable.
		return nil, fmt.Errorf("H265 RTP: %w", err)
	}
	at := t // rtph265 ends pictures on the marker only
	if d.pending != nil {
		at = *d.pending
		d.pending = nil
	}

	var hasVPS, hasSPS, hasPPS, key bool
	au := filterNALUs(nalus, func(n []byte) bool {
		if n[0]&0x80 != 0 || len(n) < 2 { // forbidden_zero_bit, 2-byte header (H.265 7.3.1.2)
			return true
		}
		typ := h265.NALUType((n[0] >> 1) & 0x3f)
		switch {
		case typ == h265.NALUType_AUD_NUT:
			return true
		case typ == h265.NALUType_VPS_NUT:
			hasVPS = true
			if !bytes.Equal(d.vps, n) {
				d.vps = bytes.Clone(n)
			}
		case typ == h265.NALUType_SPS_NUT:
			hasSPS = true
			if !bytes.Equal(d.sps, n) {
				d.sps = bytes.Clone(n)
			}
		case typ == h265.NALUType_PPS_NUT:
			hasPPS = true
			if !bytes.Equal(d.pps, n) {
				d.pps = bytes.Clone(n)
			}
		case h265IsIRAP(typ):
			key = true
		}
		return false
	})
	if len(au) == 0 {
		return nil, nil
	}
	if key {
		au = withParams(au, [][]byte{d.vps, d.sps, d.pps}, []bool{hasVPS, hasSPS, hasPPS}, h265ParamRank)
	} else if !d.synced {
		return nil, nil
	}
	dts, err := d.dts.Extract(au, at.pts)
	if err != nil {
		d.synced = false
		d.dts = h265.DTSExtractor{}
		d.dts.Initialize()
		return nil, fmt.Errorf("H265 DTS: %w", err)
	}
	d.synced = true
	return []*media.AccessUnit{{PTS: at.pts, DTS: dts, Key: key, NTP: at.ntp, Arrival: at.arrival, Payload: au}}, nil
}
