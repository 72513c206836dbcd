package rtspclient

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"sort"
	"time"

	"github.com/Eyevinn/mp4ff/hevc"
	mp4ff "github.com/Eyevinn/mp4ff/mp4"
	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"

	"github.com/eddy-video/eddy/media/rtpcodec"
)

// FilePublisher publishes an MP4 file (H.264 or H.265 video, AAC audio)
// to an RTSP server in real time with ANNOUNCE/RECORD, as a camera would:
// RTP with RTCP sender reports carrying the wall clock at which each unit
// is sent. It is the publisher of `eddy publish`, `eddy bench ingest` and
// the end-to-end tests.
type FilePublisher struct {
	URL  string
	File string
	// Transport is "tcp" (default) or "udp".
	Transport string
	// TLSConfig is used for rtsps:// URLs (nil: verify against the
	// system's roots).
	TLSConfig *tls.Config
	// Loop restarts the file at its end (timestamps keep increasing).
	Loop bool
	// Duration stops after this much media time (0: the file, or forever
	// with Loop).
	Duration time.Duration
	// OnUnit, when set, is called for each video access unit as it is
	// sent: its PTS from the start of publication and the NTP time sent.
	OnUnit func(pts time.Duration, key bool, ntp time.Time)
	// OnSent, when set, is called after each access unit (video or
	// audio) is written, with the size of its RTP packets.
	OnSent func(video bool, bytes int)
	// Send, when set, replaces the RTSP connection (URL and Transport are
	// not used): every RTP packet goes to it with its media (see Medias)
	// and NTP time, and no RTCP is sent. The WHIP publisher of the tests
	// and benchmarks uses it.
	Send func(m *description.Media, pkt *rtp.Packet, ntp time.Time) error
	// Rewrite, when set, may replace each video unit's NAL units before
	// they are sent (the WebRTC bench adds an SEI naming the frame).
	Rewrite func(nalus [][]byte) [][]byte

	units []fileUnit
	desc  *description.Session
	span  time.Duration // media length of one pass
}

type fileUnit struct {
	media *description.Media
	pts   time.Duration // from the start of the file
	dts   time.Duration // send order and time
	key   bool
	video bool
	data  [][]byte
	enc   func([][]byte) ([]*rtp.Packet, error)
	clock int64
	// params are the parameter sets of the track (SPS, PPS; VPS first
	// for H.265), sent in-band before keyframes when there is no SDP.
	params [][]byte
}

// Load reads the file; Run calls it when needed.
func (p *FilePublisher) Load() error {
	data, err := os.ReadFile(p.File)
	if err != nil {
		return err
	}
	f, err := mp4ff.DecodeFile(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("%s: %w", p.File, err)
	}
	if f.Moov == nil {
		return fmt.Errorf("%s: no moov box (a fragmented file?)", p.File)
	}
	p.desc = &description.Session{}
	p.units = nil
	for _, trak := range f.Moov.Traks {
		stbl := trak.Mdia.Minf.Stbl
		stsd := stbl.Stsd
		var (
			forma  format.Format
			enc    func([][]byte) ([]*rtp.Packet, error)
			video  bool
			params [][]byte
		)
		pt := uint8(96 + len(p.desc.Medias))
		switch {
		case stsd.AvcX != nil && stsd.AvcX.AvcC != nil:
			rec := stsd.AvcX.AvcC.DecConfRec
			if len(rec.SPSnalus) == 0 || len(rec.PPSnalus) == 0 {
				return fmt.Errorf("%s: avcC without SPS/PPS", p.File)
			}
			f := &format.H264{PayloadTyp: pt, PacketizationMode: 1, SPS: rec.SPSnalus[0], PPS: rec.PPSnalus[0]}
			e, err := f.CreateEncoder()
			if err != nil {
				return err
			}
			forma, enc, video, params = f, e.Encode, true, [][]byte{f.SPS, f.PPS}
		case stsd.HvcX != nil && stsd.HvcX.HvcC != nil:
			rec := stsd.HvcX.HvcC.DecConfRec
			vps, sps, pps := rec.GetNalusForType(hevc.NALU_VPS), rec.GetNalusForType(hevc.NALU_SPS), rec.GetNalusForType(hevc.NALU_PPS)
			if len(vps) == 0 || len(sps) == 0 || len(pps) == 0 {
				return fmt.Errorf("%s: hvcC without VPS/SPS/PPS", p.File)
			}
			f := &format.H265{PayloadTyp: pt, VPS: vps[0], SPS: sps[0], PPS: pps[0]}
			e, err := f.CreateEncoder()
			if err != nil {
				return err
			}
			forma, enc, video, params = f, e.Encode, true, [][]byte{f.VPS, f.SPS, f.PPS}
		case stsd.Mp4a != nil && stsd.Mp4a.Esds != nil && stsd.Mp4a.Esds.DecConfigDescriptor != nil &&
			stsd.Mp4a.Esds.DecConfigDescriptor.DecSpecificInfo != nil:
			var cfg mpeg4audio.AudioSpecificConfig
			if err := cfg.Unmarshal(stsd.Mp4a.Esds.DecConfigDescriptor.DecSpecificInfo.DecConfig); err != nil {
				return fmt.Errorf("%s: AudioSpecificConfig: %w", p.File, err)
			}
			f := &format.MPEG4Audio{PayloadTyp: pt, Config: &cfg, SizeLength: 13, IndexLength: 3, IndexDeltaLength: 3}
			e, err := f.CreateEncoder()
			if err != nil {
				return err
			}
			forma, enc = f, e.Encode
		default:
			continue // other codecs are left out
		}
		mtype := description.MediaTypeAudio
		if video {
			mtype = description.MediaTypeVideo
		}
		m := &description.Media{Type: mtype, Formats: []format.Format{forma}}
		p.desc.Medias = append(p.desc.Medias, m)
		n := trak.GetNrSamples()
		if n == 0 {
			continue
		}
		samples, err := trak.GetSampleData(1, n)
		if err != nil {
			return fmt.Errorf("%s: %w", p.File, err)
		}
		ranges, err := trak.GetRangesForSampleInterval(1, n)
		if err != nil {
			return fmt.Errorf("%s: %w", p.File, err)
		}
		// Ranges merge samples of one chunk: walk them with the sizes.
		ri, off := 0, uint64(0)
		timescale := int64(trak.Mdia.Mdhd.Timescale)
		var dts int64
		for _, s := range samples {
			for ri < len(ranges) && off >= ranges[ri].Size {
				ri, off = ri+1, 0
			}
			if ri == len(ranges) {
				return fmt.Errorf("%s: sample data outside the file", p.File)
			}
			start := ranges[ri].Offset + off
			end := start + uint64(s.Size)
			if end > uint64(len(data)) {
				return fmt.Errorf("%s: sample data outside the file", p.File)
			}
			b := data[start:end]
			off += uint64(s.Size)
			u := fileUnit{media: m, key: !mp4ff.DecodeSampleFlags(s.Flags).SampleIsNonSync, video: video, enc: enc, clock: int64(forma.ClockRate()), params: params}
			u.pts = time.Duration(dts+int64(s.CompositionTimeOffset)) * time.Second / time.Duration(timescale)
			u.dts = time.Duration(dts) * time.Second / time.Duration(timescale)
			if video {
				var au h264.AVCC
				if err := au.Unmarshal(b); err != nil {
					return fmt.Errorf("%s: sample: %w", p.File, err)
				}
				u.data = au
			} else {
				u.data = [][]byte{b}
			}
			p.units = append(p.units, u)
			dts += int64(s.Dur)
		}
		if d := time.Duration(dts) * time.Second / time.Duration(timescale); d > p.span {
			p.span = d
		}
	}
	if len(p.desc.Medias) == 0 {
		return errors.New(p.File + ": no H.264, H.265 or AAC track")
	}
	// Send in decode order, each unit at its decode time.
	sort.SliceStable(p.units, func(i, j int) bool { return p.units[i].dts < p.units[j].dts })
	return nil
}

// Run publishes until the file ends (or Duration, or ctx).
func (p *FilePublisher) Run(ctx context.Context) error {
	if p.units == nil {
		if err := p.Load(); err != nil {
			return err
		}
	}
	failed := make(chan error, 1)
	writeRTP := p.Send
	writeRTCP := func(*description.Media, rtcp.Packet) error { return nil }
	if writeRTP == nil {
		tr := gortsplib.TransportTCP
		if p.Transport == "udp" {
			tr = gortsplib.TransportUDP
		}
		// gortsplib v4.16.2 writes the NTP fraction of its sender reports as
		// nanoseconds (gortsplib#869); send RFC 3550 reports ourselves.
		c := gortsplib.Client{Transport: &tr, DisableRTCPSenderReports: true, WriteQueueSize: 2048, TLSConfig: p.TLSConfig}
		if err := c.StartRecording(p.URL, p.desc); err != nil {
			return err
		}
		defer c.Close()
		go func() { failed <- c.Wait() }()
		writeRTP, writeRTCP = c.WritePacketRTPWithNTP, c.WritePacketRTCP
	}

	start := time.Now()
	lastSR := map[*description.Media]time.Time{}
	for pass := 0; ; pass++ {
		offset := time.Duration(pass) * p.span
		for _, u := range p.units {
			at := offset + u.dts
			if p.Duration > 0 && at >= p.Duration {
				return nil
			}
			if d := time.Until(start.Add(at)); d > 0 {
				t := time.NewTimer(d)
				select {
				case <-ctx.Done():
					t.Stop()
					return ctx.Err()
				case err := <-failed:
					t.Stop()
					return err
				case <-t.C:
				}
			}
			data := u.data
			if p.Send != nil && u.key && len(u.params) > 0 {
				// No SDP carries the parameter sets: send them in-band,
				// as WebRTC encoders do.
				data = append(append([][]byte(nil), u.params...), data...)
			}
			if u.video && p.Rewrite != nil {
				data = p.Rewrite(data)
			}
			pkts, err := u.enc(data)
			if err != nil {
				return err
			}
			pts := offset + u.pts
			ntp := start.Add(pts)
			ts := uint32(int64(pts) * u.clock / int64(time.Second))
			size := 0
			for _, pkt := range pkts {
				pkt.Timestamp += ts
				if err := writeRTP(u.media, pkt, ntp); err != nil {
					return err
				}
				size += pkt.MarshalSize()
			}
			if p.OnSent != nil {
				p.OnSent(u.video, size)
			}
			// A sender report with the first unit of each track and every
			// 2 s after, as cameras do, so the producer clock is known at once.
			if len(pkts) > 0 && (lastSR[u.media].IsZero() || time.Since(lastSR[u.media]) >= 2*time.Second) {
				sr := &rtcp.SenderReport{SSRC: pkts[0].SSRC, NTPTime: rtpcodec.NTPToRTCP(ntp), RTPTime: pkts[0].Timestamp}
				if err := writeRTCP(u.media, sr); err != nil {
					return err
				}
				lastSR[u.media] = time.Now()
			}
			if u.video && p.OnUnit != nil {
				p.OnUnit(pts, u.key, ntp)
			}
		}
		if !p.Loop {
			return nil
		}
	}
}

// Medias returns the medias of the file (after Load): H.264 or H.265
// video, AAC audio.
func (p *FilePublisher) Medias() []*description.Media { return p.desc.Medias }

// Span returns the media length of one pass of the file (after Load).
func (p *FilePublisher) Span() time.Duration { return p.span }

// Sample is one access unit of the file as Load read it.
type Sample struct {
	// Media is the track, one of Medias.
	Media *description.Media
	// PTS and DTS from the start of the file.
	PTS, DTS time.Duration
	// Key marks a sync sample (every audio sample is one).
	Key bool
	// Data is the NAL units of a video sample (parameter sets only as the
	// file has them in-band) or one raw AAC frame.
	Data [][]byte
}

// Samples returns the file's samples in decode order (after Load), for
// publishers of protocols other than RTP (eddy putmedia). The slices are
// shared: do not modify them.
func (p *FilePublisher) Samples() []Sample {
	out := make([]Sample, len(p.units))
	for i, u := range p.units {
		out[i] = Sample{Media: u.media, PTS: u.pts, DTS: u.dts, Key: u.key, Data: u.data}
	}
	return out
}
