package hls

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"

	"github.com/eddy-video/eddy/fragments"
	"github.com/eddy-video/eddy/fragments/fragmenter"
	"github.com/eddy-video/eddy/media"
	"github.com/eddy-video/eddy/media/mediatest"
)

type stored struct {
	init []byte
	f    *fragments.Fragment
}

func fragmentAll(t *testing.T, o mediatest.Synth) []stored {
	t.Helper()
	var out []stored
	fr := &fragmenter.Fragmenter{Tracks: o.Tracks(), Emit: func(init *fragments.InitSegment, f *fragments.Fragment) error {
		out = append(out, stored{init.Bytes, f})
		return nil
	}}
	if err := fr.Initialize(); err != nil {
		t.Fatal(err)
	}
	for _, au := range o.Units(time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)) {
		if err := fr.Push(au); err != nil {
			t.Fatal(err)
		}
	}
	if err := fr.Flush(); err != nil {
		t.Fatal(err)
	}
	return out
}

// tsPES is one reassembled PES packet.
type tsPES struct {
	pts, dts int64
	rai, pcr bool
	data     []byte
}

// tsParsed is a transport stream read back packet by packet.
type tsParsed struct {
	pmtPID  uint16
	pcrPID  uint16
	streams map[uint16]byte // PID → stream_type
	pes     map[uint16][]*tsPES
	cc      map[uint16][]int
	first   []uint16 // PIDs of the first two packets
}

// parseTS is a strict reader of what tsSegment writes (ISO/IEC 13818-1).
func parseTS(t *testing.T, b []byte) *tsParsed {
	t.Helper()
	if len(b)%tsPacketSize != 0 {
		t.Fatalf("segment of %d bytes is not whole packets", len(b))
	}
	p := &tsParsed{streams: map[uint16]byte{}, pes: map[uint16][]*tsPES{}, cc: map[uint16][]int{}, pmtPID: 0xffff}
	open := map[uint16]*tsPES{}
	section := func(payload []byte, tableID byte) []byte {
		s := payload[1+payload[0]:]
		if s[0] != tableID {
			t.Fatalf("table id %#x, want %#x", s[0], tableID)
		}
		n := int(binary.BigEndian.Uint16(s[1:]) & 0xfff)
		sec := s[:3+n]
		if crc := appendCRC(append([]byte(nil), sec[:len(sec)-4]...)); !bytes.Equal(crc[len(crc)-4:], sec[len(sec)-4:]) {
			t.Fatalf("table %#x: bad CRC", tableID)
		}
		return sec[8 : len(sec)-4]
	}
	for off := 0; off < len(b); off += tsPacketSize {
		pk := b[off : off+tsPacketSize]
		if pk[0] != 0x47 {
			t.Fatalf("packet at %d: no sync byte", off)
		}
		pid := binary.BigEndian.Uint16(pk[1:]) & 0x1fff
		pusi := pk[1]&0x40 != 0
		afc := pk[3] >> 4 & 3
		p.cc[pid] = append(p.cc[pid], int(pk[3]&0xf))
		if len(p.first) < 2 {
			p.first = append(p.first, pid)
		}
		payload := pk[4:]
		rai, pcr := false, false
		if afc&2 != 0 {
			n := int(payload[0])
			if n > 0 {
				rai, pcr = payload[1]&0x40 != 0, payload[1]&0x10 != 0
			}
			payload = payload[1+n:]
		}
		if afc&1 == 0 {
			continue
		}
		switch pid {
		case tsPIDPAT:
			body := section(payload, 0)
			p.pmtPID = binary.BigEndian.Uint16(body[2:]) & 0x1fff
		case p.pmtPID:
			body := section(payload, 2)
			p.pcrPID = binary.BigEndian.Uint16(body) & 0x1fff
			for es := body[4:]; len(es) > 0; {
				epid := binary.BigEndian.Uint16(es[1:]) & 0x1fff
				p.streams[epid] = es[0]
				es = es[5+int(binary.BigEndian.Uint16(es[3:])&0xfff):]
			}
		default:
			if pusi {
				if payload[0] != 0 || payload[1] != 0 || payload[2] != 1 {
					t.Fatalf("PID %d: PES without start code", pid)
				}
				e := &tsPES{rai: rai, pcr: pcr}
				flags, hl := payload[7], int(payload[8])
				e.pts = readTimestamp(payload[9:])
				e.dts = e.pts
				if flags&0x40 != 0 {
					e.dts = readTimestamp(payload[14:])
				}
				e.data = append(e.data, payload[9+hl:]...)
				open[pid] = e
				p.pes[pid] = append(p.pes[pid], e)
			} else if e := open[pid]; e != nil {
				e.data = append(e.data, payload...)
			}
		}
	}
	return p
}

func readTimestamp(b []byte) int64 {
	return int64(b[0]>>1&7)<<30 | int64(b[1])<<22 | int64(b[2]>>1)<<15 | int64(b[3])<<7 | int64(b[4]>>1)
}

func TestTSSegment(t *testing.T) {
	cases := []struct {
		name    string
		opts    mediatest.Synth
		streams []byte // stream types, PCR stream first
	}{
		{"h264 aac in-band parameter sets", mediatest.Synth{Video: true, Audio: media.CodecAAC, InBand: true, Seconds: 10, GOP: 50}, []byte{tsStreamH264, tsStreamAAC}},
		{"h264 aac parameter sets from init", mediatest.Synth{Video: true, Audio: media.CodecAAC, Seconds: 10, GOP: 50}, []byte{tsStreamH264, tsStreamAAC}},
		{"h264 b-frames", mediatest.Synth{Video: true, InBand: true, BFrames: true, Seconds: 6, GOP: 25}, []byte{tsStreamH264}},
		{"h264 g711 left out", mediatest.Synth{Video: true, Audio: media.CodecG711U, InBand: true, Seconds: 6, GOP: 50}, []byte{tsStreamH264}},
		{"opus only", mediatest.Synth{Audio: media.CodecOpus, Seconds: 6}, []byte{tsStreamPrivate}},
		{"aac only", mediatest.Synth{Audio: media.CodecAAC, Seconds: 6}, []byte{tsStreamAAC}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			frags := fragmentAll(t, tc.opts)
			if len(frags) < 3 {
				t.Fatalf("%d fragments", len(frags))
			}
			var prev *tsParsed
			var all []byte
			for i, fr := range frags {
				seg, err := tsSegment(fr.init, fr.f.Media)
				if err != nil {
					t.Fatalf("fragment %d: %v", i, err)
				}
				all = append(all, seg...)
				p := parseTS(t, seg)
				if len(p.first) < 2 || p.first[0] != tsPIDPAT || p.first[1] != p.pmtPID {
					t.Fatalf("fragment %d: segment does not start with PAT and PMT: %v", i, p.first)
				}
				if len(p.streams) != len(tc.streams) {
					t.Fatalf("fragment %d: %d streams, want %d", i, len(p.streams), len(tc.streams))
				}
				for j, st := range tc.streams {
					pid := uint16(tsPIDFirstES + j)
					if p.streams[pid] != st {
						t.Fatalf("fragment %d: PID %d stream type %#x, want %#x", i, pid, p.streams[pid], st)
					}
				}
				if p.pcrPID != tsPIDFirstES || !p.pes[tsPIDFirstES][0].pcr {
					t.Errorf("fragment %d: PCR not on the first stream's first PES", i)
				}
				checkPayloads(t, i, tc.opts, p)
				if prev != nil {
					checkContinuity(t, i, tc.opts, prev, p)
				}
				prev = p
			}
			probeTS(t, all, len(tc.streams))
		})
	}
}

// checkPayloads checks the elementary stream formats of a segment.
func checkPayloads(t *testing.T, i int, o mediatest.Synth, p *tsParsed) {
	t.Helper()
	for pid, st := range p.streams {
		for j, e := range p.pes[pid] {
			if e.pts < e.dts {
				t.Fatalf("fragment %d PID %d PES %d: PTS %d before DTS %d", i, pid, j, e.pts, e.dts)
			}
			switch st {
			case tsStreamH264:
				var au h264.AnnexB
				if err := au.Unmarshal(e.data); err != nil {
					t.Fatalf("fragment %d PES %d: %v", i, j, err)
				}
				if h264.NALUType(au[0][0]&0x1f) != h264.NALUTypeAccessUnitDelimiter {
					t.Fatalf("fragment %d PES %d: first NAL unit type %d, want an AUD", i, j, au[0][0]&0x1f)
				}
				idr := h264.IsRandomAccess(au)
				if idr != e.rai {
					t.Errorf("fragment %d PES %d: random_access_indicator %v on IDR %v", i, j, e.rai, idr)
				}
				if j == 0 && !idr {
					t.Fatalf("fragment %d: does not start with an IDR", i)
				}
				if idr {
					if len(au) != 4 || !bytes.Equal(au[1], mediatest.H264SPS) || !bytes.Equal(au[2], mediatest.H264PPS) {
						t.Fatalf("fragment %d PES %d: keyframe NAL units %x, want AUD, SPS, PPS, IDR (once each)", i, j, au)
					}
				}
				if o.BFrames && j > 0 && e.pts != e.dts+3600 {
					t.Errorf("fragment %d PES %d: PTS-DTS %d, want 3600", i, j, e.pts-e.dts)
				}
			case tsStreamAAC:
				var pkts mpeg4audio.ADTSPackets
				if err := pkts.Unmarshal(e.data); err != nil {
					t.Fatalf("fragment %d PES %d: ADTS: %v", i, j, err)
				}
				if len(pkts) != 1 || pkts[0].SampleRate != 44100 || pkts[0].ChannelCount != 2 || len(pkts[0].AU) != 2 {
					t.Fatalf("fragment %d PES %d: ADTS %+v", i, j, pkts[0])
				}
			case tsStreamPrivate:
				if len(e.data) != 5 || e.data[0] != 0x7f || e.data[1] != 0xe0 || e.data[2] != 2 {
					t.Fatalf("fragment %d PES %d: Opus access unit %x", i, j, e.data)
				}
			}
		}
	}
}

// checkContinuity checks timestamps and continuity counters run on from
// the previous segment.
func checkContinuity(t *testing.T, i int, o mediatest.Synth, prev, p *tsParsed) {
	t.Helper()
	for pid, st := range p.streams {
		last, first := prev.pes[pid][len(prev.pes[pid])-1], p.pes[pid][0]
		step := int64(3600)
		if st != tsStreamH264 {
			n, rate := o.AudioFrame()
			step = n * tsClock / rate
		}
		if d := first.dts - last.dts; d < step-1 || d > step+1 {
			t.Errorf("fragment %d PID %d: DTS %d follows %d (step %d, want %d)", i, pid, first.dts, last.dts, d, step)
		}
		if cc := prev.cc[pid]; cc[len(cc)-1] != 15 || p.cc[pid][0] != 0 {
			t.Errorf("fragment %d PID %d: continuity counter %d then %d", i, pid, cc[len(cc)-1], p.cc[pid][0])
		}
		for k := 1; k < len(p.cc[pid]); k++ {
			if p.cc[pid][k] != (p.cc[pid][k-1]+1)%16 {
				t.Fatalf("fragment %d PID %d: continuity counter jumps", i, pid)
			}
		}
	}
}

// probeTS has ffprobe read the concatenated segments.
func probeTS(t *testing.T, b []byte, streams int) {
	t.Helper()
	mediatest.RequireTool(t, "ffprobe")
	probe := mediatest.FFprobeJSON(t, b, "-show_entries", "stream=codec_name")
	if got, _ := probe["streams"].([]any); len(got) != streams {
		t.Errorf("ffprobe streams %+v, want %d", probe["streams"], streams)
	}
}

func TestTSSegmentRefusesGarbage(t *testing.T) {
	frags := fragmentAll(t, mediatest.Synth{Video: true, Audio: media.CodecAAC, InBand: true, Seconds: 4, GOP: 50})
	if _, err := tsSegment([]byte("not an init segment"), frags[0].f.Media); err == nil {
		t.Error("bad init segment accepted")
	}
	if _, err := tsSegment(frags[0].init, []byte{0, 0, 0, 8, 'm', 'o', 'o', 'f'}); err == nil {
		t.Error("bad media segment accepted")
	}
	lpcm := fragmentAll(t, mediatest.Synth{Audio: media.CodecG711U, Seconds: 4})
	if _, err := tsSegment(lpcm[0].init, lpcm[0].f.Media); err != errTSNoTracks {
		t.Errorf("LPCM-only fragment: %v, want errTSNoTracks", err)
	}
}

func TestCRC32MPEG2(t *testing.T) {
	// CRC-32/MPEG-2 check value of "123456789".
	b := appendCRC([]byte("123456789"))
	if got := binary.BigEndian.Uint32(b[9:]); got != 0x0376e6e7 {
		t.Errorf("CRC %#x, want 0x0376e6e7", got)
	}
}
