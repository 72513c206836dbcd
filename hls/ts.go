package hls

import (
	"bytes"
	"errors"
	"fmt"
	"sort"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4"
)

// MPEG-TS segments for ContainerFormat MPEG_TS sessions (GetHLSStreamingSessionURL):
// every stored CMAF fragment becomes one self-contained transport stream
// (ISO/IEC 13818-1) with PAT and PMT first, so each segment decodes on its
// own (RFC 8216 §3.2). The muxer is written here rather than taken from
// mediacommon's mpegts package, whose go-astits dependency the module does
// not carry.
//
// Timestamps are the fragment's fMP4 decode times (tfdt plus sample
// durations, ISO/IEC 14496-12 §8.8.12) and composition offsets rescaled
// to 90 kHz. Those are continuous within a publication, so consecutive
// segments of a session are too; so are continuity counters (see
// padContinuity).

const (
	tsPacketSize = 188
	tsPIDPAT     = 0x0000
	tsPIDPMT     = 0x1000
	tsPIDFirstES = 0x0100
	tsClock      = 90000

	// tsOffset is added to every timestamp so that the PCR, which leads
	// the decode time by tsPCRLead, is never negative.
	tsOffset  = tsClock
	tsPCRLead = tsClock / 10
	tsMask    = 1<<33 - 1
)

// ISO/IEC 13818-1 Table 2-34 stream types, and PES stream IDs.
const (
	tsStreamH264    = 0x1b
	tsStreamH265    = 0x24
	tsStreamAAC     = 0x0f // ADTS
	tsStreamPrivate = 0x06 // Opus (ETSI TS 102 366 Annex draft "Opus in MPEG-TS")

	pesVideo    = 0xe0
	pesAudio    = 0xc0
	pesPrivate1 = 0xbd
)

// errTSNoTracks is returned for a fragment with no track MPEG-TS carries.
var errTSNoTracks = errors.New("hls: no track can be carried in MPEG-TS")

// errTSVideo is returned for a fragment whose video MPEG-TS does not carry
// (VP9, AV1).
var errTSVideo = errors.New("hls: MPEG-TS carries H.264 and H.265 video only")

func hasVideo(init *fmp4.Init) bool {
	for _, t := range init.Tracks {
		if t.Codec.IsVideo() {
			return true
		}
	}
	return false
}

// tsTrack is one elementary stream of a segment.
type tsTrack struct {
	id         int // fMP4 track ID
	pid        uint16
	timescale  uint32
	codec      mp4.Codec
	streamType byte
	streamID   byte
	desc       []byte // PMT ES_info descriptors
}

// tsSample is one access unit, timestamps in 90 kHz with tsOffset applied.
type tsSample struct {
	track    *tsTrack
	dts, pts int64
	key      bool
	payload  []byte
}

// tsTracks maps an init segment's tracks to elementary streams; LPCM and
// other codecs MPEG-TS does not carry for HLS are left out.
func tsTracks(init *fmp4.Init) []*tsTrack {
	var out []*tsTrack
	for _, it := range init.Tracks {
		t := &tsTrack{id: it.ID, timescale: it.TimeScale, codec: it.Codec}
		switch c := it.Codec.(type) {
		case *mp4.CodecH264:
			t.streamType, t.streamID = tsStreamH264, pesVideo
		case *mp4.CodecH265:
			t.streamType, t.streamID = tsStreamH265, pesVideo
		case *mp4.CodecMPEG4Audio:
			t.streamType, t.streamID = tsStreamAAC, pesAudio
		case *mp4.CodecOpus:
			if c.ChannelCount < 1 || c.ChannelCount > 8 {
				continue
			}
			// registration_descriptor "Opus" and the DVB extension
			// descriptor (tag 0x7f, extension 0x80) with channel_config_code.
			t.streamType, t.streamID = tsStreamPrivate, pesPrivate1
			t.desc = []byte{0x05, 4, 'O', 'p', 'u', 's', 0x7f, 2, 0x80, byte(c.ChannelCount)}
		default:
			continue
		}
		if t.timescale == 0 {
			continue
		}
		out = append(out, t)
	}
	// The video stream leads: it carries the PCR.
	sort.SliceStable(out, func(i, j int) bool { return out[i].codec.IsVideo() && !out[j].codec.IsVideo() })
	for i, t := range out {
		t.pid = tsPIDFirstES + uint16(i)
	}
	return out
}

// to90k rescales a time in timescale units to 90 kHz without overflow.
func to90k(v uint64, timescale uint32) int64 {
	ts := uint64(timescale)
	return int64((v/ts)*tsClock + (v%ts)*tsClock/ts)
}

// tsSegment converts one stored fragment (moof+mdat) with the init
// segment (ftyp+moov) it references into an MPEG-TS segment.
func tsSegment(initBytes, media []byte) ([]byte, error) {
	var init fmp4.Init
	if err := init.Unmarshal(bytes.NewReader(initBytes)); err != nil {
		return nil, fmt.Errorf("init segment: %w", err)
	}
	var parts fmp4.Parts
	if err := parts.Unmarshal(media); err != nil {
		return nil, fmt.Errorf("media segment: %w", err)
	}
	tracks := tsTracks(&init)
	if hasVideo(&init) && (len(tracks) == 0 || !tracks[0].codec.IsVideo()) {
		// Not the audio alone, as if the video did not exist.
		return nil, errTSVideo
	}
	if len(tracks) == 0 {
		return nil, errTSNoTracks
	}
	byID := map[int]*tsTrack{}
	for _, t := range tracks {
		byID[t.id] = t
	}
	var samples []*tsSample
	for _, p := range parts {
		for _, pt := range p.Tracks {
			t := byID[pt.ID]
			if t == nil {
				continue
			}
			dts := pt.BaseTime
			for _, s := range pt.Samples {
				d := to90k(dts, t.timescale) + tsOffset
				pts := to90k(uint64(max(int64(dts)+int64(s.PTSOffset), 0)), t.timescale) + tsOffset
				samples = append(samples, &tsSample{track: t, dts: min(d, pts), pts: pts, key: !s.IsNonSyncSample, payload: s.Payload})
				dts += uint64(s.Duration)
			}
		}
	}
	// Interleave by decode time, video first at equal times.
	sort.SliceStable(samples, func(i, j int) bool {
		a, b := samples[i], samples[j]
		if a.dts != b.dts {
			return a.dts < b.dts
		}
		return a.track.codec.IsVideo() && !b.track.codec.IsVideo()
	})

	pcrPID := tracks[0].pid
	var units []*pesUnit
	for _, smp := range samples {
		es, err := smp.elementary()
		if err != nil {
			return nil, err
		}
		if es == nil {
			continue
		}
		pcr := int64(-1)
		if smp.track.pid == pcrPID {
			pcr = (smp.dts - tsPCRLead) & tsMask
		}
		units = append(units, newPESUnit(smp, es, pcr))
	}
	padContinuity(units)
	m := &tsMuxer{}
	m.psi(tsPIDPAT, patSection())
	m.psi(tsPIDPMT, pmtSection(tracks))
	for _, u := range units {
		m.pes(u)
	}
	return m.buf, nil
}

// elementary returns a sample's elementary stream bytes: Annex-B video
// (ITU-T H.264/H.265 Annex B) with an access unit delimiter, and the
// parameter sets before a keyframe that lacks them; ADTS AAC (ISO/IEC
// 14496-3 §1.A.2); Opus with its control header.
func (s *tsSample) elementary() ([]byte, error) {
	switch c := s.track.codec.(type) {
	case *mp4.CodecH264:
		var au h264.AVCC
		if err := au.Unmarshal(s.payload); err != nil {
			return nil, fmt.Errorf("H.264 sample: %w", err)
		}
		au = nonEmpty(au)
		hasSPS, hasAUD := false, false
		for _, n := range au {
			switch h264.NALUType(n[0] & 0x1f) {
			case h264.NALUTypeSPS:
				hasSPS = true
			case h264.NALUTypeAccessUnitDelimiter:
				hasAUD = true
			}
		}
		out := make([][]byte, 0, len(au)+3)
		if !hasAUD {
			out = append(out, []byte{byte(h264.NALUTypeAccessUnitDelimiter), 0xf0})
		}
		if s.key && !hasSPS && len(c.SPS) > 0 && len(c.PPS) > 0 {
			out = append(out, c.SPS, c.PPS)
		}
		for _, n := range au {
			if h264.NALUType(n[0]&0x1f) != h264.NALUTypeAccessUnitDelimiter {
				out = append(out, n)
			}
		}
		return h264.AnnexB(out).Marshal()
	case *mp4.CodecH265:
		var au h264.AVCC // the same 4-byte length prefixes (ISO/IEC 14496-15 §8.3)
		if err := au.Unmarshal(s.payload); err != nil {
			return nil, fmt.Errorf("H.265 sample: %w", err)
		}
		au = nonEmpty(au)
		hasSPS := false
		for _, n := range au {
			if h265.NALUType((n[0]>>1)&0x3f) == h265.NALUType_SPS_NUT {
				hasSPS = true
			}
		}
		out := make([][]byte, 0, len(au)+4)
		out = append(out, []byte{byte(h265.NALUType_AUD_NUT) << 1, 1, 0x50})
		if s.key && !hasSPS && len(c.VPS) > 0 && len(c.SPS) > 0 && len(c.PPS) > 0 {
			out = append(out, c.VPS, c.SPS, c.PPS)
		}
		for _, n := range au {
			if h265.NALUType((n[0]>>1)&0x3f) != h265.NALUType_AUD_NUT {
				out = append(out, n)
			}
		}
		return h264.AnnexB(out).Marshal()
	case *mp4.CodecMPEG4Audio:
		if len(s.payload) == 0 {
			return nil, nil
		}
		return mpeg4audio.ADTSPackets{{
			Type:         c.Config.Type,
			SampleRate:   c.Config.SampleRate,
			ChannelCount: c.Config.ChannelCount,
			AU:           s.payload,
		}}.Marshal()
	case *mp4.CodecOpus:
		// opus_control_header: 0x3ff prefix, no trim or extension flags,
		// then au_size as 0xff bytes plus a final byte.
		out := []byte{0x7f, 0xe0}
		n := len(s.payload)
		for ; n >= 255; n -= 255 {
			out = append(out, 0xff)
		}
		out = append(out, byte(n))
		return append(out, s.payload...), nil
	}
	return nil, nil
}

// nonEmpty drops zero-length NAL units.
func nonEmpty(au [][]byte) [][]byte {
	out := au[:0]
	for _, n := range au {
		if len(n) > 0 {
			out = append(out, n)
		}
	}
	return out
}

// tsMuxer packs sections and PES packets into transport packets.
type tsMuxer struct {
	buf []byte
	cc  map[uint16]byte // next continuity_counter per PID, from 0
}

func (m *tsMuxer) packet(pid uint16, start bool) []byte {
	if m.cc == nil {
		m.cc = map[uint16]byte{}
	}
	b := byte(pid>>8) & 0x1f
	if start {
		b |= 0x40 // payload_unit_start_indicator
	}
	m.buf = append(m.buf, 0x47, b, byte(pid), m.cc[pid])
	m.cc[pid] = (m.cc[pid] + 1) & 0xf
	return m.buf
}

// psi writes a PSI section in one packet (pointer_field 0, then 0xff stuffing).
func (m *tsMuxer) psi(pid uint16, section []byte) {
	m.packet(pid, true)
	m.buf[len(m.buf)-1] |= 0x10 // payload only
	m.buf = append(m.buf, 0)
	m.buf = append(m.buf, section...)
	for len(m.buf)%tsPacketSize != 0 {
		m.buf = append(m.buf, 0xff)
	}
}

// pesUnit is one PES packet (ISO/IEC 13818-1 §2.4.3.6) and how many
// transport packets carry it.
type pesUnit struct {
	pid     uint16
	data    []byte // PES header and payload
	hdrLen  int
	pcr     int64 // ≥ 0: a PCR in the first transport packet
	rai     bool
	packets int
}

func newPESUnit(s *tsSample, es []byte, pcr int64) *pesUnit {
	t := s.track
	hdr := []byte{0, 0, 1, t.streamID, 0, 0, 0x80}
	if s.pts != s.dts {
		hdr = append(hdr, 0xc0, 10)
		hdr = appendTimestamp(hdr, 0x3, s.pts)
		hdr = appendTimestamp(hdr, 0x1, s.dts)
	} else {
		hdr = append(hdr, 0x80, 5)
		hdr = appendTimestamp(hdr, 0x2, s.pts)
	}
	// PES_packet_length counts from after the field; 0 (unbounded) is
	// allowed for video only.
	if n := len(hdr) - 6 + len(es); n <= 0xffff && t.streamID != pesVideo {
		hdr[4], hdr[5] = byte(n>>8), byte(n)
	}
	u := &pesUnit{pid: t.pid, hdrLen: len(hdr), data: append(hdr, es...), pcr: pcr, rai: s.key}
	u.packets = u.minPackets()
	return u
}

// firstCap is the payload room of the first transport packet.
func (u *pesUnit) firstCap() int {
	n := tsPacketSize - 4
	if u.rai || u.pcr >= 0 {
		n -= 2
		if u.pcr >= 0 {
			n -= 6
		}
	}
	return n
}

func (u *pesUnit) minPackets() int {
	rest := len(u.data) - u.firstCap()
	if rest <= 0 {
		return 1
	}
	return 1 + (rest+tsPacketSize-5)/(tsPacketSize-4)
}

// maxPackets spreads the PES down to one byte per packet, keeping its
// header whole in the first.
func (u *pesUnit) maxPackets() int { return 1 + len(u.data) - u.hdrLen }

// chunks splits the PES over u.packets packets: the tail packets carry at
// least one byte each, the rest as much as fits.
func (u *pesUnit) chunks() []int {
	first := min(u.firstCap(), len(u.data)-(u.packets-1))
	out := []int{first}
	r := len(u.data) - first
	for k := u.packets - 1; k > 0; k-- {
		c := min(tsPacketSize-4, r-(k-1))
		out = append(out, c)
		r -= c
	}
	return out
}

// padContinuity spreads each stream's last PES packets over extra
// transport packets so every stream uses a multiple of 16: with
// continuity counters from 0, a segment then ends on 15 and the next
// fragment's segment continues it (ISO/IEC 13818-1 §2.4.3.3), for
// demuxers that read consecutive segments as one stream.
func padContinuity(units []*pesUnit) {
	count := map[uint16]int{}
	for _, u := range units {
		count[u.pid] += u.packets
	}
	for i := len(units) - 1; i >= 0; i-- {
		u := units[i]
		d := (16 - count[u.pid]%16) % 16
		if d == 0 {
			continue
		}
		add := min(d, u.maxPackets()-u.packets)
		u.packets += add
		count[u.pid] += add
	}
}

// pes writes one PES packet over u.packets transport packets.
func (m *tsMuxer) pes(u *pesUnit) {
	data := u.data
	for i, n := range u.chunks() {
		first := i == 0
		start := len(m.packet(u.pid, first)) - 4
		ctl := start + 3
		af := tsPacketSize - 4 - n
		if af > 0 {
			m.buf[ctl] |= 0x30
			m.buf = append(m.buf, byte(af-1))
			if af > 1 {
				var flags byte
				if first && u.rai {
					flags |= 0x40 // random_access_indicator
				}
				if first && u.pcr >= 0 {
					flags |= 0x10 // PCR_flag
				}
				m.buf = append(m.buf, flags)
				if flags&0x10 != 0 {
					pcr := u.pcr
					m.buf = append(m.buf, byte(pcr>>25), byte(pcr>>17), byte(pcr>>9), byte(pcr>>1), byte(pcr&1)<<7|0x7e, 0)
				}
				for len(m.buf) < start+4+af {
					m.buf = append(m.buf, 0xff)
				}
			}
		} else {
			m.buf[ctl] |= 0x10
		}
		m.buf = append(m.buf, data[:n]...)
		data = data[n:]
	}
}

// appendTimestamp encodes a 33-bit PTS or DTS with its 4-bit prefix.
func appendTimestamp(b []byte, prefix byte, v int64) []byte {
	v &= tsMask
	return append(b,
		prefix<<4|byte(v>>29)&0x0e|1,
		byte(v>>22),
		byte(v>>14)|1,
		byte(v>>7),
		byte(v<<1)|1)
}

// patSection is the program association table: program 1 at tsPIDPMT.
func patSection() []byte {
	s := []byte{0x00, 0xb0, 13, 0, 1, 0xc1, 0, 0, 0, 1, 0xe0 | tsPIDPMT>>8, tsPIDPMT & 0xff}
	return appendCRC(s)
}

// pmtSection is program 1's map; the first track carries the PCR.
func pmtSection(tracks []*tsTrack) []byte {
	s := []byte{0x02, 0xb0, 0, 0, 1, 0xc1, 0, 0, 0xe0 | byte(tracks[0].pid>>8), byte(tracks[0].pid), 0xf0, 0}
	for _, t := range tracks {
		s = append(s, t.streamType, 0xe0|byte(t.pid>>8), byte(t.pid), 0xf0|byte(len(t.desc)>>8), byte(len(t.desc)))
		s = append(s, t.desc...)
	}
	n := len(s) - 3 + 4
	s[1], s[2] = 0xb0|byte(n>>8), byte(n)
	return appendCRC(s)
}

// appendCRC appends the CRC-32/MPEG-2 of b (ISO/IEC 13818-1 Annex A).
func appendCRC(b []byte) []byte {
	crc := uint32(0xffffffff)
	for _, v := range b {
		crc ^= uint32(v) << 24
		for range 8 {
			if crc&0x80000000 != 0 {
				crc = crc<<1 ^ 0x04c11db7
			} else {
				crc <<= 1
			}
		}
	}
	return append(b, byte(crc>>24), byte(crc>>16), byte(crc>>8), byte(crc))
}
