package bench

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/rtp"
	pion "github.com/pion/webrtc/v4"

	"github.com/eddy-video/eddy/webrtc/whepclient"
)

// rtcSample is one frame at one viewer.
type rtcSample struct {
	at int64 // last packet read (ns)
	// From the frame's last packet sent by the publisher to its first and
	// last packet out of the server (the kernel's receive stamp at the
	// viewer's socket; where there is none, when the viewer read it) and
	// to its first and last packet read by the viewer.
	first, last         time.Duration
	readFirst, readLast time.Duration
}

type rtcViewer struct {
	pc      *pion.PeerConnection
	session string
	conn    *stampConn
	mux     ice.UDPMux

	mu      sync.Mutex
	samples []rtcSample
	frames  []int64 // receive time of each complete frame (ns)
}

// startViewer connects one WHEP viewer.
func (b *rtcBench) startViewer(ctx context.Context, stream string) (*rtcViewer, error) {
	v := &rtcViewer{}
	var err error
	if v.conn, err = newStampConn(); err != nil {
		return nil, err
	}
	v.mux = pion.NewICEUDPMux(nil, v.conn)
	api, err := whepclient.ClientAPIOn(true, v.mux)
	if err != nil {
		v.closeSocket()
		return nil, err
	}
	v.pc, err = newRecvPeer(api, func(tr *pion.TrackRemote) {
		// Raw reads and a header parse into one buffer: the 100 viewers
		// share the cores with the server they measure, so they do no
		// more per packet than needed (no allocation, no reassembly).
		buf := make([]byte, 1600)
		var ft frameTracker
		var h rtp.Header
		for {
			n, _, err := tr.Read(buf)
			if err != nil {
				return
			}
			now := time.Now().UnixNano()
			hl, err := h.Unmarshal(buf[:n])
			if err != nil {
				continue
			}
			out := now
			if at, ok := v.conn.stampOf(h.SequenceNumber); ok {
				out = at
			}
			first, firstRead, seq, named, whole := ft.packet(&h, buf[hl:n], out, now)
			if !whole {
				continue
			}
			v.mu.Lock()
			v.frames = append(v.frames, now)
			if named {
				if sent := b.sentAt(seq); sent > 0 {
					v.samples = append(v.samples, rtcSample{at: now, first: time.Duration(first - sent), last: time.Duration(out - sent),
						readFirst: time.Duration(firstRead - sent), readLast: time.Duration(now - sent)})
				}
			}
			v.mu.Unlock()
		}
	})
	if err != nil {
		v.closeSocket()
		return nil, err
	}
	v.session, _, _, err = whepclient.Negotiate(ctx, b.hc, b.url+"/webrtc/"+stream+"/whep", v.pc)
	if err != nil {
		v.pc.Close()
		v.closeSocket()
		return nil, err
	}
	return v, nil
}

func (v *rtcViewer) closeSocket() {
	_ = v.mux.Close()
	_ = v.conn.Close()
}

// newRecvPeer is a receive-only peer connection (one video and one audio
// transceiver) that hands the video track to video, in its own goroutine,
// and reads and discards the audio.
func newRecvPeer(api *pion.API, video func(*pion.TrackRemote)) (*pion.PeerConnection, error) {
	pc, err := api.NewPeerConnection(pion.Configuration{})
	if err != nil {
		return nil, err
	}
	for _, k := range []pion.RTPCodecType{pion.RTPCodecTypeVideo, pion.RTPCodecTypeAudio} {
		if _, err := pc.AddTransceiverFromKind(k, pion.RTPTransceiverInit{Direction: pion.RTPTransceiverDirectionRecvonly}); err != nil {
			pc.Close()
			return nil, err
		}
	}
	pc.OnTrack(func(tr *pion.TrackRemote, _ *pion.RTPReceiver) {
		if tr.Kind() == pion.RTPCodecTypeVideo {
			video(tr)
			return
		}
		for {
			if _, _, err := tr.ReadRTP(); err != nil {
				return
			}
		}
	})
	return pc, nil
}

func (v *rtcViewer) close(ctx context.Context, hc *http.Client) {
	if v.session != "" {
		_, _ = whepclient.EndSession(ctx, hc, v.session)
	}
	v.pc.Close()
	v.closeSocket()
}

// window returns v's samples and frame times in [from, to].
func (v *rtcViewer) window(from, to int64) (s []rtcSample, frames []int64) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, x := range v.samples {
		if x.at >= from && x.at <= to {
			s = append(s, x)
		}
	}
	for _, f := range v.frames {
		if f >= from && f <= to {
			frames = append(frames, f)
		}
	}
	return s, frames
}

// frameTracker follows the H.264 RTP packets of one viewer in arrival
// order. A frame is whole when its packets came in sequence from the one
// that starts it (a new timestamp, the bench's SEI) to the one with the
// marker bit: what
// a depacketizer that does not reorder would decode, without
// reassembling it. The bench's SEI is the frame's first NAL unit, so it
// is in the first packet (alone or in a STAP-A).
type frameTracker struct {
	started bool
	ts      uint32
	seq     uint16
	first   int64 // the frame's first packet out (ns)
	read    int64 // the frame's first packet read (ns)
	name    uint64
	named   bool
	whole   bool
}

// packet takes one packet sent at out and read at now; at the end of a
// whole frame it returns when its first packet was sent and read, and its
// SEI name.
func (f *frameTracker) packet(h *rtp.Header, payload []byte, out, now int64) (first, read int64, name uint64, named, whole bool) {
	if !f.started || h.Timestamp != f.ts {
		f.started, f.ts, f.first, f.read = true, h.Timestamp, out, now
		f.name, f.named = firstSEI(payload)
		f.whole = f.named // else its first packet was lost
	} else if h.SequenceNumber != f.seq+1 {
		f.whole = false
	}
	f.seq = h.SequenceNumber
	if !h.Marker || !f.whole {
		return 0, 0, 0, false, false
	}
	f.whole = false // a late duplicate of the frame does not count again
	return f.first, f.read, f.name, f.named, true
}

// firstSEI reads the bench's SEI from an H.264 RTP payload: a single NAL
// unit or a STAP-A (RFC 6184 5.7.1).
func firstSEI(p []byte) (uint64, bool) {
	if len(p) == 0 {
		return 0, false
	}
	if p[0]&0x1f != 24 {
		return seiSeq([][]byte{p})
	}
	for p = p[1:]; len(p) >= 2; {
		n := int(p[0])<<8 | int(p[1])
		if n > len(p)-2 {
			return 0, false
		}
		if seq, ok := seiSeq([][]byte{p[2 : 2+n]}); ok {
			return seq, true
		}
		p = p[2+n:]
	}
	return 0, false
}
